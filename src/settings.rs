//! The `compute_devices.*` settings (GUCs).
//!
//! Limits and windows are SUSET: the API functions run as the extension owner but read these
//! in the caller's session, so a caller must not be able to loosen them with SET.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{CStr, CString};
use std::time::Duration;

pub static ACTIVE_WINDOW: GucSetting<i32> = GucSetting::<i32>::new(300);
pub static HEARTBEAT_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(90);
pub static SWEEP_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static MAX_RAM_GB: GucSetting<i32> = GucSetting::<i32>::new(65_536);
pub static MAX_CPU_CORES: GucSetting<i32> = GucSetting::<i32>::new(8_192);
pub static MAX_STORAGE_GB: GucSetting<i32> = GucSetting::<i32>::new(10_000_000);
pub static MAX_DEVICES_PER_USER: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static MAX_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static LAST_SEEN_FLUSH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(600);
pub static RECONCILE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(300);
pub static SLOTS: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);
pub static MAX_ACCELERATOR_GROUPS: GucSetting<i32> = GucSetting::<i32>::new(8);
pub static MAX_ACCELERATOR_COUNT: GucSetting<i32> = GucSetting::<i32>::new(64);
pub static MAX_ACCELERATORS: GucSetting<i32> = GucSetting::<i32>::new(128);
pub static MAX_ACCELERATOR_MEMORY_MIB: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);
pub static MAX_PRODUCT_NAME_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(128);
pub static ACCELERATOR_INVENTORIES: GucSetting<i32> = GucSetting::<i32>::new(65_536);
pub static HISTORY_RETENTION: GucSetting<i32> = GucSetting::<i32>::new(30 * ONE_DAY_SECONDS);
pub static HISTORY_RETENTION_HOURS: GucSetting<i32> = GucSetting::<i32>::new(400 * ONE_DAY_SECONDS);
pub static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));

const ONE_DAY_SECONDS: i32 = 86_400;
const MIN_HISTORY_RETENTION_SECONDS: i32 = 7 * ONE_DAY_SECONDS;
const MAX_HISTORY_RETENTION_SECONDS: i32 = 3_650 * ONE_DAY_SECONDS;

pub fn register() {
    GucRegistry::define_int_guc(
        c"compute_devices.active_window",
        c"How long after its last heartbeat a device still counts as active.",
        c"A device is active when is_active is true and last_seen is within this window.",
        &ACTIVE_WINDOW,
        1,
        ONE_DAY_SECONDS,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"compute_devices.heartbeat_interval",
        c"How often a device should send a heartbeat.",
        c"send_heartbeat returns it as next_heartbeat_in_seconds. Keep it well under active_window.",
        &HEARTBEAT_INTERVAL,
        1,
        ONE_DAY_SECONDS,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"compute_devices.sweep_interval",
        c"How often the background worker writes liveness changes (stale, revived) to the table.",
        c"Only used when compute_devices is in shared_preload_libraries.",
        &SWEEP_INTERVAL,
        1,
        ONE_DAY_SECONDS,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"compute_devices.max_ram_gb",
        c"The largest ram_gb a device may register.",
        c"",
        &MAX_RAM_GB,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"compute_devices.max_cpu_cores",
        c"The most cpu_cores a device may register.",
        c"",
        &MAX_CPU_CORES,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"compute_devices.max_storage_gb",
        c"The largest storage_gb a device may register.",
        c"",
        &MAX_STORAGE_GB,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"compute_devices.max_devices_per_user",
        c"How many devices one user may register.",
        c"",
        &MAX_DEVICES_PER_USER,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"compute_devices.max_batch_size",
        c"The most heartbeats one send_heartbeats call may carry.",
        c"",
        &MAX_BATCH_SIZE,
        1,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"compute_devices.last_seen_flush_interval",
        c"How often the worker writes each live device's last heartbeat time to the table.",
        c"Heartbeats live in shared memory; a crash loses at most this (plus sweep_interval) of last_seen.",
        &LAST_SEEN_FLUSH_INTERVAL,
        1,
        ONE_DAY_SECONDS,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"compute_devices.reconcile_interval",
        c"How often the worker compares the whole table with shared memory and corrects it.",
        c"Catches rows updated or deleted without the extension's triggers (session_replication_role = replica, disabled triggers, restores); resync_liveness() does it at once. Only used when compute_devices is in shared_preload_libraries.",
        &RECONCILE_INTERVAL,
        1,
        ONE_DAY_SECONDS,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    register_history_retention();
    register_accelerator_bounds();
    // Server-start settings can only be defined while the postmaster preloads the library,
    // which is also the only time the shared memory and the worker that use them exist.
    // SAFETY: a plain flag the postmaster sets while it loads shared_preload_libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_int_guc(
            c"compute_devices.slots",
            c"How many devices shared memory holds heartbeats for (64 bytes each).",
            c"Every device ever registered in the served database takes one slot.",
            &SLOTS,
            1,
            100_000_000,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_int_guc(
            c"compute_devices.accelerator_inventories",
            c"How many distinct accelerator inventories (and GPU models) shared memory holds.",
            c"Devices with identical accelerators share one entry; about 232 bytes each.",
            &ACCELERATOR_INVENTORIES,
            16,
            16_777_216,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_string_guc(
            c"compute_devices.database",
            c"The database whose devices shared memory and the background worker serve.",
            c"Only used when compute_devices is in shared_preload_libraries.",
            &DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    // Reject misspelled compute_devices.* settings instead of keeping them as placeholders.
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    // SAFETY: a static C string, passed while _PG_init defines our settings, as
    // DefineCustom*Variable callers do.
    unsafe {
        pgrx::pg_sys::MarkGUCPrefixReserved(c"compute_devices".as_ptr());
    }
}

/// How long record_network_history() keeps history: minute rows (and closed online intervals)
/// for history_retention, hourly rows (and unknown periods) for history_retention_hours. At
/// least 7 days, which uptime_7d reads of the intervals; at most 10 years.
fn register_history_retention() {
    GucRegistry::define_int_guc(
        c"compute_devices.history_retention",
        c"How long minute history rows and closed online intervals are kept.",
        c"record_network_history() prunes older ones. At least 7 days: uptime_7d reads that much of the intervals.",
        &HISTORY_RETENTION,
        MIN_HISTORY_RETENTION_SECONDS,
        MAX_HISTORY_RETENTION_SECONDS,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"compute_devices.history_retention_hours",
        c"How long hourly history rows and unknown periods are kept.",
        c"record_network_history() prunes older ones.",
        &HISTORY_RETENTION_HOURS,
        MIN_HISTORY_RETENTION_SECONDS,
        MAX_HISTORY_RETENTION_SECONDS,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
}

/// What register_device accepts in `accelerators`. The groups' upper limit is what a
/// shared-memory inventory holds (inventories.rs).
fn register_accelerator_bounds() {
    let bounds: [(
        &'static CStr,
        &'static CStr,
        &'static GucSetting<i32>,
        i32,
        i32,
    ); 5] = [
        (
            c"compute_devices.max_accelerator_groups",
            c"The most groups of identical accelerators a device may register.",
            &MAX_ACCELERATOR_GROUPS,
            0,
            crate::shared_memory::inventories::MAX_GROUPS as i32,
        ),
        (
            c"compute_devices.max_accelerator_count",
            c"The most accelerators one group (of identical ones) may count.",
            &MAX_ACCELERATOR_COUNT,
            1,
            4_096,
        ),
        (
            c"compute_devices.max_accelerators",
            c"The most accelerators a device may register, over all its groups.",
            &MAX_ACCELERATORS,
            0,
            65_535,
        ),
        (
            c"compute_devices.max_accelerator_memory_mib",
            c"The most memory (MiB) one accelerator may register.",
            &MAX_ACCELERATOR_MEMORY_MIB,
            0,
            i32::MAX,
        ),
        (
            c"compute_devices.max_product_name_length",
            c"The longest accelerator product_name, in characters.",
            &MAX_PRODUCT_NAME_LENGTH,
            1,
            1_024,
        ),
    ];
    for (name, description, setting, min, max) in bounds {
        GucRegistry::define_int_guc(
            name,
            description,
            c"",
            setting,
            min,
            max,
            GucContext::Suset,
            GucFlags::default(),
        );
    }
}

pub fn active_window_seconds() -> f64 {
    f64::from(ACTIVE_WINDOW.get())
}

pub fn heartbeat_interval_seconds() -> i32 {
    HEARTBEAT_INTERVAL.get()
}

pub fn slot_capacity() -> u32 {
    SLOTS.get().unsigned_abs()
}

pub fn last_seen_flush_interval() -> Duration {
    Duration::from_secs(LAST_SEEN_FLUSH_INTERVAL.get().unsigned_abs().into())
}

pub fn active_window_micros() -> i64 {
    i64::from(ACTIVE_WINDOW.get()) * 1_000_000
}

pub fn sweep_interval() -> Duration {
    Duration::from_secs(SWEEP_INTERVAL.get().unsigned_abs().into())
}

pub fn reconcile_interval() -> Duration {
    Duration::from_secs(RECONCILE_INTERVAL.get().unsigned_abs().into())
}

pub fn worker_database() -> String {
    DATABASE
        .get()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "postgres".to_string())
}

/// compute_devices.history_retention, in seconds.
pub fn history_retention_seconds() -> i64 {
    i64::from(HISTORY_RETENTION.get())
}

/// compute_devices.history_retention_hours, in seconds.
pub fn history_retention_hours_seconds() -> i64 {
    i64::from(HISTORY_RETENTION_HOURS.get())
}
