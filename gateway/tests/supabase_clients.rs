//! The gateway driven by the unmodified Supabase clients: `@supabase/supabase-js` and
//! `@supabase/postgrest-js` (pinned in gateway/tests/supabase/package-lock.json) run the
//! node:test suites in gateway/tests/supabase against the real binary, as an app would. This
//! launcher starts the cluster and the gateway, registers the devices of seed.json, writes a
//! day of minutes and a month of hours into the history (`common::write_history`), makes the
//! keys Supabase hands out (the anon key and the service key: JWTs whose `role` is the role,
//! signed with the project's secret) and the users' tokens, and fails with node's report if any
//! test fails. Needs `npm ci` in gateway/tests/supabase first (`./tests/run` does it).

mod common;

use common::{expires_in, token, token_with, Gateway, ALICE, BOB};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/supabase");
/// Registers devices in the tests and stops them again.
const CAROL: &str = "33333333-3333-4333-8333-333333333333";
/// Never has a device.
const DAVE: &str = "66666666-6666-4666-8666-666666666666";

#[test]
fn the_supabase_clients_against_the_gateway() {
    assert!(
        Path::new(SUITE)
            .join("node_modules/@supabase/supabase-js")
            .is_dir()
            && Path::new(SUITE)
                .join("node_modules/@supabase/postgrest-js")
                .is_dir(),
        "the Supabase clients are not installed: run `npm ci --no-audit --no-fund` in {SUITE} \
         (./tests/run does)"
    );
    let cluster = common::cluster("gateway-supabase");
    let gateway = Gateway::start(cluster.port(), &[]);
    register_the_seed(&gateway);
    // A day of minutes and a month of hours of history (history.test.mjs reads them).
    let history_since = common::write_history(
        &mut common::superuser(cluster.port()),
        common::HISTORY_DAY_AGO,
    );

    let output = Command::new("node")
        // Node 20 has no global WebSocket unless asked; supabase-js's realtime client needs one
        // to be constructed (these tests open no socket).
        .args([
            "--experimental-websocket",
            "--test",
            "--test-reporter=spec",
            // One file at a time: writes.test.mjs changes the network's totals while it runs.
            "--test-concurrency=1",
            "--test-timeout=60000",
        ])
        .current_dir(SUITE)
        .env("GATEWAY_URL", &gateway.url)
        .env("ANON_KEY", supabase_key("anon"))
        .env("SERVICE_ROLE_KEY", supabase_key("service_role"))
        .env("ALICE_TOKEN", token(ALICE))
        .env("BOB_TOKEN", token(BOB))
        .env("CAROL_TOKEN", token(CAROL))
        .env("DAVE_TOKEN", token(DAVE))
        .env("EXPIRED_TOKEN", expired_token(ALICE))
        .env("ALICE_ID", ALICE)
        .env("CAROL_ID", CAROL)
        .env("HISTORY_SINCE", &history_since)
        .output()
        .expect("node runs (Node.js 20 or later)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The spec reporter's totals (its lines marked ℹ) and its closing list of the failures
    // alone, when it got that far; else everything it said.
    let totals: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("ℹ "))
        .collect();
    let failures = report
        .find("✖ failing tests:")
        .map_or(report.as_str(), |start| &report[start..]);
    assert!(
        output.status.success(),
        "the Supabase clients' tests failed:\n{}\n{failures}",
        totals.join("\n")
    );
    eprintln!("{report}");
}

/// Each user's devices of seed.json, registered by their owner; those marked `deactivated`
/// are then stopped by their owner.
fn register_the_seed(gateway: &Gateway) {
    let seed: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(SUITE).join("seed.json")).unwrap())
            .unwrap();
    for (user, owner) in [("alice", ALICE), ("bob", BOB)] {
        let owner = token(owner);
        for device in seed[user].as_array().unwrap() {
            let mut spec = device.clone();
            let stopped = spec.as_object_mut().unwrap().remove("deactivated") == Some(json!(true));
            let (status, row) =
                gateway.post("/rpc/register_device", Some(&owner), &spec.to_string());
            assert_eq!(status, 200, "{row}");
            if stopped {
                let id = json!({"device_id": row["id"]}).to_string();
                let (status, row) = gateway.post("/rpc/deactivate_device", Some(&owner), &id);
                assert_eq!(status, 200, "{row}");
            }
        }
    }
}

/// A key as Supabase issues a project: a long-lived JWT with only the role in it.
fn supabase_key(role: &str) -> String {
    token_with(
        Algorithm::HS256,
        json!({"iss": "supabase", "role": role, "iat": expires_in(0), "exp": expires_in(3600)}),
    )
}

fn expired_token(sub: &str) -> String {
    token_with(
        Algorithm::HS256,
        json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": expires_in(-3600)}),
    )
}
