//! What register_device must know before it writes: the owner's devices, read straight from
//! the `(user_id, device_name)` index under the owner's lock.
//!
//! As part of the insert (`INSERT ... SELECT ... HAVING count(*) < limit`) this check cost
//! about a tenth of a registration, nearly all of it setting up and running an aggregate over
//! a subquery; the index scan alone costs a few microseconds.

use crate::errors::{missing_object, serialization_failure};
use crate::spi::catalog;
use pgrx::pg_sys;
use pgrx::prelude::*;

const OWNER_NAME_INDEX: &std::ffi::CStr = c"compute_devices_user_id_device_name_key";

/// The owner's devices as a registration finds them.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnerDevices {
    pub count: i64,
    pub has_name: bool,
}

/// The device table, in the extension's schema.
pub fn device_table() -> pg_sys::Oid {
    catalog::extension().table
}

/// Takes the owner's registration lock until the transaction ends: one registration per owner
/// at a time, so two racing new names cannot both pass the device limit. It is
/// pg_advisory_xact_lock(the table's oid, a hash of the owner), called directly rather than as
/// a statement.
pub fn lock(table: pg_sys::Oid, owner: pgrx::Uuid) {
    let owner_key = owner
        .as_bytes()
        .chunks(4)
        .map(|chunk| i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .fold(0, |key, part| key ^ part);
    // SAFETY: the SQL-callable lock function with two int4 arguments, as SQL would call it.
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::pg_advisory_xact_lock_int4,
            &[(table.to_u32() as i32).into_datum(), owner_key.into_datum()],
        );
    }
}

/// How many devices the owner has and whether one is named `name`, counting every committed
/// row. Call it after `lock`, so that any registration of the same owner that held the lock has
/// committed. Under READ COMMITTED the statements that follow see the same rows; under
/// REPEATABLE READ and SERIALIZABLE they see the transaction's snapshot, taken before the lock,
/// so a registration that committed since is a serialization failure (40001) rather than a
/// device past the limit or a duplicate name.
pub fn find(table: pg_sys::Oid, owner: pgrx::Uuid, name: &str) -> OwnerDevices {
    // SAFETY: reads the snapshots PostgreSQL keeps; scan pushes the one it uses.
    unsafe {
        let latest = scan(table, owner, name, pg_sys::GetLatestSnapshot());
        let uses_transaction_snapshot = pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32;
        if uses_transaction_snapshot
            && scan(table, owner, name, pg_sys::GetTransactionSnapshot()) != latest
        {
            serialization_failure(
                "could not serialize access due to a concurrent registration by the same owner",
            )
        }
        latest
    }
}

/// The owner's devices as `snapshot` sees them, read from the `(user_id, device_name)` index.
///
/// # Safety
/// `snapshot` is one of PostgreSQL's current snapshots, valid for this call.
unsafe fn scan(
    table: pg_sys::Oid,
    owner: pgrx::Uuid,
    name: &str,
    snapshot: pg_sys::Snapshot,
) -> OwnerDevices {
    let mut found = OwnerDevices {
        count: 0,
        has_name: false,
    };
    // SAFETY: the relations are opened and closed here (their locks kept to the end of the
    // transaction, as a statement's are); the snapshot is pushed and popped around the scan; the
    // slot and the scan are dropped before returning. An ERROR in between aborts the
    // transaction, whose cleanup releases all of them.
    unsafe {
        let index_oid =
            pg_sys::get_relname_relid(OWNER_NAME_INDEX.as_ptr(), pg_sys::get_rel_namespace(table));
        if index_oid == pg_sys::InvalidOid {
            missing_object("the compute_devices_user_id_device_name_key index")
        }
        let heap = pg_sys::table_open(table, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = pg_sys::index_open(index_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        // The index's second column is device_name: its column number in the table.
        let name_column = (*(*index).rd_index).indkey.values.as_slice(2)[1];
        pg_sys::PushActiveSnapshot(snapshot);

        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            owner.into_datum().expect("a uuid is never null"),
        );
        let scan = pg_sys::index_beginscan(heap, index, pg_sys::GetActiveSnapshot(), 1, 0);
        pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        while pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
            found.count += 1;
            if !found.has_name {
                let mut is_null = false;
                let stored = pg_sys::slot_getattr(slot, name_column.into(), &mut is_null);
                found.has_name = <&str>::from_datum(stored, is_null) == Some(name);
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_endscan(scan);
        pg_sys::PopActiveSnapshot();
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    found
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    const ALICE: &str = "7d0c5e4a-3b1f-4e2a-9c6d-1a2b3c4d5e6f";
    const BOB: &str = "8e1d6f5b-4c2a-4f3b-8d7e-2b3c4d5e6f70";

    fn register_as(owner: &str, name: &str) -> pgrx::Uuid {
        Spi::run(&format!(
            r#"SELECT set_config('request.jwt.claims', '{{"sub":"{owner}"}}', true)"#
        ))
        .unwrap();
        Spi::get_one_with_args::<pgrx::Uuid>(
            "SELECT id FROM register_device($1, 'server', 64, 32, 1000)",
            &[name.into()],
        )
        .unwrap()
        .unwrap()
    }

    fn find_for(owner: &str, name: &str) -> (i64, bool) {
        let owner = Spi::get_one::<pgrx::Uuid>(&format!("SELECT '{owner}'::uuid"))
            .unwrap()
            .unwrap();
        let found = find(device_table(), owner, name);
        (found.count, found.has_name)
    }

    #[pg_test]
    fn test_find_counts_the_owners_visible_devices_and_sees_the_name() {
        assert_eq!(find_for(ALICE, "a"), (0, false));
        let first = register_as(ALICE, "a");
        register_as(ALICE, "b");
        register_as(BOB, "a");
        assert_eq!(find_for(ALICE, "a"), (2, true));
        assert_eq!(find_for(ALICE, "c"), (2, false));
        assert_eq!(find_for(BOB, "b"), (1, false));

        // Registering a name again in the same transaction finds the row the first call made.
        assert_eq!(register_as(ALICE, "a"), first);
        assert_eq!(find_for(ALICE, "a"), (2, true));

        // A removed row no longer counts.
        Spi::run_with_args("DELETE FROM compute_devices WHERE id = $1", &[first.into()]).unwrap();
        assert_eq!(find_for(ALICE, "a"), (1, false));
    }
}
