//! One error type for every failure, with PostgREST's SQLSTATE-to-HTTP mapping. It renders as
//! PostgREST's body (`{code, message, details, hint}`) on /rpc and as the seed's envelope
//! (`{"success": false, "error": {code, message}}`) on /api/v1.

use axum::http::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A SQLSTATE from the database, or PostgREST's `PGRSTxxx` for the gateway's own errors.
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }

    /// An error the database raised, with the HTTP status PostgREST gives its SQLSTATE.
    /// `authenticated` tells 401 from 403 for 42501, as PostgREST does.
    pub fn from_sqlstate(
        code: &str,
        message: impl Into<String>,
        details: Option<String>,
        hint: Option<String>,
        authenticated: bool,
    ) -> ApiError {
        ApiError {
            status: status_of_sqlstate(code, authenticated),
            code: code.to_string(),
            message: message.into(),
            details,
            hint,
        }
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The database cannot be reached; PostgREST answers these with 503.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "PGRST001", message)
    }

    pub fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "PGRST102", message)
    }

    pub fn postgrest_body(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        })
    }

    pub fn envelope(&self) -> Value {
        json!({ "success": false, "error": { "code": self.code, "message": self.message } })
    }
}

/// PostgREST's table (docs: "Errors", HTTP status codes), for the classes it names.
fn status_of_sqlstate(code: &str, authenticated: bool) -> StatusCode {
    let class = code.get(..2).unwrap_or("");
    match (code, class) {
        ("42501", _) if authenticated => StatusCode::FORBIDDEN,
        ("42501", _) => StatusCode::UNAUTHORIZED,
        ("23503" | "23505", _) => StatusCode::CONFLICT,
        ("25006", _) => StatusCode::METHOD_NOT_ALLOWED,
        ("42883" | "42P01", _) => StatusCode::NOT_FOUND,
        ("P0001", _) => StatusCode::BAD_REQUEST,
        ("53400", _) => StatusCode::INTERNAL_SERVER_ERROR,
        (_, "08" | "53") => StatusCode::SERVICE_UNAVAILABLE,
        (_, "0L" | "0P" | "28") => StatusCode::FORBIDDEN,
        (
            _,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX",
        ) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extensions_sqlstates_get_postgrests_statuses() {
        let cases = [
            ("42501", false, 401),
            ("42501", true, 403),
            ("22004", true, 400),
            ("22023", true, 400),
            ("22003", true, 400),
            ("22001", true, 400),
            ("22P02", true, 400),
            ("23514", true, 400),
            ("42P01", true, 404),
            ("53000", true, 503),
            ("53400", true, 500),
            ("57014", true, 500),
            ("XX000", true, 500),
        ];
        for (code, authenticated, status) in cases {
            assert_eq!(
                status_of_sqlstate(code, authenticated).as_u16(),
                status,
                "{code}"
            );
        }
    }
}
