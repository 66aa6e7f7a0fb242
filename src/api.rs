//! The device API PostgREST exposes as `/rpc/<name>`. Argument names are the JSON keys of the
//! seed's request bodies. The caller is always the JWT's `sub` (see auth), never an argument.
//!
//! The writers are SECURITY DEFINER because callers get no write privilege on the table; each
//! one checks ownership in its own WHERE clause. get_user_devices runs as the caller, under
//! row-level security.

use crate::auth;
use crate::errors::{internal_error, DeviceError, OrRaise};
use crate::liveness::{self, is_live};
use crate::plans;
use crate::settings;
use crate::shmem;
use crate::validate::{required, DeviceSpec};
use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;

// The SQL types these stand for are named in the signatures below, where pgrx reads them.
type DeviceRow = pgrx::composite_type!('static, "compute_devices");

/// Creates the caller's device of this name, or updates it, and marks it active.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn register_device(
    device_name: Option<&str>,
    device_type: Option<&str>,
    ram_gb: Option<AnyNumeric>,
    cpu_cores: Option<i32>,
    storage_gb: Option<AnyNumeric>,
) -> pgrx::composite_type!('static, "compute_devices") {
    let owner = auth::caller_id().or_raise();
    let spec = DeviceSpec::new(device_name, device_type, ram_gb, cpu_cores, storage_gb).or_raise();
    let max = settings::MAX_DEVICES_PER_USER.get();
    // $1..$6 describe the device; $7, the limit, is for the insert only.
    let device = [
        owner.into(),
        spec.device_name.as_str().into(),
        spec.device_type.as_str().into(),
        spec.ram_gb.into(),
        spec.cpu_cores.into(),
        spec.storage_gb.into(),
        max.into(),
    ];
    Spi::connect_mut(|client| {
        // One registration per owner at a time, so two racing new names cannot both pass the
        // device limit, and the insert-or-update below needs no ON CONFLICT (which would take
        // a slot number from the sequence on every re-registration). The statements after the
        // lock take their snapshots after it too.
        lock_owner(owner);
        if let Some(row) =
            plans::execute(client, INSERT_NEW_DEVICE, &device).and_then(only_row::<DeviceRow>)?
        {
            return Ok(Ok(row));
        }
        // Not inserted: the name is taken (re-registration), or the owner is at the limit.
        let updated = plans::execute(client, UPDATE_DEVICE, &device[..6]).and_then(only_row)?;
        Ok(updated.ok_or(DeviceError::TooManyDevices { max }))
    })
    .unwrap_or_else(internal_error)
    .or_raise()
}

/// pg_advisory_xact_lock(compute_devices' oid, a hash of the owner), called directly rather
/// than as a statement: a registration is a few short statements, and each one counts.
fn lock_owner(owner: pgrx::Uuid) {
    let bytes = owner.as_bytes();
    let owner_key = bytes
        .chunks(4)
        .map(|chunk| i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .fold(0, |key, part| key ^ part);
    // SAFETY: a catalog lookup along the pinned search_path, then the SQL-callable lock
    // function with two int4 arguments, as SQL would call it.
    unsafe {
        let table = pg_sys::RelnameGetRelid(c"compute_devices".as_ptr());
        pgrx::direct_function_call_as_datum(
            pg_sys::pg_advisory_xact_lock_int4,
            &[(table.to_u32() as i32).into_datum(), owner_key.into_datum()],
        );
    }
}

/// Re-registration: the owner's device of this name, with new specs, active and not stopped.
const UPDATE_DEVICE: &str = "
    UPDATE compute_devices AS d
       SET device_type = $3, ram_gb = $4, cpu_cores = $5, storage_gb = $6,
           is_active = true, last_seen = pg_catalog.now(), deactivated_at = NULL
     WHERE d.user_id = $1 AND d.device_name = $2
 RETURNING d";

/// A new device, unless the owner has one of this name or is at the limit ($7).
const INSERT_NEW_DEVICE: &str = "
    INSERT INTO compute_devices AS d
           (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, is_active, last_seen)
    SELECT $1, $2, $3, $4, $5, $6, true, pg_catalog.now()
      FROM compute_devices
     WHERE user_id = $1
    HAVING pg_catalog.count(*) FILTER (WHERE device_name = $2) = 0 AND pg_catalog.count(*) < $7
 RETURNING d";

/// Stops the caller's device: inactive until it registers again, whatever heartbeats arrive.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn deactivate_device(
    device_id: Option<pgrx::Uuid>,
) -> pgrx::composite_type!('static, "compute_devices") {
    let owner = auth::caller_id().or_raise();
    let device_id = required("device_id", device_id).or_raise();
    Spi::connect_mut(|client| {
        client
            .update(
                "UPDATE compute_devices AS d
                    SET is_active = false,
                        deactivated_at = COALESCE(d.deactivated_at, pg_catalog.now()),
                        updated_at = pg_catalog.now()
                  WHERE d.id = $1 AND d.user_id = $2
              RETURNING d",
                None,
                &[device_id.into(), owner.into()],
            )
            .and_then(only_row::<DeviceRow>)
    })
    .unwrap_or_else(internal_error)
    .ok_or(DeviceError::DeviceNotFound)
    .or_raise()
}

/// The caller's devices, newest first, with is_active as the liveness test sees it now. On the
/// shared-memory path a device's last heartbeat may be newer than the table's last_seen.
#[pg_extern(stable)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn get_user_devices() -> SetOfIterator<'static, pgrx::composite_type!('static, "compute_devices")> {
    let owner = auth::caller_id().or_raise();
    let shared = shmem::shared();
    let live_after = liveness::live_after(liveness::transaction_start());
    // (row, live by the table, not stopped, slot). The rows are changed only after SPI is
    // done: anything allocated inside the closure lives in SPI's memory, freed when it returns.
    let found = Spi::connect(|client| {
        let table = client.select(
            concat!(
                "SELECT d, ",
                is_live!(),
                ", d.deactivated_at IS NULL, d.slot
                   FROM compute_devices AS d WHERE d.user_id = $2 ORDER BY d.created_at DESC, d.id"
            ),
            None,
            &[settings::active_window_seconds().into(), owner.into()],
        )?;
        table
            .into_iter()
            .map(|row| {
                Ok((
                    row.get::<DeviceRow>(1)?
                        .expect("a whole-row value is never null"),
                    row.get::<bool>(2)?.unwrap_or(false),
                    row.get::<bool>(3)?.unwrap_or(false),
                    row.get::<i32>(4)?,
                ))
            })
            .collect::<spi::Result<Vec<_>>>()
    })
    .unwrap_or_else(internal_error);
    let rows = found
        .into_iter()
        .map(|(mut device, mut live, not_stopped, slot)| {
            let beat = shared
                .zip(slot)
                .and_then(|(shared, slot)| shared.read(u32::try_from(slot).ok()?));
            if let Some(beat) = beat.map(|view| view.last_beat) {
                live |= not_stopped && beat > live_after;
                let stored = device
                    .get_by_name::<TimestampWithTimeZone>("last_seen")?
                    .map_or(i64::MIN, TimestampWithTimeZone::into_inner);
                if beat > stored {
                    let beat = TimestampWithTimeZone::try_from(beat).ok();
                    device.set_by_name("last_seen", beat)?;
                }
            }
            device.set_by_name("is_active", live)?;
            Ok(device)
        })
        .collect::<Result<Vec<DeviceRow>, Box<dyn std::error::Error>>>()
        .unwrap_or_else(|e| panic!("compute_devices internal error: {e}"));
    SetOfIterator::new(rows)
}

/// The single value of a statement that returns at most one row, or None when it returned none.
fn only_row<T: FromDatum + IntoDatum>(table: SpiTupleTable<'_>) -> spi::Result<Option<T>> {
    if table.is_empty() {
        Ok(None)
    } else {
        table.first().get_one::<T>()
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// HOT updates of compute_devices so far in this transaction, whatever made them.
    fn hot_updates() -> i64 {
        Spi::get_one::<i64>(
            "SELECT pg_stat_get_xact_tuples_hot_updated('compute_devices'::regclass)",
        )
        .unwrap()
        .unwrap()
    }

    /// Whether one heartbeat is a HOT update. now() is fixed within a transaction, so first
    /// move last_seen back, as the time between two real heartbeats does.
    fn heartbeat_is_hot(device: pgrx::Uuid) -> bool {
        Spi::run_with_args(
            "UPDATE compute_devices SET last_seen = last_seen - interval '90 seconds' WHERE id = $1",
            &[device.into()],
        )
        .unwrap();
        let before = hot_updates();
        Spi::run_with_args("SELECT send_heartbeat($1)", &[device.into()]).unwrap();
        hot_updates() - before == 1
    }

    /// Why no index contains last_seen or is_active: measured, the seed's
    /// `(is_active, last_seen)` index turns every heartbeat into a non-HOT update.
    #[pg_test]
    fn test_heartbeats_are_hot_updates_unless_an_index_covers_last_seen() {
        Spi::run(
            r#"SELECT set_config('request.jwt.claims', '{"sub":"44444444-4444-4444-8444-444444444444"}', true)"#,
        )
        .unwrap();
        let device = Spi::get_one::<pgrx::Uuid>(
            "SELECT id FROM register_device('hot', 'server', 64, 32, 1000)",
        )
        .unwrap()
        .unwrap();
        assert!(
            (0..5).all(|_| heartbeat_is_hot(device)),
            "every heartbeat is HOT"
        );

        Spi::run("CREATE INDEX seed_active_index ON compute_devices (is_active, last_seen)")
            .unwrap();
        assert!(
            (0..5).all(|_| !heartbeat_is_hot(device)),
            "with the seed's index, none is"
        );
    }
}
