//! A device's accelerators reach its shared-memory slot as one inventory number
//! (inventories.rs), written when the transaction that changed them commits, as the device
//! row's own changes are (slot_writes.rs).
//!
//! Row triggers on device_accelerators note which devices changed; the statement trigger then
//! reads those devices' accelerators whole (as the table now holds them, after the statement)
//! and queues them for the device's slot, where the commit interns them. Reading them whole, rather than
//! applying each row's change, keeps one rule for every kind of write: register_device's
//! replacement, a DBA's UPDATE, a cascade from a deleted device (which leaves nothing to write).
//! TRUNCATE empties every slot's inventory. Writes around the triggers are found by the
//! worker's comparisons (reconcile.rs), which read the same way.

use crate::accelerators::vendor::Vendor;
use crate::errors::internal_error;
use crate::shared_memory::inventories::Given;
use crate::shared_memory::slot_writes;
use crate::shared_memory::slots;
use crate::spi::catalog;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeSet;

thread_local! {
    /// Devices whose accelerators the running statement changed.
    static CHANGED: RefCell<BTreeSet<pgrx::Uuid>> = const { RefCell::new(BTreeSet::new()) };
}

/// The accelerators of the devices $1, with each device's slot, one row per group (a device
/// without any: one row of NULLs).
const INVENTORIES: &str = "
    SELECT d.slot, a.vendor, a.model, a.memory_mib, a.count
      FROM @extschema@.compute_devices AS d
      LEFT JOIN @extschema@.device_accelerators AS a
             ON a.device_id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.uuid[])";

const EVERY_SLOT: &str = "SELECT d.slot FROM @extschema@.compute_devices AS d";

/// AFTER INSERT OR UPDATE OR DELETE, per row and per statement, and AFTER TRUNCATE (see
/// sql/trigger.sql).
#[pg_trigger]
fn accelerator_slots<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, pgrx::datum::TryFromDatumError> {
    // Only where shared memory serves this database: elsewhere the worker's rebuild reads the
    // table when it starts serving it.
    if slots::shared().is_none() {
        return Ok(None);
    }
    if matches!(trigger.level(), PgTriggerLevel::Row) {
        for row in [trigger.old(), trigger.new()].into_iter().flatten() {
            if let Some(device) = row.get_by_name::<pgrx::Uuid>("device_id")? {
                CHANGED.with_borrow_mut(|changed| changed.insert(device));
            }
        }
    } else if matches!(trigger.op(), Ok(PgTriggerOperation::Truncate)) {
        emptied_all();
    } else {
        let changed: Vec<pgrx::Uuid> = CHANGED.take().into_iter().collect();
        if !changed.is_empty() {
            queue_inventories(changed);
        }
    }
    Ok(None)
}

/// Reads the devices' accelerators and queues them for each device's slot.
fn queue_inventories(devices: Vec<pgrx::Uuid>) {
    let rows = Spi::connect(|client| {
        client
            .select(&*catalog::statement(INVENTORIES), None, &[devices.into()])?
            .map(|row| {
                let group = match row.get::<String>(2)? {
                    Some(vendor) => Some(Given {
                        vendor: Vendor::parse(&vendor).unwrap_or(Vendor::Other),
                        model: row.get::<String>(3)?.unwrap_or_default(),
                        memory_mib: row.get::<i32>(4)?.unwrap_or(0),
                        count: row.get::<i32>(5)?.unwrap_or(0),
                    }),
                    None => None,
                };
                Ok((row.get::<i32>(1)?.unwrap_or(-1), group))
            })
            .collect::<pgrx::spi::Result<Vec<_>>>()
    })
    .unwrap_or_else(internal_error);
    let mut by_slot: std::collections::BTreeMap<i32, Vec<Given>> = Default::default();
    for (slot, group) in rows {
        let groups = by_slot.entry(slot).or_default();
        groups.extend(group);
    }
    for (slot, groups) in by_slot {
        let Ok(slot) = u32::try_from(slot) else {
            continue;
        };
        slot_writes::inventory_written(slot, groups);
    }
}

/// TRUNCATE device_accelerators: no device has any.
fn emptied_all() {
    let slots = Spi::connect(|client| {
        client
            .select(&*catalog::statement(EVERY_SLOT), None, &[])?
            .map(|row| row.get::<i32>(1))
            .collect::<pgrx::spi::Result<Vec<_>>>()
    })
    .unwrap_or_else(internal_error);
    for slot in slots.into_iter().flatten() {
        if let Ok(slot) = u32::try_from(slot) {
            slot_writes::inventory_written(slot, Vec::new());
        }
    }
}
