//! A shared-memory index from device id to owner and slot, so that a heartbeat needs no table
//! lookup: PostgreSQL's own partitioned shared hash table (pgrx 0.18 has none), one LWLock per
//! partition. It is filled with the slots (at commit, and by the worker's rebuild) and is only
//! ever a shortcut: a device it does not know takes the table lookup, which is the authority.

use pgrx::pg_sys;
use std::ffi::c_void;

const PARTITIONS: usize = 16;
const TRANCHE: &std::ffi::CStr = c"compute_devices device index";

#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    device_id: [u8; 16], // the hash key: must come first
    owner: [u8; 16],
    slot: u32,
}

static mut TABLE: *mut pg_sys::HTAB = std::ptr::null_mut();
static mut LOCKS: *mut pg_sys::LWLockPadded = std::ptr::null_mut();

/// Asks for the partition locks. Call from shmem_request_hook.
pub unsafe fn request_locks() {
    unsafe { pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), PARTITIONS as i32) };
}

/// The shared memory the index takes for `capacity` devices.
pub fn bytes(capacity: u32) -> usize {
    // SAFETY: pure arithmetic on the table's sizes.
    unsafe { pg_sys::hash_estimate_size(capacity.into(), std::mem::size_of::<Entry>()) }
}

/// Creates or attaches the index. Call from shmem_startup_hook, holding AddinShmemInitLock.
pub unsafe fn attach(capacity: u32) {
    unsafe {
        let mut info: pg_sys::HASHCTL = std::mem::zeroed();
        info.keysize = 16;
        info.entrysize = std::mem::size_of::<Entry>();
        info.num_partitions = PARTITIONS as i64;
        TABLE = pg_sys::ShmemInitHash(
            c"compute_devices device index".as_ptr(),
            capacity.into(),
            capacity.into(),
            &mut info,
            (pg_sys::HASH_ELEM | pg_sys::HASH_BLOBS | pg_sys::HASH_PARTITION) as i32,
        );
        LOCKS = pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr());
    }
}

/// Runs `work` on the entry's partition, locked in `mode`.
fn with_partition<R>(
    device_id: &[u8; 16],
    mode: pg_sys::LWLockMode::Type,
    work: impl FnOnce(*mut pg_sys::HTAB, u32) -> R,
) -> Option<R> {
    // SAFETY: TABLE and LOCKS are set in the postmaster before backends fork, or stay null
    // when the library was not preloaded. `work` only calls dynahash, which does not error
    // for HASH_FIND, HASH_REMOVE or HASH_ENTER_NULL, so the lock is always released.
    unsafe {
        if TABLE.is_null() {
            return None;
        }
        let hash = pg_sys::get_hash_value(TABLE, device_id.as_ptr().cast());
        let lock = &raw mut (*LOCKS.add(hash as usize % PARTITIONS)).lock;
        pg_sys::LWLockAcquire(lock, mode);
        let result = work(TABLE, hash);
        pg_sys::LWLockRelease(lock);
        Some(result)
    }
}

/// The slot of this owner's device, if the index knows it.
pub fn slot_of(device_id: &[u8; 16], owner: &[u8; 16]) -> Option<u32> {
    with_partition(device_id, pg_sys::LWLockMode::LW_SHARED, |table, hash| {
        let action = pg_sys::HASHACTION::HASH_FIND;
        // SAFETY: a lookup under the partition's shared lock; the entry is copied out.
        let entry = unsafe { search(table, device_id, hash, action) };
        entry
            .filter(|entry| &entry.owner == owner)
            .map(|entry| entry.slot)
    })
    .flatten()
}

/// Records a device. When the index is full it is left out, and takes the table lookup.
pub fn insert(device_id: &[u8; 16], owner: &[u8; 16], slot: u32) {
    with_partition(
        device_id,
        pg_sys::LWLockMode::LW_EXCLUSIVE,
        |table, hash| {
            let mut found = false;
            // SAFETY: under the partition's exclusive lock; HASH_ENTER_NULL returns null when full.
            unsafe {
                let entry: *mut Entry = pg_sys::hash_search_with_hash_value(
                    table,
                    device_id.as_ptr().cast(),
                    hash,
                    pg_sys::HASHACTION::HASH_ENTER_NULL,
                    &mut found,
                )
                .cast();
                if let Some(entry) = entry.as_mut() {
                    entry.owner = *owner;
                    entry.slot = slot;
                }
            }
        },
    );
}

pub fn remove(device_id: &[u8; 16]) {
    with_partition(
        device_id,
        pg_sys::LWLockMode::LW_EXCLUSIVE,
        |table, hash| {
            // SAFETY: under the partition's exclusive lock.
            unsafe { search(table, device_id, hash, pg_sys::HASHACTION::HASH_REMOVE) };
        },
    );
}

/// Empties the index (the table was truncated, dropped or recreated).
pub fn clear() {
    // SAFETY: every partition lock is held, in order, while the entries are removed.
    unsafe {
        if TABLE.is_null() {
            return;
        }
        for partition in 0..PARTITIONS {
            let lock = &raw mut (*LOCKS.add(partition)).lock;
            pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        }
        let mut status: pg_sys::HASH_SEQ_STATUS = std::mem::zeroed();
        pg_sys::hash_seq_init(&mut status, TABLE);
        loop {
            let entry: *mut Entry = pg_sys::hash_seq_search(&mut status).cast();
            let Some(entry) = entry.as_ref() else { break };
            let key = entry.device_id;
            let hash = pg_sys::get_hash_value(TABLE, key.as_ptr().cast());
            search(TABLE, &key, hash, pg_sys::HASHACTION::HASH_REMOVE);
        }
        for partition in (0..PARTITIONS).rev() {
            let lock = &raw mut (*LOCKS.add(partition)).lock;
            pg_sys::LWLockRelease(lock);
        }
    }
}

/// One dynahash call, copying the entry out.
unsafe fn search(
    table: *mut pg_sys::HTAB,
    device_id: &[u8; 16],
    hash: u32,
    action: pg_sys::HASHACTION::Type,
) -> Option<Entry> {
    let mut found = false;
    let key: *const c_void = device_id.as_ptr().cast();
    let entry: *mut Entry =
        unsafe { pg_sys::hash_search_with_hash_value(table, key, hash, action, &mut found) }.cast();
    unsafe { entry.as_ref().copied() }
}
