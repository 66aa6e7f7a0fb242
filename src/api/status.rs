//! liveness_status(): which path this database is on, and what shared memory holds. For DBAs
//! (and the tests, which wait for the shared-memory path before they start).

use crate::shared_memory::slots;
use pgrx::prelude::*;

/// One row: `path` is 'shared memory' when heartbeats go to slots served by the worker,
/// otherwise 'table'.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn liveness_status() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(slots, i64),
        name!(slots_used, i64),
        name!(shared_memory_bytes, i64),
        name!(snapshot_taken_at, Option<TimestampWithTimeZone>),
    ),
> {
    let attached = slots::attached();
    let served = slots::shared().filter(slots::Shared::is_ready);
    let path = if served.is_some() {
        "shared memory"
    } else {
        "table"
    };
    let slots = attached.map_or(0, |shared| i64::from(shared.capacity()));
    let row = (
        path.to_string(),
        slots,
        served.map_or(0, |shared| i64::from(shared.high_water())),
        attached.map_or(0, |shared| slots::total_bytes(shared.capacity()) as i64),
        served
            .and_then(|shared| shared.snapshot())
            .and_then(|snapshot| TimestampWithTimeZone::try_from(snapshot.taken_at).ok()),
    );
    TableIterator::once(row)
}
