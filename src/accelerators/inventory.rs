//! A device's accelerators as register_device accepts them: a JSON array of groups of identical
//! accelerators, `{"vendor", "product_name", "memory_mib", "count"}`, each checked against the
//! settings' bounds. Every failure names its place (`accelerators[2].count`) and is raised
//! before anything is written.

use crate::accelerators::model::model_key;
use crate::accelerators::vendor::Vendor;
use crate::api::jsonb_text::{JsonbText, MAX_BYTES};
use crate::api::validate::{invisible_text, shortened};
use crate::errors::DeviceError;
use crate::settings;
use serde_json::{Map, Value};

const FIELD: &str = "accelerators";
const KEYS: [&str; 4] = ["vendor", "product_name", "memory_mib", "count"];

/// One group of identical accelerators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub vendor: Vendor,
    pub product_name: String,
    pub model: String,
    /// Per accelerator; 0 when it shares the system's memory.
    pub memory_mib: i32,
    pub count: i32,
}

impl Group {
    /// What makes two groups the same accelerators (the table's key, less the device).
    pub fn identity(&self) -> (Vendor, &str, i32) {
        (self.vendor, &self.model, self.memory_mib)
    }
}

/// The groups of the `accelerators` argument (its jsonb text), in the table's key order; none
/// for SQL or JSON null.
pub fn parse(argument: Option<&JsonbText>) -> Result<Vec<Group>, DeviceError> {
    let text = match argument {
        None => return Ok(Vec::new()),
        Some(JsonbText::TooLarge(size)) => {
            return Err(invalid(
                FIELD.to_string(),
                &format!("is {size} bytes; the most read is {MAX_BYTES}"),
            ))
        }
        Some(JsonbText::Text(text)) => text,
    };
    // jsonb_out writes valid JSON: serde_json fails only where it is deeper than serde_json
    // reads (128 levels) or holds a number past f64's range.
    let value: Value = serde_json::from_str(text).map_err(|error| {
        if error.to_string().contains("recursion limit") {
            invalid(FIELD.to_string(), "is nested too deeply")
        } else {
            DeviceError::ValueOutOfRange {
                field: FIELD.to_string(),
                value: "a number past 1e308".to_string(),
                min: "0".to_string(),
                max: settings::MAX_ACCELERATOR_MEMORY_MIB.get().to_string(),
            }
        }
    })?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(invalid(
                FIELD.to_string(),
                "must be a JSON array of objects",
            ))
        }
    };
    let max_groups = settings::MAX_ACCELERATOR_GROUPS.get();
    if items.len() > max_groups as usize {
        return Err(invalid(
            FIELD.to_string(),
            &format!(
                "has {} groups; the most is {max_groups} (compute_devices.max_accelerator_groups)",
                items.len()
            ),
        ));
    }
    let mut groups: Vec<Group> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("{FIELD}[{index}]");
        let group = group_of(&place, item)?;
        if let Some(earlier) = groups.iter().position(|g| g.identity() == group.identity()) {
            return Err(invalid(
                place,
                &format!(
                    "is the same accelerator as {FIELD}[{earlier}] (vendor, model and memory_mib); \
                     state it once, with its count"
                ),
            ));
        }
        groups.push(group);
    }
    let total: i64 = groups.iter().map(|g| i64::from(g.count)).sum();
    let max_total = settings::MAX_ACCELERATORS.get();
    if total > i64::from(max_total) {
        return Err(DeviceError::ValueOutOfRange {
            field: format!("{FIELD} (the sum of the counts)"),
            value: total.to_string(),
            min: "0".to_string(),
            max: max_total.to_string(),
        });
    }
    groups.sort_by(|a, b| a.identity().cmp(&b.identity()));
    Ok(groups)
}

/// The groups as `compute_devices_live.accelerators` shows them: objects of vendor,
/// product_name, model, memory_mib and count, ordered by vendor, model and memory (as text
/// sorts them, the view's order).
pub fn as_json(groups: &[Group]) -> String {
    let mut sorted: Vec<&Group> = groups.iter().collect();
    sorted.sort_by(|a, b| {
        (a.vendor.sql_name(), &a.model, a.memory_mib).cmp(&(
            b.vendor.sql_name(),
            &b.model,
            b.memory_mib,
        ))
    });
    let objects: Vec<Value> = sorted
        .into_iter()
        .map(|g| {
            serde_json::json!({
                "vendor": g.vendor.sql_name(),
                "product_name": g.product_name,
                "model": g.model,
                "memory_mib": g.memory_mib,
                "count": g.count,
            })
        })
        .collect();
    Value::Array(objects).to_string()
}

fn group_of(place: &str, item: &Value) -> Result<Group, DeviceError> {
    let Value::Object(object) = item else {
        return Err(invalid(
            place.to_string(),
            "must be an object with vendor, product_name, memory_mib and count",
        ));
    };
    if let Some(unknown) = object.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(invalid(
            place.to_string(),
            &format!(
                "has an unknown key {:?}; the keys are vendor, product_name, memory_mib and count",
                shortened(unknown)
            ),
        ));
    }
    let vendor_text = text_at(place, object, "vendor")?;
    let vendor = Vendor::parse(vendor_text).ok_or_else(|| {
        invalid(
            format!("{place}.vendor"),
            &format!(
                "must be one of {} (got {:?})",
                Vendor::names(),
                shortened(vendor_text)
            ),
        )
    })?;
    let product_name = product_name_of(place, text_at(place, object, "product_name")?)?;
    let memory_mib = integer_at(
        place,
        object,
        "memory_mib",
        0,
        settings::MAX_ACCELERATOR_MEMORY_MIB.get(),
    )?;
    let count = integer_at(
        place,
        object,
        "count",
        1,
        settings::MAX_ACCELERATOR_COUNT.get(),
    )?;
    Ok(Group {
        vendor,
        model: model_key(vendor, &product_name),
        product_name,
        memory_mib,
        count,
    })
}

fn value_at<'a>(
    place: &str,
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Value, DeviceError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(invalid(format!("{place}.{key}"), "is missing")),
        Some(value) => Ok(value),
    }
}

fn text_at<'a>(
    place: &str,
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, DeviceError> {
    value_at(place, object, key)?
        .as_str()
        .ok_or_else(|| invalid(format!("{place}.{key}"), "must be a string"))
}

/// A whole number from `min` to `max`. A JSON number with a fraction or an exponent that is not
/// whole is refused; one past the bounds by any amount is out of range.
fn integer_at(
    place: &str,
    object: &Map<String, Value>,
    key: &str,
    min: i32,
    max: i32,
) -> Result<i32, DeviceError> {
    let field = format!("{place}.{key}");
    let Value::Number(number) = value_at(place, object, key)? else {
        return Err(invalid(field, "must be a whole number"));
    };
    let whole = number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.is_finite())
                .map(|f| f.clamp(-1e30, 1e30) as i128)
        });
    let Some(whole) = whole else {
        return Err(invalid(field, "must be a whole number"));
    };
    if whole < i128::from(min) || whole > i128::from(max) {
        return Err(DeviceError::ValueOutOfRange {
            field,
            value: shortened(&number.to_string()),
            min: min.to_string(),
            max: max.to_string(),
        });
    }
    Ok(whole as i32)
}

/// Trimmed visible text of 1 to compute_devices.max_product_name_length characters.
fn product_name_of(place: &str, name: &str) -> Result<String, DeviceError> {
    let field = format!("{place}.product_name");
    let name = name.trim();
    if let Some(reason) = invisible_text(name) {
        return Err(invalid(field, reason));
    }
    let length = name.chars().count();
    let max = settings::MAX_PRODUCT_NAME_LENGTH.get();
    if length > max as usize {
        return Err(invalid(
            field,
            &format!("is {length} characters long; the most is {max}"),
        ));
    }
    Ok(name.to_string())
}

fn invalid(field: String, reason: &str) -> DeviceError {
    DeviceError::InvalidValue {
        field,
        reason: reason.to_string(),
    }
}
