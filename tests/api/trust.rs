//! What must hold against a hostile or careless caller, on each liveness path: claims read in
//! one grammar by the functions and the row-level security policy alike, specs stored small,
//! names that are visible text, the device limit at every isolation level, and reads that never
//! write.

use crate::common::{self, request, sqlstate_of, Caller, ALICE, BOB, GOOD_SPECS};
use crate::test_db;
use postgres::IsolationLevel;
use std::sync::{Arc, Barrier};

const ALICE_CALLS: Caller = Caller::User(ALICE);

/// A call's outcome, comparable across two ways of asking: the rows' first column, or the
/// error's SQLSTATE.
fn outcome(result: Result<Vec<postgres::Row>, postgres::Error>) -> Result<Vec<String>, String> {
    match result {
        Ok(rows) => Ok(rows.iter().map(|row| row.get(0)).collect()),
        Err(error) => Err(error
            .as_db_error()
            .map_or_else(|| error.to_string(), |db| db.code().code().to_string())),
    }
}

#[test]
fn the_policy_and_the_functions_read_the_claims_alike() {
    let db = test_db("claims_grammar");
    let mut api = db.postgrest();
    api.register(ALICE_CALLS, "alices", "server", GOOD_SPECS)
        .unwrap();
    api.register(Caller::User(BOB), "bobs", "server", GOOD_SPECS)
        .unwrap();
    let alice_no_dashes = ALICE.replace('-', "");
    let accepted = [
        format!(r#"{{"sub":"{ALICE}","role":"authenticated"}}"#),
        format!(r#"{{"sub":"{}"}}"#, ALICE.to_uppercase()),
    ];
    let refused = [
        String::new(),
        "not json".to_string(),
        r#"{"role":"authenticated"}"#.to_string(),
        r#"{"sub":42}"#.to_string(),
        r#"{"sub":null}"#.to_string(),
        format!(r#"{{"sub":["{ALICE}"]}}"#),
        format!(r#"["{ALICE}"]"#),
        format!(r#"[{{"sub":"{ALICE}"}}]"#),
        format!(r#"{{"sub":"{alice_no_dashes}"}}"#),
        format!(r#"{{"sub":"{{{ALICE}}}"}}"#),
        format!(r#"{{"sub":"urn:uuid:{ALICE}"}}"#),
        format!(r#"{{"sub":" {ALICE}"}}"#),
        format!(r#"{{"sub":"{BOB}","sub":"{ALICE}"}}"#),
        format!(r#"{{"sub":"{ALICE}","sub":"{BOB}"}}"#),
        format!(r#"{{"sub":"{ALICE}","app":{{"k":1,"k":2}}}}"#),
    ];
    for claims in accepted.iter().chain(&refused) {
        let caller = Caller::AuthenticatedWithClaims(claims);
        let by_function =
            outcome(api.call(caller, "SELECT device_name FROM get_user_devices()", &[]));
        let by_policy = outcome(api.call(caller, "SELECT device_name FROM compute_devices", &[]));
        let by_view =
            outcome(api.call(caller, "SELECT device_name FROM compute_devices_live", &[]));
        assert_eq!(by_function, by_policy, "{claims}");
        assert_eq!(by_view, by_policy, "{claims}");
        let expected = if accepted.contains(claims) {
            Ok(vec!["alices".to_string()])
        } else {
            Err("42501".to_string())
        };
        assert_eq!(by_function, expected, "{claims}");
    }
}

#[test]
fn specs_are_stored_without_trailing_zeros_so_totals_stay_small() {
    let mut db = test_db("trailing_zeros");
    let mut api = db.postgrest();
    let row = api
        .register(ALICE_CALLS, "zeros", "laptop", ("16.000", 8, "512.5000"))
        .unwrap();
    assert_eq!(row.get::<_, String>(4), "16");
    assert_eq!(row.get::<_, String>(6), "512.5");
    let inflated = format!("1.{}", "0".repeat(16_382));
    let row = api
        .register(ALICE_CALLS, "inflated", "laptop", (&inflated, 8, &inflated))
        .unwrap();
    assert_eq!(row.get::<_, String>(4), "1");
    assert_eq!(row.get::<_, String>(6), "1");
    let stored: String = db
        .superuser
        .query_one(
            "SELECT string_agg(ram_gb::text || ' ' || storage_gb::text, ',' ORDER BY device_name)
               FROM compute_devices",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, "1 1,16 512.5");
    let totals = api
        .call_one(
            Caller::Anon,
            "SELECT total_ram_gb::text, total_storage_gb::text, total_compute_score::text
               FROM get_network_stats()",
            &[],
        )
        .unwrap();
    let totals: Vec<String> = (0..3).map(|i| totals.get(i)).collect();
    assert_eq!(totals[0], "17");
    assert_eq!(totals[1], "513.5");
    assert!(totals.iter().all(|total| total.len() < 12), "{totals:?}");
    // Past a bound by the smallest amount is still past it.
    let (sqlstate, message) =
        sqlstate_of(api.register(ALICE_CALLS, "over", "laptop", ("65536.000000001", 8, "1")));
    assert_eq!(sqlstate, "22003", "{message}");
    let (sqlstate, message) =
        sqlstate_of(api.register(ALICE_CALLS, "huge", "laptop", (&"9".repeat(5_000), 8, "1")));
    assert_eq!(sqlstate, "22003", "{message}");
    assert!(message.len() < 200, "the message stays short: {message}");
}

#[test]
fn device_names_are_visible_text() {
    let mut db = test_db("visible_names");
    let mut api = db.postgrest();
    let before = db.table_fingerprint();
    let invisible = [
        "a\u{200B}b",      // zero-width space
        "evil\u{202E}gpj", // right-to-left override
        "a\u{2066}b",      // left-to-right isolate
        "line\u{2028}two", // line separator
        "para\u{2029}two", // paragraph separator
        "\u{FEFF}bom",     // zero-width no-break space
        "soft\u{AD}hyphen",
        "a\u{2060}b",      // word joiner
        "a\u{E0041}b",     // tag character
        "a\u{FE0F}b",      // variation selector
        "a\u{115F}b",      // Hangul filler
        "non\u{FDD0}char", // noncharacter
        "non\u{FFFE}char",
        "non\u{10FFFF}char",
        "\u{200B}",
        "\u{200B} \u{200C}",
    ];
    for name in invisible {
        let (sqlstate, message) = sqlstate_of(api.register(ALICE_CALLS, name, "phone", GOOD_SPECS));
        assert_eq!(sqlstate, "22023", "{name:?}: {message}");
        assert!(message.starts_with("device_name"), "{message}");
    }
    assert_eq!(db.table_fingerprint(), before, "nothing was stored");
    for name in [
        "Café ☕",
        "数据中心-7",
        "e\u{301}cole",
        "rack 12 — gpu",
        "🚀",
    ] {
        let row = api
            .register(ALICE_CALLS, name, "server", GOOD_SPECS)
            .unwrap();
        assert_eq!(row.get::<_, String>(2), name);
    }
}

#[test]
fn the_device_limit_holds_at_every_isolation_level() {
    let db = test_db("limit_isolation");
    let mut superuser = db.superuser_connection();
    superuser
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.max_devices_per_user = 2",
            db.name
        ))
        .unwrap();
    let levels = [
        ("read committed", IsolationLevel::ReadCommitted),
        ("repeatable read", IsolationLevel::RepeatableRead),
        ("serializable", IsolationLevel::Serializable),
    ];
    for (number, (label, level)) in levels.into_iter().enumerate() {
        let owner = format!("5555555{number}-5555-4555-8555-555555555555");
        let start = Arc::new(Barrier::new(3));
        let racers: Vec<_> = (0..3)
            .map(|racer| {
                let mut api = db.postgrest();
                let start = Arc::clone(&start);
                let owner = owner.clone();
                std::thread::spawn(move || {
                    // The transaction's snapshot is taken here, before any racer registers.
                    let builder = api.client.build_transaction().isolation_level(level);
                    let mut transaction = request(builder, Caller::User(&owner)).unwrap();
                    start.wait();
                    let registered = transaction
                        .execute(
                            "SELECT register_device($1, 'phone', 1, 1, 1)",
                            &[&format!("racer {racer}")],
                        )
                        .and_then(|_| transaction.commit());
                    registered.map_err(|error| {
                        error
                            .as_db_error()
                            .map(|db| db.code().code().to_string())
                            .unwrap_or_else(|| error.to_string())
                    })
                })
            })
            .collect();
        let outcomes: Vec<Result<(), String>> = racers
            .into_iter()
            .map(|racer| racer.join().unwrap())
            .collect();
        let rows: i64 = superuser
            .query_one(
                "SELECT count(*) FROM compute_devices WHERE user_id = $1::text::uuid",
                &[&owner],
            )
            .unwrap()
            .get(0);
        let succeeded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert!(
            rows <= 2,
            "{label}: {rows} devices past a limit of 2: {outcomes:?}"
        );
        assert_eq!(rows as usize, succeeded, "{label}: {outcomes:?}");
        assert!(succeeded >= 1, "{label}: {outcomes:?}");
        for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
            assert!(
                refused == "23514" || refused == "40001",
                "{label}: refused with {refused}"
            );
        }
    }
}

#[test]
fn reads_take_no_transaction_id_and_writes_refuse_a_read_only_transaction() {
    let db = test_db("read_only");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "reader", "desktop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let reads = [
        (Caller::Anon, "SELECT * FROM get_network_stats()"),
        (Caller::Anon, "SELECT * FROM get_network_stats_by_type()"),
        (ALICE_CALLS, "SELECT * FROM get_user_devices()"),
        (ALICE_CALLS, "SELECT caller_user_id()"),
        (ALICE_CALLS, "SELECT * FROM compute_devices"),
        (ALICE_CALLS, "SELECT * FROM compute_devices_live"),
    ];
    for (caller, read) in reads {
        let mut transaction = request(api.client.build_transaction(), caller).unwrap();
        transaction.query(read, &[]).unwrap();
        let assigned: Option<String> = transaction
            .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(assigned, None, "{read} took a transaction id");
        transaction.commit().unwrap();

        let read_only = api.client.build_transaction().read_only(true);
        let mut transaction = request(read_only, caller).unwrap();
        transaction.query(read, &[]).unwrap();
        transaction.commit().unwrap();
    }
    let mut superuser = db.superuser_connection();
    let status = superuser
        .query_one("SELECT count(*) FROM liveness_status()", &[])
        .unwrap();
    assert_eq!(status.get::<_, i64>(0), 1);

    let writes = [
        (
            Some(ALICE_CALLS),
            "SELECT register_device('new', 'phone', 1, 1, 1)".to_string(),
        ),
        (Some(ALICE_CALLS), format!("SELECT send_heartbeat('{id}')")),
        (
            Some(ALICE_CALLS),
            format!("SELECT deactivate_device('{id}')"),
        ),
        (
            Some(Caller::Service),
            format!(
                "SELECT * FROM send_heartbeats(ARRAY['{ALICE}']::uuid[], ARRAY['{id}']::uuid[])"
            ),
        ),
        // The DBA's.
        (None, "SELECT sweep_stale_devices()".to_string()),
    ];
    for (caller, write) in writes {
        let mut transaction = match caller {
            Some(caller) => request(api.client.build_transaction().read_only(true), caller),
            None => superuser.build_transaction().read_only(true).start(),
        }
        .unwrap();
        let (sqlstate, message) = sqlstate_of(transaction.query(write.as_str(), &[]));
        assert_eq!(sqlstate, "25006", "{write}: {message}");
        assert!(message.contains("read-only transaction"), "{message}");
    }
    // The device is as it was: active, not stopped.
    assert_eq!(
        api.user_devices(ALICE_CALLS).unwrap(),
        vec![("reader".to_string(), true)]
    );
}

#[test]
fn a_set_returning_call_abandoned_mid_cursor_by_a_rollback_is_safe() {
    let db = test_db("abandoned_cursor");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "cursor", "laptop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let calls = [
        (
            Caller::Anon,
            "SELECT * FROM get_network_stats_by_type()".to_string(),
        ),
        (ALICE_CALLS, "SELECT * FROM get_user_devices()".to_string()),
        (
            Caller::Service,
            format!(
                "SELECT * FROM send_heartbeats(ARRAY['{ALICE}', '{ALICE}', '{BOB}']::uuid[],
                                               ARRAY['{id}', NULL, '{id}']::uuid[])"
            ),
        ),
    ];
    for (caller, call) in calls {
        let mut transaction = request(api.client.build_transaction(), caller).unwrap();
        transaction
            .batch_execute(&format!(
                "SAVEPOINT before_the_cursor;
                 DECLARE rows NO SCROLL CURSOR FOR {call};
                 FETCH 1 FROM rows;
                 ROLLBACK TO SAVEPOINT before_the_cursor;"
            ))
            .unwrap_or_else(|error| panic!("{call}: {error}"));
        transaction.commit().unwrap();
        assert_eq!(
            api.stats(Caller::Anon).unwrap().0,
            1,
            "the backend survived {call}"
        );
    }
}

/// current_liveness() runs as its caller, who can hand it any values: it reads a device's
/// heartbeat only for a caller who may read that device's row, and hands anyone else back the
/// values given.
#[test]
fn current_liveness_tells_a_caller_nothing_about_another_users_device() {
    let db = test_db("liveness_of_others");
    let mut api = db.postgrest();
    let id: String = api
        .register(ALICE_CALLS, "watched", "server", GOOD_SPECS)
        .unwrap()
        .get(0);
    api.heartbeat(ALICE_CALLS, &id).unwrap();
    let probe = "SELECT is_active, last_seen::text
                   FROM current_liveness($1::text::uuid, $2::text::uuid, false, '-infinity', NULL)";
    let given = (false, "-infinity".to_string());
    let answer = |api: &mut crate::common::PostgRest, caller: Caller, owner: &str| {
        let row = api.call_one(caller, probe, &[&id, &owner]).unwrap();
        (row.get::<_, bool>(0), row.get::<_, String>(1))
    };
    for owner in [ALICE, BOB] {
        assert_eq!(answer(&mut api, Caller::User(BOB), owner), given, "{owner}");
    }
    let (sqlstate, _) = sqlstate_of(api.call(Caller::Anon, probe, &[&id, &ALICE]));
    assert_eq!(sqlstate, "42501", "anon may not call it");

    // Alice herself gets her device's heartbeat where shared memory holds it.
    let mut superuser = db.superuser_connection();
    let path = common::liveness_path(&mut superuser);
    let own = answer(&mut api, ALICE_CALLS, ALICE);
    if path == "shared memory" {
        assert!(own.0, "{own:?}");
        assert_ne!(own.1, "-infinity");
    } else {
        assert_eq!(own, given, "on the table path, the values given");
    }
}
