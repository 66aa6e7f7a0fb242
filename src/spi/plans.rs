//! Statements planned once per session. Parsing and planning a short statement costs more
//! than running it, and heartbeats and registrations are short statements.
//!
//! Statements are written with `@extschema@.` before our own objects (see catalog); a plan is
//! kept for the extension's table it was made for.

use crate::spi::catalog;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static PLANS: RefCell<HashMap<&'static str, (pg_sys::Oid, Rc<OwnedPreparedStatement>)>> =
        RefCell::new(HashMap::new());
}

/// Runs a statement that writes, with a plan kept for the session. The argument types are
/// the arguments' own. PostgreSQL replans it by itself when a table it uses changes; a
/// recreated extension gets plans of its own.
pub fn execute<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> spi::Result<SpiTupleTable<'conn>> {
    let plan = kept_plan(client, sql, args, true)?;
    client.update(&*plan, None, args)
}

/// Runs a statement that only reads. Unlike `execute`, it leaves a transaction that has not
/// written without a transaction id, so its commit writes no WAL.
pub fn query<'conn>(
    client: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> spi::Result<SpiTupleTable<'conn>> {
    let plan = kept_plan(client, sql, args, false)?;
    client.select(&*plan, None, args)
}

fn kept_plan(
    client: &SpiClient<'_>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
    writes: bool,
) -> spi::Result<Rc<OwnedPreparedStatement>> {
    let extension = catalog::extension();
    let kept = PLANS.with_borrow(|plans| plans.get(sql).cloned());
    if let Some((_, plan)) = kept.filter(|(table, _)| *table == extension.table) {
        return Ok(plan);
    }
    let text = extension.statement(sql);
    let types: Vec<PgOid> = args.iter().map(|arg| PgOid::from(arg.oid())).collect();
    let prepared = if writes {
        client.prepare_mut(&*text, &types)?
    } else {
        client.prepare(&*text, &types)?
    };
    let plan = Rc::new(prepared.keep());
    PLANS.with_borrow_mut(|plans| plans.insert(sql, (extension.table, Rc::clone(&plan))));
    Ok(plan)
}
