//! register_device: creates the caller's device of a name, or updates it. Argument names are the
//! JSON keys of the seed's request body. SECURITY DEFINER because callers get no write privilege
//! on the table; it writes only rows of the caller, found under the owner's lock.

use crate::api::auth;
use crate::api::device_ids;
use crate::api::devices::{device_returning, returning_device};
use crate::api::owner_devices;
use crate::api::validate::DeviceSpec;
use crate::errors::{internal_error, require_writable, DeviceError, OrRaise};
use crate::settings;
use crate::spi::plans;
use crate::spi::rows::only_row;
use pgrx::prelude::*;

/// Creates the caller's device of this name, or updates it, and marks it active.
#[pg_extern(volatile, security_definer, requires = ["live_view"])]
#[search_path(pg_catalog, pg_temp)]
fn register_device(
    device_name: Option<&str>,
    device_type: Option<&str>,
    ram_gb: Option<AnyNumeric>,
    cpu_cores: Option<i32>,
    storage_gb: Option<AnyNumeric>,
) -> pgrx::composite_type!('static, "compute_devices_live") {
    require_writable("register a device");
    let owner = auth::caller_id().or_raise();
    let spec = DeviceSpec::new(device_name, device_type, ram_gb, cpu_cores, storage_gb).or_raise();
    let max = settings::MAX_DEVICES_PER_USER.get();
    // $7, the id, is for a new device only.
    let device = [
        owner.into(),
        spec.device_name.as_str().into(),
        spec.device_type.sql_name().into(),
        spec.ram_gb.into(),
        spec.cpu_cores.into(),
        spec.storage_gb.into(),
        device_ids::new_device_id().into(),
    ];
    let table = owner_devices::device_table();
    owner_devices::lock(table, owner);
    let existing = owner_devices::find(table, owner, &spec.device_name);
    if !existing.has_name && existing.count >= i64::from(max) {
        DeviceError::TooManyDevices { max }.raise()
    }
    // Update or insert without ON CONFLICT, which would take a slot number from the sequence on
    // every re-registration. A row removed by hand since it was found is inserted again. An
    // insert of a name taken meanwhile (possible only under REPEATABLE READ, whose snapshot is
    // older than the lock) fails on the unique key.
    Spi::connect_mut(|client| {
        if existing.has_name {
            let updated = plans::execute(client, device_returning(&UPDATE_DEVICE), &device[..6])
                .and_then(only_row)?;
            if let Some(row) = updated {
                return Ok(Some(row));
            }
        }
        plans::execute(client, device_returning(&INSERT_DEVICE), &device).and_then(only_row)
    })
    .unwrap_or_else(internal_error)
    .expect("an insert returns its row")
}

/// Re-registration: the owner's device of this name, with new specs, active and not stopped.
const UPDATE_DEVICE: [&str; 2] = returning_device!(
    "UPDATE @extschema@.compute_devices AS d
        SET device_type = $3, ram_gb = $4, cpu_cores = $5, storage_gb = $6,
            is_active = true, last_seen = pg_catalog.now(), deactivated_at = NULL
      WHERE d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2"
);

/// A new device.
const INSERT_DEVICE: [&str; 2] = returning_device!(
    "INSERT INTO @extschema@.compute_devices AS d
            (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, id, is_active, last_seen)
     VALUES ($1, $2, $3, $4, $5, $6, $7, true, pg_catalog.now())"
);

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
