//! The failover of gateway/tests/failover.rs under Patroni, the failover manager users run in
//! production (Debian's `patroni` and `etcd-server`, which .ci/run installs). One etcd and two
//! Patroni nodes run from tests/patroni/patroni.yml, the README's excerpt, which preloads the
//! library through Patroni's cluster-wide configuration; the test's short windows (active 40 s,
//! sweep 1 s) go through Patroni's REST API as an operator's would. The standby is synchronous.
//!
//! Through the real gateway, given both nodes (DATABASE_URL with target_session_attrs=read-write)
//! and the standby for public reads (DATABASE_READ_URL), laptops register: some beat every
//! second, some go stale, some register just before the failure. The leader then fails as
//! production sees it: its Patroni is killed (-9) and its PostgreSQL stopped `-m immediate`.
//! Registrations go on through the gateway all the while. Patroni promotes the standby; the same
//! gateway, not restarted, registers, beats and counts again, and names the new primary in
//! /readyz; every registration it acknowledged is on the new primary; the totals never fall below
//! the old primary's and, once the new primary serves from shared memory, are exact: a laptop the
//! table marked active counts until it misses a beat on the new primary (one that never beats
//! again leaves one active window later), and the stale ones do not come back.

mod common;

use common::{eventually, token, Gateway, DATABASE};
use compute_devices_test_support::{free_port, liveness_path, SUPABASE_ROLES};
use serde_json::{json, Value};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEMPLATE: &str = include_str!("../../tests/patroni/patroni.yml");
const SUPERUSER_PASSWORD: &str = "superuser-test-password";
const REPLICATION_PASSWORD: &str = "replication-test-password";
const AUTHENTICATOR_PASSWORD: &str = "authenticator-test-password";

/// compute_devices.active_window, set through Patroni: comfortably longer than the promotion
/// may take (PROMOTION), so that the old primary's published totals are still served until the
/// new one's worker serves.
const ACTIVE_WINDOW: Duration = Duration::from_secs(40);
const BEATING: usize = 6;
const STALE: usize = 4;
/// Registered once the stale ones have left, just before the failure.
const LATE: usize = 3;
/// How long Patroni may take from the failure to the promotion (ttl 10 + loop_wait 1, and margin).
const PROMOTION: Duration = Duration::from_secs(30);
/// How long the gateway may take to serve again once Patroni has promoted the standby.
const SWITCH: Duration = Duration::from_secs(10);

#[test]
fn patroni_promotes_the_synchronous_standby_and_the_gateway_carries_on() {
    let started = Instant::now();
    let mut cluster = Patroni::start();
    let leader = cluster.wait_for_leader(Duration::from_secs(60));
    let standby = 1 - leader;
    eprintln!(
        "{:.1?}: {} leads, {} follows",
        started.elapsed(),
        cluster.nodes[leader].name,
        cluster.nodes[standby].name
    );

    // The test's windows, through Patroni's dynamic configuration (what `patronictl edit-config`
    // does): every node reloads them.
    cluster.patch_config(
        leader,
        json!({"postgresql": {"parameters": {
            "compute_devices.active_window": ACTIVE_WINDOW.as_secs(),
            "compute_devices.sweep_interval": 1,
            "compute_devices.heartbeat_interval": 1,
        }}}),
    );
    let mut admin = cluster.connect(leader, "postgres");
    admin.batch_execute(SUPABASE_ROLES).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER ROLE authenticator PASSWORD '{AUTHENTICATOR_PASSWORD}'"
        ))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .unwrap();
    let mut primary = cluster.connect(leader, DATABASE);
    primary
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();
    // The worker, which found no database at the start, is restarted by the postmaster.
    assert!(
        eventually(Duration::from_secs(40), || liveness_path(&mut primary)
            == "shared memory"),
        "the leader's worker serves {DATABASE}"
    );
    let window = format!("{}s", ACTIVE_WINDOW.as_secs());
    assert!(
        eventually(Duration::from_secs(20), || {
            cluster.show(leader, "compute_devices.active_window") == window
                && cluster.show(standby, "compute_devices.active_window") == window
        }),
        "Patroni gives both nodes the test's active window"
    );
    assert!(
        eventually(Duration::from_secs(30), || cluster.rest(standby, "/sync")
            == Some(200)),
        "the standby is Patroni's synchronous standby, streaming"
    );
    let mut on_standby = cluster.connect(standby, DATABASE);
    eprintln!("{:.1?}: both nodes serve", started.elapsed());

    let ports = [cluster.nodes[0].pg_port, cluster.nodes[1].pg_port];
    let both = format!(
        "postgres://authenticator:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{},127.0.0.1:{}/{DATABASE}?target_session_attrs=read-write",
        ports[0], ports[1]
    );
    let read = format!(
        "postgres://authenticator:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{}/{DATABASE}",
        ports[standby]
    );
    let gateway = Gateway::start(
        ports[leader],
        &[("DATABASE_URL", &both), ("DATABASE_READ_URL", &read)],
    );

    let mut acknowledged = Vec::new();
    let mut register = |name: String| {
        let device = Device::new(acknowledged.len());
        let (status, answer) = device.register(&gateway, &name);
        assert_eq!(status, 200, "{name}: {answer}");
        acknowledged.push(answer["data"]["id"].as_str().unwrap().to_string());
        device.with_id(&answer)
    };
    let beating: Vec<Device> = (0..BEATING)
        .map(|n| register(format!("beating {n}")))
        .collect();
    for n in 0..STALE {
        register(format!("stale {n}"));
    }
    let beater = Beater::start(&gateway.url, beating.clone());
    assert!(
        eventually(ACTIVE_WINDOW + Duration::from_secs(20), || {
            active_nodes(&gateway) == Some(BEATING as i64)
                && active_in_table(&mut primary) == BEATING as i64
        }),
        "the stale laptops leave the totals and the table"
    );
    let late: Vec<Device> = (0..LATE).map(|n| register(format!("late {n}"))).collect();
    let before = (BEATING + LATE) as i64;
    // The old primary's last published totals have reached the standby: what the new primary
    // serves until its worker does.
    assert!(
        eventually(Duration::from_secs(10), || network_totals(&mut on_standby)
            == before),
        "the standby counts what the primary counts"
    );
    let host = |node: usize| json!(format!("127.0.0.1:{}", ports[node]));
    assert!(
        eventually(Duration::from_secs(10), || {
            let ready = readyz(&gateway);
            ready["primary"] == host(leader)
                && ready["replicas"][0]["host"] == host(standby)
                && ready["replicas"][0]["in_rotation"] == json!(true)
        }),
        "/readyz names the leader, and the standby in rotation: {}",
        readyz(&gateway)
    );
    eprintln!(
        "{:.1?}: {before} active; the leader fails",
        started.elapsed()
    );

    // The leader fails, as production sees it; the beating laptops fall silent with it.
    beater.pause();
    let failed = Instant::now();
    cluster.fail(leader);
    drop(primary);

    // Registrations go on through the gateway while Patroni promotes the standby: every one it
    // acknowledges must be on the new primary; the others are 503 (no server to write to).
    let mut promoted_after = None;
    let mut back_after = None;
    let mut attempt = 0;
    let mut since = Vec::new();
    while back_after.is_none() {
        assert!(
            failed.elapsed() < PROMOTION + SWITCH,
            "the gateway registers again within {:?} of the failure",
            PROMOTION + SWITCH
        );
        if promoted_after.is_none() && cluster.rest(standby, "/primary") == Some(200) {
            promoted_after = Some(failed.elapsed());
        }
        let device = Device::new(acknowledged.len() + attempt);
        attempt += 1;
        let (status, answer) = device.register(&gateway, &format!("failover {attempt}"));
        match status {
            200 => {
                acknowledged.push(answer["data"]["id"].as_str().unwrap().to_string());
                since.push(device.with_id(&answer));
                back_after = Some(failed.elapsed());
            }
            503 => std::thread::sleep(Duration::from_millis(100)),
            _ => panic!("registering during the failover: {status} {answer}"),
        }
    }
    let promoted_after =
        promoted_after.unwrap_or_else(|| panic!("Patroni promoted the standby: /primary is 200"));
    let back_after = back_after.unwrap();
    eprintln!(
        "{:.1?}: after the failure, Patroni promoted the standby in {promoted_after:.1?} and the gateway registered again in {back_after:.1?}",
        started.elapsed()
    );
    let registered_since = since.len() as i64;

    // Stats and heartbeats work at once; the totals never fall below the old primary's (no
    // liveness change in its last sweep), and are exact once the new primary's worker serves.
    let mut new_primary = cluster.connect(standby, DATABASE);
    let expected = before + registered_since;
    let mut served_after = None;
    assert!(
        eventually(SWITCH, || {
            let active = active_nodes(&gateway).expect("stats answer");
            assert!(
                (before..=expected).contains(&active),
                "{active} active: the old primary's {before} kept, {registered_since} registered since"
            );
            if liveness_path(&mut new_primary) == "shared memory" {
                served_after.get_or_insert(failed.elapsed());
            }
            served_after.is_some() && active == expected
        }),
        "the new primary counts {expected} once its worker serves"
    );
    eprintln!(
        "{:.1?}: the new primary's worker serves {:.1?} after the failure",
        started.elapsed(),
        served_after.unwrap()
    );
    // The laptops that were beating count, though they have not beaten since the failure.
    assert_eq!(active_nodes(&gateway), Some(expected));
    // All but one beat again; that one leaves one active window after the new primary began
    // serving, and the stale laptops stay out.
    let silent = &beating[0];
    let keep_beating: Vec<Device> = beating[1..]
        .iter()
        .chain(&late)
        .chain(&since)
        .cloned()
        .collect();
    for device in &keep_beating {
        let (status, answer) = device.beat(&gateway);
        assert_eq!(status, 200, "a heartbeat after the failover: {answer}");
        assert_eq!(answer["data"]["is_active"], json!(true), "{answer}");
    }
    beater.resume(keep_beating);
    assert!(
        eventually(ACTIVE_WINDOW + Duration::from_secs(10), || active_nodes(
            &gateway
        ) == Some(
            expected - 1
        )),
        "{} silent since the failure leaves after one active window",
        silent.id
    );
    let gone_after = failed.elapsed();
    assert!(
        gone_after >= ACTIVE_WINDOW,
        "the silent laptop counted for an active window on the new primary (left {gone_after:.1?} after the failure)"
    );
    assert_eq!(active_in_table(&mut new_primary), expected - 1);
    assert!(beater.beats_since_resume() > 0, "heartbeats go on");

    // Every acknowledged registration is on the new primary.
    let present: i64 = new_primary
        .query_one(
            "SELECT pg_catalog.count(*) FROM public.compute_devices \
             WHERE id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]::pg_catalog.uuid[])",
            &[&acknowledged],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        present,
        acknowledged.len() as i64,
        "acknowledged registrations"
    );
    let status = new_primary
        .query_one(
            "SELECT path, in_recovery FROM public.liveness_status()",
            &[],
        )
        .unwrap();
    assert_eq!(status.get::<_, String>(0), "shared memory");
    assert!(
        !status.get::<_, bool>(1),
        "the new primary is out of recovery"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let ready = readyz(&gateway);
            ready["primary"] == host(standby) && ready["replicas"][0]["in_recovery"] == json!(false)
        }),
        "/readyz names the promoted standby as the primary: {}",
        readyz(&gateway)
    );
    eprintln!(
        "{:.1?}: done; {} registrations acknowledged, all present",
        started.elapsed(),
        acknowledged.len()
    );
}

/// A laptop of its own owner (each owner has at most compute_devices.max_devices_per_user).
#[derive(Clone)]
struct Device {
    token: String,
    id: String,
}

impl Device {
    fn new(n: usize) -> Device {
        Device {
            token: token(&format!("{n:08}-0000-4000-8000-000000000014")),
            id: String::new(),
        }
    }

    fn register(&self, gateway: &Gateway, name: &str) -> (u16, Value) {
        let body = json!({"device_name": name, "device_type": "laptop", "ram_gb": 16, "cpu_cores": 8, "storage_gb": 512});
        gateway.post(
            "/api/v1/network/devices/register",
            Some(&self.token),
            &body.to_string(),
        )
    }

    fn with_id(mut self, registered: &Value) -> Device {
        self.id = registered["data"]["id"].as_str().unwrap().to_string();
        self
    }

    fn beat(&self, gateway: &Gateway) -> (u16, Value) {
        gateway.post(
            &format!("/api/v1/network/devices/{}/heartbeat", self.id),
            Some(&self.token),
            "",
        )
    }
}

/// The network's active laptops through the gateway (its public stats), None while it cannot
/// answer.
fn active_nodes(gateway: &Gateway) -> Option<i64> {
    let (status, stats) = gateway.get("/api/v1/network/stats", None);
    (status == 200).then(|| stats["data"]["active_nodes"].as_i64().unwrap())
}

fn readyz(gateway: &Gateway) -> Value {
    gateway.get("/readyz", None).1
}

fn network_totals(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT active_nodes FROM public.get_network_stats()", &[])
        .unwrap()
        .get(0)
}

/// The rows the table marks active (is_active, not deactivated).
fn active_in_table(client: &mut postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT pg_catalog.count(*) FROM public.compute_devices \
             WHERE is_active AND deactivated_at IS NULL",
            &[],
        )
        .unwrap()
        .get(0)
}

/// Beats for its laptops through the gateway every second, on a thread of its own, until
/// dropped.
struct Beater {
    devices: Arc<Mutex<Vec<Device>>>,
    paused: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    beats: Arc<Mutex<usize>>,
}

impl Beater {
    fn start(url: &str, devices: Vec<Device>) -> Beater {
        let beater = Beater {
            devices: Arc::new(Mutex::new(devices)),
            paused: Arc::new(AtomicBool::new(false)),
            stopped: Arc::new(AtomicBool::new(false)),
            beats: Arc::new(Mutex::new(0)),
        };
        let (devices, paused, stopped, beats) = (
            beater.devices.clone(),
            beater.paused.clone(),
            beater.stopped.clone(),
            beater.beats.clone(),
        );
        let url = url.to_string();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            while !stopped.load(Ordering::SeqCst) {
                if !paused.load(Ordering::SeqCst) {
                    for device in devices.lock().unwrap().iter() {
                        let beat = http
                            .post(format!(
                                "{url}/api/v1/network/devices/{}/heartbeat",
                                device.id
                            ))
                            .bearer_auth(&device.token)
                            .send();
                        if beat.is_ok_and(|answer| answer.status().is_success()) {
                            *beats.lock().unwrap() += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        beater
    }

    /// Stops beating; the laptops' last beats were at most a second ago.
    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        // A round under way ends before the caller goes on.
        drop(self.devices.lock().unwrap());
    }

    /// Beats again, for these laptops.
    fn resume(&self, devices: Vec<Device>) {
        *self.devices.lock().unwrap() = devices;
        *self.beats.lock().unwrap() = 0;
        self.paused.store(false, Ordering::SeqCst);
    }

    fn beats_since_resume(&self) -> usize {
        *self.beats.lock().unwrap()
    }
}

impl Drop for Beater {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// One etcd and two Patroni nodes in a directory of this process's own, every process stopped
/// and the directory removed when dropped (on a panic too, after printing the logs' ends).
struct Patroni {
    root: PathBuf,
    etcd: Child,
    nodes: Vec<Node>,
    http: reqwest::blocking::Client,
}

struct Node {
    name: String,
    dir: PathBuf,
    pg_port: u16,
    rest_port: u16,
    /// Patroni, until the node fails.
    patroni: Option<Child>,
}

impl Patroni {
    fn start() -> Patroni {
        for (program, package) in [("etcd", "etcd-server"), ("patroni", "patroni")] {
            let found = Command::new(program)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            assert!(
                found,
                "`{program}` does not run: install Debian's {package} package (run .ci/run)"
            );
        }
        let root =
            std::env::temp_dir().join(format!("compute_devices-patroni-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etcd")).unwrap();
        let (client, peer) = (free_port(), free_port());
        let etcd = Command::new("etcd")
            .arg("--name=etcd")
            .arg(format!("--data-dir={}", root.join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=etcd=http://127.0.0.1:{peer}"))
            .stdout(log(&root.join("etcd.log")))
            .stderr(log(&root.join("etcd.log")))
            .spawn()
            .unwrap();
        let mut cluster = Patroni {
            root,
            etcd,
            nodes: Vec::new(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        };
        let health = format!("http://127.0.0.1:{client}/health");
        assert!(
            eventually(Duration::from_secs(20), || {
                cluster
                    .http
                    .get(&health)
                    .send()
                    .and_then(|answer| answer.json::<Value>())
                    .is_ok_and(|answer| answer["health"] == "true")
            }),
            "etcd answers on port {client}"
        );
        for name in ["node1", "node2"] {
            let node = cluster.node(name, &format!("127.0.0.1:{client}"));
            cluster.nodes.push(node);
        }
        cluster
    }

    /// A node's directory and configuration (the template filled in), and its Patroni started.
    fn node(&self, name: &str, etcd: &str) -> Node {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            let owned = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(owned.success(), "chown postgres {dir:?}");
        }
        let (pg_port, rest_port) = (free_port(), free_port());
        let config = fill(
            TEMPLATE,
            &[
                ("NODE_NAME", name),
                ("RESTAPI_PORT", &rest_port.to_string()),
                ("ETCD_HOSTS", etcd),
                ("DATABASE", DATABASE),
                ("PG_PORT", &pg_port.to_string()),
                ("NODE_DIR", dir.to_str().unwrap()),
                ("SUPERUSER_PASSWORD", SUPERUSER_PASSWORD),
                ("REPLICATION_PASSWORD", REPLICATION_PASSWORD),
            ],
        );
        let config_file = dir.join("patroni.yml");
        std::fs::write(&config_file, config).unwrap();
        let patroni = as_server("patroni")
            .arg(&config_file)
            .current_dir(&dir)
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .stdout(log(&dir.join("patroni.log")))
            .stderr(log(&dir.join("patroni.log")))
            .spawn()
            .unwrap();
        Node {
            name: name.to_string(),
            dir,
            pg_port,
            rest_port,
            patroni: Some(patroni),
        }
    }

    /// The status of a GET on a node's REST API (Patroni's health checks: /primary, /sync...),
    /// None if it does not answer.
    fn rest(&self, node: usize, path: &str) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}{path}", self.nodes[node].rest_port);
        self.http
            .get(url)
            .send()
            .ok()
            .map(|answer| answer.status().as_u16())
    }

    /// The node that holds the leader key and runs the primary.
    fn wait_for_leader(&mut self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for node in &mut self.nodes {
                if let Some(status) = node.patroni.as_mut().unwrap().try_wait().unwrap() {
                    panic!("{}'s Patroni exited: {status}", node.name);
                }
            }
            if let Some(leader) =
                (0..self.nodes.len()).find(|&n| self.rest(n, "/primary") == Some(200))
            {
                return leader;
            }
            assert!(Instant::now() < deadline, "Patroni elects a leader");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// PATCH /config: a change to the cluster-wide configuration in etcd.
    fn patch_config(&self, node: usize, change: Value) {
        let url = format!("http://127.0.0.1:{}/config", self.nodes[node].rest_port);
        let answer = self.http.patch(url).json(&change).send().unwrap();
        assert_eq!(answer.status().as_u16(), 200, "PATCH /config {change}");
    }

    fn connect(&self, node: usize, dbname: &str) -> postgres::Client {
        let port = self.nodes[node].pg_port;
        postgres::Config::new()
            .host("127.0.0.1")
            .port(port)
            .user("postgres")
            .password(SUPERUSER_PASSWORD)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
            .unwrap_or_else(|error| panic!("connect to {dbname} on port {port}: {error}"))
    }

    fn show(&self, node: usize, setting: &str) -> String {
        self.connect(node, "postgres")
            .query_one(&format!("SHOW {setting}"), &[])
            .unwrap()
            .get(0)
    }

    /// The node fails as production sees it: its Patroni killed (-9), so that it neither
    /// releases the leader key nor stops PostgreSQL, which then stops `-m immediate`.
    fn fail(&mut self, node: usize) {
        let mut patroni = self.nodes[node].patroni.take().unwrap();
        patroni.kill().unwrap();
        patroni.wait().unwrap();
        assert!(
            self.nodes[node].stop_postgres(),
            "pg_ctl stop -m immediate on {}",
            self.nodes[node].name
        );
    }
}

impl Node {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn stop_postgres(&self) -> bool {
        as_server("/usr/lib/postgresql/15/bin/pg_ctl")
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for Patroni {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for file in [self.root.join("etcd.log")]
                .into_iter()
                .chain(self.nodes.iter().map(|node| node.dir.join("patroni.log")))
            {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "--- the end of {}:\n{}",
                    file.display(),
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
        }
        // Patroni first, so that none starts PostgreSQL again; then PostgreSQL, which outlives
        // a killed Patroni.
        for node in &mut self.nodes {
            if let Some(mut patroni) = node.patroni.take() {
                let _ = patroni.kill();
                let _ = patroni.wait();
            }
        }
        for node in &self.nodes {
            if !node.stop_postgres() {
                // A postmaster that pg_ctl did not stop (a start under way): killed.
                if let Ok(pid_file) = std::fs::read_to_string(node.data().join("postmaster.pid")) {
                    if let Some(pid) = pid_file.lines().next() {
                        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
                    }
                }
            }
        }
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The template with each `${NAME}` replaced; every placeholder must be filled.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let filled = values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("${{{name}}}"), value)
        });
    let unfilled: Vec<&str> = filled
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains("${"))
        .collect();
    assert!(unfilled.is_empty(), "unfilled placeholders: {unfilled:?}");
    filled
}

/// A command run as the server's user: `postgres` when the test runs as root (PostgreSQL
/// refuses root), through setpriv, which execs it (so that its process is the command's own).
fn as_server(program: &str) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            program,
        ]);
        command
    } else {
        Command::new(program)
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// A log file, appended to by every process given it.
fn log(path: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}
