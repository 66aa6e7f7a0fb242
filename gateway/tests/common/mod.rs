//! The end-to-end harness: a PostgreSQL cluster of the test binary's own with the extension
//! installed (and preloaded), Supabase's roles, and the real `compute-gateway` binary in front
//! of it, configured as a user would: by environment variables.
#![allow(dead_code, unused_imports)] // shared by test binaries that each use a part

pub use compute_devices_test_support::eventually;
use compute_devices_test_support::Cluster;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";
pub const DATABASE: &str = "gateway";
pub const ALICE: &str = "11111111-1111-4111-8111-111111111111";
pub const BOB: &str = "22222222-2222-4222-8222-222222222222";

/// A cluster with the extension installed in DATABASE, serving it from shared memory, on a
/// free port: `cluster.port()`.
pub fn cluster(name: &str) -> Cluster {
    let cluster = Cluster::init(name, &format!("compute_devices.database = '{DATABASE}'"));
    cluster.start();
    cluster.serve(DATABASE);
    cluster
}

pub fn superuser(port: u16) -> postgres::Client {
    compute_devices_test_support::connect(port, "postgres", DATABASE)
}

/// The gateway binary, running until dropped.
pub struct Gateway {
    pub url: String,
    pub process: Child,
    pub http: reqwest::blocking::Client,
}

impl Gateway {
    pub fn start(database_port: u16, extra_env: &[(&str, &str)]) -> Gateway {
        let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/jwks.json");
        let mut command = Command::new(env!("CARGO_BIN_EXE_compute-gateway"));
        command
            .env(
                "DATABASE_URL",
                format!("postgres://authenticator@localhost:{database_port}/{DATABASE}"),
            )
            // Port 0: the kernel picks a free one, and the gateway logs which.
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", SECRET)
            .env("JWKS_FILE", jwks)
            .env("DB_CONNECT_TIMEOUT_MS", "1000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,compute_gateway=info")
            .stdout(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut process = command.spawn().expect("the gateway binary starts");
        let address = listen_address(process.stdout.take().unwrap());
        Gateway {
            url: format!("http://{address}"),
            process,
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
    }

    /// A request with any method (even one HTTP does not define), and a JSON body if given.
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().unwrap())
    }

    /// The Prometheus text of /metrics.
    pub fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.url);
        self.http.get(url).send().unwrap().text().unwrap()
    }

    /// A sample's value in /metrics (`name{labels}` as written there), 0 when absent.
    pub fn sample(&self, name_and_labels: &str) -> f64 {
        sample_in(&self.metrics(), name_and_labels)
    }

    /// (calls, entries) of send_heartbeats so far, from /metrics.
    pub fn heartbeat_batches(&self) -> (f64, f64) {
        let text = self.metrics();
        (
            sample_in(&text, "gateway_heartbeat_batch_size_count"),
            sample_in(&text, "gateway_heartbeat_batch_size_sum"),
        )
    }

    /// Registers a device through the seed's route: its id.
    pub fn register(&self, token: &str, name: &str) -> String {
        let body = json!({"device_name": name, "device_type": "laptop", "ram_gb": 16, "cpu_cores": 8, "storage_gb": 512});
        let (status, answer) = self.post(
            "/api/v1/network/devices/register",
            Some(token),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{answer}");
        answer["data"]["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The address the gateway logs once it listens. Its log is read to the end on a thread of its
/// own, so that the gateway never blocks on a full pipe.
fn listen_address(log: ChildStdout) -> String {
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(address) = entry["fields"]["address"].as_str() {
                let _ = found.send(address.to_string());
            }
        }
    });
    address
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway listens")
}

/// A sample's value in the Prometheus text of /metrics, 0 when absent.
fn sample_in(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(name_and_labels)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|value| value.trim().parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

fn answer(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token as Supabase issues it to a signed-in user, signed with the shared secret.
pub fn token(sub: &str) -> String {
    token_with(
        Algorithm::HS256,
        json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": now() + 3600}),
    )
}

/// A token with these claims, signed with `algorithm` by the test keys.
pub fn token_with(algorithm: Algorithm, claims: Value) -> String {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/");
    let (key, kid) = match algorithm {
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&std::fs::read(format!("{keys}es256.pem")).unwrap()).unwrap(),
            Some("test-es256"),
        ),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(&std::fs::read(format!("{keys}rs256.pem")).unwrap()).unwrap(),
            Some("test-rs256"),
        ),
        _ => (EncodingKey::from_secret(SECRET.as_bytes()), None),
    };
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// A token whose payload is exactly this JSON text, signed with the shared secret: for claims a
/// `serde_json::Value` cannot hold, such as a key named twice.
pub fn token_with_payload(payload: &str) -> String {
    let payload = serde_json::value::RawValue::from_string(payload.to_string()).unwrap();
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &key).unwrap()
}

pub fn expires_in(seconds: i64) -> i64 {
    now() + seconds
}

/// The gateway's schema cache of the database on `port`, read by the library's own loader as the
/// gateway's login role.
pub fn schema_cache(port: u16) -> compute_gateway::schema::SchemaCache {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!("host=localhost port={port} user=authenticator dbname={DATABASE}"),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        compute_gateway::schema::load(&client).await.unwrap()
    })
}
