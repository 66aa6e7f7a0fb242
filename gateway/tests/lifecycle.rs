//! The gateway as a service: it waits for the database at start; 503 while the database is
//! down and recovery without a restart;
//! SIGTERM lets the requests in flight finish; a request over its timeout gets 504; heartbeat
//! batches shrink to what the database accepts.

mod common;

use common::{token, Gateway};
use std::time::Duration;

#[test]
fn the_database_going_away_gives_503_and_the_gateway_recovers_by_itself() {
    let cluster = common::cluster("gateway-lifecycle");
    let gateway = Gateway::start(cluster.port(), &[]);
    let owner = token("33333333-3333-4333-8333-333333333333");
    let id = gateway.register(&owner, "outage");
    let heartbeat = format!("/api/v1/network/devices/{id}/heartbeat");
    assert_eq!(gateway.post(&heartbeat, Some(&owner), "").0, 200);

    cluster.stop();
    for path in ["/readyz", "/api/v1/network/stats", "/rpc/get_network_stats"] {
        let (status, answer) = gateway.get(path, None);
        assert_eq!(status, 503, "{path} while down: {answer}");
    }
    let (status, answer) = gateway.post(&heartbeat, Some(&owner), "");
    assert_eq!(status, 503, "heartbeat while down: {answer}");
    assert_eq!(answer["success"], serde_json::json!(false));
    assert_eq!(
        gateway.get("/healthz", None).0,
        200,
        "the process itself is fine"
    );

    cluster.start();
    let recovered = common::eventually(Duration::from_secs(30), || {
        gateway.get("/readyz", None).0 == 200 && gateway.post(&heartbeat, Some(&owner), "").0 == 200
    });
    assert!(recovered, "the same gateway process serves again");
    assert_eq!(gateway.get("/api/v1/network/stats", None).0, 200);
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let cluster = common::cluster("gateway-sigterm");
    // A long batch window keeps a heartbeat in flight while the signal arrives.
    let mut gateway = Gateway::start(cluster.port(), &[("HEARTBEAT_BATCH_WINDOW_MS", "1500")]);
    let owner = token("44444444-4444-4444-8444-444444444444");
    let id = gateway.register(&owner, "graceful");
    let heartbeat = format!("/api/v1/network/devices/{id}/heartbeat");
    let status = std::thread::scope(|scope| {
        let in_flight = scope.spawn(|| gateway.post(&heartbeat, Some(&owner), "").0);
        std::thread::sleep(Duration::from_millis(500));
        let pid = gateway.process.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        in_flight.join().unwrap()
    });
    assert_eq!(status, 200, "the heartbeat in flight was answered");
    let exit = gateway.process.wait().unwrap();
    assert!(exit.success(), "the gateway exits cleanly: {exit:?}");
}

#[test]
fn a_request_over_its_time_gets_504() {
    let cluster = common::cluster("gateway-timeout");
    // A heartbeat waits a whole second for its batch; the request may take a fifth of that.
    let gateway = Gateway::start(
        cluster.port(),
        &[
            ("HEARTBEAT_BATCH_WINDOW_MS", "1000"),
            ("REQUEST_TIMEOUT_MS", "200"),
        ],
    );
    let owner = token("55555555-5555-4555-8555-555555555555");
    let id = gateway.register(&owner, "slow batch");
    let (status, _) = gateway.post(
        &format!("/api/v1/network/devices/{id}/heartbeat"),
        Some(&owner),
        "",
    );
    assert_eq!(status, 504);
    assert_eq!(
        gateway.get("/api/v1/network/stats", None).0,
        200,
        "others are served"
    );
}

/// HEARTBEAT_BATCH_MAX (1000) above the database's compute_devices.max_batch_size (2): a
/// refused batch is sent again in halves, and every heartbeat is still answered on its own.
#[test]
fn batches_larger_than_the_database_accepts_are_split_not_refused() {
    let cluster = common::cluster("gateway-batch-limit");
    common::superuser(cluster.port())
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.max_batch_size = 2",
            common::DATABASE
        ))
        .unwrap();
    // A long window, so the concurrent heartbeats below share batches.
    let gateway = Gateway::start(cluster.port(), &[("HEARTBEAT_BATCH_WINDOW_MS", "200")]);
    let devices: Vec<(String, String)> = (0..12)
        .map(|n| {
            let owner = token(&format!("{n:08}-4444-4444-8444-444444444444"));
            let id = gateway.register(&owner, "split");
            (owner, id)
        })
        .collect();
    let start = std::sync::Barrier::new(devices.len());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let beats: Vec<_> = devices
            .iter()
            .map(|(owner, id)| {
                let start = &start;
                let gateway = &gateway;
                scope.spawn(move || {
                    start.wait();
                    let path = format!("/api/v1/network/devices/{id}/heartbeat");
                    gateway.post(&path, Some(owner), "").0
                })
            })
            .collect();
        beats.into_iter().map(|beat| beat.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let (_, entries) = gateway.heartbeat_batches();
    assert!(
        entries > 12.0,
        "a batch over the limit was tried, then sent again in halves: {entries} entries sent"
    );
}

/// Started before its database, the gateway tries to read the schema cache again every second,
/// and serves once the database is up.
#[test]
fn the_gateway_waits_for_its_database_at_start() {
    let cluster = common::cluster("gateway-waits");
    cluster.stop();
    let port = cluster.port();
    let gateway = std::thread::scope(|scope| {
        let starting = scope.spawn(|| Gateway::start(port, &[]));
        std::thread::sleep(Duration::from_secs(3));
        cluster.start();
        starting.join().unwrap()
    });
    assert_eq!(gateway.get("/rpc/get_network_stats", None).0, 200);
}
