//! The network's recorded history through the gateway: `GET /api/v1/network/history` (query
//! parameters since, until, bucket and group_by, the seed's envelope) and
//! `GET /api/v1/network/stats/at?at=...`, and the same functions through `/rpc` by GET and POST,
//! against the database's own answers (`get_network_history` and `get_network_stats_at` called
//! directly) over a day of minutes written into the history tables, with a gap; bad input is 400
//! with the extension's SQLSTATE naming the argument. Also `get_capacity`'s reliability filter
//! and columns, which the capacity route picks up from the catalog.

mod common;

use common::{parse_time, token, Gateway};
use serde_json::{json, Value};

const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000011";

#[test]
fn history_through_the_gateway() {
    let cluster = common::cluster("gateway-history");
    let gateway = Gateway::start(cluster.port(), &[]);
    let ann = token(ANN);
    for (name, device_type, country) in [
        ("ann-server", "server", "DE"),
        ("ann-laptop", "laptop", "JP"),
    ] {
        let body = json!({"device_name": name, "device_type": device_type, "ram_gb": 32,
                          "cpu_cores": 16, "storage_gb": 1000, "country_code": country});
        let (status, answer) = gateway.post(
            "/api/v1/network/devices/register",
            Some(&ann),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let mut database = common::superuser(cluster.port());
    let past = Past::write(&mut database);
    // And the minute now, as the worker or pg_cron records it.
    database
        .batch_execute("SELECT record_network_history()")
        .unwrap();

    type Scenario = fn(&Gateway, &mut postgres::Client, &Past);
    let scenarios: [(&str, Scenario); 6] = [
        ("history", the_history_is_the_databases),
        ("recorded", the_minutes_are_what_was_recorded),
        ("stats at", stats_at_a_minute_are_the_databases),
        ("errors", bad_input_is_400_naming_the_argument),
        ("rpc", the_rpc_answers_the_same_by_get_and_post),
        ("capacity", capacity_takes_the_reliability_filter),
    ];
    for (name, scenario) in scenarios {
        eprintln!("scenario: {name}");
        scenario(&gateway, &mut database, &past);
    }
}

/// The day of minutes written into the history ([`common::write_history`]): from an hour and a
/// day ago to an hour ago, minute i with `10 + i % 7` active devices, minutes 600 to 719 missing
/// (the server was down); and the month of hours before it.
struct Past {
    /// The first minute, as ISO 8601 text (`2026-12-01T01:02:00Z`).
    since: String,
    /// The minute after the last, likewise.
    until: String,
    /// A time inside minute 100 and that minute's active devices.
    sample: (String, i64),
    /// A time inside the gap.
    gap: String,
}

impl Past {
    fn write(database: &mut postgres::Client) -> Past {
        let since = common::write_history(database, common::HISTORY_DAY_AGO);
        let mut later = |interval: &str| -> String {
            database
                .query_one(
                    "SELECT pg_catalog.to_char(($1::text::timestamptz + $2::text::interval)
                                AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                    &[&since, &interval],
                )
                .unwrap()
                .get(0)
        };
        let until = later("1440 minutes");
        let sample = later("100 minutes 30 seconds");
        let gap = later("700 minutes");
        Past {
            since,
            until,
            sample: (sample, 10 + 100 % 7),
            gap,
        }
    }
}

/// The seed route's data for this query string, asked without a token.
fn history(gateway: &Gateway, query: &str) -> Value {
    let (status, answer) = gateway.get(&format!("/api/v1/network/history{query}"), None);
    assert_eq!(status, 200, "{query}: {answer}");
    assert_eq!(answer["success"], json!(true), "{answer}");
    answer["data"].clone()
}

/// `get_network_history` called directly, as JSON (the rows as the gateway writes them).
fn truth(
    database: &mut postgres::Client,
    since: &str,
    until: &str,
    bucket: &str,
    group_by: Option<&str>,
) -> Value {
    let row = database
        .query_one(
            "SELECT coalesce(json_agg(h), '[]')::text
               FROM get_network_history($1::text::timestamptz, $2::text::timestamptz, $3, $4) AS h",
            &[&since, &until, &bucket, &group_by],
        )
        .unwrap();
    serde_json::from_str(row.get(0)).unwrap()
}

/// The query string of a history question.
fn query(since: &str, until: &str, bucket: Option<&str>, group_by: Option<&str>) -> String {
    let mut query = format!("?since={since}&until={until}");
    if let Some(bucket) = bucket {
        query.push_str(&format!("&bucket={}", bucket.replace(' ', "%20")));
    }
    if let Some(group_by) = group_by {
        query.push_str(&format!("&group_by={group_by}"));
    }
    query
}

fn the_history_is_the_databases(gateway: &Gateway, database: &mut postgres::Client, past: &Past) {
    let (since, until) = (past.since.as_str(), past.until.as_str());
    // Rows: a minute's for each minute written; one per group (all four types) with group_by.
    for (bucket, group_by, rows) in [
        (None, None, 1320),
        (Some("1 minute"), None, 1320),
        (Some("1 hour"), None, 0),
        (Some("1 day"), None, 0),
        (None, Some("device_type"), 4 * 1320),
        (Some("1 hour"), Some("region"), 0),
    ] {
        let question = query(since, until, bucket, group_by);
        let answer = history(gateway, &question);
        let expected = truth(
            database,
            since,
            until,
            bucket.unwrap_or("1 minute"),
            group_by,
        );
        assert_eq!(answer, expected, "{question}");
        let answered = answer.as_array().unwrap().len();
        if rows > 0 {
            assert_eq!(answered, rows, "{question}");
        } else {
            assert!(answered > 0, "{question}: {answer}");
        }
    }
    // In time order, with every column of the function (serde_json's map sorts them).
    let rows = history(gateway, &query(since, until, None, None));
    let starts: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["bucket_start"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by_key(|start| parse_time(start));
    assert_eq!(starts, sorted);
    let columns: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    let mut expected = [
        "bucket_start",
        "group_key",
        "active_nodes",
        "active_nodes_min",
        "active_nodes_max",
        "total_ram_gb",
        "total_cpu_cores",
        "total_storage_gb",
        "total_compute_score",
        "total_gpus",
        "total_gpu_memory_gb",
    ];
    expected.sort();
    assert_eq!(columns, expected);
    // A range nothing was recorded in: no rows.
    let (status, now) = gateway.get(
        "/api/v1/network/history?since=2000-01-01T00:00:00Z&until=2000-01-01T00:01:00Z",
        None,
    );
    assert_eq!((status, &now["data"]), (200, &json!([])), "{now}");
}

fn the_minutes_are_what_was_recorded(
    gateway: &Gateway,
    _database: &mut postgres::Client,
    past: &Past,
) {
    let rows = history(gateway, &query(&past.since, &past.until, None, None));
    let by_minute: Vec<(i64, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let minute = (parse_time(row["bucket_start"].as_str().unwrap())
                - parse_time(&past.since))
                / 60_000;
            (minute, row["active_nodes"].as_f64().unwrap() as i64)
        })
        .collect();
    let expected: Vec<(i64, i64)> = (0..1440)
        .filter(|i| !(600..720).contains(i))
        .map(|i| (i, 10 + i % 7))
        .collect();
    assert_eq!(by_minute, expected);
}

fn stats_at_a_minute_are_the_databases(
    gateway: &Gateway,
    database: &mut postgres::Client,
    past: &Past,
) {
    let (at, active) = &past.sample;
    let (status, answer) = gateway.get(&format!("/api/v1/network/stats/at?at={at}"), None);
    assert_eq!(status, 200, "{answer}");
    let row = database
        .query_one(
            "SELECT to_json(s)::text FROM get_network_stats_at($1::text::timestamptz) AS s",
            &[at],
        )
        .unwrap();
    let expected: Value = serde_json::from_str(row.get(0)).unwrap();
    assert_eq!(answer["data"], expected);
    assert_eq!(answer["data"]["active_nodes"], json!(active), "{answer}");
    // The columns of get_network_stats.
    let (_, stats) = gateway.get("/api/v1/network/stats", None);
    let keys =
        |value: &Value| -> Vec<String> { value.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&answer["data"]), keys(&stats["data"]));
    // A minute nothing was recorded in.
    let (status, answer) = gateway.get(&format!("/api/v1/network/stats/at?at={}", past.gap), None);
    assert_eq!(status, 200, "{answer}");
    let row = database
        .query_one(
            "SELECT to_json(s)::text FROM get_network_stats_at($1::text::timestamptz) AS s",
            &[&past.gap],
        )
        .unwrap();
    assert_eq!(
        answer["data"],
        serde_json::from_str::<Value>(row.get(0)).unwrap()
    );
    // An offset written as `+01:00` must be encoded (`%2B`): a bare `+` in a query is a space.
    let (status, answer) = gateway.get(
        &format!(
            "/api/v1/network/stats/at?at={}",
            at.replace('Z', "%2B00:00")
        ),
        None,
    );
    assert_eq!(
        (status, &answer["data"]["active_nodes"]),
        (200, &json!(active))
    );
}

fn bad_input_is_400_naming_the_argument(
    gateway: &Gateway,
    database: &mut postgres::Client,
    past: &Past,
) {
    let rows_before = common::history_rows(database);
    let (since, until) = (past.since.as_str(), past.until.as_str());
    for (path, code, named) in [
        (
            format!("/network/history{}", query(until, since, None, None)),
            "22023",
            "since",
        ),
        (
            format!(
                "/network/history{}",
                query(since, until, Some("2 minutes"), None)
            ),
            "22023",
            "bucket",
        ),
        (
            format!(
                "/network/history{}",
                query(since, until, None, Some("colour"))
            ),
            "22023",
            "group_by",
        ),
        (
            format!(
                "/network/history{}",
                query("2000-01-01T00:00:00Z", until, None, None)
            ),
            "22023",
            "retention",
        ),
        (
            format!(
                "/network/history{}",
                query("yesterday-ish", until, None, None)
            ),
            "22007",
            "yesterday-ish",
        ),
        (format!("/network/history?until={until}"), "22004", "since"),
        (
            format!(
                "/network/history{}&colour=red",
                query(since, until, None, None)
            ),
            "PGRST100",
            "colour",
        ),
        (
            "/network/stats/at?at=2999-01-01T00:00:00Z".to_string(),
            "22008",
            "at is in the future",
        ),
        (
            "/network/stats/at?at=2000-01-01T00:00:00Z".to_string(),
            "22023",
            "at is older than compute_devices.history_retention",
        ),
        ("/network/stats/at?at=noon".to_string(), "22007", "noon"),
        ("/network/stats/at".to_string(), "22004", "at"),
        (
            format!("/network/stats/at?at={since}&at={until}"),
            "PGRST100",
            "at",
        ),
    ] {
        let (status, answer) = gateway.get(&format!("/api/v1{path}"), None);
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["success"], json!(false), "{answer}");
        assert_eq!(answer["error"]["code"], json!(code), "{path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    // The same refusals by /rpc, PostgREST's body.
    for (body, code) in [
        (json!({"since": until, "until": since}), "22023"),
        (
            json!({"since": since, "until": until, "bucket": "1 week"}),
            "22023",
        ),
    ] {
        let (status, error) = gateway.post("/rpc/get_network_history", None, &body.to_string());
        assert_eq!((status, &error["code"]), (400, &json!(code)), "{error}");
    }
    let (status, error) = gateway.post(
        "/rpc/get_network_stats_at",
        None,
        r#"{"at": "2999-01-01T00:00:00Z"}"#,
    );
    assert_eq!((status, &error["code"]), (400, &json!("22008")), "{error}");
    // Reading is all they did: nothing changed.
    assert_eq!(common::history_rows(database), rows_before);
    // Recording is not for the public.
    for token in [None, Some(token(ANN))] {
        let (status, error) = gateway.post("/rpc/record_network_history", token.as_deref(), "{}");
        assert!(
            [401, 403].contains(&status) && error["code"] == json!("42501"),
            "{status} {error}"
        );
    }
}

fn the_rpc_answers_the_same_by_get_and_post(
    gateway: &Gateway,
    _database: &mut postgres::Client,
    past: &Past,
) {
    let (since, until) = (past.since.as_str(), past.until.as_str());
    let seed = history(
        gateway,
        &query(since, until, Some("1 hour"), Some("device_type")),
    );
    let (status, by_get) = gateway.get(
        &format!(
            "/rpc/get_network_history{}",
            query(since, until, Some("1 hour"), Some("device_type"))
        ),
        None,
    );
    assert_eq!((status, &by_get), (200, &seed));
    let body =
        json!({"since": since, "until": until, "bucket": "1 hour", "group_by": "device_type"});
    let (status, by_post) = gateway.post("/rpc/get_network_history", None, &body.to_string());
    assert_eq!((status, &by_post), (200, &seed));
    // The read grammar over the rows: what the live page asks for.
    let (status, rows) = gateway.get(
        &format!(
            "/rpc/get_network_history{}&select=bucket_start,active_nodes&order=bucket_start.desc&limit=2",
            query(since, until, None, None)
        ),
        None,
    );
    assert_eq!(status, 200, "{rows}");
    let all = history(gateway, &query(since, until, None, None));
    let all = all.as_array().unwrap();
    let newest: Vec<Value> = all
        .iter()
        .rev()
        .take(2)
        .map(
            |row| json!({"bucket_start": row["bucket_start"], "active_nodes": row["active_nodes"]}),
        )
        .collect();
    assert_eq!(rows, json!(newest));
    // One minute's totals, by GET and POST: the seed route's object.
    let (at, _) = &past.sample;
    let (_, seed) = gateway.get(&format!("/api/v1/network/stats/at?at={at}"), None);
    let (status, by_get) = gateway.get(&format!("/rpc/get_network_stats_at?at={at}"), None);
    assert_eq!((status, &by_get), (200, &seed["data"]));
    let (status, by_post) = gateway.post(
        "/rpc/get_network_stats_at",
        None,
        &json!({ "at": at }).to_string(),
    );
    assert_eq!((status, &by_post), (200, &seed["data"]));
}

/// `get_capacity`'s `min_uptime_7d` and its expected-capacity columns reach the capacity route
/// with no gateway change: the route types its arguments from the catalog.
fn capacity_takes_the_reliability_filter(
    gateway: &Gateway,
    database: &mut postgres::Client,
    _past: &Past,
) {
    for (query, min_uptime) in [
        ("", None),
        ("?min_uptime_7d=0", Some("0")),
        ("?min_uptime_7d=0.5&group_by=device_type", Some("0.5")),
    ] {
        let (status, answer) = gateway.get(&format!("/api/v1/network/capacity{query}"), None);
        assert_eq!(status, 200, "{query}: {answer}");
        let group_by = query.contains("group_by").then_some("device_type");
        let row = database
            .query_one(
                "SELECT coalesce(json_agg(c), '[]')::text
                   FROM get_capacity(min_uptime_7d => $1::text::numeric, group_by => $2) AS c",
                &[&min_uptime, &group_by],
            )
            .unwrap();
        let expected: Value = serde_json::from_str(row.get(0)).unwrap();
        assert_eq!(answer["data"], expected, "{query}");
    }
    let (_, answer) = gateway.get("/api/v1/network/capacity", None);
    let row = &answer["data"][0];
    for column in [
        "expected_nodes",
        "expected_ram_gb",
        "expected_cpu_cores",
        "expected_gpus",
        "p95_floor_nodes",
        "p95_floor_gpus",
    ] {
        assert!(row[column].is_number(), "{column} in {row}");
    }
    // Two devices registered a moment ago and never stopped: each weighted about as the prior
    // (0.5), a little more for the moment online.
    let expected = row["expected_nodes"].as_f64().unwrap();
    assert!((1.0..1.1).contains(&expected), "{row}");
    for (query, code) in [
        ("?min_uptime_7d=1.5", "22023"),
        ("?min_uptime_7d=-0.1", "22023"),
        ("?min_uptime_7d=high", "22P02"),
    ] {
        let (status, answer) = gateway.get(&format!("/api/v1/network/capacity{query}"), None);
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["error"]["code"], json!(code), "{query}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("min_uptime_7d"), "{query}: {message}");
    }
    // By /rpc, with the read grammar over the new columns.
    let (status, rows) = gateway.post(
        "/rpc/get_capacity?select=active_nodes,p95_floor_nodes",
        None,
        r#"{"min_uptime_7d": 0}"#,
    );
    assert_eq!(status, 200, "{rows}");
    let (_, seed) = gateway.get("/api/v1/network/capacity?min_uptime_7d=0", None);
    let row = &seed["data"][0];
    assert_eq!(
        rows,
        json!([{"active_nodes": row["active_nodes"], "p95_floor_nodes": row["p95_floor_nodes"]}])
    );
}
