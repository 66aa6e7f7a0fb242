//! A seed route's query parameters as its function's arguments
//! (`?countries=DE,FR&min_ram_gb=16`): each parameter is the argument of its name, and its text
//! is written as that argument by the argument's type category in the catalog. An array's value
//! is its comma-separated elements, each a string the database reads as the element type; a
//! number's is the number as written (so the database alone decides whether it fits); anything
//! else is the string itself. Parameters are checked here only where the database could not
//! name the argument: an unknown name, a name given twice, a number that is not one.

use crate::args::{self, Args};
use crate::errors::ApiError;
use crate::schema::{Category, Function};
use axum::http::StatusCode;
use serde_json::value::RawValue;

pub fn arguments(function: &Function, pairs: &[(String, String)]) -> Result<Args, ApiError> {
    let mut given = Args::new();
    for (name, text) in pairs {
        let argument = function
            .argument(name)
            .ok_or_else(|| unknown(function, name))?;
        let value = match argument.category {
            Category::Array => list(text),
            Category::Numeric => number(text).ok_or_else(|| not_a_number(name, text))?,
            Category::Other => args::string_arg(text),
        };
        if given.insert(name.clone(), value).is_some() {
            return Err(refused(format!(
                "the query parameter {name} is given twice: give a list once, its values \
                 separated by commas"
            )));
        }
    }
    Ok(given)
}

/// `a,b` as `["a","b"]`; nothing as `[]`.
fn list(text: &str) -> Box<RawValue> {
    let elements: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(',').collect()
    };
    serde_json::value::to_raw_value(&elements).expect("strings are JSON")
}

/// A JSON number, as written: `-1.5e3`, never ` 1`, `+1`, `.5` or `0x10`.
fn number(text: &str) -> Option<Box<RawValue>> {
    let starts = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let ends = text.ends_with(|c: char| c.is_ascii_digit());
    if !(starts && ends) {
        return None;
    }
    RawValue::from_string(text.to_string()).ok()
}

fn refused(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "PGRST100", message)
}

fn unknown(function: &Function, name: &str) -> ApiError {
    let names: Vec<&str> = function.args.iter().map(|arg| arg.name.as_str()).collect();
    refused(format!(
        "unknown query parameter {name}: {} takes {}",
        function.name,
        names.join(", ")
    ))
}

/// What the database would answer (22P02) for the text, with the argument named.
fn not_a_number(name: &str, text: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "22P02",
        format!("{name} must be a number, written as JSON writes one (got {text:?})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::fixture::register_cache;
    use crate::schema::Argument;

    fn function() -> Function {
        let mut function = register_cache("public").functions["register_device"].clone();
        function.args.push(Argument {
            name: "countries".into(),
            sql_type: "pg_catalog._text".into(),
            element_sql_type: Some("pg_catalog.text".into()),
            category: Category::Array,
            has_default: true,
        });
        function
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect()
    }

    fn written(given: &[(&str, &str)]) -> String {
        serde_json::to_string(&arguments(&function(), &pairs(given)).unwrap()).unwrap()
    }

    #[test]
    fn each_parameter_is_written_by_its_type() {
        assert_eq!(
            written(&[
                ("countries", "DE,fr"),
                ("ram_gb", "65536.00000000000000000001"),
                ("device_name", "7"),
            ]),
            r#"{"countries":["DE","fr"],"device_name":"7","ram_gb":65536.00000000000000000001}"#
        );
        assert_eq!(
            written(&[("countries", ""), ("ram_gb", "-1e3")]),
            r#"{"countries":[],"ram_gb":-1e3}"#
        );
        assert_eq!(
            written(&[("countries", "a,,\"b\"")]),
            r#"{"countries":["a","","\"b\""]}"#
        );
    }

    #[test]
    fn what_the_database_could_not_name_is_refused_here() {
        let refusal = |given: &[(&str, &str)]| {
            let error = arguments(&function(), &pairs(given)).unwrap_err();
            (error.status.as_u16(), error.code, error.message)
        };
        assert_eq!(
            refusal(&[("ram_gb", "1"), ("colour", "red")]),
            (
                400,
                "PGRST100".into(),
                "unknown query parameter colour: register_device takes device_name, ram_gb, \
                 note, countries"
                    .into()
            )
        );
        let (status, code, message) = refusal(&[("countries", "DE"), ("countries", "FR")]);
        assert_eq!((status, code.as_str()), (400, "PGRST100"));
        assert!(message.starts_with("the query parameter countries is given twice"));
        for text in [
            "", "abc", " 1", "1 ", "+1", ".5", "1.", "01", "0x10", "1e", "--1", "NaN",
        ] {
            assert_eq!(
                refusal(&[("ram_gb", text)]),
                (
                    400,
                    "22P02".into(),
                    format!("ram_gb must be a number, written as JSON writes one (got {text:?})")
                ),
                "{text}"
            );
        }
    }
}
