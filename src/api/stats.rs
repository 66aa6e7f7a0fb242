//! The network totals: get_network_stats (the seed's enterprise endpoint) and the same sums by
//! device type, get_network_stats_by_type (for the live network page).
//!
//! On the shared-memory path both read the worker's snapshot, so their cost does not grow with
//! the number of devices. If the snapshot is older than MAX_SNAPSHOT_AGE (the worker is late or
//! restarting) or used another active window, they sum the slots themselves. Elsewhere they read
//! the totals the worker published (published.rs) where those stand in for shared memory (a
//! standby; a preloaded primary before its slots are rebuilt after a start or a promotion)
//! while they are younger than the active window, and otherwise sum the table (the table path).

use crate::device_type::DeviceType;
use crate::errors::{internal_error, internal_failure};
use crate::settings;
use crate::shared_memory::published::{self, Figures};
use crate::shared_memory::slots::{self, Shared, Snapshot, Totals};
use crate::spi::catalog;
use crate::spi::rows;
use crate::table::liveness::{self, is_live};
use crate::table::score;
use pgrx::prelude::*;

type NetworkStats = pgrx::composite_type!('static, "network_stats");
type NetworkStatsByType = pgrx::composite_type!('static, "network_stats_by_type");

/// MiB as GB, exactly: 1/1024 is 0.0009765625, and numeric multiplies exactly (where its
/// division would round), trailing zeros trimmed as `published::gb_of_mib` writes them.
macro_rules! gpu_gb {
    ($mib:literal) => {
        concat!(
            "pg_catalog.trim_scale((",
            $mib,
            ")::pg_catalog.numeric OPERATOR(pg_catalog.*) 0.0009765625::pg_catalog.numeric)"
        )
    };
}

/// The seed's four sums over the devices `d` (after the count).
macro_rules! seed_sums {
    () => {
        "COALESCE(pg_catalog.sum(d.ram_gb), 0::pg_catalog.numeric),
         COALESCE(pg_catalog.sum(d.cpu_cores), 0::pg_catalog.int8),
         COALESCE(pg_catalog.sum(d.storage_gb), 0::pg_catalog.numeric),
         COALESCE(pg_catalog.sum(d.compute_score), 0::pg_catalog.numeric)"
    };
}

/// total_gpus and total_gpu_memory_gb over `accelerator_sums!`.
macro_rules! accelerator_totals {
    () => {
        concat!(
            "COALESCE(pg_catalog.sum(acc.gpus), 0)::pg_catalog.int8, ",
            gpu_gb!("COALESCE(pg_catalog.sum(acc.memory_mib), 0)")
        )
    };
}

/// The device types $2, in order, for the by-type sums.
macro_rules! by_type_from {
    () => {
        " FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS t(device_type, position)"
    };
}

macro_rules! by_type_order {
    () => {
        " GROUP BY t.device_type, t.position ORDER BY t.position"
    };
}

/// Each device `d`'s accelerators, summed: acc.gpus and acc.memory_mib (NULL for none).
macro_rules! accelerator_sums {
    () => {
        " LEFT JOIN LATERAL (
              SELECT pg_catalog.sum(a.count) AS gpus,
                     pg_catalog.sum(a.memory_mib::pg_catalog.int8 OPERATOR(pg_catalog.*) a.count)
                         AS memory_mib
                FROM @extschema@.device_accelerators AS a
               WHERE a.device_id OPERATOR(pg_catalog.=) d.id) AS acc ON true"
    };
}

/// The worker publishes a snapshot every second; an answer is never staler than this.
const MAX_SNAPSHOT_AGE_MICROS: i64 = 2_000_000;

/// Exactly one row, zeros on an empty network. SECURITY DEFINER because it sums every owner's
/// devices, which no caller may read row by row; it returns only totals.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_network_stats() -> pgrx::composite_type!('static, "network_stats") {
    match slots::shared().filter(Shared::is_ready) {
        Some(shared) => {
            let all = Figures::of(&current_totals(&shared).all()).map_err(Into::into);
            let stats = all.and_then(|all| to_row(c"network_stats", None, all));
            stats.unwrap_or_else(|e| internal_failure("network_stats", e))
        }
        None => match published::served() {
            Some(by_type) => {
                let all = by_type.into_iter().fold(Figures::zero(), Figures::add);
                to_row(c"network_stats", None, all)
                    .unwrap_or_else(|e| internal_failure("network_stats", e))
            }
            None => sum_the_table(),
        },
    }
}

/// One row per device type (phone, laptop, desktop, server, in that order), zeros included, so
/// a chart keeps its bars. The rows add up to get_network_stats. SECURITY DEFINER as above.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_network_stats_by_type(
) -> SetOfIterator<'static, pgrx::composite_type!('static, "network_stats_by_type")> {
    let rows = match slots::shared().filter(Shared::is_ready) {
        Some(shared) => {
            let totals = current_totals(&shared);
            let figures = totals.by_type.iter().map(Figures::of);
            let figures = figures.collect::<Result<Vec<_>, _>>();
            figures
                .map_err(Into::into)
                .and_then(by_type_rows)
                .unwrap_or_else(|e| internal_failure("network_stats_by_type", e))
        }
        None => match published::served() {
            Some(by_type) => by_type_rows(by_type)
                .unwrap_or_else(|e| internal_failure("network_stats_by_type", e)),
            None => sum_the_table_by_type(),
        },
    };
    rows::set_of(rows)
}

/// network_stats_by_type rows from figures in DeviceType::ALL order.
fn by_type_rows(figures: Vec<Figures>) -> Result<Vec<rows::Row>, Box<dyn std::error::Error>> {
    DeviceType::ALL
        .into_iter()
        .zip(figures)
        .map(|(device_type, figures)| to_row(c"network_stats_by_type", Some(device_type), figures))
        .collect()
}

/// The snapshot if it is current, or a count of the slots now (which the next caller can use).
pub fn current_totals(shared: &Shared) -> Totals {
    current_snapshot(shared).totals
}

/// The published snapshot if it is current, or one counted now and published (which the next
/// caller can use).
pub fn current_snapshot(shared: &Shared) -> Snapshot {
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let window = settings::active_window_micros();
    let changes = shared.changes();
    match shared.snapshot() {
        Some(snapshot)
            if snapshot.changes == changes
                && now - snapshot.taken_at <= MAX_SNAPSHOT_AGE_MICROS
                && snapshot.window == window =>
        {
            snapshot
        }
        // Out of date (a registration, deactivation or revival since), late, or counted with
        // another window than this session's (a superuser may SET it): count now.
        _ => {
            let totals = shared.count(liveness::live_after(now), |_, _, _| {});
            let snapshot = Snapshot {
                taken_at: now,
                window,
                changes,
                totals,
            };
            shared.publish(Some(snapshot));
            snapshot
        }
    }
}

/// Reads only (SPI's read-only mode), so a stats call takes no transaction id: it works in a
/// read-only transaction and on a hot standby, and its commit writes no WAL.
fn sum_the_table() -> NetworkStats {
    let sums = catalog::statement(if located() {
        concat!(
            "SELECT ROW(pg_catalog.count(*), ",
            seed_sums!(),
            ", ",
            accelerator_totals!(),
            ")::@extschema@.network_stats FROM @extschema@.compute_devices AS d",
            accelerator_sums!(),
            " WHERE ",
            is_live!()
        )
    } else {
        concat!(
            "SELECT ROW(pg_catalog.count(*), ",
            seed_sums!(),
            ")::@extschema@.network_stats FROM @extschema@.compute_devices AS d WHERE ",
            is_live!()
        )
    });
    Spi::connect(|client| {
        client
            .select(&*sums, Some(1), &[settings::active_window_seconds().into()])?
            .first()
            .get_one::<NetworkStats>()
    })
    .unwrap_or_else(internal_error)
    .expect("an aggregate without GROUP BY returns one row")
}

fn sum_the_table_by_type() -> Vec<NetworkStatsByType> {
    let types: Vec<&str> = DeviceType::ALL.map(DeviceType::sql_name).to_vec();
    let sums = catalog::statement(if located() {
        concat!(
            "SELECT ROW(t.device_type, pg_catalog.count(d.id), ",
            seed_sums!(),
            ", ",
            accelerator_totals!(),
            ")::@extschema@.network_stats_by_type",
            by_type_from!(),
            " LEFT JOIN (@extschema@.compute_devices AS d",
            accelerator_sums!(),
            ") ON d.device_type OPERATOR(pg_catalog.=) t.device_type AND ",
            is_live!(),
            by_type_order!()
        )
    } else {
        concat!(
            "SELECT ROW(t.device_type, pg_catalog.count(d.id), ",
            seed_sums!(),
            ")::@extschema@.network_stats_by_type",
            by_type_from!(),
            " LEFT JOIN @extschema@.compute_devices AS d
                     ON d.device_type OPERATOR(pg_catalog.=) t.device_type AND ",
            is_live!(),
            by_type_order!()
        )
    });
    Spi::connect(|client| {
        let rows = client.select(
            &*sums,
            None,
            &[settings::active_window_seconds().into(), types.into()],
        )?;
        rows.map(|row| row.get::<NetworkStatsByType>(1))
            .map(|row| row.map(|row| row.expect("a ROW(...) is never NULL")))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap_or_else(internal_error)
}

/// Whether the database is at 0.6.0 or later: the stats' types have the accelerator columns.
fn located() -> bool {
    catalog::extension().has_accelerators()
}

/// A network_stats row (no device type) or a network_stats_by_type row from figures.
fn to_row(
    type_name: &std::ffi::CStr,
    device_type: Option<DeviceType>,
    figures: Figures,
) -> Result<rows::Row, Box<dyn std::error::Error>> {
    let Figures {
        active_nodes,
        ram_gb,
        cpu_cores,
        storage_gb,
        gpus,
        gpu_memory_gb,
    } = figures;
    let mut row = PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(type_name))?;
    let mut column = 1;
    if let Some(device_type) = device_type {
        row.set_by_index(column.try_into()?, device_type.sql_name())?;
        column += 1;
    }
    let total_score = score::score(
        ram_gb.clone(),
        AnyNumeric::from(cpu_cores),
        storage_gb.clone(),
    );
    row.set_by_index(column.try_into()?, active_nodes)?;
    row.set_by_index((column + 1).try_into()?, ram_gb)?;
    row.set_by_index((column + 2).try_into()?, cpu_cores)?;
    row.set_by_index((column + 3).try_into()?, storage_gb)?;
    row.set_by_index((column + 4).try_into()?, total_score)?;
    if located() {
        row.set_by_index((column + 5).try_into()?, gpus)?;
        row.set_by_index((column + 6).try_into()?, gpu_memory_gb)?;
    }
    Ok(row)
}
