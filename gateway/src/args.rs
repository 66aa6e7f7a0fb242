//! A call's named arguments, each value kept as the JSON text the caller sent: the object the
//! statement reads (with `json_to_record`, as PostgREST does, so a wrong type is the database's
//! own 22P02) is written back from these texts, so a number reaches the database exactly as
//! written (`9999999.999999999` stays that, not the nearest float) and the database alone
//! decides whether it fits.

use crate::errors::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

pub type Args = BTreeMap<String, Box<RawValue>>;

/// An argument that is a JSON string (a path segment, a query parameter).
pub fn string_arg(text: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(text).expect("a string is JSON")
}

/// JSON null: an argument the caller left out, where the extension names what is missing.
pub fn null_arg() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).expect("null is JSON")
}

/// The request body as a JSON object of named arguments, each value kept as its text; an empty
/// body is no arguments.
pub fn from_body(body: Result<Bytes, BytesRejection>) -> Result<Args, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        ApiError::new(status, "PGRST102", rejection.body_text())
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Args::new());
    }
    let not_json = |error: serde_json::Error| {
        ApiError::bad_body(format!("the body is not valid JSON: {error}"))
    };
    let body = serde_json::from_slice::<&RawValue>(&body).map_err(not_json)?;
    if !body.get().starts_with('{') {
        return Err(ApiError::bad_body(
            "the body must be a JSON object of named arguments",
        ));
    }
    serde_json::from_str(body.get()).map_err(not_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(body: &str) -> Result<Args, ApiError> {
        from_body(Ok(Bytes::from(body.to_string())))
    }

    #[test]
    fn every_argument_keeps_its_text() {
        let args = args(" \n{\"ram_gb\": 65536.00000000000000000001, \"ids\": [1e2, \"a\\u0062\"], \"n\": null} ")
            .unwrap();
        assert_eq!(args["ram_gb"].get(), "65536.00000000000000000001");
        // The object the statement reads, as its parameter is written.
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#"{"ids":[1e2, "a\u0062"],"n":null,"ram_gb":65536.00000000000000000001}"#
        );
    }

    #[test]
    fn a_body_that_is_not_one_json_object_is_refused() {
        assert!(args("  ").unwrap().is_empty());
        for body in [
            "[1, 2]",
            "42",
            "\"x\"",
            "{\"a\": 1",
            "{\"a\": 1} {}",
            "{oops",
        ] {
            let error = args(body).unwrap_err();
            assert_eq!(
                (error.status.as_u16(), error.code.as_str()),
                (400, "PGRST102"),
                "{body}"
            );
        }
    }
}
