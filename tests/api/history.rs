//! The capacity history (issue 16): record_network_history() writes what get_network_stats(),
//! get_network_stats_by_type() and get_capacity(group_by => 'region') answer, once a minute
//! however often it is called; get_network_history() averages it by minute, hour and day, for
//! the network, by device type and by region, the same before and after the hours are rolled
//! up (minute rows written at chosen times make it deterministic); get_network_stats_at() reads
//! a minute back; pruning keeps each table's retention, a bounded batch a call; every bad
//! argument is refused with its SQLSTATE and name; the reads write nothing.
//! Included by one test binary per liveness path, each with its own `test_db`. On the
//! shared-memory path the worker records history once a minute too: the tests that write rows
//! hold record_network_history()'s lock meanwhile, and read times it never writes.

use super::accelerators::{group, register_with};
use crate::common::{eventually, request, sqlstate_of, Caller, PostgRest, TestDb, ALICE, BOB};
use crate::test_db;
use postgres::{GenericClient, Transaction};
use serde_json::json;
use std::time::Duration;

/// record_network_history()'s lock, until the transaction ends: another call (the worker's)
/// records nothing meanwhile, and calls in this transaction take it again.
const LOCK: &str =
    "SELECT pg_advisory_xact_lock('network_history_minutes'::regclass::oid::int4, 0)";

/// A transaction holding record_network_history()'s lock, the history tables emptied.
fn exclusively(db: &mut TestDb) -> Transaction<'_> {
    let mut transaction = db.superuser.transaction().unwrap();
    transaction.batch_execute(LOCK).unwrap();
    transaction
        .batch_execute("DELETE FROM network_history_minutes; DELETE FROM network_history_hours;")
        .unwrap();
    transaction
}

/// Minute rows at `start` plus `at` minutes, of this kind, group key and active_nodes; the rest
/// follows from active_nodes: ram 1.5 GB, 4 cores, 100 GB storage, score 3.25 a node, a GPU
/// (24 GB) for every whole ten nodes.
fn insert_minutes(transaction: &mut Transaction<'_>, start: &str, rows: &[(i32, i16, &str, i64)]) {
    let at: Vec<i32> = rows.iter().map(|r| r.0).collect();
    let kind: Vec<i16> = rows.iter().map(|r| r.1).collect();
    let key: Vec<&str> = rows.iter().map(|r| r.2).collect();
    let nodes: Vec<i64> = rows.iter().map(|r| r.3).collect();
    transaction
        .execute(
            "INSERT INTO network_history_minutes
             SELECT $1::text::timestamptz + make_interval(mins => v.at), v.kind, v.key, v.nodes,
                    v.nodes * 1.5, v.nodes * 4, v.nodes * 100, v.nodes * 3.25, v.nodes / 10,
                    v.nodes / 10 * 24
               FROM unnest($2::int4[], $3::int2[], $4::text[], $5::int8[]) AS v(at, kind, key, nodes)",
            &[&start, &at, &kind, &key, &nodes],
        )
        .unwrap();
}

const NETWORK: i16 = 0;
const DEVICE_TYPE: i16 = 1;
const REGION: i16 = 2;

/// A minute: when (minutes after H), the network's active nodes, the four types' (desktop,
/// laptop, phone, server), the regions'.
type Minute = (i32, i64, [i64; 4], &'static [(&'static str, i64)]);

/// Five minutes two days ago: three in hour H (minutes 0, 1, 2), two in H+1 (60, 90), in one
/// UTC day. Every minute has the network's row and all four device types'; regions come and go
/// (Europe and the devices without a region in H, Asia from minute 2).
fn recorded_minutes() -> Vec<(i32, i16, &'static str, i64)> {
    let mut rows = Vec::new();
    let minutes: [Minute; 5] = [
        (0, 10, [0, 6, 4, 0], &[("Europe", 7), ("", 3)]),
        (1, 20, [0, 10, 10, 0], &[("Europe", 20)]),
        (2, 30, [10, 10, 10, 0], &[("Europe", 25), ("Asia", 5)]),
        (60, 40, [0, 0, 0, 40], &[("Asia", 40)]),
        (90, 50, [0, 0, 0, 50], &[("Asia", 50)]),
    ];
    for (at, network, [desktop, laptop, phone, server], regions) in minutes {
        rows.push((at, NETWORK, "", network));
        for (key, nodes) in [
            ("desktop", desktop),
            ("laptop", laptop),
            ("phone", phone),
            ("server", server),
        ] {
            rows.push((at, DEVICE_TYPE, key, nodes));
        }
        for (key, nodes) in regions {
            rows.push((at, REGION, key, *nodes));
        }
    }
    rows
}

/// Hour H: ten o'clock UTC two days ago.
fn hour_h(db: &mut TestDb) -> String {
    db.superuser
        .query_one(
            "SELECT (date_trunc('day', now() - interval '2 days', 'UTC') + interval '10 hours')::text",
            &[],
        )
        .unwrap()
        .get(0)
}

/// (bucket_start in minutes after `h`, group_key, active_nodes, its minimum, its maximum).
type Averaged = (i64, Option<String>, String, i64, i64);

/// get_network_history from `h` + `since` seconds to `h` + `until` seconds, as anon.
fn read(
    api: &mut PostgRest,
    h: &str,
    (since, until): (f64, f64),
    bucket: &str,
    group_by: Option<&str>,
) -> Vec<Averaged> {
    let rows = api
        .call(
            Caller::Anon,
            "SELECT (extract(epoch FROM bucket_start - $1::text::timestamptz) / 60)::int8,
                    group_key, trim_scale(active_nodes)::text, active_nodes_min, active_nodes_max
               FROM get_network_history($1::text::timestamptz + make_interval(secs => $2),
                                        $1::text::timestamptz + make_interval(secs => $3),
                                        $4, $5)",
            &[&h, &since, &until, &bucket, &group_by],
        )
        .unwrap();
    rows.iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect()
}

/// Every column of the network's rows (numbers without trailing zeros), from `h` to `h` + 90 min.
fn read_network(api: &mut PostgRest, h: &str, bucket: &str) -> Vec<Vec<String>> {
    let rows = api
        .call(
            Caller::Anon,
            "SELECT ARRAY[((extract(epoch FROM bucket_start - $1::text::timestamptz) / 60)::int8)::text,
                          coalesce(group_key, 'NULL'), trim_scale(active_nodes)::text,
                          active_nodes_min::text, active_nodes_max::text,
                          trim_scale(total_ram_gb)::text, trim_scale(total_cpu_cores)::text,
                          trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text,
                          trim_scale(total_gpus)::text, trim_scale(total_gpu_memory_gb)::text]
               FROM get_network_history($1::text::timestamptz,
                                        $1::text::timestamptz + interval '90 minutes', $2)",
            &[&h, &bucket],
        )
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

fn averaged(rows: &[(i64, Option<&str>, &str, i64, i64)]) -> Vec<Averaged> {
    rows.iter()
        .map(|(at, key, average, min, max)| {
            (
                *at,
                key.map(str::to_string),
                average.to_string(),
                *min,
                *max,
            )
        })
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// What every bucket and grouping must answer for `recorded_minutes`, checked against `read`.
fn assert_every_bucket_and_group(api: &mut PostgRest, h: &str, when: &str) {
    // Minutes: each recorded minute as it was; a group missing from a minute is 0 there.
    // From 30 s after H: the bucket holding `since` is H's first minute.
    let range = (30.0, 90.0 * 60.0);
    assert_eq!(
        read(api, h, range, "1 minute", None),
        averaged(&[
            (0, None, "10", 10, 10),
            (1, None, "20", 20, 20),
            (2, None, "30", 30, 30),
            (60, None, "40", 40, 40),
            (90, None, "50", 50, 50),
        ]),
        "{when}: minutes"
    );
    let none = None;
    let key = Some;
    assert_eq!(
        read(api, h, range, "1 minute", Some("region")),
        averaged(&[
            (0, key("Asia"), "0", 0, 0),
            (0, key("Europe"), "7", 7, 7),
            (0, none, "3", 3, 3),
            (1, key("Asia"), "0", 0, 0),
            (1, key("Europe"), "20", 20, 20),
            (1, none, "0", 0, 0),
            (2, key("Asia"), "5", 5, 5),
            (2, key("Europe"), "25", 25, 25),
            (2, none, "0", 0, 0),
            (60, key("Asia"), "40", 40, 40),
            (60, key("Europe"), "0", 0, 0),
            (60, none, "0", 0, 0),
            (90, key("Asia"), "50", 50, 50),
            (90, key("Europe"), "0", 0, 0),
            (90, none, "0", 0, 0),
        ]),
        "{when}: minutes by region"
    );
    let by_type = read(api, h, range, "1 minute", Some("device_type"));
    assert_eq!(by_type.len(), 20, "{when}: four types a minute");
    assert_eq!(
        by_type[8..12],
        averaged(&[
            (2, key("desktop"), "10", 10, 10),
            (2, key("laptop"), "10", 10, 10),
            (2, key("phone"), "10", 10, 10),
            (2, key("server"), "0", 0, 0),
        ]),
        "{when}: minutes by device type"
    );

    // Hours: every bucket the range overlaps, averaged over the whole hour's samples.
    let range = (30.0 * 60.0, 61.0 * 60.0);
    assert_eq!(
        read(api, h, range, "1 hour", None),
        averaged(&[(0, None, "20", 10, 30), (60, None, "45", 40, 50)]),
        "{when}: hours"
    );
    assert_eq!(
        read(api, h, range, "1 hour", Some("device_type")),
        averaged(&[
            (0, key("desktop"), "3.333", 0, 10),
            (0, key("laptop"), "8.667", 6, 10),
            (0, key("phone"), "8", 4, 10),
            (0, key("server"), "0", 0, 0),
            (60, key("desktop"), "0", 0, 0),
            (60, key("laptop"), "0", 0, 0),
            (60, key("phone"), "0", 0, 0),
            (60, key("server"), "45", 40, 50),
        ]),
        "{when}: hours by device type"
    );
    assert_eq!(
        read(api, h, range, "1 hour", Some("region")),
        averaged(&[
            (0, key("Asia"), "1.667", 0, 5),
            (0, key("Europe"), "17.333", 7, 25),
            (0, none, "1", 0, 3),
            (60, key("Asia"), "45", 40, 50),
            (60, key("Europe"), "0", 0, 0),
            (60, none, "0", 0, 0),
        ]),
        "{when}: hours by region"
    );

    // The day (UTC) holding them: its bucket starts ten hours before H.
    let range = (0.0, 0.0);
    assert_eq!(
        read(api, h, range, "1 day", None),
        averaged(&[(-600, None, "30", 10, 50)]),
        "{when}: the day"
    );
    assert_eq!(
        read(api, h, range, "1 day", Some("device_type")),
        averaged(&[
            (-600, key("desktop"), "2", 0, 10),
            (-600, key("laptop"), "5.2", 0, 10),
            (-600, key("phone"), "4.8", 0, 10),
            (-600, key("server"), "18", 0, 50),
        ]),
        "{when}: the day by device type"
    );
    assert_eq!(
        read(api, h, range, "1 day", Some("region")),
        averaged(&[
            (-600, key("Asia"), "19", 0, 50),
            (-600, key("Europe"), "10.4", 0, 25),
            (-600, none, "0.6", 0, 3),
        ]),
        "{when}: the day by region"
    );

    // Every column, for the network: averages of each, exact for one sample.
    assert_eq!(
        read_network(api, h, "1 minute")[0],
        ["0", "NULL", "10", "10", "10", "15", "40", "1000", "32.5", "1", "24"],
        "{when}: a minute's every column"
    );
    assert_eq!(
        read_network(api, h, "1 hour"),
        strings(&[
            &["0", "NULL", "20", "10", "30", "30", "80", "2000", "65", "2", "48"],
            &["60", "NULL", "45", "40", "50", "67.5", "180", "4500", "146.25", "4.5", "108"],
        ]),
        "{when}: the hours' every column"
    );
    assert_eq!(
        read_network(api, h, "1 day"),
        strings(&[&["-600", "NULL", "30", "10", "50", "45", "120", "3000", "97.5", "3", "72"]]),
        "{when}: the day's every column"
    );
}

/// An hourly row: (hour in minutes after H, kind, group key, samples, active_nodes' sum,
/// minimum and maximum, total_ram_gb's sum).
type HourRow = (i64, i16, String, i32, i64, i64, i64, String);

#[test]
fn history_averages_every_bucket_and_group_before_and_after_the_roll_up() {
    let mut db = test_db("history_buckets");
    let mut api = db.postgrest();
    let h = hour_h(&mut db);
    let mut transaction = exclusively(&mut db);
    insert_minutes(&mut transaction, &h, &recorded_minutes());
    transaction.commit().unwrap();
    // Not rolled up yet (on the shared-memory path the worker may have done it since: the
    // answers are the same either way).
    assert_every_bucket_and_group(&mut api, &h, "from the minute rows");

    // record_network_history() rolls the completed hours up.
    let mut transaction = exclusively(&mut db);
    insert_minutes(&mut transaction, &h, &recorded_minutes());
    transaction
        .execute("SELECT record_network_history()", &[])
        .unwrap();
    let hours = transaction
        .query(
            "SELECT (extract(epoch FROM hour - $1::text::timestamptz) / 60)::int8, kind,
                    group_key, samples, active_nodes_sum, active_nodes_min, active_nodes_max,
                    trim_scale(total_ram_gb_sum)::text
               FROM network_history_hours
              WHERE hour < $1::text::timestamptz + interval '1 day'
              ORDER BY hour, kind, group_key",
            &[&h],
        )
        .unwrap();
    let hours: Vec<HourRow> = hours
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect();
    let row = |at: i64, kind: i16, key: &str, n: i32, sum: i64, min: i64, max: i64, ram: &str| {
        (at, kind, key.to_string(), n, sum, min, max, ram.to_string())
    };
    assert_eq!(
        hours,
        [
            row(0, NETWORK, "", 3, 60, 10, 30, "90"),
            row(0, DEVICE_TYPE, "desktop", 3, 10, 0, 10, "15"),
            row(0, DEVICE_TYPE, "laptop", 3, 26, 6, 10, "39"),
            row(0, DEVICE_TYPE, "phone", 3, 24, 4, 10, "36"),
            row(0, DEVICE_TYPE, "server", 3, 0, 0, 0, "0"),
            // A region missing from some of the hour's minutes counted 0 there.
            row(0, REGION, "", 3, 3, 0, 3, "4.5"),
            row(0, REGION, "Asia", 3, 5, 0, 5, "7.5"),
            row(0, REGION, "Europe", 3, 52, 7, 25, "78"),
            row(60, NETWORK, "", 2, 90, 40, 50, "135"),
            row(60, DEVICE_TYPE, "desktop", 2, 0, 0, 0, "0"),
            row(60, DEVICE_TYPE, "laptop", 2, 0, 0, 0, "0"),
            row(60, DEVICE_TYPE, "phone", 2, 0, 0, 0, "0"),
            row(60, DEVICE_TYPE, "server", 2, 90, 40, 50, "135"),
            row(60, REGION, "Asia", 2, 90, 40, 50, "135"),
        ],
        "the hourly rows"
    );
    // The current hour is not complete: not rolled up, but its buckets read its minutes.
    let current: Vec<(bool, bool)> = transaction
        .query(
            "SELECT bucket_start = date_trunc('hour', now(), 'UTC'), active_nodes_min >= 0
               FROM get_network_history(now(), now(), '1 hour')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(current, [(true, true)], "this hour, from its minutes");
    let rolled_now: i64 = transaction
        .query_one(
            "SELECT count(*) FROM network_history_hours WHERE hour >= date_trunc('hour', now(), 'UTC')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rolled_now, 0);
    transaction.commit().unwrap();
    assert_every_bucket_and_group(&mut api, &h, "from the hourly rows");

    // A minute recorded late into the last rolled-up hour (a call that began before the hour
    // ended and waited for the lock) is rolled up with it at the next call.
    let mut transaction = db.superuser.transaction().unwrap();
    transaction.batch_execute(LOCK).unwrap();
    transaction
        .execute(
            "DELETE FROM network_history_minutes WHERE minute >= $1::text::timestamptz + interval '2 hours'",
            &[&h],
        )
        .unwrap();
    transaction
        .execute(
            "DELETE FROM network_history_hours WHERE hour >= $1::text::timestamptz + interval '2 hours'",
            &[&h],
        )
        .unwrap();
    insert_minutes(
        &mut transaction,
        &h,
        &[
            (105, NETWORK, "", 60),
            (105, DEVICE_TYPE, "desktop", 0),
            (105, DEVICE_TYPE, "laptop", 0),
            (105, DEVICE_TYPE, "phone", 0),
            (105, DEVICE_TYPE, "server", 60),
            (105, REGION, "Asia", 60),
        ],
    );
    transaction
        .execute("SELECT record_network_history()", &[])
        .unwrap();
    transaction.commit().unwrap();
    assert_eq!(
        read(&mut api, &h, (3600.0, 3600.0), "1 hour", None),
        averaged(&[(60, None, "50", 40, 60)]),
        "the late minute is in its hour"
    );
}

/// The devices of `record_network_history_records_what_the_stats_answer`: three types, three
/// regions and a device without a country, GPUs, one stopped.
fn register_network(api: &mut PostgRest) {
    let mib = |gb: i64| gb * 1024;
    let devices = [
        (
            ALICE,
            "a",
            "server",
            ("64", 32, "2000"),
            json!([group("nvidia", "NVIDIA GeForce RTX 4090", mib(24), 2)]),
            Some("de"),
        ),
        (
            ALICE,
            "b",
            "desktop",
            ("32.5", 16, "1000.25"),
            json!([group("amd", "AMD Radeon RX 7900 XTX", mib(24), 1)]),
            Some("us"),
        ),
        (BOB, "c", "laptop", ("16", 8, "512"), json!([]), Some("JP")),
        (BOB, "d", "phone", ("8", 8, "128"), json!([]), None),
        (BOB, "e", "desktop", ("12", 4, "256"), json!([]), Some("FR")),
        (
            BOB,
            "f",
            "server",
            ("128", 64, "4000"),
            json!([group("nvidia", "NVIDIA A100", 1000, 3)]),
            Some("FR"),
        ),
    ];
    for (owner, name, device_type, specs, accelerators, country) in devices {
        let (id, ..) = register_with(
            api,
            Caller::User(owner),
            name,
            device_type,
            specs,
            Some(&accelerators),
            country,
        )
        .unwrap();
        if name == "f" {
            api.deactivate(Caller::User(owner), &id).unwrap();
        }
    }
}

/// The columns as text (numbers without trailing zeros), group key first ('NULL' for NULL).
macro_rules! as_text {
    ($key:literal, $min:literal, $max:literal) => {
        concat!(
            "ARRAY[coalesce(",
            $key,
            "::text, 'NULL'), trim_scale(active_nodes::numeric)::text, ",
            $min,
            "::text, ",
            $max,
            "::text, trim_scale(total_ram_gb)::text, trim_scale(total_cpu_cores::numeric)::text,
             trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text,
             trim_scale(total_gpus::numeric)::text, trim_scale(total_gpu_memory_gb)::text]"
        )
    };
}

fn texts(api: &mut PostgRest, caller: Caller<'_>, sql: &str, minute: &str) -> Vec<Vec<String>> {
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = if sql.contains("$1") {
        vec![&minute]
    } else {
        vec![]
    };
    let mut rows: Vec<Vec<String>> = api
        .call(caller, sql, &params)
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    rows.sort();
    rows
}

#[test]
fn record_network_history_records_what_the_stats_answer() {
    let mut db = test_db("history_records");
    let mut api = db.postgrest();
    register_network(&mut api);
    let history = |group_by: &str| {
        format!(
            "SELECT {} FROM get_network_history($1::text::timestamptz, $1::text::timestamptz,
                                                 group_by => {group_by})",
            as_text!("group_key", "active_nodes_min", "active_nodes_max")
        )
    };
    let pairs = [
        (
            format!(
                "SELECT {} FROM get_network_stats()",
                as_text!("NULL", "active_nodes", "active_nodes")
            ),
            history("NULL"),
        ),
        (
            format!(
                "SELECT {} FROM get_network_stats_at($1::text::timestamptz)",
                as_text!("NULL", "active_nodes", "active_nodes")
            ),
            history("NULL"),
        ),
        (
            format!(
                "SELECT {} FROM get_network_stats_by_type()",
                as_text!("device_type", "active_nodes", "active_nodes")
            ),
            history("'device_type'"),
        ),
        (
            format!(
                "SELECT {} FROM get_capacity(group_by => 'region')",
                as_text!("group_key", "active_nodes", "active_nodes")
            ),
            history("'region'"),
        ),
    ];
    // On the shared-memory path the stats read a snapshot up to a second or two old.
    let mut differences = Vec::new();
    let agreed = eventually(Duration::from_secs(10), || {
        // NULL while another call (the worker's) is recording: try again.
        let minute: Option<String> = api
            .call_one(
                Caller::Service,
                "SELECT record_network_history()::text",
                &[],
            )
            .unwrap()
            .get(0);
        let Some(minute) = minute else {
            return false;
        };
        differences = pairs
            .iter()
            .map(|(truth, recorded)| {
                (
                    texts(&mut api, Caller::Anon, truth, &minute),
                    texts(&mut api, Caller::Anon, recorded, &minute),
                )
            })
            .filter(|(truth, recorded)| truth != recorded)
            .collect();
        differences.is_empty()
    });
    assert!(agreed, "(truth, recorded): {differences:?}");
    let network = texts(&mut api, Caller::Anon, &pairs[0].0, "");
    assert_eq!(
        network,
        [
            ["NULL", "5", "5", "5", "132.5", "68", "3896.25", "799.8125", "3", "72"]
                .map(str::to_string)
                .to_vec()
        ],
        "five devices online"
    );

    // Called again in the same minute: the minute's rows replaced, not duplicated.
    let mut transaction = db.superuser.transaction().unwrap();
    transaction.batch_execute(LOCK).unwrap();
    let first: String = transaction
        .query_one("SELECT record_network_history()::text", &[])
        .unwrap()
        .get(0);
    let second: String = transaction
        .query_one("SELECT record_network_history()::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(first, second, "one transaction, one now(), one minute");
    let rows: Vec<(i16, i64)> = transaction
        .query(
            "SELECT kind, count(*) FROM network_history_minutes WHERE minute = $1::text::timestamptz
              GROUP BY kind ORDER BY kind",
            &[&first],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // The network, four types, and Americas, Asia, Europe and no region.
    assert_eq!(rows, [(0, 1), (1, 4), (2, 4)]);
    transaction.commit().unwrap();
}

#[test]
fn stats_at_reads_the_minute_holding_it() {
    let mut db = test_db("history_stats_at");
    let mut api = db.postgrest();
    let h = hour_h(&mut db);
    let mut transaction = exclusively(&mut db);
    insert_minutes(&mut transaction, &h, &recorded_minutes());
    transaction.commit().unwrap();
    let at = |api: &mut PostgRest, caller: Caller<'_>, seconds: f64| -> Vec<Option<String>> {
        let row = api
            .call_one(
                caller,
                "SELECT ARRAY[active_nodes::text, total_ram_gb::text, total_cpu_cores::text,
                              total_storage_gb::text, total_compute_score::text,
                              total_gpus::text, total_gpu_memory_gb::text]
                   FROM get_network_stats_at($1::text::timestamptz + make_interval(secs => $2))",
                &[&h, &seconds],
            )
            .unwrap();
        row.get(0)
    };
    let some = |values: [&str; 7]| values.map(|v| Some(v.to_string())).to_vec();
    for caller in [Caller::Anon, Caller::User(ALICE), Caller::Service] {
        // Any time in the minute: that minute's record, as recorded.
        assert_eq!(
            at(&mut api, caller, 90.0),
            some(["20", "30.0", "80", "2000", "65.00", "2", "48"]),
            "{caller:?}"
        );
        assert_eq!(
            at(&mut api, caller, 60.0),
            some(["20", "30.0", "80", "2000", "65.00", "2", "48"])
        );
        assert_eq!(
            at(&mut api, caller, 119.999),
            some(["20", "30.0", "80", "2000", "65.00", "2", "48"])
        );
        // A minute with no record: NULL (every column NULL).
        assert_eq!(at(&mut api, caller, 300.0), vec![None; 7]);
    }
    // Older than history_retention: refused (only hourly averages are kept that long)...
    let (sqlstate, message) = sqlstate_of(api.call(
        Caller::Anon,
        "SELECT * FROM get_network_stats_at(now() - interval '31 days')",
        &[],
    ));
    assert_eq!(sqlstate, "22023", "{message}");
    assert!(
        message.starts_with("at ")
            && message.contains("compute_devices.history_retention (30 days)"),
        "{message}"
    );
    // ... unless the retention is longer.
    db.superuser
        .batch_execute("SET compute_devices.history_retention = '40d'")
        .unwrap();
    let nothing: Option<i64> = db
        .superuser
        .query_one(
            "SELECT active_nodes FROM get_network_stats_at(now() - interval '31 days')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(nothing, None);
}

/// The history tables, as text: proves a call changed nothing in them (rows the worker may
/// write meanwhile, this minute's and this hour's, left out).
fn history_fingerprint(db: &mut TestDb) -> String {
    db.superuser
        .query_one(
            "SELECT coalesce((SELECT string_agg(m::text, E'\\n' ORDER BY m::text)
                                FROM network_history_minutes AS m
                               WHERE minute < date_trunc('hour', now()) - interval '1 hour'), '')
                    || coalesce((SELECT string_agg(h::text, E'\\n' ORDER BY h::text)
                                   FROM network_history_hours AS h
                                  WHERE hour < date_trunc('hour', now()) - interval '2 hours'), '')",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn every_bad_history_argument_is_named_and_changes_nothing() {
    let mut db = test_db("history_bad_arguments");
    let mut api = db.postgrest();
    let h = hour_h(&mut db);
    // Rolled up at once, so that the worker's calls (on the shared-memory path) change nothing
    // the fingerprint covers.
    let mut transaction = exclusively(&mut db);
    insert_minutes(&mut transaction, &h, &recorded_minutes());
    transaction
        .execute("SELECT record_network_history()", &[])
        .unwrap();
    transaction.commit().unwrap();
    let before = (db.table_fingerprint(), history_fingerprint(&mut db));
    let history = |arguments: &str| format!("SELECT * FROM get_network_history({arguments})");
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            history("NULL, now()"),
            "22004",
            "since",
            "since must not be null",
        ),
        (
            history("now(), NULL"),
            "22004",
            "until",
            "until must not be null",
        ),
        (
            history("now() - interval '1 hour', now(), NULL"),
            "22004",
            "bucket",
            "bucket must not be null",
        ),
        (
            history("now(), now() - interval '1 second'"),
            "22023",
            "since",
            "after until",
        ),
        (
            history("now() - interval '1 hour', now(), '1 week'"),
            "22023",
            "bucket",
            "'1 minute', '1 hour', '1 day'",
        ),
        (
            history("now() - interval '1 hour', now(), '1 minutes'"),
            "22023",
            "bucket",
            "1 minutes",
        ),
        (
            history("now() - interval '1 hour', now(), 'minute'"),
            "22023",
            "bucket",
            "minute",
        ),
        (
            history("now() - interval '1 hour', now(), ''"),
            "22023",
            "bucket",
            "got \"\"",
        ),
        (
            history("now() - interval '1 hour', now(), group_by => 'country'"),
            "22023",
            "group_by",
            "device_type, region or NULL",
        ),
        (
            history("now() - interval '1 hour', now(), group_by => 'gpu_model'"),
            "22023",
            "group_by",
            "gpu_model",
        ),
        (
            history("now() - interval '1 hour', now(), group_by => ''"),
            "22023",
            "group_by",
            "got \"\"",
        ),
        (history("'-infinity', now()"), "22023", "since", "finite"),
        (history("now(), 'infinity'"), "22023", "until", "finite"),
        (
            history("now() - interval '720 hours 1 second', now()"),
            "22023",
            "since",
            "compute_devices.history_retention (30 days)",
        ),
        (
            history("now() - interval '9600 hours 1 second', now(), '1 hour'"),
            "22023",
            "since",
            "compute_devices.history_retention_hours (400 days)",
        ),
        (
            history("now() - interval '9624 hours', now(), '1 day', 'region'"),
            "22023",
            "since",
            "compute_devices.history_retention_hours (400 days)",
        ),
        (
            "SELECT * FROM get_network_stats_at(NULL)".into(),
            "22004",
            "at",
            "at must not be null",
        ),
        (
            "SELECT * FROM get_network_stats_at(now() + interval '1 minute')".into(),
            "22008",
            "at",
            "future",
        ),
        (
            "SELECT * FROM get_network_stats_at('infinity')".into(),
            "22008",
            "at",
            "future",
        ),
        (
            "SELECT * FROM get_network_stats_at('-infinity')".into(),
            "22023",
            "at",
            "history_retention",
        ),
    ];
    for (sql, sqlstate, argument, says) in cases {
        for caller in [Caller::Anon, Caller::Service] {
            let (got, message) = sqlstate_of(api.call(caller, &sql, &[]));
            assert_eq!(got, sqlstate, "{sql}: {message}");
            assert!(
                message.starts_with(argument) && message.contains(says),
                "{sql}: {message:?} names {argument} and says {says:?}"
            );
        }
    }
    // At the limits: a range exactly as long as the retention, since equal to until.
    for sql in [
        history("now() - interval '720 hours', now()"),
        history("now() - interval '9600 hours', now(), '1 day', 'device_type'"),
        history("now(), now(), '1 hour', 'region'"),
        "SELECT * FROM get_network_stats_at(now())".to_string(),
        "SELECT * FROM get_network_stats_at(now() - interval '29 days 23 hours')".to_string(),
    ] {
        api.call(Caller::Anon, &sql, &[])
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    assert_eq!(
        (db.table_fingerprint(), history_fingerprint(&mut db)),
        before,
        "nothing changed"
    );
    // The retention settings are the superuser's: a caller cannot widen what one call reads.
    for caller in [Caller::Anon, Caller::Service] {
        let (sqlstate, message) = sqlstate_of(api.call(
            caller,
            "SET LOCAL compute_devices.history_retention = '3650d'",
            &[],
        ));
        assert_eq!(sqlstate, "42501", "{message}");
    }
}

#[test]
fn history_reads_write_nothing_and_only_service_role_records() {
    let mut db = test_db("history_read_only");
    let mut api = db.postgrest();
    for caller in [Caller::Anon, Caller::User(ALICE), Caller::Service] {
        let mut transaction =
            request(api.client.build_transaction().read_only(true), caller).unwrap();
        for sql in [
            "SELECT count(*) FROM get_network_history(now() - interval '1 day', now())",
            "SELECT count(*) FROM get_network_history(now() - interval '7 days', now(), '1 hour', 'region')",
            "SELECT count(*) FROM get_network_history(now() - interval '30 days', now(), '1 day', 'device_type')",
            "SELECT count(*) FROM get_network_stats_at(now() - interval '1 minute')",
        ] {
            transaction
                .query_one(sql, &[])
                .unwrap_or_else(|error| panic!("{caller:?}: {sql}: {error}"));
        }
        let xid: Option<String> = transaction
            .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(xid, None, "{caller:?}: the reads took no transaction id");
        transaction.commit().unwrap();
    }
    // Recording writes: refused in a read-only transaction, before anything.
    let mut transaction = request(
        api.client.build_transaction().read_only(true),
        Caller::Service,
    )
    .unwrap();
    let (sqlstate, message) =
        sqlstate_of(transaction.query_one("SELECT record_network_history()", &[]));
    assert_eq!(sqlstate, "25006", "{message}");
    drop(transaction);
    // Only service_role (and the superuser, the worker, pg_cron's jobs) may record.
    for caller in [Caller::Anon, Caller::User(ALICE)] {
        let (sqlstate, message) =
            sqlstate_of(api.call(caller, "SELECT record_network_history()", &[]));
        assert_eq!(sqlstate, "42501", "{caller:?}: {message}");
    }
    api.call(Caller::Service, "SELECT record_network_history()", &[])
        .unwrap();
    // Nobody reads or writes the tables but the extension's functions.
    for caller in [Caller::Anon, Caller::User(ALICE), Caller::Service] {
        for sql in [
            "SELECT count(*) FROM network_history_minutes",
            "SELECT count(*) FROM network_history_hours",
            "DELETE FROM network_history_minutes",
        ] {
            let (sqlstate, message) = sqlstate_of(api.call(caller, sql, &[]));
            assert_eq!(sqlstate, "42501", "{caller:?}: {sql}: {message}");
        }
    }
    let recorded: i64 = db
        .superuser
        .query_one(
            "SELECT count(*) FROM network_history_minutes WHERE kind = 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(recorded >= 1);
}

/// How many rows of each age each table has (see `pruning_keeps_each_retention_a_bounded_batch_a_call`).
fn ages(client: &mut impl GenericClient) -> Vec<i64> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM network_history_minutes WHERE minute < now() - interval '30 days'),
                    (SELECT count(*) FROM network_history_minutes
                      WHERE minute BETWEEN now() - interval '30 days' AND now() - interval '7 days'),
                    (SELECT count(*) FROM network_history_minutes
                      WHERE minute BETWEEN now() - interval '7 days' AND now() - interval '1 hour'),
                    (SELECT count(*) FROM network_history_hours WHERE hour < now() - interval '400 days'),
                    (SELECT count(*) FROM network_history_hours
                      WHERE hour BETWEEN now() - interval '400 days' AND now() - interval '50 days'),
                    (SELECT count(*) FROM network_history_hours
                      WHERE hour BETWEEN now() - interval '50 days' AND now() - interval '2 hours'),
                    (SELECT count(*) FROM online_intervals WHERE device_id = '00000000-0000-4000-8000-000000000001'),
                    (SELECT count(*) FROM online_intervals WHERE device_id = '00000000-0000-4000-8000-000000000002'),
                    (SELECT count(*) FROM online_intervals WHERE device_id = '00000000-0000-4000-8000-000000000003'),
                    (SELECT count(*) FROM unknown_periods WHERE ended_at < now() - interval '400 days'),
                    (SELECT count(*) FROM unknown_periods
                      WHERE ended_at BETWEEN now() - interval '400 days' AND now() - interval '50 days')",
            &[],
        )
        .unwrap();
    (0..11).map(|i| row.get(i)).collect()
}

/// record_network_history() with its lock held until the ages are read: the worker's calls
/// (on the shared-memory path) prune nothing in between.
fn record_then_ages(db: &mut TestDb) -> Vec<i64> {
    let mut transaction = db.superuser.transaction().unwrap();
    transaction.batch_execute(LOCK).unwrap();
    transaction
        .execute("SELECT record_network_history()", &[])
        .unwrap();
    let ages = ages(&mut transaction);
    transaction.commit().unwrap();
    ages
}

#[test]
fn pruning_keeps_each_retention_a_bounded_batch_a_call() {
    let mut db = test_db("history_pruning");
    let mut transaction = exclusively(&mut db);
    // A recent hourly row, so the roll-up starts after it and leaves the old minutes alone.
    transaction
        .batch_execute(
            "INSERT INTO network_history_hours
             VALUES (date_trunc('hour', now(), 'UTC') - interval '1 hour', 0, '', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                    (date_trunc('hour', now(), 'UTC') - interval '500 days', 0, '', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                    (date_trunc('hour', now(), 'UTC') - interval '100 days', 0, '', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                    (date_trunc('hour', now(), 'UTC') - interval '10 days', 0, '', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
             INSERT INTO network_history_minutes
             SELECT now() - interval '40 days' - make_interval(mins => i), 0, '', i, 0, 0, 0, 0, 0, 0
               FROM generate_series(1, 12000) AS i;
             INSERT INTO network_history_minutes
             VALUES (now() - interval '10 days', 0, '', 1, 0, 0, 0, 0, 0, 0),
                    (now() - interval '1 day', 0, '', 1, 0, 0, 0, 0, 0, 0);
             INSERT INTO online_intervals (device_id, started_at, ended_at, end_reason)
             VALUES ('00000000-0000-4000-8000-000000000001', now() - interval '41 days', now() - interval '40 days', 'stale'),
                    ('00000000-0000-4000-8000-000000000002', now() - interval '11 days', now() - interval '10 days', 'stopped'),
                    ('00000000-0000-4000-8000-000000000003', now() - interval '40 days', NULL, NULL);
             INSERT INTO unknown_periods
             VALUES (now() - interval '501 days', now() - interval '500 days'),
                    (now() - interval '101 days', now() - interval '100 days');",
        )
        .unwrap();
    assert_eq!(
        ages(&mut transaction),
        [12000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    );
    // Each call prunes at most 10,000 rows of a history table: the rest at the next.
    transaction
        .execute("SELECT record_network_history()", &[])
        .unwrap();
    assert_eq!(ages(&mut transaction), [2000, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1]);
    transaction.commit().unwrap();
    assert_eq!(record_then_ages(&mut db), [0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1]);
    // Shorter retentions (a superuser's settings; at least 7 days).
    db.superuser
        .batch_execute(
            "SET compute_devices.history_retention = '7d';
             SET compute_devices.history_retention_hours = '50d';",
        )
        .unwrap();
    assert_eq!(record_then_ages(&mut db), [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]);
    for (setting, value) in [
        ("compute_devices.history_retention", "'6d'"),
        ("compute_devices.history_retention_hours", "'1h'"),
        ("compute_devices.history_retention", "'3651d'"),
    ] {
        let (sqlstate, message) = sqlstate_of(
            db.superuser
                .batch_execute(&format!("SET {setting} = {value}")),
        );
        assert_eq!(sqlstate, "22023", "{setting} = {value}: {message}");
    }
}
