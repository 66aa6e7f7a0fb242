//! Heartbeats: one for the caller's device (send_heartbeat), or a batch for a trusted caller
//! such as the gateway's service role (send_heartbeats), with ownership checked per entry.
//!
//! Both read the device's row first: it must belong to the named owner and not be stopped.
//! On the shared-memory path the heartbeat is then a store into the device's slot, so the
//! transaction stays read-only and writes no WAL. On the table path it updates last_seen and
//! is_active, which are in no index, so the update is HOT.

use crate::api::auth;
use crate::api::validate::required;
use crate::errors::{internal_error, internal_failure, require_writable, DeviceError, OrRaise};
use crate::intervals;
use crate::settings;
use crate::shared_memory::device_index;
use crate::shared_memory::slots;
use crate::spi::catalog;
use crate::spi::plans;
use crate::spi::rows;
use crate::table::liveness;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type HeartbeatRow = pgrx::composite_type!('static, "heartbeat");
type HeartbeatResult = pgrx::composite_type!('static, "heartbeat_result");

/// Each entry with its device's slot and whether it is stopped; no row when the device is not
/// the owner's. Its result is built as accepted; errors overwrite it.
const LOOKUP: &str = "
    SELECT b.n::pg_catalog.int4, d.slot, d.deactivated_at IS NOT NULL,
           ROW(b.user_id, b.device_id, true, pg_catalog.now(), $3,
               NULL::pg_catalog.text, NULL::pg_catalog.text, NULL::pg_catalog.text)::@extschema@.heartbeat_result
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]), pg_catalog.unnest($2::pg_catalog.uuid[]))
           WITH ORDINALITY AS b(user_id, device_id, n)
      JOIN @extschema@.compute_devices AS d
        ON d.id OPERATOR(pg_catalog.=) b.device_id AND d.user_id OPERATOR(pg_catalog.=) b.user_id";

/// send_heartbeat's lookup: the device's slot, whether it is stopped, and the answer.
/// Scalar parameters let PostgreSQL keep one generic plan; with arrays it plans every call
/// anew, which costs more than the heartbeat itself.
const LOOKUP_ONE: &str = "
    SELECT d.slot, d.deactivated_at IS NOT NULL,
           ROW(d.id, true, pg_catalog.now(), $3)::@extschema@.heartbeat
      FROM @extschema@.compute_devices AS d
     WHERE d.id OPERATOR(pg_catalog.=) $1 AND d.user_id OPERATOR(pg_catalog.=) $2";

/// The table path's beat. It returns the devices it revived (not live before it, by the row as
/// it was: `before`), with their previous heartbeat, for their spells online (intervals.rs).
const TABLE_PATH_BEAT: &str = "
    UPDATE @extschema@.compute_devices AS d SET last_seen = pg_catalog.now(), is_active = true
      FROM @extschema@.compute_devices AS before
     WHERE d.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.uuid[]) AND d.deactivated_at IS NULL
       AND before.id OPERATOR(pg_catalog.=) d.id
 RETURNING d.id, before.last_seen,
           NOT (before.is_active AND before.last_seen OPERATOR(pg_catalog.>)
                (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2)))";

/// Records that the caller's device is alive. A stale device comes back; a stopped one does not.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn send_heartbeat(device_id: Option<pgrx::Uuid>) -> pgrx::composite_type!('static, "heartbeat") {
    require_writable("send a heartbeat");
    let owner = auth::caller_id().or_raise();
    let device_id = required("device_id", device_id).or_raise();
    let shared = slots::shared();
    if let Some(heartbeat) = shared.and_then(|shared| beat_from_index(shared, device_id, owner)) {
        return heartbeat;
    }
    // Not in the index (or not live there): the table decides, and says why not.
    let found = Spi::connect_mut(|client| {
        let args = [
            device_id.into(),
            owner.into(),
            settings::heartbeat_interval_seconds().into(),
        ];
        let table = plans::query(client, LOOKUP_ONE, &args)?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        let (slot, stopped) = (row.get::<i32>(1)?, row.get::<bool>(2)?.unwrap_or(true));
        let heartbeat = row.get::<HeartbeatRow>(3)?;
        if !stopped {
            record(client, shared, &[(slot.unwrap_or(-1), Some(device_id))])?;
        }
        Ok(Some((stopped, heartbeat)))
    })
    .unwrap_or_else(internal_error);
    match found {
        None => DeviceError::DeviceNotFound.raise(),
        Some((true, _)) => DeviceError::DeviceStopped.raise(),
        Some((false, heartbeat)) => heartbeat.expect("a ROW() value is never null"),
    }
}

/// The shortcut: the owner's registered device found in the shared index, its beat stored,
/// and the answer built here; no SQL at all.
fn beat_from_index(
    shared: slots::Shared,
    device_id: pgrx::Uuid,
    owner: pgrx::Uuid,
) -> Option<HeartbeatRow> {
    let slot = device_index::slot_of(device_id.as_bytes(), owner.as_bytes())?;
    if shared.read(slot)?.state != slots::SlotState::Registered {
        return None;
    }
    let now = liveness::transaction_start();
    shared.beat(slot, now, liveness::live_after(now));
    heartbeat_row(device_id, now).ok()
}

fn heartbeat_row(
    device_id: pgrx::Uuid,
    now: i64,
) -> Result<HeartbeatRow, Box<dyn std::error::Error>> {
    let mut row = PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(c"heartbeat"))?;
    row.set_by_index(1.try_into()?, device_id)?;
    row.set_by_index(2.try_into()?, true)?;
    row.set_by_index(3.try_into()?, TimestampWithTimeZone::try_from(now)?)?;
    row.set_by_index(4.try_into()?, settings::heartbeat_interval_seconds())?;
    Ok(row)
}

/// Heartbeats for many devices at once, each naming its owner. One result per entry, in order:
/// the heartbeat, or the error code and message send_heartbeat would raise for that device.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn send_heartbeats(
    user_ids: Option<Vec<Option<pgrx::Uuid>>>,
    device_ids: Option<Vec<Option<pgrx::Uuid>>>,
) -> SetOfIterator<'static, pgrx::composite_type!('static, "heartbeat_result")> {
    require_writable("send heartbeats");
    let user_ids = required("user_ids", user_ids).or_raise();
    let device_ids = required("device_ids", device_ids).or_raise();
    let max = settings::MAX_BATCH_SIZE.get();
    if user_ids.len() != device_ids.len() {
        DeviceError::BatchLengthsDiffer {
            user_ids: user_ids.len(),
            device_ids: device_ids.len(),
        }
        .raise();
    }
    if device_ids.len() > max.unsigned_abs() as usize {
        DeviceError::BatchTooLarge {
            entries: device_ids.len(),
            max,
        }
        .raise();
    }
    let results = beat(user_ids, device_ids)
        .into_iter()
        .map(|(mut result, error)| {
            if let Some(error) = error {
                set(&mut result, "error_code", Some(error.sqlstate_text()));
                set(&mut result, "error_message", Some(error.message()));
                set(&mut result, "error_hint", error.hint().map(str::to_string));
            }
            result
        });
    rows::set_of(results.collect())
}

/// send_heartbeats' work: look every entry up, record the accepted ones, answer each entry.
fn beat(
    user_ids: Vec<Option<pgrx::Uuid>>,
    device_ids: Vec<Option<pgrx::Uuid>>,
) -> Vec<(HeartbeatResult, Option<DeviceError>)> {
    let shared = slots::shared();
    // Entry i's looked-up row and whether its device is stopped, or None if not found. Rows
    // are built and changed only after SPI is done: anything allocated inside the closure
    // lives in SPI's memory, which is freed when it returns.
    let found: Vec<Option<(HeartbeatResult, bool)>> = Spi::connect_mut(|client| {
        let table = plans::query(
            client,
            LOOKUP,
            &[
                user_ids.clone().into(),
                device_ids.clone().into(),
                settings::heartbeat_interval_seconds().into(),
            ],
        )?;
        let mut found: Vec<Option<(HeartbeatResult, bool)>> =
            (0..device_ids.len()).map(|_| None).collect();
        let mut accepted = Vec::new();
        for row in table {
            let (n, slot, stopped) = (
                row.get::<i32>(1)?.unwrap_or(0),
                row.get::<i32>(2)?.unwrap_or(-1),
                row.get::<bool>(3)?.unwrap_or(true),
            );
            let Some(result) = row.get::<HeartbeatResult>(4)? else {
                continue;
            };
            let index = (n - 1) as usize;
            if !stopped {
                accepted.push((slot, device_ids[index]));
            }
            found[index] = Some((result, stopped));
        }
        record(client, shared, &accepted)?;
        Ok(found)
    })
    .unwrap_or_else(internal_error);
    found
        .into_iter()
        .zip(user_ids.iter().zip(&device_ids))
        .map(|(found, (user_id, device_id))| match found {
            Some((result, false)) => (result, None),
            Some((result, true)) => (refused(result), Some(DeviceError::DeviceStopped)),
            None => not_found(*user_id, *device_id),
        })
        .collect()
}

/// Stores the accepted heartbeats: into their slots, or into the table.
fn record(
    client: &mut SpiClient<'_>,
    shared: Option<slots::Shared>,
    accepted: &[(i32, Option<pgrx::Uuid>)],
) -> spi::Result<()> {
    if accepted.is_empty() {
        return Ok(());
    }
    match shared {
        Some(shared) => {
            let now = liveness::transaction_start();
            let live_after = liveness::live_after(now);
            for (slot, _) in accepted {
                shared.beat(u32::try_from(*slot).unwrap_or(u32::MAX), now, live_after);
            }
        }
        None => {
            let ids: Vec<Option<pgrx::Uuid>> = accepted.iter().map(|(_, id)| *id).collect();
            let window = settings::active_window_seconds();
            let beaten = plans::execute(client, TABLE_PATH_BEAT, &[ids.into(), window.into()])?;
            let mut revived = Vec::new();
            for row in beaten {
                if let (Some(id), Some(true)) = (row.get::<pgrx::Uuid>(1)?, row.get::<bool>(3)?) {
                    revived.push((id, row.get::<TimestampWithTimeZone>(2)?));
                }
            }
            intervals::revived(client, &revived)?;
        }
    }
    Ok(())
}

/// The result for an entry whose device is unknown, someone else's, or named with a NULL.
fn not_found(
    user_id: Option<pgrx::Uuid>,
    device_id: Option<pgrx::Uuid>,
) -> (HeartbeatResult, Option<DeviceError>) {
    let mut result = PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(c"heartbeat_result"))
        .unwrap_or_else(|e| internal_failure("the heartbeat_result type", e));
    set(&mut result, "user_id", user_id);
    set(&mut result, "device_id", device_id);
    let error = match (user_id, device_id) {
        (None, _) => DeviceError::NullArgument { field: "user_id" },
        (_, None) => DeviceError::NullArgument { field: "device_id" },
        _ => DeviceError::DeviceNotFound,
    };
    (result, Some(error))
}

/// An accepted result turned into a refusal: no liveness, no next heartbeat.
fn refused(mut result: HeartbeatResult) -> HeartbeatResult {
    set(&mut result, "is_active", None::<bool>);
    set(&mut result, "last_seen", None::<TimestampWithTimeZone>);
    set(&mut result, "next_heartbeat_in_seconds", None::<i32>);
    result
}

fn set<T: IntoDatum>(row: &mut HeartbeatResult, field: &str, value: Option<T>) {
    row.set_by_name(field, value)
        .unwrap_or_else(|e| internal_failure(&format!("heartbeat_result.{field}"), e));
}
