//! device_health(): one device's health columns, for the view `compute_devices_live` (and so
//! get_user_devices and the rows register_device and deactivate_device return).
//!
//! The view runs as its caller, so anyone who reads it can call this with any values. As
//! current_liveness does, it answers only a caller who may read that device's row: one with
//! SELECT on the table whom row-level security does not restrict (a superuser, the table's
//! owner, a SECURITY DEFINER function of ours), or whom the policy shows this owner's rows (the
//! claims name this owner) and the device is this owner's. Anyone else gets NULLs. The spells
//! themselves are read as the table's owner (nobody else may read them), for the statement's
//! duration only, as a SECURITY DEFINER function would.
//!
//! The view asks for each of the four columns separately, so the answer for the last device is
//! kept for the rest of the statement: one query per device and statement, not four, with a
//! plan kept for the session.

use crate::api::auth;
use crate::errors::{internal_error, internal_failure};
use crate::spi::{catalog, plans};
use pgrx::prelude::*;
use pgrx::Uuid;
use std::cell::RefCell;

/// The health of device $1 created at $2, when $3 is false or the device is owner $4's.
const HEALTH: &str = concat!(
    "SELECT h.uptime_1d, h.uptime_7d, h.flaps_24h, h.health_score FROM ",
    health_of!(
        "SELECT $1::pg_catalog.uuid AS id, $2::pg_catalog.timestamptz AS created_at
          WHERE NOT $3::pg_catalog.bool
             OR EXISTS (SELECT FROM @extschema@.compute_devices AS d
                         WHERE d.id OPERATOR(pg_catalog.=) $1::pg_catalog.uuid
                           AND d.user_id OPERATOR(pg_catalog.=) $4::pg_catalog.uuid)"
    ),
    " AS h"
);

const OWNER: &str = "SELECT c.relowner FROM pg_catalog.pg_class AS c
                      WHERE c.oid OPERATOR(pg_catalog.=) $1";

type Columns = (
    Option<AnyNumeric>,
    Option<AnyNumeric>,
    Option<i32>,
    Option<AnyNumeric>,
);

/// What one answer holds for: the device, the caller, and the statement (its snapshot).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    device_id: [u8; 16],
    owner: [u8; 16],
    created_at: i64,
    user: u32,
    transaction_start: i64,
    statement_start: i64,
    command: u32,
}

thread_local! {
    static LAST: RefCell<Option<(Key, Option<Columns>)>> = const { RefCell::new(None) };
    /// The extension table's oid and owner.
    static TABLE_OWNER: RefCell<Option<(pg_sys::Oid, pg_sys::Oid)>> = const { RefCell::new(None) };
}

/// A device's `uptime_1d, uptime_7d, flaps_24h, health_score` as they are now (see
/// src/health/mod.rs), or NULLs for a caller who may not read the device. STABLE, only reads.
#[pg_extern(stable)]
#[search_path(pg_catalog, pg_temp)]
fn device_health(
    device_id: Option<Uuid>,
    user_id: Option<Uuid>,
    created_at: Option<TimestampWithTimeZone>,
) -> Option<pgrx::composite_type!('static, "device_health")> {
    let (device_id, owner, created_at) = (device_id?, user_id?, created_at?);
    let table = catalog::extension().table;
    // SAFETY: catalog lookups by oid that report through their result (check_enable_rls with
    // noError, an ACL check of a table that exists), and reads of this backend's state.
    let (row_security, may_select, key) = unsafe {
        let user = pg_sys::GetUserId();
        let key = Key {
            device_id: *device_id.as_bytes(),
            owner: *owner.as_bytes(),
            created_at: created_at.into_inner(),
            user: user.to_u32(),
            transaction_start: pg_sys::GetCurrentTransactionStartTimestamp(),
            statement_start: pg_sys::GetCurrentStatementStartTimestamp(),
            command: pg_sys::GetCurrentCommandId(false),
        };
        (
            pg_sys::check_enable_rls(table, pg_sys::InvalidOid, true),
            pg_sys::pg_class_aclcheck(table, user, pg_sys::ACL_SELECT),
            key,
        )
    };
    if may_select != pg_sys::AclResult::ACLCHECK_OK {
        return None;
    }
    let restricted = row_security == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32;
    if restricted && !auth::caller_id().is_ok_and(|caller| caller == owner) {
        return None;
    }
    let cached = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(last_key, _)| *last_key == key)
            .map(|(_, columns)| columns.clone())
    });
    let columns = match cached {
        Some(columns) => columns,
        None => {
            let columns = as_table_owner(table, || {
                Spi::connect(|client| {
                    let rows = plans::query(
                        client,
                        HEALTH,
                        &[
                            device_id.into(),
                            created_at.into(),
                            restricted.into(),
                            owner.into(),
                        ],
                    )?;
                    let mut found = None;
                    for row in rows {
                        found = Some((
                            row.get::<AnyNumeric>(1)?,
                            row.get::<AnyNumeric>(2)?,
                            row.get::<i32>(3)?,
                            row.get::<AnyNumeric>(4)?,
                        ));
                    }
                    Ok::<_, pgrx::spi::Error>(found)
                })
                .unwrap_or_else(internal_error)
            });
            LAST.with_borrow_mut(|last| *last = Some((key, columns.clone())));
            columns
        }
    };
    let (uptime_1d, uptime_7d, flaps_24h, health_score) = columns?;
    let row = || -> Result<_, Box<dyn std::error::Error>> {
        let mut row = PgHeapTuple::new_composite_type_by_oid(catalog::type_oid(c"device_health"))?;
        row.set_by_index(1.try_into()?, uptime_1d)?;
        row.set_by_index(2.try_into()?, uptime_7d)?;
        row.set_by_index(3.try_into()?, flaps_24h)?;
        row.set_by_index(4.try_into()?, health_score)?;
        Ok(row)
    };
    Some(row().unwrap_or_else(|e| internal_failure("device_health", e)))
}

/// Runs `work` as the owner of the extension's table (what a SECURITY DEFINER function of the
/// extension runs as), with SET ROLE and SET SESSION AUTHORIZATION refused meanwhile, and puts
/// the caller back after, also when `work` raises (an abort would put it back too).
fn as_table_owner<R>(table: pg_sys::Oid, work: impl FnOnce() -> R) -> R {
    let owner = table_owner(table);
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    // SAFETY: reads and sets this backend's current user and security context, as
    // fmgr_security_definer does around a SECURITY DEFINER function; restored below, and by
    // the transaction's (or subtransaction's) abort if an error escapes.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    PgTryBuilder::new(std::panic::AssertUnwindSafe(work))
        // SAFETY: as above: the caller's own user and context again.
        .finally(|| unsafe { pg_sys::SetUserIdAndSecContext(user, context) })
        .execute()
}

/// The owner of the extension's table, read once a backend (per table).
fn table_owner(table: pg_sys::Oid) -> pg_sys::Oid {
    if let Some((known, owner)) = TABLE_OWNER.with_borrow(|cached| *cached) {
        if known == table {
            return owner;
        }
    }
    // A read (Spi::get_one_with_args would take a transaction id, as any write does): the view
    // is read on standbys and in read-only transactions.
    let owner = Spi::connect(|client| {
        let rows = client.select(OWNER, Some(1), &[table.into()])?;
        crate::spi::rows::only_row::<pg_sys::Oid>(rows)
    })
    .unwrap_or_else(internal_error)
    .unwrap_or_else(|| internal_failure("device_health", "the table has no owner"));
    TABLE_OWNER.with_borrow_mut(|cached| *cached = Some((table, owner)));
    owner
}
