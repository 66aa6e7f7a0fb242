//! One error type for every failure, with its two renderings: PostgREST's body
//! (`{code, message, details, hint}`, the default `IntoResponse`) on PostgREST's routes, and
//! the seed's envelope (`{"success": false, "error": {code, message}}`, [`Envelope`]) on
//! /api/v1. Both carry PostgREST's `WWW-Authenticate` header on a 401.

mod sqlstate;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// PostgREST v12's code for a token it refuses (JwtTokenInvalid): its 401 says
/// `error="invalid_token"`.
const INVALID_TOKEN: &str = "PGRST301";

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

    pub fn with_details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }

    /// An error the database raised, with the status PostgREST gives its SQLSTATE for a
    /// request running as the anon role (`anonymous`) or another.
    pub fn from_sqlstate(
        code: &str,
        message: impl Into<String>,
        details: Option<String>,
        hint: Option<String>,
        anonymous: bool,
    ) -> ApiError {
        let message = message.into();
        ApiError {
            status: sqlstate::status(code, &message, anonymous),
            code: code.to_string(),
            message,
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

    /// PostgREST's `WWW-Authenticate` for a 401: the refused token's description, or a bare
    /// `Bearer` (a token is needed, or the anon role may not do this).
    fn www_authenticate(&self) -> Option<HeaderValue> {
        if self.status != StatusCode::UNAUTHORIZED {
            return None;
        }
        let value = if self.code == INVALID_TOKEN {
            // Haskell's `show` of the message: a quoted string with `"` and `\` escaped.
            let description = self.message.replace('\\', "\\\\").replace('"', "\\\"");
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
        } else {
            "Bearer".to_string()
        };
        HeaderValue::from_str(&value)
            .ok()
            .or(Some(HeaderValue::from_static("Bearer")))
    }

    fn render(&self, body: Value) -> Response {
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(value) = self.www_authenticate() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// PostgREST's body.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(self.postgrest_body())
    }
}

/// The seed's envelope.
pub struct Envelope(pub ApiError);

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        self.0.render(self.0.envelope())
    }
}

impl From<ApiError> for Envelope {
    fn from(error: ApiError) -> Envelope {
        Envelope(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_says_bearer_and_why_a_token_was_refused() {
        let header = |error: ApiError| {
            error
                .into_response()
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|value| value.to_str().unwrap().to_string())
        };
        assert_eq!(
            header(ApiError::unauthorized("PGRST301", "JWT \"x\" expired")),
            Some(r#"Bearer error="invalid_token", error_description="JWT \"x\" expired""#.into())
        );
        assert_eq!(
            header(ApiError::from_sqlstate("42501", "denied", None, None, true)),
            Some("Bearer".into())
        );
        let envelope = Envelope(ApiError::unauthorized("PGRST302", "sign in")).into_response();
        assert_eq!(envelope.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            header(ApiError::from_sqlstate(
                "42501", "denied", None, None, false
            )),
            None
        );
    }
}
