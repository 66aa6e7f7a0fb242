//! A full shared-memory slot table, on a cluster of this test's own with three slots: a new
//! device gets 53000 (HTTP 503) and changes nothing; a table that outgrew its slots (a row
//! written around the triggers) falls back to the table path within seconds, stays correct,
//! and is not rescanned every tick.

mod common;

use common::{
    connect, eventually, liveness_path, sqlstate_of, Caller, PostgRest, ALICE, GOOD_SPECS,
};
use compute_devices_test_support::{Cluster, ClusterPort};
use std::time::Duration;

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "slots";

#[test]
fn a_full_slot_table_refuses_new_devices_and_an_overgrown_table_falls_back() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("slots_install", vec![]);
    let cluster = Cluster::init(
        "slots",
        &format!("compute_devices.database = '{DATABASE}'\ncompute_devices.slots = 3"),
    );
    cluster.start();
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    };
    for name in ["one", "two", "three"] {
        api.register(Caller::User(ALICE), name, "laptop", GOOD_SPECS)
            .unwrap();
    }
    let (sqlstate, message) =
        sqlstate_of(api.register(Caller::User(ALICE), "four", "laptop", GOOD_SPECS));
    assert_eq!(sqlstate, "53000", "PostgREST answers 53* with 503");
    assert!(message.contains("compute_devices.slots is 3"), "{message}");
    let count = |superuser: &mut postgres::Client| -> i64 {
        superuser
            .query_one("SELECT count(*) FROM compute_devices", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(
        count(&mut superuser),
        3,
        "the refused device was not stored"
    );

    // A fourth row written around the triggers (as a restore might): the worker finds it
    // within seconds in a slot beyond the table's end, and the database goes back to the
    // table path. After a restart, the rebuild finds the same.
    superuser
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                          storage_gb, compute_score, is_active)
             VALUES ('{ALICE}', 'restored', 'server', 1, 1, 1, 7.05, true);"
        ))
        .unwrap();
    let log = cluster.data.join("server.log");
    let warnings = || {
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("does not fit in compute_devices.slots")
            .count()
    };
    assert!(
        eventually(Duration::from_secs(5), || warnings() >= 1
            && liveness_path(&mut superuser) == "table"),
        "the worker notices the row without a restart"
    );
    let before_restart = warnings();
    cluster.stop();
    cluster.start();
    let mut superuser = connect(PORT.get(), "postgres", DATABASE);
    assert!(
        eventually(Duration::from_secs(30), || warnings() > before_restart),
        "the worker says why it does not serve the database"
    );
    let first = warnings();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(warnings(), first, "no rescan within the retry interval");
    assert_eq!(liveness_path(&mut superuser), "table");
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    };
    assert_eq!(
        api.stats(Caller::Anon).unwrap().0,
        4,
        "stats count the table"
    );
}
