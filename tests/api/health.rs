//! Device health (issue 16): the columns uptime_1d, uptime_7d, flaps_24h and health_score of
//! compute_devices_live and get_user_devices against a direct SQL computation (multiranges)
//! over spells and unknown periods the test writes as superuser at chosen times; a new
//! device's prior; more uptime never lowering the score and more flaps never raising it; unknown
//! periods counted neither online nor offline; and nobody but the owner (or the DBA) reading a
//! device's health. Included by one test binary per liveness path, each with its own `test_db`.
//!
//! Spells are placed so that the answers do not change while the test runs: every device was
//! created ten days ago, and is in the same state (online or not) a week ago, a day ago and now,
//! so the windows sliding forward add and drop as much online time as they add and drop time.

use super::accelerators::register_with;
use crate::common::{eventually, request, Caller, PostgRest, TestDb, ALICE, BOB};
use crate::test_db;
use std::time::Duration;

/// The health of every device, computed directly from its spells and the unknown periods with
/// multiranges (not as the extension does), as text: (id, uptime_1d, uptime_7d, flaps_24h,
/// health_score, p), p the probability get_capacity weighs it by.
pub(super) const TRUTH_HEALTH: &str = r#"
WITH unknown AS (
    SELECT coalesce(range_agg(tstzrange(started_at, ended_at)), '{}'::tstzmultirange) AS m
      FROM unknown_periods
), known AS (
    SELECT d.id,
           tstzmultirange(tstzrange(least(greatest(now() - interval '1 day', d.created_at), now()),
                                    now())) - u.m AS k1,
           tstzmultirange(tstzrange(least(greatest(now() - interval '7 days', d.created_at), now()),
                                    now())) - u.m AS k7
      FROM compute_devices AS d, unknown AS u
), online AS (
    SELECT k.id, k.k1, k.k7,
           coalesce((SELECT range_agg(tstzrange(i.started_at, greatest(i.started_at, coalesce(i.ended_at, now()))))
                       FROM online_intervals AS i WHERE i.device_id = k.id), '{}'::tstzmultirange) AS o,
           (SELECT count(*) FROM online_intervals AS i
             WHERE i.device_id = k.id AND i.end_reason = 'stale'
               AND i.ended_at > now() - interval '1 day') AS flaps
      FROM known AS k
), lengths AS (
    SELECT o.id, o.flaps,
           (SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) FROM unnest(o.k1) AS r) AS known1,
           (SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) FROM unnest(o.k7) AS r) AS known7,
           (SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) FROM unnest(o.o * o.k1) AS r) AS online1,
           (SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) FROM unnest(o.o * o.k7) AS r) AS online7
      FROM online AS o
), uptime AS (
    SELECT l.id, l.flaps, l.known7 / 3600 AS hours,
           CASE WHEN l.known1 > 0 THEN round(least(l.online1 / l.known1, 1), 4) END AS u1,
           CASE WHEN l.known7 > 0 THEN round(least(l.online7 / l.known7, 1), 4) END AS u7
      FROM lengths AS l
), reliability AS (
    SELECT u.*, (coalesce(u.u7, 0) * u.hours + 12) / (u.hours + 24) AS r FROM uptime AS u
)
SELECT r.id, r.u1, r.u7, r.flaps::int4 AS flaps_24h, round(100 * r.r * 0.9 ^ r.flaps, 1) AS health_score,
       round(r.r, 4) AS p
  FROM reliability AS r"#;

/// (id, uptime_1d, uptime_7d, flaps_24h, health_score) as text.
type Shown = (String, Option<String>, Option<String>, i32, Option<String>);

fn shown(row: &postgres::Row) -> Shown {
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

/// The truth for these devices, by id.
fn truth(db: &mut TestDb, ids: &[String]) -> Vec<Shown> {
    let sql = format!(
        "SELECT id::text, u1::text, u7::text, flaps_24h, health_score::text FROM ({TRUTH_HEALTH}) AS t
          WHERE id = ANY ($1::text[]::uuid[]) ORDER BY id"
    );
    let rows = db.superuser.query(&sql, &[&ids]).unwrap();
    rows.iter().map(shown).collect()
}

/// The caller's devices' health as get_user_devices returns it, by id.
fn user_health(api: &mut PostgRest, user: &str) -> Vec<Shown> {
    let rows = api
        .call(
            Caller::User(user),
            "SELECT id::text, uptime_1d::text, uptime_7d::text, flaps_24h, health_score::text
               FROM get_user_devices() ORDER BY id",
            &[],
        )
        .unwrap();
    rows.iter().map(shown).collect()
}

/// The DBA's view of these devices: compute_devices_live read by the superuser.
fn view_health(db: &mut TestDb, ids: &[String]) -> Vec<Shown> {
    let rows = db
        .superuser
        .query(
            "SELECT id::text, uptime_1d::text, uptime_7d::text, flaps_24h, health_score::text
               FROM compute_devices_live WHERE id = ANY ($1::text[]::uuid[]) ORDER BY id",
            &[&ids],
        )
        .unwrap();
    rows.iter().map(shown).collect()
}

/// A spell: (started hours ago, ended hours ago or None for open, end reason).
pub(super) type Spell = (f64, Option<f64>, Option<&'static str>);

/// Waits until the registration of the device has opened its spell (on the shared-memory path
/// the worker records it within a second), so that it does not land after the test's own.
pub(super) fn registration_recorded(db: &mut TestDb, id: &str) {
    let recorded = eventually(Duration::from_secs(5), || {
        db.superuser
            .query_one(
                "SELECT count(*) > 0 FROM online_intervals WHERE device_id = $1::text::uuid",
                &[&id],
            )
            .unwrap()
            .get(0)
    });
    assert!(recorded, "the registration of {id} opened a spell");
}

/// Replaces the device's spells with these, and makes it created ten days ago.
pub(super) fn place_spells(db: &mut TestDb, id: &str, spells: &[Spell]) {
    let mut transaction = db.superuser.transaction().unwrap();
    transaction
        .execute(
            "UPDATE compute_devices SET created_at = now() - interval '10 days'
              WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    transaction
        .execute(
            "DELETE FROM online_intervals WHERE device_id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    for (started, ended, reason) in spells {
        transaction
            .execute(
                "INSERT INTO online_intervals (device_id, started_at, ended_at, end_reason)
                 VALUES ($1::text::uuid, now() - make_interval(secs => $2::float8 * 3600),
                         now() - make_interval(secs => $3::float8 * 3600), $4::text)",
                &[&id, started, ended, reason],
            )
            .unwrap();
    }
    transaction.commit().unwrap();
}

/// Replaces the unknown periods with these: (started hours ago, ended hours ago).
pub(super) fn place_unknown(db: &mut TestDb, periods: &[(f64, f64)]) {
    let mut transaction = db.superuser.transaction().unwrap();
    transaction
        .execute("DELETE FROM unknown_periods", &[])
        .unwrap();
    for (started, ended) in periods {
        transaction
            .execute(
                "INSERT INTO unknown_periods (started_at, ended_at)
                 VALUES (now() - make_interval(secs => $1::float8 * 3600),
                         now() - make_interval(secs => $2::float8 * 3600))",
                &[started, ended],
            )
            .unwrap();
    }
    transaction.commit().unwrap();
}

/// A desktop of the user's, its registration's spell recorded.
fn register(db: &mut TestDb, api: &mut PostgRest, user: &str, name: &str) -> String {
    let id = register_with(
        api,
        Caller::User(user),
        name,
        "desktop",
        ("16", 8, "512"),
        None,
        None,
    )
    .unwrap()
    .0;
    registration_recorded(db, &id);
    id
}

const DAY: f64 = 24.0;

/// Spell patterns, each online (or not) alike a week ago, a day ago and now.
pub(super) fn patterns() -> Vec<Vec<Spell>> {
    vec![
        // Online all along.
        vec![(10.0 * DAY, None, None)],
        // Online, with a gap of two days: stale, then back.
        vec![
            (10.0 * DAY, Some(4.0 * DAY), Some("stale")),
            (2.0 * DAY, None, None),
        ],
        // Online around the edges only, with two flaps in the last day.
        vec![
            (7.0 * DAY + 1.0, Some(7.0 * DAY - 1.0), Some("stale")),
            (DAY + 1.0, Some(DAY - 1.0), Some("stopped")),
            (20.0, Some(18.0), Some("stale")),
            (10.0, Some(9.5), Some("stale")),
            (1.0, None, None),
        ],
        // Offline a week ago, a day ago and now: one spell in between, stale in the last day.
        vec![
            (5.0 * DAY, Some(3.0 * DAY), Some("stopped")),
            (12.0, Some(6.0), Some("stale")),
        ],
        // Never online.
        vec![],
    ]
}

/// Unknown periods away from the windows' edges: one in the week, one in the day.
pub(super) const UNKNOWN: [(f64, f64); 2] = [(3.0 * DAY + 6.0, 3.0 * DAY), (10.5, 9.0)];

#[test]
fn health_columns_equal_a_direct_computation_over_the_recorded_spells() {
    let mut db = test_db("health_truth");
    let mut api = db.postgrest();
    let mut ids = Vec::new();
    for (i, spells) in patterns().iter().enumerate() {
        let user = if i % 2 == 0 { ALICE } else { BOB };
        let id = register(&mut db, &mut api, user, &format!("d{i}"));
        place_spells(&mut db, &id, spells);
        ids.push((user, id));
    }
    let all: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    for unknown in [&[][..], &UNKNOWN[..]] {
        place_unknown(&mut db, unknown);
        let want = truth(&mut db, &all);
        assert_eq!(want.len(), all.len());
        assert!(
            want.iter().any(|row| row.2.as_deref() != Some("1.0000")),
            "the patterns give other uptimes than 1: {want:?}"
        );
        assert_eq!(view_health(&mut db, &all), want, "the DBA's view");
        for user in [ALICE, BOB] {
            let mine: Vec<Shown> = want
                .iter()
                .filter(|row| ids.iter().any(|(u, id)| *u == user && *id == row.0))
                .cloned()
                .collect();
            assert_eq!(
                user_health(&mut api, user),
                mine,
                "get_user_devices of {user}"
            );
        }
    }
    // The flaps of the third pattern: two stale ends in the last day (the one a day ago was a
    // stop); the fourth's one.
    let rows = truth(&mut db, &all);
    let flaps_of = |i: usize| rows.iter().find(|row| row.0 == ids[i].1).unwrap().3;
    assert_eq!((flaps_of(2), flaps_of(3)), (2, 1), "{rows:?}");

    // Nobody else reads a device's health: not through the view (row-level security), and not
    // by calling device_health with its id and owner.
    let alice_device = &ids[0].1;
    let other = api
        .call_one(
            Caller::User(BOB),
            "SELECT h IS NULL FROM device_health($1::text::uuid, $2::text::uuid, now()) AS h",
            &[alice_device, &ALICE],
        )
        .unwrap();
    assert!(
        other.get::<_, bool>(0),
        "BOB reads nothing of ALICE's device"
    );
    let claimed = api
        .call_one(
            Caller::User(BOB),
            "SELECT h IS NULL FROM device_health($1::text::uuid, $2::text::uuid, now()) AS h",
            &[alice_device, &BOB],
        )
        .unwrap();
    assert!(
        claimed.get::<_, bool>(0),
        "BOB reads nothing of ALICE's device by naming himself its owner"
    );
    let own = api
        .call_one(
            Caller::User(ALICE),
            "SELECT (h).uptime_7d::text FROM device_health($1::text::uuid, $2::text::uuid,
                                                          now() - interval '10 days') AS h",
            &[alice_device, &ALICE],
        )
        .unwrap();
    assert_eq!(own.get::<_, Option<String>>(0).as_deref(), Some("1.0000"));
    place_unknown(&mut db, &[]);
}

#[test]
fn a_new_device_starts_from_the_prior() {
    let db = test_db("health_prior");
    let mut api = db.postgrest();
    let row = api
        .call_one(
            Caller::User(ALICE),
            "SELECT uptime_1d::text, uptime_7d::text, flaps_24h, health_score::text
               FROM register_device('new', 'laptop', 8, 4, 256)",
            &[],
        )
        .unwrap();
    let prior: (Option<String>, Option<String>, i32, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(prior, (None, None, 0, Some("50.0".to_string())));
    // A moment later its uptime is known (it has been online since), its score still the
    // prior's: a few seconds weigh nothing against the prior's day.
    let rows = api
        .call(
            Caller::User(ALICE),
            "SELECT flaps_24h, health_score::text FROM get_user_devices()",
            &[],
        )
        .unwrap();
    let later: (i32, String) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(later, (0, "50.0".to_string()));
    // deactivate_device returns the row with its health too.
    let id: String = api
        .call_one(
            Caller::User(ALICE),
            "SELECT id::text FROM get_user_devices()",
            &[],
        )
        .unwrap()
        .get(0);
    let stopped = api
        .call_one(
            Caller::User(ALICE),
            "SELECT health_score IS NOT NULL, flaps_24h FROM deactivate_device($1::text::uuid)",
            &[&id],
        )
        .unwrap();
    assert_eq!(
        (stopped.get::<_, bool>(0), stopped.get::<_, i32>(1)),
        (true, 0)
    );
    // After the seed's columns and the accelerators and place, in this order.
    let columns: Vec<String> = db_columns(&db);
    assert_eq!(
        columns[columns.len() - 4..],
        ["uptime_1d", "uptime_7d", "flaps_24h", "health_score"]
    );
}

/// register_device writes a new device's health out instead of asking the query (the query
/// would find nothing to read): both say the same, read in one transaction (one now()).
#[test]
fn a_registration_returns_the_health_the_query_gives_a_new_device() {
    let db = test_db("health_inserted");
    let mut api = db.postgrest();
    let health = "row(uptime_1d, uptime_7d, flaps_24h, health_score)::text";
    let mut transaction = request(api.client.build_transaction(), Caller::User(ALICE)).unwrap();
    let returned: String = transaction
        .query_one(
            &format!("SELECT {health} FROM register_device('fresh', 'server', 64, 32, 2048)"),
            &[],
        )
        .unwrap()
        .get(0);
    let queried: String = transaction
        .query_one(
            &format!("SELECT {health} FROM get_user_devices() WHERE device_name = 'fresh'"),
            &[],
        )
        .unwrap()
        .get(0);
    transaction.commit().unwrap();
    assert_eq!(returned, queried);
    assert_eq!(returned, "(,,0,50.0)");
}

fn db_columns(db: &TestDb) -> Vec<String> {
    let mut superuser = db.superuser_connection();
    superuser
        .query(
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = 'compute_devices_live'::regclass AND attnum > 0 ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The device's (uptime_7d, health_score) as its owner sees them, as numbers.
fn score_of(api: &mut PostgRest, user: &str, id: &str) -> (f64, f64) {
    let row = api
        .call_one(
            Caller::User(user),
            "SELECT uptime_7d::float8, health_score::float8 FROM get_user_devices()
              WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn more_uptime_never_lowers_health_and_more_flaps_never_raise_it() {
    let mut db = test_db("health_monotone");
    let mut api = db.postgrest();
    let id = register(&mut db, &mut api, ALICE, "d");
    place_unknown(&mut db, &[]);
    // One spell, longer each time: up to the whole week.
    let mut previous = (-1.0, -1.0);
    for hours in [
        0.0,
        1.0,
        12.0,
        30.0,
        80.0,
        150.0,
        167.0,
        7.0 * DAY,
        10.0 * DAY,
    ] {
        let spells: Vec<Spell> = if hours == 0.0 {
            vec![]
        } else {
            vec![(hours, None, None)]
        };
        place_spells(&mut db, &id, &spells);
        let now = score_of(&mut api, ALICE, &id);
        assert!(
            now.0 >= previous.0 && now.1 >= previous.1,
            "{hours} hours online: {now:?} after {previous:?}"
        );
        previous = now;
    }
    assert_eq!(previous.0, 1.0);
    // The same time online, cut into more and more spells that went stale in the last day.
    let mut previous = (f64::MAX, f64::MAX);
    for flaps in 0..6 {
        let mut spells: Vec<Spell> = vec![(3.0 * DAY, Some(20.0), Some("stale"))];
        let mut start = 20.0;
        for _ in 0..flaps {
            spells.push((start, Some(start - 2.0), Some("stale")));
            start -= 2.0;
        }
        spells.push((start, None, None));
        // The first spell's end counts as a flap too: one more than the cuts.
        place_spells(&mut db, &id, &spells);
        let now = score_of(&mut api, ALICE, &id);
        assert!(
            now.0 == previous.0 || previous.0 == f64::MAX,
            "the uptime stays: {now:?} after {previous:?}"
        );
        assert!(
            now.1 < previous.1,
            "{} flaps: {now:?} after {previous:?}",
            flaps + 1
        );
        previous = now;
    }
}

#[test]
fn unknown_periods_count_neither_online_nor_offline() {
    let mut db = test_db("health_unknown");
    let mut api = db.postgrest();
    let id = register(&mut db, &mut api, ALICE, "d");
    // Online the last two days of the week.
    place_spells(&mut db, &id, &[(2.0 * DAY, None, None)]);
    let uptime = |db: &mut TestDb, api: &mut PostgRest, unknown: &[(f64, f64)]| {
        place_unknown(db, unknown);
        let row = api
            .call_one(
                Caller::User(ALICE),
                "SELECT uptime_7d::text, uptime_1d::text FROM get_user_devices()",
                &[],
            )
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, String>(1))
    };
    // 2 of 7 days.
    assert_eq!(uptime(&mut db, &mut api, &[]).0, "0.2857");
    // Three offline days unknown: 2 of 4.
    assert_eq!(
        uptime(&mut db, &mut api, &[(6.0 * DAY, 3.0 * DAY)]).0,
        "0.5000"
    );
    // And half a day online unknown: 1.5 of 3.5; the last day 12 of 12 hours known.
    assert_eq!(
        uptime(
            &mut db,
            &mut api,
            &[(6.0 * DAY, 3.0 * DAY), (DAY + 12.0, DAY)]
        ),
        ("0.4286".to_string(), "1.0000".to_string())
    );
    // Overlapping periods count once: 2 of 4 again.
    assert_eq!(
        uptime(
            &mut db,
            &mut api,
            &[(6.0 * DAY, 4.0 * DAY), (5.0 * DAY, 3.0 * DAY)]
        )
        .0,
        "0.5000"
    );
    // The whole week unknown: no uptime at all, and the prior's score.
    let row = {
        place_unknown(&mut db, &[(10.0 * DAY, -1.0)]);
        api.call_one(
            Caller::User(ALICE),
            "SELECT uptime_7d IS NULL, uptime_1d IS NULL, health_score::text FROM get_user_devices()",
            &[],
        )
        .unwrap()
    };
    assert_eq!(
        (
            row.get::<_, bool>(0),
            row.get::<_, bool>(1),
            row.get::<_, String>(2)
        ),
        (true, true, "50.0".to_string())
    );
    place_unknown(&mut db, &[]);
}
