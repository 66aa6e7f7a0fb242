//! The published totals: the worker's snapshot, written once a second into the one row of
//! `published_totals`, so that it reaches standbys through WAL at a cost that does not grow with
//! the number of devices (one HOT update a second, committed without waiting for its flush).
//!
//! Where shared memory does not serve the stats, they read this row instead of summing the
//! table, while it is younger than the active window it was counted with (the primary's):
//! on a standby (in recovery), and on a primary preloaded for this database whose slots are not
//! ready yet (just started, or just promoted). The worker deletes the row when its database
//! leaves the shared-memory path; on a standby it goes when the primary's deletion is replayed.
//! An extension not yet updated to 0.5.0 has no such table: nothing is published or read.

use crate::device_type::DeviceType;
use crate::settings;
use crate::shared_memory::slots::{self, Snapshot, Sums};
use crate::spi::{catalog, plans};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::cell::RefCell;
use std::ffi::CStr;

const TABLE: &CStr = c"published_totals";

/// One UPDATE (HOT: no indexed column changes), or the first INSERT.
const PUBLISH: &str = "
    WITH updated AS (
        UPDATE @extschema@.published_totals
           SET taken_at = $1, active_window_seconds = $2, by_type = $3::pg_catalog.jsonb
        RETURNING true)
    INSERT INTO @extschema@.published_totals (taken_at, active_window_seconds, by_type)
    SELECT $1, $2, $3::pg_catalog.jsonb WHERE NOT EXISTS (SELECT FROM updated)";

const WITHDRAW: &str = "DELETE FROM @extschema@.published_totals";

/// When the totals were last published (before a restart: the old server's last second).
pub const LAST_PUBLISHED: &str =
    "SELECT pg_catalog.max(p.taken_at) FROM @extschema@.published_totals AS p";

/// The row's time, and whether it may be served: younger than the active window it was counted
/// with. The primary's window, not this session's: a standby's own setting may differ (ALTER
/// SYSTEM is not replicated), and the answer must be the primary's. Read on every call, with a
/// plan kept for the session.
const STATE: &str = "
    SELECT p.taken_at,
           p.taken_at OPERATOR(pg_catalog.>)
               (pg_catalog.now() OPERATOR(pg_catalog.-)
                pg_catalog.make_interval(secs => p.active_window_seconds::pg_catalog.float8))
      FROM @extschema@.published_totals AS p";

/// The figures of the row taken at $1, by device type in DeviceType::ALL order ($2): exact
/// decimals. Read only when the worker has published since this backend last read them.
const FIGURES: &str = "
    SELECT COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'active_nodes')
                    ::pg_catalog.int8, 0::pg_catalog.int8),
           COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'total_ram_gb')
                    ::pg_catalog.numeric, 0::pg_catalog.numeric),
           COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'total_cpu_cores')
                    ::pg_catalog.int8, 0::pg_catalog.int8),
           COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'total_storage_gb')
                    ::pg_catalog.numeric, 0::pg_catalog.numeric),
           COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'total_gpus')
                    ::pg_catalog.int8, 0::pg_catalog.int8),
           COALESCE(pg_catalog.jsonb_extract_path_text(p.by_type, t.device_type, 'total_gpu_memory_gb')
                    ::pg_catalog.numeric, 0::pg_catalog.numeric)
      FROM @extschema@.published_totals AS p
     CROSS JOIN pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS t(device_type, position)
     WHERE p.taken_at OPERATOR(pg_catalog.=) $1
     ORDER BY t.position";

thread_local! {
    /// The figures of the row last read here, with its taken_at: a backend decodes the row's
    /// by_type once per publication (a second), not on every call.
    static DECODED: RefCell<Option<(TimestampWithTimeZone, Vec<Figures>)>> =
        const { RefCell::new(None) };
}

/// One device type's sums (or the network's) as the stats return them: GB as exact decimals.
#[derive(Clone)]
pub struct Figures {
    pub active_nodes: i64,
    pub ram_gb: AnyNumeric,
    pub cpu_cores: i64,
    pub storage_gb: AnyNumeric,
    pub gpus: i64,
    pub gpu_memory_gb: AnyNumeric,
}

impl Figures {
    pub fn of(sums: &Sums) -> Result<Figures, pgrx::datum::numeric::Error> {
        Ok(Figures {
            active_nodes: sums.active_nodes,
            ram_gb: AnyNumeric::try_from(gb(sums.ram_nano_gb).as_str())?,
            cpu_cores: sums.cpu_cores,
            storage_gb: AnyNumeric::try_from(gb(sums.storage_nano_gb).as_str())?,
            gpus: sums.gpus,
            gpu_memory_gb: AnyNumeric::try_from(gb_of_mib(sums.gpu_memory_mib).as_str())?,
        })
    }

    pub fn zero() -> Figures {
        Figures {
            active_nodes: 0,
            ram_gb: AnyNumeric::from(0),
            cpu_cores: 0,
            storage_gb: AnyNumeric::from(0),
            gpus: 0,
            gpu_memory_gb: AnyNumeric::from(0),
        }
    }

    pub fn add(self, other: Figures) -> Figures {
        Figures {
            active_nodes: self.active_nodes + other.active_nodes,
            ram_gb: self.ram_gb + other.ram_gb,
            cpu_cores: self.cpu_cores + other.cpu_cores,
            storage_gb: self.storage_gb + other.storage_gb,
            gpus: self.gpus + other.gpus,
            gpu_memory_gb: self.gpu_memory_gb + other.gpu_memory_gb,
        }
    }
}

/// MiB as GB (1024 MiB each), an exact decimal without trailing zeros: 1024 is 2^10, so ten
/// decimals always suffice. The table path's SQL (`gpu_gb!`) writes the same number.
pub fn gb_of_mib(mib: i128) -> String {
    let scaled = mib.saturating_mul(9_765_625); // 10^10 / 1024
    let sign = if scaled < 0 { "-" } else { "" };
    let scaled = scaled.unsigned_abs();
    let (whole, fraction) = (scaled / 10_000_000_000, scaled % 10_000_000_000);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{fraction:010}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Billionths of a GB as an exact decimal, without trailing zeros (also a JSON number).
fn gb(nano_gb: i128) -> String {
    const PER_GB: u128 = 1_000_000_000;
    let sign = if nano_gb < 0 { "-" } else { "" };
    let nano_gb = nano_gb.unsigned_abs();
    let (whole, fraction) = (nano_gb / PER_GB, nano_gb % PER_GB);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{fraction:09}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// The snapshot's totals as the row's by_type.
fn by_type_json(snapshot: &Snapshot) -> String {
    let types = DeviceType::ALL.iter().zip(&snapshot.totals.by_type);
    let entries: Vec<String> = types
        .map(|(device_type, sums)| {
            format!(
                r#""{}":{{"active_nodes":{},"total_ram_gb":{},"total_cpu_cores":{},"total_storage_gb":{},"total_gpus":{},"total_gpu_memory_gb":{}}}"#,
                device_type.sql_name(),
                sums.active_nodes,
                gb(sums.ram_nano_gb),
                sums.cpu_cores,
                gb(sums.storage_nano_gb),
                sums.gpus,
                gb_of_mib(sums.gpu_memory_mib),
            )
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// Whether this version of the extension has the table.
fn has_table() -> bool {
    catalog::find().is_some_and(|extension| extension.has_relation(TABLE))
}

/// The worker, in a transaction of its own: publishes the snapshot. It commits without
/// waiting for its WAL flush: a publication lost in a crash is replaced a second later.
pub fn publish(client: &mut SpiClient<'_>, snapshot: &Snapshot) -> spi::Result<()> {
    if !has_table() {
        return Ok(());
    }
    client.select(
        "SELECT pg_catalog.set_config('synchronous_commit', 'off', true)",
        None,
        &[],
    )?;
    let taken_at = TimestampWithTimeZone::try_from(snapshot.taken_at).ok();
    let window = i32::try_from(snapshot.window / 1_000_000).unwrap_or(i32::MAX);
    client.update(
        &*catalog::statement(PUBLISH),
        None,
        &[
            taken_at.into(),
            window.into(),
            by_type_json(snapshot).into(),
        ],
    )?;
    Ok(())
}

/// The worker, when its database leaves the shared-memory path: no more published totals.
pub fn withdraw(client: &mut SpiClient<'_>) -> spi::Result<()> {
    if has_table() {
        client.update(&*catalog::statement(WITHDRAW), None, &[])?;
    }
    Ok(())
}

/// Where shared memory does not serve the stats: whether the published row stands in for it.
/// On a standby, or on a primary where the library is preloaded for this database (its slots
/// are not ready yet). Not where the library is not preloaded: no worker publishes there.
pub fn stands_in() -> bool {
    // SAFETY: a plain read of the recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return true;
    }
    slots::attached().is_some() && is_the_workers_database()
}

fn is_the_workers_database() -> bool {
    // SAFETY: MyDatabaseId is set once connected; get_database_name returns a palloc'd copy
    // of the name, or NULL for a database that is gone.
    let name = unsafe { pg_sys::get_database_name(pg_sys::MyDatabaseId) };
    // SAFETY: a NUL-terminated string, when not NULL.
    !name.is_null()
        && unsafe { CStr::from_ptr(name) }.to_bytes() == settings::worker_database().as_bytes()
}

/// The published row, as read here.
pub struct Published {
    pub taken_at: TimestampWithTimeZone,
    /// Younger than the active window it was counted with: the stats serve it.
    pub fresh: bool,
    /// By device type, in DeviceType::ALL order.
    pub by_type: Vec<Figures>,
}

/// Reads the row (no transaction id): None when there is none.
pub fn read() -> Option<Published> {
    if !has_table() {
        return None;
    }
    let read = Spi::connect(|client| {
        let state = plans::query(client, STATE, &[])?;
        let Some(row) = state.into_iter().next() else {
            return Ok(None);
        };
        let (Some(taken_at), fresh) = (row.get::<TimestampWithTimeZone>(1)?, row.get::<bool>(2)?)
        else {
            return Ok(None);
        };
        let Some(by_type) = decoded(client, taken_at)? else {
            return Ok(None);
        };
        Ok::<_, spi::Error>(Some(Published {
            taken_at,
            fresh: fresh.unwrap_or(false),
            by_type,
        }))
    });
    read.unwrap_or_else(crate::errors::internal_error)
}

/// The figures of the row taken at `taken_at`, the one just read: kept from the last call when
/// the worker has not published since (it alone writes the row, and each publication has a
/// taken_at of its own), or else read and kept. None if that row is not there after all.
fn decoded(
    client: &SpiClient<'_>,
    taken_at: TimestampWithTimeZone,
) -> spi::Result<Option<Vec<Figures>>> {
    let kept = DECODED.with_borrow(|decoded| {
        decoded
            .as_ref()
            .filter(|(at, _)| *at == taken_at)
            .map(|(_, figures)| figures.clone())
    });
    if kept.is_some() {
        return Ok(kept);
    }
    let figures = figures(client, taken_at)?;
    if figures.len() != DeviceType::ALL.len() {
        return Ok(None);
    }
    DECODED.set(Some((taken_at, figures.clone())));
    Ok(Some(figures))
}

/// The figures of the row taken at `taken_at`, by device type.
fn figures(client: &SpiClient<'_>, taken_at: TimestampWithTimeZone) -> spi::Result<Vec<Figures>> {
    let types: Vec<&str> = DeviceType::ALL.map(DeviceType::sql_name).to_vec();
    let rows = plans::query(client, FIGURES, &[taken_at.into(), types.into()])?;
    rows.map(|row| {
        Ok(Figures {
            active_nodes: row.get::<i64>(1)?.unwrap_or(0),
            ram_gb: row
                .get::<AnyNumeric>(2)?
                .unwrap_or_else(|| AnyNumeric::from(0)),
            cpu_cores: row.get::<i64>(3)?.unwrap_or(0),
            storage_gb: row
                .get::<AnyNumeric>(4)?
                .unwrap_or_else(|| AnyNumeric::from(0)),
            gpus: row.get::<i64>(5)?.unwrap_or(0),
            gpu_memory_gb: row
                .get::<AnyNumeric>(6)?
                .unwrap_or_else(|| AnyNumeric::from(0)),
        })
    })
    .collect()
}

/// The published totals by device type, when they stand in for shared memory here and may be
/// served.
pub fn served() -> Option<Vec<Figures>> {
    stands_in()
        .then(read)
        .flatten()
        .filter(|published| published.fresh)
        .map(|published| published.by_type)
}
