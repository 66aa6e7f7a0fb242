//! get_capacity: how much compute is online that can run a given job, by capability and place.
//! Every filter is a typed argument (NULL: no filter), so PostgREST passes them straight
//! through and there is no query language to parse. Public like the stats: SECURITY DEFINER,
//! it returns only sums.

use crate::api::stats::current_snapshot;
use crate::capacity::query::{listed, Arguments, Query};
use crate::capacity::{slots as from_slots, table as from_table};
use crate::countries;
use crate::errors::{internal_failure, OrRaise};
use crate::shared_memory::published::Figures;
use crate::shared_memory::slots::{self, Shared, Sums};
use crate::spi::{catalog, rows};
use crate::table::score;
use pgrx::prelude::*;

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_capacity(
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
) -> SetOfIterator<'static, pgrx::composite_type!('static, "network_capacity")> {
    let known = countries::all();
    let query = Query::new(
        Arguments {
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
        },
        &known,
    )
    .or_raise();
    let groups = match slots::shared().filter(Shared::is_ready) {
        Some(shared) => from_slots::capacity(&shared, &query, &known, || current_snapshot(&shared)),
        None => from_table::capacity(&query, &known),
    };
    let rows = groups
        .into_iter()
        .map(|(key, sums)| to_row(key, &sums))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| internal_failure("network_capacity", e));
    rows::set_of(rows)
}

fn to_row(key: Option<String>, sums: &Sums) -> Result<rows::Row, Box<dyn std::error::Error>> {
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
    Ok(row)
}
