//! Who is calling: the `sub` claim of the JWT claims PostgREST puts in `request.jwt.claims`.
//! No function takes an owner id as an argument.

use crate::errors::DeviceError;
use pgrx::pg_sys;
use pgrx::Uuid;
use serde::Deserialize;
use std::ffi::CStr;

#[derive(Deserialize)]
struct Claims {
    sub: Option<serde_json::Value>,
}

/// The caller's user id, or 42501 when the claims name no user.
pub fn caller_id() -> Result<Uuid, DeviceError> {
    user_id_from_claims(current_claims().as_deref())
}

fn current_claims() -> Option<String> {
    // SAFETY: GetConfigOption returns NULL (missing_ok) or a string owned by the GUC machinery,
    // which we copy before anything can change it.
    unsafe {
        let value = pg_sys::GetConfigOption(c"request.jwt.claims".as_ptr(), true, false);
        (!value.is_null()).then(|| CStr::from_ptr(value).to_string_lossy().into_owned())
    }
}

fn user_id_from_claims(claims: Option<&str>) -> Result<Uuid, DeviceError> {
    let claims =
        claims
            .filter(|text| !text.trim().is_empty())
            .ok_or(DeviceError::NotAuthenticated(
                "request.jwt.claims is not set",
            ))?;
    let claims: Claims = serde_json::from_str(claims)
        .map_err(|_| DeviceError::NotAuthenticated("request.jwt.claims is not a JSON object"))?;
    match claims.sub {
        Some(serde_json::Value::String(sub)) => {
            parse_uuid(&sub).ok_or(DeviceError::NotAuthenticated("the sub claim is not a uuid"))
        }
        Some(_) => Err(DeviceError::NotAuthenticated("the sub claim is not a uuid")),
        None => Err(DeviceError::NotAuthenticated(
            "request.jwt.claims has no sub claim",
        )),
    }
}

/// Parses the canonical 8-4-4-4-12 hexadecimal form that JWT issuers put in `sub`.
fn parse_uuid(text: &str) -> Option<Uuid> {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    if text.len() != 36 || DASHES.iter().any(|&at| text.as_bytes()[at] != b'-') {
        return None;
    }
    let mut digits = text
        .bytes()
        .enumerate()
        .filter(|(at, _)| !DASHES.contains(at))
        .map(|(_, digit)| char::from(digit).to_digit(16));
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        *byte = (digits.next()?? * 16 + digits.next()??) as u8;
    }
    Some(Uuid::from_bytes(bytes))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    const ALICE: &str = "0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10";

    #[pg_test]
    fn test_sub_claim_is_the_caller() {
        let claims = format!(r#"{{"sub":"{ALICE}","role":"authenticated"}}"#);
        let id = user_id_from_claims(Some(&claims)).unwrap();
        assert_eq!(id.to_string(), ALICE);
        let upper = format!(r#"{{"sub":"{}"}}"#, ALICE.to_uppercase());
        assert_eq!(user_id_from_claims(Some(&upper)).unwrap(), id);
    }

    #[pg_test]
    fn test_missing_or_bad_claims_are_not_authenticated() {
        for claims in [
            None,
            Some(""),
            Some("not json"),
            Some(r#"{"role":"anon"}"#),
            Some(r#"{"sub":42}"#),
            Some(r#"{"sub":"alice"}"#),
            Some(r#"{"sub":"0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b1g"}"#),
            Some(r#"{"sub":"0b1e4a526f0e4c399d4c2f5a1c7e9b10"}"#),
        ] {
            let error = user_id_from_claims(claims).unwrap_err();
            assert_eq!(
                error.sqlstate(),
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "{claims:?}"
            );
        }
    }

    #[pg_test]
    fn test_caller_id_reads_the_request_setting() {
        Spi::run(&format!(
            "SELECT pg_catalog.set_config('request.jwt.claims', '{{\"sub\":\"{ALICE}\"}}', true)"
        ))
        .unwrap();
        assert_eq!(caller_id().unwrap().to_string(), ALICE);
    }
}
