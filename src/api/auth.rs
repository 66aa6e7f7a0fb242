//! Who is calling: the `sub` claim of the JWT claims PostgREST puts in `request.jwt.claims`.
//! No function takes an owner id as an argument.
//!
//! The claims are read in the one grammar the gateway shares (the compute-devices-claims crate):
//! a JSON object naming each key once, whose `sub` is a uuid written 8-4-4-4-12. The row-level
//! security policy reads the caller through `caller_user_id()`, so the policy and the functions
//! agree on every input.

use crate::errors::{DeviceError, OrRaise};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::Uuid;
use std::ffi::CStr;

/// The caller's user id, or 42501 when the claims name no user.
pub fn caller_id() -> Result<Uuid, DeviceError> {
    user_id_from_claims(current_claims().as_deref())
}

/// The caller's user id, as the row-level security policy on compute_devices reads it: the same
/// answer as every API function's, and the same 42501 when the claims name no user.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn caller_user_id() -> Uuid {
    caller_id().or_raise()
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
    compute_devices_claims::caller_id(claims)
        .map(Uuid::from_bytes)
        .map_err(|error| DeviceError::NotAuthenticated(error.reason()))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;

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
            Some(r#"{"sub":"{0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10}"}"#),
            Some(r#"{"sub":"urn:uuid:0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"}"#),
            Some(r#"["0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"]"#),
            Some(
                r#"{"sub":"0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10","sub":"8e1d6f5b-4c2a-4f3b-8d7e-2b3c4d5e6f70"}"#,
            ),
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
