//! liveness_status(): which path this database is on, and what shared memory holds. For DBAs
//! (and the tests, which wait for the shared-memory path before they start).

use crate::shared_memory::{published, slots};
use pgrx::prelude::*;

/// One row: `path` is 'shared memory' when heartbeats go to slots served by the worker;
/// 'published totals' where the stats read the totals the worker published instead (a standby,
/// or a primary whose slots are not rebuilt yet), while those are younger than the active
/// window; otherwise 'table'. `snapshot_taken_at` is when the totals the stats read were
/// counted: shared memory's snapshot, or else the published row's (if there is one); and
/// `snapshot_age_seconds` is how long ago that was. `in_recovery`: this server is a standby.
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
        name!(in_recovery, bool),
        name!(snapshot_age_seconds, Option<f64>),
    ),
> {
    let attached = slots::attached();
    let served = slots::shared().filter(slots::Shared::is_ready);
    let published = served
        .is_none()
        .then(|| published::stands_in().then(published::read))
        .flatten()
        .flatten();
    let (path, taken_at) = match (served, &published) {
        (Some(shared), _) => (
            "shared memory",
            shared.snapshot().map(|snapshot| snapshot.taken_at),
        ),
        (None, Some(row)) => (
            if row.fresh {
                "published totals"
            } else {
                "table"
            },
            Some(row.taken_at.into_inner()),
        ),
        (None, None) => ("table", None),
    };
    // SAFETY: a plain read of the recovery state, and of the clock.
    let (in_recovery, now) =
        unsafe { (pg_sys::RecoveryInProgress(), pg_sys::GetCurrentTimestamp()) };
    let slots = attached.map_or(0, |shared| i64::from(shared.capacity()));
    let row = (
        path.to_string(),
        slots,
        served.map_or(0, |shared| i64::from(shared.high_water())),
        attached.map_or(0, |shared| slots::total_bytes(shared.capacity()) as i64),
        taken_at.and_then(|at| TimestampWithTimeZone::try_from(at).ok()),
        in_recovery,
        taken_at.map(|at| (now - at) as f64 / 1_000_000.0),
    );
    TableIterator::once(row)
}
