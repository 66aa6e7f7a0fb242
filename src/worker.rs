//! The background worker that sweeps stale devices: the seed's "automatic cleanup".
//!
//! It exists only when the library is in shared_preload_libraries. Each tick is one short
//! transaction in `compute_devices.database`; in a database without the extension it does
//! nothing. SIGHUP reloads the settings, SIGTERM stops it, and after a crash the postmaster
//! starts it again.

use crate::liveness;
use crate::settings;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::Duration;

const RESTART_AFTER_CRASH: Duration = Duration::from_secs(10);

pub fn register_when_preloaded() {
    // SAFETY: a plain flag the postmaster sets while it loads shared_preload_libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new("compute_devices sweeper")
        .set_type("compute_devices sweeper")
        .set_library("compute_devices")
        .set_function("compute_devices_sweeper_main")
        .enable_spi_access()
        .set_restart_time(Some(RESTART_AFTER_CRASH))
        .load();
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn compute_devices_sweeper_main(_argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = settings::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("compute_devices sweeper started in database \"{database}\"");

    let mut reported_missing_extension = false;
    while BackgroundWorker::wait_latch(Some(settings::sweep_interval())) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload postgresql.conf after SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let swept = BackgroundWorker::transaction(|| {
            Spi::connect_mut(|client| {
                if !pin_search_path_to_extension(client)? {
                    return Ok(None);
                }
                liveness::sweep(client).map(Some)
            })
        });
        match swept {
            Ok(Some(count)) if count > 0 => {
                debug1!("compute_devices sweeper marked {count} stale devices inactive")
            }
            Ok(Some(_)) => {}
            Ok(None) if !reported_missing_extension => {
                log!("compute_devices sweeper: extension not installed in \"{database}\"; idle");
                reported_missing_extension = true;
            }
            Ok(None) => {}
            Err(error) => warning!("compute_devices sweeper: sweep failed: {error}"),
        }
    }
    log!("compute_devices sweeper stopped");
}

/// Points this transaction's search_path at the extension's schema, wherever it was installed.
/// False when the extension is not installed in this database.
fn pin_search_path_to_extension(client: &mut pgrx::spi::SpiClient<'_>) -> spi::Result<bool> {
    let pinned = client.update(
        "SELECT pg_catalog.set_config('search_path',
                    'pg_catalog, ' || pg_catalog.quote_ident(n.nspname) || ', pg_temp', true)
           FROM pg_catalog.pg_extension AS e
           JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
          WHERE e.extname = 'compute_devices'",
        None,
        &[],
    )?;
    Ok(!pinned.is_empty())
}
