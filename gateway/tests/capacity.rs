//! Capacity filtered by capability, through the gateway: devices registered with accelerators
//! and a country on both faces (the seed's route and the RPC), then `GET /api/v1/network/capacity`
//! (query parameters named as `get_capacity`'s arguments, lists comma-separated, the seed's
//! envelope) and the same questions asked of `/rpc/get_capacity` by GET and POST.

mod common;

use common::{eventually, token, Gateway};
use serde_json::{json, Value};
use std::time::Duration;

const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BEN: &str = "aaaaaaaa-0000-4000-8000-000000000002";

/// `memory_mib` of the 24 GB cards.
const GB24: i64 = 24576;

#[test]
fn capacity_through_the_gateway() {
    let cluster = common::cluster("gateway-capacity");
    let gateway = Gateway::start(cluster.port(), &[]);
    register_the_network(&gateway);
    // The unfiltered totals may come from the worker's snapshot, which trails by a moment.
    assert!(
        eventually(Duration::from_secs(10), || {
            capacity(&gateway, "")[0]["active_nodes"] == json!(3)
        }),
        "{:?}",
        capacity(&gateway, "")
    );
    type Scenario = fn(&Gateway);
    let scenarios: [(&str, Scenario); 5] = [
        ("filters", filters_answer_one_row_of_what_matches),
        ("grouping", grouping_answers_a_row_per_group_in_order),
        ("errors", bad_filters_are_400_naming_the_argument),
        ("rpc", the_rpc_answers_the_same_by_get_and_post),
        ("registration", bad_accelerators_are_refused_by_path),
    ];
    for (name, scenario) in scenarios {
        eprintln!("scenario: {name}");
        scenario(&gateway);
    }
}

/// Ann's server (2 RTX 4090, DE) and laptop (an M2 Max, FR) through the seed's route; Ben's
/// desktop (a 7900 XTX and an RTX 4090, no country) and phone (US, then stopped) through RPC.
fn register_the_network(gateway: &Gateway) {
    let ann = token(ANN);
    let server = register(
        gateway,
        &ann,
        json!({"device_name": "ann-server", "device_type": "server", "ram_gb": 64, "cpu_cores": 32,
               "storage_gb": 4000, "country_code": "de",
               "accelerators": [{"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090",
                                 "memory_mib": GB24, "count": 2}]}),
    );
    assert_eq!(
        (
            &server["country_code"],
            &server["region"],
            &server["subregion"]
        ),
        (&json!("DE"), &json!("Europe"), &json!("Western Europe")),
        "{server}"
    );
    assert_eq!(
        server["accelerators"],
        json!([{"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090",
                "model": "geforce-rtx-4090", "memory_mib": GB24, "count": 2}])
    );
    register(
        gateway,
        &ann,
        json!({"device_name": "ann-laptop", "device_type": "laptop", "ram_gb": 16, "cpu_cores": 8,
               "storage_gb": 512, "country_code": "FR",
               "accelerators": [{"vendor": "apple", "product_name": "Apple M2 Max", "memory_mib": 0,
                                 "count": 1}]}),
    );

    let ben = token(BEN);
    let desktop = json!({"device_name": "ben-desktop", "device_type": "desktop", "ram_gb": 32,
        "cpu_cores": 16, "storage_gb": 1000,
        "accelerators": [{"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090",
                          "memory_mib": GB24, "count": 1},
                         {"vendor": "amd", "product_name": "AMD Radeon RX 7900 XTX",
                          "memory_mib": GB24, "count": 1}]});
    let (status, row) = gateway.post("/rpc/register_device", Some(&ben), &desktop.to_string());
    assert_eq!(status, 200, "{row}");
    let models: Vec<&str> = row["accelerators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["radeon-rx-7900-xtx", "geforce-rtx-4090"], "{row}");
    assert_eq!(row["country_code"], Value::Null);
    let phone = json!({"device_name": "ben-phone", "device_type": "phone", "ram_gb": 8,
        "cpu_cores": 8, "storage_gb": 128, "country_code": "US"});
    let (status, row) = gateway.post("/rpc/register_device", Some(&ben), &phone.to_string());
    assert_eq!(status, 200, "{row}");
    let id = json!({"device_id": row["id"]}).to_string();
    let (status, row) = gateway.post("/rpc/deactivate_device", Some(&ben), &id);
    assert_eq!(status, 200, "{row}");
}

/// Registers through the seed's route: the device row.
fn register(gateway: &Gateway, token: &str, body: Value) -> Value {
    let (status, answer) = gateway.post(
        "/api/v1/network/devices/register",
        Some(token),
        &body.to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    answer["data"].clone()
}

/// The seed route's rows for this query string, asked without a token.
fn capacity(gateway: &Gateway, query: &str) -> Vec<Value> {
    let (status, answer) = gateway.get(&format!("/api/v1/network/capacity{query}"), None);
    assert_eq!(status, 200, "{query}: {answer}");
    assert_eq!(answer["success"], json!(true), "{answer}");
    answer["data"].as_array().unwrap().clone()
}

/// (group_key, active_nodes, total_gpus, total_gpu_memory_gb) of each row.
fn counts(rows: &[Value]) -> Vec<(Value, i64, i64, f64)> {
    rows.iter()
        .map(|row| {
            (
                row["group_key"].clone(),
                row["active_nodes"].as_i64().unwrap(),
                row["total_gpus"].as_i64().unwrap(),
                row["total_gpu_memory_gb"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn filters_answer_one_row_of_what_matches(gateway: &Gateway) {
    let null = Value::Null;
    for (query, nodes, gpus, memory_gb) in [
        ("", 3, 5, 96.0),
        ("?countries=DE,fr", 2, 3, 48.0),
        ("?regions=Western%20Europe", 2, 3, 48.0),
        ("?regions=Northern%20America", 0, 0, 0.0),
        ("?regions=Europe&device_types=laptop", 1, 1, 0.0),
        ("?gpu_vendors=nvidia", 2, 3, 72.0),
        ("?gpu_vendors=nvidia&min_gpus=2", 1, 2, 48.0),
        ("?gpu_vendors=amd,apple", 2, 2, 24.0),
        ("?gpu_models=GeForce%20RTX%204090", 2, 3, 72.0),
        ("?min_gpu_memory_mib=1024", 2, 4, 96.0),
        ("?min_ram_gb=32.5", 1, 2, 48.0),
        ("?min_cpu_cores=16&min_storage_gb=1000", 2, 4, 96.0),
        ("?min_gpus=0", 3, 5, 96.0),
        ("?device_types=phone", 0, 0, 0.0),
    ] {
        let rows = capacity(gateway, query);
        assert_eq!(
            counts(&rows),
            [(null.clone(), nodes, gpus, memory_gb)],
            "{query}: {rows:?}"
        );
    }
    let row = &capacity(gateway, "?device_types=server")[0];
    let totals: Vec<f64> = ["total_ram_gb", "total_cpu_cores", "total_storage_gb"]
        .iter()
        .map(|key| row[key].as_f64().unwrap())
        .collect();
    assert_eq!(totals, [64.0, 32.0, 4000.0], "{row}");
    assert!(row["total_compute_score"].as_f64().unwrap() > 0.0, "{row}");
    // Public, and the same with a token.
    let (status, signed_in) = gateway.get("/api/v1/network/capacity", Some(&token(ANN)));
    assert_eq!(
        (status, signed_in["data"].clone()),
        (200, json!(capacity(gateway, "")))
    );
}

fn grouping_answers_a_row_per_group_in_order(gateway: &Gateway) {
    let key = |text: &str| json!(text);
    for (query, expected) in [
        (
            "?group_by=device_type",
            vec![
                (key("desktop"), 1, 2, 48.0),
                (key("laptop"), 1, 1, 0.0),
                (key("server"), 1, 2, 48.0),
            ],
        ),
        (
            "?group_by=country",
            vec![
                (key("DE"), 1, 2, 48.0),
                (key("FR"), 1, 1, 0.0),
                (Value::Null, 1, 2, 48.0),
            ],
        ),
        (
            "?group_by=subregion&countries=DE,FR",
            vec![(key("Western Europe"), 2, 3, 48.0)],
        ),
        (
            "?group_by=gpu_model",
            vec![
                (key("geforce-rtx-4090"), 2, 3, 72.0),
                (key("m2-max"), 1, 1, 0.0),
                (key("radeon-rx-7900-xtx"), 1, 1, 24.0),
            ],
        ),
        (
            "?group_by=gpu_model&gpu_vendors=nvidia",
            vec![(key("geforce-rtx-4090"), 2, 3, 72.0)],
        ),
        ("?group_by=region&device_types=phone", vec![]),
    ] {
        assert_eq!(counts(&capacity(gateway, query)), expected, "{query}");
    }
}

fn bad_filters_are_400_naming_the_argument(gateway: &Gateway) {
    for (query, code, named) in [
        ("?countries=DE,XX", "22023", "countries"),
        ("?regions=Atlantis", "22023", "regions"),
        ("?device_types=toaster", "22023", "device_types"),
        ("?gpu_vendors=3dfx", "22023", "gpu_vendors"),
        ("?group_by=colour", "22023", "group_by"),
        ("?min_ram_gb=-1", "22003", "min_ram_gb"),
        ("?min_gpus=-1", "22003", "min_gpus"),
        ("?min_cpu_cores=abc", "22P02", "min_cpu_cores"),
        ("?colour=red", "PGRST100", "colour"),
        ("?countries=DE&countries=FR", "PGRST100", "countries"),
    ] {
        let (status, answer) = gateway.get(&format!("/api/v1/network/capacity{query}"), None);
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["success"], json!(false), "{answer}");
        assert_eq!(answer["error"]["code"], json!(code), "{query}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{query}: {message}");
    }
    let many = vec!["DE"; 101].join(",");
    let (status, answer) = gateway.get(&format!("/api/v1/network/capacity?countries={many}"), None);
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("22023")),
        "{answer}"
    );
}

fn the_rpc_answers_the_same_by_get_and_post(gateway: &Gateway) {
    let seed = json!(capacity(
        gateway,
        "?countries=DE,FR&gpu_vendors=nvidia,apple&group_by=country"
    ));
    let (status, by_get) = gateway.get(
        "/rpc/get_capacity?countries={DE,FR}&gpu_vendors={nvidia,apple}&group_by=country",
        None,
    );
    assert_eq!((status, &by_get), (200, &seed));
    let body = json!({"countries": ["DE", "FR"], "gpu_vendors": ["nvidia", "apple"],
                      "group_by": "country"});
    let (status, by_post) = gateway.post("/rpc/get_capacity", None, &body.to_string());
    assert_eq!((status, &by_post), (200, &seed));
    // Numbers as JSON numbers or as text, and the read grammar over the rows.
    let (status, rows) = gateway.post(
        "/rpc/get_capacity?select=group_key,active_nodes&active_nodes=gt.0",
        None,
        r#"{"min_ram_gb": 32.5, "group_by": "device_type"}"#,
    );
    assert_eq!(
        (status, rows),
        (200, json!([{"group_key": "server", "active_nodes": 1}]))
    );
    let (status, rows) = gateway.get(
        "/rpc/get_capacity?min_ram_gb=32.5&select=active_nodes",
        None,
    );
    assert_eq!((status, rows), (200, json!([{"active_nodes": 1}])));
    // The extension's errors in PostgREST's body.
    let (status, error) = gateway.post("/rpc/get_capacity", None, r#"{"countries": ["XX"]}"#);
    assert_eq!((status, &error["code"]), (400, &json!("22023")), "{error}");
}

fn bad_accelerators_are_refused_by_path(gateway: &Gateway) {
    let ann = token(ANN);
    let body = |accelerators: Value, country: Value| {
        json!({"device_name": "ann-refused", "device_type": "desktop", "ram_gb": 8, "cpu_cores": 4,
               "storage_gb": 100, "accelerators": accelerators, "country_code": country})
        .to_string()
    };
    let good = json!([{"vendor": "intel", "product_name": "Intel Arc A770", "memory_mib": 16384,
                       "count": 1}]);
    for (accelerators, country, code, starts) in [
        (
            json!([good[0], {"vendor": "3dfx", "product_name": "Voodoo", "memory_mib": 4, "count": 1}]),
            json!("DE"),
            "22023",
            "accelerators[1].vendor",
        ),
        (
            json!([{"vendor": "intel", "product_name": "Intel Arc A770", "memory_mib": 16384,
                    "count": 0}]),
            json!(null),
            "22003",
            "accelerators[0].count",
        ),
        (
            json!({"vendor": "intel"}),
            json!(null),
            "22023",
            "accelerators",
        ),
        (good.clone(), json!("XX"), "22023", "country_code"),
    ] {
        let (status, answer) = gateway.post(
            "/api/v1/network/devices/register",
            Some(&ann),
            &body(accelerators.clone(), country.clone()),
        );
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], json!(code), "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts), "{message}");
        let (status, answer) = gateway.post(
            "/rpc/register_device",
            Some(&ann),
            &body(accelerators, country),
        );
        assert_eq!((status, &answer["code"]), (400, &json!(code)), "{answer}");
    }
    // Nothing was registered.
    let (_, devices) = gateway.get("/api/v1/network/devices", Some(&ann));
    let names: Vec<&str> = devices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| device["device_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"ann-refused"), "{names:?}");
}
