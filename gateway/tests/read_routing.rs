//! Which database serves what, with one cluster standing in for both the primary and a
//! "replica" (streaming replicas and failover are tests/failover.rs's): DATABASE_URL naming a
//! dead host before the live one, DATABASE_READ_URL naming the live cluster and a dead host.
//! Public reads go to the replica in rotation, owners' reads and writes to the primary; with no
//! replica in rotation the primary serves the public reads; /readyz and /metrics say which is
//! which.

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

/// A sample's value in the Prometheus text of /metrics, 0 when absent.
fn sample(gateway: &Gateway, name_and_labels: &str) -> f64 {
    gateway
        .metrics()
        .lines()
        .find_map(|line| {
            line.strip_prefix(name_and_labels)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|value| value.parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

fn reads(gateway: &Gateway) -> (f64, f64) {
    (
        sample(gateway, r#"gateway_reads_total{target="replica"}"#),
        sample(gateway, r#"gateway_reads_total{target="primary"}"#),
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
        sample(
            &gateway,
            &format!(r#"gateway_database_replica_in_rotation{{host="{host}"}}"#),
        )
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
