//! A shared-memory index from device id to owner and slot, so that a heartbeat needs no table
//! lookup: PostgreSQL's own partitioned shared hash table (pgrx 0.18 has none), one LWLock per
//! partition. It is filled with the slots (at commit, and by the worker's comparisons with the
//! table) and is only ever a shortcut: a device it does not know takes the table lookup, which
//! is the authority. An entry it does know must be right, since a heartbeat trusts it: the
//! worker removes entries the table no longer has (reconcile.rs).

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

/// Asks for the partition locks.
///
/// # Safety
/// Only from shmem_request_hook, in the postmaster, where tranches may be requested.
pub unsafe fn request_locks() {
    // SAFETY: a static C string and a count, in the hook the caller vouches for.
    unsafe { pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), PARTITIONS as i32) };
}

/// The shared memory the index takes for `capacity` devices.
pub fn bytes(capacity: u32) -> usize {
    // SAFETY: pure arithmetic on the table's sizes.
    unsafe { pg_sys::hash_estimate_size(capacity.into(), std::mem::size_of::<Entry>()) }
}

/// Creates or attaches the index.
///
/// # Safety
/// Only from shmem_startup_hook, holding AddinShmemInitLock, after request_locks asked for the
/// tranche and the space was requested (slots::request_space).
pub unsafe fn attach(capacity: u32) {
    // SAFETY: HASHCTL is a plain C struct for which all zeros is "no options"; ShmemInitHash and
    // GetNamedLWLockTranche run where the caller vouches they may, and TABLE and LOCKS are
    // written only here, in the postmaster, before any backend that reads them forks.
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
    // for HASH_FIND, HASH_REMOVE or HASH_ENTER_NULL, and reads a slot's version (`still`), so
    // the lock is always released.
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
    insert_if(device_id, owner, slot, || true);
}

/// Records a device if `still()` holds when checked under the entry's partition lock, so any
/// change to the entry made after `still()` would have turned false comes after this one.
/// Says whether it was recorded.
pub fn insert_if(
    device_id: &[u8; 16],
    owner: &[u8; 16],
    slot: u32,
    still: impl FnOnce() -> bool,
) -> bool {
    with_partition(
        device_id,
        pg_sys::LWLockMode::LW_EXCLUSIVE,
        |table, hash| {
            if !still() {
                return false;
            }
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
                entry.as_mut().map(|entry| {
                    entry.owner = *owner;
                    entry.slot = slot;
                })
            }
            .is_some()
        },
    )
    .unwrap_or(false)
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

/// Removes the device's entry if it still says (owner, slot) and `still()` holds, both checked
/// under the partition lock as in `insert_if`. Says whether it was removed.
pub fn remove_if(
    device_id: &[u8; 16],
    owner: &[u8; 16],
    slot: u32,
    still: impl FnOnce() -> bool,
) -> bool {
    with_partition(
        device_id,
        pg_sys::LWLockMode::LW_EXCLUSIVE,
        |table, hash| {
            // SAFETY: under the partition's exclusive lock.
            let entry = unsafe { search(table, device_id, hash, pg_sys::HASHACTION::HASH_FIND) };
            let same = entry.is_some_and(|entry| entry.owner == *owner && entry.slot == slot);
            if !same || !still() {
                return false;
            }
            // SAFETY: as above.
            unsafe { search(table, device_id, hash, pg_sys::HASHACTION::HASH_REMOVE) };
            true
        },
    )
    .unwrap_or(false)
}

/// Visits every entry (device id, owner, slot), with every partition locked shared: heartbeats
/// go on, index changes wait. `visit` must not use the index.
pub fn for_each(mut visit: impl FnMut(&[u8; 16], &[u8; 16], u32)) {
    scan(pg_sys::LWLockMode::LW_SHARED, |_, entry| {
        visit(&entry.device_id, &entry.owner, entry.slot)
    });
}

/// Empties the index (the table was truncated, dropped or recreated).
pub fn clear() {
    scan(pg_sys::LWLockMode::LW_EXCLUSIVE, |table, entry| {
        let key = entry.device_id;
        // SAFETY: under every partition's exclusive lock; dynahash allows removing the entry a
        // sequential scan just returned.
        unsafe {
            let hash = pg_sys::get_hash_value(table, key.as_ptr().cast());
            search(table, &key, hash, pg_sys::HASHACTION::HASH_REMOVE);
        }
    });
}

/// A sequential scan of every entry, holding every partition lock in `mode`, taken in order.
fn scan(mode: pg_sys::LWLockMode::Type, mut visit: impl FnMut(*mut pg_sys::HTAB, &Entry)) {
    // SAFETY: TABLE and LOCKS as in with_partition; every partition lock is held while the scan
    // runs, and `visit` only calls dynahash (which does not error for HASH_REMOVE).
    unsafe {
        if TABLE.is_null() {
            return;
        }
        for partition in 0..PARTITIONS {
            let lock = &raw mut (*LOCKS.add(partition)).lock;
            pg_sys::LWLockAcquire(lock, mode);
        }
        let mut status: pg_sys::HASH_SEQ_STATUS = std::mem::zeroed();
        pg_sys::hash_seq_init(&mut status, TABLE);
        loop {
            let entry: *mut Entry = pg_sys::hash_seq_search(&mut status).cast();
            let Some(entry) = entry.as_ref() else { break };
            visit(TABLE, entry);
        }
        for partition in (0..PARTITIONS).rev() {
            let lock = &raw mut (*LOCKS.add(partition)).lock;
            pg_sys::LWLockRelease(lock);
        }
    }
}

/// One dynahash call, copying the entry out.
///
/// # Safety
/// `table` is the index, `hash` the key's hash in it, and the caller holds the key's partition
/// lock: shared for HASH_FIND, exclusive otherwise.
unsafe fn search(
    table: *mut pg_sys::HTAB,
    device_id: &[u8; 16],
    hash: u32,
    action: pg_sys::HASHACTION::Type,
) -> Option<Entry> {
    let mut found = false;
    let key: *const c_void = device_id.as_ptr().cast();
    // SAFETY: as the caller vouches; the key is 16 bytes, the table's keysize.
    let entry: *mut Entry =
        unsafe { pg_sys::hash_search_with_hash_value(table, key, hash, action, &mut found) }.cast();
    // SAFETY: null (not found, or the table is full) or an entry of the table, stable while the
    // partition lock is held; it is copied before the lock is released. A removed entry's memory
    // stays valid until an insert reuses it, which needs the same partition's lock (a key's free
    // list is chosen by its hash, as its partition is).
    unsafe { entry.as_ref().copied() }
}
