//! The network's capacity history (issue 16): record_network_history() writes the current
//! minute's totals (the worker calls it once a minute where the library is preloaded; elsewhere
//! pg_cron can), and get_network_history() and get_network_stats_at() read them back. The
//! readers are public like get_network_stats(): SECURITY DEFINER (nobody reads the tables
//! directly), STABLE, reading only history rows.

use crate::errors::{internal_error, require_writable, DeviceError, OrRaise};
use crate::history::read::{self, Bucket};
use crate::history::{keep, record, Kind};
use crate::settings;
use crate::spi::result_set::ResultSet;
use crate::table::liveness::transaction_start;
use pgrx::prelude::*;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Records the network's totals for the current UTC minute (now() truncated), as
/// get_network_stats() and get_capacity() answer them now: the whole network, by device type
/// and by region. A second call in the same minute replaces the first one's rows. Then rolls
/// completed hours up into hourly rows, and prunes what is past its retention (a bounded batch
/// a call). Returns the minute recorded; NULL, having done nothing, while another transaction
/// is recording (calls never wait for each other).
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn record_network_history() -> Option<TimestampWithTimeZone> {
    require_writable("record network history");
    if !record::try_lock() {
        return None;
    }
    let groups = record::current_groups();
    Spi::connect_mut(|client| {
        let minute = record::this_minute(client)?;
        record::write_minute(client, minute, &groups)?;
        keep::roll_up(client)?;
        keep::prune(client)?;
        Ok::<_, pgrx::spi::Error>(minute)
    })
    .map(Some)
    .unwrap_or_else(internal_error)
}

/// The recorded totals from the bucket holding `since` to the bucket holding `until`: one row
/// per bucket the network has a record in (and per group, zeros where a group had none), each
/// an average over the bucket's recorded minutes, with active_nodes' minimum and maximum.
/// Its SQL declaration is sql/history.sql's (materialize mode: see spi/result_set.rs).
#[pg_extern(sql = false)]
fn get_network_history(
    since: Option<TimestampWithTimeZone>,
    until: Option<TimestampWithTimeZone>,
    bucket: Option<&str>,
    group_by: Option<&str>,
    fcinfo: pg_sys::FunctionCallInfo,
) {
    let (since, until, bucket, kind) = history_arguments(since, until, bucket, group_by).or_raise();
    // SAFETY: this call's fcinfo; the function is declared RETURNS TABLE.
    let rows = unsafe { ResultSet::of_call(fcinfo) };
    read::history(since, until, bucket, kind, &rows);
}

/// The network's totals (get_network_stats()'s columns) as recorded for the minute holding
/// `at`; NULL when nothing was recorded for that minute.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_network_stats_at(
    at: Option<TimestampWithTimeZone>,
) -> Option<pgrx::composite_type!('static, "network_stats")> {
    let at = stats_at_argument(at).or_raise();
    read::stats_at(at)
}

/// The arguments checked, each bad one an error naming it: NULL (22004); not finite, since
/// after until, an unknown bucket or group_by, a range longer than one call may span (22023).
fn history_arguments(
    since: Option<TimestampWithTimeZone>,
    until: Option<TimestampWithTimeZone>,
    bucket: Option<&str>,
    group_by: Option<&str>,
) -> Result<(TimestampWithTimeZone, TimestampWithTimeZone, Bucket, Kind), DeviceError> {
    let since = since.ok_or(DeviceError::NullArgument { field: "since" })?;
    let until = until.ok_or(DeviceError::NullArgument { field: "until" })?;
    let bucket = bucket.ok_or(DeviceError::NullArgument { field: "bucket" })?;
    let bucket = Bucket::ALL
        .iter()
        .find(|(name, _)| *name == bucket)
        .map(|(_, bucket)| *bucket)
        .ok_or_else(|| DeviceError::InvalidValue {
            field: "bucket".to_string(),
            reason: format!(
                "must be one of '1 minute', '1 hour', '1 day' (got {:?})",
                crate::api::validate::shortened(bucket)
            ),
        })?;
    let kind = match group_by {
        None => Kind::Network,
        Some("device_type") => Kind::DeviceType,
        Some("region") => Kind::Region,
        Some(other) => {
            return Err(DeviceError::InvalidValue {
                field: "group_by".to_string(),
                reason: format!(
                    "must be device_type, region or NULL (got {:?})",
                    crate::api::validate::shortened(other)
                ),
            })
        }
    };
    for (field, time) in [("since", since), ("until", until)] {
        if !time.is_finite() {
            return Err(DeviceError::InvalidValue {
                field: field.to_string(),
                reason: "must be a finite time".to_string(),
            });
        }
    }
    let (from, to) = (since.into_inner(), until.into_inner());
    if from > to {
        return Err(DeviceError::InvalidValue {
            field: "since".to_string(),
            reason: "must not be after until".to_string(),
        });
    }
    let (setting, seconds) = match bucket {
        Bucket::Minute => (
            "compute_devices.history_retention",
            settings::history_retention_seconds(),
        ),
        Bucket::Hour | Bucket::Day => (
            "compute_devices.history_retention_hours",
            settings::history_retention_hours_seconds(),
        ),
    };
    if to - from > seconds.saturating_mul(MICROS_PER_SECOND) {
        let hint = match bucket {
            Bucket::Minute => {
                "; ask for less, or for bucket '1 hour' or '1 day' \
                 (kept for compute_devices.history_retention_hours)"
            }
            Bucket::Hour | Bucket::Day => "; ask for less",
        };
        return Err(DeviceError::InvalidValue {
            field: "since".to_string(),
            reason: format!(
                "and until are further apart than {setting} ({}), the most one call with \
                 bucket '{}' may span{hint}",
                duration(seconds),
                bucket.name()
            ),
        });
    }
    Ok((since, until, bucket, kind))
}

/// `at` checked: NULL (22004), in the future (22008), older than minute rows are kept (22023).
fn stats_at_argument(
    at: Option<TimestampWithTimeZone>,
) -> Result<TimestampWithTimeZone, DeviceError> {
    let at = at.ok_or(DeviceError::NullArgument { field: "at" })?;
    let now = transaction_start();
    let time = at.into_inner();
    if time > now {
        return Err(DeviceError::TimeOutOfRange {
            field: "at",
            reason: "is in the future: history records only what has happened".to_string(),
        });
    }
    let retention = settings::history_retention_seconds();
    if time < now.saturating_sub(retention.saturating_mul(MICROS_PER_SECOND)) {
        return Err(DeviceError::InvalidValue {
            field: "at".to_string(),
            reason: format!(
                "is older than compute_devices.history_retention ({}), how long minute records \
                 are kept; get_network_history(since, until, '1 hour') has the hourly averages \
                 (kept for compute_devices.history_retention_hours)",
                duration(retention)
            ),
        });
    }
    Ok(at)
}

/// A setting's seconds as a person says them: "30 days", "36 hours", "90 minutes".
fn duration(seconds: i64) -> String {
    let (count, unit) = if seconds % 86_400 == 0 {
        (seconds / 86_400, "day")
    } else if seconds % 3_600 == 0 {
        (seconds / 3_600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    #[pgrx::pg_test]
    fn durations_read_as_people_say_them() {
        assert_eq!(super::duration(30 * 86_400), "30 days");
        assert_eq!(super::duration(86_400), "1 day");
        assert_eq!(super::duration(36 * 3_600), "36 hours");
        assert_eq!(super::duration(90 * 60), "90 minutes");
        assert_eq!(super::duration(61), "61 seconds");
    }
}
