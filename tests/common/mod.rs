//! SQL-level test harness: a real PostgreSQL (started by pgrx's test framework), a fresh
//! database per test, and calls made exactly as PostgREST makes them: connect as
//! `authenticator`, then per request `BEGIN`, set `request.jwt.claims`, `SET LOCAL ROLE`, call,
//! `COMMIT`.
#![allow(dead_code)] // each test binary uses its own part of the harness

use compute_devices_test_support::SUPABASE_ROLES;
pub use compute_devices_test_support::{connect, eventually, liveness_path};
use postgres::types::ToSql;
use postgres::{Client, Row};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The shared-memory path serves one database, the worker's; tests on it share that database
/// and take turns.
pub const SHARED_DATABASE: &str = "t_shared";
pub const SHARED_MEMORY_CONF: [&str; 5] = [
    "shared_preload_libraries = 'compute_devices'",
    "compute_devices.database = 't_shared'",
    "compute_devices.sweep_interval = '1s'",
    "compute_devices.last_seen_flush_interval = '1s'",
    "compute_devices.slots = 100000",
];

/// Starts this test binary's server with these postgresql.conf lines (first call wins).
fn server_port(postgresql_conf: Vec<&'static str>) -> u16 {
    static PORT: Mutex<Option<u16>> = Mutex::new(None);
    let mut port = PORT.lock().unwrap();
    if let Some(port) = *port {
        return port;
    }
    pgrx_tests::run_test("test_extension_is_installed", None, postgresql_conf)
        .expect("the pgrx test server starts");
    let (mut client, _) = pgrx_tests::client().expect("connect to the pgrx test server");
    let found: String = client
        .query_one("SELECT current_setting('port')", &[])
        .unwrap()
        .get(0);
    *port = Some(found.parse().unwrap());
    port.unwrap()
}

/// Supabase's roles: PostgREST logs in as `authenticator` and switches to `anon`,
/// `authenticated` or (for trusted servers) `service_role` for each request.
pub fn create_postgrest_roles(superuser: &mut Client) {
    // Roles are cluster-wide and tests run in parallel: create them once per test binary.
    static CREATED: Mutex<bool> = Mutex::new(false);
    let mut created = CREATED.lock().unwrap();
    if *created {
        return;
    }
    superuser.batch_execute(SUPABASE_ROLES).unwrap();
    *created = true;
}

/// Drops and creates the database `name`, and connects to it as the superuser.
fn recreate_database(port: u16, name: &str) -> Client {
    let superuser_name = pgrx_tests::get_pg_user();
    let mut admin = connect(port, &superuser_name, "postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    connect(port, &superuser_name, name)
}

/// A database of its own for one test, on this binary's server.
pub struct TestDb {
    pub port: u16,
    pub name: String,
    pub superuser: Client,
    /// Held by tests on the shared-memory database, one at a time.
    shared_turn: Option<MutexGuard<'static, ()>>,
}

impl TestDb {
    /// A new empty database (no extension yet) named after the test.
    pub fn empty(test_name: &str, postgresql_conf: Vec<&'static str>) -> TestDb {
        let port = server_port(postgresql_conf);
        let name = format!("t_{test_name}");
        let superuser = recreate_database(port, &name);
        TestDb {
            port,
            name,
            superuser,
            shared_turn: None,
        }
    }

    /// The worker's database on a preloaded server, emptied for this test, once the worker
    /// serves it from shared memory. Tests using it run one at a time.
    pub fn shared_memory() -> TestDb {
        static TURN: Mutex<()> = Mutex::new(());
        static CREATED: Mutex<bool> = Mutex::new(false);
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let port = server_port(SHARED_MEMORY_CONF.to_vec());
        let superuser_name = pgrx_tests::get_pg_user();
        let mut created = CREATED.lock().unwrap();
        if !*created {
            let mut superuser = recreate_database(port, SHARED_DATABASE);
            create_postgrest_roles(&mut superuser);
            superuser
                .batch_execute("CREATE EXTENSION compute_devices")
                .unwrap();
            *created = true;
        }
        let mut superuser = connect(port, &superuser_name, SHARED_DATABASE);
        superuser
            .batch_execute(&format!(
                "ALTER DATABASE {SHARED_DATABASE} RESET ALL; DELETE FROM compute_devices;"
            ))
            .unwrap();
        // The worker may have started before the database existed; it restarts until it can
        // connect, then rebuilds the slots.
        let served = eventually(Duration::from_secs(40), || {
            liveness_path(&mut superuser) == "shared memory"
        });
        assert!(
            served,
            "the worker serves {SHARED_DATABASE} from shared memory"
        );
        TestDb {
            port,
            name: SHARED_DATABASE.to_string(),
            superuser,
            shared_turn: Some(turn),
        }
    }

    /// A new database with PostgREST's roles and the extension installed in `public`.
    pub fn new(test_name: &str) -> TestDb {
        Self::with_conf(test_name, vec![])
    }

    pub fn with_conf(test_name: &str, postgresql_conf: Vec<&'static str>) -> TestDb {
        let mut db = Self::empty(test_name, postgresql_conf);
        create_postgrest_roles(&mut db.superuser);
        db.superuser
            .batch_execute("CREATE EXTENSION compute_devices")
            .unwrap();
        db
    }

    /// A connection that makes requests the way PostgREST does.
    pub fn postgrest(&self) -> PostgRest {
        PostgRest {
            client: connect(self.port, "authenticator", &self.name),
        }
    }

    pub fn superuser_connection(&self) -> Client {
        connect(self.port, &pgrx_tests::get_pg_user(), &self.name)
    }

    /// Every device row, as text, in a stable order: proves an error changed nothing. On the
    /// shared-memory path the worker writes is_active and last_seen back whenever it likes, so
    /// there they are left out (liveness is checked through the API instead).
    pub fn table_fingerprint(&mut self) -> String {
        let row = if self.shared_turn.is_some() {
            "(d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
              d.compute_score, d.created_at, d.updated_at, d.deactivated_at, d.slot)"
        } else {
            "d"
        };
        self.superuser
            .query_one(
                &format!(
                    "SELECT coalesce(string_agg({row}::text, E'\\n' ORDER BY d.id), '')
                       FROM compute_devices d"
                ),
                &[],
            )
            .unwrap()
            .get(0)
    }
}

/// Who makes a request: nobody (anon), a user by JWT `sub`, or a token without a usable `sub`.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    Anon,
    /// A trusted server with Supabase's service key, such as the gateway.
    Service,
    User(&'a str),
    AuthenticatedWithClaims(&'a str),
}

impl Caller<'_> {
    /// The role PostgREST switches to for this caller, and the claims it sets.
    pub fn role_and_claims(self) -> (&'static str, String) {
        match self {
            Caller::Anon => ("anon", r#"{"role":"anon"}"#.to_string()),
            Caller::Service => ("service_role", r#"{"role":"service_role"}"#.to_string()),
            Caller::User(sub) => (
                "authenticated",
                format!(r#"{{"sub":"{sub}","role":"authenticated"}}"#),
            ),
            Caller::AuthenticatedWithClaims(claims) => ("authenticated", claims.to_string()),
        }
    }
}

/// A transaction begun as PostgREST begins one for a request (the builder says read-only or
/// the isolation level): the caller's claims, then its role.
pub fn request<'a>(
    builder: postgres::TransactionBuilder<'a>,
    caller: Caller<'_>,
) -> Result<postgres::Transaction<'a>, postgres::Error> {
    let (role, claims) = caller.role_and_claims();
    let mut transaction = builder.start()?;
    transaction.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )?;
    transaction.batch_execute(&format!("SET LOCAL ROLE {role}"))?;
    Ok(transaction)
}

pub struct PostgRest {
    pub client: Client,
}

impl PostgRest {
    /// One request: one transaction, the caller's claims and role, the call, then commit (or
    /// rollback on error).
    pub fn call(
        &mut self,
        caller: Caller<'_>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let mut transaction = request(self.client.build_transaction(), caller)?;
        let rows = transaction.query(sql, params)?;
        transaction.commit()?;
        Ok(rows)
    }

    /// A call whose function returns exactly one row.
    pub fn call_one(
        &mut self,
        caller: Caller<'_>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let mut rows = self.call(caller, sql, params)?;
        assert_eq!(rows.len(), 1, "{sql} returns one row");
        Ok(rows.remove(0))
    }

    pub fn register(
        &mut self,
        caller: Caller<'_>,
        name: &str,
        device_type: &str,
        specs: (&str, i32, &str),
    ) -> Result<Row, postgres::Error> {
        self.call_one(
            caller,
            "SELECT id::text, user_id::text, device_name, device_type, ram_gb::text, cpu_cores,
                    storage_gb::text, compute_score::text, is_active, deactivated_at IS NOT NULL
               FROM register_device(device_name => $1, device_type => $2,
                                    ram_gb => $3::text::numeric, cpu_cores => $4,
                                    storage_gb => $5::text::numeric)",
            &[&name, &device_type, &specs.0, &specs.1, &specs.2],
        )
    }

    pub fn heartbeat(
        &mut self,
        caller: Caller<'_>,
        device_id: &str,
    ) -> Result<Row, postgres::Error> {
        self.call_one(
            caller,
            "SELECT device_id::text, is_active, last_seen IS NOT NULL, next_heartbeat_in_seconds
               FROM send_heartbeat(device_id => $1::text::uuid)",
            &[&device_id],
        )
    }

    pub fn deactivate(
        &mut self,
        caller: Caller<'_>,
        device_id: &str,
    ) -> Result<Row, postgres::Error> {
        self.call_one(
            caller,
            "SELECT id::text, is_active FROM deactivate_device(device_id => $1::text::uuid)",
            &[&device_id],
        )
    }

    /// (device_name, is_active) of the caller's devices, in the order returned.
    pub fn user_devices(
        &mut self,
        caller: Caller<'_>,
    ) -> Result<Vec<(String, bool)>, postgres::Error> {
        let rows = self.call(
            caller,
            "SELECT device_name, is_active FROM get_user_devices()",
            &[],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// (active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score)
    pub fn stats(
        &mut self,
        caller: Caller<'_>,
    ) -> Result<(i64, String, i64, String, String), postgres::Error> {
        // trim_scale: the shared-memory path and the table's sums may differ in trailing zeros.
        let row = self.call_one(
            caller,
            "SELECT active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
                    trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text
               FROM get_network_stats()",
            &[],
        )?;
        Ok((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
    }

    /// get_network_stats_by_type's rows, in its order, as (device_type, the stats tuple).
    pub fn stats_by_type(&mut self, caller: Caller<'_>) -> Result<Vec<TypeStats>, postgres::Error> {
        let rows = self.call(
            caller,
            "SELECT device_type, active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
                    trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text
               FROM get_network_stats_by_type()",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                let stats = (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
                (row.get(0), stats)
            })
            .collect())
    }
}

/// One device type's totals: (device_type, (active_nodes, ram, cores, storage, score)).
pub type TypeStats = (String, (i64, String, i64, String, String));

/// The SQLSTATE and message of a failed call.
pub fn sqlstate_of<T: std::fmt::Debug>(result: Result<T, postgres::Error>) -> (String, String) {
    let error = result.expect_err("the call should fail");
    let db_error = error
        .as_db_error()
        .unwrap_or_else(|| panic!("not a database error: {error}"));
    (
        db_error.code().code().to_string(),
        db_error.message().to_string(),
    )
}

pub const ALICE: &str = "11111111-1111-4111-8111-111111111111";
pub const BOB: &str = "22222222-2222-4222-8222-222222222222";
pub const GOOD_SPECS: (&str, i32, &str) = ("16", 8, "512");

/// A previous version's install script (kept in tests/upgrade/) in the server's extension
/// directory, for as long as this lives: `cargo pgrx install` puts only the current version's
/// there.
pub struct PreviousVersionInstalled(PathBuf);

impl PreviousVersionInstalled {
    pub fn new(previous: &str) -> PreviousVersionInstalled {
        let sharedir = Command::new("pg_config")
            .arg("--sharedir")
            .output()
            .unwrap();
        let sharedir = String::from_utf8(sharedir.stdout).unwrap();
        let name = format!("compute_devices--{previous}.sql");
        let target = PathBuf::from(sharedir.trim()).join("extension").join(&name);
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upgrade/").to_string() + &name;
        as_root(&["cp", &source, target.to_str().unwrap()]);
        PreviousVersionInstalled(target)
    }
}

impl Drop for PreviousVersionInstalled {
    fn drop(&mut self) {
        as_root(&["rm", "-f", self.0.to_str().unwrap()]);
    }
}

/// The extension directory belongs to root: as cargo pgrx install does, use sudo unless root.
fn as_root(command: &[&str]) {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut run = if root {
        Command::new(command[0])
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(command[0]);
        sudo
    };
    let status = run.args(&command[1..]).status().unwrap();
    assert!(status.success(), "{command:?}");
}
