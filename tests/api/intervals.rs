//! Online intervals (issue 16): every change of a device's liveness is recorded in
//! `online_intervals` at the time the active window's rule gives it: a registration opens a
//! spell at the registration, a stop closes it at the stop, silence closes it a window after
//! the last heartbeat, a heartbeat after silence opens a new one at the heartbeat, a delete closes
//! it. On the shared-memory path the worker records them from the slots (a device falls silent
//! past a short server window); on the table path the writes and sweep_stale_devices() do (a
//! device's last_seen is moved back by hand, as a DBA would, then swept).
//! Included by one test binary per liveness path, each with its own `test_db`.

use super::capacity_truth::ShortServerWindow;
use crate::common::{self, eventually, Caller, PostgRest, TestDb, ALICE, BOB, GOOD_SPECS};
use crate::test_db;
use std::time::Duration;

/// A device's spells as (started_at, ended_at, end_reason), times as epoch microseconds.
type Spell = (i64, Option<i64>, Option<String>);

fn spells(db: &mut TestDb, device: &str) -> Vec<Spell> {
    db.superuser
        .query(
            "SELECT (extract(epoch FROM started_at) * 1000000)::int8,
                    (extract(epoch FROM ended_at) * 1000000)::int8, end_reason
               FROM online_intervals WHERE device_id = $1::text::uuid ORDER BY started_at",
            &[&device],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// A timestamp column of the device's row, as epoch microseconds.
fn row_time(db: &mut TestDb, device: &str, column: &str) -> i64 {
    db.superuser
        .query_one(
            &format!(
                "SELECT (extract(epoch FROM {column}) * 1000000)::int8
                   FROM compute_devices WHERE id = $1::text::uuid"
            ),
            &[&device],
        )
        .unwrap()
        .get(0)
}

/// The heartbeat's own time (its transaction's now(), which the heartbeat returns).
fn beat_at(api: &mut PostgRest, caller: Caller<'_>, device: &str) -> i64 {
    api.call_one(
        caller,
        "SELECT (extract(epoch FROM last_seen) * 1000000)::int8
           FROM send_heartbeat(device_id => $1::text::uuid)",
        &[&device],
    )
    .unwrap()
    .get(0)
}

/// Waits (the worker records once a second) until the device's spells are `expected`.
fn assert_spells(db: &mut TestDb, device: &str, expected: &[Spell], what: &str) {
    let settled = eventually(Duration::from_secs(5), || spells(db, device) == expected);
    assert!(
        settled,
        "{what}: spells {:?}, expected {expected:?}",
        spells(db, device)
    );
}

fn window_micros(db: &mut TestDb) -> i64 {
    let seconds: f64 = db
        .superuser
        .query_one(
            "SELECT setting::float8 FROM pg_settings WHERE name = 'compute_devices.active_window'",
            &[],
        )
        .unwrap()
        .get(0);
    (seconds * 1e6) as i64
}

#[test]
fn every_liveness_change_is_recorded_at_its_exact_time() {
    let mut db = test_db("online_intervals");
    let shared = common::liveness_path(&mut db.superuser) == "shared memory";
    let _window = shared.then(|| ShortServerWindow::set(&mut db));
    let window = window_micros(&mut db);
    let mut api = db.postgrest();
    let alice = Caller::User(ALICE);
    let bob = Caller::User(BOB);
    let register = |api: &mut PostgRest, caller, name| -> String {
        api.register(caller, name, "laptop", GOOD_SPECS)
            .unwrap()
            .get(0)
    };

    // Registered: a spell opens at the registration.
    let laptop = register(&mut api, alice, "laptop");
    let phone = register(&mut api, bob, "phone");
    let registered = row_time(&mut db, &laptop, "created_at");
    assert_spells(&mut db, &laptop, &[(registered, None, None)], "registered");
    let phone_registered = row_time(&mut db, &phone, "created_at");
    assert_spells(
        &mut db,
        &phone,
        &[(phone_registered, None, None)],
        "registered",
    );

    // Stopped by its owner: closed at the stop (the worker sees the stop's commit, a moment
    // after the row's deactivated_at).
    api.deactivate(bob, &phone).unwrap();
    let stopped = row_time(&mut db, &phone, "deactivated_at");
    assert!(
        eventually(Duration::from_secs(5), || spells(&mut db, &phone)
            .first()
            .is_some_and(|spell| spell.1.is_some())),
        "the stop closes the spell"
    );
    let spell = spells(&mut db, &phone).remove(0);
    assert_eq!(spell.2.as_deref(), Some("stopped"));
    let closed_at = spell.1.unwrap();
    assert!(
        (stopped..stopped + 1_000_000).contains(&closed_at),
        "closed at the stop: {closed_at} vs {stopped}"
    );

    // Gone stale: closed a window after its last heartbeat.
    let last_beat = beat_at(&mut api, alice, &laptop);
    let last_beat = if shared {
        std::thread::sleep(Duration::from_micros((window + 1_500_000) as u64));
        last_beat
    } else {
        // Silent for an hour, registered two hours ago (its spell too), as a DBA would write it.
        db.superuser
            .batch_execute(&format!(
                "UPDATE compute_devices SET last_seen = now() - interval '1 hour',
                                            created_at = created_at - interval '2 hours'
                  WHERE id = '{laptop}';
                 UPDATE online_intervals SET started_at = started_at - interval '2 hours'
                  WHERE device_id = '{laptop}'"
            ))
            .unwrap();
        let swept: i64 = db
            .superuser
            .query_one("SELECT sweep_stale_devices()", &[])
            .unwrap()
            .get(0);
        assert_eq!(swept, 1, "the sweep marks it stale");
        row_time(&mut db, &laptop, "last_seen")
    };
    let registered = row_time(&mut db, &laptop, "created_at");
    let stale = (
        registered,
        Some(last_beat + window),
        Some("stale".to_string()),
    );
    assert_spells(&mut db, &laptop, std::slice::from_ref(&stale), "gone stale");

    // Revived by a heartbeat: a new spell from that heartbeat.
    let revived = beat_at(&mut api, alice, &laptop);
    assert_spells(
        &mut db,
        &laptop,
        &[stale.clone(), (revived, None, None)],
        "revived",
    );
    // Heartbeats within the window change nothing.
    beat_at(&mut api, alice, &laptop);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(spells(&mut db, &laptop).len(), 2, "one spell while live");

    // The stopped device registered again: live again from the registration.
    register(&mut api, bob, "phone");
    let again = row_time(&mut db, &phone, "last_seen");
    let phone_spells = spells(&mut db, &phone);
    assert!(
        eventually(Duration::from_secs(5), || spells(&mut db, &phone).len()
            == 2),
        "a second spell: {phone_spells:?}"
    );
    assert_eq!(spells(&mut db, &phone)[1], (again, None, None));

    // Deleted by hand: the delete closes its spell.
    db.superuser
        .execute(
            "DELETE FROM compute_devices WHERE id = $1::text::uuid",
            &[&laptop],
        )
        .unwrap();
    let last = spells(&mut db, &laptop).pop().unwrap();
    assert_eq!(last.0, revived);
    assert_eq!(last.2.as_deref(), Some("deleted"), "{last:?}");
}

/// Nobody but the extension reads or writes the spells: callers see health, not intervals.
#[test]
fn online_intervals_are_the_extensions_own() {
    let db = test_db("online_intervals_private");
    let mut api = db.postgrest();
    for role in ["anon", "authenticated", "service_role"] {
        let caller = match role {
            "anon" => Caller::Anon,
            "authenticated" => Caller::User(ALICE),
            _ => Caller::Service,
        };
        for table in ["online_intervals", "unknown_periods"] {
            let (code, _) =
                common::sqlstate_of(api.call(caller, &format!("SELECT * FROM {table}"), &[]));
            assert_eq!(code, "42501", "{role} reading {table}");
        }
    }
}
