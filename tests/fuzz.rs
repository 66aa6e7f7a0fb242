//! A seeded fuzzer of every API function (and current_liveness, which the compute_devices_live
//! view calls as its caller), on both liveness paths: random arguments (NULLs, huge, negative
//! and non-finite numbers, odd and enormous strings, unknown, nil, other users' and
//! non-canonical uuids, arrays of mismatched lengths and odd shapes), random claims text,
//! random roles and random transaction shapes, made as PostgREST makes requests (and as a
//! superuser, who alone may call liveness_status and sweep_stale_devices).
//!
//! Whatever the input, no backend may crash and no error may be XX000: every error a caller can
//! cause must have a specific SQLSTATE. On failure the seed, each distinct failing call and its
//! error are printed. The seed is COMPUTE_DEVICES_FUZZ_SEED (decimal or 0x hex) and the number
//! of requests per path COMPUTE_DEVICES_FUZZ_REQUESTS; the run also stops after TIME_LIMIT.

mod common;
mod fuzzing;

use common::{connect, Caller, PostgRest, TestDb, ALICE, BOB, GOOD_SPECS};
use compute_devices_test_support::Cluster;
use fuzzing::{seed_from_env, server_log_problems, shorten, Rng, SERVER_LOG_CONF};
use postgres::types::ToSql;
use postgres::Client;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const SEED_VARIABLE: &str = "COMPUTE_DEVICES_FUZZ_SEED";
const DEFAULT_SEED: u64 = 0x00C0_FFEE_2026_1130;
const REQUESTS_VARIABLE: &str = "COMPUTE_DEVICES_FUZZ_REQUESTS";
/// Requests per path; a request makes one to four calls.
const REQUESTS: u64 = 5000;
/// Each path stops here even if it has requests left.
const TIME_LIMIT: Duration = Duration::from_secs(75);
const DATABASE: &str = "fuzz";

#[test]
fn fuzz_the_api_on_the_table_path() {
    let db = TestDb::new("fuzz");
    let target = Target {
        port: db.port,
        database: db.name.clone(),
        superuser: pgrx_tests::get_pg_user(),
    };
    let report = Fuzzer::new(target, seed()).run(requests(), TIME_LIMIT);
    report.assert_clean("table path", None);
}

#[test]
fn fuzz_the_api_on_the_shared_memory_path() {
    // The pgrx test framework installs the extension this cluster loads.
    TestDb::empty("fuzz_install", vec![]);
    let cluster = Cluster::init(
        "fuzz",
        &format!(
            "compute_devices.database = '{DATABASE}'\ncompute_devices.slots = 20000\n\
             compute_devices.sweep_interval = '1s'\n\
             compute_devices.last_seen_flush_interval = '1s'\n{SERVER_LOG_CONF}"
        ),
    );
    cluster.start();
    cluster.serve(DATABASE);
    let target = Target {
        port: cluster.port(),
        database: DATABASE.to_string(),
        superuser: "postgres".to_string(),
    };
    let report = Fuzzer::new(target, seed()).run(requests(), TIME_LIMIT);
    let log = std::fs::read_to_string(cluster.data.join("server.log")).unwrap();
    report.assert_clean("shared-memory path", Some(&log));
}

/// The checks can fail: an XX000 error raised by a call is caught (client side and in the
/// server log), and so is a backend killed by a signal.
#[test]
fn the_fuzzers_checks_catch_an_internal_error_and_a_crash() {
    TestDb::empty("fuzz_self_check_install", vec![]);
    let cluster = Cluster::init(
        "fuzz-self-check",
        &format!("compute_devices.database = '{DATABASE}'\n{SERVER_LOG_CONF}"),
    );
    cluster.start();
    cluster.serve(DATABASE);
    let target = Target {
        port: cluster.port(),
        database: DATABASE.to_string(),
        superuser: "postgres".to_string(),
    };
    let mut fuzzer = Fuzzer::new(target, seed());
    let planted = Request {
        role: Role::Superuser,
        claims: Claims::Unset,
        shape: Shape::Autocommit { read_only: false },
        settings: vec![],
        calls: vec![Call {
            function: "planted",
            sql: "DO $$ BEGIN RAISE EXCEPTION 'compute_devices internal error: planted' \
                  USING ERRCODE = 'XX000'; END $$"
                .to_string(),
            params: vec![],
            cursor: None,
            rollback_to: false,
        }],
    };
    fuzzer.execute(&planted);
    let log = || std::fs::read_to_string(cluster.data.join("server.log")).unwrap();
    assert_eq!(fuzzer.failures.len(), 1, "the XX000 is a failure");
    assert!(fuzzer.failures[0].error.contains("planted"));
    let problems = server_log_problems(&log());
    assert_eq!(problems.internal_errors.len(), 1, "{problems:#?}");
    assert!(problems.crashes.is_empty());

    // A backend dies of SIGSEGV: the postmaster restarts every backend, the witness included.
    let mut victim = connect(cluster.port(), "postgres", DATABASE);
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let killed = std::process::Command::new("kill")
        .args(["-SEGV", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        common::eventually(Duration::from_secs(10), || !server_log_problems(&log())
            .crashes
            .is_empty()),
        "the log tells of the crash"
    );
    // The log line comes before the postmaster's SIGQUIT reaches every backend.
    assert!(
        common::eventually(Duration::from_secs(10), || !fuzzer.witness_alive()),
        "the witness connection died with it"
    );
    assert!(
        common::eventually(Duration::from_secs(30), || fuzzer.server_accepts()),
        "the server comes back"
    );
}

fn seed() -> u64 {
    seed_from_env(SEED_VARIABLE, DEFAULT_SEED)
}

fn requests() -> u64 {
    seed_from_env(REQUESTS_VARIABLE, REQUESTS)
}

/// Where the requests go: a database with the extension and PostgREST's roles.
struct Target {
    port: u16,
    database: String,
    superuser: String,
}

impl Target {
    fn connect(&self, user: &str) -> Client {
        let mut client = connect(self.port, user, &self.database);
        // Nothing a request does waits on another (they run one at a time), but a bound
        // keeps a hang from stalling the test.
        client
            .batch_execute("SET statement_timeout = '10s'")
            .unwrap();
        client
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anon,
    Authenticated,
    Service,
    /// A superuser's session, as pg_cron or a DBA calls sweep_stale_devices.
    Superuser,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Anon => "anon",
            Role::Authenticated => "authenticated",
            Role::Service => "service_role",
            Role::Superuser => "superuser",
        }
    }
}

#[derive(Clone, Debug)]
enum Claims {
    /// request.jwt.claims not set in this request (the session has none either).
    Unset,
    Text(String),
}

#[derive(Clone, Debug)]
enum Shape {
    /// Each call in its own implicit transaction; claims and role set for the session.
    Autocommit { read_only: bool },
    /// `begin` (one or more statements), the calls, then COMMIT (or ROLLBACK).
    Transaction {
        begin: &'static str,
        savepoints: bool,
        commit: bool,
    },
}

#[derive(Clone, Debug)]
struct Call {
    function: &'static str,
    sql: String,
    params: Vec<Option<String>>,
    /// Run as `DECLARE CURSOR`, then FETCH this many rows (in a transaction only).
    cursor: Option<u32>,
    /// With savepoints: roll back to the call's savepoint even if it succeeded.
    rollback_to: bool,
}

#[derive(Clone, Debug)]
struct Request {
    role: Role,
    claims: Claims,
    shape: Shape,
    /// `SET LOCAL` lines for the extension's superuser settings (superuser transactions only).
    settings: Vec<String>,
    calls: Vec<Call>,
}

impl Request {
    fn describe(&self) -> String {
        let claims = match &self.claims {
            Claims::Unset => "(not set)".to_string(),
            Claims::Text(text) => format!("{:?}", shorten(text, 300)),
        };
        let mut text = format!(
            "role {}, claims {claims}, {:?}",
            self.role.name(),
            self.shape
        );
        for setting in &self.settings {
            let _ = write!(text, "\n      {setting}");
        }
        for call in &self.calls {
            let params: Vec<String> = call
                .params
                .iter()
                .map(|param| match param {
                    Some(value) => format!("{:?}", shorten(value, 200)),
                    None => "NULL".to_string(),
                })
                .collect();
            let _ = write!(
                text,
                "\n      {}{}  params [{}]{}",
                if call.cursor.is_some() {
                    "DECLARE c CURSOR FOR "
                } else {
                    ""
                },
                shorten(&call.sql, 400),
                params.join(", "),
                if call.rollback_to {
                    "  (then ROLLBACK TO its savepoint)"
                } else {
                    ""
                }
            );
        }
        text
    }
}

/// A distinct failure: the first request that showed it, and how often it was seen.
struct Failure {
    key: String,
    request: String,
    statement: String,
    error: String,
    count: usize,
}

/// What one statement came to.
enum Outcome {
    Done,
    /// An error with a SQLSTATE: the statement failed, the connection lives on.
    Failed,
    /// The connection is gone.
    Lost,
}

struct Fuzzer {
    rng: Rng,
    seed: u64,
    target: Target,
    /// As PostgREST: `authenticator`, switching to a role per request.
    api: Client,
    /// The superuser's session, for Role::Superuser.
    admin: Client,
    /// Never used during the run: a crashed backend takes every connection down with it.
    witness: Client,
    users: Vec<String>,
    /// (device id, owner), refreshed from the table as the run goes.
    devices: Vec<(String, String)>,
    /// The extension's superuser-settable settings: (name, min, max).
    settings: Vec<(String, i64, i64)>,
    max_batch_size: usize,
    failures: Vec<Failure>,
    /// Each SQLSTATE seen: how often, and the first call and message that raised it.
    sqlstates: BTreeMap<String, (usize, String)>,
    calls: usize,
    requests: u64,
    cursors: u32,
    /// Crashes seen during the run (each one cut the witness's session).
    crashes: usize,
}

struct Report {
    seed: u64,
    requests: u64,
    calls: usize,
    elapsed: Duration,
    /// Each SQLSTATE seen: how often, and the first call and message that raised it.
    sqlstates: BTreeMap<String, (usize, String)>,
    failures: Vec<Failure>,
    crashes: usize,
    witness_alive: bool,
    server_accepts: bool,
}

impl Report {
    /// Panics with every distinct failure (and the seed to repeat them) if there was any; with
    /// the server's log, also if it tells of a crash or of an internal error of the extension.
    fn assert_clean(&self, path: &str, log: Option<&str>) {
        let mut summary = format!(
            "fuzz ({path}): seed {seed} ({SEED_VARIABLE}={seed:#x}), {} requests, {} calls in \
             {:.1} s; the errors, by SQLSTATE:",
            self.requests,
            self.calls,
            self.elapsed.as_secs_f64(),
            seed = self.seed,
        );
        for (code, (count, example)) in &self.sqlstates {
            let _ = write!(summary, "\n  {code} x{count}, first: {example:?}");
        }
        eprintln!("{summary}");
        let mut problems = Vec::new();
        for failure in &self.failures {
            problems.push(format!(
                "{} (seen {} times)\n    request: {}\n    statement: {}\n    error: {}",
                failure.key, failure.count, failure.request, failure.statement, failure.error
            ));
        }
        if self.crashes > 0 {
            problems.push(format!(
                "the server crashed {} times (see above)",
                self.crashes
            ));
        }
        if !self.witness_alive {
            problems.push("a backend crashed: the witness connection was cut".to_string());
        }
        if !self.server_accepts {
            problems.push("the server does not accept a new connection".to_string());
        }
        if let Some(log) = log {
            let found = server_log_problems(log);
            for crash in &found.crashes {
                problems.push(format!("server log: {crash}"));
            }
            for error in &found.internal_errors {
                problems.push(format!("server log: {}", shorten(error, 3000)));
            }
        }
        if !problems.is_empty() {
            let _ = write!(
                summary,
                "\n\n{} distinct failures (repeat with {SEED_VARIABLE}={:#x}):\n\n{}",
                problems.len(),
                self.seed,
                problems.join("\n\n")
            );
            if let Some(log) = log {
                let kept = fuzzing::keep_log(&format!("fuzz-{}", path.replace(' ', "-")), log);
                let _ = write!(summary, "\n\nthe server log: {kept}");
            }
            panic!("{summary}");
        }
    }
}

impl Fuzzer {
    fn new(target: Target, seed: u64) -> Fuzzer {
        let mut rng = Rng::new(seed);
        let api = target.connect("authenticator");
        let mut admin = target.connect(&target.superuser);
        let witness = target.connect(&target.superuser);
        let mut users = vec![
            ALICE.to_string(),
            BOB.to_string(),
            "00000000-0000-0000-0000-000000000000".to_string(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff".to_string(),
        ];
        users.extend((0..4).map(|_| random_uuid(&mut rng)));
        // The extension's settings exist once its library is loaded in the session.
        admin.batch_execute("LOAD 'compute_devices'").unwrap();
        let settings = admin
            .query(
                "SELECT name, min_val::int8, max_val::int8 FROM pg_settings
                  WHERE name LIKE 'compute_devices.%' AND vartype = 'integer'
                    AND context IN ('superuser', 'user') ORDER BY name",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        let max_batch_size: String = admin
            .query_one("SHOW compute_devices.max_batch_size", &[])
            .unwrap()
            .get(0);
        let mut fuzzer = Fuzzer {
            rng,
            seed,
            api,
            admin,
            witness,
            users,
            devices: vec![],
            settings,
            max_batch_size: max_batch_size.parse().unwrap(),
            failures: vec![],
            sqlstates: BTreeMap::new(),
            calls: 0,
            requests: 0,
            cursors: 0,
            crashes: 0,
            target,
        };
        fuzzer.seed_devices();
        fuzzer
    }

    /// A few devices to start from, one of them stopped.
    fn seed_devices(&mut self) {
        let mut api = PostgRest {
            client: self.target.connect("authenticator"),
        };
        for (user, name) in [
            (ALICE, "laptop"),
            (ALICE, "phone"),
            (BOB, "rig"),
            (BOB, "box"),
        ] {
            api.register(Caller::User(user), name, "laptop", GOOD_SPECS)
                .unwrap();
        }
        self.refresh_devices();
        let (id, owner) = self.devices[0].clone();
        api.deactivate(Caller::User(&owner), &id).unwrap();
    }

    fn refresh_devices(&mut self) {
        if let Ok(rows) = self.admin.query(
            "SELECT id::text, user_id::text FROM compute_devices ORDER BY created_at, id LIMIT 300",
            &[],
        ) {
            self.devices = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        }
    }

    fn run(mut self, requests: u64, time_limit: Duration) -> Report {
        let started = Instant::now();
        while self.requests < requests && started.elapsed() < time_limit {
            let request = self.request();
            self.requests += 1;
            if !self.execute(&request) {
                break;
            }
            if self.requests.is_multiple_of(25) {
                self.refresh_devices();
            }
            // Now and then a new session: claims and settings never set in it.
            if self.rng.one_in(300) {
                self.api = self.target.connect("authenticator");
            }
        }
        if started.elapsed() >= time_limit {
            eprintln!(
                "fuzz: stopped at the time limit after {} of {requests} requests",
                self.requests
            );
        }
        Report {
            seed: self.seed,
            requests: self.requests,
            calls: self.calls,
            elapsed: started.elapsed(),
            crashes: self.crashes,
            witness_alive: self.witness_alive(),
            server_accepts: self.server_accepts(),
            sqlstates: std::mem::take(&mut self.sqlstates),
            failures: std::mem::take(&mut self.failures),
        }
    }

    fn witness_alive(&mut self) -> bool {
        self.witness.simple_query("SELECT 1").is_ok()
    }

    fn server_accepts(&self) -> bool {
        postgres::Config::new()
            .host("localhost")
            .port(self.target.port)
            .user(&self.target.superuser)
            .dbname(&self.target.database)
            .connect(postgres::NoTls)
            .and_then(|mut client| client.simple_query("SELECT 1"))
            .is_ok()
    }

    /// Runs one request; false if the server went away and did not come back.
    fn execute(&mut self, request: &Request) -> bool {
        let superuser = request.role == Role::Superuser;
        let mut lost = false;
        let mut step =
            |fuzzer: &mut Fuzzer, call: Option<&Call>, sql: &str, params: &[Option<String>]| {
                if lost {
                    return Outcome::Lost;
                }
                let outcome = fuzzer.statement(request, call, sql, params);
                lost = matches!(outcome, Outcome::Lost);
                outcome
            };
        let role = (!superuser).then(|| request.role.name());
        match &request.shape {
            Shape::Autocommit { read_only } => {
                if *read_only {
                    step(self, None, "SET default_transaction_read_only = on", &[]);
                }
                if let Claims::Text(claims) = &request.claims {
                    let set = "SELECT set_config('request.jwt.claims', $1, false)";
                    step(self, None, set, &[Some(claims.clone())]);
                }
                if let Some(role) = role {
                    step(self, None, &format!("SET ROLE {role}"), &[]);
                }
                for call in &request.calls {
                    step(self, Some(call), &call.sql, &call.params);
                }
                step(self, None, "RESET ROLE", &[]);
                step(self, None, "RESET request.jwt.claims", &[]);
                step(self, None, "RESET default_transaction_read_only", &[]);
            }
            Shape::Transaction {
                begin,
                savepoints,
                commit,
            } => {
                let mut aborted = matches!(step(self, None, begin, &[]), Outcome::Failed);
                if let Claims::Text(claims) = &request.claims {
                    let set = "SELECT set_config('request.jwt.claims', $1, true)";
                    aborted |= matches!(
                        step(self, None, set, &[Some(claims.clone())]),
                        Outcome::Failed
                    );
                }
                for setting in &request.settings {
                    aborted |= matches!(step(self, None, setting, &[]), Outcome::Failed);
                }
                if let Some(role) = role {
                    let set_role = format!("SET LOCAL ROLE {role}");
                    aborted |= matches!(step(self, None, &set_role, &[]), Outcome::Failed);
                }
                for (i, call) in request.calls.iter().enumerate() {
                    if aborted && !savepoints {
                        break; // PostgREST answers with the first error
                    }
                    if *savepoints {
                        step(self, None, &format!("SAVEPOINT s{i}"), &[]);
                    }
                    let failed = match call.cursor {
                        Some(rows) => {
                            self.cursors += 1;
                            let name = format!("c{}", self.cursors);
                            let declare =
                                format!("DECLARE {name} NO SCROLL CURSOR FOR {}", call.sql);
                            let declared = step(self, Some(call), &declare, &call.params);
                            matches!(declared, Outcome::Failed)
                                || matches!(
                                    step(
                                        self,
                                        Some(call),
                                        &format!("FETCH {rows} FROM {name}"),
                                        &[]
                                    ),
                                    Outcome::Failed
                                )
                        }
                        None => matches!(
                            step(self, Some(call), &call.sql, &call.params),
                            Outcome::Failed
                        ),
                    };
                    if *savepoints && (failed || call.rollback_to) {
                        step(self, None, &format!("ROLLBACK TO SAVEPOINT s{i}"), &[]);
                    } else if *savepoints {
                        step(self, None, &format!("RELEASE SAVEPOINT s{i}"), &[]);
                    } else {
                        aborted |= failed;
                    }
                }
                let end = if *commit && !aborted {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                step(self, None, end, &[]);
            }
        }
        if lost {
            self.reconnect(superuser)
        } else {
            true
        }
    }

    /// After a lost connection: a new session, or after a crash (the postmaster then ends every
    /// session, the witness's too) new sessions once the server takes them again.
    fn reconnect(&mut self, superuser: bool) -> bool {
        if common::eventually(Duration::from_secs(5), || !self.witness_alive()) {
            self.crashes += 1;
            if !common::eventually(Duration::from_secs(60), || self.server_accepts()) {
                return false;
            }
            self.witness = self.target.connect(&self.target.superuser);
            self.admin = self.target.connect(&self.target.superuser);
            self.api = self.target.connect("authenticator");
        } else if superuser {
            self.admin = self.target.connect(&self.target.superuser);
        } else {
            self.api = self.target.connect("authenticator");
        }
        true
    }

    /// One statement of a request on its session; any XX000 error, crash-related SQLSTATE or
    /// lost connection is recorded as a failure.
    fn statement(
        &mut self,
        request: &Request,
        call: Option<&Call>,
        sql: &str,
        params: &[Option<String>],
    ) -> Outcome {
        if call.is_some() {
            self.calls += 1;
        }
        let client = if request.role == Role::Superuser {
            &mut self.admin
        } else {
            &mut self.api
        };
        let result = if params.is_empty() {
            client.batch_execute(sql).map(|_| ())
        } else {
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|param| param as &(dyn ToSql + Sync))
                .collect();
            client.query(sql, &params).map(|_| ())
        };
        let error = match result {
            Ok(()) => return Outcome::Done,
            Err(error) => error,
        };
        let function = call.map_or("(request)", |call| call.function);
        let statement = format!("{}  params {}", shorten(sql, 400), params.len());
        let Some(db_error) = error.as_db_error() else {
            if client.is_closed() {
                let text = format!("connection lost: {error}");
                let calls: Vec<&str> = request.calls.iter().map(|call| call.function).collect();
                let verb = sql.split_whitespace().next().unwrap_or("");
                let key = format!("connection lost at {verb}, calls: {}", calls.join(", "));
                self.fail(key, request, statement, text);
                return Outcome::Lost;
            }
            // Refused by the client library before it reached the server: not the extension's.
            let example = format!("{function}: {}", shorten(&error.to_string(), 150));
            self.sqlstates
                .entry("client".to_string())
                .or_insert((0, example))
                .0 += 1;
            return Outcome::Failed;
        };
        let closed = client.is_closed();
        let code = db_error.code().code().to_string();
        let example = format!("{function}: {}", shorten(db_error.message(), 150));
        self.sqlstates.entry(code.clone()).or_insert((0, example)).0 += 1;
        if code.starts_with("XX") || code.starts_with("57P") {
            let location = format!(
                "{}:{} {}",
                db_error.file().unwrap_or("?"),
                db_error.line().unwrap_or(0),
                db_error.routine().unwrap_or("?")
            );
            let text = format!(
                "{code}: {} (detail: {:?}, hint: {:?}, where: {:?}, at {location})",
                db_error.message(),
                db_error.detail(),
                db_error.hint(),
                db_error.where_(),
            );
            let key = format!(
                "{function}: {code} {} at {location}",
                db_error
                    .message()
                    .replace(|c: char| c.is_ascii_digit(), "#")
            );
            self.fail(key, request, statement, text);
        }
        if closed {
            Outcome::Lost
        } else {
            Outcome::Failed
        }
    }

    fn fail(&mut self, key: String, request: &Request, statement: String, error: String) {
        if let Some(known) = self.failures.iter_mut().find(|failure| failure.key == key) {
            known.count += 1;
            return;
        }
        self.failures.push(Failure {
            key,
            request: request.describe(),
            statement,
            error,
            count: 1,
        });
    }

    // --- generating requests ---

    fn request(&mut self) -> Request {
        let role = [
            Role::Authenticated,
            Role::Anon,
            Role::Service,
            Role::Superuser,
        ][self.rng.weighted(&[65, 8, 15, 12])];
        let (claims, user) = self.claims();
        let shape = self.shape();
        let in_transaction = matches!(shape, Shape::Transaction { .. });
        let settings = if role == Role::Superuser && in_transaction && self.rng.one_in(3) {
            (0..1 + self.rng.below(2)).map(|_| self.setting()).collect()
        } else {
            vec![]
        };
        let count = [1, 2, 3, 4][self.rng.weighted(&[70, 15, 10, 5])];
        let calls = (0..count)
            .map(|_| self.call(user.as_deref(), in_transaction))
            .collect();
        Request {
            role,
            claims,
            shape,
            settings,
            calls,
        }
    }

    fn shape(&mut self) -> Shape {
        const BEGINS: [&str; 8] = [
            "BEGIN",
            "BEGIN READ ONLY",
            "BEGIN; SET TRANSACTION READ ONLY",
            "BEGIN ISOLATION LEVEL REPEATABLE READ",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION READ ONLY",
            "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
        ];
        match self.rng.weighted(&[20, 80]) {
            0 => Shape::Autocommit {
                read_only: self.rng.one_in(8),
            },
            _ => Shape::Transaction {
                begin: BEGINS[self.rng.weighted(&[40, 8, 6, 10, 10, 4, 4, 6])],
                savepoints: self.rng.one_in(4),
                commit: !self.rng.one_in(5),
            },
        }
    }

    /// `SET LOCAL` of one of the extension's settings, at its bounds or between them.
    fn setting(&mut self) -> String {
        if self.settings.is_empty() {
            return "SET LOCAL statement_timeout = '10s'".to_string();
        }
        let (name, min, max) = self.rng.pick(&self.settings).clone();
        let value = match self.rng.below(4) {
            0 => min,
            1 => max,
            2 => min + 1,
            _ => min + (self.rng.next_u64() % (max - min + 1) as u64) as i64,
        };
        format!("SET LOCAL {name} = {value}")
    }

    /// The claims text and the user it names, if it names one the canonical way.
    fn claims(&mut self) -> (Claims, Option<String>) {
        let user = self.user();
        let other = self.user();
        let valid = format!(r#"{{"sub":"{user}","role":"authenticated"}}"#);
        let text = match self
            .rng
            .weighted(&[70, 8, 4, 4, 3, 3, 4, 5, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1])
        {
            0 => return (Claims::Text(valid), Some(user)),
            1 => return (Claims::Unset, None),
            2 => self.rng.pick(&["", " ", "\n", "\t "]).to_string(),
            3 => self
                .rng
                .pick(&["null", "[]", "{}", "42", "\"x\"", "true", "{", "}", "[{}]"])
                .to_string(),
            4 => self
                .rng
                .pick(&[
                    r#"{"role":"anon"}"#,
                    r#"{"role":"service_role"}"#,
                    r#"{"role":"authenticated"}"#,
                ])
                .to_string(),
            5 => {
                let second = if self.rng.one_in(2) { &user } else { &other };
                format!(r#"{{"sub":"{user}","sub":"{second}"}}"#)
            }
            6 => {
                let sub = self.rng.pick(&[
                    "42",
                    "-1",
                    "1e999",
                    "true",
                    "null",
                    "{}",
                    "[]",
                    "0.5",
                    "18446744073709551616",
                ]);
                let sub = match self.rng.below(3) {
                    0 => format!(r#"["{user}"]"#),
                    1 => format!(r#"{{"sub":"{user}"}}"#),
                    _ => sub.to_string(),
                };
                format!(r#"{{"sub":{sub},"role":"authenticated"}}"#)
            }
            7 => {
                let sub = noncanonical_uuid(&mut self.rng, &user);
                format!(r#"{{"sub":{},"role":"authenticated"}}"#, json_string(&sub))
            }
            8 => {
                // The sub written with JSON escapes: the same text once decoded.
                let escaped: String = user
                    .chars()
                    .map(|c| {
                        if c.is_ascii_digit() && self.rng.one_in(3) {
                            format!("\\u{:04x}", c as u32)
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                format!(r#"{{"sub":"{escaped}"}}"#)
            }
            9 => format!(r#"[{{"sub":"{user}"}}]"#),
            10 => self
                .rng
                .pick(&[
                    format!(r#"{{"sub":"{user}"}}x"#),
                    format!("\u{FEFF}{valid}"),
                    format!(r#"{{"sub":"{user}"}}{{"sub":"{other}"}}"#),
                    format!(r#"{{'sub':'{user}'}}"#),
                    format!(r#"{{"sub":"{user}",}}"#),
                    format!(r#"{{"sub":"{user}" /* c */}}"#),
                ])
                .clone(),
            11 => format!(
                r#"{{"sub":"{user}","pad":"{}"}}"#,
                "x".repeat(1 << (10 + self.rng.below(11)))
            ),
            12 => {
                let depth = [64, 127, 128, 129, 1000, 100_000][self.rng.below(6)];
                format!(
                    r#"{{"deep":{}{},"sub":"{user}"}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                )
            }
            13 => {
                let keys: Vec<String> = (0..self.rng.below(20_000))
                    .map(|i| format!(r#""k{i}":{i}"#))
                    .collect();
                format!(r#"{{{},"sub":"{user}"}}"#, keys.join(","))
            }
            14 => self
                .rng
                .pick(&[
                    format!(r#"{{"sub":"{user}\u0000"}}"#),
                    format!(r#"{{"sub":"\ud800{user}"}}"#),
                    format!(r#"{{"sub":"{user}\ufffd"}}"#),
                    format!("{{\"sub\":\"{user}\u{FFFD}\"}}"),
                    format!("{{\"sub\":\"{user}\"}}\0"),
                ])
                .clone(),
            15 => format!(r#"{{"sub":"{user}","role":"service_role","aud":["a",1,null]}}"#),
            16 => format!(r#"{{"SUB":"{user}","Sub":"{other}"}}"#),
            _ => odd_text(&mut self.rng),
        };
        (Claims::Text(text), None)
    }

    fn user(&mut self) -> String {
        let index = self.rng.weighted(&[30, 25, 5, 5, 10, 10, 10, 5]);
        self.users[index % self.users.len()].clone()
    }

    /// One call of a random API function with random arguments.
    fn call(&mut self, user: Option<&str>, in_transaction: bool) -> Call {
        const FUNCTIONS: [&str; 10] = [
            "register_device",
            "send_heartbeat",
            "send_heartbeats",
            "deactivate_device",
            "get_user_devices",
            "get_network_stats",
            "get_network_stats_by_type",
            "liveness_status",
            "sweep_stale_devices",
            "current_liveness",
        ];
        let which = self.rng.weighted(&[28, 20, 14, 10, 8, 6, 6, 4, 4, 6]);
        let function = FUNCTIONS[which];
        let (args, params) = match function {
            "register_device" => self.register_arguments(),
            "send_heartbeat" | "deactivate_device" => {
                let device = self.device_id(user);
                self.arguments(&[("device_id", "::text::uuid")], vec![device])
            }
            "send_heartbeats" => {
                let (users, devices) = self.batch();
                self.arguments(
                    &[
                        ("user_ids", "::text::uuid[]"),
                        ("device_ids", "::text::uuid[]"),
                    ],
                    vec![users, devices],
                )
            }
            "current_liveness" => {
                let device = self.device_id(user);
                let owner = match self.rng.weighted(&[50, 30, 20]) {
                    0 => user.map(str::to_string),
                    1 => Some(self.user()),
                    _ => self.device_id(user),
                };
                let is_active = *self
                    .rng
                    .pick(&[Some("true"), Some("false"), None, Some("maybe")]);
                let last_seen = self.timestamp();
                let deactivated_at = self.timestamp();
                self.arguments(
                    &[
                        ("device_id", "::text::uuid"),
                        ("user_id", "::text::uuid"),
                        ("is_active", "::text::boolean"),
                        ("last_seen", "::text::timestamptz"),
                        ("deactivated_at", "::text::timestamptz"),
                    ],
                    vec![
                        device,
                        owner,
                        is_active.map(str::to_string),
                        last_seen,
                        deactivated_at,
                    ],
                )
            }
            _ => (String::new(), vec![]),
        };
        let returns_set = matches!(
            function,
            "get_user_devices"
                | "get_network_stats_by_type"
                | "send_heartbeats"
                | "liveness_status"
        );
        let schema = if self.rng.one_in(10) { "public." } else { "" };
        let f = format!("{schema}{function}({args})");
        let mut params = params;
        let sql = match self.rng.weighted(&[40, 15, 8, 8, 8, 5, 4, 4, 6]) {
            0 => format!("SELECT * FROM {f}"),
            1 => format!("SELECT {f}"),
            // One evaluation per column of the result for a function that returns one row.
            2 => format!("SELECT ({f}).*"),
            3 => format!("SELECT count(*) FROM {f}"),
            4 if returns_set => format!("SELECT * FROM {f} LIMIT {}", self.rng.below(2)),
            5 => format!("WITH c AS MATERIALIZED (SELECT * FROM {f}) SELECT * FROM c, c AS d"),
            6 => format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT * FROM {f}"),
            7 => format!("SELECT * FROM {f} AS r, generate_series(1, 2)"),
            // In a subtransaction that catches every error but an internal one (arguments
            // written as literals: DO takes no parameters).
            8 => {
                let mut f = f;
                for (i, param) in params.iter().enumerate().rev() {
                    let literal = param.as_ref().map_or("NULL".to_string(), |text| {
                        format!("'{}'", text.replace('\'', "''"))
                    });
                    f = f.replace(&format!("${}", i + 1), &literal);
                }
                params = vec![];
                format!(
                    "DO $fuzz$ BEGIN PERFORM * FROM {f}; \
                     EXCEPTION WHEN internal_error THEN RAISE; WHEN others THEN NULL; END $fuzz$"
                )
            }
            _ => format!("SELECT * FROM {f}"),
        };
        let cursor = (in_transaction && sql.starts_with("SELECT") && self.rng.one_in(12))
            .then(|| self.rng.below(3) as u32);
        Call {
            function,
            sql,
            params,
            cursor,
            rollback_to: self.rng.one_in(4),
        }
    }

    /// The argument list for these (name, cast) parameters: positional or named (in any
    /// order), now and then with one left out or one too many.
    fn arguments(
        &mut self,
        names: &[(&str, &str)],
        mut params: Vec<Option<String>>,
    ) -> (String, Vec<Option<String>>) {
        let named = self.rng.one_in(2);
        let mut order: Vec<usize> = (0..names.len()).collect();
        if named {
            for i in (1..order.len()).rev() {
                order.swap(i, self.rng.below(i + 1));
            }
        }
        if self.rng.one_in(60) {
            order.pop(); // a missing argument: no such function
        }
        let mut args: Vec<String> = order
            .iter()
            .enumerate()
            .map(|(position, &i)| {
                let (name, cast) = names[i];
                let value = format!("${}{cast}", position + 1);
                if named {
                    format!("{name} => {value}")
                } else {
                    value
                }
            })
            .collect();
        let mut ordered: Vec<Option<String>> = order.iter().map(|&i| params[i].take()).collect();
        if self.rng.one_in(60) {
            args.push(format!("${}::text", args.len() + 1));
            ordered.push(Some("extra".to_string()));
        }
        (args.join(", "), ordered)
    }

    fn register_arguments(&mut self) -> (String, Vec<Option<String>>) {
        let values = vec![
            device_name(&mut self.rng),
            device_type(&mut self.rng),
            gigabytes(&mut self.rng),
            cpu_cores(&mut self.rng),
            gigabytes(&mut self.rng),
        ];
        self.arguments(
            &[
                ("device_name", "::text"),
                ("device_type", "::text"),
                ("ram_gb", "::text::numeric"),
                ("cpu_cores", "::text::int4"),
                ("storage_gb", "::text::numeric"),
            ],
            values,
        )
    }

    /// A device id: often the caller's or another user's device, written any way uuid_in
    /// takes; or not a device, or not a uuid at all.
    /// A timestamp's text for current_liveness: ordinary, now, the infinities, the edges of the
    /// range, not a timestamp at all, or NULL.
    fn timestamp(&mut self) -> Option<String> {
        let text = *self.rng.pick(&[
            Some("2026-01-01 00:00:00+00"),
            Some("now"),
            Some("infinity"),
            Some("-infinity"),
            Some("4713-01-01 00:00:00+00 BC"),
            Some("294276-12-31 23:59:59+00"),
            Some("yesterday"),
            Some(""),
            None,
        ]);
        text.map(str::to_string)
    }

    fn device_id(&mut self, user: Option<&str>) -> Option<String> {
        let own: Vec<&(String, String)> = self
            .devices
            .iter()
            .filter(|(_, owner)| Some(owner.as_str()) == user)
            .collect();
        let known = match self.rng.weighted(&[35, 25, 40]) {
            0 if !own.is_empty() => Some(self.rng.pick(&own).0.clone()),
            0 | 1 if !self.devices.is_empty() => Some(self.rng.pick(&self.devices).0.clone()),
            _ => None,
        };
        match (known, self.rng.weighted(&[60, 12, 6, 6, 8, 4, 4])) {
            (Some(id), 0) => Some(id),
            (Some(id), 1) => Some(noncanonical_uuid(&mut self.rng, &id)),
            (_, 2) => Some(self.user()),
            (_, 3) => Some(self.rng.pick(&self.users[2..4]).clone()),
            (_, 4) => None,
            (_, 5) => Some(
                self.rng
                    .pick(&[
                        "",
                        "x",
                        "00000000-0000-0000-0000-00000000000",
                        "00000000-0000-0000-0000-0000000000000",
                        "urn:uuid:00000000-0000-0000-0000-000000000000",
                        "{00000000-0000-0000-0000-000000000000",
                        "g0000000-0000-0000-0000-000000000000",
                    ])
                    .to_string(),
            ),
            _ => Some(random_uuid(&mut self.rng)),
        }
    }

    /// send_heartbeats' two arrays, as text: usually entries (owner, device) of known devices
    /// with their owners or others, NULLs among them; now and then of different lengths, too
    /// long, empty, NULL, two-dimensional or with other bounds.
    fn batch(&mut self) -> (Option<String>, Option<String>) {
        let length = match self.rng.weighted(&[10, 55, 25, 5, 1]) {
            0 => 0,
            1 => 1 + self.rng.below(5),
            2 => 6 + self.rng.below(60),
            3 => 200 + self.rng.below(800),
            _ => self.max_batch_size + 1,
        };
        let mut users = Vec::with_capacity(length);
        let mut devices = Vec::with_capacity(length);
        for _ in 0..length {
            let (device, owner) = if !self.devices.is_empty() && !self.rng.one_in(5) {
                let (id, owner) = self.rng.pick(&self.devices).clone();
                (Some(id), Some(owner))
            } else {
                (self.device_id(None), Some(self.user()))
            };
            let owner = match self.rng.weighted(&[75, 15, 10]) {
                0 => owner,
                1 => Some(self.user()),
                _ => None,
            };
            let device = if self.rng.one_in(15) { None } else { device };
            users.push(owner);
            devices.push(device);
        }
        if self.rng.one_in(8) {
            // Different lengths.
            if self.rng.one_in(2) || users.is_empty() {
                users.push(Some(self.user()));
            } else {
                users.pop();
            }
        }
        let element = |value: &Option<String>| match value {
            Some(text) => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
            None => "NULL".to_string(),
        };
        let array = |values: &[Option<String>], shape: usize| -> String {
            let items: Vec<String> = values.iter().map(element).collect();
            match shape {
                // Two-dimensional: pairs of entries (an odd length is not a valid array).
                1 if items.len() >= 2 => {
                    let rows: Vec<String> = items
                        .chunks(2)
                        .map(|pair| format!("{{{}}}", pair.join(",")))
                        .collect();
                    format!("{{{}}}", rows.join(","))
                }
                // Other bounds than 1.
                2 if !items.is_empty() => {
                    format!("[-1:{}]={{{}}}", items.len() as i64 - 2, items.join(","))
                }
                _ => format!("{{{}}}", items.join(",")),
            }
        };
        let shape = self.rng.weighted(&[90, 5, 5]);
        let mut users = Some(array(&users, shape));
        let mut devices = Some(array(&devices, shape));
        match self.rng.weighted(&[92, 4, 4]) {
            1 => users = None,
            2 => devices = None,
            _ => {}
        }
        (users, devices)
    }
}

fn random_uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 + (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// The same uuid written another way: some of them uuid_in takes, none is canonical.
fn noncanonical_uuid(rng: &mut Rng, uuid: &str) -> String {
    let plain = uuid.replace('-', "");
    match rng.below(9) {
        0 => uuid.to_uppercase(),
        1 => format!("{{{uuid}}}"),
        2 => plain,
        3 => plain
            .as_bytes()
            .chunks(4)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect::<Vec<_>>()
            .join("-"),
        4 => format!("urn:uuid:{uuid}"),
        5 => format!(" {uuid}"),
        6 => format!("{uuid}\n"),
        7 => format!("{uuid}\u{200B}"),
        _ => uuid.replacen('-', "\u{2010}", 1), // a Unicode hyphen
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Strings that have broken text handling elsewhere: empty, blank, control characters,
/// zero-width and bidi characters, non-characters, escapes that look like invalid UTF-8,
/// SQL and format strings, lookalikes, and combinations of these.
const ODD_TEXTS: [&str; 64] = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\u{3000}",
    "\u{00A0}",
    "\u{2028}",
    "\u{0001}",
    "a\u{0007}b",
    "\u{001B}[31mred\u{001B}[0m",
    "\u{007F}",
    "\u{0085}",
    "\u{009F}",
    "\u{200B}",
    "\u{200B}\u{200B}",
    "a\u{200C}b",
    "\u{200D}",
    "\u{2060}",
    "\u{FEFF}",
    "\u{FEFF}laptop",
    "\u{202E}potpal\u{202C}",
    "\u{2066}x\u{2069}",
    "\u{061C}",
    "\u{200F}",
    "\u{FFFD}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\u{10FFFF}",
    "\u{E000}",
    "\u{1D11E}",
    "\\ud800",
    "\\xC0\\xAF",
    "%00",
    "%C0%AF",
    "\\0",
    "\\\\",
    "a\0b",
    "'; DROP TABLE compute_devices; --",
    "' OR '1'='1",
    "$$",
    "$1",
    "%s%n%x",
    "{}",
    "[]",
    "NULL",
    "\"",
    "'",
    "laptop",
    "Laptop",
    "LAPTOP",
    "laptop ",
    " laptop",
    "laptop\n",
    "phone",
    "tablet",
    "e\u{0301}",
    "\u{FF21}",
    "\u{1D54F}",
    "\u{1F600}",
    "\u{1F469}\u{200D}\u{1F4BB}",
    "\u{6F22}\u{5B57}",
    "\u{05E2}\u{05D1}\u{05E8}\u{05D9}\u{05EA}",
];

fn odd_text(rng: &mut Rng) -> String {
    match rng.weighted(&[60, 30, 10]) {
        0 => rng.pick(&ODD_TEXTS).to_string(),
        1 => (0..2 + rng.below(3))
            .map(|_| *rng.pick(&ODD_TEXTS))
            .collect(),
        _ => {
            let c = *rng.pick(&[
                'a',
                ' ',
                '\u{e9}',
                '\u{6F22}',
                '\u{1F600}',
                '\u{0301}',
                '\u{200B}',
            ]);
            c.to_string().repeat(rng.below(5000))
        }
    }
}

fn device_name(rng: &mut Rng) -> Option<String> {
    const NAMES: [&str; 8] = [
        "laptop",
        "My Laptop",
        " My Laptop ",
        "rig",
        "box",
        "phone",
        "name's \"quoted\"",
        "\u{1F4BB} dev",
    ];
    Some(match rng.weighted(&[30, 4, 30, 20, 8, 1]) {
        0 => rng.pick(&NAMES).to_string(),
        1 => return None,
        2 => odd_text(rng),
        3 => {
            // Around the 64-character limit, in characters of 1 to 4 bytes, maybe padded.
            let c = *rng.pick(&['n', '\u{e9}', '\u{6F22}', '\u{1F600}', '\u{0301}']);
            let length = *rng.pick(&[1, 63, 64, 65, 128]);
            let name = c.to_string().repeat(length);
            if rng.one_in(3) {
                format!("  {name}\t")
            } else {
                name
            }
        }
        4 => format!("{}{}", rng.pick(&NAMES), odd_text(rng)),
        _ => "x".repeat(1 << (14 + rng.below(7))), // 16 KiB to 1 MiB
    })
}

fn device_type(rng: &mut Rng) -> Option<String> {
    Some(match rng.weighted(&[60, 5, 30, 5]) {
        0 => rng
            .pick(&["phone", "laptop", "desktop", "server"])
            .to_string(),
        1 => return None,
        2 => odd_text(rng),
        _ => "server".repeat(rng.below(20_000)),
    })
}

/// ram_gb and storage_gb, as text for `::numeric`.
fn gigabytes(rng: &mut Rng) -> Option<String> {
    const SPECIAL: [&str; 44] = [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "-inf",
        "+Infinity",
        " NaN ",
        "0",
        "-0",
        "0.0",
        "1",
        "0.000000001",
        "0.0000000001",
        "1e-9",
        "1e-10",
        "1.000000000000",
        "65536",
        "65536.000000001",
        "65536.0000000000001",
        "65537",
        "10000000",
        "10000000.5",
        "10000001",
        "-1",
        "-0.000000001",
        "-1e-20",
        "1e1000",
        "1e131071",
        "1e131072",
        "1e-16383",
        "1e-16384",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999",
        "abc",
        "",
        "1,5",
        "0x10",
        "1e",
        "--1",
        "1.2.3",
        "\u{0661}\u{0662}",
        " 12 ",
    ];
    match rng.weighted(&[4, 40, 56]) {
        0 => None,
        1 => Some(rng.pick(&SPECIAL).to_string()),
        _ => {
            let whole = rng.next_u64() >> rng.below(64);
            let decimals = rng.below(13);
            let fraction = rng.next_u64() % 10u64.pow(decimals as u32).max(1);
            let sign = if rng.one_in(10) { "-" } else { "" };
            Some(if decimals == 0 {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{fraction:0decimals$}")
            })
        }
    }
}

/// cpu_cores, as text for `::int4`.
fn cpu_cores(rng: &mut Rng) -> Option<String> {
    const SPECIAL: [&str; 15] = [
        "0",
        "1",
        "-1",
        "8192",
        "8193",
        "2147483647",
        "-2147483648",
        "2147483648",
        "-2147483649",
        "1.5",
        " 7 ",
        "0x10",
        "",
        "1e3",
        "99999999999999999999",
    ];
    match rng.weighted(&[4, 30, 66]) {
        0 => None,
        1 => Some(rng.pick(&SPECIAL).to_string()),
        _ => {
            let most = if rng.one_in(2) { 64 } else { 10_000 };
            Some((1 + rng.below(most)).to_string())
        }
    }
}
