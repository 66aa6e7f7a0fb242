//! Checks on what register_device is given. Each failure names its field and leaves the
//! table untouched, because it is raised before any write.

use crate::device_type::DeviceType;
use crate::errors::DeviceError;
use crate::settings;
use pgrx::AnyNumeric;

pub const MAX_DEVICE_NAME_CHARS: usize = 64;
/// GB to the byte: shared memory sums ram_gb and storage_gb exactly as integers of 1e-9 GB.
pub const MAX_GB_DECIMALS: i32 = 9;

/// A registration that passed every check.
pub struct DeviceSpec {
    pub device_name: String,
    pub device_type: DeviceType,
    pub ram_gb: AnyNumeric,
    pub cpu_cores: i32,
    pub storage_gb: AnyNumeric,
}

impl DeviceSpec {
    pub fn new(
        device_name: Option<&str>,
        device_type: Option<&str>,
        ram_gb: Option<AnyNumeric>,
        cpu_cores: Option<i32>,
        storage_gb: Option<AnyNumeric>,
    ) -> Result<Self, DeviceError> {
        Ok(DeviceSpec {
            device_name: device_name_of(required("device_name", device_name)?)?,
            device_type: device_type_of(required("device_type", device_type)?)?,
            ram_gb: bounded_numeric(
                "ram_gb",
                required("ram_gb", ram_gb)?,
                settings::MAX_RAM_GB.get(),
            )?,
            cpu_cores: cpu_cores_of(required("cpu_cores", cpu_cores)?)?,
            storage_gb: bounded_numeric(
                "storage_gb",
                required("storage_gb", storage_gb)?,
                settings::MAX_STORAGE_GB.get(),
            )?,
        })
    }
}

pub fn required<T>(field: &'static str, value: Option<T>) -> Result<T, DeviceError> {
    value.ok_or(DeviceError::NullArgument { field })
}

/// Trimmed, at most 64 characters, visible text (see `invisible_text`).
fn device_name_of(name: &str) -> Result<String, DeviceError> {
    let name = name.trim();
    if let Some(reason) = invisible_text(name) {
        return Err(DeviceError::InvalidDeviceName { reason });
    }
    let length = name.chars().count();
    if length > MAX_DEVICE_NAME_CHARS {
        return Err(DeviceError::DeviceNameTooLong {
            length,
            max: MAX_DEVICE_NAME_CHARS,
        });
    }
    Ok(name.to_string())
}

/// Why trimmed text is not visible text, if it is not: empty, or holding control characters,
/// or format or other invisible characters (zero-width, bidirectional overrides, line and
/// paragraph separators, noncharacters), which would let two names look alike or a name look
/// empty.
pub fn invisible_text(text: &str) -> Option<&'static str> {
    if text.is_empty() {
        Some("must not be empty or only whitespace")
    } else if text.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if text.chars().any(is_invisible) {
        Some(
            "must not contain format or invisible characters (such as zero-width, \
             bidirectional, line or paragraph separators, or noncharacters)",
        )
    } else {
        None
    }
}

/// Characters that show nothing: Unicode's format characters (general category Cf), its
/// default-ignorable code points, the line and paragraph separators (Zl, Zp), and the
/// noncharacters. Ranges from the Unicode 15.1 character database.
fn is_invisible(c: char) -> bool {
    const INVISIBLE: [(u32, u32); 27] = [
        (0x00AD, 0x00AD), // soft hyphen
        (0x034F, 0x034F), // combining grapheme joiner
        (0x0600, 0x0605), // Arabic number signs
        (0x061C, 0x061C), // Arabic letter mark
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x115F, 0x1160), // Hangul fillers
        (0x17B4, 0x17B5),
        (0x180B, 0x180F), // Mongolian variation selectors and vowel separator
        (0x200B, 0x200F), // zero-width space, joiners, directional marks
        (0x2028, 0x2029), // line and paragraph separators
        (0x202A, 0x202E), // bidirectional embeddings and overrides
        (0x2060, 0x206F), // word joiner, invisible operators, bidirectional isolates
        (0x3164, 0x3164), // Hangul filler
        (0xFDD0, 0xFDEF), // noncharacters
        (0xFE00, 0xFE0F), // variation selectors
        (0xFEFF, 0xFEFF), // zero-width no-break space (BOM)
        (0xFFA0, 0xFFA0), // halfwidth Hangul filler
        (0xFFF0, 0xFFFB), // interlinear annotations and unassigned specials
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F), // Egyptian hieroglyph format controls
        (0x1BCA0, 0x1BCA3), // shorthand format controls
        (0x1D173, 0x1D17A), // musical symbol format controls
        (0xE0000, 0xE0FFF), // tags and variation selectors supplement
    ];
    let code = u32::from(c);
    // U+FFFE and U+FFFF of every plane are noncharacters too.
    let plane_end = code & 0xFFFE == 0xFFFE;
    plane_end
        || INVISIBLE
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&code))
}

fn device_type_of(device_type: &str) -> Result<DeviceType, DeviceError> {
    DeviceType::parse(device_type)
        .ok_or_else(|| DeviceError::UnknownDeviceType(device_type.to_string()))
}

fn cpu_cores_of(cores: i32) -> Result<i32, DeviceError> {
    let max = settings::MAX_CPU_CORES.get();
    if (1..=max).contains(&cores) {
        Ok(cores)
    } else {
        Err(DeviceError::SpecOutOfRange {
            field: "cpu_cores",
            value: cores.to_string(),
            min: "1".to_string(),
            max: max.to_string(),
        })
    }
}

/// A finite number from 0 to `max`, with at most 9 decimals. numeric has NaN and, since
/// PostgreSQL 14, ±Infinity. All of it is read from the number's text, which numeric_out
/// writes without exponent or leading zeros: one call into PostgreSQL, where comparing
/// numerics took five, on every registration.
fn bounded_numeric(
    field: &'static str,
    value: AnyNumeric,
    max: i32,
) -> Result<AnyNumeric, DeviceError> {
    let text = value.to_string();
    if text == "NaN" || text.ends_with("Infinity") {
        return Err(DeviceError::SpecNotFinite { field });
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let decimals = fraction.trim_end_matches('0').len();
    let above_max = match whole.parse::<u64>() {
        Ok(whole) => whole > max as u64 || (whole == max as u64 && decimals > 0),
        Err(_) => !whole.starts_with('-'), // more digits than a u64 holds
    };
    if whole.starts_with('-') || above_max {
        return Err(DeviceError::SpecOutOfRange {
            field,
            value: shortened(&text),
            min: "0".to_string(),
            max: max.to_string(),
        });
    }
    if decimals > MAX_GB_DECIMALS as usize {
        return Err(DeviceError::TooManyDecimals {
            field,
            max: MAX_GB_DECIMALS,
        });
    }
    if decimals == fraction.len() {
        return Ok(value);
    }
    // Stored without trailing zeros: `1.000` is `1`, so no caller can make the sums (whose
    // scale is the largest of their terms') longer for every reader.
    let trimmed = &text[..whole.len() + if decimals > 0 { 1 + decimals } else { 0 }];
    Ok(AnyNumeric::try_from(trimmed).expect("a prefix of a numeric's text is a numeric"))
}

/// A number's text cut to a length fit for an error message.
pub fn shortened(text: &str) -> String {
    const MOST: usize = 40;
    if text.len() <= MOST {
        text.to_string()
    } else {
        format!("{}... ({} characters)", &text[..MOST], text.len())
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;
    use pgrx::PgSqlErrorCode::{self, *};

    fn numeric(text: &str) -> Option<AnyNumeric> {
        Some(AnyNumeric::try_from(text).unwrap())
    }

    fn spec_error(
        name: Option<&str>,
        device_type: Option<&str>,
        ram: Option<&str>,
        cores: Option<i32>,
        storage: Option<&str>,
    ) -> (PgSqlErrorCode, String) {
        let error = DeviceSpec::new(
            name,
            device_type,
            ram.and_then(numeric),
            cores,
            storage.and_then(numeric),
        )
        .err()
        .expect("the spec should be rejected");
        (error.sqlstate(), error.message())
    }

    type Registration<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<i32>,
        Option<&'a str>,
    );

    const OK: Registration<'static> = (
        Some("laptop one"),
        Some("laptop"),
        Some("16"),
        Some(8),
        Some("512"),
    );

    #[pg_test]
    fn test_a_good_spec_is_kept_with_its_name_trimmed() {
        let spec = DeviceSpec::new(
            Some("  my laptop "),
            OK.1,
            numeric("16"),
            OK.3,
            numeric("512"),
        )
        .unwrap();
        assert_eq!(spec.device_name, "my laptop");
        assert_eq!(spec.device_type, DeviceType::Laptop);
        assert_eq!(spec.cpu_cores, 8);
        let edge = DeviceSpec::new(
            OK.0,
            OK.1,
            numeric("65536.000"),
            Some(8192),
            numeric("10000000"),
        );
        assert!(edge.is_ok(), "the default bounds themselves are allowed");
        assert!(DeviceSpec::new(OK.0, OK.1, numeric("0"), Some(1), numeric("0")).is_ok());
        let nine_decimals = DeviceSpec::new(
            OK.0,
            OK.1,
            numeric("1.123456789000"),
            Some(1),
            numeric("0.000000001"),
        );
        assert!(nine_decimals.is_ok(), "nine decimals, trailing zeros aside");
        let name_of_64 = "é".repeat(64);
        assert!(
            DeviceSpec::new(Some(&name_of_64), OK.1, numeric("1"), Some(1), numeric("1")).is_ok()
        );
    }

    #[pg_test]
    fn test_every_bad_field_is_named_with_its_sqlstate() {
        let long_name = "x".repeat(65);
        let cases = [
            (
                spec_error(None, OK.1, OK.2, OK.3, OK.4),
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "device_name",
            ),
            (
                spec_error(OK.0, None, OK.2, OK.3, OK.4),
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "device_type",
            ),
            (
                spec_error(OK.0, OK.1, None, OK.3, OK.4),
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, None, OK.4),
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "cpu_cores",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, None),
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "storage_gb",
            ),
            (
                spec_error(OK.0, Some("toaster"), OK.2, OK.3, OK.4),
                ERRCODE_INVALID_PARAMETER_VALUE,
                "device_type",
            ),
            (
                spec_error(OK.0, Some("Laptop"), OK.2, OK.3, OK.4),
                ERRCODE_INVALID_PARAMETER_VALUE,
                "device_type",
            ),
            (
                spec_error(Some(""), OK.1, OK.2, OK.3, OK.4),
                ERRCODE_INVALID_PARAMETER_VALUE,
                "device_name",
            ),
            (
                spec_error(Some(" \t "), OK.1, OK.2, OK.3, OK.4),
                ERRCODE_INVALID_PARAMETER_VALUE,
                "device_name",
            ),
            (
                spec_error(Some("a\u{7}b"), OK.1, OK.2, OK.3, OK.4),
                ERRCODE_INVALID_PARAMETER_VALUE,
                "device_name",
            ),
            (
                spec_error(Some(&long_name), OK.1, OK.2, OK.3, OK.4),
                ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
                "device_name",
            ),
            (
                spec_error(OK.0, OK.1, Some("-1"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, Some("NaN"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, Some("Infinity"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, Some("-Infinity"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, Some("65536.01"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, Some("1.0000000001"), OK.3, OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "ram_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, Some(0), OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "cpu_cores",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, Some(-4), OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "cpu_cores",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, Some(8193), OK.4),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "cpu_cores",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, Some("-0.5")),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "storage_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, Some("NaN")),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "storage_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, Some("0.0000000005")),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "storage_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, Some("1e30")),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "storage_gb",
            ),
            (
                spec_error(OK.0, OK.1, OK.2, OK.3, Some("10000001")),
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "storage_gb",
            ),
        ];
        for ((sqlstate, message), expected_sqlstate, field) in cases {
            assert_eq!(sqlstate, expected_sqlstate, "{message}");
            assert!(
                message.starts_with(field),
                "{message:?} should name {field}"
            );
        }
    }

    #[pg_test]
    fn test_bounds_follow_the_settings() {
        Spi::run("SET LOCAL compute_devices.max_cpu_cores = 4").unwrap();
        Spi::run("SET LOCAL compute_devices.max_ram_gb = 8").unwrap();
        let (_, message) = spec_error(OK.0, OK.1, Some("8"), Some(5), OK.4);
        assert_eq!(message, "cpu_cores must be between 1 and 4 (got 5)");
        let (_, message) = spec_error(OK.0, OK.1, Some("9"), Some(4), OK.4);
        assert_eq!(message, "ram_gb must be between 0 and 8 (got 9)");
    }
}
