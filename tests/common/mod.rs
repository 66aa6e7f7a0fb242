//! SQL-level test harness: a real PostgreSQL (started by pgrx's test framework), a fresh
//! database per test, and calls made exactly as PostgREST makes them: connect as
//! `authenticator`, then per request `BEGIN`, set `request.jwt.claims`, `SET LOCAL ROLE`, call,
//! `COMMIT`.
#![allow(dead_code)] // each test binary uses its own part of the harness

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};
use std::sync::Mutex;

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

pub fn connect(port: u16, user: &str, dbname: &str) -> Client {
    postgres::Config::new()
        .host("localhost")
        .port(port)
        .user(user)
        .dbname(dbname)
        .connect(NoTls)
        .unwrap_or_else(|error| panic!("connect as {user} to {dbname}: {error}"))
}

/// Supabase's roles: PostgREST logs in as `authenticator` and switches to `anon` or
/// `authenticated` for each request.
pub fn create_postgrest_roles(superuser: &mut Client) {
    // Roles are cluster-wide and tests run in parallel: create them once per test binary.
    static CREATED: Mutex<bool> = Mutex::new(false);
    let mut created = CREATED.lock().unwrap();
    if *created {
        return;
    }
    superuser
        .batch_execute(
            "DO $$ BEGIN
               CREATE ROLE anon NOLOGIN;
             EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             DO $$ BEGIN
               CREATE ROLE authenticated NOLOGIN;
             EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             DO $$ BEGIN
               CREATE ROLE authenticator LOGIN NOINHERIT;
             EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT anon, authenticated TO authenticator;",
        )
        .unwrap();
    *created = true;
}

/// A database of its own for one test, on this binary's server.
pub struct TestDb {
    pub port: u16,
    pub name: String,
    pub superuser: Client,
}

impl TestDb {
    /// A new empty database (no extension yet) named after the test.
    pub fn empty(test_name: &str, postgresql_conf: Vec<&'static str>) -> TestDb {
        let port = server_port(postgresql_conf);
        let superuser_name = pgrx_tests::get_pg_user();
        let mut admin = connect(port, &superuser_name, "postgres");
        let name = format!("t_{test_name}");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let superuser = connect(port, &superuser_name, &name);
        TestDb {
            port,
            name,
            superuser,
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

    /// Every device row, as text, in a stable order: proves an error changed nothing.
    pub fn table_fingerprint(&mut self) -> String {
        self.superuser
            .query_one(
                "SELECT coalesce(string_agg(d::text, E'\\n' ORDER BY d.id), '') FROM compute_devices d",
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
    User(&'a str),
    AuthenticatedWithClaims(&'a str),
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
        let (role, claims) = match caller {
            Caller::Anon => ("anon", r#"{"role":"anon"}"#.to_string()),
            Caller::User(sub) => (
                "authenticated",
                format!(r#"{{"sub":"{sub}","role":"authenticated"}}"#),
            ),
            Caller::AuthenticatedWithClaims(claims) => ("authenticated", claims.to_string()),
        };
        let mut transaction = self.client.transaction()?;
        transaction.execute(
            "SELECT set_config('request.jwt.claims', $1, true)",
            &[&claims],
        )?;
        transaction.batch_execute(&format!("SET LOCAL ROLE {role}"))?;
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
        let row = self.call_one(
            caller,
            "SELECT active_nodes, total_ram_gb::text, total_cpu_cores, total_storage_gb::text,
                    total_compute_score::text
               FROM get_network_stats()",
            &[],
        )?;
        Ok((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
    }
}

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
