//! Replicas and failover with the real gateway. A primary with the library preloaded (short
//! windows: active 15 s, sweep 1 s) and a streaming standby made with pg_basebackup, replicated
//! synchronously so that an acknowledged registration is on both. One gateway is given both
//! hosts (DATABASE_URL with target_session_attrs=read-write) and the standby for public reads
//! (DATABASE_READ_URL). Through it 60 laptops register; 40 beat every second and 20 go stale:
//! - the standby's totals follow the primary's within the bound (the primary's snapshot age, at
//!   most 2 s, plus replication lag), and the gateway's agree; /readyz has the standby in
//!   rotation;
//! - a write on the standby is 25006 in SQL, and 405 naming a replica through a gateway whose
//!   DATABASE_URL names only the standby.
//!
//! Then, while phones register through the gateway, the primary is stopped with `-m immediate`
//! (10 of the beating laptops fall silent with it) and the standby promoted. The same gateway,
//! not restarted, carries on within seconds (heartbeats, registrations, stats; 503s only during
//! the switch) and names the new primary in /readyz; every acknowledged registration is on the
//! new primary. Its totals are the 40 laptops that were beating from the first answer on: a
//! laptop the old primary's table marked active counts until it misses a beat on the new one
//! (the 10 silent ones leave one active window after the promotion, not at once), and the 20
//! stale ones do not come back.

mod common;

use common::{token, Gateway, DATABASE};
use compute_devices_test_support::{connect, Cluster, Standby};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BEATING: usize = 40;
/// Of the beating laptops, the first SILENT stop beating when the primary stops.
const SILENT: usize = 10;
const STALE: usize = 20;
/// compute_devices.active_window on both servers: comfortably longer than the promotion, the
/// new primary's worker start and its rebuild take on a loaded machine (the old primary's
/// published totals are served until then, while younger than the window), yet short enough
/// for the stale laptops to leave, and the silent ones after the failover, within the test.
const ACTIVE_WINDOW: Duration = Duration::from_secs(15);
/// How old the primary's snapshot may be on a standby, replication lag aside.
const SNAPSHOT_AGE: Duration = Duration::from_secs(2);
/// How long the service may be out during the switch, from the promotion on.
const SWITCH: Duration = Duration::from_secs(5);

/// A gateway's answers other than success while a server stops or is promoted: PostgREST's
/// 503 (no server to write to) and 504 (a request timed out).
const SWITCHING: [u16; 2] = [503, 504];

#[test]
fn the_gateway_reads_from_the_standby_and_carries_on_after_a_failover() {
    let primary = Cluster::init(
        "failover_primary",
        &format!(
            "compute_devices.database = '{DATABASE}'\n\
             compute_devices.active_window = {}\n\
             compute_devices.sweep_interval = 1\n\
             compute_devices.heartbeat_interval = 1",
            ACTIVE_WINDOW.as_secs()
        ),
    );
    primary.start();
    let mut old_primary = primary.serve(DATABASE);
    let standby = Standby::of(&primary);
    // Synchronous from now on (the copy has no such setting: promoted, it does not wait for a
    // standby it lacks).
    old_primary
        .batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        .unwrap();
    old_primary
        .batch_execute("SELECT pg_catalog.pg_reload_conf()")
        .unwrap();
    let synchronous = common::eventually(Duration::from_secs(15), || {
        let states = old_primary
            .query("SELECT sync_state FROM pg_catalog.pg_stat_replication", &[])
            .unwrap();
        states.len() == 1 && states[0].get::<_, String>(0) == "sync"
    });
    assert!(synchronous, "the standby replicates synchronously");
    let mut on_standby = connect(standby.port(), "postgres", DATABASE);

    let (first, second) = (primary.port(), standby.port());
    let both = format!(
        "postgres://authenticator@127.0.0.1:{first},127.0.0.1:{second}/{DATABASE}?target_session_attrs=read-write"
    );
    let replica = format!("postgres://authenticator@127.0.0.1:{second}/{DATABASE}");
    let gateway = Gateway::start(
        first,
        &[
            ("DATABASE_URL", &both),
            ("DATABASE_READ_URL", &replica),
            ("REQUEST_TIMEOUT_MS", "3000"),
        ],
    );

    let laptops: Vec<Device> = (0..BEATING + STALE)
        .map(|n| {
            let token = token(&user(n));
            let id = gateway.register(&token, &format!("laptop {n}"));
            Device { token, id }
        })
        .collect();
    let beating = &laptops[..BEATING];
    let load = Load::new(&gateway.url, beating.len());

    std::thread::scope(|threads| {
        let _stop = StopOnDrop(&load.stop);
        for (n, device) in beating.iter().enumerate() {
            let load = &load;
            threads.spawn(move || load.beat(n, device));
        }

        // The stale laptops leave both servers' totals; the standby follows within the bound.
        let (on_primary, on_replica, lag) =
            when_both_count(&mut old_primary, &mut on_standby, BEATING as i64);
        let bound = SNAPSHOT_AGE + lag + Duration::from_millis(300);
        eprintln!(
            "the standby counted {BEATING} active {:?} after the primary (bound {bound:?})",
            on_replica.saturating_duration_since(on_primary)
        );
        assert!(
            on_replica <= on_primary + bound,
            "the standby counted {BEATING} active {:?} after the primary (bound {bound:?})",
            on_replica.saturating_duration_since(on_primary)
        );
        let status = on_standby
            .query_one(
                "SELECT path, in_recovery, snapshot_age_seconds FROM liveness_status()",
                &[],
            )
            .unwrap();
        assert_eq!(status.get::<_, String>(0), "published totals");
        assert!(status.get::<_, bool>(1), "the standby is in recovery");
        let age = Duration::from_secs_f64(status.get::<_, f64>(2));
        assert!(age <= bound, "the standby's snapshot is {age:?} old");

        // With the set steady, every total agrees: in SQL, and through the gateway, whose
        // public reads go to the standby.
        let agree = common::eventually(bound, || {
            totals(&mut old_primary) == totals(&mut on_standby)
                && by_type(&mut old_primary) == by_type(&mut on_standby)
        });
        assert!(
            agree,
            "primary {} {}, standby {} {}",
            totals(&mut old_primary),
            by_type(&mut old_primary),
            totals(&mut on_standby),
            by_type(&mut on_standby)
        );
        let expected = totals(&mut old_primary);
        assert_eq!(expected["active_nodes"], json!(BEATING));
        let served = common::eventually(bound, || {
            let (status, answer) = gateway.get("/api/v1/network/stats", None);
            status == 200 && same_totals(&answer["data"], &expected)
        });
        assert!(
            served,
            "/api/v1/network/stats: {:?}, the primary's: {expected}",
            gateway.get("/api/v1/network/stats", None)
        );
        let (status, ready) = gateway.get("/readyz", None);
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["primary"], json!(format!("127.0.0.1:{first}")));
        assert_eq!(
            (
                ready["replicas"][0]["host"].clone(),
                ready["replicas"][0]["in_rotation"].clone()
            ),
            (json!(format!("127.0.0.1:{second}")), json!(true)),
            "/readyz: {ready}"
        );
        let replica_reads = || gateway.sample(r#"gateway_reads_total{target="replica"}"#);
        let before = replica_reads();
        let (status, answer) = gateway.get("/rpc/get_network_stats_by_type", None);
        assert_eq!(
            (status, laptops_in(&answer)),
            (200, BEATING as i64),
            "{answer}"
        );
        assert_eq!(replica_reads(), before + 1.0, "the standby served the read");

        writes_on_the_standby_are_refused(second, &beating[0]);

        // The failover, while phones register.
        threads.spawn(|| load.register_phones());
        let registered = common::eventually(Duration::from_secs(10), || {
            load.registered.lock().unwrap().len() >= 10
        });
        assert!(registered, "phones register before the failover");
        load.silence.store(true, Ordering::Relaxed);
        primary.stop_immediate();
        let killed = Instant::now();
        standby.promote();
        let promoted = Instant::now();
        eprintln!("stopped and promoted in {:?}", promoted - killed);

        // From the first answer on, the new primary counts the laptops that were beating, in SQL
        // and through the gateway: the silent ones until they have missed the active window on
        // it (from its start of serving, after the promotion), then only those still beating.
        // The stale ones never come back.
        let mut new_primary = connect(second, "postgres", DATABASE);
        let all_count = promoted + ACTIVE_WINDOW - Duration::from_secs(1);
        let settled = promoted + ACTIVE_WINDOW + Duration::from_secs(5);
        let mut stats_back = None;
        let mut counts = Vec::new();
        loop {
            let asked = Instant::now();
            let in_sql = active_laptops(&mut new_primary);
            let (status, answer) = gateway.get("/api/v1/network/stats/by-type", None);
            let through_gateway = if status == 200 {
                stats_back.get_or_insert(asked);
                Some(laptops_in(&answer["data"]))
            } else {
                assert!(
                    stats_back.is_none() && SWITCHING.contains(&status),
                    "stats through the gateway, {:?} after the promotion: {status} {answer}",
                    asked - promoted
                );
                None
            };
            counts.push((asked - promoted, in_sql, through_gateway));
            let expected = if asked < all_count {
                BEATING..=BEATING
            } else {
                BEATING - SILENT..=BEATING
            };
            let fine = |count: i64| expected.contains(&(count as usize));
            assert!(
                fine(in_sql) && through_gateway.is_none_or(fine),
                "active laptops after the promotion (when, SQL, gateway): {counts:?}"
            );
            let beating = (BEATING - SILENT) as i64;
            if asked > all_count && in_sql == beating && through_gateway == Some(beating) {
                eprintln!("active laptops after the promotion (when, SQL, gateway): {counts:?}");
                break;
            }
            assert!(
                asked < settled,
                "the silent laptops leave: (when, SQL, gateway): {counts:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let back = |at: Option<Instant>, what: &str| {
            let at = at.unwrap_or_else(|| panic!("{what} never worked after the promotion"));
            let after = at.saturating_duration_since(promoted);
            assert!(
                after <= SWITCH,
                "{what} worked again {after:?} after the promotion"
            );
            after
        };
        let stats = back(stats_back, "stats through the gateway");
        let registration = back(load.registered_after(promoted), "registration");
        let heartbeats = (SILENT..BEATING)
            .map(|n| {
                let what = format!("laptop {n}'s heartbeat");
                back(load.beat_after(n, promoted), &what)
            })
            .max();
        eprintln!(
            "back after the promotion: stats {stats:?}, registration {registration:?}, \
             heartbeats {heartbeats:?}; {} answers 503 or 504",
            load.switching.load(Ordering::Relaxed)
        );
        let (status, ready) = gateway.get("/readyz", None);
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["primary"], json!(format!("127.0.0.1:{second}")));
        load.stop.store(true, Ordering::Relaxed);
    });

    let unexpected = load.unexpected.lock().unwrap();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let registered = load.registered.lock().unwrap();
    let ids: Vec<&str> = registered.iter().map(|(id, _)| id.as_str()).collect();
    let mut new_primary = connect(second, "postgres", DATABASE);
    let kept: i64 = new_primary
        .query_one(
            "SELECT count(*) FROM compute_devices WHERE id = ANY ($1::text[]::uuid[])",
            &[&ids],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        kept,
        ids.len() as i64,
        "every acknowledged registration is on the new primary"
    );
    // The view agrees, device by device.
    let laptop_ids: Vec<&str> = laptops.iter().map(|device| device.id.as_str()).collect();
    let active: Vec<bool> = new_primary
        .query(
            "SELECT is_active FROM compute_devices_live AS d
               JOIN unnest($1::text[]::uuid[]) WITH ORDINALITY AS laptop (id, n) USING (id)
              ORDER BY n",
            &[&laptop_ids],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let beat_on = |n: usize| (SILENT..BEATING).contains(&n);
    assert_eq!(
        active,
        (0..BEATING + STALE).map(beat_on).collect::<Vec<_>>(),
        "only the laptops beating on the new primary are active"
    );
}

/// Writes on the standby: 25006 in SQL, PostgREST's 405 through a gateway whose DATABASE_URL
/// names only it, with a message saying it is a replica.
fn writes_on_the_standby_are_refused(port: u16, device: &Device) {
    let mut client = connect(port, "authenticator", DATABASE);
    let mut transaction = client.transaction().unwrap();
    transaction
        .execute(
            "SELECT pg_catalog.set_config('request.jwt.claims', $1, true)",
            &[&json!({"sub": user(0), "role": "authenticated"}).to_string()],
        )
        .unwrap();
    transaction
        .batch_execute("SET LOCAL ROLE authenticated")
        .unwrap();
    let error = transaction
        .query(
            "SELECT * FROM send_heartbeat(device_id => $1::text::uuid)",
            &[&device.id],
        )
        .unwrap_err();
    let error = error.as_db_error().expect("a database error");
    assert_eq!(error.code().code(), "25006", "{error}");
    assert!(error.message().contains("read-only replica"), "{error}");

    let on_standby = Gateway::start(port, &[]);
    let register = json!({"device_name": "on the standby", "device_type": "phone", "ram_gb": 4, "cpu_cores": 4, "storage_gb": 64}).to_string();
    for (path, body) in [
        (
            format!("/api/v1/network/devices/{}/heartbeat", device.id),
            String::new(),
        ),
        (
            "/api/v1/network/devices/register".to_string(),
            register.clone(),
        ),
        ("/rpc/register_device".to_string(), register),
    ] {
        let (status, answer) = on_standby.post(&path, Some(&device.token), &body);
        assert_eq!(status, 405, "{path}: {answer}");
        let error = if path.starts_with("/rpc/") {
            &answer
        } else {
            &answer["error"]
        };
        assert_eq!(error["code"], json!("25006"), "{path}: {answer}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("read-only replica"), "{path}: {answer}");
    }
}

struct Device {
    token: String,
    id: String,
}

fn user(n: usize) -> String {
    format!("{n:08}-0000-4000-8000-00000000fa11")
}

/// What the threads that load the gateway saw.
struct Load {
    url: String,
    http: reqwest::blocking::Client,
    stop: AtomicBool,
    /// Laptops 0..SILENT stop beating.
    silence: AtomicBool,
    /// When each beating laptop's heartbeats were answered 200.
    beats: Vec<Mutex<Vec<Instant>>>,
    /// The phones registered (answered 200): id, when.
    registered: Mutex<Vec<(String, Instant)>>,
    /// SWITCHING answers.
    switching: AtomicUsize,
    /// Answers neither a success nor SWITCHING, and failed requests.
    unexpected: Mutex<Vec<String>>,
}

impl Load {
    fn new(url: &str, beating: usize) -> Load {
        Load {
            url: url.to_string(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            stop: AtomicBool::new(false),
            silence: AtomicBool::new(false),
            switching: AtomicUsize::new(0),
            beats: (0..beating).map(|_| Mutex::default()).collect(),
            registered: Mutex::default(),
            unexpected: Mutex::default(),
        }
    }

    /// Heartbeats for laptop `n`, one a second, until stopped (or silenced, for the first
    /// SILENT).
    fn beat(&self, n: usize, device: &Device) {
        let path = format!("/api/v1/network/devices/{}/heartbeat", device.id);
        let silenced = || n < SILENT && self.silence.load(Ordering::Relaxed);
        while !self.stop.load(Ordering::Relaxed) && !silenced() {
            let sent = Instant::now();
            if self.post(&path, &device.token, None).is_some() {
                self.beats[n].lock().unwrap().push(sent);
            }
            std::thread::sleep(Duration::from_secs(1).saturating_sub(sent.elapsed()));
        }
    }

    /// Registers phones, each of a user of its own, until stopped.
    fn register_phones(&self) {
        let mut n = 1000;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let body = json!({"device_name": format!("phone {n}"), "device_type": "phone", "ram_gb": 4, "cpu_cores": 4, "storage_gb": 64});
            let sent = Instant::now();
            let answer = self.post(
                "/api/v1/network/devices/register",
                &token(&user(n)),
                Some(body),
            );
            if let Some(answer) = answer {
                let id = answer["data"]["id"].as_str().unwrap().to_string();
                self.registered.lock().unwrap().push((id, sent));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The answer to a POST if it is 200; a SWITCHING answer is None, anything else is kept
    /// in `unexpected` (and None).
    fn post(&self, path: &str, token: &str, body: Option<Value>) -> Option<Value> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send() {
            Ok(response) => response,
            Err(error) => {
                self.unexpected
                    .lock()
                    .unwrap()
                    .push(format!("{path}: {error}"));
                return None;
            }
        };
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        match status {
            200 => Some(serde_json::from_str(&text).unwrap()),
            status if SWITCHING.contains(&status) => {
                self.switching.fetch_add(1, Ordering::Relaxed);
                None
            }
            status => {
                self.unexpected
                    .lock()
                    .unwrap()
                    .push(format!("{path}: {status} {text}"));
                None
            }
        }
    }

    /// The first heartbeat of laptop `n` sent after `after` and answered 200.
    fn beat_after(&self, n: usize, after: Instant) -> Option<Instant> {
        let beats = self.beats[n].lock().unwrap();
        beats.iter().copied().find(|&sent| sent >= after)
    }

    /// The first registration sent after `after` and answered 200.
    fn registered_after(&self, after: Instant) -> Option<Instant> {
        let registered = self.registered.lock().unwrap();
        registered
            .iter()
            .map(|&(_, sent)| sent)
            .find(|&sent| sent >= after)
    }
}

/// Stops the load when dropped, so that a failed assertion does not leave its threads running
/// (and the scope waiting for them).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// When each server first counted `active` devices (polled every 100 ms, within an active window
/// and 14 s), and the most replication lag (replay_lag) the primary reported meanwhile.
fn when_both_count(
    primary: &mut postgres::Client,
    standby: &mut postgres::Client,
    active: i64,
) -> (Instant, Instant, Duration) {
    let deadline = Instant::now() + ACTIVE_WINDOW + Duration::from_secs(14);
    let (mut on_primary, mut on_standby, mut lag) = (None, None, Duration::ZERO);
    while on_primary.is_none() || on_standby.is_none() {
        assert!(
            Instant::now() < deadline,
            "both count {active} active devices: primary {}, standby {}",
            totals(primary),
            totals(standby)
        );
        if on_primary.is_none() && active_nodes(primary) == active {
            on_primary = Some(Instant::now());
        }
        if on_standby.is_none() && active_nodes(standby) == active {
            on_standby = Some(Instant::now());
        }
        let replay: f64 = primary
            .query_one(
                "SELECT COALESCE(max(EXTRACT(epoch FROM replay_lag)), 0)::float8
                   FROM pg_catalog.pg_stat_replication",
                &[],
            )
            .unwrap()
            .get(0);
        lag = lag.max(Duration::from_secs_f64(replay));
        std::thread::sleep(Duration::from_millis(100));
    }
    (on_primary.unwrap(), on_standby.unwrap(), lag)
}

fn totals(client: &mut postgres::Client) -> Value {
    let text: String = client
        .query_one(
            "SELECT pg_catalog.row_to_json(s)::text FROM get_network_stats() AS s",
            &[],
        )
        .unwrap()
        .get(0);
    serde_json::from_str(&text).unwrap()
}

fn by_type(client: &mut postgres::Client) -> Value {
    let text: String = client
        .query_one(
            "SELECT pg_catalog.json_agg(s)::text FROM get_network_stats_by_type() AS s",
            &[],
        )
        .unwrap()
        .get(0);
    serde_json::from_str(&text).unwrap()
}

fn active_nodes(client: &mut postgres::Client) -> i64 {
    totals(client)["active_nodes"].as_i64().unwrap()
}

fn active_laptops(client: &mut postgres::Client) -> i64 {
    laptops_in(&by_type(client))
}

/// The laptops' active_nodes in get_network_stats_by_type's rows.
fn laptops_in(rows: &Value) -> i64 {
    rows.as_array()
        .and_then(|rows| rows.iter().find(|row| row["device_type"] == "laptop"))
        .and_then(|row| row["active_nodes"].as_i64())
        .unwrap_or_else(|| panic!("the laptops' row in {rows}"))
}

/// The same network totals, however each side writes its numbers.
fn same_totals(left: &Value, right: &Value) -> bool {
    [
        "active_nodes",
        "total_ram_gb",
        "total_cpu_cores",
        "total_storage_gb",
        "total_compute_score",
    ]
    .iter()
    .all(|field| {
        let number = |value: &Value| match &value[field] {
            Value::String(text) => text.parse::<f64>().ok(),
            value => value.as_f64(),
        };
        number(left).is_some() && number(left) == number(right)
    })
}
