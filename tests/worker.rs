//! The sweeper, with the library preloaded and a one-second sweep_interval: it marks stale
//! devices inactive, idles harmlessly while the extension is missing, and stops on SIGTERM.

mod common;

use common::{eventually, TestDb};
use std::time::Duration;

const PRELOADED: [&str; 3] = [
    "shared_preload_libraries = 'compute_devices'",
    "compute_devices.sweep_interval = '1s'",
    "compute_devices.database = 't_worker'",
];

/// An active device whose last heartbeat was `silent_for` ago (an interval, such as '10 minutes').
fn insert_device(db: &mut TestDb, name: &str, silent_for: &str) -> String {
    db.superuser
        .query_one(
            "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb,
                                          is_active, last_seen)
             VALUES (gen_random_uuid(), $1, 'server', 8, 4, 100, true, now() - $2::text::interval)
             RETURNING id::text",
            &[&name, &silent_for],
        )
        .unwrap()
        .get(0)
}

fn is_active(db: &mut TestDb, id: &str) -> bool {
    db.superuser
        .query_one(
            "SELECT is_active FROM compute_devices WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap()
        .get(0)
}

fn sweeper_pid(db: &mut TestDb) -> Option<i32> {
    db.superuser
        .query_opt(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'compute_devices sweeper'",
            &[],
        )
        .unwrap()
        .map(|row| row.get(0))
}

#[test]
fn the_sweeper_marks_stale_devices_inactive_and_survives_a_missing_extension() {
    let mut db = TestDb::with_conf("worker", PRELOADED.to_vec());
    // The worker may have started before this database existed; it restarts until it can connect.
    assert!(
        eventually(Duration::from_secs(30), || sweeper_pid(&mut db).is_some()),
        "the sweeper runs"
    );

    let stale = insert_device(&mut db, "silent", "10 minutes");
    let fresh = insert_device(&mut db, "fresh", "0 seconds");
    assert!(
        eventually(Duration::from_secs(5), || !is_active(&mut db, &stale)),
        "swept within a few intervals"
    );
    assert!(
        is_active(&mut db, &fresh),
        "a device inside the window is left alone"
    );

    // Without the extension the worker idles; once it is back, sweeping resumes.
    let pid = sweeper_pid(&mut db);
    db.superuser
        .batch_execute("DROP EXTENSION compute_devices")
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sweeper_pid(&mut db), pid, "the same worker, still running");
    db.superuser
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();
    let stale = insert_device(&mut db, "silent", "10 minutes");
    assert!(eventually(Duration::from_secs(5), || !is_active(
        &mut db, &stale
    )));

    // SIGHUP reloads settings: a shorter active window sweeps a device the old one kept.
    let recent = insert_device(&mut db, "recent", "2 minutes");
    std::thread::sleep(Duration::from_secs(2));
    assert!(is_active(&mut db, &recent));
    db.superuser
        .batch_execute("ALTER SYSTEM SET compute_devices.active_window = '1min'")
        .unwrap();
    db.superuser
        .batch_execute("SELECT pg_reload_conf()")
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !is_active(&mut db, &recent)),
        "SIGHUP reloaded the window"
    );
    db.superuser
        .batch_execute("ALTER SYSTEM RESET compute_devices.active_window")
        .unwrap();
    db.superuser
        .batch_execute("SELECT pg_reload_conf()")
        .unwrap();

    // SIGTERM stops it.
    db.superuser.batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'compute_devices sweeper'").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || sweeper_pid(&mut db).is_none()),
        "stopped on SIGTERM"
    );
}
