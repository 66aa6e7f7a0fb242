//! The agent end to end: the real `compute-agent` binary against the real gateway (run
//! in-process) in front of a throwaway PostgreSQL with the extension preloaded, everything
//! checked in SQL as a superuser. The heartbeat interval is one second, so a few intervals
//! pass in a few seconds; every wait polls with a deadline.

use clap::Parser;
use compute_devices_test_support::{free_port, Cluster, ClusterPort};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "agent";
const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";
const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
const CAROL: &str = "ca201000-0000-4000-8000-000000000003";
const DAVE: &str = "da7e0000-0000-4000-8000-000000000004";
/// Every variable the agent reads: none leaks in from the environment the tests run in.
const AGENT_ENV: [&str; 17] = [
    "COMPUTE_API_URL",
    "COMPUTE_AGENT_TOKEN",
    "COMPUTE_AGENT_TOKEN_FILE",
    "COMPUTE_AGENT_API_KEY",
    "COMPUTE_AGENT_DEVICE_NAME",
    "COMPUTE_AGENT_DEVICE_TYPE",
    "COMPUTE_AGENT_RAM_GB",
    "COMPUTE_AGENT_CPU_CORES",
    "COMPUTE_AGENT_STORAGE_GB",
    "COMPUTE_AGENT_COUNTRY",
    "COMPUTE_AGENT_ACCELERATORS",
    "COMPUTE_AGENT_REQUEST_TIMEOUT_MS",
    "COMPUTE_AGENT_RETRY_BASE_MS",
    "COMPUTE_AGENT_RETRY_MAX_MS",
    "COMPUTE_AGENT_STOP_TIMEOUT_MS",
    "COMPUTE_AGENT_LOG_FORMAT",
    "RUST_LOG",
];

/// One cluster and one gateway (whose metrics recorder is global: one per process) for
/// every scenario, run in turn.
#[test]
fn the_agent_against_the_gateway_and_postgres() {
    let cluster = Cluster::init(
        "agent-e2e",
        &format!("compute_devices.database = '{DATABASE}'"),
    );
    cluster.start();
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);
    superuser
        .batch_execute(&format!(
            "ALTER DATABASE {DATABASE} SET compute_devices.heartbeat_interval = 1"
        ))
        .unwrap();
    let gateway = start_gateway(PORT.get());
    let mut db = Db(superuser);

    registers_beats_registers_again_and_deactivates_on_sigterm(&gateway, &mut db);
    refused_specs_and_a_refused_fixed_token_exit_non_zero(&gateway, &mut db);
    a_rotated_token_file_is_picked_up_and_detected_specs_are_registered(&gateway, &mut db);
    a_signal_during_the_first_registration_deactivates_what_it_registers(&gateway, &mut db);
    accelerators_and_country_are_registered_and_replaced(&gateway, &mut db);
}

fn registers_beats_registers_again_and_deactivates_on_sigterm(gateway: &str, db: &mut Db) {
    eprintln!("scenario: lifecycle");
    let token = token_expiring(ALICE, 3600);
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_DEVICE_NAME", "rack 4 / slot 2"),
            ("COMPUTE_AGENT_DEVICE_TYPE", "desktop"),
            ("COMPUTE_AGENT_RAM_GB", "12.345"),
            ("COMPUTE_AGENT_CPU_CORES", "6"),
            ("COMPUTE_AGENT_STORAGE_GB", "256.25"),
        ],
    );

    let device = agent.until("the device is registered", || {
        db.device(ALICE, "rack 4 / slot 2")
    });
    assert_eq!(device.device_type, "desktop");
    assert_eq!(device.ram_gb, 12.35, "rounded to 2 decimals");
    assert_eq!(device.cpu_cores, 6);
    assert_eq!(device.storage_gb, 256.25);
    assert!(!device.stopped);

    // Heartbeats arrive, one interval apart: last_seen moves on three times.
    let mut last_seen = device.last_seen;
    for _ in 0..3 {
        let seen = agent.until("a heartbeat moves last_seen on", || {
            let now = db.device(ALICE, "rack 4 / slot 2")?.last_seen;
            (now > last_seen).then_some(now)
        });
        last_seen = seen;
    }
    assert!(agent.log().contains("heartbeat interval seconds=1"));
    let (active, cores, ram) = db.stats();
    assert_eq!(
        (active, cores, ram),
        (1, 6, 12.35),
        "counted in get_network_stats"
    );

    // Its owner stops it through the API: the next heartbeat gets 404 42P01 and the agent
    // registers it again, under the same id.
    let (status, answer) = post(
        gateway,
        "/rpc/deactivate_device",
        &token,
        json!({ "device_id": device.id }),
    );
    assert_eq!(status, 200, "{answer}");
    agent.until("the agent registers the device again", || {
        agent_log_has(&agent, "registered again")
    });
    let again = agent.until("the device is active again", || {
        db.device(ALICE, "rack 4 / slot 2")
            .filter(|d| !d.stopped && d.active)
    });
    assert_eq!(again.id, device.id);
    assert_eq!(db.stats().0, 1);

    let status = agent.terminate();
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status:?}\n{}",
        agent.log()
    );
    let stopped = db.device(ALICE, "rack 4 / slot 2").unwrap();
    assert!(stopped.stopped && !stopped.active, "{stopped:?}");
    assert_eq!(db.stats(), (0, 0, 0.0), "no longer counted");
    assert!(agent.log().contains("deactivated"), "{}", agent.log());
}

fn refused_specs_and_a_refused_fixed_token_exit_non_zero(gateway: &str, db: &mut Db) {
    eprintln!("scenario: permanent failures");
    // Above the server's max_ram_gb: 400 22003, nothing to retry.
    let token = token_expiring(CAROL, 3600);
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_DEVICE_NAME", "too big"),
            ("COMPUTE_AGENT_RAM_GB", "100000"),
        ],
    );
    let status = agent.exit_within(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    assert!(
        agent.log().contains("HTTP 400 22003: ram_gb"),
        "the server's message: {}",
        agent.log()
    );
    assert!(db.device(CAROL, "too big").is_none());

    // A set inventory beyond the server's bounds: its refusal names the field.
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_DEVICE_NAME", "too many gpus"),
            (
                "COMPUTE_AGENT_ACCELERATORS",
                r#"[{"vendor":"nvidia","product_name":"NVIDIA L4","memory_mib":23034,"count":65}]"#,
            ),
        ],
    );
    let status = agent.exit_within(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    assert!(
        agent
            .log()
            .contains("HTTP 400 22003: accelerators[0].count"),
        "the server's message: {}",
        agent.log()
    );
    assert!(db.device(CAROL, "too many gpus").is_none());

    // A malformed one never reaches the server: a usage error at start.
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_ACCELERATORS", r#"[{"vendor":"ibm"}]"#),
        ],
    );
    let status = agent.exit_within(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "{}", agent.log());
    assert!(
        agent
            .log()
            .contains("accelerators[0]: unknown variant `ibm`"),
        "{}",
        agent.log()
    );

    // An expired token from the environment cannot get better: exit 1, not retry forever.
    let expired = token_expiring(CAROL, -60);
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &expired),
            ("COMPUTE_AGENT_DEVICE_NAME", "expired"),
        ],
    );
    let status = agent.exit_within(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    assert!(agent.log().contains("HTTP 401"), "{}", agent.log());
    assert!(db.device(CAROL, "expired").is_none());
}

fn a_rotated_token_file_is_picked_up_and_detected_specs_are_registered(gateway: &str, db: &mut Db) {
    eprintln!("scenario: token file");
    let file = TempFile::new("token");
    file.replace(&token_expiring(BOB, -60));
    let path = file.0.display().to_string();
    let env = [
        ("COMPUTE_AGENT_TOKEN_FILE", path.as_str()),
        ("COMPUTE_AGENT_DEVICE_NAME", "detected"),
    ];
    let mut agent = Agent::start(gateway, &env);
    agent.until(
        "the expired token is refused and will be read again",
        || agent_log_has(&agent, "will read the token file"),
    );
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "still running: {}",
        agent.log()
    );
    assert!(db.device(BOB, "detected").is_none());

    // Rotated as a secrets manager does it: a new file renamed over the old one.
    file.replace(&token_expiring(BOB, 3600));
    let device = agent.until("the device is registered with the new token", || {
        db.device(BOB, "detected")
    });
    // What `compute-agent specs` prints is what was registered.
    let specs = specs_json(&env);
    assert_eq!(specs["device_type"], json!(device.device_type));
    assert_eq!(specs["cpu_cores"], json!(device.cpu_cores));
    assert_eq!(specs["ram_gb"].as_f64(), Some(device.ram_gb));
    assert_eq!(specs["storage_gb"].as_f64(), Some(device.storage_gb));
    assert!(device.cpu_cores >= 1 && device.ram_gb > 0.0);
    // Detected accelerators (none where the tests run, as a rule) are what was registered;
    // the body leaves out an empty list, which means none.
    let detected = specs.get("accelerators").cloned().unwrap_or(json!([]));
    assert_eq!(without_models(&device.accelerators), detected);
    assert_eq!(device.country_code, None);

    let status = agent.terminate();
    assert!(status.success(), "{status:?}\n{}", agent.log());
    assert!(db.device(BOB, "detected").unwrap().stopped);
}

/// SIGTERM while the first registration waits in the database: the registration still lands
/// once the database lets it, and the agent deactivates the device it created before it exits,
/// rather than leaving it active until its heartbeats are missed.
fn a_signal_during_the_first_registration_deactivates_what_it_registers(
    gateway: &str,
    db: &mut Db,
) {
    eprintln!("scenario: a signal while registering");
    let mut blocker = compute_devices_test_support::connect(PORT.get(), "postgres", DATABASE);
    let mut hold = blocker.transaction().unwrap();
    // SHARE mode: registrations' inserts wait behind it, reads do not.
    hold.batch_execute("LOCK TABLE compute_devices IN SHARE MODE")
        .unwrap();
    let token = token_expiring(CAROL, 3600);
    let env = [
        ("COMPUTE_AGENT_TOKEN", token.as_str()),
        ("COMPUTE_AGENT_DEVICE_NAME", "interrupted"),
    ];
    let mut agent = Agent::start(gateway, &env);
    agent.until("the registration waits for the table", || {
        let waiting: i64 =
            db.0.query_one(
                "SELECT count(*) FROM pg_locks
                  WHERE relation = 'compute_devices'::regclass AND NOT granted",
                &[],
            )
            .unwrap()
            .get(0);
        (waiting > 0).then_some(())
    });
    let pid = agent.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    agent.until("the agent takes the signal", || {
        agent_log_has(&agent, "SIGTERM: stopping")
    });
    hold.commit().unwrap();
    let status = agent.exit_within(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", agent.log());
    let device = db
        .device(CAROL, "interrupted")
        .expect("the registration landed");
    assert!(
        device.stopped && !device.active,
        "deactivated after it landed; agent log:\n{}",
        agent.log()
    );
}

/// A set inventory and country are registered (the server derives each group's model and the
/// region); an agent started again with other settings replaces both.
fn accelerators_and_country_are_registered_and_replaced(gateway: &str, db: &mut Db) {
    eprintln!("scenario: accelerators and country");
    let token = token_expiring(DAVE, 3600);
    let inventory = json!([
        {"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090", "memory_mib": 24564, "count": 2},
        {"vendor": "amd", "product_name": "AMD Radeon RX 7900 XTX", "memory_mib": 24560, "count": 1},
    ])
    .to_string();
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_DEVICE_NAME", "gpu box"),
            ("COMPUTE_AGENT_COUNTRY", "de"),
            ("COMPUTE_AGENT_ACCELERATORS", &inventory),
        ],
    );
    let device = agent.until("the device is registered", || db.device(DAVE, "gpu box"));
    assert_eq!(
        device.accelerators,
        json!([
            {"vendor": "amd", "product_name": "AMD Radeon RX 7900 XTX", "model": "radeon-rx-7900-xtx", "memory_mib": 24560, "count": 1},
            {"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090", "model": "geforce-rtx-4090", "memory_mib": 24564, "count": 2},
        ])
    );
    assert_eq!(device.country_code.as_deref(), Some("DE"));
    assert_eq!(device.region.as_deref(), Some("Europe"));
    assert_eq!(device.subregion.as_deref(), Some("Western Europe"));
    assert!(agent.terminate().success(), "{}", agent.log());

    // `[]`: none, whatever is detected; no country: none either.
    let mut agent = Agent::start(
        gateway,
        &[
            ("COMPUTE_AGENT_TOKEN", &token),
            ("COMPUTE_AGENT_DEVICE_NAME", "gpu box"),
            ("COMPUTE_AGENT_ACCELERATORS", "[]"),
        ],
    );
    let again = agent.until("the device is registered again", || {
        db.device(DAVE, "gpu box").filter(|d| d.active)
    });
    assert_eq!(again.id, device.id);
    assert_eq!(again.accelerators, json!([]));
    assert_eq!((again.country_code, again.region), (None, None));
    assert!(agent.terminate().success(), "{}", agent.log());
}

/// A device's accelerators as the body states them: without the model the server derives.
fn without_models(accelerators: &Value) -> Value {
    let mut groups = accelerators.clone();
    for group in groups.as_array_mut().expect("an array") {
        group.as_object_mut().expect("an object").remove("model");
    }
    groups
}

/// Every connection is closed at once: the agent is between retries (a 30 s ceiling) when
/// SIGTERM comes, and leaves at once with nothing to deactivate.
#[test]
fn a_signal_during_backoff_stops_the_agent_at_once() {
    let (url, _connections) = black_hole(false);
    let mut agent = Agent::start(
        &url,
        &[
            ("COMPUTE_AGENT_TOKEN", "not-checked"),
            ("COMPUTE_AGENT_RETRY_BASE_MS", "30000"),
            ("COMPUTE_AGENT_RETRY_MAX_MS", "60000"),
        ],
    );
    agent.until("the first attempt fails", || {
        agent_log_has(&agent, "retry_in_ms")
    });
    let log = agent.terminate_cleanly_within(Duration::from_secs(3));
    assert!(log.contains("nothing to deactivate"), "{log}");
}

/// The server never answers: SIGTERM comes while the registration waits (a 60 s timeout).
/// The stop waits for that answer, since the registration may still land, but no longer than
/// the stop timeout.
#[test]
fn a_signal_during_a_request_stops_the_agent_within_the_stop_timeout() {
    let (url, connections) = black_hole(true);
    let mut agent = Agent::start(
        &url,
        &[
            ("COMPUTE_AGENT_TOKEN", "not-checked"),
            ("COMPUTE_AGENT_REQUEST_TIMEOUT_MS", "60000"),
            ("COMPUTE_AGENT_STOP_TIMEOUT_MS", "1000"),
        ],
    );
    connections
        .recv_timeout(Duration::from_secs(20))
        .expect("the agent connects");
    let log = agent.terminate_cleanly_within(Duration::from_secs(3));
    assert!(log.contains("could not deactivate in time"), "{log}");
    assert!(!log.contains("retry_in_ms"), "{log}");
}

/// A listener that answers nothing: it closes each connection at once, or holds it open
/// (`hold`). Each accepted connection is reported on the channel.
fn black_hole(hold: bool) -> (String, mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (accepted, connections) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            let _ = accepted.send(());
            if hold {
                held.push(stream);
            }
        }
    });
    (url, connections)
}

// ----- the agent process -----

struct Agent {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Agent {
    /// The agent binary with short retries, each heartbeat logged, and `env`.
    fn start(api_url: &str, env: &[(&str, &str)]) -> Agent {
        let mut command = Command::new(env!("CARGO_BIN_EXE_compute-agent"));
        for name in AGENT_ENV {
            command.env_remove(name);
        }
        command
            .env("COMPUTE_API_URL", api_url)
            .env("COMPUTE_AGENT_RETRY_BASE_MS", "100")
            .env("COMPUTE_AGENT_RETRY_MAX_MS", "1000")
            .env("COMPUTE_AGENT_LOG_FORMAT", "text")
            .env("RUST_LOG", "compute_agent=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the agent binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Agent { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Polls `found` until it gives a value; fails with the agent's log after 20 s.
    fn until<T>(&self, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(value) = found() {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; agent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then its exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.exit_within(Duration::from_secs(15))
    }

    /// SIGTERM, then a successful exit within `within`: the agent's log.
    fn terminate_cleanly_within(&mut self, within: Duration) -> String {
        let sent = Instant::now();
        let status = self.terminate();
        assert!(status.success(), "{status:?}\n{}", self.log());
        assert!(
            sent.elapsed() < within,
            "{:?}\n{}",
            sent.elapsed(),
            self.log()
        );
        self.log()
    }

    fn exit_within(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread may still hold the last lines: let it drain.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not exit; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    /// Kills it if it still runs; its log is shown with a failing test (or `--nocapture`).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("agent log:\n{}", self.log());
    }
}

fn agent_log_has(agent: &Agent, text: &str) -> Option<()> {
    agent.log().contains(text).then_some(())
}

/// `compute-agent specs` with the same settings.
fn specs_json(env: &[(&str, &str)]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compute-agent"));
    for name in AGENT_ENV {
        command.env_remove(name);
    }
    let output = command
        .arg("specs")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

// ----- the gateway, the database, tokens -----

/// The gateway in a runtime of its own on a background thread, for the rest of the process.
fn start_gateway(database_port: u16) -> String {
    let port = free_port();
    let config = compute_gateway::config::Config::try_parse_from([
        "compute-gateway",
        "--database-url",
        &format!("postgres://authenticator@localhost:{database_port}/{DATABASE}"),
        "--listen-addr",
        &format!("127.0.0.1:{port}"),
        "--jwt-secret",
        SECRET,
    ])
    .unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        if let Err(error) = runtime.block_on(compute_gateway::serve(config)) {
            panic!("the gateway stopped: {error}");
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::blocking::Client::new();
    while http.get(format!("{url}/healthz")).send().is_err() {
        assert!(Instant::now() < deadline, "the gateway listens");
        std::thread::sleep(Duration::from_millis(50));
    }
    url
}

fn post(gateway: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{gateway}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[derive(Debug)]
struct Device {
    id: String,
    device_type: String,
    ram_gb: f64,
    cpu_cores: i32,
    storage_gb: f64,
    active: bool,
    stopped: bool,
    last_seen: f64,
    accelerators: Value,
    country_code: Option<String>,
    region: Option<String>,
    subregion: Option<String>,
}

struct Db(postgres::Client);

impl Db {
    /// The owner's device of that name as get_user_devices shows it: with liveness as the
    /// extension sees it now (on the shared-memory path the table's last_seen lags).
    fn device(&mut self, owner: &str, name: &str) -> Option<Device> {
        let mut transaction = self.0.transaction().unwrap();
        transaction
            .execute(
                "SELECT set_config('request.jwt.claims', $1, true)",
                &[&json!({ "sub": owner, "role": "authenticated" }).to_string()],
            )
            .unwrap();
        let row = transaction
            .query_opt(
                "SELECT id::text, device_type, ram_gb::float8, cpu_cores, storage_gb::float8,
                        is_active, deactivated_at IS NOT NULL,
                        extract(epoch FROM last_seen)::float8,
                        accelerators::text, country_code, region, subregion
                   FROM get_user_devices() WHERE device_name = $1",
                &[&name],
            )
            .unwrap();
        transaction.commit().unwrap();
        row.map(|row| Device {
            id: row.get(0),
            device_type: row.get(1),
            ram_gb: row.get(2),
            cpu_cores: row.get(3),
            storage_gb: row.get(4),
            active: row.get(5),
            stopped: row.get(6),
            last_seen: row.get(7),
            accelerators: serde_json::from_str(row.get(8)).unwrap(),
            country_code: row.get(9),
            region: row.get(10),
            subregion: row.get(11),
        })
    }

    /// (active_nodes, total_cpu_cores, total_ram_gb)
    fn stats(&mut self) -> (i64, i64, f64) {
        let row = self
            .0
            .query_one(
                "SELECT active_nodes, total_cpu_cores, total_ram_gb::float8 FROM get_network_stats()",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    }
}

/// A token as Supabase issues it to a signed-in user, expiring `seconds` from now.
fn token_expiring(sub: &str, seconds: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims =
        json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": now + seconds});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A file of this test's own, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("compute-agent-test-{name}-{}", std::process::id()));
        TempFile(path)
    }

    /// Writes a sibling and renames it over: readers see the old token or the new one.
    fn replace(&self, text: &str) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, format!("{text}\n")).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
