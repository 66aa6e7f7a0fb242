//! The API as PostgREST calls it: every function as the owner, as another user and as anon;
//! every bad input with its SQLSTATE; stale against stopped; the table behind row-level security.
//! Included by one test binary per liveness path, each with its own `test_db`.

use crate::common::{self, sqlstate_of, Caller, ALICE, BOB, GOOD_SPECS};
use crate::test_db;
use std::time::Duration;

const ALICE_CALLS: Caller = Caller::User(ALICE);
const BOB_CALLS: Caller = Caller::User(BOB);

#[test]
fn register_creates_then_updates_the_callers_device_by_name() {
    let db = test_db("register");
    let mut api = db.postgrest();
    let first = api
        .register(ALICE_CALLS, "My Laptop", "laptop", GOOD_SPECS)
        .unwrap();
    let id: String = first.get(0);
    assert_eq!(
        first.get::<_, String>(1),
        ALICE,
        "the owner is the JWT's sub"
    );
    assert_eq!(first.get::<_, String>(2), "My Laptop");
    assert_eq!(first.get::<_, String>(7), "97.60");
    assert!(first.get::<_, bool>(8), "a registered device is active");

    let again = api
        .register(ALICE_CALLS, "My Laptop", "desktop", ("32", 16, "1000"))
        .unwrap();
    assert_eq!(
        again.get::<_, String>(0),
        id,
        "same owner and name: same device"
    );
    assert_eq!(again.get::<_, String>(3), "desktop");
    assert_eq!(again.get::<_, String>(7), "194.00");

    let bobs = api
        .register(BOB_CALLS, "My Laptop", "laptop", GOOD_SPECS)
        .unwrap();
    assert_ne!(
        bobs.get::<_, String>(0),
        id,
        "another owner's device of the same name is another device"
    );
    assert_eq!(api.user_devices(ALICE_CALLS).unwrap().len(), 1);
}

#[test]
fn anon_may_only_read_network_stats() {
    let db = test_db("anon");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "phone", "phone", GOOD_SPECS)
        .unwrap()
        .get(0);

    assert_eq!(api.stats(Caller::Anon).unwrap().0, 1);
    let by_type = api.stats_by_type(Caller::Anon).unwrap();
    assert_eq!(by_type[0].0, "phone");
    assert_eq!(by_type[0].1 .0, 1, "anon reads the totals by type too");
    let denied = [
        sqlstate_of(api.register(Caller::Anon, "x", "phone", GOOD_SPECS)),
        sqlstate_of(api.heartbeat(Caller::Anon, &id)),
        sqlstate_of(api.deactivate(Caller::Anon, &id)),
        sqlstate_of(api.user_devices(Caller::Anon)),
        sqlstate_of(api.call(Caller::Anon, "SELECT count(*) FROM compute_devices", &[])),
        sqlstate_of(api.call(Caller::Anon, "SELECT calculate_compute_score(1, 1, 1)", &[])),
        sqlstate_of(api.call(Caller::Anon, "SELECT sweep_stale_devices()", &[])),
    ];
    for (sqlstate, message) in denied {
        assert_eq!(sqlstate, "42501", "{message}");
    }
}

#[test]
fn authenticated_without_a_usable_sub_is_refused() {
    let db = test_db("no_sub");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "box", "server", GOOD_SPECS)
        .unwrap()
        .get(0);
    for claims in [r#"{"role":"authenticated"}"#, r#"{"sub":"alice"}"#, ""] {
        let caller = Caller::AuthenticatedWithClaims(claims);
        for (sqlstate, message) in [
            sqlstate_of(api.register(caller, "x", "phone", GOOD_SPECS)),
            sqlstate_of(api.heartbeat(caller, &id)),
            sqlstate_of(api.deactivate(caller, &id)),
            sqlstate_of(api.user_devices(caller)),
        ] {
            assert_eq!(sqlstate, "42501", "{claims}: {message}");
            assert!(message.starts_with("not authenticated"), "{message}");
        }
    }
}

#[test]
fn another_users_device_is_indistinguishable_from_an_unknown_one() {
    let mut db = test_db("ownership");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "rig", "desktop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let before = db.table_fingerprint();

    let unknown = "33333333-3333-4333-8333-333333333333";
    let bob_heartbeat = sqlstate_of(api.heartbeat(BOB_CALLS, &id));
    let unknown_heartbeat = sqlstate_of(api.heartbeat(BOB_CALLS, unknown));
    let bob_deactivate = sqlstate_of(api.deactivate(BOB_CALLS, &id));
    let unknown_deactivate = sqlstate_of(api.deactivate(BOB_CALLS, unknown));
    assert_eq!(
        bob_heartbeat,
        ("42P01".to_string(), "device not found".to_string())
    );
    assert_eq!(bob_heartbeat, unknown_heartbeat);
    assert_eq!(bob_deactivate, bob_heartbeat);
    assert_eq!(bob_deactivate, unknown_deactivate);
    assert_eq!(api.user_devices(BOB_CALLS).unwrap(), vec![]);
    assert_eq!(db.table_fingerprint(), before, "nothing changed");

    // Through the table itself: Bob sees no rows and writes nothing; Alice sees only hers.
    let rows = api
        .call(BOB_CALLS, "SELECT id FROM compute_devices", &[])
        .unwrap();
    assert!(rows.is_empty());
    let rows = api
        .call(ALICE_CALLS, "SELECT id::text FROM compute_devices", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    for write in [
        "UPDATE compute_devices SET ram_gb = 1",
        "DELETE FROM compute_devices",
        "INSERT INTO compute_devices (user_id, device_name, device_type) VALUES (gen_random_uuid(), 'x', 'phone')",
    ] {
        for caller in [ALICE_CALLS, BOB_CALLS] {
            let (sqlstate, message) = sqlstate_of(api.call(caller, write, &[]));
            assert_eq!(sqlstate, "42501", "{write}: {message}");
        }
    }
    assert_eq!(db.table_fingerprint(), before, "nothing changed");
}

#[test]
fn heartbeat_reports_liveness_and_the_next_interval() {
    let mut db = test_db("heartbeat");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "pc", "desktop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let beat = api.heartbeat(ALICE_CALLS, &id).unwrap();
    assert_eq!(beat.get::<_, String>(0), id);
    assert!(beat.get::<_, bool>(1));
    assert!(beat.get::<_, bool>(2));
    assert_eq!(beat.get::<_, i32>(3), 90, "the default heartbeat_interval");

    db.superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.heartbeat_interval = '45s'",
            db.name
        ))
        .unwrap();
    let mut api = db.postgrest();
    assert_eq!(
        api.heartbeat(ALICE_CALLS, &id).unwrap().get::<_, i32>(3),
        45
    );
}

#[test]
fn stale_devices_come_back_but_stopped_devices_do_not() {
    let mut db = test_db("stale_stopped");
    // A short window, so that silence can be waited out on either path.
    db.superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.active_window = '3s'",
            db.name
        ))
        .unwrap();
    let mut api = db.postgrest();
    let stale: String = api
        .register(ALICE_CALLS, "stale", "laptop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let stopped: String = api
        .register(ALICE_CALLS, "stopped", "server", ("64", 32, "2000"))
        .unwrap()
        .get(0);
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 2);

    // Silent past the window while the other keeps beating: it no longer counts, whether or
    // not a sweeper has run.
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        api.heartbeat(ALICE_CALLS, &stopped).unwrap();
    }
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 1);
    assert_eq!(
        api.user_devices(ALICE_CALLS).unwrap(),
        vec![("stopped".to_string(), true), ("stale".to_string(), false)],
        "newest first, with is_active as liveness sees it"
    );
    // A heartbeat brings a stale device back.
    assert!(api
        .heartbeat(ALICE_CALLS, &stale)
        .unwrap()
        .get::<_, bool>(1));
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 2);

    // The owner stops a device: it leaves the totals, and a late heartbeat does not revive it.
    let row = api.deactivate(ALICE_CALLS, &stopped).unwrap();
    assert_eq!(row.get::<_, String>(0), stopped);
    assert!(!row.get::<_, bool>(1));
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 1);
    let before = db.table_fingerprint();
    let (sqlstate, message) = sqlstate_of(api.heartbeat(ALICE_CALLS, &stopped));
    assert_eq!(sqlstate, "42P01");
    assert!(message.contains("stopped"), "{message}");
    assert_eq!(
        db.table_fingerprint(),
        before,
        "a late heartbeat changes nothing"
    );
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 1);
    // Deactivating again is harmless; registering again resumes sharing.
    assert!(!api
        .deactivate(ALICE_CALLS, &stopped)
        .unwrap()
        .get::<_, bool>(1));
    let again = api
        .register(ALICE_CALLS, "stopped", "server", ("64", 32, "2000"))
        .unwrap();
    assert_eq!(again.get::<_, String>(0), stopped);
    assert!(!again.get::<_, bool>(9), "no longer stopped");
    assert!(api.heartbeat(ALICE_CALLS, &stopped).is_ok());
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 2);
}

#[test]
fn network_stats_sum_exactly_what_is_online() {
    let mut db = test_db("stats");
    let mut api = db.postgrest();
    let zeros = (0, "0".to_string(), 0, "0".to_string(), "0".to_string());
    assert_eq!(
        api.stats(Caller::Anon).unwrap(),
        zeros,
        "zeros on an empty network"
    );
    let by_type = |stats: [&(i64, String, i64, String, String); 4]| {
        let types = ["phone", "laptop", "desktop", "server"];
        let rows = types
            .iter()
            .zip(stats)
            .map(|(t, s)| (t.to_string(), s.clone()));
        rows.collect::<Vec<_>>()
    };
    assert_eq!(
        api.stats_by_type(Caller::Anon).unwrap(),
        by_type([&zeros, &zeros, &zeros, &zeros]),
        "every type, with zeros, on an empty network"
    );

    api.register(ALICE_CALLS, "a", "laptop", ("16", 8, "512"))
        .unwrap();
    api.register(ALICE_CALLS, "b", "phone", ("6", 8, "128.5"))
        .unwrap();
    let gone: String = api
        .register(BOB_CALLS, "c", "server", ("128", 64, "4000"))
        .unwrap()
        .get(0);
    api.deactivate(BOB_CALLS, &gone).unwrap();
    let expected = (
        2,
        "22".to_string(),
        16,
        "640.5".to_string(),
        "156.025".to_string(),
    );
    assert_eq!(api.stats(Caller::Anon).unwrap(), expected);
    assert_eq!(
        api.stats(ALICE_CALLS).unwrap(),
        expected,
        "logged in or not"
    );
    // By type: the deactivated server counts nowhere, and the rows add up to the totals.
    let laptop = (1, "16".into(), 8, "512".into(), "97.6".into());
    let phone = (1, "6".into(), 8, "128.5".into(), "58.425".into());
    assert_eq!(
        api.stats_by_type(Caller::Anon).unwrap(),
        by_type([&phone, &laptop, &zeros, &zeros])
    );

    // The active window is a setting: with one second, devices silent for longer drop out.
    db.superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.active_window = '1s'",
            db.name
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.postgrest().stats(Caller::Anon).unwrap(), zeros);
    assert_eq!(
        db.postgrest().stats_by_type(Caller::Anon).unwrap(),
        by_type([&zeros, &zeros, &zeros, &zeros])
    );
}

#[test]
fn every_bad_input_names_its_field_and_changes_nothing() {
    let mut db = test_db("bad_input");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "ok", "laptop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let before = db.table_fingerprint();
    let long_name = "n".repeat(65);
    // (device_name, device_type, specs, expected SQLSTATE, the field the message names)
    type Case<'a> = (&'a str, &'a str, (&'a str, i32, &'a str), &'a str, &'a str);
    let cases: Vec<Case> = vec![
        ("x", "toaster", GOOD_SPECS, "22023", "device_type"),
        ("", "phone", GOOD_SPECS, "22023", "device_name"),
        ("   ", "phone", GOOD_SPECS, "22023", "device_name"),
        ("tab\there", "phone", GOOD_SPECS, "22023", "device_name"),
        (&long_name, "phone", GOOD_SPECS, "22001", "device_name"),
        ("x", "phone", ("-1", 8, "512"), "22003", "ram_gb"),
        ("x", "phone", ("NaN", 8, "512"), "22003", "ram_gb"),
        ("x", "phone", ("Infinity", 8, "512"), "22003", "ram_gb"),
        ("x", "phone", ("-Infinity", 8, "512"), "22003", "ram_gb"),
        ("x", "phone", ("1e9", 8, "512"), "22003", "ram_gb"),
        ("x", "phone", ("16", 0, "512"), "22003", "cpu_cores"),
        ("x", "phone", ("16", -1, "512"), "22003", "cpu_cores"),
        ("x", "phone", ("16", 100_000, "512"), "22003", "cpu_cores"),
        ("x", "phone", ("16", 8, "-0.1"), "22003", "storage_gb"),
        ("x", "phone", ("16", 8, "Infinity"), "22003", "storage_gb"),
        ("x", "phone", ("16", 8, "1e12"), "22003", "storage_gb"),
    ];
    for (name, device_type, specs, expected_sqlstate, field) in cases {
        let (sqlstate, message) = sqlstate_of(api.register(ALICE_CALLS, name, device_type, specs));
        assert_eq!(
            sqlstate, expected_sqlstate,
            "{name:?} {device_type} {specs:?}: {message}"
        );
        assert!(message.starts_with(field), "{message:?} names {field}");
    }
    // NULLs, as PostgREST sends a JSON null.
    for (field, sql) in [
        (
            "device_name",
            "SELECT register_device(NULL, 'phone', 1, 1, 1)",
        ),
        ("device_type", "SELECT register_device('x', NULL, 1, 1, 1)"),
        ("ram_gb", "SELECT register_device('x', 'phone', NULL, 1, 1)"),
        (
            "cpu_cores",
            "SELECT register_device('x', 'phone', 1, NULL, 1)",
        ),
        (
            "storage_gb",
            "SELECT register_device('x', 'phone', 1, 1, NULL)",
        ),
        ("device_id", "SELECT send_heartbeat(NULL)"),
        ("device_id", "SELECT deactivate_device(NULL)"),
    ] {
        let (sqlstate, message) = sqlstate_of(api.call(ALICE_CALLS, sql, &[]));
        assert_eq!(sqlstate, "22004", "{sql}: {message}");
        assert!(message.starts_with(field), "{message:?} names {field}");
    }
    assert_eq!(
        db.table_fingerprint(),
        before,
        "no bad input changed anything"
    );
    assert!(api.heartbeat(ALICE_CALLS, &id).is_ok());
}

#[test]
fn the_device_limit_is_a_setting() {
    let mut db = test_db("device_limit");
    db.superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.max_devices_per_user = 2",
            db.name
        ))
        .unwrap();
    let mut api = db.postgrest();
    api.register(ALICE_CALLS, "one", "phone", GOOD_SPECS)
        .unwrap();
    api.register(ALICE_CALLS, "two", "phone", GOOD_SPECS)
        .unwrap();
    let before = db.table_fingerprint();
    let (sqlstate, message) = sqlstate_of(api.register(ALICE_CALLS, "three", "phone", GOOD_SPECS));
    assert_eq!(sqlstate, "23514", "{message}");
    assert!(message.contains("at most 2 devices"), "{message}");
    assert_eq!(db.table_fingerprint(), before);
    assert!(
        api.register(ALICE_CALLS, "two", "laptop", GOOD_SPECS)
            .is_ok(),
        "updating an existing name is fine"
    );
    assert!(
        api.register(BOB_CALLS, "three", "phone", GOOD_SPECS)
            .is_ok(),
        "the limit is per user"
    );
    // A caller cannot raise the limit for their own session.
    let (sqlstate, _) = sqlstate_of(api.call(
        ALICE_CALLS,
        "SELECT set_config('compute_devices.max_devices_per_user', '1000', true)",
        &[],
    ));
    assert_eq!(sqlstate, "42501");
}

#[test]
fn racing_registrations_of_one_name_give_one_row_and_one_id() {
    let mut db = test_db("register_race");
    let mut first = db.postgrest();
    // The first registration holds its transaction open, as a slow request would.
    let mut open = common::request(first.client.build_transaction(), ALICE_CALLS).unwrap();
    let first_id: String = open
        .query_one(
            "SELECT id::text FROM register_device('racer', 'laptop', 16, 8, 512)",
            &[],
        )
        .unwrap()
        .get(0);

    // The second, on another connection, must wait for it rather than make a second row.
    let mut second = db.postgrest();
    let racer =
        std::thread::spawn(move || second.register(ALICE_CALLS, "racer", "desktop", GOOD_SPECS));
    let mut observer = db.superuser_connection();
    let waiting = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        waiting > 0
    });
    assert!(waiting, "the second registration waits for the first");
    open.commit().unwrap();

    let second_row = racer.join().unwrap().unwrap();
    assert_eq!(second_row.get::<_, String>(0), first_id);
    assert_eq!(
        second_row.get::<_, String>(3),
        "desktop",
        "the later registration's specs win"
    );
    let rows: i64 = db
        .superuser
        .query_one(
            "SELECT count(*) FROM compute_devices WHERE device_name = 'racer'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[test]
fn batched_heartbeats_check_each_owner_and_answer_each_entry() {
    let mut db = test_db("batch");
    let mut api = db.postgrest();
    let register = |api: &mut common::PostgRest, caller, name| -> String {
        api.register(caller, name, "server", GOOD_SPECS)
            .unwrap()
            .get(0)
    };
    let alices = register(&mut api, ALICE_CALLS, "a");
    let bobs = register(&mut api, BOB_CALLS, "b");
    let stopped = register(&mut api, ALICE_CALLS, "s");
    api.deactivate(ALICE_CALLS, &stopped).unwrap();
    let unknown = "00000000-0000-4000-8000-000000000000";
    let batch = |pairs: &[(Option<&str>, &str)]| -> (Vec<Option<String>>, Vec<Option<String>>) {
        pairs
            .iter()
            .map(|(user, device)| (user.map(str::to_string), Some(device.to_string())))
            .unzip()
    };
    const SEND: &str =
        "SELECT user_id::text, device_id::text, is_active, next_heartbeat_in_seconds,
                               error_code, error_message, error_hint
                          FROM send_heartbeats($1::text[]::uuid[], $2::text[]::uuid[])";
    let (users, devices) = batch(&[
        (Some(ALICE), &alices),
        (Some(BOB), &bobs),
        (Some(ALICE), &bobs),
        (Some(ALICE), &stopped),
        (Some(ALICE), unknown),
        (None, &alices),
    ]);
    let rows = api
        .call(Caller::Service, SEND, &[&users, &devices])
        .unwrap();
    let answers: Vec<(Option<bool>, Option<i32>, Option<String>)> = rows
        .iter()
        .map(|row| (row.get(2), row.get(3), row.get(4)))
        .collect();
    let ok = (Some(true), Some(90), None);
    let error = |code: &str| (None, None, Some(code.to_string()));
    assert_eq!(
        answers,
        vec![
            ok.clone(),
            ok,
            error("42P01"),
            error("42P01"),
            error("42P01"),
            error("22004")
        ],
        "one answer per entry, in order; a bad entry fails alone"
    );
    let messages: Vec<Option<String>> = rows.iter().map(|row| row.get(5)).collect();
    assert_eq!(
        messages[2].as_deref(),
        Some("device not found"),
        "not Alice's"
    );
    assert!(messages[3].as_deref().unwrap().contains("stopped"));
    assert_eq!(messages[5].as_deref(), Some("user_id must not be null"));
    // Each refusal's hint is the one send_heartbeat would give with it (none for a NULL).
    let hints: Vec<Option<String>> = rows.iter().map(|row| row.get(6)).collect();
    let register_again = Some("Register the device again with register_device to resume sharing.");
    assert_eq!(
        hints.iter().map(Option::as_deref).collect::<Vec<_>>(),
        vec![
            None,
            None,
            register_again,
            register_again,
            register_again,
            None
        ]
    );
    assert_eq!(
        rows[0].get::<_, Option<String>>(1).as_deref(),
        Some(&*alices)
    );
    assert_eq!(
        api.stats(Caller::Anon).unwrap().0,
        2,
        "the stopped one stays out"
    );

    // Many refusals in one batch: each refused entry's row is built after the lookup, in
    // memory that outlives it (a batch of ten unknown devices once read freed memory).
    let pattern = [alices.as_str(), stopped.as_str(), unknown];
    let many: Vec<(Option<&str>, &str)> = (0..300).map(|i| (Some(ALICE), pattern[i % 3])).collect();
    let (users, devices) = batch(&many);
    let rows = api
        .call(Caller::Service, SEND, &[&users, &devices])
        .unwrap();
    let codes: Vec<Option<String>> = rows.iter().map(|row| row.get(4)).collect();
    let expected: Vec<Option<String>> = (0..300)
        .map(|i| [None, Some("42P01".to_string()), Some("42P01".to_string())][i % 3].clone())
        .collect();
    assert_eq!(codes, expected);
    let messages: Vec<String> = rows
        .iter()
        .skip(1)
        .step_by(3)
        .map(|row| row.get(5))
        .collect();
    assert!(messages.iter().all(|message| message.contains("stopped")));

    // Whole-call errors change nothing.
    let before = db.table_fingerprint();
    let (users, devices) = batch(&[(Some(ALICE), &alices), (Some(BOB), &bobs)]);
    let one_user = users[..1].to_vec();
    let (sqlstate, message) = sqlstate_of(api.call(Caller::Service, SEND, &[&one_user, &devices]));
    assert_eq!(sqlstate, "22023");
    assert!(message.starts_with("user_ids and device_ids"), "{message}");
    db.superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.max_batch_size = 1",
            db.name
        ))
        .unwrap();
    let mut api = db.postgrest();
    let (sqlstate, message) = sqlstate_of(api.call(Caller::Service, SEND, &[&users, &devices]));
    assert_eq!(sqlstate, "22023");
    assert!(message.starts_with("device_ids has 2 entries"), "{message}");
    // Only the service role may name owners.
    for caller in [ALICE_CALLS, Caller::Anon] {
        let (sqlstate, _) = sqlstate_of(api.call(caller, SEND, &[&users, &devices]));
        assert_eq!(sqlstate, "42501", "{caller:?}");
    }
    assert_eq!(db.table_fingerprint(), before);
}

/// The columns callers receive for a device: the seed's, without the internal slot, then its
/// accelerators and place (0.6.0), then its health (0.7.0).
const DEVICE_COLUMNS: [&str; 21] = [
    "id",
    "user_id",
    "device_name",
    "device_type",
    "ram_gb",
    "cpu_cores",
    "storage_gb",
    "compute_score",
    "is_active",
    "last_seen",
    "created_at",
    "updated_at",
    "deactivated_at",
    "accelerators",
    "country_code",
    "region",
    "subregion",
    "uptime_1d",
    "uptime_7d",
    "flaps_24h",
    "health_score",
];

fn column_names(rows: &[postgres::Row]) -> Vec<String> {
    let row = rows.first().expect("at least one row");
    row.columns().iter().map(|c| c.name().to_string()).collect()
}

#[test]
fn the_live_view_and_get_user_devices_show_the_callers_own_rows_without_slot() {
    let db = test_db("live_view");
    let mut api = db.postgrest();
    for name in ["one", "two"] {
        api.register(ALICE_CALLS, name, "laptop", GOOD_SPECS)
            .unwrap();
    }
    api.register(BOB_CALLS, "bobs", "phone", GOOD_SPECS)
        .unwrap();

    for read in [
        "SELECT * FROM compute_devices_live ORDER BY device_name",
        "SELECT * FROM get_user_devices() ORDER BY device_name",
    ] {
        let rows = api.call(ALICE_CALLS, read, &[]).unwrap();
        assert_eq!(column_names(&rows), DEVICE_COLUMNS, "{read}");
        let names: Vec<String> = rows.iter().map(|row| row.get(2)).collect();
        assert_eq!(names, ["one", "two"], "{read}: Alice's own");
        assert!(rows.iter().all(|row| row.get::<_, bool>(8)), "{read}: live");
        let rows = api.call(BOB_CALLS, read, &[]).unwrap();
        let names: Vec<String> = rows.iter().map(|row| row.get(2)).collect();
        assert_eq!(names, ["bobs"], "{read}: Bob's own");
    }
    // The view is the table's rows, less slot, with liveness applied.
    let same = api
        .call_one(
            ALICE_CALLS,
            "SELECT count(*) FROM compute_devices AS d JOIN compute_devices_live AS v USING (id)
              WHERE (v.user_id, v.device_name, v.device_type, v.ram_gb, v.cpu_cores,
                     v.storage_gb, v.compute_score, v.created_at, v.updated_at, v.deactivated_at)
                  IS NOT DISTINCT FROM (d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores,
                     d.storage_gb, d.compute_score, d.created_at, d.updated_at, d.deactivated_at)
                AND v.last_seen >= d.last_seen",
            &[],
        )
        .unwrap();
    assert_eq!(same.get::<_, i64>(0), 2);

    let view = "SELECT count(*) FROM compute_devices_live";
    for caller in [
        Caller::Anon,
        Caller::Service,
        Caller::AuthenticatedWithClaims(r#"{"role":"authenticated"}"#),
    ] {
        let (sqlstate, message) = sqlstate_of(api.call(caller, view, &[]));
        assert_eq!(sqlstate, "42501", "{caller:?}: {message}");
    }
}

#[test]
fn register_and_deactivate_return_the_views_columns_without_slot() {
    let db = test_db("no_slot");
    let mut api = db.postgrest();
    let register = "SELECT * FROM register_device('one', 'laptop', 16, 8, 512)";
    // A new device (the insert), then the same name again (the update).
    for what in ["new", "registered again"] {
        let rows = api.call(ALICE_CALLS, register, &[]).unwrap();
        let columns = column_names(&rows);
        assert!(!columns.iter().any(|c| c == "slot"), "{what}: {columns:?}");
        assert_eq!(columns, DEVICE_COLUMNS, "{what}");
    }
    let id: String = api
        .call_one(ALICE_CALLS, "SELECT id::text FROM get_user_devices()", &[])
        .unwrap()
        .get(0);
    let rows = api
        .call(
            ALICE_CALLS,
            "SELECT * FROM deactivate_device($1::text::uuid)",
            &[&id],
        )
        .unwrap();
    let columns = column_names(&rows);
    assert!(
        !columns.iter().any(|c| c == "slot"),
        "deactivated: {columns:?}"
    );
    assert_eq!(columns, DEVICE_COLUMNS, "deactivated");
    assert!(!rows[0].get::<_, bool>(8), "a stopped device is inactive");
}

/// Where shared memory holds the heartbeats, the view shows the latest one before the worker
/// writes it back to the table: a repeatable-read transaction keeps seeing the table as it was
/// while a heartbeat arrives, and the view still shows the heartbeat. On the table path the view
/// shows what the table holds.
#[test]
fn the_live_view_shows_a_heartbeat_the_table_does_not_have_yet() {
    let db = test_db("live_values");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "beating", "desktop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let mut reader = db.postgrest();
    let snapshot = reader
        .client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true);
    let mut reading = common::request(snapshot, ALICE_CALLS).unwrap();
    let read = "SELECT d.last_seen::text, v.last_seen::text, v.is_active
                  FROM compute_devices AS d JOIN compute_devices_live AS v USING (id)
                 WHERE id = $1::text::uuid";
    let before = reading.query_one(read, &[&id]).unwrap();
    let registered: String = before.get(0);
    assert_eq!(before.get::<_, String>(1), registered);

    let beat: String = api
        .call_one(
            ALICE_CALLS,
            "SELECT last_seen::text FROM send_heartbeat($1::text::uuid)",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_ne!(beat, registered);
    let after = reading.query_one(read, &[&id]).unwrap();
    assert_eq!(
        after.get::<_, String>(0),
        registered,
        "the snapshot's table"
    );
    assert!(after.get::<_, bool>(2));
    let mut superuser = db.superuser_connection();
    let path = common::liveness_path(&mut superuser);
    let expected = if path == "shared memory" {
        &beat
    } else {
        &registered
    };
    assert_eq!(&after.get::<_, String>(1), expected, "on the {path} path");
    let assigned: Option<String> = reading
        .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(assigned, None, "reading the view takes no transaction id");
    reading.commit().unwrap();
}
