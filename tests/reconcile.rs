//! Rows written around the extension's triggers (`session_replication_role = replica`, as
//! logical replication and many loaders write them), on a cluster of this test's own with the
//! library preloaded: a 100,000-row load shows up in the totals within a few seconds, exactly;
//! updates, deletes, deactivations, id and owner changes are corrected at once by
//! `resync_liveness()`, and within `compute_devices.reconcile_interval` without it; adopted
//! devices' heartbeats are answered from shared memory, and changed ids are no longer trusted.

mod common;

use common::{connect, eventually, sqlstate_of, Caller, PostgRest, TypeStats, ALICE, BOB};
use compute_devices_test_support::{Cluster, ClusterPort};
use postgres::Client;
use std::time::{Duration, Instant};

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "reconcile";
const LOAD: i32 = 100_000;
/// "Within a few seconds": the worker looks every second.
const NEW_ROWS_BOUND: Duration = Duration::from_secs(5);
/// The reconcile_interval set for the last part, and what its bound allows on top (a tick, the
/// comparison itself).
const INTERVAL_SECONDS: u64 = 2;
const INTERVAL_BOUND: Duration = Duration::from_secs(INTERVAL_SECONDS + 6);

/// Inserts devices `first..=last` (names `load-<n>`, ten to an owner) the way a loader does:
/// triggers off, every column given, compute_score computed.
fn load_sql(first: i32, last: i32) -> String {
    format!(
        "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                      storage_gb, compute_score, is_active, last_seen)
         SELECT v.owner, 'load-' || i, (ARRAY['phone', 'laptop', 'desktop', 'server'])[1 + i % 4],
                v.ram, v.cores, v.storage, calculate_compute_score(v.ram, v.cores, v.storage),
                true, now()
           FROM generate_series({first}, {last}) AS i,
                LATERAL (SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i / 10), 12, '0'))::uuid
                                    AS owner,
                                (1 + i % 64)::numeric + 0.5 AS ram, 1 + i % 32 AS cores,
                                (10 + i % 1000)::numeric + 0.25 AS storage) AS v"
    )
}

/// Runs `sql` with the triggers off, in one transaction.
fn without_triggers(superuser: &mut Client, sql: &str) {
    let mut transaction = superuser.transaction().unwrap();
    transaction
        .batch_execute("SET LOCAL session_replication_role = replica")
        .unwrap();
    transaction.batch_execute(sql).unwrap();
    transaction.commit().unwrap();
}

/// Active, not stopped and seen within the window: what the totals count, from the table.
const LIVE: &str = "d.deactivated_at IS NULL AND d.is_active
    AND d.last_seen > now() - current_setting('compute_devices.active_window')::interval";

/// The totals and the totals by type, as the API answers and as the table says.
fn totals(superuser: &mut Client, api: &mut PostgRest) -> [(Vec<TypeStats>, i64); 2] {
    let answered = api.stats_by_type(Caller::Anon).unwrap();
    let network = api.stats(Caller::Anon).unwrap();
    let by_type = superuser
        .query(
            &format!(
                "SELECT u.t, count(d.id), trim_scale(coalesce(sum(d.ram_gb), 0))::text,
                        coalesce(sum(d.cpu_cores), 0)::int8,
                        trim_scale(coalesce(sum(d.storage_gb), 0))::text,
                        trim_scale(coalesce(sum(d.compute_score), 0))::text
                   FROM unnest(ARRAY['phone', 'laptop', 'desktop', 'server']) WITH ORDINALITY
                        AS u(t, n)
                   LEFT JOIN compute_devices AS d ON d.device_type = u.t AND {LIVE}
                  GROUP BY u.t, u.n ORDER BY u.n"
            ),
            &[],
        )
        .unwrap();
    let table: Vec<TypeStats> = by_type
        .iter()
        .map(|row| {
            let stats = (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
            (row.get(0), stats)
        })
        .collect();
    let counted: i64 = table.iter().map(|(_, stats)| stats.0).sum();
    [(answered, network.0), (table, counted)]
}

fn agree(superuser: &mut Client, api: &mut PostgRest) -> bool {
    let [answered, table] = totals(superuser, api);
    answered == table
}

/// Shared memory's totals equal the table's within `bound`; says how long it took.
fn agree_within(
    superuser: &mut Client,
    api: &mut PostgRest,
    bound: Duration,
    what: &str,
) -> Duration {
    let started = Instant::now();
    let agreed = eventually(bound, || agree(superuser, api));
    let [answered, table] = totals(superuser, api);
    assert!(
        agreed,
        "{what}: the totals agree with the table within {bound:?}\nanswered {answered:?}\ntable    {table:?}"
    );
    started.elapsed()
}

/// The totals stay wrong for `time`: nothing but what is tested corrects them.
fn disagree_for(superuser: &mut Client, api: &mut PostgRest, time: Duration, what: &str) {
    let deadline = Instant::now() + time;
    while Instant::now() < deadline {
        assert!(
            !agree(superuser, api),
            "{what}: nothing corrected the totals yet"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn device(superuser: &mut Client, name: &str) -> (String, String) {
    let row = superuser
        .query_one(
            "SELECT id::text, user_id::text FROM compute_devices WHERE device_name = $1",
            &[&name],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// A heartbeat sent while another session holds the table in ACCESS EXCLUSIVE mode: only the
/// shared index can answer it; a lookup in the table would wait, and fail after lock_timeout.
fn heartbeat_without_the_table(owner: &str, id: &str) -> Result<postgres::Row, postgres::Error> {
    let mut locker = connect(PORT.get(), "postgres", DATABASE);
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE compute_devices IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    };
    api.client.batch_execute("SET lock_timeout = '1s'").unwrap();
    let beat = api.heartbeat(Caller::User(owner), id);
    lock.rollback().unwrap();
    beat
}

fn resync(superuser: &mut Client) -> i64 {
    superuser
        .query_one("SELECT resync_liveness()", &[])
        .unwrap()
        .get(0)
}

#[test]
fn rows_written_around_the_triggers_reach_shared_memory() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("reconcile_install", vec![]);
    let cluster = Cluster::init(
        "reconcile",
        &format!(
            "compute_devices.database = '{DATABASE}'\n\
             compute_devices.slots = 200000\n\
             compute_devices.reconcile_interval = '1h'"
        ),
    );
    cluster.start();
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    };
    for name in ["one", "two", "three"] {
        api.register(Caller::User(ALICE), name, "laptop", ("16", 8, "512"))
            .unwrap();
    }
    agree_within(&mut superuser, &mut api, NEW_ROWS_BOUND, "registrations");

    // New rows. A transaction that numbers a slot and commits only after the load, and one
    // that rolls back (burning its numbers), around a 100,000-row load.
    let mut late = connect(PORT.get(), "postgres", DATABASE);
    let mut late = late.transaction().unwrap();
    late.batch_execute("SET LOCAL session_replication_role = replica")
        .unwrap();
    late.batch_execute(&load_sql(0, 0)).unwrap();
    let mut rolled_back = connect(PORT.get(), "postgres", DATABASE);
    let mut rolled_back = rolled_back.transaction().unwrap();
    rolled_back
        .batch_execute(&format!(
            "SET LOCAL session_replication_role = replica; {}",
            load_sql(900_001, 900_005)
        ))
        .unwrap();
    rolled_back.rollback().unwrap();
    without_triggers(&mut superuser, &load_sql(1, LOAD));
    let took = agree_within(&mut superuser, &mut api, NEW_ROWS_BOUND, "the load");
    let count: i64 = superuser
        .query_one(
            &format!("SELECT count(*) FROM compute_devices AS d WHERE {LIVE}"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(count, i64::from(LOAD) + 3);
    eprintln!("{LOAD} rows written without triggers counted {took:?} after their commit");
    std::thread::sleep(Duration::from_secs(2));
    late.commit().unwrap();
    agree_within(
        &mut superuser,
        &mut api,
        NEW_ROWS_BOUND,
        "a row committed late",
    );
    assert_eq!(api.stats(Caller::Anon).unwrap().0, i64::from(LOAD) + 4);

    // The adopted devices are in the shared index: their owners' heartbeats need no table.
    let (id, owner) = device(&mut superuser, "load-7");
    heartbeat_without_the_table(&owner, &id).expect("an adopted device beats from shared memory");
    let (late_id, late_owner) = device(&mut superuser, "load-0");
    heartbeat_without_the_table(&late_owner, &late_id).expect("so does the late one");
    let unknown = "00000000-0000-4000-8000-00000000dead";
    let (sqlstate, _) = sqlstate_of(heartbeat_without_the_table(ALICE, unknown));
    assert_eq!(
        sqlstate, "55P03",
        "a device the index does not know needs the table"
    );

    // A row stored in a slot number that was handed out and settled long ago (as a copy from
    // elsewhere might): no new number shows it, so only a comparison can.
    let burned: i64 = superuser
        .query_one("SELECT nextval('compute_devices_slot_seq')", &[])
        .unwrap()
        .get(0);
    without_triggers(&mut superuser, &load_sql(LOAD + 1, LOAD + 20_000));
    agree_within(&mut superuser, &mut api, NEW_ROWS_BOUND, "a second load");
    std::thread::sleep(Duration::from_secs(3));
    without_triggers(
        &mut superuser,
        &format!(
            "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                          storage_gb, compute_score, is_active, last_seen, slot)
             VALUES ('{ALICE}', 'copied', 'desktop', 4, 2, 100,
                     calculate_compute_score(4, 2, 100), true, now(), {burned})"
        ),
    );
    disagree_for(
        &mut superuser,
        &mut api,
        Duration::from_secs(3),
        "a row in an old number",
    );
    assert!(resync(&mut superuser) >= 1);
    assert!(
        agree(&mut superuser, &mut api),
        "resync_liveness() took it in at once"
    );

    // Changes of every kind without triggers: nothing notices them for reconcile_interval
    // (an hour), resync_liveness() corrects them at once.
    let (moved_id, moved_owner) = device(&mut superuser, "load-11");
    let (given_id, given_owner) = device(&mut superuser, "load-12");
    let n = "substr(device_name, 6)::int";
    let changed: i64 = superuser
        .query_one(
            &format!(
                "SELECT count(*) FROM compute_devices WHERE device_name LIKE 'load-%'
                    AND ({n} % 100 = 1 OR {n} % 200 = 2 OR {n} % 150 = 3 OR {n} % 110 = 4
                         OR {n} IN (11, 12))"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    without_triggers(
        &mut superuser,
        &format!(
            "UPDATE compute_devices SET ram_gb = ram_gb + 1, cpu_cores = cpu_cores + 1,
                    compute_score = calculate_compute_score(ram_gb + 1, cpu_cores + 1, storage_gb)
              WHERE device_name LIKE 'load-%' AND {n} % 100 = 1;
             UPDATE compute_devices SET device_type = 'server'
              WHERE device_name LIKE 'load-%' AND {n} % 200 = 2;
             UPDATE compute_devices SET deactivated_at = now()
              WHERE device_name LIKE 'load-%' AND {n} % 150 = 3;
             DELETE FROM compute_devices WHERE device_name LIKE 'load-%' AND {n} % 110 = 4;
             UPDATE compute_devices SET id = gen_random_uuid() WHERE device_name = 'load-11';
             UPDATE compute_devices SET user_id = '{BOB}' WHERE device_name = 'load-12';"
        ),
    );
    disagree_for(
        &mut superuser,
        &mut api,
        Duration::from_secs(3),
        "changes without triggers",
    );
    let corrected = resync(&mut superuser);
    assert!(
        corrected >= changed,
        "each of the {changed} changed rows corrected: {corrected}"
    );
    assert!(
        agree(&mut superuser, &mut api),
        "resync_liveness() corrected them at once"
    );
    assert_eq!(resync(&mut superuser), 0, "nothing left to correct");
    // The index no longer trusts the old id, or the old owner.
    let (sqlstate, _) = sqlstate_of(api.heartbeat(Caller::User(&moved_owner), &moved_id));
    assert_eq!(sqlstate, "42P01", "the old id is gone");
    let (new_id, _) = device(&mut superuser, "load-11");
    heartbeat_without_the_table(&moved_owner, &new_id)
        .expect("the new id beats from shared memory");
    let (sqlstate, _) = sqlstate_of(api.heartbeat(Caller::User(&given_owner), &given_id));
    assert_eq!(sqlstate, "42P01", "the old owner no longer owns it");
    heartbeat_without_the_table(BOB, &given_id).expect("the new owner beats from shared memory");

    // The same kinds of changes are corrected within reconcile_interval without a call.
    superuser
        .batch_execute(&format!(
            "ALTER SYSTEM SET compute_devices.reconcile_interval = '{INTERVAL_SECONDS}s'"
        ))
        .unwrap();
    superuser.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    without_triggers(
        &mut superuser,
        &format!(
            "UPDATE compute_devices SET storage_gb = storage_gb + 3,
                    compute_score = calculate_compute_score(ram_gb, cpu_cores, storage_gb + 3)
              WHERE device_name LIKE 'load-%' AND {n} % 90 = 5;
             UPDATE compute_devices SET deactivated_at = NULL WHERE deactivated_at IS NOT NULL;
             UPDATE compute_devices SET deactivated_at = now()
              WHERE device_name LIKE 'load-%' AND {n} % 70 = 6;
             DELETE FROM compute_devices WHERE device_name LIKE 'load-%' AND {n} % 80 = 7;"
        ),
    );
    let took = agree_within(
        &mut superuser,
        &mut api,
        INTERVAL_BOUND,
        "reconcile_interval",
    );
    eprintln!("changes without triggers corrected {took:?} after their commit");
    without_triggers(&mut superuser, "TRUNCATE compute_devices CASCADE");
    agree_within(&mut superuser, &mut api, INTERVAL_BOUND, "a truncate");
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 0);
    let (sqlstate, _) = sqlstate_of(api.heartbeat(Caller::User(&owner), &id));
    assert_eq!(sqlstate, "42P01", "a truncated device is gone");

    // For the DBA only, and harmless where shared memory does not serve the database.
    for role in ["anon", "authenticated", "service_role", "public"] {
        let allowed: bool = superuser
            .query_one(
                "SELECT has_function_privilege($1, 'resync_liveness()', 'EXECUTE')",
                &[&role],
            )
            .unwrap()
            .get(0);
        assert!(!allowed, "{role} may not call resync_liveness()");
    }
    let (sqlstate, _) = sqlstate_of(api.call(Caller::Service, "SELECT resync_liveness()", &[]));
    assert_eq!(sqlstate, "42501");
    superuser
        .batch_execute("CREATE DATABASE elsewhere")
        .unwrap();
    let mut elsewhere = connect(PORT.get(), "postgres", "elsewhere");
    elsewhere
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();
    assert_eq!(
        resync(&mut elsewhere),
        0,
        "the table path has nothing to compare"
    );
}
