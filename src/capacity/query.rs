//! get_capacity's arguments, checked: every filter is a typed argument, and each bad one is an
//! error naming it (22023 for a value it may not take, 22003 for a negative minimum; a
//! min_uptime_7d outside 0..1 is a value it may not take: 22023).

use crate::accelerators::model::filter_key;
use crate::accelerators::vendor::Vendor;
use crate::countries::Countries;
use crate::device_type::DeviceType;
use crate::errors::DeviceError;
use crate::shared_memory::slots::country_number;
use pgrx::{AnyNumeric, Array};
use std::collections::HashSet;

/// The most values a list argument may hold.
pub const MAX_LIST: usize = 100;
/// The longest value in a list (the longest known name, a sub-region's, is 31 characters; a
/// model key up to max_product_name_length).
const MAX_VALUE_BYTES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    DeviceType,
    Country,
    Region,
    Subregion,
    GpuModel,
}

impl GroupBy {
    const ALL: [(&'static str, GroupBy); 5] = [
        ("device_type", GroupBy::DeviceType),
        ("country", GroupBy::Country),
        ("region", GroupBy::Region),
        ("subregion", GroupBy::Subregion),
        ("gpu_model", GroupBy::GpuModel),
    ];
}

/// The arguments as given (SQL NULL: no filter); lists as `listed` reads them.
pub struct Arguments<'a> {
    pub device_types: Listed,
    pub countries: Listed,
    pub regions: Listed,
    pub min_ram_gb: Option<AnyNumeric>,
    pub min_cpu_cores: Option<i32>,
    pub min_storage_gb: Option<AnyNumeric>,
    pub gpu_vendors: Listed,
    pub gpu_models: Listed,
    pub min_gpus: Option<i32>,
    pub min_gpu_memory_mib: Option<i32>,
    pub group_by: Option<&'a str>,
    pub min_uptime_7d: Option<AnyNumeric>,
}

/// The checked filters. Countries are slot numbers (`slots::country_number`).
pub struct Query {
    pub device_types: Option<[bool; DeviceType::COUNT]>,
    /// The countries a device must be in: those named and in the regions named, both if both.
    pub countries: Option<HashSet<u16>>,
    pub min_ram_nano_gb: Option<i128>,
    pub min_cpu_cores: Option<i64>,
    pub min_storage_nano_gb: Option<i128>,
    pub gpu_vendors: Option<[bool; Vendor::ALL.len()]>,
    /// Model keys.
    pub gpu_models: Option<HashSet<String>>,
    pub min_gpus: Option<i64>,
    pub min_gpu_memory_mib: Option<i64>,
    pub group_by: Option<GroupBy>,
    /// The least uptime_7d a device needs, in ten-thousandths (rounded up: uptimes have four
    /// decimals); a device without one fails it.
    pub min_uptime_7d: Option<u16>,
}

impl Query {
    pub fn new(args: Arguments<'_>, countries: &Countries) -> Result<Query, DeviceError> {
        let device_types = list("device_types", args.device_types, |name| {
            DeviceType::parse(name).ok_or_else(|| format!("must hold only {}", DeviceType::names()))
        })?
        .map(|types| {
            let mut allowed = [false; DeviceType::COUNT];
            types.into_iter().for_each(|t| allowed[t.index()] = true);
            allowed
        });
        let named = list("countries", args.countries, |code| {
            countries
                .code(code)
                .map(|code| country_number(Some(&code)))
                .ok_or_else(|| {
                    "must hold ISO 3166-1 alpha-2 country codes such as \"DE\"".to_string()
                })
        })?;
        let in_regions = list("regions", args.regions, |name| {
            countries.in_region(name).ok_or_else(|| {
                "must hold UN M49 region or sub-region names such as \"Europe\" or \
                 \"Western Europe\""
                    .to_string()
            })
        })?
        .map(|codes| {
            codes
                .iter()
                .flatten()
                .map(|code| country_number(Some(code)))
                .collect::<HashSet<u16>>()
        });
        let countries = match (named, in_regions) {
            (Some(named), Some(in_regions)) => Some(
                named
                    .into_iter()
                    .filter(|c| in_regions.contains(c))
                    .collect(),
            ),
            (Some(named), None) => Some(named.into_iter().collect()),
            (None, in_regions) => in_regions,
        };
        let gpu_vendors = list("gpu_vendors", args.gpu_vendors, |name| {
            Vendor::parse(&name.to_ascii_lowercase())
                .ok_or_else(|| format!("must hold only {}", Vendor::names()))
        })?
        .map(|vendors| {
            let mut allowed = [false; Vendor::ALL.len()];
            vendors.into_iter().for_each(|v| allowed[v as usize] = true);
            allowed
        });
        let gpu_models = list("gpu_models", args.gpu_models, |name| {
            let key = filter_key(name);
            if key.is_empty() {
                Err("must hold model names such as \"geforce-rtx-4090\"".to_string())
            } else {
                Ok(key)
            }
        })?
        .map(|keys| keys.into_iter().collect());
        let group_by = args
            .group_by
            .map(|name| {
                GroupBy::ALL
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, group_by)| *group_by)
                    .ok_or_else(|| DeviceError::InvalidValue {
                        field: "group_by".to_string(),
                        reason: format!(
                            "must be one of device_type, country, region, subregion, gpu_model \
                             (got {:?})",
                            crate::api::validate::shortened(name)
                        ),
                    })
            })
            .transpose()?;
        Ok(Query {
            device_types,
            countries,
            min_ram_nano_gb: gb_minimum("min_ram_gb", args.min_ram_gb)?,
            min_cpu_cores: minimum("min_cpu_cores", args.min_cpu_cores)?,
            min_storage_nano_gb: gb_minimum("min_storage_gb", args.min_storage_gb)?,
            gpu_vendors,
            gpu_models,
            min_gpus: minimum("min_gpus", args.min_gpus)?,
            min_gpu_memory_mib: minimum("min_gpu_memory_mib", args.min_gpu_memory_mib)?,
            group_by,
            min_uptime_7d: uptime_minimum(args.min_uptime_7d)?,
        })
    }

    /// Whether any accelerator filter (or min_gpus) is given: then a device passes only with
    /// enough accelerators that meet them, and only those count.
    pub fn filters_accelerators(&self) -> bool {
        self.gpu_vendors.is_some()
            || self.gpu_models.is_some()
            || self.min_gpu_memory_mib.is_some()
            || self.min_gpus.is_some()
    }

    /// How many matching accelerators a device needs when `filters_accelerators`.
    pub fn gpus_needed(&self) -> i64 {
        self.min_gpus.unwrap_or(1)
    }

    /// Whether nothing but the grouping is asked: the worker's totals answer it.
    pub fn is_unfiltered(&self) -> bool {
        self.device_types.is_none()
            && self.countries.is_none()
            && self.min_ram_nano_gb.is_none()
            && self.min_cpu_cores.is_none()
            && self.min_storage_nano_gb.is_none()
            && self.min_uptime_7d.is_none()
            && !self.filters_accelerators()
    }
}

/// A list argument's values, read only once there are at most MAX_LIST of them (the array
/// stays in PostgreSQL's memory until then).
/// Each value is copied only if it is no longer than MAX_VALUE_BYTES.
pub type Listed = Result<Option<Vec<Option<String>>>, DeviceError>;

pub fn listed(field: &'static str, values: Option<Array<'_, &str>>) -> Listed {
    let Some(values) = values else {
        return Ok(None);
    };
    if values.len() > MAX_LIST {
        return Err(DeviceError::InvalidValue {
            field: field.to_string(),
            reason: format!("has {} values; the most is {MAX_LIST}", values.len()),
        });
    }
    values
        .iter()
        .enumerate()
        .map(|(index, value)| match value {
            Some(value) if value.len() > MAX_VALUE_BYTES => Err(DeviceError::InvalidValue {
                field: format!("{field}[{}]", index + 1),
                reason: format!(
                    "is {} bytes long; the most is {MAX_VALUE_BYTES}",
                    value.len()
                ),
            }),
            value => Ok(value.map(str::to_string)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A list argument's values, each checked by `check`: none NULL or too long.
fn list<T>(
    field: &'static str,
    values: Listed,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Vec<T>>, DeviceError> {
    let Some(values) = values? else {
        return Ok(None);
    };
    values
        .iter()
        .enumerate()
        .map(|(index, value)| match value {
            None => Err(DeviceError::InvalidValue {
                field: format!("{field}[{}]", index + 1),
                reason: "must not be null".to_string(),
            }),
            Some(value) => check(value).map_err(|reason| DeviceError::InvalidValue {
                field: field.to_string(),
                reason: format!(
                    "{reason} (got {:?})",
                    crate::api::validate::shortened(value)
                ),
            }),
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

fn minimum(field: &'static str, value: Option<i32>) -> Result<Option<i64>, DeviceError> {
    match value {
        Some(value) if value < 0 => Err(DeviceError::NegativeMinimum {
            field,
            value: value.to_string(),
        }),
        value => Ok(value.map(i64::from)),
    }
}

/// A minimum in GB as billionths, rounded up (a device has whole billionths), saturated.
fn gb_minimum(field: &'static str, value: Option<AnyNumeric>) -> Result<Option<i128>, DeviceError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.to_string();
    if text == "NaN" || text.ends_with("Infinity") {
        return Err(DeviceError::SpecNotFinite { field });
    }
    if text.starts_with('-') {
        return Err(DeviceError::NegativeMinimum {
            field,
            value: crate::api::validate::shortened(&text),
        });
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let Ok(whole) = whole.parse::<i128>() else {
        return Ok(Some(i128::MAX));
    };
    let nano_digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nano: i128 = nano_digits.parse().unwrap_or(0);
    let finer = fraction.len() > 9 && fraction[9..].bytes().any(|b| b != b'0');
    Ok(Some(
        whole
            .saturating_mul(1_000_000_000)
            .saturating_add(nano + i128::from(finer)),
    ))
}

/// min_uptime_7d as ten-thousandths, rounded up: a fraction from 0 to 1 (22023 otherwise: below
/// 0, above 1, NaN or Infinity).
fn uptime_minimum(value: Option<AnyNumeric>) -> Result<Option<u16>, DeviceError> {
    const FIELD: &str = "min_uptime_7d";
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.to_string();
    let out_of_range = || DeviceError::InvalidValue {
        field: FIELD.to_string(),
        reason: format!(
            "must be a fraction between 0 and 1 (got {})",
            crate::api::validate::shortened(&text)
        ),
    };
    if text.starts_with('-') || text == "NaN" || text.ends_with("Infinity") {
        return Err(out_of_range());
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let exact_fraction = fraction.bytes().all(|b| b == b'0');
    match whole {
        "1" if exact_fraction => return Ok(Some(10_000)),
        "0" => {}
        _ => return Err(out_of_range()),
    }
    Ok(Some(ten_thousandths_up(fraction)))
}

/// The decimal digits after a point as ten-thousandths, rounded up.
fn ten_thousandths_up(fraction: &str) -> u16 {
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(4)
        .collect();
    let scaled: u16 = digits.parse().unwrap_or(0);
    let finer = fraction.len() > 4 && fraction[4..].bytes().any(|b| b != b'0');
    scaled + u16::from(finer)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::ten_thousandths_up;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_uptime_minimums_round_up_to_four_decimals() {
        assert_eq!(ten_thousandths_up(""), 0);
        assert_eq!(ten_thousandths_up("5"), 5000);
        assert_eq!(ten_thousandths_up("99995"), 10_000);
        assert_eq!(ten_thousandths_up("12340000"), 1234);
        assert_eq!(ten_thousandths_up("123401"), 1235);
    }
}
