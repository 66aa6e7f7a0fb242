//! Reads on a hot standby: the `compute_devices_live` view and get_user_devices answer there,
//! each caller seeing only their own devices (reads take no transaction id and write nothing),
//! while the functions that write refuse with 25006 before doing anything. The network totals
//! there are the primary's (the totals its worker publishes every second), while devices beat
//! and go stale on the primary, and liveness_status() there says so. Promoted after the primary
//! is killed, it keeps those totals at once, with no heartbeat, until the devices have been
//! silent for an active window.

mod common;

use common::{request, sqlstate_of, Caller, PostgRest, ALICE, BOB, GOOD_SPECS};
use compute_devices_test_support::{connect, eventually, Cluster, Standby};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DATABASE: &str = "live";
#[test]
fn the_live_view_and_get_user_devices_answer_on_a_standby() {
    // The pgrx test framework installs the extension the clusters load.
    common::TestDb::empty("standby_install", vec![]);
    let primary = Cluster::init(
        "standby_primary",
        &format!("compute_devices.database = '{DATABASE}'"),
    );
    primary.start();
    drop(primary.serve(DATABASE));
    let mut api = PostgRest {
        client: connect(primary.port(), "authenticator", DATABASE),
    };
    let laptop: String = api
        .register(Caller::User(ALICE), "laptop", "laptop", GOOD_SPECS)
        .unwrap()
        .get(0);
    api.register(Caller::User(BOB), "phone", "phone", GOOD_SPECS)
        .unwrap();

    let standby = Standby::of(&primary);
    let mut superuser = connect(standby.port(), "postgres", DATABASE);
    let replicated = eventually(Duration::from_secs(30), || {
        let rows: i64 = superuser
            .query_one("SELECT count(*) FROM compute_devices", &[])
            .unwrap()
            .get(0);
        rows == 2
    });
    assert!(replicated, "the standby has both devices");
    let in_recovery: bool = superuser
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(in_recovery, "a standby");

    let mut api = PostgRest {
        client: connect(standby.port(), "authenticator", DATABASE),
    };
    for read in [
        "SELECT device_name, is_active FROM compute_devices_live",
        "SELECT device_name, is_active FROM get_user_devices()",
    ] {
        for (caller, expected) in [(ALICE, "laptop"), (BOB, "phone")] {
            let mut transaction =
                request(api.client.build_transaction(), Caller::User(caller)).unwrap();
            let rows = transaction.query(read, &[]).unwrap();
            let rows: Vec<(String, bool)> =
                rows.iter().map(|row| (row.get(0), row.get(1))).collect();
            assert_eq!(rows, [(expected.to_string(), true)], "{read} as {caller}");
            transaction.commit().unwrap();
        }
        let (sqlstate, message) = sqlstate_of(api.call(Caller::Anon, read, &[]));
        assert_eq!(sqlstate, "42501", "{read} as anon: {message}");
    }

    let (sqlstate, message) = sqlstate_of(api.heartbeat(Caller::User(ALICE), &laptop));
    assert_eq!(sqlstate, "25006", "{message}");
    assert!(message.contains("read-only replica"), "{message}");
    let (sqlstate, _) = sqlstate_of(api.register(Caller::User(ALICE), "new", "phone", GOOD_SPECS));
    assert_eq!(sqlstate, "25006");
}

const TOTALS_DATABASE: &str = "totals";
const WINDOW_SECONDS: u64 = 6;

#[test]
fn the_totals_on_a_standby_are_the_primarys_while_devices_beat_and_go_stale() {
    // The pgrx test framework installs the extension the clusters load.
    common::TestDb::empty("standby_totals_install", vec![]);
    // The standby is a copy: it has the same settings, the window among them.
    let primary = Cluster::init(
        "standby_totals_primary",
        &format!(
            "compute_devices.database = '{TOTALS_DATABASE}'\n\
             compute_devices.slots = 1000\n\
             compute_devices.sweep_interval = '1s'\n\
             compute_devices.active_window = '{WINDOW_SECONDS}s'"
        ),
    );
    primary.start();
    drop(primary.serve(TOTALS_DATABASE));
    let mut api = PostgRest {
        client: connect(primary.port(), "authenticator", TOTALS_DATABASE),
    };
    let types = ["phone", "laptop", "desktop", "server"];
    let mut devices = Vec::new();
    for i in 0..12 {
        let owner = format!("{:08}-0000-4000-8000-000000000000", i % 3);
        let specs = (
            &*format!("{}.25", 2 + i),
            1 + i as i32,
            &*format!("{}.5", 64 * i),
        );
        let id: String = api
            .register(Caller::User(&owner), &format!("d{i}"), types[i % 4], specs)
            .unwrap()
            .get(0);
        devices.push((owner, id));
    }
    let standby = Standby::of(&primary);

    // The first eight beat twice a second; the other four fall silent at once.
    let beating = Arc::new(Mutex::new(devices[..8].to_vec()));
    let running = Arc::new(AtomicBool::new(true));
    let beater = {
        let (beating, running, port) = (beating.clone(), running.clone(), primary.port());
        std::thread::spawn(move || {
            let mut api = PostgRest {
                client: connect(port, "authenticator", TOTALS_DATABASE),
            };
            while running.load(Ordering::Relaxed) {
                let devices = beating.lock().unwrap().clone();
                for (owner, id) in &devices {
                    api.heartbeat(Caller::User(owner), id).unwrap();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    let mut on_primary = PostgRest {
        client: connect(primary.port(), "authenticator", TOTALS_DATABASE),
    };
    let mut on_standby = PostgRest {
        client: connect(standby.port(), "authenticator", TOTALS_DATABASE),
    };
    // Within the bound: the primary's snapshot is at most 2 s old, plus replication lag.
    let mut agree = |live: i64| {
        eventually(Duration::from_secs(WINDOW_SECONDS + 5), || {
            let primary = on_primary.stats(Caller::Anon).unwrap();
            primary.0 == live
                && on_standby.stats(Caller::Anon).unwrap() == primary
                && on_standby.stats_by_type(Caller::Anon).unwrap()
                    == on_primary.stats_by_type(Caller::Anon).unwrap()
        })
    };
    assert!(agree(8), "the four silent devices stale on both");
    beating.lock().unwrap().truncate(5);
    assert!(agree(5), "three more stale on both");
    // The standby's own window does not matter (ALTER SYSTEM is not replicated): the answer is
    // the primary's, counted with the primary's window.
    let mut standby_superuser = connect(standby.port(), "postgres", TOTALS_DATABASE);
    let set_window = |client: &mut postgres::Client, statement: &str| {
        client.batch_execute(statement).unwrap();
        client.batch_execute("SELECT pg_reload_conf()").unwrap();
    };
    set_window(
        &mut standby_superuser,
        "ALTER SYSTEM SET compute_devices.active_window = '1s'",
    );
    assert!(agree(5), "the standby's window set to a second");
    set_window(
        &mut standby_superuser,
        "ALTER SYSTEM RESET compute_devices.active_window",
    );
    let by_type = on_standby.stats_by_type(Caller::Anon).unwrap();
    let phones = by_type.iter().find(|(t, _)| t == "phone").unwrap();
    assert_eq!(phones.1 .0, 2, "d0 and d4 by type: {by_type:?}");

    let mut superuser = connect(standby.port(), "postgres", TOTALS_DATABASE);
    let status = superuser
        .query_one(
            "SELECT path, in_recovery, snapshot_age_seconds FROM liveness_status()",
            &[],
        )
        .unwrap();
    assert_eq!(status.get::<_, String>(0), "published totals");
    assert!(status.get::<_, bool>(1), "in recovery");
    let age: f64 = status.get(2);
    assert!((0.0..3.0).contains(&age), "snapshot age {age}");
    let mut primary_superuser = connect(primary.port(), "postgres", TOTALS_DATABASE);
    let status = primary_superuser
        .query_one("SELECT path, in_recovery FROM liveness_status()", &[])
        .unwrap();
    assert_eq!(
        (status.get::<_, String>(0), status.get::<_, bool>(1)),
        ("shared memory".to_string(), false)
    );

    // Failover: the heartbeats stop, the primary is killed and the standby promoted. Its totals
    // are the old primary's at once (its published totals until the worker has rebuilt the
    // slots, then the devices the table marks active, presumed to have beaten at the rebuild),
    // and they go stale an active window later, with no heartbeat.
    running.store(false, Ordering::Relaxed);
    beater.join().unwrap();
    let before = on_standby.stats(Caller::Anon).unwrap();
    primary.stop_immediate();
    standby.promote();
    assert_eq!(
        on_standby.stats(Caller::Anon).unwrap(),
        before,
        "the totals right after the promotion"
    );
    assert!(
        eventually(Duration::from_secs(WINDOW_SECONDS), || {
            let status = superuser
                .query_one("SELECT path, in_recovery FROM liveness_status()", &[])
                .unwrap();
            status.get::<_, String>(0) == "shared memory" && !status.get::<_, bool>(1)
        }),
        "the promoted server's worker serves it from shared memory"
    );
    assert_eq!(
        on_standby.stats(Caller::Anon).unwrap(),
        before,
        "the same totals from its own slots"
    );
    assert!(
        eventually(Duration::from_secs(WINDOW_SECONDS + 3), || on_standby
            .stats(Caller::Anon)
            .unwrap()
            .0
            == 0),
        "stale a window later, without heartbeats"
    );
}
