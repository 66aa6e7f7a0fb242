//! The clients in a real browser: Debian's headless Chromium, driven by playwright-core, runs
//! the TypeScript package's end-to-end script against this gateway (register, heartbeats at the
//! server's short interval, counted, stopped, the count drops, deactivation on page unload), and
//! renders the live network page at a desktop's and a phone's width (screenshots in
//! target/screenshots), whose numbers must be the database's and whose layout must fit.
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
    // Accelerators and countries too: one device with none, one model not on every device, a
    // device without a country, and the stopped one's GPUs and country must not count.
    let owner = token("55555555-5555-4555-8555-555555555555");
    let gpu = |vendor: &str, product: &str, memory_mib: u32, count: u32| json!({"vendor": vendor, "product_name": product, "memory_mib": memory_mib, "count": count});
    for (name, device_type, ram_gb, cores, storage_gb, accelerators, country) in [
        (
            "phone 1",
            "phone",
            8,
            8,
            128,
            json!([gpu("qualcomm", "Adreno 740", 0, 1)]),
            json!("de"),
        ),
        ("phone 2", "phone", 6, 8, 64, json!(null), json!(null)),
        (
            "laptop",
            "laptop",
            16,
            8,
            512,
            json!([gpu("apple", "Apple M2 Max", 0, 1)]),
            json!("JP"),
        ),
        (
            "server",
            "server",
            256,
            64,
            8000,
            json!([
                gpu("nvidia", "NVIDIA GeForce RTX 4090", 24576, 4),
                gpu("nvidia", "NVIDIA H100 80GB HBM3", 81920, 2)
            ]),
            json!("DE"),
        ),
        (
            "retired server",
            "server",
            128,
            32,
            4000,
            json!([gpu("amd", "AMD Instinct MI300X", 196608, 8)]),
            json!("FR"),
        ),
    ] {
        let body = json!({"device_name": name, "device_type": device_type, "ram_gb": ram_gb,
                          "cpu_cores": cores, "storage_gb": storage_gb,
                          "accelerators": accelerators, "country_code": country});
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
                    total_storage_gb::float8, total_compute_score::float8,
                    total_gpus::float8, total_gpu_memory_gb::float8
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
    let by_model = capacity(&mut database, "gpu_model");
    let by_country = capacity(&mut database, "country");
    assert_eq!(truth.get::<_, f64>(0), 4.0, "the four live devices");
    // What the database says is what was registered, so the page is checked against the right
    // figures: (model key, devices, GPUs, GiB); "" is the NULL key (no accelerator, no country).
    assert_eq!(
        by_model,
        json!([
            ["", 1, 0, 0.0],
            ["adreno-740", 1, 1, 0.0],
            ["geforce-rtx-4090", 1, 4, 96.0],
            ["h100-80gb-hbm3", 1, 2, 160.0],
            ["m2-max", 1, 1, 0.0]
        ])
    );
    assert_eq!(
        by_country,
        json!([["", 1, 0, 0.0], ["DE", 2, 7, 256.0], ["JP", 1, 1, 0.0]])
    );

    let screenshots = target_dir().join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = node(
        "e2e/network-page.mjs",
        &[
            ("COMPUTE_GATEWAY_URL", &gateway.url),
            ("PAGE_SCREENSHOTS", screenshots.to_str().unwrap()),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the page did not render:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    // No script error, and no request anywhere but the gateway.
    assert_eq!(shown["problems"], json!([]), "no script errors: {shown}");
    assert_eq!(shown["stale"], json!(false), "{shown}");
    let fields = [
        "active_nodes",
        "total_ram_gb",
        "total_cpu_cores",
        "total_storage_gb",
        "total_compute_score",
        "total_gpus",
        "total_gpu_memory_gb",
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
        // Each bar is as long as the share it is labelled with (of all active devices), at
        // both widths.
        let share = expected as f64 / truth.get::<_, f64>(0);
        for bars in [&shown["bars"], &shown["layout"]["420"]["bars"]] {
            let bar = &bars[device_type];
            let (labelled, length) = (
                bar["share"].as_f64().unwrap(),
                bar["length"].as_f64().unwrap(),
            );
            assert!((labelled - share).abs() < 1e-9, "{device_type}: {bar}");
            assert!(
                (length - share).abs() < 0.01,
                "{device_type}'s bar is {length} of its track for a share of {share}: {shown}"
            );
        }
    }
    // Shown with units: the number, then its unit in a span of its own.
    assert_eq!(shown["text"]["total_ram_gb"], json!("286GB"), "{shown}");
    assert_eq!(shown["text"]["total_storage_gb"], json!("8.7TB"), "{shown}");
    assert_eq!(
        shown["text"]["total_gpu_memory_gb"],
        json!("256GB"),
        "{shown}"
    );

    // The tables by model and by country hold the database's rows (in the page's order).
    assert_eq!(sorted_rows(&shown["by_model"]), by_model, "{shown}");
    assert_eq!(sorted_rows(&shown["by_country"]), by_country, "{shown}");
    // The map: every country shape drawn, and the countries with devices coloured with their
    // counts, the database's.
    let shapes = include_str!("../page/world.svg")
        .matches("data-name=")
        .count();
    assert_eq!(shown["map_shapes"], json!(shapes), "{shown}");
    let mut on_map = serde_json::Map::new();
    for row in by_country.as_array().unwrap() {
        if row[0] != "" {
            on_map.insert(
                row[0].as_str().unwrap().to_owned(),
                json!({"count": row[1], "coloured": true}),
            );
        }
    }
    assert_eq!(shown["map"], Value::Object(on_map), "{shown}");

    // Both widths fit: nothing wider than the window, no text under 11 px (the by-type chart's
    // labels had shrunk to 4 px on a phone). The screenshots are in target/screenshots.
    for width in ["1400", "420"] {
        let layout = &shown["layout"][width];
        assert_eq!(layout["inner_width"].to_string(), width, "{layout}");
        assert!(
            layout["scroll_width"].as_u64() <= layout["inner_width"].as_u64(),
            "the page is wider than the window at {width} px: {layout}"
        );
        assert!(
            layout["smallest_font"]["px"].as_f64().unwrap() >= 11.0,
            "text under 11 px at {width} px: {layout}"
        );
    }
}

/// `get_capacity` grouped by `group_by`, as [key ("" for NULL), devices, GPUs, GPU GiB] rows in
/// key order.
fn capacity(database: &mut postgres::Client, group_by: &str) -> Value {
    let rows = database
        .query(
            "SELECT coalesce(group_key, ''), active_nodes, total_gpus, total_gpu_memory_gb::float8
               FROM get_capacity(group_by => $1) ORDER BY 1",
            &[&group_by],
        )
        .unwrap();
    rows.iter()
        .map(|row| {
            json!([
                row.get::<_, String>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2),
                row.get::<_, f64>(3)
            ])
        })
        .collect()
}

/// The page's table rows in the same shape, in key order.
fn sorted_rows(rows: &Value) -> Value {
    let mut rows: Vec<Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            json!([
                row["key"],
                row["active_nodes"],
                row["gpus"],
                row["gpu_memory_gb"].as_f64()
            ])
        })
        .collect();
    rows.sort_by_key(|row| row[0].as_str().unwrap().to_owned());
    Value::Array(rows)
}

/// Cargo's target directory: the test binary runs from `<target>/<profile>/deps`.
fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
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
