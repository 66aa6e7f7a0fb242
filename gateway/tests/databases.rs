//! The gateway's databases, without streaming replication (that, with a real failover, is
//! tests/failover.rs's):
//! - which database serves what, with one cluster standing in for both the primary and a
//!   "replica": DATABASE_URL naming a dead host before the live one, DATABASE_READ_URL naming
//!   the live cluster and a dead host. Public reads go to the replica in rotation, owners' reads
//!   and writes to the primary; with no replica in rotation the primary serves the public reads;
//!   /readyz and /metrics say which is which;
//! - a real streaming standby as DATABASE_READ_URL: in rotation while it keeps up, out while its
//!   replay is paused and it falls behind past DATABASE_READ_MAX_LAG_MS, in again when it
//!   catches up, out when it is down (the primary serving the public reads meanwhile);
//! - DATABASE_URL naming two clusters with `target_session_attrs=read-write`, the second
//!   read-only for the gateway's role (as a standby is): when the first dies, requests get 503
//!   (never 500) until the second takes writes, then the same gateway process serves from it.

mod common;

use common::{eventually, token, Gateway};
use compute_devices_test_support::free_port;
use serde_json::{json, Value};
use std::time::Duration;

fn url(hosts: &str, params: &str) -> String {
    format!(
        "postgres://authenticator@{hosts}/{}{params}",
        common::DATABASE
    )
}

fn reads(gateway: &Gateway) -> (f64, f64) {
    (
        gateway.sample(r#"gateway_reads_total{target="replica"}"#),
        gateway.sample(r#"gateway_reads_total{target="primary"}"#),
    )
}

/// /readyz's body, once `ready` holds for it.
fn readyz_when(gateway: &Gateway, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let held = eventually(Duration::from_secs(20), || {
        let (status, body) = gateway.get("/readyz", None);
        last = body;
        status == 200 && ready(&last)
    });
    assert!(held, "/readyz: {last}");
    last
}

#[test]
fn public_reads_go_to_a_replica_in_rotation_the_rest_to_the_primary() {
    let cluster = common::cluster("gateway-read-routing");
    let (port, dead) = (cluster.port(), free_port());
    let primary = url(
        &format!("localhost:{dead},localhost:{port}"),
        "?target_session_attrs=read-write",
    );
    let replicas = url(&format!("127.0.0.1:{port},localhost:{dead}"), "");
    let gateway = Gateway::start(
        port,
        &[
            ("DATABASE_URL", primary.as_str()),
            ("DATABASE_READ_URL", replicas.as_str()),
        ],
    );
    let live = format!("127.0.0.1:{port}");
    let ready = readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(true)
    });
    assert_eq!(
        ready["primary"],
        json!(format!("localhost:{port}")),
        "{ready}"
    );
    let (up, down) = (&ready["replicas"][0], &ready["replicas"][1]);
    assert_eq!(
        (&up["host"], &up["lag_ms"], &up["reason"]),
        (&json!(live), &json!(0), &Value::Null),
        "{ready}"
    );
    assert_eq!(
        (&down["host"], &down["in_rotation"]),
        (&json!(format!("localhost:{dead}")), &json!(false)),
        "{ready}"
    );
    assert!(
        down["reason"].as_str().unwrap().starts_with("down: "),
        "{ready}"
    );
    let in_rotation = |host: &str| {
        gateway.sample(&format!(
            r#"gateway_database_replica_in_rotation{{host="{host}"}}"#
        ))
    };
    assert_eq!(in_rotation(&live), 1.0);
    assert_eq!(in_rotation(&format!("localhost:{dead}")), 0.0);

    // Public reads: the seed's route (collapsed totals), RPC by GET and by POST.
    let before = reads(&gateway);
    assert_eq!(gateway.get("/api/v1/network/stats", None).0, 200);
    assert_eq!(gateway.get("/rpc/get_network_stats_by_type", None).0, 200);
    assert_eq!(
        gateway
            .post("/rpc/get_network_stats", Some(&token(common::ALICE)), "{}")
            .0,
        200
    );
    assert_eq!(reads(&gateway), (before.0 + 3.0, before.1));

    // A write, an owner's read, a view: the primary's, and no public read counted.
    let owner = token(common::BOB);
    let id = gateway.register(&owner, "routed");
    let (status, answer) = gateway.get("/api/v1/network/devices", Some(&owner));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"][0]["id"], json!(id), "{answer}");
    let (status, answer) = gateway.get("/compute_devices_live?select=id", Some(&owner));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(reads(&gateway), (before.0 + 3.0, before.1));
    drop(gateway);

    // No replica in rotation: the primary serves the public reads.
    let nowhere = url(&format!("localhost:{dead}"), "");
    let gateway = Gateway::start(port, &[("DATABASE_READ_URL", nowhere.as_str())]);
    let ready = readyz_when(&gateway, |body| {
        body["replicas"][0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("down: "))
    });
    assert_eq!(
        ready["primary"],
        json!(format!("localhost:{port}")),
        "{ready}"
    );
    let (status, answer) = gateway.get("/api/v1/network/stats", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(reads(&gateway), (0.0, 1.0));
}

/// What a standby's sessions are, for the gateway's role only (the worker keeps writing).
fn read_only_for_the_gateway(cluster: &compute_devices_test_support::Cluster, read_only: bool) {
    let setting = if read_only {
        "SET default_transaction_read_only = on"
    } else {
        "RESET default_transaction_read_only"
    };
    common::superuser(cluster.port())
        .batch_execute(&format!("ALTER ROLE authenticator {setting}"))
        .unwrap();
}

#[test]
fn when_the_first_host_dies_the_gateway_finds_the_one_that_takes_writes() {
    let first = common::cluster("gateway-hosts-first");
    let second = common::cluster("gateway-hosts-second");
    read_only_for_the_gateway(&second, true);
    let (one, two) = (first.port(), second.port());
    let hosts = url(
        &format!("localhost:{one},localhost:{two}"),
        "?target_session_attrs=read-write",
    );
    let gateway = Gateway::start(one, &[("DATABASE_URL", hosts.as_str())]);
    let ready = readyz_when(&gateway, |_| true);
    assert_eq!(
        ready,
        json!({"primary": format!("localhost:{one}"), "replicas": []})
    );
    let owner = token(common::ALICE);
    let id = gateway.register(&owner, "before");
    let heartbeat = format!("/api/v1/network/devices/{id}/heartbeat");
    assert_eq!(gateway.post(&heartbeat, Some(&owner), "").0, 200);

    // The primary dies; the other host takes no writes yet: 503 for everything, never 500.
    first.stop_immediate();
    // A name the cache lacks: the reload it asks for (at most one a second, the last was at
    // start) cannot reach a database.
    std::thread::sleep(Duration::from_millis(1100));
    let (status, answer) = gateway.get("/rpc/no_such_function", None);
    assert_eq!(status, 503, "{answer}");
    // Twice: the pooled connections the server closed, then new ones no host takes.
    for _ in 0..2 {
        for path in [
            "/readyz",
            "/api/v1/network/stats",
            "/rpc/get_network_stats_by_type",
            "/api/v1/network/devices",
        ] {
            let (status, answer) = gateway.get(path, Some(&owner));
            assert_eq!(status, 503, "{path}: {answer}");
        }
        let (status, answer) = gateway.post(&heartbeat, Some(&owner), "");
        assert_eq!(status, 503, "heartbeat: {answer}");
        let (status, answer) = gateway.post(
            "/api/v1/network/devices/register",
            Some(&owner),
            r#"{"device_name": "lost", "device_type": "laptop", "ram_gb": 1, "cpu_cores": 1, "storage_gb": 1}"#,
        );
        assert_eq!(status, 503, "register: {answer}");
    }

    // The other host is promoted: the same process serves from it.
    read_only_for_the_gateway(&second, false);
    let ready = readyz_when(&gateway, |body| {
        body["primary"] == json!(format!("localhost:{two}"))
    });
    assert_eq!(ready["replicas"], json!([]));
    let id = gateway.register(&owner, "after");
    let heartbeat = format!("/api/v1/network/devices/{id}/heartbeat");
    let (status, answer) = gateway.post(&heartbeat, Some(&owner), "");
    assert_eq!(
        status, 200,
        "coalesced heartbeat on the new primary: {answer}"
    );
    let (status, answer) = gateway.get("/api/v1/network/stats", None);
    assert_eq!(status, 200, "{answer}");
    // A name the cache lacks reloads it, from the new primary.
    let (status, answer) = gateway.get("/rpc/no_such_function", None);
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = gateway.get("/api/v1/network/devices", Some(&owner));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"].as_array().unwrap().len(), 1, "{answer}");
}

#[test]
fn a_standby_is_out_of_rotation_while_it_lags_or_is_down() {
    let cluster = common::cluster("gateway-standby-rotation");
    let standby = compute_devices_test_support::Standby::of(&cluster);
    let replica = url(&format!("localhost:{}", standby.port()), "");
    let gateway = Gateway::start(
        cluster.port(),
        &[
            ("DATABASE_READ_URL", replica.as_str()),
            ("DATABASE_READ_MAX_LAG_MS", "1000"),
        ],
    );
    let ready = readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(true)
    });
    assert_eq!(ready["replicas"][0]["in_recovery"], json!(true), "{ready}");
    let before = reads(&gateway);
    let (status, answer) = gateway.get("/rpc/get_network_stats_by_type", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(reads(&gateway), (before.0 + 1.0, before.1));

    // Replay paused, and a write on the primary it cannot replay: it falls behind.
    let mut standby_superuser = common::superuser(standby.port());
    standby_superuser
        .batch_execute("SELECT pg_catalog.pg_wal_replay_pause()")
        .unwrap();
    gateway.register(&token(common::ALICE), "unreplayed");
    let lagging = readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(false)
    });
    let reason = lagging["replicas"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("is over DATABASE_READ_MAX_LAG_MS (1000 ms)"),
        "{lagging}"
    );
    assert!(
        lagging["replicas"][0]["lag_ms"].as_u64().unwrap() > 1000,
        "{lagging}"
    );
    let host = format!("localhost:{}", standby.port());
    let gauge = |name: &str| gateway.sample(&format!(r#"{name}{{host="{host}"}}"#));
    assert_eq!(gauge("gateway_database_replica_in_rotation"), 0.0);
    assert!(gauge("gateway_database_replica_lag_seconds") > 1.0);
    let before = reads(&gateway);
    assert_eq!(gateway.get("/api/v1/network/stats", None).0, 200);
    assert_eq!(reads(&gateway), (before.0, before.1 + 1.0));

    standby_superuser
        .batch_execute("SELECT pg_catalog.pg_wal_replay_resume()")
        .unwrap();
    readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(true)
    });
    assert_eq!(gauge("gateway_database_replica_in_rotation"), 1.0);

    // Down: out of rotation, and the primary serves.
    drop(standby_superuser);
    drop(standby);
    let down = readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(false)
    });
    assert!(
        down["replicas"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("down: "),
        "{down}"
    );
    let before = reads(&gateway);
    let (status, answer) = gateway.get("/rpc/get_network_stats_by_type", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(reads(&gateway), (before.0, before.1 + 1.0));
}
