//! get_capacity: how much compute is online that can run a given job, by capability and place,
//! and how much the network can be expected to have (each registered device that is not
//! stopped weighted by its reliability, src/health) with the floor it meets with 95%
//! probability. Every filter is a typed argument (NULL: no filter), so PostgREST passes them
//! straight through and there is no query language to parse. Public like the stats: SECURITY
//! DEFINER, it returns only sums.

use crate::api::stats::current_snapshot;
use crate::capacity::query::{listed, Arguments, Query};
use crate::capacity::tally::Expected;
use crate::capacity::{slots as from_slots, table as from_table};
use crate::countries;
use crate::errors::{internal_failure, OrRaise};
use crate::shared_memory::published::Figures;
use crate::shared_memory::slots::{self, Shared, Sums};
use crate::spi::{catalog, rows};
use crate::table::score;
use pgrx::prelude::*;

#[allow(clippy::too_many_arguments)]
#[pg_extern(name = "get_capacity", stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_reliable_capacity(
    device_types: default!(Option<Array<&str>>, "NULL"),
    countries: default!(Option<Array<&str>>, "NULL"),
    regions: default!(Option<Array<&str>>, "NULL"),
    min_ram_gb: default!(Option<AnyNumeric>, "NULL"),
    min_cpu_cores: default!(Option<i32>, "NULL"),
    min_storage_gb: default!(Option<AnyNumeric>, "NULL"),
    gpu_vendors: default!(Option<Array<&str>>, "NULL"),
    gpu_models: default!(Option<Array<&str>>, "NULL"),
    min_gpus: default!(Option<i32>, "NULL"),
    min_gpu_memory_mib: default!(Option<i32>, "NULL"),
    group_by: default!(Option<&str>, "NULL"),
    min_uptime_7d: default!(Option<AnyNumeric>, "NULL"),
) -> SetOfIterator<'static, pgrx::composite_type!('static, "network_capacity")> {
    capacity(Arguments {
        device_types: listed("device_types", device_types),
        countries: listed("countries", countries),
        regions: listed("regions", regions),
        min_ram_gb,
        min_cpu_cores,
        min_storage_gb,
        gpu_vendors: listed("gpu_vendors", gpu_vendors),
        gpu_models: listed("gpu_models", gpu_models),
        min_gpus,
        min_gpu_memory_mib,
        group_by,
        min_uptime_7d,
    })
}

/// The eleven-argument get_capacity of a database that has this library but is not yet
/// updated to 0.7.0 (its declaration names this symbol): the same answer, in 0.6.0's row.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false)]
fn get_capacity(
    device_types: Option<Array<&str>>,
    countries: Option<Array<&str>>,
    regions: Option<Array<&str>>,
    min_ram_gb: Option<AnyNumeric>,
    min_cpu_cores: Option<i32>,
    min_storage_gb: Option<AnyNumeric>,
    gpu_vendors: Option<Array<&str>>,
    gpu_models: Option<Array<&str>>,
    min_gpus: Option<i32>,
    min_gpu_memory_mib: Option<i32>,
    group_by: Option<&str>,
) -> SetOfIterator<'static, pgrx::composite_type!('static, "network_capacity")> {
    get_reliable_capacity(
        device_types,
        countries,
        regions,
        min_ram_gb,
        min_cpu_cores,
        min_storage_gb,
        gpu_vendors,
        gpu_models,
        min_gpus,
        min_gpu_memory_mib,
        group_by,
        None,
    )
}

fn capacity(
    arguments: Arguments<'_>,
) -> SetOfIterator<'static, pgrx::composite_type!('static, "network_capacity")> {
    let known = countries::all();
    let query = Query::new(arguments, &known).or_raise();
    let groups = match slots::shared().filter(Shared::is_ready) {
        Some(shared) => {
            from_slots::reliable_capacity(&shared, &query, &known, || current_snapshot(&shared))
        }
        None => from_table::reliable_capacity(&query, &known),
    };
    // Before 0.7.0 the row type ends with total_gpu_memory_gb.
    let with_expected = catalog::extension().has_intervals();
    let rows = groups
        .into_iter()
        .map(|(key, sums, expected)| to_row(key, &sums, with_expected.then_some(&expected)))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| internal_failure("network_capacity", e));
    rows::set_of(rows)
}

fn to_row(
    key: Option<String>,
    sums: &Sums,
    expected: Option<&Expected>,
) -> Result<rows::Row, Box<dyn std::error::Error>> {
    let figures = Figures::of(sums)?;
    let score = score::score(
        figures.ram_gb.clone(),
        AnyNumeric::from(figures.cpu_cores),
        figures.storage_gb.clone(),
    );
    let mut row = PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(c"network_capacity"))?;
    row.set_by_index(1.try_into()?, key)?;
    row.set_by_index(2.try_into()?, figures.active_nodes)?;
    row.set_by_index(3.try_into()?, figures.ram_gb)?;
    row.set_by_index(4.try_into()?, figures.cpu_cores)?;
    row.set_by_index(5.try_into()?, figures.storage_gb)?;
    row.set_by_index(6.try_into()?, score)?;
    row.set_by_index(7.try_into()?, figures.gpus)?;
    row.set_by_index(8.try_into()?, figures.gpu_memory_gb)?;
    if let Some(expected) = expected {
        let numeric = |text: String| AnyNumeric::try_from(text.as_str());
        row.set_by_index(9.try_into()?, numeric(expected.nodes_text())?)?;
        row.set_by_index(10.try_into()?, numeric(expected.ram_gb_text())?)?;
        row.set_by_index(11.try_into()?, numeric(expected.cpu_cores_text())?)?;
        row.set_by_index(12.try_into()?, numeric(expected.gpus_text())?)?;
        row.set_by_index(13.try_into()?, expected.p95_floor_nodes())?;
        row.set_by_index(14.try_into()?, expected.p95_floor_gpus())?;
    }
    Ok(row)
}
