//! The device API PostgREST exposes as `/rpc/<name>`. Argument names are the JSON keys of the
//! seed's request bodies. The caller is always the JWT's `sub` (see auth), never an argument.
//!
//! The writers are SECURITY DEFINER because callers get no write privilege on the table; each
//! one checks ownership in its own WHERE clause. get_user_devices runs as the caller, under
//! row-level security.

use crate::auth;
use crate::errors::{internal_error, DeviceError, OrRaise};
use crate::liveness::is_live;
use crate::settings;
use crate::validate::{required, DeviceSpec};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiTupleTable};

// The SQL types these stand for are named in the signatures below, where pgrx reads them.
type DeviceRow = pgrx::composite_type!('static, "compute_devices");
type HeartbeatRow = pgrx::composite_type!('static, "heartbeat");

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
    Spi::connect_mut(|client| {
        // One registration per owner at a time, so two racing new names cannot both pass the
        // device limit. Racing registrations of the same name meet in ON CONFLICT anyway.
        client.update(
            "SELECT pg_catalog.pg_advisory_xact_lock(
                        'compute_devices'::pg_catalog.regclass::pg_catalog.oid::integer,
                        pg_catalog.hashtext($1::text))",
            None,
            &[owner.into()],
        )?;
        let max = settings::MAX_DEVICES_PER_USER.get();
        if count_other_devices(client, owner, &spec.device_name)? >= i64::from(max) {
            return Ok(Err(DeviceError::TooManyDevices { max }));
        }
        let device = client
            .update(
                "INSERT INTO compute_devices AS d
                     (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, is_active, last_seen)
                 VALUES ($1, $2, $3, $4, $5, $6, true, pg_catalog.now())
                 ON CONFLICT (user_id, device_name) DO UPDATE
                    SET device_type = EXCLUDED.device_type,
                        ram_gb = EXCLUDED.ram_gb,
                        cpu_cores = EXCLUDED.cpu_cores,
                        storage_gb = EXCLUDED.storage_gb,
                        is_active = true,
                        last_seen = EXCLUDED.last_seen,
                        deactivated_at = NULL
                 RETURNING d",
                None,
                &[
                    owner.into(),
                    spec.device_name.as_str().into(),
                    spec.device_type.as_str().into(),
                    spec.ram_gb.into(),
                    spec.cpu_cores.into(),
                    spec.storage_gb.into(),
                ],
            )
            .and_then(only_row::<DeviceRow>)?;
        Ok(Ok(device.expect("an upsert returns its row")))
    })
    .unwrap_or_else(internal_error)
    .or_raise()
}

/// How many devices the owner has under other names: a new name must stay within the limit,
/// while re-registering an existing name never adds a row.
fn count_other_devices(
    client: &mut SpiClient<'_>,
    owner: pgrx::Uuid,
    device_name: &str,
) -> spi::Result<i64> {
    client
        .update(
            "SELECT pg_catalog.count(*) FROM compute_devices WHERE user_id = $1 AND device_name <> $2",
            None,
            &[owner.into(), device_name.into()],
        )
        .and_then(only_row::<i64>)
        .map(|count| count.unwrap_or(0))
}

/// Records that the caller's device is alive. A stale device comes back; a stopped one does not.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn send_heartbeat(device_id: Option<pgrx::Uuid>) -> pgrx::composite_type!('static, "heartbeat") {
    let owner = auth::caller_id().or_raise();
    let device_id = required("device_id", device_id).or_raise();
    let beat = Spi::connect_mut(|client| {
        client
            .update(
                "UPDATE compute_devices AS d SET last_seen = pg_catalog.now(), is_active = true
                  WHERE d.id = $1 AND d.user_id = $2 AND d.deactivated_at IS NULL
              RETURNING ROW(d.id, d.is_active, d.last_seen, $3)::heartbeat",
                None,
                &[
                    device_id.into(),
                    owner.into(),
                    settings::heartbeat_interval_seconds().into(),
                ],
            )
            .and_then(only_row::<HeartbeatRow>)
    })
    .unwrap_or_else(internal_error);
    beat.ok_or_else(|| why_not_writable(device_id, owner))
        .or_raise()
}

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

/// The caller's devices, newest first, with is_active as the liveness test sees it now.
#[pg_extern(stable)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn get_user_devices() -> SetOfIterator<'static, pgrx::composite_type!('static, "compute_devices")> {
    let owner = auth::caller_id().or_raise();
    let rows = Spi::connect(|client| {
        let table = client.select(
            concat!(
                "SELECT d, ",
                is_live!(),
                " FROM compute_devices AS d WHERE d.user_id = $2 ORDER BY d.created_at DESC, d.id"
            ),
            None,
            &[settings::active_window_seconds().into(), owner.into()],
        )?;
        table
            .into_iter()
            .map(|row| {
                let mut device = row
                    .get::<DeviceRow>(1)?
                    .expect("a whole-row value is never null");
                device
                    .set_by_name("is_active", row.get::<bool>(2)?)
                    .expect("compute_devices has an is_active column");
                Ok(device)
            })
            .collect::<spi::Result<Vec<DeviceRow>>>()
    })
    .unwrap_or_else(internal_error);
    SetOfIterator::new(rows)
}

/// Why a write matched no row: someone else's or unknown (the same answer), or stopped.
fn why_not_writable(device_id: pgrx::Uuid, owner: pgrx::Uuid) -> DeviceError {
    let stopped = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM compute_devices
                         WHERE id = $1 AND user_id = $2 AND deactivated_at IS NOT NULL)",
        &[device_id.into(), owner.into()],
    );
    match stopped.unwrap_or_else(internal_error) {
        Some(true) => DeviceError::DeviceStopped,
        _ => DeviceError::DeviceNotFound,
    }
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
