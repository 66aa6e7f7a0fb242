//! The gateway's databases, without streaming replication (that, with a real failover, is
//! tests/failover.rs's):
//! - which database serves what, with one cluster standing in for both the primary and a
//!   "replica": DATABASE_URL naming a dead host before the live one, DATABASE_READ_URL naming
//!   the live cluster and a dead host. Public reads go to the replica in rotation, owners' reads
//!   and writes to the primary; with no replica in rotation the primary serves the public reads;
//!   /readyz and /metrics say which is which;
//! - a real streaming standby as DATABASE_READ_URL: in rotation while it keeps up, out while its
//!   replay is paused and it falls behind past DATABASE_READ_MAX_LAG_MS ("lagging"), in again
//!   when it catches up, out while its primary is stopped and it streams nothing ("not
//!   streaming"), in again when the primary is back, out when it is down ("down"), the primary
//!   serving the public reads meanwhile;
//! - a replica that goes silent without closing its connections (a crash or a partition, played
//!   by a relay that stops passing bytes on): the totals call waiting on it gives up after
//!   REQUEST_TIMEOUT_MS, the replica leaves the rotation, and the primary serves the totals;
//! - DATABASE_URL naming two clusters with `target_session_attrs=read-write`, the second
//!   read-only for the gateway's role (as a standby is): when the first dies, requests get 503
//!   (never 500) until the second takes writes, then the same gateway process serves from it.

mod common;

use common::{eventually, token, Gateway};
use compute_devices_test_support::free_port;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// /readyz's body, once `ready` holds for it (and the primary answers).
fn readyz_when(gateway: &Gateway, ready: impl Fn(&Value) -> bool) -> Value {
    readyz_with(gateway, |status, body| status == 200 && ready(body))
}

/// /readyz's body, once `ready` holds for its status and body.
fn readyz_with(gateway: &Gateway, ready: impl Fn(u16, &Value) -> bool) -> Value {
    let mut last = Value::Null;
    let held = eventually(Duration::from_secs(20), || {
        let (status, body) = gateway.get("/readyz", None);
        last = body;
        ready(status, &last)
    });
    assert!(held, "/readyz: {last}");
    last
}

/// Whether a public read of `path` is served (200) by `target` ("replica" or "primary"),
/// within a few tries: the checker may move a replica in or out between two requests on a
/// loaded machine.
fn served_by(gateway: &Gateway, target: &str, path: &str) -> bool {
    eventually(Duration::from_secs(10), || {
        let before = reads(gateway);
        let (status, _) = gateway.get(path, None);
        let after = reads(gateway);
        let (replica, primary) = (after.0 - before.0, after.1 - before.1);
        status == 200
            && match target {
                "replica" => (replica, primary) == (1.0, 0.0),
                _ => (replica, primary) == (0.0, 1.0),
            }
    })
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
    // A category only: /readyz is anyone's, the connection error goes to the log.
    assert_eq!(down["reason"], json!("down"), "{ready}");
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
        body["replicas"][0]["reason"] == json!("down")
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

/// A standby's DATABASE_READ_MAX_LAG_MS: well above what it lags while it keeps up (the
/// primary's worker commits about once a second, and a loaded machine replays late).
const MAX_LAG_MS: u64 = 4000;

#[test]
fn a_standby_is_out_of_rotation_while_it_lags_does_not_stream_or_is_down() {
    let cluster = common::cluster("gateway-standby-rotation");
    let standby = compute_devices_test_support::Standby::of(&cluster);
    let replica = url(&format!("localhost:{}", standby.port()), "");
    let max_lag = MAX_LAG_MS.to_string();
    let gateway = Gateway::start(
        cluster.port(),
        &[
            ("DATABASE_READ_URL", replica.as_str()),
            ("DATABASE_READ_MAX_LAG_MS", max_lag.as_str()),
            ("DB_CONNECT_TIMEOUT_MS", "5000"),
        ],
    );
    let in_rotation = |body: &Value| body["replicas"][0]["in_rotation"] == json!(true);
    let ready = readyz_when(&gateway, in_rotation);
    assert_eq!(ready["replicas"][0]["in_recovery"], json!(true), "{ready}");
    assert!(served_by(
        &gateway,
        "replica",
        "/rpc/get_network_stats_by_type"
    ));

    // Replay paused, and a write on the primary it cannot replay: it falls behind, further
    // every moment (the worker's commits keep arriving), so it stays out while paused. Its lag
    // is the age of the last transaction it replayed: one is replayed first, or the lag could
    // not be told at all (out as lagging, but with no figure to check).
    let mut standby_superuser = common::superuser(standby.port());
    gateway.register(&token(common::ALICE), "replayed");
    assert!(eventually(Duration::from_secs(10), || standby_superuser
        .query_one(
            "SELECT pg_catalog.pg_last_xact_replay_timestamp() IS NOT NULL",
            &[]
        )
        .unwrap()
        .get::<_, bool>(0)));
    standby_superuser
        .batch_execute("SELECT pg_catalog.pg_wal_replay_pause()")
        .unwrap();
    gateway.register(&token(common::ALICE), "unreplayed");
    let lagging = readyz_when(&gateway, |body| {
        body["replicas"][0]["reason"] == json!("lagging")
    });
    assert_eq!(
        lagging["replicas"][0]["in_rotation"],
        json!(false),
        "{lagging}"
    );
    assert!(
        lagging["replicas"][0]["lag_ms"].as_u64().unwrap() > MAX_LAG_MS,
        "{lagging}"
    );
    let host = format!("localhost:{}", standby.port());
    let gauge = |name: &str| gateway.sample(&format!(r#"{name}{{host="{host}"}}"#));
    assert_eq!(gauge("gateway_database_replica_in_rotation"), 0.0);
    assert!(eventually(Duration::from_secs(10), || gauge(
        "gateway_database_replica_lag_seconds"
    ) > MAX_LAG_MS
        as f64
        / 1000.0));
    assert!(served_by(&gateway, "primary", "/api/v1/network/stats"));

    standby_superuser
        .batch_execute("SELECT pg_catalog.pg_wal_replay_resume()")
        .unwrap();
    readyz_when(&gateway, in_rotation);
    assert!(eventually(Duration::from_secs(10), || gauge(
        "gateway_database_replica_in_rotation"
    ) == 1.0));

    // Its primary stops: its WAL receiver is gone, and having replayed all it received (lag
    // 0) says nothing. Out, though it answers; in again once it streams again.
    drop(standby_superuser);
    cluster.stop();
    let cut_off = readyz_with(&gateway, |_, body| {
        body["replicas"][0]["reason"] == json!("not streaming")
    });
    let cut_off = &cut_off["replicas"][0];
    assert_eq!(
        (&cut_off["in_rotation"], &cut_off["in_recovery"]),
        (&json!(false), &json!(true)),
        "{cut_off}"
    );
    cluster.start();
    readyz_when(&gateway, in_rotation);
    assert!(served_by(
        &gateway,
        "replica",
        "/rpc/get_network_stats_by_type"
    ));

    // Down: out of rotation, and the primary serves.
    drop(standby);
    let down = readyz_when(&gateway, |body| {
        body["replicas"][0]["in_rotation"] == json!(false)
    });
    assert_eq!(down["replicas"][0]["reason"], json!("down"), "{down}");
    assert!(served_by(
        &gateway,
        "primary",
        "/rpc/get_network_stats_by_type"
    ));
}

/// A TCP relay to a local port that can be frozen: frozen, it passes no byte on and closes
/// nothing, as a server that crashed or is cut off by a partition looks to a client (no reset
/// ever comes, and the relay's own TCP acknowledges what is sent, keepalives included).
struct Relay {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    fn to(port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            frozen: Arc::new(AtomicBool::new(false)),
        };
        let frozen = relay.frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(("127.0.0.1", port)))
                else {
                    continue;
                };
                let back = (server.try_clone().unwrap(), client.try_clone().unwrap());
                for (from, to) in [(client, server), back] {
                    let frozen = frozen.clone();
                    std::thread::spawn(move || pass_on(from, to, &frozen));
                }
            }
        });
        relay
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

fn pass_on(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    let mut buffer = [0; 16 * 1024];
    while let Ok(read) = from.read(&mut buffer) {
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if read == 0 || to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[test]
fn a_replica_gone_silent_leaves_the_rotation_and_the_primary_serves_the_totals() {
    let cluster = common::cluster("gateway-silent-replica");
    let relay = Relay::to(cluster.port());
    let replica = url(&format!("127.0.0.1:{}", relay.port), "");
    let timeout = Duration::from_millis(2000);
    let request_timeout = timeout.as_millis().to_string();
    let gateway = Gateway::start(
        cluster.port(),
        &[
            ("DATABASE_READ_URL", replica.as_str()),
            ("REQUEST_TIMEOUT_MS", request_timeout.as_str()),
        ],
    );
    let in_rotation = |body: &Value| body["replicas"][0]["in_rotation"] == json!(true);
    readyz_when(&gateway, in_rotation);
    assert!(served_by(&gateway, "replica", "/api/v1/network/stats"));

    // Silent: the totals call on its pooled connection never gets an answer. The requests
    // that wait for it get 504 at worst; it gives up after REQUEST_TIMEOUT_MS, and from then
    // on the primary answers, long before TCP would notice anything.
    relay.freeze(true);
    let started = Instant::now();
    let (status, answer) = gateway.get("/api/v1/network/stats", None);
    assert!(matches!(status, 200 | 504), "{status} {answer}");
    assert!(started.elapsed() < timeout + Duration::from_secs(1));
    let mut last = (0, Value::Null);
    let answered = eventually(timeout * 2, || {
        last = gateway.get("/api/v1/network/stats", None);
        last.0 == 200
    });
    assert!(answered, "the totals while the replica is silent: {last:?}");
    let out = readyz_when(&gateway, |body| !in_rotation(body));
    assert_eq!(out["replicas"][0]["reason"], json!("down"), "{out}");
    assert!(served_by(&gateway, "primary", "/api/v1/network/stats"));

    // It speaks again: in rotation, and serving.
    relay.freeze(false);
    readyz_when(&gateway, in_rotation);
    assert!(served_by(&gateway, "replica", "/api/v1/network/stats"));
}
