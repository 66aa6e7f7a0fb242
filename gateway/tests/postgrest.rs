//! The gateway as PostgREST, end to end against a real PostgreSQL: the schema cache read from
//! the catalog (the seed routes checked against it; a function added to the extension served
//! with no gateway change; nothing outside the extension; reloads on an unknown name and on
//! SIGHUP), the extension's table and view (an unknown relation is 42P01, as in PostgREST v12), PostgREST's status rules (401 for the anon role,
//! WWW-Authenticate, profiles), Content-Range, and a singular request's rollback.

mod common;

use common::{token, token_with, Gateway, ALICE, BOB};
use jsonwebtoken::Algorithm;
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn the_gateway_speaks_postgrest_from_the_catalog() {
    let cluster = common::cluster("gateway-postgrest");
    let port = cluster.port();
    let gateway = Gateway::start(port, &[]);
    type Scenario = fn(&Gateway, u16);
    let scenarios: [(&str, Scenario); 8] = [
        ("seed routes", the_seed_routes_name_what_the_catalog_has),
        ("status rules", statuses_follow_postgrests_rules),
        ("profiles", only_the_extensions_schema_is_served),
        (
            "relations",
            the_extensions_table_and_view_are_read_under_rls,
        ),
        ("schema cache", functions_added_to_the_extension_are_served),
        ("singular", a_singular_call_that_fails_its_check_rolls_back),
        (
            "shared totals",
            shared_totals_are_only_for_roles_granted_them,
        ),
        (
            "prepared statements",
            shaped_statements_are_not_kept_prepared,
        ),
    ];
    for (name, scenario) in scenarios {
        eprintln!("scenario: {name}");
        scenario(&gateway, port);
    }
}

/// (status, headers, body text) of a request built on the gateway's client.
fn send(request: RequestBuilder) -> (u16, reqwest::header::HeaderMap, String) {
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |value| value.to_str().unwrap())
}

/// The library's own loader reads the catalog, and the seed's route table passes its check
/// there; with a function or an argument gone, the check fails.
fn the_seed_routes_name_what_the_catalog_has(_: &Gateway, port: u16) {
    let cache = common::schema_cache(port);
    assert_eq!(cache.schema, "public");
    compute_gateway::http::seed_routes::check(&cache).unwrap();
    // Functions outside the API are in the cache (their grants decide), trigger functions not.
    assert!(cache.functions.contains_key("send_heartbeats"));
    assert!(!cache.functions.contains_key("derive_device_columns"));
    assert!(cache.relations.contains_key("compute_devices"));

    let mut without = cache.clone();
    without.functions.remove("deactivate_device");
    let error = compute_gateway::http::seed_routes::check(&without).unwrap_err();
    assert!(error.contains("deactivate_device"), "{error}");
    let mut renamed = cache.clone();
    renamed.functions.get_mut("send_heartbeat").unwrap().args[0].name = "id".to_string();
    let error = compute_gateway::http::seed_routes::check(&renamed).unwrap_err();
    assert!(error.contains("device_id"), "{error}");
}

fn statuses_follow_postgrests_rules(gateway: &Gateway, _: u16) {
    let register = json!({"device_name": "anon key", "device_type": "phone", "ram_gb": 4, "cpu_cores": 4, "storage_gb": 64}).to_string();
    // Supabase's anon key is a token whose role is anon: 401, as without a token.
    let anon_key = token_with(
        Algorithm::HS256,
        json!({"role": "anon", "exp": common::expires_in(600)}),
    );
    for bearer in [Some(anon_key.as_str()), None] {
        let mut request = gateway
            .http
            .post(format!("{}/rpc/register_device", gateway.url))
            .header("content-type", "application/json")
            .body(register.clone());
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let (status, headers, body) = send(request);
        assert_eq!(status, 401, "{body}");
        assert_eq!(json_of(&body)["code"], json!("42501"));
        assert_eq!(header(&headers, "www-authenticate"), "Bearer");
    }
    // Another role without the grant: 403, no challenge.
    let (status, headers, body) = send(
        gateway
            .http
            .post(format!("{}/rpc/send_heartbeats", gateway.url))
            .bearer_auth(token(ALICE))
            .header("content-type", "application/json")
            .body(json!({"user_ids": [ALICE], "device_ids": [ALICE]}).to_string()),
    );
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (403, json!("42501")),
        "{body}"
    );
    assert!(headers.get("www-authenticate").is_none());
    // A refused token says why, on both faces.
    let expired = token_with(
        Algorithm::HS256,
        json!({"sub": ALICE, "role": "authenticated", "exp": common::expires_in(-60)}),
    );
    // Checked before anything else: an unknown function or table too.
    for path in [
        "/rpc/get_user_devices",
        "/api/v1/network/devices",
        "/rpc/zzz",
        "/nothing_here",
    ] {
        let (status, headers, _) = send(
            gateway
                .http
                .get(format!("{}{path}", gateway.url))
                .bearer_auth(&expired),
        );
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            header(&headers, "www-authenticate"),
            "Bearer error=\"invalid_token\", error_description=\"JWT expired\"",
            "{path}"
        );
    }
    // The seed's protected routes without a token: 401 with the bare challenge.
    let (status, headers, body) = send(
        gateway
            .http
            .get(format!("{}/api/v1/network/devices", gateway.url)),
    );
    assert_eq!(status, 401);
    assert_eq!(json_of(&body)["success"], json!(false));
    assert_eq!(header(&headers, "www-authenticate"), "Bearer");
    // Content-Range on every read; the public totals by type are collapsed and cacheable.
    let (status, headers, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/get_network_stats_by_type", gateway.url)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "content-range"), "0-3/*");
    assert_eq!(header(&headers, "cache-control"), "public, max-age=1");
    let (_, headers, _) = send(
        gateway
            .http
            .get(format!("{}/rpc/get_network_stats", gateway.url)),
    );
    assert_eq!(header(&headers, "content-range"), "0-0/*");
    // HEAD: the headers without the body.
    let (status, headers, body) = send(
        gateway
            .http
            .head(format!("{}/rpc/get_network_stats_by_type", gateway.url)),
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "content-range"), "0-3/*");
    // PostgREST reads Range for GET only: HEAD answers every row.
    let (status, headers, body) = send(
        gateway
            .http
            .head(format!("{}/rpc/get_network_stats_by_type", gateway.url))
            .header("range", "0-0"),
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "content-range"), "0-3/*");
    // Browsers may read the table, call functions and read the count, from any origin.
    for (path, method) in [
        ("/rest/v1/compute_devices", "GET"),
        ("/rest/v1/rpc/get_user_devices", "POST"),
        ("/api/v1/network/stats", "GET"),
    ] {
        let (status, headers, _) = send(
            gateway
                .http
                .request(reqwest::Method::OPTIONS, format!("{}{path}", gateway.url))
                .header("origin", "https://app.example")
                .header("access-control-request-method", method)
                .header(
                    "access-control-request-headers",
                    "authorization, apikey, prefer, range",
                ),
        );
        assert!((200..300).contains(&status), "{path}: {status}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            "*",
            "{path}"
        );
    }
    let (_, headers, _) = send(
        gateway
            .http
            .get(format!("{}/rpc/get_network_stats", gateway.url))
            .header("origin", "https://app.example"),
    );
    assert!(
        header(&headers, "access-control-expose-headers").contains("content-range"),
        "{headers:?}"
    );
    // A method RPC does not take is 405.
    let (status, _, body) = send(
        gateway
            .http
            .put(format!("{}/rpc/register_device", gateway.url))
            .body("{}"),
    );
    assert_eq!(status, 405);
    assert_eq!(
        json_of(&body),
        json!({"code": "PGRST101", "details": null, "hint": null,
               "message": "Cannot use the PUT method on RPC"})
    );
    // A name that is not UTF-8 names nothing: PostgREST's "not found", not axum's text.
    for (method, path, code) in [
        (reqwest::Method::GET, "/rpc/%FF", "PGRST202"),
        (reqwest::Method::POST, "/rpc/%FF", "PGRST202"),
        (reqwest::Method::GET, "/%FF", "42P01"),
        (reqwest::Method::GET, "/rest/v1/%FF", "42P01"),
    ] {
        let (status, headers, body) = send(
            gateway
                .http
                .request(method.clone(), format!("{}{path}", gateway.url))
                .bearer_auth(token(ALICE))
                .header("content-type", "application/json")
                .body("{}"),
        );
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(json_of(&body)["code"], json!(code), "{method} {path}");
        assert!(header(&headers, "content-type").starts_with("application/json"));
    }
    // HEAD wherever GET works, the seed's routes too.
    let (status, _, body) = send(
        gateway
            .http
            .head(format!("{}/api/v1/network/stats", gateway.url)),
    );
    assert_eq!((status, body.as_str()), (200, ""));
    // Arguments and the grammar together: the body's arguments, the query's filters.
    let service = token_with(
        Algorithm::HS256,
        json!({"role": "service_role", "exp": common::expires_in(600)}),
    );
    let unknown = "99999999-9999-4999-8999-999999999999";
    let (status, headers, body) = send(
        gateway
            .http
            .post(format!(
                "{}/rpc/send_heartbeats?select=user_id,error_code&user_id=eq.{BOB}",
                gateway.url
            ))
            .bearer_auth(&service)
            .header("prefer", "count=exact")
            .header("content-type", "application/json")
            .body(json!({"user_ids": [ALICE, BOB], "device_ids": [unknown, unknown]}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!([{"user_id": BOB, "error_code": "42P01"}])
    );
    assert_eq!(header(&headers, "content-range"), "0-0/1");
    // A scalar result takes no read grammar.
    let (status, _, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/caller_user_id?select=x", gateway.url))
            .bearer_auth(token(ALICE)),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/caller_user_id", gateway.url))
            .bearer_auth(token(ALICE)),
    );
    assert_eq!((status, json_of(&body)), (200, json!(ALICE)));
    // A single value is one row: it is counted, and is the singular object itself.
    let (status, headers, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/caller_user_id", gateway.url))
            .header("prefer", "count=exact")
            .bearer_auth(token(ALICE)),
    );
    assert_eq!((status, json_of(&body)), (200, json!(ALICE)));
    assert_eq!(header(&headers, "content-range"), "0-0/1");
    let (status, headers, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/caller_user_id", gateway.url))
            .header("accept", "application/vnd.pgrst.object+json")
            .bearer_auth(token(ALICE)),
    );
    assert_eq!((status, json_of(&body)), (200, json!(ALICE)));
    assert!(header(&headers, "content-type").starts_with("application/vnd.pgrst.object+json"));
    let (status, _, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/caller_user_id?order=x", gateway.url))
            .bearer_auth(token(ALICE)),
    );
    assert_eq!(status, 400, "{body}");
    assert!(json_of(&body)["message"]
        .as_str()
        .unwrap()
        .contains("caller_user_id returns scalar values"));
}

fn only_the_extensions_schema_is_served(gateway: &Gateway, _: u16) {
    let refused = json!({"code": "PGRST106", "details": null, "hint": null,
                         "message": "The schema must be one of the following: public"});
    for (method, path, profile) in [
        ("GET", "/rpc/get_network_stats", "accept-profile"),
        ("HEAD", "/rpc/get_network_stats", "accept-profile"),
        ("POST", "/rpc/get_network_stats", "content-profile"),
        ("GET", "/rest/v1/compute_devices", "accept-profile"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", gateway.url);
        let (status, _, body) = send(
            gateway
                .http
                .request(method.clone(), &url)
                .header(profile, "api"),
        );
        assert_eq!(status, 406, "{method} {path}");
        if method != reqwest::Method::HEAD {
            assert_eq!(json_of(&body), refused, "{method} {path}");
        }
        let (status, _, body) = send(
            gateway
                .http
                .request(method.clone(), &url)
                .bearer_auth(token(ALICE))
                .header(profile, "public"),
        );
        assert_eq!(
            status, 200,
            "{method} {path} with the served schema: {body}"
        );
    }
}

fn the_extensions_table_and_view_are_read_under_rls(gateway: &Gateway, _: u16) {
    let alice = token(ALICE);
    let bob = token(BOB);
    gateway.register(&alice, "alice's laptop");
    gateway.register(&alice, "alice's phone");
    gateway.register(&bob, "bob's server");
    for relation in ["compute_devices", "compute_devices_live"] {
        for prefix in ["", "/rest/v1"] {
            let url = format!("{}{prefix}/{relation}", gateway.url);
            let (status, headers, body) = send(gateway.http.get(&url).bearer_auth(&alice));
            assert_eq!(status, 200, "{url}: {body}");
            let rows = json_of(&body);
            let owners: Vec<&Value> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|row| &row["user_id"])
                .collect();
            assert_eq!(owners, [&json!(ALICE), &json!(ALICE)], "{url}");
            assert_eq!(header(&headers, "content-range"), "0-1/*", "{url}");
            // The grammar applies, with a count.
            let (status, headers, body) = send(
                gateway
                    .http
                    .get(format!(
                        "{url}?select=device_name&device_name=like.*phone&order=device_name"
                    ))
                    .header("prefer", "count=exact")
                    .bearer_auth(&alice),
            );
            assert_eq!(status, 200, "{url}: {body}");
            assert_eq!(
                json_of(&body),
                json!([{"device_name": "alice's phone"}]),
                "{url}"
            );
            assert_eq!(header(&headers, "content-range"), "0-0/1", "{url}");
            // The anon role may not read devices: 401.
            let (status, _, body) = send(gateway.http.get(&url));
            assert_eq!(status, 401, "{url}: {body}");
            // Writes go through the functions.
            for method in ["POST", "PATCH", "PUT", "DELETE"] {
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let (status, _, body) = send(
                    gateway
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(&alice)
                        .header("content-type", "application/json")
                        .body("{}"),
                );
                assert_eq!(status, 405, "{method} {url}");
                let error = json_of(&body);
                assert_eq!(error["code"], json!("PGRST117"), "{method} {url}");
                assert!(
                    error["message"].as_str().unwrap().contains(method.as_str()),
                    "{error}"
                );
            }
        }
    }
    let (status, headers, body) = send(
        gateway
            .http
            .head(format!("{}/compute_devices", gateway.url))
            .bearer_auth(&bob),
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "content-range"), "0-0/*");
    // Range is a GET's only: HEAD answers every row, GET the range.
    for (method, content_range) in [
        (reqwest::Method::HEAD, "0-1/*"),
        (reqwest::Method::GET, "0-0/*"),
    ] {
        let (status, headers, body) = send(
            gateway
                .http
                .request(method.clone(), format!("{}/compute_devices", gateway.url))
                .header("range", "0-0")
                .bearer_auth(&alice),
        );
        assert!(status == 200 || status == 206, "{method}: {status} {body}");
        assert_eq!(header(&headers, "content-range"), content_range, "{method}");
    }
    let (status, _, body) = send(gateway.http.get(format!("{}/pg_roles", gateway.url)));
    assert_eq!(status, 404);
    assert_eq!(
        json_of(&body),
        json!({"code": "42P01", "details": null, "hint": null,
               "message": "relation \"public.pg_roles\" does not exist"})
    );
}

/// A function a superuser adds to the extension, with its grant, is callable at once (the
/// unknown name reloads the cache); GET only for a STABLE one; an argument with a default may
/// be left out; one RETURNS TABLE answers its rows (one with an OUT argument is not served).
/// A function outside the extension is never served. A function dropped from the
/// extension is gone after SIGHUP.
fn functions_added_to_the_extension_are_served(gateway: &Gateway, port: u16) {
    let mut superuser = common::superuser(port);
    superuser
        .batch_execute(
            "CREATE FUNCTION public.times(n integer, factor integer DEFAULT 2) RETURNS integer
                 STABLE LANGUAGE sql AS 'SELECT n * factor';
             ALTER EXTENSION compute_devices ADD FUNCTION public.times(integer, integer);
             GRANT EXECUTE ON FUNCTION public.times(integer, integer) TO anon;
             CREATE FUNCTION public.bump(n integer) RETURNS integer
                 VOLATILE LANGUAGE sql AS 'SELECT n + 1';
             ALTER EXTENSION compute_devices ADD FUNCTION public.bump(integer);
             GRANT EXECUTE ON FUNCTION public.bump(integer) TO anon;
             CREATE FUNCTION public.outsider() RETURNS integer STABLE LANGUAGE sql AS 'SELECT 1';
             GRANT EXECUTE ON FUNCTION public.outsider() TO anon;
             CREATE FUNCTION public.squares(n integer) RETURNS TABLE (i integer, square bigint)
                 STABLE LANGUAGE sql
                 AS 'SELECT g, g::bigint * g FROM pg_catalog.generate_series(1, n) AS g';
             ALTER EXTENSION compute_devices ADD FUNCTION public.squares(integer);
             GRANT EXECUTE ON FUNCTION public.squares(integer) TO anon;
             CREATE FUNCTION public.halves(n integer, OUT half integer) STABLE LANGUAGE sql
                 AS 'SELECT n / 2';
             ALTER EXTENSION compute_devices ADD FUNCTION public.halves(integer);
             GRANT EXECUTE ON FUNCTION public.halves(integer) TO anon;",
        )
        .unwrap();
    // The last reload may be under a second old: a name still unknown is asked for again.
    let served = common::eventually(Duration::from_secs(5), || {
        gateway.get("/rpc/times?n=21", None).0 == 200
    });
    assert!(served, "the new function is served");
    assert_eq!(gateway.get("/rpc/times?n=21", None).1, json!(42));
    assert_eq!(gateway.get("/rpc/times?n=2&factor=5", None).1, json!(10));
    assert_eq!(gateway.post("/rpc/times", None, r#"{"n": 4}"#).1, json!(8));
    let (status, answer) = gateway.get("/rpc/times?m=eq.1", None);
    assert_eq!((status, answer["code"].clone()), (404, json!("PGRST202")));
    // VOLATILE: POST only, even when it writes nothing; by GET it is 405 before it runs.
    assert_eq!(
        gateway.post("/rpc/bump", None, r#"{"n": 1}"#),
        (200, json!(2))
    );
    let (status, answer) = gateway.get("/rpc/bump?n=1", None);
    assert_eq!(
        (status, answer["code"].clone(), answer["message"].clone()),
        (
            405,
            json!("25006"),
            json!("cannot execute bump() in a read-only transaction")
        )
    );
    // Its arguments renamed by an update of the extension: the cache learns the new names.
    superuser
        .batch_execute(
            "ALTER EXTENSION compute_devices DROP FUNCTION public.bump(integer);
             DROP FUNCTION public.bump(integer);
             CREATE FUNCTION public.bump(amount integer) RETURNS integer
                 VOLATILE LANGUAGE sql AS 'SELECT amount + 1';
             ALTER EXTENSION compute_devices ADD FUNCTION public.bump(integer);
             GRANT EXECUTE ON FUNCTION public.bump(integer) TO anon;",
        )
        .unwrap();
    let renamed = common::eventually(Duration::from_secs(5), || {
        gateway.post("/rpc/bump", None, r#"{"amount": 5}"#) == (200, json!(6))
    });
    assert!(renamed, "the new argument name is served");
    // RETURNS TABLE: its rows, with the read grammar over its columns.
    assert_eq!(
        gateway.get("/rpc/squares?n=3&select=square&square=gt.1", None),
        (200, json!([{"square": 4}, {"square": 9}]))
    );
    assert_eq!(
        gateway.post("/rpc/squares", None, r#"{"n": 2}"#),
        (200, json!([{"i": 1, "square": 1}, {"i": 2, "square": 4}]))
    );
    let (status, answer) = gateway.get("/rpc/squares?n=1&select=cube", None);
    assert_eq!(
        (status, answer["code"].clone()),
        (400, json!("42703")),
        "{answer}"
    );
    // An OUT argument cannot be called by name: not served.
    let (status, answer) = gateway.get("/rpc/halves?n=4", None);
    assert_eq!(
        (status, answer["code"].clone()),
        (404, json!("PGRST202")),
        "{answer}"
    );
    // Outside the extension: not served, even with its grant.
    std::thread::sleep(Duration::from_millis(1100));
    let (status, answer) = gateway.get("/rpc/outsider", None);
    assert_eq!(
        (status, answer["code"].clone()),
        (404, json!("PGRST202")),
        "{answer}"
    );

    // Dropped from the extension: still cached (and still in the database), gone on SIGHUP.
    superuser
        .batch_execute(
            "ALTER EXTENSION compute_devices DROP FUNCTION public.times(integer, integer)",
        )
        .unwrap();
    assert_eq!(gateway.get("/rpc/times?n=1", None).0, 200);
    let pid = gateway.process.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let gone = common::eventually(Duration::from_secs(10), || {
        gateway.get("/rpc/times?n=1", None).0 == 404
    });
    assert!(gone, "SIGHUP reloaded the schema cache");
}

/// `Accept: application/vnd.pgrst.object+json` on a call returning two rows: 406 PGRST116,
/// and what the call wrote is rolled back; one row commits.
fn a_singular_call_that_fails_its_check_rolls_back(gateway: &Gateway, port: u16) {
    let mut superuser = common::superuser(port);
    superuser
        .batch_execute(
            "CREATE TABLE public.notes (n integer);
             GRANT SELECT, INSERT ON public.notes TO authenticated;
             CREATE FUNCTION public.note(copies integer) RETURNS SETOF public.notes
                 VOLATILE LANGUAGE sql
                 AS 'INSERT INTO public.notes SELECT pg_catalog.generate_series(1, copies) RETURNING *';
             ALTER EXTENSION compute_devices ADD FUNCTION public.note(integer);
             GRANT EXECUTE ON FUNCTION public.note(integer) TO authenticated;",
        )
        .unwrap();
    let notes = |superuser: &mut postgres::Client| -> i64 {
        superuser
            .query_one("SELECT count(*) FROM public.notes", &[])
            .unwrap()
            .get(0)
    };
    let singular = |copies: u32| {
        send(
            gateway
                .http
                .post(format!("{}/rpc/note", gateway.url))
                .bearer_auth(token(ALICE))
                .header("accept", "application/vnd.pgrst.object+json")
                .header("content-type", "application/json")
                .body(json!({ "copies": copies }).to_string()),
        )
    };
    let served = common::eventually(Duration::from_secs(5), || singular(0).0 != 404);
    assert!(served, "the new function is served");
    for copies in [0, 2] {
        let (status, _, body) = singular(copies);
        assert_eq!(status, 406, "{copies}: {body}");
        assert_eq!(
            json_of(&body),
            json!({"code": "PGRST116", "hint": null,
                   "message": "JSON object requested, multiple (or no) rows returned",
                   "details": format!("The result contains {copies} rows")})
        );
    }
    assert_eq!(notes(&mut superuser), 0, "the refused calls wrote nothing");
    // By GET the call is refused: the function is VOLATILE.
    let (status, _, body) = send(
        gateway
            .http
            .get(format!("{}/rpc/note?copies=1", gateway.url))
            .bearer_auth(token(ALICE)),
    );
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (405, json!("25006")),
        "{body}"
    );
    let (status, _, body) = singular(1);
    assert_eq!((status, json_of(&body)), (200, json!({"n": 1})));
    assert_eq!(notes(&mut superuser), 1);
}

/// The collapsed (shared) totals run as anon, so they are shared only with a caller whose role
/// the function is granted to: another role gets the database's answer to its own call.
fn shared_totals_are_only_for_roles_granted_them(gateway: &Gateway, port: u16) {
    let totals = |bearer: &str| {
        send(
            gateway
                .http
                .get(format!("{}/rpc/get_network_stats", gateway.url))
                .bearer_auth(bearer),
        )
    };
    let (status, _, body) = totals(&token(ALICE));
    assert_eq!(status, 200, "{body}");
    let nobody = token_with(
        Algorithm::HS256,
        json!({"role": "no_such_role", "exp": common::expires_in(600)}),
    );
    let (status, _, body) = totals(&nobody);
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (400, json!("22023")),
        "{body}"
    );
    let mut superuser = common::superuser(port);
    let hangup = || {
        let pid = gateway.process.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };
    superuser
        .batch_execute("REVOKE EXECUTE ON FUNCTION public.get_network_stats() FROM authenticated")
        .unwrap();
    hangup();
    let refused = common::eventually(Duration::from_secs(10), || {
        let (status, _, body) = totals(&token(ALICE));
        (status, json_of(&body)["code"].clone()) == (403, json!("42501"))
    });
    superuser
        .batch_execute("GRANT EXECUTE ON FUNCTION public.get_network_stats() TO authenticated")
        .unwrap();
    hangup();
    assert!(
        refused,
        "a role without the grant is refused, as its own call would be"
    );
    let granted = common::eventually(Duration::from_secs(10), || totals(&token(ALICE)).0 == 200);
    assert!(granted, "granted again, shared again");
}

/// A statement whose text the caller shapes (keys, casts, filters) is not kept prepared on the
/// connection: otherwise each distinct text would stay in the backend's memory for good. The
/// count is read by a function run on the only connection of a second gateway.
fn shaped_statements_are_not_kept_prepared(_: &Gateway, port: u16) {
    let mut superuser = common::superuser(port);
    superuser
        .batch_execute(
            "CREATE FUNCTION public.prepared_statements() RETURNS bigint STABLE LANGUAGE sql
                 AS 'SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements';
             ALTER EXTENSION compute_devices ADD FUNCTION public.prepared_statements();
             GRANT EXECUTE ON FUNCTION public.prepared_statements() TO authenticated;",
        )
        .unwrap();
    let gateway = Gateway::start(port, &[("DB_POOL_SIZE", "1")]);
    let alice = token(ALICE);
    let get = |path: String| {
        send(
            gateway
                .http
                .get(format!("{}{path}", gateway.url))
                .bearer_auth(&alice),
        )
    };
    let kept = || {
        let (status, _, body) = get("/rpc/prepared_statements".to_string());
        assert_eq!(status, 200, "{body}");
        json_of(&body).as_i64().unwrap()
    };
    // The plain calls' statements are kept: a second round prepares nothing more.
    kept();
    let before = kept();
    for i in 0..10 {
        for path in [
            format!("/compute_devices?select=x{i}:device_name"),
            format!("/rpc/get_network_stats_by_type?select=x{i}:device_type"),
            format!("/rpc/get_user_devices?device_name=eq.{i}"),
        ] {
            let (status, _, body) = get(path.clone());
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    assert_eq!(kept(), before, "no shaped statement is kept");
}
