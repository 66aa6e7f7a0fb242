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
/// A gateway that exits before it listens: the panic quotes what it logged.
fn listen_address(log: ChildStdout) -> String {
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = Vec::new();
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            match entry["fields"]["address"].as_str() {
                Some(address) => {
                    let _ = found.send(Ok(address.to_string()));
                }
                None if said.len() < 20 => said.push(line),
                None => {}
            }
        }
        let _ = found.send(Err(said.join("\n")));
    });
    match address.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(address)) => address,
        Ok(Err(said)) => panic!("the gateway exited before it listened, saying:\n{said}"),
        Err(error) => panic!("the gateway does not listen: {error}"),
    }
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

/// Milliseconds since the epoch of a timestamp as PostgreSQL writes it in JSON
/// (`2026-12-01T01:02:00+00:00`, `…:00.5-03:30`) or as JavaScript does (`…:00.000Z`).
pub fn parse_time(text: &str) -> i64 {
    let (date, rest) = text.split_once('T').expect("a timestamp");
    let mut ymd = date.split('-').map(|n| n.parse::<i64>().unwrap());
    let (y, m, d) = (
        ymd.next().unwrap(),
        ymd.next().unwrap(),
        ymd.next().unwrap(),
    );
    let (time, offset) = match rest.find(['+', '-', 'Z']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut hms = time.split(':').map(|n| n.parse::<f64>().unwrap());
    let ms =
        (hms.next().unwrap() * 3600.0 + hms.next().unwrap() * 60.0 + hms.next().unwrap_or(0.0))
            * 1000.0;
    let offset_seconds = match offset.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let mut parts = offset[1..].split(':').map(|n| n.parse::<i64>().unwrap());
            let value = parts.next().unwrap() * 3600 + parts.next().unwrap_or(0) * 60;
            if sign == '+' {
                value
            } else {
                -value
            }
        }
        _ => 0,
    };
    (days_from_civil(y, m, d) * 86400 - offset_seconds) * 1000 + ms.round() as i64
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The first minute of the history [`write_history`] writes, as an SQL expression: a day of
/// minutes ending an hour ago, so that the worker's own minutes never meet them.
pub const HISTORY_DAY_AGO: &str = "date_trunc('minute', now(), 'UTC') - interval '25 hours'";

/// Writes history into the extension's tables as `record_network_history()` would have recorded
/// it, starting at the minute `first` (an SQL timestamptz expression), and answers that minute
/// as ISO 8601 (`2026-12-01T01:02:00Z`):
/// - 1440 minutes from `first`, but for minutes 600 to 719 (two hours the server was down):
///   minute i has a = `10 + i % 7` active devices, each of 16 GB, 4 cores, 100 GB of storage
///   (compute score 57) and one GPU of 8 GiB; by type a / 2 phones and the rest laptops, by
///   region a - a / 3 in Europe and a / 3 without a region;
/// - those minutes' hours, rolled up as the recorder rolls them, for the hours that ended
///   more than an hour ago (later ones are the recorder's);
/// - the 29 days of hours before `first`, one day (hours 300 to 323 before it) missing: an
///   average of b = `8 + round(4 sin(2π hour-of-day / 24))` devices, from b - 2 to b + 3.
pub fn write_history(database: &mut postgres::Client, first: &str) -> String {
    let first: String = database
        .query_one(
            &format!(
                "SELECT pg_catalog.to_char(({first}) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    let minutes = "
        WITH m AS (
            SELECT $1::text::timestamptz + i * interval '1 minute' AS minute, 10 + i % 7 AS a
              FROM generate_series(0, 1439) AS i
             WHERE i NOT BETWEEN 600 AND 719
        ), g AS (
            SELECT minute, 0 AS kind, '' AS group_key, a AS n FROM m
            UNION ALL SELECT minute, 1, 'phone', a / 2 FROM m
            UNION ALL SELECT minute, 1, 'laptop', a - a / 2 FROM m
            UNION ALL SELECT minute, 1, 'desktop', 0 FROM m
            UNION ALL SELECT minute, 1, 'server', 0 FROM m
            UNION ALL SELECT minute, 2, 'Europe', a - a / 3 FROM m
            UNION ALL SELECT minute, 2, '', a / 3 FROM m
        )
        INSERT INTO network_history_minutes
               (minute, kind, group_key, active_nodes, total_ram_gb, total_cpu_cores,
                total_storage_gb, total_compute_score, total_gpus, total_gpu_memory_gb)
        SELECT minute, kind, group_key, n, 16 * n, 4 * n, 100 * n, 57 * n, n, 8 * n FROM g
            ON CONFLICT DO NOTHING";
    let rolled = "
        INSERT INTO network_history_hours
        SELECT date_trunc('hour', minute, 'UTC'), kind, group_key, count(*), sum(active_nodes),
               min(active_nodes), max(active_nodes), sum(total_ram_gb), sum(total_cpu_cores),
               sum(total_storage_gb), sum(total_compute_score), sum(total_gpus),
               sum(total_gpu_memory_gb)
          FROM network_history_minutes
         WHERE minute >= $1::text::timestamptz
           AND minute < $1::text::timestamptz + interval '1440 minutes'
           AND minute < date_trunc('hour', now(), 'UTC') - interval '1 hour'
         GROUP BY 1, 2, 3
            ON CONFLICT DO NOTHING";
    let month = "
        WITH h AS (
            SELECT date_trunc('hour', $1::text::timestamptz, 'UTC') - j * interval '1 hour' AS hour
              FROM generate_series(1, 29 * 24) AS j
             WHERE j NOT BETWEEN 300 AND 323
        ), b AS (
            SELECT hour, 8 + round(4 * sin(2 * pi() * extract(hour FROM hour AT TIME ZONE 'UTC') / 24))::int AS b
              FROM h
        ), g AS (
            SELECT hour, 0 AS kind, '' AS group_key, b AS n, b - 2 AS low, b + 3 AS high FROM b
            UNION ALL SELECT hour, 1, 'phone', b / 2, (b - 2) / 2, (b + 3) / 2 FROM b
            UNION ALL SELECT hour, 1, 'laptop', b - b / 2, b - 2 - (b - 2) / 2, b + 3 - (b + 3) / 2 FROM b
            UNION ALL SELECT hour, 1, 'desktop', 0, 0, 0 FROM b
            UNION ALL SELECT hour, 1, 'server', 0, 0, 0 FROM b
            UNION ALL SELECT hour, 2, 'Europe', b - b / 3, b - 2 - (b - 2) / 3, b + 3 - (b + 3) / 3 FROM b
            UNION ALL SELECT hour, 2, '', b / 3, (b - 2) / 3, (b + 3) / 3 FROM b
        )
        INSERT INTO network_history_hours
        SELECT hour, kind, group_key, 60, 60 * n, low, high, 60 * 16 * n, 60 * 4 * n,
               60 * 100 * n, 60 * 57 * n, 60 * n, 60 * 8 * n
          FROM g
            ON CONFLICT DO NOTHING";
    let mut transaction = database.transaction().unwrap();
    for statement in [minutes, rolled, month] {
        transaction.execute(statement, &[&first]).unwrap();
    }
    transaction.commit().unwrap();
    first
}

/// How many rows the history tables hold.
pub fn history_rows(database: &mut postgres::Client) -> i64 {
    database
        .query_one(
            "SELECT (SELECT count(*) FROM network_history_minutes)
                  + (SELECT count(*) FROM network_history_hours)",
            &[],
        )
        .unwrap()
        .get(0)
}
