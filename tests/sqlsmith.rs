//! sqlsmith (Debian's package) against a cluster with the library preloaded (the shared-memory
//! path), logged in as a member of `authenticated` whose claims name a user with devices, for a
//! fixed number of queries from a fixed seed. Its random queries read the table through the
//! row-level security policy and call the API functions among PostgreSQL's own.
//!
//! No backend may crash (the log tells of none, the postmaster stays up, a session opened
//! before survives and a new one works) and the extension may raise no XX000: the server log
//! (verbose, with every failing statement) is read for them. PostgreSQL's own XX000 errors on
//! sqlsmith's absurd queries (their locations are C files) are reported but are not failures.
//!
//! COMPUTE_DEVICES_SQLSMITH_SEED and COMPUTE_DEVICES_SQLSMITH_QUERIES override the seed and the
//! number of queries.

mod common;
mod fuzzing;

use common::{connect, Caller, PostgRest, TestDb, ALICE, BOB, GOOD_SPECS};
use compute_devices_test_support::{Cluster, ClusterPort};
use fuzzing::{seed_from_env, server_log_problems, shorten, SERVER_LOG_CONF};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "sqlsmith";
const SEED: u64 = 20261130;
const QUERIES: u64 = 4000;
/// sqlsmith is stopped here if it has not finished (each query has a 1 s statement_timeout).
const TIME_LIMIT: Duration = Duration::from_secs(100);

#[test]
fn sqlsmith_crashes_no_backend_and_raises_no_internal_error() {
    let seed = seed_from_env("COMPUTE_DEVICES_SQLSMITH_SEED", SEED);
    let queries = seed_from_env("COMPUTE_DEVICES_SQLSMITH_QUERIES", QUERIES);
    // The pgrx test framework installs the extension this cluster loads.
    TestDb::empty("sqlsmith_install", vec![]);
    let cluster = Cluster::init(
        "sqlsmith",
        &format!("compute_devices.database = '{DATABASE}'\n{SERVER_LOG_CONF}"),
    );
    cluster.start();
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);

    // Devices of the smith's user and of another, one of them stopped.
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    };
    let mut first = None;
    for (user, name, kind) in [
        (ALICE, "laptop", "laptop"),
        (ALICE, "phone", "phone"),
        (ALICE, "rig", "server"),
        (BOB, "desktop", "desktop"),
        (BOB, "box", "server"),
    ] {
        let id: String = api
            .register(Caller::User(user), name, kind, GOOD_SPECS)
            .unwrap()
            .get(0);
        first.get_or_insert(id);
    }
    api.deactivate(Caller::User(ALICE), first.as_deref().unwrap())
        .unwrap();
    superuser
        .batch_execute(&format!(
            "CREATE ROLE smith LOGIN IN ROLE authenticated;
             ALTER ROLE smith SET request.jwt.claims = '{{\"sub\":\"{ALICE}\",\"role\":\"authenticated\"}}';
             ALTER ROLE smith SET statement_timeout = '1s';
             ALTER ROLE smith SET lock_timeout = '1s';"
        ))
        .unwrap();
    let mut smith = connect(PORT.get(), "smith", DATABASE);
    let devices: i64 = smith
        .query_one("SELECT count(*) FROM get_user_devices()", &[])
        .unwrap()
        .get(0);
    assert_eq!(devices, 3, "smith is Alice, and sees her devices");
    drop(smith);
    let mut witness = connect(PORT.get(), "postgres", DATABASE);

    let output = cluster.data.with_file_name("sqlsmith.txt");
    let mut sqlsmith = Command::new("sqlsmith")
        .arg(format!(
            "--target=host=localhost port={} user=smith dbname={DATABASE}",
            PORT.get()
        ))
        .arg(format!("--seed={seed}"))
        .arg(format!("--max-queries={queries}"))
        // Queries on the extension's table and functions, not on the catalogs the role may
        // not read anyway.
        .arg("--exclude-catalog")
        .arg("--verbose")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&output).unwrap())
        .spawn()
        .expect("sqlsmith runs (apt-get install sqlsmith)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = sqlsmith.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = sqlsmith.kill();
            let _ = sqlsmith.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    let said = std::fs::read_to_string(&output).unwrap_or_default();
    let ran = said
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("queries: "))
        .and_then(|count| count.trim().parse::<u64>().ok());

    let log = std::fs::read_to_string(cluster.data.join("server.log")).unwrap();
    let problems = server_log_problems(&log);
    eprintln!(
        "sqlsmith: seed {seed}, {ran:?} of {queries} queries in {:.1} s, {} of PostgreSQL's own \
         XX000 errors",
        elapsed.as_secs_f64(),
        problems.postgres_internal_errors.len()
    );
    for error in &problems.postgres_internal_errors {
        eprintln!("  (not the extension's) {}", shorten(error, 500));
    }
    let mut failures = Vec::new();
    match status {
        Some(status) if !status.success() => {
            failures.push(format!("sqlsmith exited with {status}"));
        }
        None => eprintln!("sqlsmith: stopped at the time limit"),
        Some(_) if ran != Some(queries) => {
            failures.push(format!("sqlsmith ran {ran:?} of {queries} queries"));
        }
        Some(_) => {}
    }
    failures.extend(problems.crashes.iter().map(|line| format!("crash: {line}")));
    failures.extend(
        problems
            .internal_errors
            .iter()
            .map(|error| format!("the extension's internal error:\n{}", shorten(error, 3000))),
    );
    if witness.simple_query("SELECT 1").is_err() {
        failures.push("a session opened before sqlsmith was cut: a backend crashed".to_string());
    }
    let accepts = postgres::Client::connect(
        &format!(
            "host=localhost port={} user=postgres dbname={DATABASE}",
            PORT.get()
        ),
        postgres::NoTls,
    )
    .and_then(|mut client| client.simple_query("SELECT 1"));
    if let Err(error) = accepts {
        failures.push(format!("no new connection after sqlsmith: {error}"));
    }
    if !failures.is_empty() {
        let kept = fuzzing::keep_log("sqlsmith-server", &log);
        panic!(
            "sqlsmith --seed={seed} --max-queries={queries}:\n\n{}\n\nthe server log: {kept}\n\n\
             sqlsmith said:\n{}",
            failures.join("\n\n"),
            shorten(&said, 4000)
        );
    }
}
