//! register_device: creates the caller's device of a name, or updates it, with its accelerators
//! and country. Argument names are the JSON keys of the seed's request body (which may leave
//! out the last two). SECURITY DEFINER because callers get no write privilege
//! on the table; it writes only rows of the caller, found under the owner's lock.

use crate::accelerators::inventory::{self, Group};
use crate::api::auth;
use crate::api::device_ids;
use crate::api::devices::{device_form, live_device};
use crate::api::jsonb_text::JsonbText;
use crate::api::owner_devices;
use crate::api::validate::DeviceSpec;
use crate::countries;
use crate::errors::{internal_error, require_writable, DeviceError, OrRaise};
use crate::intervals;
use crate::settings;
use crate::shared_memory::slots;
use crate::spi::catalog;
use crate::spi::plans;
use crate::spi::rows::only_row;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type LiveDeviceRow = pgrx::composite_type!('static, "compute_devices_live");

/// Creates the caller's device of this name, or updates it, and marks it active. A registration
/// states the device's whole inventory and place: leaving `accelerators` or `country_code` out
/// means none.
#[pg_extern(
    name = "register_device",
    volatile,
    security_definer,
    requires = ["live_view"]
)]
#[search_path(pg_catalog, pg_temp)]
fn register_located_device(
    device_name: Option<&str>,
    device_type: Option<&str>,
    ram_gb: Option<AnyNumeric>,
    cpu_cores: Option<i32>,
    storage_gb: Option<AnyNumeric>,
    accelerators: default!(Option<JsonbText>, "NULL"),
    country_code: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "compute_devices_live") {
    require_writable("register a device");
    let owner = auth::caller_id().or_raise();
    let spec = DeviceSpec::new(device_name, device_type, ram_gb, cpu_cores, storage_gb).or_raise();
    let groups = inventory::parse(accelerators.as_ref()).or_raise();
    let country = country_code.map(countries::code_of).transpose().or_raise();
    register(owner, spec, Some((groups, country)))
}

/// The five-argument register_device of a database that has this library but is not yet
/// updated to 0.6.0 (its declaration names this symbol): the same registration, where the
/// table has no accelerators and no country yet.
#[pg_extern(sql = false)]
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
    register(owner, spec, None)
}

/// Writes a checked registration: the device row, then (from 0.6.0 on, `located`) its
/// accelerators, and returns the device as the caller receives it.
fn register(
    owner: pgrx::Uuid,
    spec: DeviceSpec,
    located: Option<(Vec<Group>, Option<String>)>,
) -> LiveDeviceRow {
    let max = settings::MAX_DEVICES_PER_USER.get();
    let table = owner_devices::device_table();
    owner_devices::lock(table, owner);
    let existing = owner_devices::find(table, owner, &spec.device_name);
    if !existing.has_name && existing.count >= i64::from(max) {
        DeviceError::TooManyDevices { max }.raise()
    }
    let located = located.filter(|_| catalog::extension().has_accelerators());
    let groups = located
        .as_ref()
        .map_or(&[][..], |(groups, _)| groups.as_slice());
    // $1-$6 the device; from 0.6.0 on, $7 its country, and $8-$10 what the returned row shows of
    // its accelerators and place (known here, so the row needs no subquery); then, for an insert,
    // the new id ($11, or $7 before 0.6.0).
    let arguments = |new_id: Option<pgrx::Uuid>| {
        let mut arguments: Vec<DatumWithOid> = vec![
            owner.into(),
            spec.device_name.as_str().into(),
            spec.device_type.sql_name().into(),
            spec.ram_gb.clone().into(),
            spec.cpu_cores.into(),
            spec.storage_gb.clone().into(),
        ];
        if let Some((groups, country)) = &located {
            let place = country
                .as_deref()
                .and_then(|code| countries::all().place(code).cloned())
                .unwrap_or_default();
            arguments.extend([
                country.clone().into(),
                inventory::as_json(groups).into(),
                place.region.into(),
                place.subregion.into(),
            ]);
        }
        arguments.extend(new_id.map(DatumWithOid::from));
        arguments
    };
    let form = usize::from(located.is_none());
    // Update or insert without ON CONFLICT, which would take a slot number from the sequence on
    // every re-registration. A row removed by hand since it was found is inserted again. An
    // insert of a name taken meanwhile (possible only under REPEATABLE READ, whose snapshot is
    // older than the lock) fails on the unique key.
    let write = |client: &mut SpiClient<'_>| -> pgrx::spi::Result<Option<LiveDeviceRow>> {
        if existing.has_name {
            if located.is_some() {
                let device = [owner.into(), spec.device_name.as_str().into()];
                plans::execute(client, DELETE_ACCELERATORS, &device)?;
                insert_accelerators(client, owner, &spec.device_name, groups)?;
            }
            let update = device_form(&UPDATE_DEVICE[form]);
            let updated = plans::execute(client, update, &arguments(None)).and_then(only_row)?;
            if updated.is_some() {
                return Ok(updated);
            }
        }
        let new_id = Some(device_ids::new_device_id());
        let insert = device_form(&INSERT_DEVICE[form]);
        let inserted = plans::execute(client, insert, &arguments(new_id)).and_then(only_row)?;
        insert_accelerators(client, owner, &spec.device_name, groups)?;
        Ok(inserted)
    };
    // On the table path the registration records the device's spell online (intervals.rs): one
    // that ended (stale, stopped) closes where it did, and the device is live from now. On the
    // shared-memory path the worker sees it in the slot.
    let table_path = slots::shared().is_none() && intervals::recorded();
    Spi::connect_mut(|client| {
        if existing.has_name && table_path {
            let named = [owner.into(), spec.device_name.as_str().into()];
            let found = plans::query(client, DEVICE_NAMED, &named).and_then(only_row)?;
            intervals::settle(client, &Vec::from_iter(found))?;
        }
        let written = write(client)?;
        if table_path {
            let id = written
                .as_ref()
                .and_then(|row| row.get_by_name::<pgrx::Uuid>("id").ok());
            intervals::open_now(client, &Vec::from_iter(id.flatten()))?;
        }
        Ok(written)
    })
    .unwrap_or_else(internal_error)
    .expect("the device just written is found")
}

/// The owner's ($1) device named $2.
const DEVICE_NAMED: &str = "SELECT d.id FROM @extschema@.compute_devices AS d
      WHERE d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2";

/// The owner's device of this name gets these accelerators (it has none now).
fn insert_accelerators(
    client: &mut SpiClient<'_>,
    owner: pgrx::Uuid,
    device_name: &str,
    groups: &[Group],
) -> pgrx::spi::Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Group) -> String| groups.iter().map(f).collect::<Vec<_>>();
    let numbers = |f: fn(&Group) -> i32| groups.iter().map(f).collect::<Vec<_>>();
    plans::execute(
        client,
        INSERT_ACCELERATORS,
        &[
            owner.into(),
            device_name.into(),
            column(|g| g.vendor.sql_name().to_string()).into(),
            column(|g| g.product_name.clone()).into(),
            column(|g| g.model.clone()).into(),
            numbers(|g| g.memory_mib).into(),
            numbers(|g| g.count).into(),
        ],
    )?;
    Ok(())
}

/// Re-registration: the owner's device of this name, with new specs (and place), active and not
/// stopped; with the country (0.6.0 on) and without, each returning the row in every form of
/// `live_device!` (`device_form` picks one; the first is `registered`).
const UPDATE_DEVICE: [[&str; 4]; 2] = [
    writes_device!(
        registered,
        "UPDATE @extschema@.compute_devices AS d
            SET device_type = $3, ram_gb = $4, cpu_cores = $5, storage_gb = $6, country_code = $7,
                is_active = true, last_seen = pg_catalog.now(), deactivated_at = NULL
          WHERE d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2"
    ),
    writes_device!(
        registered,
        "UPDATE @extschema@.compute_devices AS d
            SET device_type = $3, ram_gb = $4, cpu_cores = $5, storage_gb = $6,
                is_active = true, last_seen = pg_catalog.now(), deactivated_at = NULL
          WHERE d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2"
    ),
];

/// A new device, with the country (0.6.0 on; the id is $11) and without (the id is $7).
const INSERT_DEVICE: [[&str; 4]; 2] = [
    writes_device!(
        inserted,
        "INSERT INTO @extschema@.compute_devices AS d
                (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, country_code, id,
                 is_active, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $11, true, pg_catalog.now())"
    ),
    writes_device!(
        inserted,
        "INSERT INTO @extschema@.compute_devices AS d
                (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, id, is_active,
                 last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7, true, pg_catalog.now())"
    ),
];

/// A write of register_device's, returning the row in each form of `live_device!`: the current
/// one (`registered` or `inserted`) from the arguments $8-$10 (register_device knows the
/// accelerators and the place).
macro_rules! writes_device {
    ($current:ident, $write:literal) => {
        [
            concat!($write, " RETURNING ", live_device!($current)),
            concat!(
                $write,
                " RETURNING ",
                live_device!(registered_without_health)
            ),
            concat!($write, " RETURNING ", live_device!(without_location)),
            concat!($write, " RETURNING ", live_device!(table)),
        ]
    };
}
use writes_device;

/// The accelerators of the owner's ($1) device named $2.
const DELETE_ACCELERATORS: &str = "DELETE FROM @extschema@.device_accelerators AS a
      USING @extschema@.compute_devices AS d
      WHERE a.device_id OPERATOR(pg_catalog.=) d.id
        AND d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2";

const INSERT_ACCELERATORS: &str = "INSERT INTO @extschema@.device_accelerators
            (device_id, vendor, product_name, model, memory_mib, count)
     SELECT d.id, g.vendor, g.product_name, g.model, g.memory_mib, g.count
       FROM @extschema@.compute_devices AS d
      CROSS JOIN ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),
                            pg_catalog.unnest($4::pg_catalog.text[]),
                            pg_catalog.unnest($5::pg_catalog.text[]),
                            pg_catalog.unnest($6::pg_catalog.int4[]),
                            pg_catalog.unnest($7::pg_catalog.int4[]))
            AS g(vendor, product_name, model, memory_mib, count)
      WHERE d.user_id OPERATOR(pg_catalog.=) $1 AND d.device_name OPERATOR(pg_catalog.=) $2";

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
