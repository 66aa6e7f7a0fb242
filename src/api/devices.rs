//! Reading and stopping the caller's devices: get_user_devices and deactivate_device, and
//! current_liveness(), which gives the `compute_devices_live` view (sql/live.sql) its live
//! is_active and last_seen. get_user_devices reads that view, so the live values are laid over
//! the table's in one place; it runs as the caller, under row-level security.
//! deactivate_device is SECURITY DEFINER (callers have no write privilege on the table) and
//! checks ownership in its own WHERE clause.

use crate::api::auth;
use crate::api::validate::required;
use crate::errors::{internal_error, internal_failure, require_writable, DeviceError, OrRaise};
use crate::intervals;
use crate::shared_memory::device_index;
use crate::shared_memory::slots;
use crate::spi::catalog;
use crate::spi::rows::{self, only_row};
use crate::table::liveness::{live_after, transaction_start};
use pgrx::prelude::*;
use pgrx::Uuid;

// The SQL type this stands for is named in the signatures below, where pgrx reads it.
type LiveDeviceRow = pgrx::composite_type!('static, "compute_devices_live");

/// A device row of the table `d` as callers receive a device, in the form this database's
/// functions are declared to return: a `compute_devices_live` row (the view's columns in its
/// order, without the internal slot; is_active and last_seen are the table's), with the
/// accelerators and location and the health columns since 0.7.0 (`current`), without the
/// health in 0.6.0 (`without_health`), without the accelerators and location either in 0.4.0
/// and 0.5.0 (`without_location`); before that, the table's row (`table`). See `device_form`.
macro_rules! live_device {
    (current) => {
        concat!(
            live_device!(@located),
            ",",
            live_device!(@health),
            ")::@extschema@.compute_devices_live"
        )
    };
    (without_health) => {
        concat!(live_device!(@located), ")::@extschema@.compute_devices_live")
    };
    // As register_device returns it: its accelerators ($8) and region and sub-region ($9, $10)
    // are what it just wrote, given as arguments.
    (registered) => {
        concat!(
            live_device!(@registered),
            ",",
            live_device!(@health),
            ")::@extschema@.compute_devices_live"
        )
    };
    // As register_device returns a device it inserts, which has no health yet to look up.
    (inserted) => {
        concat!(
            live_device!(@registered),
            ",",
            $crate::health::new_device_health!(),
            ")::@extschema@.compute_devices_live"
        )
    };
    (registered_without_health) => {
        concat!(live_device!(@registered), ")::@extschema@.compute_devices_live")
    };
    (without_location) => {
        "ROW(d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
             d.compute_score, d.is_active, d.last_seen, d.created_at, d.updated_at,
             d.deactivated_at)::@extschema@.compute_devices_live"
    };
    (table) => {
        "d"
    };
    // The columns up to the sub-region, the row left open.
    (@located) => {
        "ROW(d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
             d.compute_score, d.is_active, d.last_seen, d.created_at, d.updated_at,
             d.deactivated_at,
             COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                  'vendor', a.vendor, 'product_name', a.product_name,
                                  'model', a.model, 'memory_mib', a.memory_mib, 'count', a.count)
                              ORDER BY a.vendor COLLATE pg_catalog.\"C\", a.model COLLATE pg_catalog.\"C\",
                                 a.memory_mib)
                         FROM @extschema@.device_accelerators AS a
                        WHERE a.device_id OPERATOR(pg_catalog.=) d.id),
                      '[]'::pg_catalog.jsonb),
             d.country_code,
             (SELECT c.region FROM @extschema@.countries AS c
               WHERE c.country_code OPERATOR(pg_catalog.=) d.country_code),
             (SELECT c.subregion FROM @extschema@.countries AS c
               WHERE c.country_code OPERATOR(pg_catalog.=) d.country_code)"
    };
    (@registered) => {
        "ROW(d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
             d.compute_score, d.is_active, d.last_seen, d.created_at, d.updated_at,
             d.deactivated_at, $8::pg_catalog.jsonb, d.country_code, $9, $10"
    };
    // The health columns, as the view computes them (one computation: device_health keeps its
    // answer for the statement).
    (@health) => {
        "(@extschema@.device_health(d.id, d.user_id, d.created_at)).uptime_1d,
         (@extschema@.device_health(d.id, d.user_id, d.created_at)).uptime_7d,
         (@extschema@.device_health(d.id, d.user_id, d.created_at)).flaps_24h,
         (@extschema@.device_health(d.id, d.user_id, d.created_at)).health_score"
    };
}

pub(crate) use live_device;

/// A statement that writes the table as `d`, returning the written row in each of the forms of
/// `live_device!` (pick one with `device_form`).
macro_rules! returning_device {
    ($write:literal) => {
        [
            concat!($write, " RETURNING ", live_device!(current)),
            concat!($write, " RETURNING ", live_device!(without_health)),
            concat!($write, " RETURNING ", live_device!(without_location)),
            concat!($write, " RETURNING ", live_device!(table)),
        ]
    };
}

/// Of a statement's four forms (`returning_device!`, register's writes), the one returning the
/// row this database's functions are declared to return. Until `ALTER EXTENSION compute_devices
/// UPDATE` has run after this library was installed, they return the row of the version the
/// database is at: the view without health (0.6.0), without accelerators and location either
/// (0.4.0, 0.5.0), or the table's row (0.3.0), whose view does not exist.
pub fn device_form(forms: &[&'static str; 4]) -> &'static str {
    let extension = catalog::extension();
    if extension.has_intervals() {
        forms[0]
    } else if extension.has_accelerators() {
        forms[1]
    } else if extension.has_type(c"compute_devices_live") {
        forms[2]
    } else {
        forms[3]
    }
}

/// Stops the caller's device: inactive until it registers again, whatever heartbeats arrive.
#[pg_extern(volatile, security_definer, requires = ["live_view"])]
#[search_path(pg_catalog, pg_temp)]
fn deactivate_device(
    device_id: Option<pgrx::Uuid>,
) -> pgrx::composite_type!('static, "compute_devices_live") {
    require_writable("deactivate a device");
    let owner = auth::caller_id().or_raise();
    let device_id = required("device_id", device_id).or_raise();
    let deactivate = catalog::statement(device_form(&returning_device!(
        "UPDATE @extschema@.compute_devices AS d
            SET is_active = false,
                deactivated_at = COALESCE(d.deactivated_at, pg_catalog.now()),
                updated_at = pg_catalog.now()
          WHERE d.id OPERATOR(pg_catalog.=) $1 AND d.user_id OPERATOR(pg_catalog.=) $2"
    )));
    Spi::connect_mut(|client| {
        let stopped = client
            .update(&*deactivate, None, &[device_id.into(), owner.into()])
            .and_then(only_row::<LiveDeviceRow>)?;
        // Its spell online ends (on the shared-memory path the worker sees the stop).
        if stopped.is_some() && slots::shared().is_none() {
            intervals::settle(client, &[device_id])?;
        }
        Ok(stopped)
    })
    .unwrap_or_else(internal_error)
    .ok_or(DeviceError::DeviceNotFound)
    .or_raise()
}

/// The caller's devices, newest first: rows of the `compute_devices_live` view, whose
/// is_active and last_seen are live (see current_liveness below), without the internal slot.
#[pg_extern(stable, requires = ["live_view"])]
#[search_path(pg_catalog, pg_temp)]
fn get_user_devices(
) -> SetOfIterator<'static, pgrx::composite_type!('static, "compute_devices_live")> {
    let owner = auth::caller_id().or_raise();
    let devices = catalog::statement(
        "SELECT v FROM @extschema@.compute_devices_live AS v
          WHERE v.user_id OPERATOR(pg_catalog.=) $1
          ORDER BY v.created_at DESC, v.id",
    );
    let rows = Spi::connect(|client| {
        client
            .select(&*devices, None, &[owner.into()])?
            .map(|row| {
                Ok(row
                    .get::<LiveDeviceRow>(1)?
                    .expect("a whole-row value is never null"))
            })
            .collect::<spi::Result<Vec<_>>>()
    })
    .unwrap_or_else(internal_error);
    rows::set_of(rows)
}

/// A device's is_active and last_seen as they are now, for the `compute_devices_live` view:
/// the table's values with the liveness test applied and, on the shared-memory path, its
/// slot's latest heartbeat laid over them (a live heartbeat makes a device not stopped active;
/// last_seen is the later of the two, a beat presumed after a restart never being a
/// last_seen). The table's own columns lag behind: is_active until the worker's next sweep,
/// last_seen until its next flush.
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
    if let Some((beat, heard)) = beat {
        live |= deactivated_at.is_none() && beat > live_after;
        if heard && beat > stored {
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
/// read its row; and whether it was heard (false: the beat the rebuild after a start presumed,
/// which makes the device live but is no time it was seen).
fn latest_beat(device_id: Uuid, owner: Uuid) -> Option<(i64, bool)> {
    let shared = slots::shared()?;
    let slot = device_index::slot_of(device_id.as_bytes(), owner.as_bytes())?;
    caller_may_read(owner)
        .then(|| shared.read(slot))
        .flatten()
        .map(|view| (view.last_beat, shared.was_heard(view.last_beat)))
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
