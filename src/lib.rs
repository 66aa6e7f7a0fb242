//! compute_devices: a registry of shared compute devices inside PostgreSQL.
//!
//! Devices register their specs, send heartbeats while shared, and stop. The extension keeps
//! the table, derives each device's compute score, decides liveness, sweeps stale devices in a
//! background worker and sums what is online. PostgREST (or any thin gateway) calls the API
//! functions as RPCs; identity comes from the JWT claims it sets.

use pgrx::prelude::*;

// The API PostgREST calls (one file per concern), and what only register_device needs.
mod api;
// Shared memory: the slots, the device index, the writes committed to them, the worker that keeps
// them in step with the table, and its comparisons with the table.
mod shared_memory;
// The table path: the derived columns and their trigger, and liveness as the table says it.
mod table;
// How our SQL runs: where the extension's objects are, kept plans, set-returning rows.
mod spi;

// Accelerators (vendors, model keys, inventories as registered), the shipped countries, and
// get_capacity's filters and sums.
mod accelerators;
// Health from the spells online: uptime, flaps, the health score, and the reliability
// get_capacity weighs devices by (declared before capacity, which uses its SQL).
mod capacity;
mod countries;
mod health;
// The network's capacity history: recorded once a minute, rolled up by the hour, pruned.
mod history;

// Each device's spells online, as the table path records them (the worker's: shared_memory).
mod intervals;

mod device_type;
mod errors;
mod schema;
mod settings;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
#[allow(non_snake_case)]
pub extern "C-unwind" fn _PG_init() {
    errors::keep_backtraces_from_callers();
    settings::register();
    shared_memory::slots::request_when_preloaded();
    shared_memory::worker::register_when_preloaded();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Lets SQL-level tests (tests/*.rs) start the pgrx test server before they connect.
    #[pg_test]
    fn test_extension_is_installed() {
        let installed = Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'compute_devices')",
        );
        assert_eq!(installed, Ok(Some(true)));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
