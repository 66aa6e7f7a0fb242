//! Every error a caller can cause, with the SQLSTATE PostgREST turns into the right HTTP status.
//!
//! PostgREST maps 42501 to 401/403, 42P01 to 404 and the rest of these to 400. Its custom
//! `PTxxx` codes cannot be raised here: pgrx reports only the SQLSTATEs PostgreSQL defines.

use crate::device_type::DeviceType;
use pgrx::pg_sys;
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
    /// A spec with more decimals than shared memory sums exactly (GB to the byte).
    TooManyDecimals {
        field: &'static str,
        max: i32,
    },
    /// send_heartbeats' arrays differ in length.
    BatchLengthsDiffer {
        user_ids: usize,
        device_ids: usize,
    },
    BatchTooLarge {
        entries: usize,
        max: i32,
    },
    /// Every shared-memory slot is numbered; a new device would need a bigger region.
    SlotsFull {
        capacity: u32,
    },
    /// An argument (or a part of one, like `accelerators[1].vendor`) that is not one of the
    /// values it may take, or not of the shape it must have.
    InvalidValue {
        field: String,
        reason: String,
    },
    /// A number outside its bounds, in an argument or a part of one.
    ValueOutOfRange {
        field: String,
        value: String,
        min: String,
        max: String,
    },
    /// A minimum below zero.
    NegativeMinimum {
        field: &'static str,
        value: String,
    },
    /// A time the call cannot answer for (a future `at`): 22008.
    TimeOutOfRange {
        field: &'static str,
        reason: String,
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
            DeviceError::SpecNotFinite { .. }
            | DeviceError::SpecOutOfRange { .. }
            | DeviceError::TooManyDecimals { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            DeviceError::BatchLengthsDiffer { .. }
            | DeviceError::BatchTooLarge { .. }
            | DeviceError::InvalidValue { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            DeviceError::ValueOutOfRange { .. } | DeviceError::NegativeMinimum { .. } => {
                ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
            }
            DeviceError::SlotsFull { .. } => ERRCODE_INSUFFICIENT_RESOURCES,
            DeviceError::DeviceNotFound | DeviceError::DeviceStopped => ERRCODE_UNDEFINED_TABLE,
            DeviceError::TooManyDevices { .. } => ERRCODE_CHECK_VIOLATION,
            DeviceError::TimeOutOfRange { .. } => ERRCODE_DATETIME_FIELD_OVERFLOW,
        }
    }

    /// The five-character SQLSTATE, for results that carry an error instead of raising it.
    pub fn sqlstate_text(&self) -> String {
        // PostgreSQL packs each of the five characters into six bits (MAKE_SQLSTATE).
        let packed = self.sqlstate() as u32;
        (0..5)
            .map(|i| char::from(b'0' + ((packed >> (6 * i)) & 0x3F) as u8))
            .collect()
    }

    pub fn message(&self) -> String {
        match self {
            DeviceError::NotAuthenticated(reason) => format!("not authenticated: {reason}"),
            DeviceError::NullArgument { field } => format!("{field} must not be null"),
            DeviceError::UnknownDeviceType(given) => {
                let names = DeviceType::names();
                format!("device_type must be one of {names} (got {given:?})")
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
            DeviceError::TooManyDecimals { field, max } => {
                format!("{field} may have at most {max} decimal places")
            }
            DeviceError::BatchLengthsDiffer {
                user_ids,
                device_ids,
            } => format!(
                "user_ids and device_ids must have the same length (got {user_ids} and {device_ids})"
            ),
            DeviceError::BatchTooLarge { entries, max } => {
                format!("device_ids has {entries} entries; the most per call is {max}")
            }
            DeviceError::SlotsFull { capacity } => format!(
                "no shared-memory slot left for a new device: compute_devices.slots is {capacity}"
            ),
            DeviceError::InvalidValue { field, reason } => format!("{field} {reason}"),
            DeviceError::ValueOutOfRange {
                field,
                value,
                min,
                max,
            } => format!("{field} must be between {min} and {max} (got {value})"),
            DeviceError::NegativeMinimum { field, value } => {
                format!("{field} must not be negative (got {value})")
            }
            DeviceError::TimeOutOfRange { field, reason } => format!("{field} {reason}"),
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
            DeviceError::BatchTooLarge { .. } => {
                Some("Split the batch, or raise compute_devices.max_batch_size.")
            }
            DeviceError::SlotsFull { .. } => {
                Some("Raise compute_devices.slots in postgresql.conf and restart the server.")
            }
            _ => None,
        }
    }

    /// Raise this as a PostgreSQL ERROR; the statement and its transaction are rolled back.
    pub fn raise(self) -> ! {
        raise(self.sqlstate(), self.message(), self.hint())
    }
}

/// Raises a PostgreSQL ERROR with this SQLSTATE, message and hint: the statement and its
/// transaction are rolled back.
fn raise(sqlstate: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(sqlstate, message.into(), "compute_devices");
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("an ERROR report does not return")
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
    internal_failure("SPI", error)
}

/// A table, index or type of the extension is missing: the installation is broken, not the call.
pub fn missing_object(what: &str) -> ! {
    internal_failure(
        "missing object",
        format!("{what} is missing; recreate the extension"),
    )
}

/// Something that cannot go wrong did. What went wrong goes to the server log only (never to a
/// client, whatever client_min_messages says); the caller gets a short generic message.
pub fn internal_failure(what: &str, detail: impl std::fmt::Display) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("compute_devices internal error: {what}: {detail}"),
        "compute_devices",
    )
    .report(PgLogLevel::LOG_SERVER_ONLY);
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        "compute_devices internal error",
        Some("The server log has the details."),
    )
}

/// A function that writes refuses to start in a read-only transaction or on a hot standby,
/// with PostgreSQL's own code for it (PostgREST: 405), before anything else can fail.
pub fn require_writable(action: &'static str) {
    // SAFETY: plain reads of the transaction's read-only flag and of the recovery state.
    let (read_only, replica) = unsafe { (pg_sys::XactReadOnly, pg_sys::RecoveryInProgress()) };
    if !read_only {
        return;
    }
    let (message, hint) = if replica {
        (
            format!("cannot {action}: this server is a read-only replica (in recovery)"),
            "Send writes to the primary server.",
        )
    } else {
        (
            format!("cannot {action} in a read-only transaction"),
            "Call it in a read-write transaction.",
        )
    };
    raise(
        PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
        message,
        Some(hint),
    )
}

/// A transaction whose snapshot predates a concurrent change it must not miss: PostgreSQL's
/// serialization failure, which clients retry.
pub fn serialization_failure(message: &'static str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
        message,
        Some("Retry the transaction."),
    )
}

/// Replaces pgrx's panic hook, which captures a Rust backtrace on every panic and puts it in
/// the DETAIL of the error a caller receives when RUST_BACKTRACE is set in the server's
/// environment. Without it no backtrace is taken; a real panic (not an ERROR on its way out)
/// is written to the server's log with its location, and the caller sees only its message.
pub fn keep_backtraces_from_callers() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if let Some(message) = message {
            let location = info
                .location()
                .map(|at| format!(" at {}:{}", at.file(), at.line()))
                .unwrap_or_default();
            eprintln!("compute_devices: panic{location}: {message}");
        }
    }));
}
