//! The clients in a real browser: Debian's headless Chromium, driven by playwright-core, runs
//! the TypeScript package's end-to-end script against this gateway (register, heartbeats at the
//! server's short interval, counted, stopped, the count drops, deactivation on page unload), and
//! renders the live network page at a desktop's and a phone's width (screenshots in
//! target/screenshots), whose numbers must be the database's and whose layout must fit.
//! Needs `npm ci && npm run build` in clients/typescript first (`./tests/run` does it).

mod common;

use common::{parse_time, token, Gateway};
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

    // A day of minutes (ending six minutes ago) and a month of hours recorded before the page
    // opens (the worker records the minutes since the cluster started): the chart must draw the
    // database's history, not only what it saw since it opened.
    common::write_history(
        &mut database,
        "date_trunc('minute', now(), 'UTC') - interval '1446 minutes'",
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

    // The chart: the last 24 hours by the minute at load, the last 30 days by the hour once its
    // button is pressed, each point the database's, at both widths.
    let live = truth.get::<_, f64>(0);
    check_chart(&mut database, &shown["history"], "day", live);
    check_chart(
        &mut database,
        &shown["layout"]["420"]["history"],
        "day",
        live,
    );
    check_chart(&mut database, &shown["month"], "month", live);
    check_chart(
        &mut database,
        &shown["layout"]["420-30d"]["history"],
        "month",
        live,
    );

    // Both widths fit, in both views: nothing wider than the window, no text under 11 px (the
    // by-type chart's labels had shrunk to 4 px on a phone). The screenshots are in
    // target/screenshots.
    for view in ["1400", "420", "1400-30d", "420-30d"] {
        let layout = &shown["layout"][view];
        let width = view.trim_end_matches("-30d");
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

/// Checks the history chart as the page drew it (`shownHistory` in network-page.mjs) against
/// `get_network_history` over the same range: every bucket's value, each point where the chart's
/// scale puts that value, a line broken only where nothing was recorded for more than a bucket,
/// the scale's top, and the caption's high and low.
fn check_chart(database: &mut postgres::Client, chart: &Value, range: &str, live: f64) {
    let (bucket, step) = match range {
        "day" => ("1 minute", 60_000),
        _ => ("1 hour", 3_600_000),
    };
    assert_eq!(
        (chart["range"].as_str(), chart["bucket"].as_str()),
        (Some(range), Some(bucket)),
        "{chart}"
    );
    assert_eq!(chart["pressed"], json!([range]), "{chart}");
    let title = chart["title"].as_str().unwrap();
    assert!(
        title.ends_with(if range == "day" {
            "last 24 hours"
        } else {
            "last 30 days"
        }),
        "{title}"
    );
    let (since, until) = (
        chart["since"].as_str().unwrap(),
        chart["until"].as_str().unwrap(),
    );
    let span = parse_time(until) - parse_time(since);
    assert_eq!(
        span,
        if range == "day" {
            86_400_000
        } else {
            30 * 86_400_000
        }
    );
    // The database's buckets of the range: (start, active_nodes, min, max).
    let truth: Vec<(i64, f64, f64, f64)> = database
        .query(
            "SELECT bucket_start::text, active_nodes::float8, active_nodes_min::float8,
                    active_nodes_max::float8
               FROM get_network_history($1::text::timestamptz, $2::text::timestamptz, $3)",
            &[&since, &until, &bucket],
        )
        .unwrap()
        .iter()
        .map(|row| {
            let start: String = row.get(0);
            (
                parse_time(&start.replacen(' ', "T", 1)),
                row.get(1),
                row.get(2),
                row.get(3),
            )
        })
        .filter(|(start, ..)| *start >= parse_time(since))
        .collect();
    let lines = chart["lines"].as_array().unwrap();
    let drawn: Vec<(i64, f64)> = lines
        .iter()
        .flat_map(|line| {
            let starts = line["starts"].as_array().unwrap().iter();
            let values = line["values"].as_array().unwrap().iter();
            starts.zip(values).map(|(start, value)| {
                (parse_time(start.as_str().unwrap()), value.as_f64().unwrap())
            })
        })
        .collect();
    assert_eq!(chart["points"], json!(drawn.len()), "{chart}");
    // The worker goes on recording while the page is read: the buckets it may have written or
    // grown since (the last two) need only be the database's buckets; all before, exactly its.
    let settled = parse_time(until) - 2 * step;
    let old = |rows: Vec<(i64, f64)>| -> Vec<(i64, f64)> {
        rows.into_iter()
            .filter(|(start, _)| *start < settled)
            .collect()
    };
    let known: Vec<(i64, f64)> = truth.iter().map(|row| (row.0, row.1)).collect();
    assert_eq!(
        old(drawn.clone()),
        old(known.clone()),
        "{range}: the chart's buckets"
    );
    assert!(
        old(known.clone()).len() > if range == "day" { 1000 } else { 200 },
        "{range}: the history written: {}",
        known.len()
    );
    for (start, _) in drawn.iter().filter(|(start, _)| *start >= settled) {
        assert!(
            known.iter().any(|(t, _)| t == start),
            "{range}: {start} drawn"
        );
    }
    // Where each value is drawn: the scale is the SVG's own (its data-* attributes).
    let number = |key: &str| chart[key].as_f64().unwrap();
    let (left, top, width, height, high) = (
        number("left"),
        number("top"),
        number("width"),
        number("height"),
        number("high"),
    );
    let highest = truth
        .iter()
        .filter(|row| drawn.iter().any(|(start, _)| *start == row.0))
        .map(|row| row.3)
        .fold(live.max(1.0), f64::max);
    assert_eq!(high, highest, "{range}: the top of the scale");
    for line in lines {
        let starts = line["starts"].as_array().unwrap();
        let points = line["points"].as_array().unwrap();
        let values = line["values"].as_array().unwrap();
        assert_eq!(
            (points.len(), values.len()),
            (starts.len(), starts.len()),
            "{line}"
        );
        for ((start, value), point) in starts.iter().zip(values).zip(points) {
            let t = parse_time(start.as_str().unwrap());
            let x = left + (t - parse_time(since)) as f64 / span as f64 * width;
            let y = top + height - value.as_f64().unwrap() / high * height;
            let (px, py) = (point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
            assert!(
                (px - x).abs() <= 0.06 && (py - y).abs() <= 0.06,
                "{range}: {start} = {value} drawn at ({px}, {py}), not ({x:.2}, {y:.2})"
            );
        }
    }
    // One line per stretch of consecutive buckets: broken where nothing was recorded.
    for pair in drawn.windows(2) {
        let same_line = lines.iter().any(|line| {
            let starts: Vec<i64> = line["starts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|start| parse_time(start.as_str().unwrap()))
                .collect();
            starts.contains(&pair[0].0) && starts.contains(&pair[1].0)
        });
        let consecutive = pair[1].0 - pair[0].0 <= step * 3 / 2;
        assert_eq!(same_line, consecutive, "{range}: {pair:?}");
    }
    assert!(
        lines.len() >= 2,
        "{range}: the gap written breaks the line: {}",
        lines.len()
    );
    if range == "month" {
        assert_eq!(
            chart["bands"],
            json!(lines.len()),
            "{range}: the hours' lows and highs"
        );
    }
    // The caption's high and low are the range's, and the dot at "now" is the live total.
    let drawn_rows: Vec<&(i64, f64, f64, f64)> = truth
        .iter()
        .filter(|row| drawn.iter().any(|(start, _)| *start == row.0) && row.0 < settled)
        .collect();
    let caption_high: f64 = chart["caption"]["high"].as_str().unwrap().parse().unwrap();
    let caption_low: f64 = chart["caption"]["low"].as_str().unwrap().parse().unwrap();
    assert!(
        drawn_rows
            .iter()
            .all(|row| row.3 <= caption_high && row.2 >= caption_low),
        "{range}: caption {caption_low}..{caption_high}"
    );
    assert_eq!(chart["dot"], json!(live.to_string()), "{range}");
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
