//! Online intervals: each device's spells online, kept in `online_intervals` (sql/intervals.sql)
//! for health and reliability (src/health). A spell opens when the device becomes live
//! (registered, or revived by a heartbeat) and closes when it stops being live: stopped by its
//! owner (at the stop), gone stale (at its last heartbeat plus the active window, the liveness
//! rule's own end), or deleted.
//!
//! Who records them follows who knows: on the shared-memory path the worker, from the slots
//! (shared_memory/spells.rs), since heartbeats there write nothing; on the table path the writes
//! themselves (register_device, deactivate_device, a reviving heartbeat, sweep_stale_devices).
//! A deleted row's spell is closed by the delete's trigger on either path, in its transaction.
//! Nothing is recorded before the database is updated to 0.7.0 (`Extension::has_intervals`).

use crate::settings;
use crate::spi::catalog;
use crate::spi::plans;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// Why a spell the worker saw ended, as `online_intervals.end_reason` says it (a deleted
/// device's is closed by its delete, in SQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    Stale,
}

impl Ended {
    pub fn sql_name(self) -> &'static str {
        match self {
            Ended::Stopped => "stopped",
            Ended::Stale => "stale",
        }
    }
}

/// Whether this database records intervals (it is at 0.7.0 or later).
pub fn recorded() -> bool {
    catalog::find().is_some_and(|extension| extension.has_intervals())
}

/// The table path's close of the spells of these devices ($1) that their rows say are no longer
/// live: at the stop, or at the last heartbeat plus the window ($2, seconds), whichever came
/// first. Run before a write that may make them live again (a registration, a heartbeat) and
/// after one that stops them.
const SETTLE: &str = "
    UPDATE @extschema@.online_intervals AS i
       SET ended_at = GREATEST(i.started_at, LEAST(COALESCE(d.deactivated_at, 'infinity'::pg_catalog.timestamptz),
                                                   d.last_seen OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $2))),
           end_reason = CASE WHEN d.deactivated_at OPERATOR(pg_catalog.<)
                                  (d.last_seen OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $2))
                             THEN 'stopped' ELSE 'stale' END
      FROM @extschema@.compute_devices AS d
     WHERE d.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.uuid[])
       AND i.device_id OPERATOR(pg_catalog.=) d.id AND i.ended_at IS NULL
       AND NOT (d.is_active AND d.deactivated_at IS NULL
                AND d.last_seen OPERATOR(pg_catalog.>)
                    (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2)))";

/// The table path's open of a spell, now, for these devices ($1) if they have none open.
const OPEN_NOW: &str = "
    INSERT INTO @extschema@.online_intervals (device_id, started_at)
    SELECT d.id, pg_catalog.now() FROM pg_catalog.unnest($1::pg_catalog.uuid[]) AS d(id)
        ON CONFLICT DO NOTHING";

/// Closes the spells of devices that are not live (table path; see SETTLE).
pub fn settle(client: &mut SpiClient<'_>, devices: &[pgrx::Uuid]) -> spi::Result<()> {
    if devices.is_empty() || !recorded() {
        return Ok(());
    }
    let ids: Vec<pgrx::Uuid> = devices.to_vec();
    plans::execute(
        client,
        SETTLE,
        &[ids.into(), settings::active_window_seconds().into()],
    )?;
    Ok(())
}

/// Devices are live from now (table path), each in its open spell or a new one.
pub fn open_now(client: &mut SpiClient<'_>, devices: &[pgrx::Uuid]) -> spi::Result<()> {
    if devices.is_empty() || !recorded() {
        return Ok(());
    }
    let ids: Vec<pgrx::Uuid> = devices.to_vec();
    plans::execute(client, OPEN_NOW, &[ids.into()])?;
    Ok(())
}

/// Devices ($1) a heartbeat revived on the table path: the spell each had ended stale, a window
/// after its previous heartbeat ($2); $3 the window in seconds.
const CLOSE_REVIVED: &str = "
    UPDATE @extschema@.online_intervals AS i
       SET ended_at = GREATEST(i.started_at,
                               c.last_seen OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $3)),
           end_reason = 'stale'
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]),
                      pg_catalog.unnest($2::pg_catalog.timestamptz[])) AS c(id, last_seen)
     WHERE i.device_id OPERATOR(pg_catalog.=) c.id AND i.ended_at IS NULL";

/// Heartbeats revived these devices (table path), each silent since the time given: the old
/// spell closes where it went stale and a new one opens now.
pub fn revived(
    client: &mut SpiClient<'_>,
    devices: &[(pgrx::Uuid, Option<TimestampWithTimeZone>)],
) -> spi::Result<()> {
    if devices.is_empty() || !recorded() {
        return Ok(());
    }
    let ids: Vec<pgrx::Uuid> = devices.iter().map(|(id, _)| *id).collect();
    let seen: Vec<Option<TimestampWithTimeZone>> = devices.iter().map(|(_, at)| *at).collect();
    plans::execute(
        client,
        CLOSE_REVIVED,
        &[
            ids.clone().into(),
            seen.into(),
            settings::active_window_seconds().into(),
        ],
    )?;
    open_now(client, &ids)
}

/// A deleted device's open spell ends now, or where it went stale if that was earlier
/// (`last_beat`: its latest heartbeat, from its slot or its row).
const CLOSE_DELETED: &str = "
    UPDATE @extschema@.online_intervals AS i
       SET ended_at = GREATEST(i.started_at, LEAST(pg_catalog.now(), $2)),
           end_reason = CASE WHEN $2 OPERATOR(pg_catalog.<) pg_catalog.now() THEN 'stale' ELSE 'deleted' END
     WHERE i.device_id OPERATOR(pg_catalog.=) $1 AND i.ended_at IS NULL";

/// Every open spell ends now (TRUNCATE of the device table).
const CLOSE_ALL: &str = "
    UPDATE @extschema@.online_intervals AS i
       SET ended_at = GREATEST(i.started_at, pg_catalog.now()), end_reason = 'deleted'
     WHERE i.ended_at IS NULL";

/// The delete's trigger: the removed device's spell, if open, ends. `stale_at` is when it would
/// go stale (its last heartbeat plus the window).
pub fn deleted(device: pgrx::Uuid, stale_at: TimestampWithTimeZone) {
    if !recorded() {
        return;
    }
    Spi::connect_mut(|client| {
        plans::execute(client, CLOSE_DELETED, &[device.into(), stale_at.into()]).map(|_| ())
    })
    .unwrap_or_else(crate::errors::internal_error);
}

/// The table was truncated: every open spell ends.
pub fn all_deleted() {
    if !recorded() {
        return;
    }
    Spi::connect_mut(|client| plans::execute(client, CLOSE_ALL, &[]).map(|_| ()))
        .unwrap_or_else(crate::errors::internal_error);
}

/// The worker's writes (shared_memory/spells.rs), by slot: spells that ended ($1 slots, $2
/// ends, $3 reasons).
pub const CLOSE_BY_SLOT: &str = "
    UPDATE @extschema@.online_intervals AS i
       SET ended_at = GREATEST(i.started_at, c.ended_at), end_reason = c.reason
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]),
                      pg_catalog.unnest($2::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($3::pg_catalog.text[])) AS c(slot, ended_at, reason)
      JOIN @extschema@.compute_devices AS d ON d.slot OPERATOR(pg_catalog.=) c.slot
     WHERE i.device_id OPERATOR(pg_catalog.=) d.id AND i.ended_at IS NULL";

/// Spells that began ($1 slots, $2 starts), and, for one that also ended before the worker
/// looked, its end and reason ($3, $4; NULL while open).
pub const OPEN_BY_SLOT: &str = "
    INSERT INTO @extschema@.online_intervals (device_id, started_at, ended_at, end_reason)
    SELECT d.id, s.started_at,
           CASE WHEN s.ended_at IS NOT NULL THEN GREATEST(s.started_at, s.ended_at) END, s.reason
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]),
                      pg_catalog.unnest($2::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($3::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($4::pg_catalog.text[])) AS s(slot, started_at, ended_at, reason)
      JOIN @extschema@.compute_devices AS d ON d.slot OPERATOR(pg_catalog.=) s.slot
        ON CONFLICT DO NOTHING";

/// The open spells, by slot: what the worker believes after a rebuild.
pub const OPEN_SPELLS: &str = "
    SELECT d.slot, i.started_at
      FROM @extschema@.online_intervals AS i
      JOIN @extschema@.compute_devices AS d ON d.id OPERATOR(pg_catalog.=) i.device_id
     WHERE i.ended_at IS NULL";

/// The server was down (nothing was recorded) from $1 to $2.
pub const UNKNOWN_PERIOD: &str = "
    INSERT INTO @extschema@.unknown_periods (started_at, ended_at) VALUES ($1, $2)
        ON CONFLICT DO NOTHING";
