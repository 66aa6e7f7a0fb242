//! Accelerators (GPUs and the like): the vendors we know, the model key derived from a product
//! name, and what register_device accepts as a device's inventory.

pub mod inventory;
pub mod model;
pub mod vendor;

use crate::accelerators::vendor::Vendor;
use crate::shared_memory::inventories::Given;
use pgrx::spi::{self, SpiHeapTupleData};

/// A device `d`'s accelerators as four arrays (`acc.vendors`, `acc.models`, `acc.memory`,
/// `acc.counts`, a group per position; NULL for none), as the worker and get_capacity's table
/// path read them.
macro_rules! accelerator_arrays {
    () => {
        " LEFT JOIN LATERAL (
              SELECT pg_catalog.array_agg(a.vendor) AS vendors,
                     pg_catalog.array_agg(a.model) AS models,
                     pg_catalog.array_agg(a.memory_mib) AS memory,
                     pg_catalog.array_agg(a.count) AS counts
                FROM @extschema@.device_accelerators AS a
               WHERE a.device_id OPERATOR(pg_catalog.=) d.id) AS acc ON true"
    };
}
pub(crate) use accelerator_arrays;

/// The groups of `accelerator_arrays!` read from the four columns starting at `first`.
pub fn given_at(row: &SpiHeapTupleData<'_>, first: usize) -> spi::Result<Vec<Given>> {
    let (Some(vendors), Some(models), Some(memory), Some(counts)) = (
        row.get::<Vec<String>>(first)?,
        row.get::<Vec<String>>(first + 1)?,
        row.get::<Vec<i32>>(first + 2)?,
        row.get::<Vec<i32>>(first + 3)?,
    ) else {
        return Ok(Vec::new());
    };
    Ok(vendors
        .iter()
        .zip(models)
        .zip(memory.into_iter().zip(counts))
        .map(|((vendor, model), (memory_mib, count))| Given {
            vendor: Vendor::parse(vendor).unwrap_or(Vendor::Other),
            model,
            memory_mib,
            count,
        })
        .collect())
}
