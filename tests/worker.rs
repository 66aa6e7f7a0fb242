//! The sweeper, with the library preloaded and a one-second sweep_interval: it marks stale
//! devices inactive, idles harmlessly while the extension is missing, and stops on SIGTERM. It
//! publishes the totals into published_totals every second, and withdraws them when the
//! database leaves the shared-memory path. After a restart (on a cluster of the test's own), a
//! device the table marks active counts until it has been silent for a whole active window,
//! and the time presumed for it is never written as its last_seen.

mod common;

use common::{connect, eventually, liveness_path, TestDb};
use compute_devices_test_support::Cluster;
use postgres::Client;
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

const PUBLISHED_DATABASE: &str = "published";

/// The published row's taken_at as text, or None without a row.
fn published_at(client: &mut Client) -> Option<String> {
    client
        .query_opt("SELECT taken_at::text FROM published_totals", &[])
        .unwrap()
        .map(|row| row.get(0))
}

/// Whether the published row holds what the stats functions answer, in total and by type.
fn published_equals_the_stats(client: &mut Client) -> bool {
    client
        .query_one(
            "SELECT (SELECT ROW(sum((e.value ->> 'active_nodes')::int8)::int8,
                                sum((e.value ->> 'total_ram_gb')::numeric),
                                sum((e.value ->> 'total_cpu_cores')::int8)::int8,
                                sum((e.value ->> 'total_storage_gb')::numeric))
                       FROM published_totals AS p, jsonb_each(p.by_type) AS e)
                    = (SELECT ROW(active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb)
                         FROM get_network_stats())
                AND (SELECT bool_and(s.active_nodes = (p.by_type -> s.device_type ->> 'active_nodes')::int8
                                 AND s.total_ram_gb = (p.by_type -> s.device_type ->> 'total_ram_gb')::numeric
                                 AND s.total_cpu_cores = (p.by_type -> s.device_type ->> 'total_cpu_cores')::int8
                                 AND s.total_storage_gb = (p.by_type -> s.device_type ->> 'total_storage_gb')::numeric)
                       FROM get_network_stats_by_type() AS s, published_totals AS p)
                AND (SELECT active_window_seconds = 300 FROM published_totals)",
            &[],
        )
        .unwrap()
        .get::<_, Option<bool>>(0)
        .unwrap_or(false)
}

#[test]
fn the_worker_publishes_the_totals_every_second_while_it_serves_the_database() {
    // The pgrx test framework installs the extension the cluster loads.
    let _install = TestDb::empty("worker_published_install", PRELOADED.to_vec());
    let cluster = Cluster::init(
        "worker_published",
        &format!(
            "compute_devices.database = '{PUBLISHED_DATABASE}'\n\
             compute_devices.slots = 1000"
        ),
    );
    cluster.start();
    let mut superuser = cluster.serve(PUBLISHED_DATABASE);
    for (name, device_type, ram) in [
        ("a", "phone", "4.5"),
        ("b", "laptop", "16.125"),
        ("c", "laptop", "8"),
    ] {
        superuser
            .execute(
                "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                              storage_gb, is_active, last_seen)
                 VALUES (gen_random_uuid(), $1, $2, $3::text::numeric, 4, 100.5, true, now())",
                &[&name, &device_type, &ram],
            )
            .unwrap();
    }
    superuser
        .batch_execute(
            "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                          storage_gb, is_active, last_seen)
             VALUES (gen_random_uuid(), 'silent', 'server', 8, 4, 100, true,
                     now() - interval '10 minutes')",
        )
        .unwrap();

    // Once a second, the snapshot the stats read.
    assert!(
        eventually(Duration::from_secs(3), || published_equals_the_stats(
            &mut superuser
        )),
        "the row holds the stats"
    );
    let nodes: i64 = superuser
        .query_one("SELECT active_nodes FROM get_network_stats()", &[])
        .unwrap()
        .get(0);
    assert_eq!(nodes, 3, "the three live devices");
    let first = published_at(&mut superuser);
    assert!(
        eventually(Duration::from_millis(2500), || published_at(&mut superuser)
            != first),
        "taken_at moves on: {first:?}"
    );
    let age: f64 = superuser
        .query_one(
            "SELECT extract(epoch FROM clock_timestamp() - taken_at)::float8 FROM published_totals",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(age < 2.0, "published within the last two seconds: {age}");

    // A row in a slot beyond compute_devices.slots (1000; written around the triggers) sends the
    // database back to the table path: the published totals go with it.
    superuser
        .batch_execute(
            "SET session_replication_role = replica;
             INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                          storage_gb, compute_score, is_active, slot)
             VALUES (gen_random_uuid(), 'overgrown', 'server', 1, 1, 1, 7.05, true, 5000);
             RESET session_replication_role;",
        )
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || liveness_path(&mut superuser)
            == "table"
            && published_at(&mut superuser).is_none()),
        "withdrawn with the shared-memory path"
    );
    // Back on it (the worker tries again 10 s later), published again.
    superuser
        .batch_execute("DELETE FROM compute_devices WHERE device_name = 'overgrown'")
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), || liveness_path(&mut superuser)
            == "shared memory"
            && published_equals_the_stats(&mut superuser)),
        "published again once the database is served from shared memory again"
    );
}

const PRESUMED_DATABASE: &str = "presumed";
const PRESUMED_WINDOW_SECONDS: u64 = 10;

/// (active_nodes from get_network_stats, is_active and last_seen in the table, and in
/// compute_devices_live, as text) for the device named `name`.
fn presumed_state(client: &mut Client, name: &str) -> (i64, bool, String, bool, String) {
    let row = client
        .query_one(
            "SELECT (SELECT active_nodes FROM get_network_stats()),
                    d.is_active, d.last_seen::text, l.is_active, l.last_seen::text
               FROM compute_devices AS d JOIN compute_devices_live AS l USING (id)
              WHERE d.device_name = $1",
            &[&name],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[test]
fn after_a_restart_a_device_the_table_marks_active_counts_for_one_active_window() {
    // The pgrx test framework installs the extension the cluster loads.
    let _install = TestDb::empty("worker_presumed_install", PRELOADED.to_vec());
    // No write-back before the restart: the table keeps is_active for a device whose last_seen
    // is long past the window, as after a crash within sweep_interval of its heartbeats.
    let cluster = Cluster::init(
        "worker_presumed",
        &format!(
            "compute_devices.database = '{PRESUMED_DATABASE}'\n\
             compute_devices.slots = 1000\n\
             compute_devices.active_window = '{PRESUMED_WINDOW_SECONDS}s'\n\
             compute_devices.sweep_interval = '1h'\n\
             compute_devices.last_seen_flush_interval = '1s'"
        ),
    );
    cluster.start();
    let mut superuser = cluster.serve(PRESUMED_DATABASE);
    superuser
        .batch_execute(
            "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                          storage_gb, is_active, last_seen, deactivated_at)
             VALUES (gen_random_uuid(), 'marked active', 'server', 8, 4, 100, true,
                     now() - interval '1 hour', NULL),
                    (gen_random_uuid(), 'marked stale', 'server', 8, 4, 100, false,
                     now() - interval '1 hour', NULL),
                    (gen_random_uuid(), 'stopped', 'server', 8, 4, 100, false,
                     now() - interval '1 hour', now() - interval '1 hour')",
        )
        .unwrap();
    let (nodes, ..) = presumed_state(&mut superuser, "marked active");
    assert_eq!(nodes, 0, "before the restart, its last_seen is what counts");
    let last_seen = presumed_state(&mut superuser, "marked active").2;

    cluster.stop();
    cluster.start();
    let mut superuser = connect(cluster.port(), "postgres", PRESUMED_DATABASE);
    assert!(
        eventually(Duration::from_secs(5), || liveness_path(&mut superuser)
            == "shared memory"),
        "the worker rebuilt the slots"
    );
    let presumed = presumed_state(&mut superuser, "marked active");
    assert_eq!(
        presumed,
        (1, true, last_seen.clone(), true, last_seen.clone()),
        "the device the table marks active counts (and reads as active), without a heartbeat; \
         its last_seen stays the table's"
    );
    // Write-backs from now on: the presumed time is not one of them.
    for statement in [
        "ALTER SYSTEM SET compute_devices.sweep_interval = '1s'",
        "SELECT pg_reload_conf()",
    ] {
        superuser.batch_execute(statement).unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    let (nodes, is_active, seen, ..) = presumed_state(&mut superuser, "marked active");
    assert_eq!(
        (nodes, is_active, seen),
        (1, true, last_seen.clone()),
        "still counted; nothing written for it"
    );
    // Silent for the whole window on this server: stale, in the stats and then in the table,
    // with the last_seen it had.
    assert!(
        eventually(Duration::from_secs(PRESUMED_WINDOW_SECONDS + 3), || {
            presumed_state(&mut superuser, "marked active")
                == (0, false, last_seen.clone(), false, last_seen.clone())
        }),
        "stale after the window: {:?}",
        presumed_state(&mut superuser, "marked active")
    );
}
