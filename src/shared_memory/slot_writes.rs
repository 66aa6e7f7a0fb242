//! Row changes reach their shared-memory slots only when the transaction commits.
//!
//! Shared memory ignores transactions, so the triggers queue each change here; a commit applies
//! the queue, a rollback (of the transaction, or of the savepoint a change was made under)
//! drops it. The queue is checked against the served database at commit, after the change is
//! visible: either the worker already serves this database and the slot is written, or the
//! worker's rebuild, which reads the table after it starts serving, sees the row.

use crate::device_type::DeviceType;
use crate::errors::{DeviceError, OrRaise};
use crate::intervals;
use crate::settings;
use crate::shared_memory::device_index;
use crate::shared_memory::inventories::{self, Given};
use crate::shared_memory::slots::{self, SlotState, Spec};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::{Cell, RefCell};

enum SlotWrite {
    Device {
        slot: u32,
        state: SlotState,
        spec: Spec,
        beat: Option<i64>,
        device_id: [u8; 16],
        owner: [u8; 16],
        /// The id the row had before this update, when it changed.
        previous_id: Option<[u8; 16]>,
    },
    Forget {
        slot: u32,
        device_id: [u8; 16],
    },
    ForgetAll,
    /// The device's accelerators changed (accelerator_slots.rs): interned at commit.
    Inventory {
        slot: u32,
        groups: Vec<Given>,
    },
}

struct Queued {
    subtransaction: pg_sys::SubTransactionId,
    write: SlotWrite,
}

thread_local! {
    static QUEUE: RefCell<Vec<Queued>> = const { RefCell::new(Vec::new()) };
    static CALLBACKS_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// A device row as it will be stored: its slot, once its transaction commits, says the same.
pub struct DeviceRow {
    pub device_id: pgrx::Uuid,
    pub owner: pgrx::Uuid,
    pub previous_id: Option<pgrx::Uuid>,
    pub slot: i32,
    pub stopped: bool,
    pub device_type: DeviceType,
    pub is_active: bool,
    pub last_seen: TimestampWithTimeZone,
    pub ram_gb: AnyNumeric,
    pub cpu_cores: i32,
    pub storage_gb: AnyNumeric,
    pub country_code: Option<String>,
    /// An INSERT (not an UPDATE).
    pub inserted: bool,
}

/// Queues the slot write for an inserted or updated row. A slot number past the shared memory
/// sized by `compute_devices.slots` is refused here, before anything is stored.
pub fn device_written(row: DeviceRow) {
    let Some(attached) = slots::attached() else {
        return;
    };
    let slot = u32::try_from(row.slot).unwrap_or(u32::MAX);
    if slots::shared().is_some() && slot >= attached.capacity() {
        Err::<(), _>(DeviceError::SlotsFull {
            capacity: attached.capacity(),
        })
        .or_raise();
    }
    let state = if row.stopped {
        SlotState::Stopped
    } else {
        SlotState::Registered
    };
    // An inactive row is not live until a heartbeat says so, as on the table path.
    let beat = row.is_active.then(|| row.last_seen.into_inner());
    let spec = Spec {
        device_type: row.device_type,
        ram_nano_gb: nano_gb(row.ram_gb),
        cpu_cores: i64::from(row.cpu_cores),
        storage_nano_gb: nano_gb(row.storage_gb),
        country: slots::country_number(row.country_code.as_deref()),
        // A new row's slot has no accelerators until its own trigger says (later in the same
        // transaction); a row written again keeps them, which are not in this row.
        inventory: row.inserted.then_some(0),
    };
    queue(SlotWrite::Device {
        slot,
        state,
        spec,
        beat,
        device_id: *row.device_id.as_bytes(),
        owner: *row.owner.as_bytes(),
        previous_id: row
            .previous_id
            .filter(|previous| previous != &row.device_id)
            .map(|previous| *previous.as_bytes()),
    });
}

/// GB in billionths: exact for what register_device accepts (at most 9 decimals), rounded
/// for finer values written by hand, and saturated (NaN as the most) as the worker's SQL does
/// when it reads rows (reconcile.rs), so both put the same number in the slot.
pub fn nano_gb(gb: AnyNumeric) -> i64 {
    let negative = gb < AnyNumeric::from(0);
    i64::try_from(gb * AnyNumeric::from(1_000_000_000)).unwrap_or(if negative {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// AFTER DELETE (per row) and AFTER TRUNCATE: the slots of removed rows stop counting.
#[pg_trigger]
fn forget_device_slots<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, pgrx::datum::TryFromDatumError> {
    match trigger.old() {
        Some(old) => {
            let slot = old.get_by_name::<i32>("slot")?;
            let device_id = old.get_by_name::<pgrx::Uuid>("id")?;
            if let Some(device_id) = device_id {
                let last_seen = old.get_by_name::<TimestampWithTimeZone>("last_seen")?;
                intervals::deleted(device_id, stale_at(slot, last_seen));
            }
            if slots::attached().is_none() {
                return Ok(None);
            }
            if let (Some(slot), Some(device_id)) = (slot, device_id) {
                queue(SlotWrite::Forget {
                    slot: u32::try_from(slot).unwrap_or(u32::MAX),
                    device_id: *device_id.as_bytes(),
                });
            }
        }
        None => {
            intervals::all_deleted();
            if slots::attached().is_some() {
                queue(SlotWrite::ForgetAll);
            }
        }
    }
    Ok(None)
}

/// When a removed device would have gone stale: its latest heartbeat (its slot's, on the
/// shared-memory path, unless that is the beat presumed at a rebuild; else its row's) plus the
/// active window.
fn stale_at(slot: Option<i32>, last_seen: Option<TimestampWithTimeZone>) -> TimestampWithTimeZone {
    let heard = slots::shared().and_then(|shared| {
        let view = shared.read(u32::try_from(slot?).ok()?)?;
        shared.was_heard(view.last_beat).then_some(view.last_beat)
    });
    let row = last_seen.map(TimestampWithTimeZone::into_inner);
    match heard.max(row) {
        Some(beat) => TimestampWithTimeZone::try_from(beat + settings::active_window_micros())
            .unwrap_or_else(|_| TimestampWithTimeZone::positive_infinity()),
        None => TimestampWithTimeZone::negative_infinity(),
    }
}

/// Queues a device's new accelerators for its slot, at commit.
pub fn inventory_written(slot: u32, groups: Vec<Given>) {
    queue(SlotWrite::Inventory { slot, groups });
}

fn queue(write: SlotWrite) {
    if !CALLBACKS_REGISTERED.replace(true) {
        // SAFETY: registered once per backend; the callbacks only touch this module's queue.
        unsafe {
            pg_sys::RegisterXactCallback(Some(on_transaction_event), std::ptr::null_mut());
            pg_sys::RegisterSubXactCallback(Some(on_subtransaction_event), std::ptr::null_mut());
        }
    }
    // SAFETY: a plain read of the current subtransaction's id.
    let subtransaction = unsafe { pg_sys::GetCurrentSubTransactionId() };
    QUEUE.with_borrow_mut(|queue| {
        queue.push(Queued {
            subtransaction,
            write,
        })
    });
}

/// # Safety
/// Called by PostgreSQL only, as the transaction callback `queue` registers; it touches nothing
/// but this backend's queue and shared memory's own atomics.
#[pg_guard]
unsafe extern "C-unwind" fn on_transaction_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_COMMIT => apply(QUEUE.take()),
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => drop(QUEUE.take()),
        // The slot writes would be lost between PREPARE and COMMIT PREPARED: refuse while the
        // transaction can still be aborted cleanly.
        XACT_EVENT_PRE_PREPARE if QUEUE.with_borrow(|queue| !queue.is_empty()) => {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "cannot PREPARE a transaction that changed compute_devices rows",
                "Commit device changes without two-phase commit."
            );
        }
        _ => {}
    }
}

/// # Safety
/// Called by PostgreSQL only, as the subtransaction callback `queue` registers; it touches
/// nothing but this backend's queue.
#[pg_guard]
unsafe extern "C-unwind" fn on_subtransaction_event(
    event: pg_sys::SubXactEvent::Type,
    subtransaction: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    QUEUE.with_borrow_mut(|queue| match event {
        SUBXACT_EVENT_ABORT_SUB => queue.retain(|queued| queued.subtransaction != subtransaction),
        SUBXACT_EVENT_COMMIT_SUB => queue
            .iter_mut()
            .filter(|queued| queued.subtransaction == subtransaction)
            .for_each(|queued| queued.subtransaction = parent),
        _ => {}
    });
}

/// Each slot is written before its index entries change. The worker corrects index entries
/// only while the slot's version is the one it compared (checked under the entry's partition
/// lock, reconcile.rs), so an entry it adds from an older row is either seen by the removal
/// below, or not added because this write changed the version first.
fn apply(queue: Vec<Queued>) {
    let Some(shared) = slots::shared() else {
        return;
    };
    for Queued { write, .. } in queue {
        match write {
            SlotWrite::Device {
                slot,
                state,
                spec,
                beat,
                device_id,
                owner,
                previous_id,
            } => {
                if let Some(previous_id) = previous_id {
                    // Before the write too, so no heartbeat under the old id reaches the slot.
                    device_index::remove(&previous_id);
                }
                shared.write(slot, state, spec, beat);
                if let Some(previous_id) = previous_id {
                    device_index::remove(&previous_id);
                }
                device_index::insert(&device_id, &owner, slot);
            }
            SlotWrite::Forget { slot, device_id } => {
                shared.write(slot, SlotState::Deleted, Spec::gone(), None);
                device_index::remove(&device_id);
            }
            SlotWrite::ForgetAll => shared.forget_all(),
            SlotWrite::Inventory { slot, groups } => {
                let inventory = inventories::attached().map_or(0, |t| t.intern_or_overflow(groups));
                shared.set_inventory(slot, inventory);
            }
        }
    }
}
