//! The gateway end to end: the real binary in front of a real PostgreSQL with the extension.
//! Every route as owner, as another user and anonymously; every token failure; a `sub` the
//! extension refuses, refused alike on every route; bad bodies; numbers passed exactly;
//! coalesced heartbeats; health, metrics (with bounded labels) and CORS.

mod common;

use common::{token, token_with, token_with_payload, Gateway, ALICE, BOB};
use compute_devices_test_support::ClusterPort;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

static PORT: ClusterPort = ClusterPort::new();

/// One cluster and one gateway for every scenario, run in turn: the processes are this
/// test's own and stop with it.
#[test]
fn the_gateway_end_to_end() {
    let cluster = common::cluster("gateway-e2e");
    PORT.set(&cluster);
    let gateway = Gateway::start(PORT.get(), &[]);
    type Scenario = fn(&Gateway);
    let scenarios: [(&str, Scenario); 14] = [
        (
            "stats",
            stats_are_public_with_the_seeds_envelope_and_cache_control,
        ),
        (
            "owner",
            an_owner_registers_lists_beats_and_deactivates_through_the_seeds_routes,
        ),
        ("other user", another_user_gets_404_and_changes_nothing),
        (
            "anonymous",
            anonymous_callers_get_401_from_every_protected_route,
        ),
        ("tokens", every_token_failure_is_a_401_that_changes_nothing),
        (
            "claims grammar",
            a_sub_the_extension_refuses_is_refused_alike_on_every_route,
        ),
        ("jwks", es256_and_rs256_tokens_verify_with_the_jwks_file),
        ("bodies", bad_bodies_get_4xx_and_change_nothing),
        ("numbers", numbers_reach_the_database_as_written),
        (
            "coalescing",
            coalesced_heartbeats_answer_each_device_on_its_own,
        ),
        ("rpc", rpc_speaks_postgrest),
        ("page", the_network_page_and_its_assets_are_served),
        ("service", health_metrics_and_cors),
        (
            "metrics labels",
            metrics_labels_stay_bounded_whatever_callers_send,
        ),
    ];
    for (name, scenario) in scenarios {
        eprintln!("scenario: {name}");
        scenario(&gateway);
    }
}

/// Every device row, as text: to show that a refused request changed nothing.
fn table() -> String {
    let rows = common::superuser(PORT.get())
        .query("SELECT d::text FROM compute_devices AS d ORDER BY id", &[])
        .unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

fn user(n: u32) -> String {
    format!("{n:08}-0000-4000-8000-000000000000")
}

/// The error code of either face's error body: PostgREST's, or the seed's envelope.
fn code_of(answer: &Value) -> Value {
    answer
        .get("code")
        .or_else(|| answer["error"].get("code"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn stats_are_public_with_the_seeds_envelope_and_cache_control(gateway: &Gateway) {
    let user = user(1);
    gateway.register(&token(&user), "stats laptop");
    let response = gateway
        .http
        .get(format!("{}/api/v1/network/stats", gateway.url))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=1"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().unwrap();
    assert_eq!(body["success"], json!(true));
    for field in [
        "active_nodes",
        "total_ram_gb",
        "total_cpu_cores",
        "total_storage_gb",
        "total_compute_score",
    ] {
        assert!(body["data"][field].is_number(), "{field} in {body}");
    }
    assert!(body["data"]["active_nodes"].as_i64().unwrap() >= 1);

    // The same function over RPC, by GET and POST, gives PostgREST's bare object.
    let (status, by_get) = gateway.get("/rpc/get_network_stats", None);
    assert_eq!(status, 200);
    assert!(by_get["active_nodes"].is_number(), "{by_get}");
    let (status, by_post) = gateway.post("/rpc/get_network_stats", None, "");
    assert_eq!(status, 200);
    assert!(by_post["total_compute_score"].is_number(), "{by_post}");

    // By type: one entry per type, adding up to the totals, on both faces.
    let (status, by_type) = gateway.get("/api/v1/network/stats/by-type", None);
    assert_eq!(status, 200, "{by_type}");
    let (_, rpc_by_type) = gateway.get("/rpc/get_network_stats_by_type", None);
    assert_eq!(by_type["data"], rpc_by_type);
    let rows = rpc_by_type.as_array().unwrap();
    let types: Vec<&str> = rows
        .iter()
        .map(|row| row["device_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["phone", "laptop", "desktop", "server"]);
    let sum: i64 = rows
        .iter()
        .map(|row| row["active_nodes"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, by_get["active_nodes"].as_i64().unwrap());
    assert!(
        rows[1]["active_nodes"].as_i64().unwrap() >= 1,
        "{rpc_by_type}"
    );
}

fn the_network_page_and_its_assets_are_served(gateway: &Gateway) {
    for (path, content_type, needle) in [
        ("/", "text/html", "data-stat=\"active_nodes\""),
        (
            "/network.js",
            "text/javascript",
            "api/v1/network/stats/by-type",
        ),
        ("/network.css", "text/css", ".tiles"),
    ] {
        let response = gateway
            .http
            .get(format!("{}{path}", gateway.url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert!(response.text().unwrap().contains(needle), "{path}");
    }
}

fn an_owner_registers_lists_beats_and_deactivates_through_the_seeds_routes(gateway: &Gateway) {
    let alice = token(&user(2));
    let id = gateway.register(&alice, "owner laptop");

    let (status, devices) = gateway.get("/api/v1/network/devices", Some(&alice));
    assert_eq!(status, 200, "{devices}");
    assert_eq!(devices["success"], json!(true));
    let listed = devices["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["compute_score"], json!(97.60));

    let path = format!("/api/v1/network/devices/{id}/heartbeat");
    let (status, beat) = gateway.post(&path, Some(&alice), "");
    assert_eq!(status, 200, "{beat}");
    assert_eq!(beat["data"]["device_id"], json!(id));
    assert_eq!(beat["data"]["is_active"], json!(true));
    assert_eq!(beat["data"]["next_heartbeat_in_seconds"], json!(90));

    let (status, stopped) = gateway.post(
        &format!("/api/v1/network/devices/{id}/deactivate"),
        Some(&alice),
        "",
    );
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["data"]["is_active"], json!(false));
    assert!(stopped["data"]["deactivated_at"].is_string());

    let (status, refused) = gateway.post(&path, Some(&alice), "");
    assert_eq!(status, 404);
    assert_eq!(
        refused,
        json!({"success": false, "error": {"code": "42P01", "message": "device is stopped: its owner deactivated it"}})
    );
}

fn another_user_gets_404_and_changes_nothing(gateway: &Gateway) {
    let owner = token(&user(3));
    let id = gateway.register(&owner, "not yours");
    let intruder = token(&user(4));
    let before = table();
    for action in ["heartbeat", "deactivate"] {
        let (status, answer) = gateway.post(
            &format!("/api/v1/network/devices/{id}/{action}"),
            Some(&intruder),
            "",
        );
        assert_eq!(status, 404, "{action}: {answer}");
        assert_eq!(answer["error"]["code"], json!("42P01"));
        let (status, _) = gateway.post(
            &format!(
                "/rpc/{}",
                if action == "heartbeat" {
                    "send_heartbeat"
                } else {
                    "deactivate_device"
                }
            ),
            Some(&intruder),
            &json!({"device_id": id}).to_string(),
        );
        assert_eq!(status, 404, "{action} over rpc");
    }
    let (status, devices) = gateway.get("/api/v1/network/devices", Some(&intruder));
    assert_eq!(status, 200);
    assert_eq!(devices["data"], json!([]));
    assert_eq!(table(), before);
}

fn anonymous_callers_get_401_from_every_protected_route(gateway: &Gateway) {
    let id = gateway.register(&token(&user(5)), "anon target");
    let before = table();
    let register = json!({"device_name": "anon", "device_type": "phone", "ram_gb": 4, "cpu_cores": 4, "storage_gb": 64}).to_string();
    let seed_routes = [
        (
            "POST",
            "/api/v1/network/devices/register".to_string(),
            register.clone(),
        ),
        (
            "POST",
            format!("/api/v1/network/devices/{id}/heartbeat"),
            String::new(),
        ),
        (
            "POST",
            format!("/api/v1/network/devices/{id}/deactivate"),
            String::new(),
        ),
        ("GET", "/api/v1/network/devices".to_string(), String::new()),
    ];
    for (method, path, body) in seed_routes {
        let (status, answer) = if method == "GET" {
            gateway.get(&path, None)
        } else {
            gateway.post(&path, None, &body)
        };
        assert_eq!(status, 401, "{path}: {answer}");
        assert_eq!(answer["success"], json!(false));
    }
    // Over RPC the anon role reaches the database, which refuses it: 42501, 401 without a token.
    for (function, body) in [
        ("register_device", register),
        ("send_heartbeat", json!({"device_id": id}).to_string()),
        ("deactivate_device", json!({"device_id": id}).to_string()),
        ("get_user_devices", String::new()),
        (
            "send_heartbeats",
            json!({"user_ids": [ALICE], "device_ids": [id]}).to_string(),
        ),
    ] {
        let (status, answer) = gateway.post(&format!("/rpc/{function}"), None, &body);
        assert_eq!(status, 401, "{function}: {answer}");
        assert_eq!(answer["code"], json!("42501"), "{function}");
        assert!(answer.get("details").is_some() && answer.get("hint").is_some());
    }
    assert_eq!(table(), before);
}

fn every_token_failure_is_a_401_that_changes_nothing(gateway: &Gateway) {
    let sub = user(6);
    let id = gateway.register(&token(&sub), "token target");
    let claims = |extra: Value| {
        let mut claims = json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": common::expires_in(3600)});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let good = token(&sub);
    let mut bad_signature = good.clone();
    bad_signature.truncate(good.len() - 4);
    bad_signature.push_str("AAAA");
    let signed = |extra: Value| token_with(Algorithm::HS256, claims(extra));
    let good_claims = claims(json!({})).to_string();
    let failures = [
        (
            "expired",
            signed(json!({"exp": common::expires_in(-10)})),
            "JWT expired",
            "PGRST301",
        ),
        // jsonwebtoken skips an exp it cannot read as an unsigned number.
        (
            "negative exp",
            signed(json!({"exp": -1})),
            "JWT expired",
            "PGRST301",
        ),
        (
            "not yet valid",
            signed(json!({"nbf": common::expires_in(600)})),
            "JWT not yet valid",
            "PGRST301",
        ),
        ("bad signature", bad_signature, "signature", "PGRST301"),
        (
            "wrong audience",
            signed(json!({"aud": "someone-else"})),
            "audience",
            "PGRST301",
        ),
        // Claims of the wrong JSON type, which jsonwebtoken would skip, as PostgREST refuses them.
        (
            "exp a string",
            signed(json!({"exp": "soon"})),
            "The JWT 'exp' claim must be a number",
            "PGRST301",
        ),
        (
            "exp null",
            signed(json!({"exp": null})),
            "The JWT 'exp' claim must be a number",
            "PGRST301",
        ),
        (
            "nbf a boolean",
            signed(json!({"nbf": true})),
            "The JWT 'nbf' claim must be a number",
            "PGRST301",
        ),
        (
            "aud a number",
            signed(json!({"aud": 5})),
            "The JWT 'aud' claim must be a string or an array of strings",
            "PGRST301",
        ),
        (
            "aud an array with a number",
            signed(json!({"aud": ["authenticated", 5]})),
            "The JWT 'aud' claim must be a string or an array of strings",
            "PGRST301",
        ),
        (
            "aud an array of objects",
            signed(json!({"aud": [{"name": "authenticated"}]})),
            "The JWT 'aud' claim must be a string or an array of strings",
            "PGRST301",
        ),
        // Claims that are not one JSON object naming each key once.
        (
            "role named twice",
            token_with_payload(&good_claims.replacen('{', "{\"role\":\"service_role\",", 1)),
            "Parsing claims failed",
            "PGRST301",
        ),
        (
            "a key named twice in a nested object",
            token_with_payload(&good_claims.replacen('{', "{\"app\":{\"k\":1,\"k\":2},", 1)),
            "Parsing claims failed",
            "PGRST301",
        ),
        (
            "claims an array",
            token_with_payload(&format!("[{good_claims}]")),
            "Parsing claims failed",
            "PGRST301",
        ),
        (
            "algorithm not configured",
            token_with(Algorithm::HS512, claims(json!({}))),
            "not configured",
            "PGRST301",
        ),
        (
            "malformed",
            "not.a.token".to_string(),
            "malformed",
            "PGRST301",
        ),
        (
            "not even three parts",
            "garbage".to_string(),
            "malformed",
            "PGRST301",
        ),
    ];
    let before = table();
    for (failure, bad, says, code) in failures {
        let (status, answer) = gateway.post(
            &format!("/api/v1/network/devices/{id}/deactivate"),
            Some(&bad),
            "",
        );
        assert_eq!(status, 401, "{failure}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{failure}: {message}");
        assert_eq!(code_of(&answer), json!(code), "{failure}");
        let (status, answer) = gateway.post(
            "/rpc/deactivate_device",
            Some(&bad),
            &json!({"device_id": id}).to_string(),
        );
        assert_eq!(status, 401, "{failure} over rpc: {answer}");
        assert_eq!(code_of(&answer), json!(code), "{failure} over rpc");
        // Even the public route refuses a bad token rather than treating it as anonymous.
        let (status, _) = gateway.get("/api/v1/network/stats", Some(&bad));
        assert_eq!(status, 401, "{failure} on stats");
    }
    assert_eq!(table(), before);
}

fn es256_and_rs256_tokens_verify_with_the_jwks_file(gateway: &Gateway) {
    for (n, algorithm) in [(7, Algorithm::ES256), (8, Algorithm::RS256)] {
        let signed = token_with(
            algorithm,
            json!({"sub": user(n), "role": "authenticated", "aud": "authenticated", "exp": common::expires_in(600)}),
        );
        gateway.register(&signed, "asymmetric");
        let (status, devices) = gateway.get("/api/v1/network/devices", Some(&signed));
        assert_eq!(status, 200, "{algorithm:?}: {devices}");
        assert_eq!(devices["data"][0]["user_id"], json!(user(n)));
    }
}

fn bad_bodies_get_4xx_and_change_nothing(gateway: &Gateway) {
    let alice = token(ALICE);
    let id = gateway.register(&alice, "body target");
    let before = table();
    let device = |overrides: Value| {
        let mut body = json!({"device_name": "body target", "device_type": "laptop", "ram_gb": 16, "cpu_cores": 8, "storage_gb": 512});
        body.as_object_mut()
            .unwrap()
            .extend(overrides.as_object().unwrap().clone());
        body.to_string()
    };
    let cases = [
        (
            "/rpc/register_device",
            "{\"device_name\": ".to_string(),
            400,
            "PGRST102",
        ),
        (
            "/rpc/register_device",
            "[1, 2]".to_string(),
            400,
            "PGRST102",
        ),
        (
            "/rpc/register_device",
            device(json!({"ram_gb": "lots"})),
            400,
            "22P02",
        ),
        (
            "/rpc/register_device",
            device(json!({"cpu_cores": 1.5})),
            400,
            "22P02",
        ),
        (
            "/rpc/register_device",
            device(json!({"device_type": "toaster"})),
            400,
            "22023",
        ),
        (
            "/rpc/register_device",
            device(json!({"cpu_cores": null})),
            400,
            "22004",
        ),
        (
            "/rpc/register_device",
            device(json!({"color": "red"})),
            404,
            "PGRST202",
        ),
        (
            "/rpc/register_device",
            format!("{{\"device_name\": \"{}\"}}", "x".repeat(70_000)),
            413,
            "PGRST102",
        ),
        (
            "/rpc/send_heartbeat",
            json!({"device_id": "not-a-uuid"}).to_string(),
            400,
            "22P02",
        ),
        ("/rpc/drop_everything", "{}".to_string(), 404, "PGRST202"),
        (
            "/api/v1/network/devices/register",
            "{oops".to_string(),
            400,
            "PGRST102",
        ),
        (
            "/api/v1/network/devices/register",
            device(json!({"ram_gb": -1})),
            400,
            "22003",
        ),
        (
            "/api/v1/network/devices/not-a-uuid/heartbeat",
            String::new(),
            400,
            "22P02",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, answer) = gateway.post(path, Some(&alice), &body);
        assert_eq!(
            got,
            status,
            "{path} {}: {answer}",
            &body[..body.len().min(80)]
        );
        assert_eq!(code_of(&answer), json!(code), "{path}: {answer}");
    }
    // A VOLATILE function cannot be called with GET: 405 before it runs.
    let (status, answer) = gateway.get(
        "/rpc/register_device?device_name=x&device_type=laptop&ram_gb=1&cpu_cores=1&storage_gb=1",
        Some(&alice),
    );
    assert_eq!(
        (status, code_of(&answer)),
        (405, json!("25006")),
        "{answer}"
    );
    let (status, answer) =
        gateway.get(&format!("/rpc/send_heartbeat?device_id={id}"), Some(&alice));
    assert_eq!(
        (status, code_of(&answer)),
        (405, json!("25006")),
        "{answer}"
    );
    assert_eq!(table(), before);
}

fn coalesced_heartbeats_answer_each_device_on_its_own(gateway: &Gateway) {
    let owners: Vec<String> = (100..110).map(user).collect();
    let devices: Vec<(String, String)> = owners
        .iter()
        .map(|owner| (token(owner), gateway.register(&token(owner), "coalesced")))
        .collect();
    let before = gateway.heartbeat_batches();
    // Each owner beats its own device, and also someone else's and an unknown one, all at once.
    let answers: Vec<(u16, u16, u16)> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(i, (owner, id))| {
                let (_, neighbour) = &devices[(i + 1) % devices.len()];
                scope.spawn(move || {
                    let beat = |device: &str| {
                        let path = format!("/api/v1/network/devices/{device}/heartbeat");
                        gateway.post(&path, Some(owner), "").0
                    };
                    (
                        beat(id),
                        beat(neighbour),
                        beat("99999999-9999-4999-8999-999999999999"),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    assert!(
        answers.iter().all(|answer| *answer == (200, 404, 404)),
        "{answers:?}"
    );
    let (count, entries) = gateway.heartbeat_batches();
    assert_eq!(
        entries - before.1,
        30.0,
        "every heartbeat went through the batcher"
    );
    assert!(
        count - before.0 < 30.0,
        "some heartbeats shared a call: {} calls",
        count - before.0
    );
}

fn rpc_speaks_postgrest(gateway: &Gateway) {
    let bob = token(BOB);
    let (status, device) = gateway.post(
        "/rest/v1/rpc/register_device",
        Some(&bob),
        &json!({"device_name": "rpc", "device_type": "server", "ram_gb": 64, "cpu_cores": 32, "storage_gb": 1000}).to_string(),
    );
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["compute_score"], json!(338.00));
    let (status, list) = gateway.get("/rpc/get_user_devices", Some(&bob));
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, beat) = gateway.post(
        "/rpc/send_heartbeat",
        Some(&bob),
        &json!({"device_id": device["id"]}).to_string(),
    );
    assert_eq!(status, 200, "{beat}");
    assert_eq!(beat["device_id"], device["id"]);
    // A trusted server's own batch, with its service-role token.
    let service = token_with(
        Algorithm::HS256,
        json!({"role": "service_role", "exp": common::expires_in(60)}),
    );
    let (status, batch) = gateway.post(
        "/rpc/send_heartbeats",
        Some(&service),
        &json!({"user_ids": [BOB, ALICE], "device_ids": [device["id"], device["id"]]}).to_string(),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch[0]["error_code"], Value::Null);
    assert_eq!(batch[1]["error_code"], json!("42P01"));
}

fn health_metrics_and_cors(gateway: &Gateway) {
    assert_eq!(gateway.get("/healthz", None).0, 200);
    assert_eq!(gateway.get("/readyz", None).0, 200);
    let metrics = gateway.metrics();
    assert!(
        metrics.contains("http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("gateway_db_pool_connections"));
    let preflight = gateway
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/rpc/register_device", gateway.url),
        )
        .header("origin", "https://dashboard.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, apikey, x-client-info",
        )
        .send()
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let (status, answer) = gateway.get("/no/such/route", None);
    assert_eq!(status, 404, "{answer}");
}

/// The extension reads `sub` only in the uuid's canonical form; the gateway reads it in the same
/// grammar, so a heartbeat (which the gateway batches under the token's `sub`) is refused
/// exactly as every other route refuses the same token. A device id is batched only in
/// canonical form too; any other goes the direct way and gets the database's own answer.
fn a_sub_the_extension_refuses_is_refused_alike_on_every_route(gateway: &Gateway) {
    let owner = user(200);
    let id = gateway.register(&token(&owner), "claims grammar");
    let payload = |sub: Value| {
        json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": common::expires_in(600)})
            .to_string()
    };
    let routes = |bearer: &str| -> Vec<(String, u16, Value)> {
        let device = json!({"device_id": id}).to_string();
        let register = json!({"device_name": "claims grammar", "device_type": "laptop", "ram_gb": 16, "cpu_cores": 8, "storage_gb": 512}).to_string();
        [
            (
                "POST",
                format!("/api/v1/network/devices/{id}/heartbeat"),
                "",
            ),
            ("POST", "/rpc/send_heartbeat".to_string(), device.as_str()),
            (
                "POST",
                "/api/v1/network/devices/register".to_string(),
                register.as_str(),
            ),
            (
                "POST",
                "/rpc/register_device".to_string(),
                register.as_str(),
            ),
            ("GET", "/api/v1/network/devices".to_string(), ""),
            ("GET", "/rpc/get_user_devices".to_string(), ""),
        ]
        .into_iter()
        .map(|(method, path, body)| {
            let (status, answer) = if method == "GET" {
                gateway.get(&path, Some(bearer))
            } else {
                gateway.post(&path, Some(bearer), body)
            };
            (path, status, code_of(&answer))
        })
        .collect()
    };

    // The canonical form in upper case is the same owner everywhere, and the heartbeat is batched.
    let upper = token_with_payload(&payload(json!(owner.to_uppercase())));
    let batches = gateway.heartbeat_batches();
    for (path, status, code) in routes(&upper) {
        assert_eq!(status, 200, "upper-case sub on {path}: {code}");
    }
    assert_eq!(
        gateway.heartbeat_batches().1 - batches.1,
        2.0,
        "both heartbeats of the upper-case sub were batched"
    );

    let simple = owner.replace('-', "");
    let refused_by_the_extension = [
        ("without dashes", payload(json!(simple))),
        ("in braces", payload(json!(format!("{{{owner}}}")))),
        ("as urn:uuid:", payload(json!(format!("urn:uuid:{owner}")))),
        ("with a space", payload(json!(format!(" {owner}")))),
        ("a number", payload(json!(42))),
        ("null", payload(Value::Null)),
        ("missing", json!({"role": "authenticated"}).to_string()),
    ];
    let before = table();
    for (form, claims) in refused_by_the_extension {
        for (path, status, code) in routes(&token_with_payload(&claims)) {
            assert_eq!(
                (status, code),
                (403, json!("42501")),
                "sub {form} on {path}"
            );
        }
    }
    // Refused by the gateway itself, on every route alike: a sub named twice, even with one
    // value; and a sub that is an array or an object, which jsonwebtoken cannot parse its way
    // past (it reads `sub` as a string and stops at the bracket).
    let twice = payload(json!(owner)).replacen('{', &format!("{{\"sub\":\"{owner}\","), 1);
    for (form, claims) in [
        ("named twice", twice),
        ("an array", payload(json!([owner]))),
        ("an object", payload(json!({ "id": owner }))),
    ] {
        for (path, status, code) in routes(&token_with_payload(&claims)) {
            assert_eq!(
                (status, code),
                (401, json!("PGRST301")),
                "sub {form} on {path}"
            );
        }
    }
    assert_eq!(table(), before);

    // Device ids: a canonical one in upper case is batched; braces go direct and PostgreSQL
    // reads them; urn:uuid: is not PostgreSQL's uuid syntax, on the heartbeat as elsewhere.
    let owner_token = token(&owner);
    let beat = |device: &str| {
        let path = format!("/api/v1/network/devices/{device}/heartbeat");
        let (status, answer) = gateway.post(&path, Some(&owner_token), "");
        (status, code_of(&answer))
    };
    let batches = gateway.heartbeat_batches();
    assert_eq!(beat(&id.to_uppercase()), (200, Value::Null));
    assert_eq!(gateway.heartbeat_batches().1 - batches.1, 1.0);
    assert_eq!(beat(&format!("{{{id}}}")), (200, Value::Null));
    assert_eq!(beat(&id.replace('-', "")), (200, Value::Null));
    let urn = format!("urn:uuid:{id}");
    assert_eq!(beat(&urn), (400, json!("22P02")));
    let (status, answer) = gateway.post(
        &format!("/api/v1/network/devices/{urn}/deactivate"),
        Some(&owner_token),
        "",
    );
    assert_eq!((status, code_of(&answer)), (400, json!("22P02")));
    assert_eq!(
        gateway.heartbeat_batches().1 - batches.1,
        1.0,
        "only the canonical id was batched"
    );
}

/// A JSON number reaches the database as its text, never through a float: the database alone
/// decides whether it fits, on the seed's route and over /rpc alike.
fn numbers_reach_the_database_as_written(gateway: &Gateway) {
    let owner = token(&user(300));
    let body = |name: &str, ram_gb: &str, storage_gb: &str| {
        format!(
            r#"{{"device_name": "{name}", "device_type": "server", "ram_gb": {ram_gb}, "cpu_cores": 8, "storage_gb": {storage_gb}}}"#
        )
    };
    // The stored values, without trailing zeros (whether the extension keeps a scale or not).
    let stored = |name: &str| -> (String, String) {
        let row = common::superuser(PORT.get())
            .query_one(
                "SELECT trim_scale(ram_gb)::text, trim_scale(storage_gb)::text \
                 FROM compute_devices WHERE device_name = $1",
                &[&name],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    for (path, name) in [
        ("/api/v1/network/devices/register", "exact seed"),
        ("/rpc/register_device", "exact rpc"),
    ] {
        let (status, answer) =
            gateway.post(path, Some(&owner), &body(name, "16.0", "9999999.999999999"));
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(
            stored(name),
            ("16".to_string(), "9999999.999999999".to_string()),
            "{path}"
        );
    }
    // Read back through the gateway too: PostgreSQL's own text of the stored numbers.
    let response = gateway
        .http
        .get(format!("{}/rpc/get_user_devices", gateway.url))
        .bearer_auth(&owner)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        response.matches("\"storage_gb\":9999999.999999999").count(),
        2,
        "{response}"
    );

    let before = table();
    for path in ["/api/v1/network/devices/register", "/rpc/register_device"] {
        for (ram_gb, storage_gb) in [
            ("65536.0000000001", "512"),
            ("16", "10000000.000000001"),
            ("65536.00000000000000000001", "512"),
        ] {
            let (status, answer) =
                gateway.post(path, Some(&owner), &body("just over", ram_gb, storage_gb));
            assert_eq!(
                (status, code_of(&answer)),
                (400, json!("22003")),
                "{path} ram_gb {ram_gb} storage_gb {storage_gb}: {answer}"
            );
        }
    }
    assert_eq!(table(), before);
    // The bound itself is in.
    let (status, answer) = gateway.post(
        "/rpc/register_device",
        Some(&owner),
        &body("at the bound", "65536.000", "10000000"),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        stored("at the bound"),
        ("65536".to_string(), "10000000".to_string())
    );
}

/// Every metrics label comes from a bounded set: invented methods share one label, unknown paths
/// share "unmatched", ids in paths are their route's pattern.
fn metrics_labels_stay_bounded_whatever_callers_send(gateway: &Gateway) {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new();
    let send_invented = |count: u64| {
        for n in 0..count {
            let word = random.hash_one(n);
            let method = reqwest::Method::from_bytes(format!("X{word:X}").as_bytes()).unwrap();
            for path in [
                format!("/{word:x}"),
                format!("/{word:x}/{n}?q={word}"),
                format!("/rpc/f{word:x}"),
                format!("/api/v1/network/devices/{word:x}/heartbeat"),
            ] {
                let (status, _) = gateway.send(method.clone(), &path, None, None);
                assert!(matches!(status, 404 | 405), "{method} {path}: {status}");
                if n % 2 == 0 {
                    let (status, _) = gateway.get(&path, None);
                    assert!(status >= 400, "GET {path}: {status}");
                }
            }
        }
    };
    let series = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' ').map(|(name, _)| name.to_string()))
            .collect()
    };
    // Each kind of request once, so that its series exist; then 300 more of them.
    send_invented(2);
    let before = gateway.metrics();
    send_invented(300);
    let after = gateway.metrics();
    let new: Vec<String> = series(&after)
        .difference(&series(&before))
        .cloned()
        .collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert!(
        after.len() < before.len() + 2048,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(after.contains("route=\"unmatched\""), "{after}");
}
