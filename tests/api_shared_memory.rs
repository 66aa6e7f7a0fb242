//! The same API tests on the shared-memory path: the library is preloaded, heartbeats go to
//! slots and network stats read the worker's snapshot. Then the snapshot against the truth.

mod api;
mod common;

use common::{eventually, Caller, TestDb, TypeStats};
use postgres::Client;
use std::time::Duration;

fn test_db(_test_name: &str) -> TestDb {
    TestDb::shared_memory()
}

const WINDOW_SECONDS: i32 = 3;

/// The totals of exactly these devices, from the table: the ground truth for the snapshot.
fn truth(superuser: &mut Client, live: &[String]) -> (i64, String, i64, String, String) {
    let row = superuser
        .query_one(
            "SELECT count(*), coalesce(trim_scale(sum(ram_gb)), 0)::text,
                    coalesce(sum(cpu_cores), 0)::int8,
                    coalesce(trim_scale(sum(storage_gb)), 0)::text,
                    coalesce(trim_scale(sum(compute_score)), 0)::text
               FROM compute_devices WHERE id = ANY($1::text[]::uuid[])",
            &[&live],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

/// The same truth by device type, in get_network_stats_by_type's order.
fn truth_by_type(superuser: &mut Client, live: &[String]) -> Vec<TypeStats> {
    let rows = superuser
        .query(
            "SELECT t.device_type, count(d.id), coalesce(trim_scale(sum(d.ram_gb)), 0)::text,
                    coalesce(sum(d.cpu_cores), 0)::int8,
                    coalesce(trim_scale(sum(d.storage_gb)), 0)::text,
                    coalesce(trim_scale(sum(d.compute_score)), 0)::text
               FROM unnest(ARRAY['phone', 'laptop', 'desktop', 'server']) WITH ORDINALITY
                    AS t(device_type, position)
               LEFT JOIN compute_devices AS d
                      ON d.device_type = t.device_type AND d.id = ANY($1::text[]::uuid[])
              GROUP BY t.device_type, t.position ORDER BY t.position",
            &[&live],
        )
        .unwrap();
    rows.iter()
        .map(|row| {
            let stats = (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
            (row.get(0), stats)
        })
        .collect()
}

/// How many devices the table itself says are live, once the worker has written back.
fn live_in_table(superuser: &mut Client) -> i64 {
    superuser
        .query_one(
            "SELECT count(*) FROM compute_devices
              WHERE is_active AND last_seen > now() - make_interval(secs => $1)",
            &[&f64::from(WINDOW_SECONDS)],
        )
        .unwrap()
        .get(0)
}

/// ALTER SYSTEM, then a reload (which may not share its transaction).
fn set_server_window(superuser: &mut Client, value: &str) {
    superuser
        .batch_execute(&format!(
            "ALTER SYSTEM SET compute_devices.active_window = {value}"
        ))
        .unwrap();
    superuser.batch_execute("SELECT pg_reload_conf()").unwrap();
}

#[test]
fn the_snapshot_equals_the_truth_after_every_kind_of_change() {
    let mut db = TestDb::shared_memory();
    // The worker counts with the server's window: shorten it for everyone, here only.
    set_server_window(&mut db.superuser, &format!("'{WINDOW_SECONDS}s'"));
    std::thread::sleep(Duration::from_millis(1500));
    let mut api = db.postgrest();
    let users = [
        common::ALICE,
        common::BOB,
        "33333333-3333-4333-8333-333333333333",
    ];
    let mut devices = Vec::new();
    let types = ["phone", "laptop", "desktop", "server"];
    for i in 0..21 {
        let ram = format!("{}.{}", 4 + i, i % 10);
        let storage = format!("{}.05", 100 * i);
        let id: String = api
            .register(
                Caller::User(users[i % 3]),
                &format!("d{i}"),
                types[i % 4],
                (&ram, 2 + i as i32, &storage),
            )
            .unwrap()
            .get(0);
        devices.push((users[i % 3], id));
    }
    let beat = |api: &mut common::PostgRest, live: &[(&str, String)]| {
        for (user, id) in live {
            api.heartbeat(Caller::User(user), id).unwrap();
        }
    };
    let check =
        |db: &mut TestDb, api: &mut common::PostgRest, live: &[(&str, String)], what: &str| {
            beat(api, live);
            let ids: Vec<String> = live.iter().map(|(_, id)| id.clone()).collect();
            let expected = truth(&mut db.superuser, &ids);
            assert!(
                eventually(Duration::from_millis(2500), || api
                    .stats(Caller::Anon)
                    .unwrap()
                    == expected),
                "{what}: {:?} should be {expected:?}",
                api.stats(Caller::Anon).unwrap()
            );
            let expected_by_type = truth_by_type(&mut db.superuser, &ids);
            assert_eq!(
                api.stats_by_type(Caller::Anon).unwrap(),
                expected_by_type,
                "{what}: by type, from the same snapshot"
            );
            beat(api, live);
            assert!(
                eventually(Duration::from_millis(2500), || live_in_table(
                    &mut db.superuser
                ) == expected.0),
                "{what}: the table settles too"
            );
            let fresh: bool = db
                .superuser
                .query_one(
                    "SELECT now() - snapshot_taken_at < interval '2s' FROM liveness_status()",
                    &[],
                )
                .unwrap()
                .get(0);
            assert!(fresh, "{what}: answered from a fresh snapshot");
        };

    // Registrations.
    let mut live = devices.clone();
    check(&mut db, &mut api, &live, "registered");
    // Deactivations.
    for (user, id) in live.drain(..3) {
        api.deactivate(Caller::User(user), &id).unwrap();
    }
    check(&mut db, &mut api, &live, "deactivated");
    // Expiries: five devices fall silent past the window while the rest keep beating.
    let silent: Vec<_> = live.drain(..5).collect();
    for _ in 0..(2 * WINDOW_SECONDS + 2) {
        std::thread::sleep(Duration::from_millis(500));
        beat(&mut api, &live);
    }
    check(&mut db, &mut api, &live, "expired");
    // Revivals: two of them beat again.
    live.extend(silent[..2].iter().cloned());
    check(&mut db, &mut api, &live, "revived");
    // A stopped device registered again as another type, and a row deleted by hand.
    let (user, id) = devices[0].clone();
    api.register(Caller::User(user), "d0", "server", ("4.0", 2, "0.05"))
        .unwrap();
    live.push((user, id));
    let (_, deleted) = live.remove(0);
    db.superuser
        .execute(
            "DELETE FROM compute_devices WHERE id = $1::text::uuid",
            &[&deleted],
        )
        .unwrap();
    check(&mut db, &mut api, &live, "re-registered and deleted");

    set_server_window(&mut db.superuser, "DEFAULT");
}

#[test]
fn heartbeats_write_no_wal_and_the_status_says_where_they_go() {
    let mut db = TestDb::shared_memory();
    let mut api = db.postgrest();
    let id: String = api
        .register(
            Caller::User(common::ALICE),
            "pc",
            "desktop",
            common::GOOD_SPECS,
        )
        .unwrap()
        .get(0);
    let status = db
        .superuser
        .query_one(
            "SELECT path, slots, slots_used > 0,
                    shared_memory_bytes - current_setting('compute_devices.accelerator_inventories')::int8 * 328
               FROM liveness_status()",
            &[],
        )
        .unwrap();
    assert_eq!(status.get::<_, String>(0), "shared memory");
    assert_eq!(status.get::<_, i64>(1), 100_000, "compute_devices.slots");
    assert!(status.get::<_, bool>(2));
    // Less the accelerator inventories' part, about 328 bytes each (their entries, groups,
    // model names and hash indexes, and the breakdown's live and expected sums by model), which
    // does not grow with the devices.
    let per_device = status.get::<_, i64>(3) / 100_000;
    assert!(
        (124..=134).contains(&per_device),
        "about 128 bytes a device (64 in its slot, the rest in the index): {per_device}"
    );
    // A heartbeat's transaction takes no transaction id: nothing for WAL to record.
    let mut client = db.postgrest().client;
    let mut transaction =
        common::request(client.build_transaction(), Caller::User(common::ALICE)).unwrap();
    transaction
        .execute("SELECT send_heartbeat($1::text::uuid)", &[&id])
        .unwrap();
    let xid: Option<String> = transaction
        .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(xid, None, "a read-only transaction");
    transaction.commit().unwrap();
}
