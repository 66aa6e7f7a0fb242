//! get_network_stats: what is online right now, summed. The seed's enterprise endpoint.

use crate::errors::internal_error;
use crate::liveness::is_live;
use crate::settings;
use pgrx::prelude::*;

/// Exactly one row, zeros on an empty network. SECURITY DEFINER because it sums every owner's
/// devices, which no caller may read row by row; it returns only totals.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, @extschema@, pg_temp)]
fn get_network_stats() -> pgrx::composite_type!('static, "network_stats") {
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
