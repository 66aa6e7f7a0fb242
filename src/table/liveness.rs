//! When a device counts as online, and the sweep that marks silent devices inactive.
//!
//! A device is active when `is_active` is true and `last_seen` is within
//! `compute_devices.active_window`. Every reader applies that test itself, so answers are right
//! whether or not the sweeper has run yet; the sweep only keeps `is_active` tidy on disk.
//! On the shared-memory path the same test reads the device's slot: registered (not stopped)
//! and a heartbeat within the window.

use crate::errors::{internal_error, require_writable};
use crate::intervals;
use crate::settings;
use crate::shared_memory::slots;
use crate::spi::catalog;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// The liveness test over a row aliased `d`, with the window in seconds as parameter `$1`.
macro_rules! is_live {
    () => {
        "(d.is_active AND d.last_seen OPERATOR(pg_catalog.>) \
          (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)))"
    };
}
pub(crate) use is_live;

/// PostgreSQL's now(), in microseconds since 2000-01-01.
pub fn transaction_start() -> i64 {
    // SAFETY: a plain read of the current transaction's start time.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// A heartbeat after this time (microseconds, as `now`) is within the active window.
pub fn live_after(now: i64) -> i64 {
    now - settings::active_window_micros()
}

/// Marks active devices that have been silent past the window inactive, returning how many.
/// Their `deactivated_at` stays NULL: they are stale, not stopped, so a heartbeat revives them.
/// Only `is_active` is written, so each row update is HOT and the trigger does not fire.
/// From 0.7.0 on, the swept devices' spells online end where they went stale (intervals.rs).
fn sweep(client: &mut SpiClient<'_>) -> spi::Result<i64> {
    let statement = if intervals::recorded() {
        SWEEP_AND_CLOSE_SPELLS
    } else {
        SWEEP
    };
    let sweep = catalog::statement(statement);
    let swept = client.update(&*sweep, None, &[settings::active_window_seconds().into()])?;
    Ok(i64::try_from(swept.len()).unwrap_or(i64::MAX))
}

const SWEEP: &str = concat!(
    "UPDATE @extschema@.compute_devices AS d SET is_active = false WHERE d.is_active AND NOT ",
    is_live!(),
    " RETURNING d.id, d.last_seen"
);

const SWEEP_AND_CLOSE_SPELLS: &str = concat!(
    "WITH swept AS (UPDATE @extschema@.compute_devices AS d SET is_active = false
                     WHERE d.is_active AND NOT ",
    is_live!(),
    " RETURNING d.id, d.last_seen),
          closed AS (UPDATE @extschema@.online_intervals AS i
                        SET ended_at = GREATEST(i.started_at, s.last_seen OPERATOR(pg_catalog.+)
                                                              pg_catalog.make_interval(secs => $1)),
                            end_reason = 'stale'
                       FROM swept AS s
                      WHERE i.device_id OPERATOR(pg_catalog.=) s.id AND i.ended_at IS NULL)
     SELECT s.id FROM swept AS s"
);

/// The sweep as a function, for databases without the background worker (for example from
/// pg_cron). Answers never depend on it; see the module comment. Where shared memory holds the
/// heartbeats, the table's last_seen lags them and only the worker may judge: this returns 0.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn sweep_stale_devices() -> i64 {
    require_writable("sweep stale devices");
    if slots::shared().is_some() {
        return 0;
    }
    Spi::connect_mut(sweep).unwrap_or_else(internal_error)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn insert_device(last_seen: &str, deactivated: bool) -> pgrx::Uuid {
        Spi::get_one_with_args::<pgrx::Uuid>(
            "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb,
                                          is_active, last_seen, deactivated_at)
             VALUES (gen_random_uuid(), 'd', 'phone', 4, 8, 64, NOT $2, now() - $1::interval,
                     CASE WHEN $2 THEN now() END)
             RETURNING id",
            &[last_seen.into(), deactivated.into()],
        )
        .unwrap()
        .unwrap()
    }

    fn is_active(id: pgrx::Uuid) -> bool {
        Spi::get_one_with_args::<bool>(
            "SELECT is_active FROM compute_devices WHERE id = $1",
            &[id.into()],
        )
        .unwrap()
        .unwrap()
    }

    #[pg_test]
    fn test_sweep_marks_only_silent_devices_inactive() {
        let fresh = insert_device("10 seconds", false);
        let stale = insert_device("6 minutes", false);
        let swept = Spi::get_one::<i64>("SELECT sweep_stale_devices()").unwrap();
        assert!(swept >= Some(1));
        assert!(is_active(fresh));
        assert!(!is_active(stale));
        let stopped_at = Spi::get_one_with_args::<bool>(
            "SELECT deactivated_at IS NULL FROM compute_devices WHERE id = $1",
            &[stale.into()],
        );
        assert_eq!(
            stopped_at,
            Ok(Some(true)),
            "a swept device is stale, not stopped"
        );
    }

    #[pg_test]
    fn test_sweep_follows_the_active_window() {
        let device = insert_device("90 seconds", false);
        Spi::run("SET LOCAL compute_devices.active_window = '1min'").unwrap();
        Spi::run("SELECT sweep_stale_devices()").unwrap();
        assert!(!is_active(device));
        assert!(
            !is_active(insert_device("0 seconds", true)),
            "stopped stays inactive"
        );
    }
}
