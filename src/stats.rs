//! get_network_stats: what is online right now, summed. The seed's enterprise endpoint.
//!
//! On the shared-memory path it reads the worker's snapshot, so its cost does not grow with
//! the number of devices. If the snapshot is older than MAX_SNAPSHOT_AGE (the worker is late
//! or restarting) or used another active window, it sums the slots itself; before the slots are rebuilt after a start, and on
//! the table path, it sums the table.

use crate::errors::internal_error;
use crate::liveness::{self, is_live};
use crate::score;
use crate::settings;
use crate::shmem::{self, Snapshot, Totals};
use pgrx::prelude::*;

type NetworkStats = pgrx::composite_type!('static, "network_stats");

/// The worker publishes a snapshot every second; an answer is never staler than this.
const MAX_SNAPSHOT_AGE_MICROS: i64 = 2_000_000;

/// Exactly one row, zeros on an empty network. SECURITY DEFINER because it sums every owner's
/// devices, which no caller may read row by row; it returns only totals.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn get_network_stats() -> pgrx::composite_type!('static, "network_stats") {
    match shmem::shared().filter(shmem::Shared::is_ready) {
        Some(shared) => {
            // SAFETY: reads the clock.
            let now = unsafe { pg_sys::GetCurrentTimestamp() };
            let window = settings::active_window_micros();
            let changes = shared.changes();
            let totals = match shared.snapshot() {
                Some(snapshot)
                    if snapshot.changes == changes
                        && now - snapshot.taken_at <= MAX_SNAPSHOT_AGE_MICROS
                        && snapshot.window == window =>
                {
                    snapshot.totals
                }
                // Out of date (a registration, deactivation or revival since), late, or counted
                // with another window than this session's (a superuser may SET it): count now,
                // and let the next caller use this count.
                _ => {
                    let totals = shared.count(liveness::live_after(now), |_, _, _| {});
                    shared.publish(Some(Snapshot {
                        taken_at: now,
                        window,
                        changes,
                        totals,
                    }));
                    totals
                }
            };
            from_totals(&totals)
                .unwrap_or_else(|e| panic!("compute_devices internal error: network_stats: {e}"))
        }
        None => sum_the_table(),
    }
}

fn sum_the_table() -> NetworkStats {
    Spi::get_one_with_args(
        concat!(
            "SELECT ROW(pg_catalog.count(*),
                        COALESCE(pg_catalog.sum(d.ram_gb), 0),
                        COALESCE(pg_catalog.sum(d.cpu_cores), 0),
                        COALESCE(pg_catalog.sum(d.storage_gb), 0),
                        COALESCE(pg_catalog.sum(d.compute_score), 0))::network_stats
               FROM compute_devices AS d
              WHERE ",
            is_live!()
        ),
        &[settings::active_window_seconds().into()],
    )
    .unwrap_or_else(internal_error)
    .expect("an aggregate without GROUP BY returns one row")
}

fn from_totals(totals: &Totals) -> Result<NetworkStats, Box<dyn std::error::Error>> {
    let ram_gb = gb(totals.ram_nano_gb)?;
    let storage_gb = gb(totals.storage_nano_gb)?;
    let cpu_cores = AnyNumeric::from(totals.cpu_cores);
    // SAFETY: a catalog lookup along the search_path this function pinned (cheaper than
    // new_composite_type, which parses the name as SQL).
    let type_oid = unsafe { pg_sys::TypenameGetTypid(c"network_stats".as_ptr()) };
    let mut stats = PgHeapTuple::new_composite_type_by_oid(type_oid)?;
    stats.set_by_index(1.try_into()?, totals.active_nodes)?;
    stats.set_by_index(2.try_into()?, ram_gb.clone())?;
    stats.set_by_index(3.try_into()?, totals.cpu_cores)?;
    stats.set_by_index(4.try_into()?, storage_gb.clone())?;
    let total_score = score::score(ram_gb, cpu_cores, storage_gb);
    stats.set_by_index(5.try_into()?, total_score)?;
    Ok(stats)
}

/// Billionths of a GB as an exact numeric, without trailing zeros.
fn gb(nano_gb: i128) -> Result<AnyNumeric, pgrx::datum::numeric::Error> {
    const PER_GB: i128 = 1_000_000_000;
    let (whole, fraction) = (nano_gb / PER_GB, nano_gb % PER_GB);
    let text = if fraction == 0 {
        whole.to_string()
    } else {
        let digits = format!("{:09}", fraction.abs());
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    AnyNumeric::try_from(text.as_str())
}
