//! PostgREST's schema profiles: `Accept-Profile` (GET, HEAD) or `Content-Profile` (the other
//! methods) may name the schema a request is for; the gateway serves only the extension's, and
//! any other is 406 PGRST106.

use crate::errors::ApiError;
use axum::http::{HeaderMap, Method, StatusCode};

pub fn check(method: &Method, headers: &HeaderMap, schema: &str) -> Result<(), ApiError> {
    let header = if method == Method::GET || method == Method::HEAD {
        "accept-profile"
    } else {
        "content-profile"
    };
    match headers.get(header) {
        Some(profile) if profile.as_bytes() != schema.as_bytes() => Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST106",
            format!("The schema must be one of the following: {schema}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_served_schema_is_acceptable() {
        let headers = |name: &str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            headers
        };
        let get = Method::GET;
        assert!(check(&get, &HeaderMap::new(), "public").is_ok());
        assert!(check(&get, &headers("accept-profile", "public"), "public").is_ok());
        let refused = check(&get, &headers("accept-profile", "api"), "public").unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code.as_str()),
            (406, "PGRST106")
        );
        assert_eq!(
            refused.message,
            "The schema must be one of the following: public"
        );
        // Each method reads its own header.
        assert!(check(&get, &headers("content-profile", "api"), "public").is_ok());
        assert!(check(&Method::POST, &headers("content-profile", "api"), "public").is_err());
        assert!(check(&Method::HEAD, &headers("accept-profile", "api"), "public").is_err());
    }
}
