//! Every error a caller can cause, with the SQLSTATE PostgREST turns into the right HTTP status.
//!
//! PostgREST maps 42501 to 401/403, 42P01 to 404 and the rest of these to 400. Its custom
//! `PTxxx` codes cannot be raised here: pgrx reports only the SQLSTATEs PostgreSQL defines.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

#[derive(Debug, Clone, PartialEq)]
pub enum DeviceError {
    /// The caller has no usable identity in `request.jwt.claims`.
    NotAuthenticated(&'static str),
    NullArgument {
        field: &'static str,
    },
    UnknownDeviceType(String),
    InvalidDeviceName {
        reason: &'static str,
    },
    DeviceNameTooLong {
        length: usize,
        max: usize,
    },
    SpecNotFinite {
        field: &'static str,
    },
    SpecOutOfRange {
        field: &'static str,
        value: String,
        min: String,
        max: String,
    },
    /// Unknown id or another user's device: one error for both, so existence does not leak.
    DeviceNotFound,
    /// The owner deactivated the device; heartbeats do not revive it.
    DeviceStopped,
    TooManyDevices {
        max: i32,
    },
}

impl DeviceError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            DeviceError::NotAuthenticated(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            DeviceError::NullArgument { .. } => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            DeviceError::UnknownDeviceType(_) | DeviceError::InvalidDeviceName { .. } => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            DeviceError::DeviceNameTooLong { .. } => ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
            DeviceError::SpecNotFinite { .. } | DeviceError::SpecOutOfRange { .. } => {
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
            }
            DeviceError::DeviceNotFound | DeviceError::DeviceStopped => ERRCODE_UNDEFINED_TABLE,
            DeviceError::TooManyDevices { .. } => ERRCODE_CHECK_VIOLATION,
        }
    }

    pub fn message(&self) -> String {
        match self {
            DeviceError::NotAuthenticated(reason) => format!("not authenticated: {reason}"),
            DeviceError::NullArgument { field } => format!("{field} must not be null"),
            DeviceError::UnknownDeviceType(given) => {
                format!("device_type must be one of phone, laptop, desktop, server (got {given:?})")
            }
            DeviceError::InvalidDeviceName { reason } => format!("device_name {reason}"),
            DeviceError::DeviceNameTooLong { length, max } => {
                format!("device_name is {length} characters long; the most is {max}")
            }
            DeviceError::SpecNotFinite { field } => format!("{field} must be a finite number"),
            DeviceError::SpecOutOfRange {
                field,
                value,
                min,
                max,
            } => {
                format!("{field} must be between {min} and {max} (got {value})")
            }
            DeviceError::DeviceNotFound => "device not found".to_string(),
            DeviceError::DeviceStopped => "device is stopped: its owner deactivated it".to_string(),
            DeviceError::TooManyDevices { max } => {
                format!("device limit reached: a user may register at most {max} devices")
            }
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DeviceError::NotAuthenticated(_) => {
                Some("Call with a JWT whose sub claim is the user's uuid.")
            }
            DeviceError::DeviceNotFound | DeviceError::DeviceStopped => {
                Some("Register the device again with register_device to resume sharing.")
            }
            DeviceError::TooManyDevices { .. } => {
                Some("Register under an existing device_name to update that device instead.")
            }
            _ => None,
        }
    }

    /// Raise this as a PostgreSQL ERROR; the statement and its transaction are rolled back.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.message(), "compute_devices");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// Unwraps an API step's result, raising its error for the caller.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, DeviceError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|error| error.raise())
    }
}

/// An SPI failure is never the caller's doing (it means a query or a type in this crate is
/// wrong), so it is reported as the internal error it is.
pub fn internal_error<T>(error: pgrx::spi::Error) -> T {
    panic!("compute_devices internal error: {error}")
}
