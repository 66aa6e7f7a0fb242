//! The databases the gateway talks to, and which one runs each statement.
//!
//! - The **primary** (`DATABASE_URL`) runs every write, owners' reads, relation reads, the schema
//!   cache's load and the heartbeat batches. Its URL may name several hosts with
//!   `target_session_attrs=read-write`: each new connection goes to whichever host is then
//!   read-write (tokio-postgres tries them in order, as libpq does), and the pool replaces the
//!   connections a server closed, so after a failover the gateway finds the new primary by
//!   itself. Until it does, requests get 503.
//! - The **replicas** (`DATABASE_READ_URL`, optional; each host its own pool) serve the public
//!   reads ([`Target::Replica`], decided by `crate::dispatch`), round-robin over those in
//!   rotation, else the primary does. A checker per replica ([`Replica::watch`]) takes it out of
//!   rotation while it is down or its replay lags past `DATABASE_READ_MAX_LAG_MS`. A read that a
//!   replica could not serve (its connection failed, or recovery cancelled it) is run once more,
//!   by the primary.

use crate::db;
use crate::errors::ApiError;
use axum::http::StatusCode;
use deadpool_postgres::Pool;
use serde::Serialize;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls, Statement};

/// Which database runs a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    /// A replica in rotation if there is one, else the primary.
    Replica,
}

/// How often each replica is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One host of a connection string.
#[derive(Debug)]
struct Endpoint {
    /// `host:port` as configured: the label in `/readyz` and `/metrics` (a bounded set: the
    /// hosts come from the configuration only).
    name: String,
    /// What resolves to the host's addresses; None for a Unix socket.
    address: Option<String>,
    port: u16,
    /// The settings to connect to this host alone.
    config: Config,
}

/// Each host of `config` on its own, with every other setting kept. As libpq: a single port
/// serves every host, none means 5432, and a `hostaddr` is the address of the host at its place.
fn endpoints(config: &Config) -> Vec<Endpoint> {
    let hosts = config.get_hosts();
    let addresses = config.get_hostaddrs();
    let ports = config.get_ports();
    (0..hosts.len().max(addresses.len()))
        .map(|i| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let mut single = without_hosts(config);
            single.port(port);
            if let Some(address) = addresses.get(i) {
                single.hostaddr(*address);
            }
            let shown = match hosts.get(i) {
                Some(Host::Tcp(host)) => {
                    single.host(host.as_str());
                    host.clone()
                }
                Some(Host::Unix(path)) => {
                    single.host_path(path);
                    path.display().to_string()
                }
                None => addresses.get(i).map(IpAddr::to_string).unwrap_or_default(),
            };
            let address = match (addresses.get(i), hosts.get(i)) {
                (Some(address), _) => Some(address.to_string()),
                (None, Some(Host::Tcp(host))) => Some(host.clone()),
                _ => None,
            };
            let name = if shown.contains(':') && address.is_some() {
                format!("[{shown}]:{port}")
            } else {
                format!("{shown}:{port}")
            };
            Endpoint {
                name,
                address,
                port,
                config: single,
            }
        })
        .collect()
}

/// `config`'s settings but its hosts, addresses and ports.
fn without_hosts(config: &Config) -> Config {
    let mut single = Config::new();
    if let Some(user) = config.get_user() {
        single.user(user);
    }
    if let Some(password) = config.get_password() {
        single.password(password);
    }
    if let Some(dbname) = config.get_dbname() {
        single.dbname(dbname);
    }
    if let Some(options) = config.get_options() {
        single.options(options);
    }
    if let Some(name) = config.get_application_name() {
        single.application_name(name);
    }
    if let Some(timeout) = config.get_connect_timeout() {
        single.connect_timeout(*timeout);
    }
    if let Some(timeout) = config.get_tcp_user_timeout() {
        single.tcp_user_timeout(*timeout);
    }
    if let Some(interval) = config.get_keepalives_interval() {
        single.keepalives_interval(interval);
    }
    if let Some(retries) = config.get_keepalives_retries() {
        single.keepalives_retries(retries);
    }
    single
        .ssl_mode(config.get_ssl_mode())
        .ssl_negotiation(config.get_ssl_negotiation())
        .keepalives(config.get_keepalives())
        .keepalives_idle(config.get_keepalives_idle())
        .target_session_attrs(config.get_target_session_attrs())
        .channel_binding(config.get_channel_binding())
        .load_balance_hosts(config.get_load_balance_hosts());
    single
}

/// A replica's state, as its last check (or a read it failed) left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub in_rotation: bool,
    /// `pg_is_in_recovery()`: false once it has been promoted (it still serves reads).
    pub in_recovery: Option<bool>,
    /// Replay lag, in milliseconds: 0 when it has replayed all it received.
    pub lag_ms: Option<u64>,
    /// Why it is out of rotation.
    pub reason: Option<Reason>,
}

impl Health {
    fn out(reason: Reason) -> Health {
        Health {
            in_rotation: false,
            in_recovery: None,
            lag_ms: None,
            reason: Some(reason),
        }
    }
}

/// Why a replica is out of rotation: one of a few words, as the unauthenticated `/readyz` shows
/// it; what went wrong in detail (a connection error, say) is logged, never shown there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotCheckedYet,
    /// It could not be reached, did not answer a check in time, or failed a read.
    Down,
    /// In recovery without a WAL receiver: it gets nothing new from its primary (which may be
    /// gone), so that it has replayed all it received says nothing of how far behind it is.
    NotStreaming,
    /// Its replay lag is past `DATABASE_READ_MAX_LAG_MS`, or cannot be told yet.
    Lagging,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotCheckedYet => "not checked yet",
            Reason::Down => "down",
            Reason::NotStreaming => "not streaming",
            Reason::Lagging => "lagging",
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a check reads from a replica.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe {
    in_recovery: bool,
    /// A WAL receiver is running (connected to its primary).
    streaming: bool,
    /// None when it cannot be told: in recovery, with nothing streamed, nor replayed since start.
    lag_ms: Option<f64>,
}

/// Whether it is in recovery; whether a WAL receiver runs (the view shows a row only once the
/// receiver has connected, and to a role without pg_read_all_stats only its pid, which is enough
/// to count); and the replay lag as monitoring tools read it: 0 when everything received is
/// replayed (an idle primary sends nothing, and nothing is behind), else the age of the last
/// transaction replayed; 0 on a server not in recovery.
const PROBE: &str = "\
SELECT pg_catalog.pg_is_in_recovery(), \
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_wal_receiver) OPERATOR(pg_catalog.>) 0, \
       CASE WHEN NOT pg_catalog.pg_is_in_recovery() \
              OR pg_catalog.pg_last_wal_receive_lsn() OPERATOR(pg_catalog.=) pg_catalog.pg_last_wal_replay_lsn() \
            THEN 0::pg_catalog.float8 \
            ELSE pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.pg_last_xact_replay_timestamp()) \
                 OPERATOR(pg_catalog.*) 1000 \
       END";

/// The verdict of a check: in rotation when it answered, streams from its primary if it is in
/// recovery (a promoted replica is a primary: it stays in), and its lag is known and within
/// `max_lag`. With it, the detail to log when it is down.
fn judge(probe: Result<Probe, String>, max_lag: Duration) -> (Health, Option<String>) {
    let probe = match probe {
        Ok(probe) => probe,
        Err(error) => return (Health::out(Reason::Down), Some(error)),
    };
    let lag_ms = probe.lag_ms.map(|lag| lag.max(0.0).round() as u64);
    let reason = match lag_ms {
        _ if probe.in_recovery && !probe.streaming => Some(Reason::NotStreaming),
        Some(lag) if u128::from(lag) <= max_lag.as_millis() => None,
        _ => Some(Reason::Lagging),
    };
    let health = Health {
        in_rotation: reason.is_none(),
        in_recovery: Some(probe.in_recovery),
        lag_ms,
        reason,
    };
    (health, None)
}

pub struct Replica {
    pub name: String,
    config: Config,
    pool: Pool,
    /// Its health, and the detail of why it is out (logged when either changes).
    health: Mutex<(Health, Option<String>)>,
}

impl Replica {
    pub fn health(&self) -> Health {
        self.health.lock().expect("not poisoned").0.clone()
    }

    fn set(&self, health: Health, detail: Option<String>) {
        let (was, was_detail) = std::mem::replace(
            &mut *self.health.lock().expect("not poisoned"),
            (health.clone(), detail.clone()),
        );
        let host = [("host", self.name.clone())];
        let in_rotation = if health.in_rotation { 1.0 } else { 0.0 };
        metrics::gauge!("gateway_database_replica_in_rotation", &host).set(in_rotation);
        metrics::gauge!("gateway_database_replica_lag_seconds", &host)
            .set(health.lag_ms.map_or(f64::NAN, |lag| lag as f64 / 1000.0));
        if health.in_rotation && !was.in_rotation {
            tracing::info!(replica = %self.name, lag_ms = health.lag_ms, "a replica is in rotation");
        } else if !health.in_rotation && (was.reason, was_detail) != (health.reason, detail.clone())
        {
            tracing::warn!(
                replica = %self.name,
                reason = health.reason.map_or("", Reason::as_str),
                lag_ms = health.lag_ms,
                detail = detail.as_deref().unwrap_or(""),
                "a replica is out of rotation"
            );
        }
    }

    /// Checks the replica every second, for as long as the gateway runs; a check that takes
    /// longer than `timeout` counts as down.
    async fn watch(self: Arc<Self>, max_lag: Duration, timeout: Duration) {
        let mut session = None;
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let probe = match tokio::time::timeout(timeout, self.probe(&mut session)).await {
                Ok(probe) => probe.map_err(|error| db::describe(&error)),
                Err(_) => Err(db::no_answer(timeout)),
            };
            if probe.is_err() {
                // Connect afresh next time.
                session = None;
            }
            let (health, detail) = judge(probe, max_lag);
            self.set(health, detail);
        }
    }

    /// One check, on the checker's own connection (made again when it broke).
    async fn probe(
        &self,
        session: &mut Option<(Client, Statement)>,
    ) -> Result<Probe, tokio_postgres::Error> {
        if session
            .as_ref()
            .is_none_or(|(client, _)| client.is_closed())
        {
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(connection);
            let statement = client.prepare(PROBE).await?;
            *session = Some((client, statement));
        }
        let (client, statement) = session.as_ref().expect("connected above");
        let row = client.query_one(statement, &[]).await?;
        Ok(Probe {
            in_recovery: row.get(0),
            streaming: row.get(1),
            lag_ms: row.get(2),
        })
    }
}

/// Whether a replica's failure is the replica's, not the read's: it could not be reached, or
/// recovery cancelled the read (40001, a conflict with recovery). The primary runs it then.
fn replica_failed(error: &ApiError) -> bool {
    error.status == StatusCode::SERVICE_UNAVAILABLE || error.code == "40001"
}

pub struct Databases {
    primary: Pool,
    primary_hosts: Vec<Endpoint>,
    replicas: Vec<Arc<Replica>>,
    /// The turn of the round-robin.
    next: AtomicUsize,
}

impl Databases {
    /// The pools (no connection is made yet): the primary's with `primary`'s hosts, and one per
    /// host of `replicas`, each of `size` connections at most.
    pub fn new(
        primary: Config,
        replicas: Option<Config>,
        size: usize,
        connect_timeout: Duration,
    ) -> Result<Databases, String> {
        let primary_hosts = endpoints(&primary);
        let replicas = match replicas.as_ref().map(endpoints) {
            Some(hosts) if hosts.is_empty() => {
                return Err("DATABASE_READ_URL names no host".to_string())
            }
            hosts => hosts.unwrap_or_default(),
        };
        let replicas = replicas
            .into_iter()
            .map(|endpoint| {
                let pool = db::pool(endpoint.config.clone(), size, connect_timeout)?;
                Ok(Arc::new(Replica {
                    name: endpoint.name,
                    config: endpoint.config,
                    pool,
                    health: Mutex::new((Health::out(Reason::NotCheckedYet), None)),
                }))
            })
            .collect::<Result<Vec<_>, String>>()?;
        for replica in &replicas {
            replica.set(replica.health(), None);
        }
        for target in ["replica", "primary"] {
            metrics::counter!("gateway_reads_total", "target" => target).increment(0);
        }
        Ok(Databases {
            primary: db::pool(primary, size, connect_timeout)?,
            primary_hosts,
            replicas,
            next: AtomicUsize::new(0),
        })
    }

    /// Starts each replica's checker.
    pub fn check_replicas(&self, max_lag: Duration, timeout: Duration) {
        for replica in &self.replicas {
            tokio::spawn(replica.clone().watch(max_lag, timeout));
        }
    }

    pub fn primary(&self) -> &Pool {
        &self.primary
    }

    pub fn replicas(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    /// Runs `run` with the pool of `target`. A public read goes to the next replica in
    /// rotation; if that replica fails it (see [`replica_failed`]), it leaves the rotation until
    /// its next check and the primary runs the read. Public reads are counted by who served them.
    pub async fn run<T, F, Fut>(&self, target: Target, run: F) -> Result<T, ApiError>
    where
        F: Fn(Pool) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        if target == Target::Primary {
            return run(self.primary.clone()).await;
        }
        if let Some(replica) = self.next_replica() {
            match run(replica.pool.clone()).await {
                Err(error) if replica_failed(&error) => {
                    tracing::warn!(
                        replica = %replica.name,
                        code = %error.code,
                        message = %error.message,
                        "a read failed on a replica: the primary serves it"
                    );
                    if error.status == StatusCode::SERVICE_UNAVAILABLE {
                        let detail = format!("a read failed: {}", error.message);
                        replica.set(Health::out(Reason::Down), Some(detail));
                    }
                }
                outcome => {
                    metrics::counter!("gateway_reads_total", "target" => "replica").increment(1);
                    return outcome;
                }
            }
        }
        metrics::counter!("gateway_reads_total", "target" => "primary").increment(1);
        run(self.primary.clone()).await
    }

    /// The next replica in rotation, round-robin; None when none is.
    fn next_replica(&self) -> Option<&Arc<Replica>> {
        let in_rotation: Vec<&Arc<Replica>> = self
            .replicas
            .iter()
            .filter(|replica| replica.health().in_rotation)
            .collect();
        if in_rotation.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(in_rotation[turn % in_rotation.len()])
    }

    /// The configured host (`host:port`) the primary pool's connections reach now; 503 when
    /// none can be reached.
    pub async fn primary_host(&self) -> Result<String, ApiError> {
        let (address, port) = db::server(&self.primary).await?;
        Ok(recognise(&self.primary_hosts, address, port).await)
    }
}

#[cfg(test)]
impl Databases {
    /// Puts every replica in rotation, as a check that found it streaming without lag would.
    pub(crate) fn admit_replicas(&self) {
        for replica in &self.replicas {
            replica.set(tests::in_rotation(), None);
        }
    }
}

/// Which of `hosts` a server at `address` and `port` is (both None on a Unix socket): the one
/// host on that port, else the first whose name resolves to the address; else the address.
async fn recognise(hosts: &[Endpoint], address: Option<IpAddr>, port: Option<u16>) -> String {
    let candidates: Vec<&Endpoint> = hosts
        .iter()
        .filter(|host| match port {
            Some(port) => host.address.is_some() && host.port == port,
            None => host.address.is_none(),
        })
        .collect();
    if let [only] = candidates[..] {
        return only.name.clone();
    }
    if let Some(address) = address {
        for candidate in &candidates {
            let Some(name) = &candidate.address else {
                continue;
            };
            if let Ok(mut resolved) = tokio::net::lookup_host((name.as_str(), candidate.port)).await
            {
                if resolved.any(|socket| socket.ip() == address) {
                    return candidate.name.clone();
                }
            }
        }
    }
    match (address, port) {
        (Some(address), Some(port)) => std::net::SocketAddr::new(address, port).to_string(),
        _ => "a Unix socket".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Config {
        url.parse().unwrap()
    }

    #[test]
    fn each_host_keeps_every_other_setting() {
        let settings = "db?application_name=a&connect_timeout=3&keepalives_idle=30\
                        &target_session_attrs=read-only&sslmode=disable&options=-c%20x%3D1";
        let split = endpoints(&parse(&format!(
            "postgres://u:p@h1:5433,10.0.0.2,[::1]:7/{settings}"
        )));
        let names: Vec<&str> = split.iter().map(|host| host.name.as_str()).collect();
        assert_eq!(names, ["h1:5433", "10.0.0.2:5432", "[::1]:7"]);
        for (host, alone) in split.iter().zip(["h1:5433", "10.0.0.2:5432", "[::1]:7"]) {
            let alone = parse(&format!("postgres://u:p@{alone}/{settings}"));
            assert_eq!(format!("{:?}", host.config), format!("{alone:?}"));
            assert_eq!(host.config.get_password(), Some(&b"p"[..]));
        }
        // One port serves every host; hostaddr stands in for the host at its place.
        let split = endpoints(&parse(
            "host=a,/run/pg port=6000 hostaddr=10.0.0.1,10.0.0.2 user=u",
        ));
        let names: Vec<&str> = split.iter().map(|host| host.name.as_str()).collect();
        assert_eq!(names, ["a:6000", "/run/pg:6000"]);
        assert_eq!(split[1].address.as_deref(), Some("10.0.0.2"));
        assert_eq!(
            split[0].config.get_hostaddrs(),
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(endpoints(&parse("host=/run/pg user=u"))[0].address, None);
    }

    fn probe(in_recovery: bool, streaming: bool, lag_ms: Option<f64>) -> Result<Probe, String> {
        Ok(Probe {
            in_recovery,
            streaming,
            lag_ms,
        })
    }

    #[test]
    fn a_replica_is_in_rotation_when_it_streams_within_the_lag() {
        let max = Duration::from_millis(5000);
        assert_eq!(
            judge(probe(true, true, Some(4999.6)), max),
            (
                Health {
                    in_rotation: true,
                    in_recovery: Some(true),
                    lag_ms: Some(5000),
                    reason: None
                },
                None
            )
        );
        assert!(judge(probe(true, true, Some(5000.0)), max).0.in_rotation);
        let late = judge(probe(true, true, Some(5001.0)), max).0;
        assert_eq!(
            (late.in_rotation, late.lag_ms, late.reason),
            (false, Some(5001), Some(Reason::Lagging))
        );
        // A promoted replica still serves; a clock a little behind is no negative lag.
        assert!(judge(probe(false, false, Some(0.0)), max).0.in_rotation);
        assert_eq!(judge(probe(true, true, Some(-3.0)), max).0.lag_ms, Some(0));
        let unknown = judge(probe(true, true, None), max).0;
        assert_eq!(
            (unknown.in_rotation, unknown.reason),
            (false, Some(Reason::Lagging))
        );
        // Without its WAL receiver it has "replayed all it received" (lag 0), yet gets nothing.
        let cut_off = judge(probe(true, false, Some(0.0)), max).0;
        assert_eq!(
            (cut_off.in_rotation, cut_off.lag_ms, cut_off.reason),
            (false, Some(0), Some(Reason::NotStreaming))
        );
        // The detail is logged; /readyz shows the category only.
        let error = "password authentication failed for user \"authenticator\"";
        let (down, detail) = judge(Err(error.into()), max);
        assert_eq!(
            (down.in_rotation, down.reason, detail.as_deref()),
            (false, Some(Reason::Down), Some(error))
        );
        assert_eq!(
            serde_json::to_value(&down).unwrap(),
            serde_json::json!({"in_rotation": false, "in_recovery": null, "lag_ms": null, "reason": "down"})
        );
        let reasons = [
            Reason::NotCheckedYet,
            Reason::Down,
            Reason::NotStreaming,
            Reason::Lagging,
        ];
        let shown: Vec<serde_json::Value> = reasons
            .iter()
            .map(|reason| serde_json::json!(reason))
            .collect();
        assert_eq!(
            shown,
            ["not checked yet", "down", "not streaming", "lagging"]
        );
    }

    fn databases(replicas: &str) -> Databases {
        let second = Duration::from_secs(1);
        let primary = parse("postgres://u@127.0.0.1:1/db");
        Databases::new(primary, Some(parse(replicas)), 1, second).unwrap()
    }

    pub(super) fn in_rotation() -> Health {
        judge(probe(true, true, Some(0.0)), Duration::ZERO).0
    }

    #[test]
    fn reads_go_round_robin_over_the_replicas_in_rotation() {
        let databases = databases("postgres://u@r1:1,r2:2,r3:3/db");
        assert!(databases.next_replica().is_none(), "none is checked yet");
        databases.admit_replicas();
        databases.replicas[1].set(Health::out(Reason::Down), None);
        let turns: Vec<&str> = (0..4)
            .map(|_| databases.next_replica().unwrap().name.as_str())
            .collect();
        assert_eq!(turns, ["r1:1", "r3:3", "r1:1", "r3:3"]);
        databases.replicas[0].set(Health::out(Reason::Down), None);
        databases.replicas[2].set(Health::out(Reason::Lagging), None);
        assert!(databases.next_replica().is_none());
        let second = Duration::from_secs(1);
        let nowhere = Some(parse("user=u dbname=db"));
        let error = Databases::new(parse("postgres://u@127.0.0.1:1/db"), nowhere, 1, second);
        assert_eq!(
            error.err().as_deref(),
            Some("DATABASE_READ_URL names no host")
        );
    }

    #[tokio::test]
    async fn a_read_a_replica_cannot_serve_is_served_by_the_primary() {
        let databases = databases("postgres://u@r1:1/db");
        databases.admit_replicas();
        let calls = AtomicUsize::new(0);
        // The first call (the replica's) fails as an unreachable database does.
        let read = |_pool| {
            let call = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                match call {
                    0 => Err(ApiError::unavailable("database unavailable: closed")),
                    n => Ok(n),
                }
            }
        };
        assert_eq!(databases.run(Target::Replica, read).await.unwrap(), 1);
        let health = databases.replicas[0].health();
        assert!(!health.in_rotation, "out until its next check");
        assert_eq!(health.reason, Some(Reason::Down));
        assert_eq!(
            databases.replicas[0].health.lock().unwrap().1.as_deref(),
            Some("a read failed: database unavailable: closed")
        );
        // The read's own error is the answer: not run twice.
        databases.admit_replicas();
        let calls = AtomicUsize::new(0);
        let refused = |_pool| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(ApiError::bad_body("no")) }
        };
        let error = databases.run(Target::Replica, refused).await.unwrap_err();
        assert_eq!((error.code.as_str(), calls.into_inner()), ("PGRST102", 1));
        assert!(databases.replicas[0].health().in_rotation);
    }

    #[tokio::test]
    async fn the_primary_is_named_as_configured() {
        let hosts = endpoints(&parse(
            "postgres://u@10.0.0.1:5432,127.0.0.1:5432,localhost:6000/db",
        ));
        let local = Some("127.0.0.1".parse().unwrap());
        assert_eq!(recognise(&hosts, local, Some(6000)).await, "localhost:6000");
        assert_eq!(recognise(&hosts, local, Some(5432)).await, "127.0.0.1:5432");
        let elsewhere = Some("10.9.9.9".parse().unwrap());
        assert_eq!(
            recognise(&hosts, elsewhere, Some(5432)).await,
            "10.9.9.9:5432"
        );
    }
}
