//! The minute's rows: get_capacity's sums by device type and by region, as it would answer now,
//! and the network's (the types' sums, which get_network_stats() answers), written for the
//! current UTC minute. A second call in the same minute replaces the first one's rows.

use crate::api::stats::current_snapshot;
use crate::capacity::query::{Arguments, Query};
use crate::capacity::{slots as from_slots, table as from_table};
use crate::countries::{self, Countries};
use crate::device_type::DeviceType;
use crate::errors::{internal_failure, missing_object};
use crate::history::Kind;
use crate::shared_memory::published::Figures;
use crate::shared_memory::slots::{self, Shared, Sums};
use crate::spi::catalog;
use crate::table::score;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// The minute's rows, replacing any an earlier call in the same minute wrote ($1 the minute, then
/// the rows as arrays). Rows whose numbers did not change are not rewritten.
const WRITE_MINUTE: &str = "
    WITH new AS (
        SELECT n.kind, n.group_key, n.active_nodes, n.total_ram_gb, n.total_cpu_cores,
               n.total_storage_gb, n.total_compute_score, n.total_gpus, n.total_gpu_memory_gb
          FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int2[]),
                          pg_catalog.unnest($3::pg_catalog.text[]),
                          pg_catalog.unnest($4::pg_catalog.int8[]),
                          pg_catalog.unnest($5::pg_catalog.text[]::pg_catalog.numeric[]),
                          pg_catalog.unnest($6::pg_catalog.int8[]),
                          pg_catalog.unnest($7::pg_catalog.text[]::pg_catalog.numeric[]),
                          pg_catalog.unnest($8::pg_catalog.text[]::pg_catalog.numeric[]),
                          pg_catalog.unnest($9::pg_catalog.int8[]),
                          pg_catalog.unnest($10::pg_catalog.text[]::pg_catalog.numeric[]))
            AS n(kind, group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb,
                 total_compute_score, total_gpus, total_gpu_memory_gb)
    ), gone AS (
        DELETE FROM @extschema@.network_history_minutes AS m
         WHERE m.minute OPERATOR(pg_catalog.=) $1
           AND NOT EXISTS (SELECT FROM new
                            WHERE new.kind OPERATOR(pg_catalog.=) m.kind
                              AND new.group_key OPERATOR(pg_catalog.=) m.group_key)
    )
    INSERT INTO @extschema@.network_history_minutes AS m
           (minute, kind, group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb,
            total_compute_score, total_gpus, total_gpu_memory_gb)
    SELECT $1, new.kind, new.group_key, new.active_nodes, new.total_ram_gb, new.total_cpu_cores,
           new.total_storage_gb, new.total_compute_score, new.total_gpus, new.total_gpu_memory_gb
      FROM new
        ON CONFLICT (minute, kind, group_key) DO UPDATE
       SET active_nodes = excluded.active_nodes, total_ram_gb = excluded.total_ram_gb,
           total_cpu_cores = excluded.total_cpu_cores, total_storage_gb = excluded.total_storage_gb,
           total_compute_score = excluded.total_compute_score, total_gpus = excluded.total_gpus,
           total_gpu_memory_gb = excluded.total_gpu_memory_gb
     WHERE (m.active_nodes, m.total_ram_gb, m.total_cpu_cores, m.total_storage_gb,
            m.total_compute_score, m.total_gpus, m.total_gpu_memory_gb)
           IS DISTINCT FROM
           (excluded.active_nodes, excluded.total_ram_gb, excluded.total_cpu_cores,
            excluded.total_storage_gb, excluded.total_compute_score, excluded.total_gpus,
            excluded.total_gpu_memory_gb)";

/// The minute a call made now records: now() truncated to the UTC minute.
const THIS_MINUTE: &str =
    "SELECT pg_catalog.date_trunc('minute', pg_catalog.now(), 'UTC'::pg_catalog.text)";

/// One row of a minute: kind, group key ('' for none) and the sums.
pub struct Group {
    pub kind: Kind,
    pub key: String,
    pub sums: Sums,
}

/// Serializes the calls that write history (the worker's, pg_cron's, anyone's), so minutes,
/// roll-ups and pruning never race: pg_try_advisory_xact_lock(the minute table's oid, 0), held
/// until the transaction ends. False when another transaction holds it: that call records the
/// minute, and this one must not wait for it (the worker would stall behind a session that
/// keeps its transaction open).
pub fn try_lock() -> bool {
    let extension = catalog::extension();
    if !extension.has_relation(c"network_history_minutes")
        || !extension.has_relation(c"network_history_hours")
    {
        missing_object("the history tables");
    }
    // SAFETY: a syscache lookup of (name, namespace) of a table just found there.
    let table =
        unsafe { pg_sys::get_relname_relid(c"network_history_minutes".as_ptr(), extension.schema) };
    // SAFETY: the SQL-callable lock function with two int4 arguments, as SQL would call it.
    unsafe {
        pgrx::direct_function_call::<bool>(
            pg_sys::pg_try_advisory_xact_lock_int4,
            &[(table.to_u32() as i32).into_datum(), 0_i32.into_datum()],
        )
    }
    .unwrap_or(false)
}

/// The minute now() falls in.
pub fn this_minute(client: &SpiClient<'_>) -> pgrx::spi::Result<TimestampWithTimeZone> {
    client
        .select(THIS_MINUTE, Some(1), &[])?
        .first()
        .get_one::<TimestampWithTimeZone>()
        .map(|minute| minute.expect("date_trunc of now() is never NULL"))
}

/// What get_capacity answers now by device type (all four, zeros included) and by region, and
/// the network's totals (the types' sums). On the shared-memory path both groupings read the
/// same snapshot.
pub fn current_groups() -> Vec<Group> {
    let known = countries::all();
    let shared = slots::shared().filter(Shared::is_ready);
    let snapshot = shared.map(|shared| current_snapshot(&shared));
    let grouped = |group_by: &str| {
        let query = unfiltered(group_by, &known);
        match (shared, snapshot) {
            (Some(shared), Some(snapshot)) => {
                from_slots::capacity(&shared, &query, &known, || snapshot)
            }
            _ => from_table::capacity(&query, &known),
        }
    };
    let by_type = grouped("device_type");
    let by_region = grouped("region");
    let mut network = Sums::default();
    let mut groups = Vec::with_capacity(1 + DeviceType::COUNT + by_region.len());
    for device_type in DeviceType::ALL {
        let name = device_type.sql_name();
        let sums = by_type
            .iter()
            .find(|(key, _)| key.as_deref() == Some(name))
            .map(|(_, sums)| *sums)
            .unwrap_or_default();
        network.add(&sums);
        groups.push(Group {
            kind: Kind::DeviceType,
            key: name.to_string(),
            sums,
        });
    }
    groups.insert(
        0,
        Group {
            kind: Kind::Network,
            key: String::new(),
            sums: network,
        },
    );
    groups.extend(by_region.into_iter().map(|(key, sums)| Group {
        kind: Kind::Region,
        key: key.unwrap_or_default(),
        sums,
    }));
    groups
}

/// get_capacity with no filter, grouped.
fn unfiltered(group_by: &str, known: &Countries) -> Query {
    Query::new(
        Arguments {
            device_types: Ok(None),
            countries: Ok(None),
            regions: Ok(None),
            min_ram_gb: None,
            min_cpu_cores: None,
            min_storage_gb: None,
            gpu_vendors: Ok(None),
            gpu_models: Ok(None),
            min_gpus: None,
            min_gpu_memory_mib: None,
            group_by: Some(group_by),
            min_uptime_7d: None,
        },
        known,
    )
    .unwrap_or_else(|e| internal_failure("history grouping", e.message()))
}

/// Writes the minute's rows (replacing an earlier call's in the same minute).
pub fn write_minute(
    client: &mut SpiClient<'_>,
    minute: TimestampWithTimeZone,
    groups: &[Group],
) -> pgrx::spi::Result<()> {
    let mut kinds = Vec::with_capacity(groups.len());
    let mut keys = Vec::with_capacity(groups.len());
    let mut nodes = Vec::with_capacity(groups.len());
    let mut ram = Vec::with_capacity(groups.len());
    let mut cores = Vec::with_capacity(groups.len());
    let mut storage = Vec::with_capacity(groups.len());
    let mut scores = Vec::with_capacity(groups.len());
    let mut gpus = Vec::with_capacity(groups.len());
    let mut gpu_memory = Vec::with_capacity(groups.len());
    for group in groups {
        let figures =
            Figures::of(&group.sums).unwrap_or_else(|e| internal_failure("history figures", e));
        let score = score::score(
            figures.ram_gb.clone(),
            AnyNumeric::from(figures.cpu_cores),
            figures.storage_gb.clone(),
        );
        kinds.push(group.kind as i16);
        keys.push(group.key.clone());
        nodes.push(figures.active_nodes);
        ram.push(figures.ram_gb.to_string());
        cores.push(figures.cpu_cores);
        storage.push(figures.storage_gb.to_string());
        scores.push(score.to_string());
        gpus.push(figures.gpus);
        gpu_memory.push(figures.gpu_memory_gb.to_string());
    }
    client.update(
        &*catalog::statement(WRITE_MINUTE),
        None,
        &[
            minute.into(),
            kinds.into(),
            keys.into(),
            nodes.into(),
            ram.into(),
            cores.into(),
            storage.into(),
            scores.into(),
            gpus.into(),
            gpu_memory.into(),
        ],
    )?;
    Ok(())
}
