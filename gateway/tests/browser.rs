//! The clients in a real browser: Debian's headless Chromium, driven by playwright-core, runs
//! the TypeScript package's end-to-end script against this gateway (register, heartbeats at the
//! server's short interval, counted, stopped, the count drops, deactivation on page unload), and
//! renders the live network page, whose numbers must be the database's.
//! Needs `npm ci && npm run build` in clients/typescript first (`./tests/run` does it).

mod common;

use common::{token, Gateway};
use serde_json::{json, Value};
use std::process::Command;

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/typescript");

#[test]
fn browsers_share_compute_and_the_network_page_shows_the_database() {
    let cluster = common::cluster("gateway-browser");
    // The server tells clients when to beat next: one second here, so the test sees several.
    common::superuser(cluster.port())
        .batch_execute(&format!(
            "ALTER DATABASE {} SET compute_devices.heartbeat_interval = 1",
            common::DATABASE
        ))
        .unwrap();
    let gateway = Gateway::start(cluster.port(), &[]);

    let user = "44444444-4444-4444-8444-444444444444";
    let output = node(
        "e2e/browser.mjs",
        &[
            ("COMPUTE_GATEWAY_URL", &gateway.url),
            ("COMPUTE_TOKEN", &token(user)),
        ],
    );
    assert!(
        output.status.success(),
        "the client's browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Devices of every type but one, and one that stopped: the page must show exactly these.
    let owner = token("55555555-5555-4555-8555-555555555555");
    for (name, device_type, ram_gb, cores, storage_gb) in [
        ("phone 1", "phone", 8, 8, 128),
        ("phone 2", "phone", 6, 8, 64),
        ("laptop", "laptop", 16, 8, 512),
        ("server", "server", 256, 64, 8000),
        ("retired server", "server", 128, 32, 4000),
    ] {
        let body = json!({"device_name": name, "device_type": device_type, "ram_gb": ram_gb,
                          "cpu_cores": cores, "storage_gb": storage_gb});
        let (status, answer) =
            gateway.post("/rpc/register_device", Some(&owner), &body.to_string());
        assert_eq!(status, 200, "{answer}");
        if name == "retired server" {
            let id = json!({"device_id": answer["id"]}).to_string();
            assert_eq!(
                gateway.post("/rpc/deactivate_device", Some(&owner), &id).0,
                200
            );
        }
    }
    let mut database = common::superuser(cluster.port());
    let truth = database
        .query_one(
            "SELECT active_nodes::float8, total_ram_gb::float8, total_cpu_cores::float8,
                    total_storage_gb::float8, total_compute_score::float8
               FROM get_network_stats()",
            &[],
        )
        .unwrap();
    let by_type: Vec<(String, i64)> = database
        .query(
            "SELECT device_type, count(*) FILTER (WHERE is_active) FROM compute_devices
              GROUP BY device_type",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(truth.get::<_, f64>(0), 4.0, "the four live devices");

    let screenshot = std::env::temp_dir().join("compute-network-page.png");
    let output = node(
        "e2e/network-page.mjs",
        &[
            ("COMPUTE_GATEWAY_URL", &gateway.url),
            ("PAGE_SCREENSHOT", screenshot.to_str().unwrap()),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the page did not render:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(shown["problems"], json!([]), "no script errors: {shown}");
    assert_eq!(shown["stale"], json!(false), "{shown}");
    let fields = [
        "active_nodes",
        "total_ram_gb",
        "total_cpu_cores",
        "total_storage_gb",
        "total_compute_score",
    ];
    for (i, field) in fields.iter().enumerate() {
        let on_page: f64 = shown["stats"][field].as_str().unwrap().parse().unwrap();
        assert_eq!(
            on_page,
            truth.get::<_, f64>(i),
            "{field} on the page: {shown}"
        );
    }
    for device_type in ["phone", "laptop", "desktop", "server"] {
        let expected = by_type
            .iter()
            .find(|(t, _)| t == device_type)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            shown["by_type"][device_type],
            json!(expected),
            "{device_type} on the page: {shown}"
        );
    }
    // Shown with units: the number, then its unit in a span of its own.
    assert_eq!(shown["text"]["total_ram_gb"], json!("286GB"), "{shown}");
    assert_eq!(shown["text"]["total_storage_gb"], json!("8.7TB"), "{shown}");
    assert_eq!(
        shown["bars"],
        json!(8),
        "a track and a bar per type: {shown}"
    );
}

/// Runs a script of the TypeScript package with node.
fn node(script: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new("node");
    command.arg(script).current_dir(CLIENTS);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("node runs")
}
