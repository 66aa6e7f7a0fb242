//! Reads on a hot standby: the `compute_devices_live` view and get_user_devices answer there,
//! each caller seeing only their own devices (reads take no transaction id and write nothing),
//! while the functions that write refuse with 25006 before doing anything.

mod common;

use common::{request, sqlstate_of, Caller, PostgRest, ALICE, BOB, GOOD_SPECS};
use compute_devices_test_support::{connect, eventually, Cluster, Standby};
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
