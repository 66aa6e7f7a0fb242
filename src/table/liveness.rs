//! When a device counts as online, and the sweep that marks silent devices inactive.
//!
//! A device is active when `is_active` is true and `last_seen` is within
//! `compute_devices.active_window`. Every reader applies that test itself, so answers are right
//! whether or not the sweeper has run yet; the sweep only keeps `is_active` tidy on disk.
//! On the shared-memory path the same test reads the device's slot: registered (not stopped)
//! and a heartbeat within the window.

use crate::api::auth;
use crate::errors::{internal_error, internal_failure, require_writable};
use crate::settings;
use crate::shared_memory::device_index;
use crate::shared_memory::slots;
use crate::spi::catalog;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;

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
fn sweep(client: &mut SpiClient<'_>) -> spi::Result<i64> {
    let sweep = catalog::statement(concat!(
        "UPDATE @extschema@.compute_devices AS d SET is_active = false WHERE d.is_active AND NOT ",
        is_live!()
    ));
    let swept = client.update(&*sweep, None, &[settings::active_window_seconds().into()])?;
    Ok(i64::try_from(swept.len()).unwrap_or(i64::MAX))
}

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

/// A device's is_active and last_seen as they are now, for the `compute_devices_live` view:
/// the table's values with the liveness test applied and, on the shared-memory path, its
/// slot's latest heartbeat laid over them (a live heartbeat makes a device not stopped active;
/// last_seen is the later of the two). The table's own columns lag behind: is_active until the
/// worker's next sweep, last_seen until its next flush.
///
/// The view runs as its caller, so anyone who reads it can call this with any values. The
/// slot is therefore found from the device id and owner through the device index (never from an
/// argument), and read only for a caller who may read that device's row: one row-level security
/// shows the caller (the owner of the claims), or any row where row-level security does not
/// apply to the caller. Anyone else gets back the values given, which tell them nothing new.
/// Reads only: no transaction id, and the same answer on a standby (the table's values).
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn current_liveness(
    device_id: Option<Uuid>,
    user_id: Option<Uuid>,
    is_active: Option<bool>,
    last_seen: Option<TimestampWithTimeZone>,
    deactivated_at: Option<TimestampWithTimeZone>,
) -> pgrx::composite_type!('static, "device_liveness") {
    let live_after = live_after(transaction_start());
    let stored = last_seen.map_or(i64::MIN, TimestampWithTimeZone::into_inner);
    let mut live = is_active.unwrap_or(false) && stored > live_after;
    let mut seen = last_seen;
    let beat = device_id
        .zip(user_id)
        .and_then(|(device_id, owner)| latest_beat(device_id, owner));
    if let Some(beat) = beat {
        live |= deactivated_at.is_none() && beat > live_after;
        if beat > stored {
            seen = TimestampWithTimeZone::try_from(beat).ok();
        }
    }
    let row = || -> Result<_, Box<dyn std::error::Error>> {
        let mut row =
            PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(c"device_liveness"))?;
        row.set_by_index(1.try_into()?, live)?;
        row.set_by_index(2.try_into()?, seen)?;
        Ok(row)
    };
    row().unwrap_or_else(|e| internal_failure("current_liveness", e))
}

/// The device's latest heartbeat in shared memory (microseconds, as `now`), when this database
/// is on the shared-memory path, the device index knows this owner's device, and the caller may
/// read its row.
fn latest_beat(device_id: Uuid, owner: Uuid) -> Option<i64> {
    let shared = slots::shared()?;
    let slot = device_index::slot_of(device_id.as_bytes(), owner.as_bytes())?;
    caller_may_read(owner)
        .then(|| shared.read(slot))
        .flatten()
        .map(|view| view.last_beat)
}

/// Whether the caller may read a device row of this owner: it has SELECT on the table, and
/// either row-level security does not apply to it (a superuser, the table's owner, a role with
/// BYPASSRLS) or the policy shows it this owner's rows (the claims name this owner).
fn caller_may_read(owner: Uuid) -> bool {
    let table = catalog::extension().table;
    // SAFETY: catalog lookups by oid that report through their result, not by raising:
    // check_enable_rls with noError, and an ACL check of a table that exists (found above).
    let (row_security, may_select) = unsafe {
        (
            pg_sys::check_enable_rls(table, pg_sys::InvalidOid, true),
            pg_sys::pg_class_aclcheck(table, pg_sys::GetUserId(), pg_sys::ACL_SELECT),
        )
    };
    may_select == pg_sys::AclResult::ACLCHECK_OK
        && (row_security != pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
            || auth::caller_id().is_ok_and(|caller| caller == owner))
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
