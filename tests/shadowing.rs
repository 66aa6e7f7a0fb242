//! Every name in the extension's SQL resolves to what we meant, whatever others create.
//!
//! `mallory`, a role with CREATE on the extension's schema (`public`, as on Supabase), plants
//! there a trap for every operator, function, aggregate, type and catalog relation our SQL uses,
//! with the argument types we pass. Each trap logs and raises `SHADOWED <what>`, so it shows in
//! the server log even where it would run inside the worker (which logs only warnings) or a
//! read-only transaction. Then every path runs: every API function as every role, the way
//! PostgREST calls it, and as the superuser, on the shared-memory path and on the table path; the
//! worker's rebuild after a restart and its write-back of a device gone stale; a new install into
//! the planted schema; and the update from 0.2.0. Every call answers as it did before the planting,
//! no trap is in the log, and no role gained a privilege.
//!
//! A table that a later version adds is planted too: with this library installed and a database's
//! extension still at 0.4.0 (until `ALTER EXTENSION UPDATE`), mallory's own `published_totals`,
//! with a trigger, is neither written by the worker (a superuser) nor read by the stats.
//!
//! Casts between built-in types cannot be planted: CREATE CAST needs ownership of its source or
//! target type, and only the bootstrap superuser owns those.
//!
//! The traps are armed: before anything runs, each one is reached from a session whose
//! search_path puts `public` first, and the worker's rebuild statement as it was before
//! search_path = pg_catalog, pg_temp (`ram_gb * 1000000000` under pg_catalog, public) runs
//! mallory's `*(numeric,int4)`.

mod common;

use common::{connect, eventually, liveness_path, Caller, PostgRest, PreviousVersionInstalled};
use compute_devices_test_support::{Cluster, ClusterPort, SUPABASE_ROLES};
use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, Row};
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

static PORT: ClusterPort = ClusterPort::new();
/// The database shared memory and the worker serve.
const SERVED: &str = "shadowed";
/// On the table path: the worker serves another database.
const TABLE_PATH: &str = "shadowed_table";
/// Planted first, then the extension created in it.
const INSTALLED: &str = "shadowed_install";
/// 0.2.0 installed, planted, then updated.
const UPDATED: &str = "shadowed_update";
const PREVIOUS: &str = "0.2.0";
/// Served by the worker of a cluster of its own, at the version before published_totals.
const BEFORE_PUBLISHED: &str = "shadowed_before_published";
const VERSION_BEFORE_PUBLISHED: &str = "0.4.0";
/// A device nobody has.
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

#[test]
fn shadowing_objects_in_the_extensions_schema_never_run_or_change_an_answer() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("shadowing_install", vec![]);
    let cluster = Cluster::init(
        "shadowing",
        &format!(
            "compute_devices.database = '{SERVED}'\n\
             compute_devices.sweep_interval = '1s'\n\
             compute_devices.last_seen_flush_interval = '1s'\n\
             log_line_prefix = '%m [%p] '"
        ),
    );
    cluster.start();
    PORT.set(&cluster);
    drop(cluster.serve(SERVED));
    let mut log = ServerLog {
        path: cluster.data.join("server.log"),
        probe: None,
    };
    let mut admin = connect(PORT.get(), "postgres", "postgres");
    admin.batch_execute("CREATE ROLE mallory LOGIN").unwrap();
    for database in [TABLE_PATH, INSTALLED, UPDATED] {
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .unwrap();
    }
    for database in [SERVED, TABLE_PATH, INSTALLED, UPDATED] {
        connect(PORT.get(), "postgres", database)
            .batch_execute("GRANT CREATE ON SCHEMA public TO mallory")
            .unwrap();
    }
    connect(PORT.get(), "postgres", TABLE_PATH)
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();
    {
        let _previous = PreviousVersionInstalled::new(PREVIOUS);
        connect(PORT.get(), "postgres", UPDATED)
            .batch_execute(&format!(
                "CREATE EXTENSION compute_devices VERSION '{PREVIOUS}'"
            ))
            .unwrap();
    }

    // Before anything is planted: who may do what, and what every call answers.
    let roles_before = roles(&mut admin);
    let served_before = extension_privileges(SERVED);
    let table_path_before = extension_privileges(TABLE_PATH);
    let served_control = drive(&log, SERVED, 1);
    let table_path_control = drive(&log, TABLE_PATH, 2);

    // Mallory plants everywhere, before the new install and the update of those databases.
    let plants = plants();
    for database in [SERVED, TABLE_PATH, INSTALLED, UPDATED] {
        plant(database, &plants);
    }
    log.probe = Some(prove_the_traps_are_armed(&plants));

    connect(PORT.get(), "postgres", INSTALLED)
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();
    connect(PORT.get(), "postgres", UPDATED)
        .batch_execute("ALTER EXTENSION compute_devices UPDATE")
        .unwrap();

    log.assert_no_trap_ran("the install and the update");
    for (database, control, run) in [
        (SERVED, &served_control, 3),
        (TABLE_PATH, &table_path_control, 4),
        (INSTALLED, &table_path_control, 5),
        (UPDATED, &table_path_control, 6),
    ] {
        let planted = drive(&log, database, run);
        log.assert_no_trap_ran(&format!("the calls in {database}"));
        same_transcript(database, control, &planted);
    }

    restart_and_write_back(&cluster);
    log.assert_no_trap_ran("the restart and the write-back");

    let mut admin = connect(PORT.get(), "postgres", "postgres");
    assert_eq!(roles(&mut admin), roles_before, "roles and memberships");
    let mallory: (bool, i64) = {
        let row = admin
            .query_one(
                "SELECT r.rolsuper, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid)
                   FROM pg_roles r WHERE r.rolname = 'mallory'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(mallory, (false, 0), "mallory: not superuser, in no role");
    assert_eq!(extension_privileges(SERVED), served_before);
    assert_eq!(extension_privileges(TABLE_PATH), table_path_before);
    assert_eq!(extension_privileges(INSTALLED), table_path_before);
    // The update gives every object it has a new install's owner and privileges; objects it
    // does not create (yet) are tests/upgrade.rs's to catch.
    for line in extension_privileges(UPDATED) {
        assert!(
            table_path_before.contains(&line),
            "after the update: {line}"
        );
    }
}

/// Mallory's `published_totals` (a fresh row counting 1000 laptops, and a trigger that logs
/// `SHADOWED published_totals` on every write) in a database the worker serves at 0.4.0: the
/// worker, which publishes every second and withdraws or publishes again around a restart, never
/// writes it, and the stats, which serve published totals until the slots are rebuilt after
/// the restart, never answer her row.
#[test]
fn a_published_totals_of_someone_elses_is_never_written_or_read() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("shadowing_before_published_install", vec![]);
    let cluster = Cluster::init(
        "shadowing_before_published",
        &format!(
            "compute_devices.database = '{BEFORE_PUBLISHED}'\n\
             log_line_prefix = '%m [%p] '"
        ),
    );
    cluster.start();
    let port = cluster.port();
    let mut admin = connect(port, "postgres", "postgres");
    admin.batch_execute(SUPABASE_ROLES).unwrap();
    admin.batch_execute("CREATE ROLE mallory LOGIN").unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {BEFORE_PUBLISHED}"))
        .unwrap();
    let mut superuser = connect(port, "postgres", BEFORE_PUBLISHED);
    {
        let _previous = PreviousVersionInstalled::new(VERSION_BEFORE_PUBLISHED);
        superuser
            .batch_execute(&format!(
                "GRANT CREATE ON SCHEMA public TO mallory;
                 CREATE EXTENSION compute_devices VERSION '{VERSION_BEFORE_PUBLISHED}'"
            ))
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(40), || liveness_path(&mut superuser)
            == "shared memory"),
        "the worker serves {BEFORE_PUBLISHED}"
    );

    let planted_row = "SELECT taken_at::text, by_type::text FROM public.published_totals";
    connect(port, "mallory", BEFORE_PUBLISHED)
        .batch_execute(
            "CREATE TABLE public.published_totals (
                 singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                 taken_at timestamptz NOT NULL,
                 active_window_seconds integer NOT NULL,
                 by_type jsonb NOT NULL);
             INSERT INTO public.published_totals (taken_at, active_window_seconds, by_type)
             VALUES (now() + interval '1 day', 300,
                     '{\"laptop\": {\"active_nodes\": 1000, \"total_ram_gb\": 1000,
                                    \"total_cpu_cores\": 1000, \"total_storage_gb\": 1000}}');
             CREATE FUNCTION public.published_totals_written() RETURNS trigger
                 LANGUAGE plpgsql AS $trap$
                 BEGIN
                     RAISE LOG 'SHADOWED published_totals % by %', TG_OP, current_user;
                     RETURN NULL;
                 END
                 $trap$;
             CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
                 ON public.published_totals
                 FOR EACH STATEMENT EXECUTE FUNCTION public.published_totals_written();
             GRANT SELECT, INSERT, UPDATE, DELETE ON public.published_totals TO PUBLIC",
        )
        .unwrap();
    let planted: (String, String) = {
        let row = superuser.query_one(planted_row, &[]).unwrap();
        (row.get(0), row.get(1))
    };

    // Armed: a write by anyone else springs it (from a session whose lines are left out).
    let mut log = ServerLog {
        path: cluster.data.join("server.log"),
        probe: None,
    };
    let mut probe = connect(port, "postgres", BEFORE_PUBLISHED);
    let probe_pid: i32 = probe
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    probe
        .batch_execute("DELETE FROM public.published_totals WHERE false")
        .unwrap();
    log.probe = Some(probe_pid);
    let armed = std::fs::read_to_string(&log.path).unwrap();
    assert!(
        armed.contains(&format!(
            "[{probe_pid}] LOG:  SHADOWED published_totals DELETE by postgres"
        )),
        "the trap logs a write"
    );

    // The worker publishes every second where the table is the extension's.
    std::thread::sleep(Duration::from_secs(4));
    log.assert_no_trap_ran("the worker's ticks at 0.4.0");

    // After a restart, the stats serve published totals until the slots are rebuilt (the
    // worker withdraws and publishes around it): never mallory's row.
    drop((superuser, probe));
    cluster.stop();
    cluster.start();
    let mut api = PostgRest {
        client: connect(port, "authenticator", BEFORE_PUBLISHED),
    };
    let mut superuser = connect(port, "postgres", BEFORE_PUBLISHED);
    let mut calls = 0;
    let served = eventually(Duration::from_secs(40), || {
        let path = liveness_path(&mut superuser);
        let (active_nodes, ..) = api.stats(Caller::Anon).unwrap();
        assert_eq!(
            active_nodes, 0,
            "the stats on the path '{path}' read mallory's row"
        );
        calls += 1;
        path == "shared memory"
    });
    assert!(served, "the worker serves {BEFORE_PUBLISHED} again");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 0, "after {calls} calls");
    log.assert_no_trap_ran("the restart and the worker's ticks at 0.4.0");
    let row = superuser.query_one(planted_row, &[]).unwrap();
    assert_eq!(
        (row.get(0), row.get(1)),
        planted,
        "mallory's row as she left it"
    );
    cluster.stop();
}

/// One trap in `public`: the statements that create it, and a statement that reaches it from a
/// session whose search_path is `public, pg_catalog` (raising `SHADOWED <label>`, or for a type,
/// answering true).
struct Plant {
    label: String,
    create: Vec<String>,
    probe: String,
}

/// A plpgsql function that logs and raises `SHADOWED <label>`, whatever it is called with.
fn trap(name: &str, args: &str, returns: &str, label: &str) -> String {
    format!(
        "CREATE FUNCTION public.{name}({args}) RETURNS {returns} LANGUAGE plpgsql AS $trap$
         BEGIN
             RAISE LOG 'SHADOWED {label}';
             RAISE EXCEPTION 'SHADOWED {label}';
         END
         $trap$"
    )
}

fn function(name: &str, args: &str, returns: &str, label: &str, probe: &str) -> Plant {
    Plant {
        label: label.to_string(),
        create: vec![trap(name, args, returns, label)],
        probe: probe.to_string(),
    }
}

fn operator(op: &str, left: &str, right: &str, returns: &str) -> Plant {
    let word = match op {
        "=" => "eq",
        "<>" => "ne",
        "*" => "times",
        "-" => "minus",
        ">" => "gt",
        "||" => "concat",
        "->>" => "field",
        _ => unreachable!("{op}"),
    };
    let label = format!("{op}({left},{right})");
    let function = format!("shadowed_{word}_{left}_{right}");
    Plant {
        create: vec![
            trap(
                &function,
                &format!("pg_catalog.{left}, pg_catalog.{right}"),
                &format!("pg_catalog.{returns}"),
                &label,
            ),
            format!(
                "CREATE OPERATOR public.{op} (LEFTARG = pg_catalog.{left}, \
                 RIGHTARG = pg_catalog.{right}, FUNCTION = public.{function})"
            ),
        ],
        probe: format!("SELECT NULL::pg_catalog.{left} {op} NULL::pg_catalog.{right}"),
        label,
    }
}

/// `name(arg)` as an aggregate whose step and final functions are traps; `arg` "*" for count(*).
fn aggregate(name: &str, arg: &str, state: &str) -> Plant {
    let label = format!("{name}({arg})");
    let (signature, step_args, probe) = if arg == "*" {
        (
            "*".to_string(),
            format!("pg_catalog.{state}"),
            format!("SELECT {name}(*) FROM (VALUES (1)) AS v(x)"),
        )
    } else {
        (
            format!("pg_catalog.{arg}"),
            format!("pg_catalog.{state}, pg_catalog.{arg}"),
            format!("SELECT {name}(x) FROM (VALUES (NULL::pg_catalog.{arg})) AS v(x)"),
        )
    };
    let stem = format!("shadowed_{name}_{}", if arg == "*" { "star" } else { arg });
    let state = format!("pg_catalog.{state}");
    Plant {
        create: vec![
            trap(&format!("{stem}_step"), &step_args, &state, &label),
            trap(&format!("{stem}_final"), &state, &state, &label),
            format!(
                "CREATE AGGREGATE public.{name}({signature}) \
                 (SFUNC = public.{stem}_step, STYPE = {state}, FINALFUNC = public.{stem}_final)"
            ),
        ],
        probe,
        label,
    }
}

/// A composite type named like a built-in one.
fn type_named(name: &str) -> Plant {
    Plant {
        label: format!("type {name}"),
        create: vec![format!(
            "CREATE TYPE public.{name} AS (shadowed pg_catalog.int4)"
        )],
        probe: format!(
            "SELECT pg_catalog.to_regtype('{name}') OPERATOR(pg_catalog.=) 'public.{name}'::pg_catalog.regtype"
        ),
    }
}

/// A view named like a catalog: its rows are the catalog's, but reading it springs a trap.
fn relation(name: &str) -> Plant {
    let label = format!("relation {name}");
    let function = format!("shadowed_relation_{name}");
    Plant {
        create: vec![
            trap(&function, "", "pg_catalog.bool", &label),
            format!(
                "CREATE VIEW public.{name} AS SELECT * FROM pg_catalog.{name} WHERE public.{function}()"
            ),
        ],
        probe: format!("SELECT 1 FROM {name} LIMIT 1"),
        label,
    }
}

/// Everything our SQL (functions, worker, install and update scripts) names, as mallory may
/// plant it in `public`.
fn plants() -> Vec<Plant> {
    let mut plants = vec![
        operator("=", "uuid", "uuid", "bool"),
        operator("=", "text", "text", "bool"),
        operator("=", "name", "name", "bool"),
        operator("=", "name", "text", "bool"),
        operator("=", "oid", "oid", "bool"),
        operator("=", "int4", "int4", "bool"),
        operator("=", "int4", "int8", "bool"),
        operator("=", "uuid", "text", "bool"),
        operator("<>", "text", "text", "bool"),
        operator("*", "numeric", "int4", "numeric"),
        operator("*", "numeric", "int8", "numeric"),
        operator("*", "numeric", "numeric", "numeric"),
        operator("-", "timestamptz", "interval", "timestamptz"),
        operator(">", "timestamptz", "timestamptz", "bool"),
        operator("||", "text", "text", "text"),
        operator("->>", "jsonb", "text", "text"),
        function("now", "", "pg_catalog.timestamptz", "now()", "SELECT now()"),
        function(
            "make_interval",
            "secs pg_catalog.float8",
            "pg_catalog.interval",
            "make_interval(secs)",
            "SELECT make_interval(1::pg_catalog.float8)",
        ),
        function(
            "make_interval",
            "years pg_catalog.int4 DEFAULT 0, months pg_catalog.int4 DEFAULT 0, \
             weeks pg_catalog.int4 DEFAULT 0, days pg_catalog.int4 DEFAULT 0, \
             hours pg_catalog.int4 DEFAULT 0, mins pg_catalog.int4 DEFAULT 0, \
             secs pg_catalog.float8 DEFAULT 0",
            "pg_catalog.interval",
            "make_interval(years, ..., secs)",
            "SELECT make_interval(1, 2)",
        ),
        function(
            "unnest",
            "pg_catalog.anyarray",
            "SETOF pg_catalog.anyelement",
            "unnest(anyarray)",
            "SELECT * FROM unnest(ARRAY[1])",
        ),
        function(
            "unnest",
            "pg_catalog.uuid[]",
            "SETOF pg_catalog.uuid",
            "unnest(uuid[])",
            "SELECT * FROM unnest(ARRAY[NULL::pg_catalog.uuid])",
        ),
        function(
            "set_config",
            "pg_catalog.text, pg_catalog.text, pg_catalog.bool",
            "pg_catalog.text",
            "set_config(text,text,bool)",
            "SELECT set_config('shadowing.probe', 'x', true)",
        ),
        function(
            "current_setting",
            "pg_catalog.text, pg_catalog.bool",
            "pg_catalog.text",
            "current_setting(text,bool)",
            "SELECT current_setting('port', true)",
        ),
        function(
            "current_setting",
            "pg_catalog.text",
            "pg_catalog.text",
            "current_setting(text)",
            "SELECT current_setting('port')",
        ),
        function(
            "quote_ident",
            "pg_catalog.text",
            "pg_catalog.text",
            "quote_ident(text)",
            "SELECT quote_ident('x')",
        ),
        function(
            "gen_random_uuid",
            "",
            "pg_catalog.uuid",
            "gen_random_uuid()",
            "SELECT gen_random_uuid()",
        ),
        function(
            "nextval",
            "pg_catalog.regclass",
            "pg_catalog.int8",
            "nextval(regclass)",
            "SELECT nextval('pg_catalog.pg_class'::pg_catalog.regclass)",
        ),
        function(
            "trim_scale",
            "pg_catalog.numeric",
            "pg_catalog.numeric",
            "trim_scale(numeric)",
            "SELECT trim_scale(1.0)",
        ),
        function(
            "pg_advisory_xact_lock",
            "pg_catalog.int4, pg_catalog.int4",
            "void",
            "pg_advisory_xact_lock(int4,int4)",
            "SELECT pg_advisory_xact_lock(1, 2)",
        ),
        function(
            "pg_extension_config_dump",
            "pg_catalog.regclass, pg_catalog.text",
            "void",
            "pg_extension_config_dump(regclass,text)",
            "SELECT pg_extension_config_dump('pg_catalog.pg_class'::pg_catalog.regclass, '')",
        ),
        function(
            "int8",
            "pg_catalog.numeric",
            "pg_catalog.int8",
            "int8(numeric)",
            "SELECT int8(1.5)",
        ),
        function(
            "int4",
            "pg_catalog.int8",
            "pg_catalog.int4",
            "int4(int8)",
            "SELECT int4(1::pg_catalog.int8)",
        ),
        aggregate("sum", "numeric", "numeric"),
        aggregate("sum", "int4", "int8"),
        aggregate("sum", "int8", "numeric"),
        aggregate("count", "*", "int8"),
        aggregate("count", "uuid", "int8"),
    ];
    plants.extend(
        ["pg_extension", "pg_namespace", "pg_class", "pg_roles"]
            .into_iter()
            .map(relation),
    );
    // Last: the traps above name their types with pg_catalog anyway.
    plants.extend(
        [
            "int8",
            "int4",
            "uuid",
            "text",
            "timestamptz",
            "bool",
            "name",
            "oid",
            "regclass",
            "jsonb",
            "float8",
        ]
        .into_iter()
        .map(type_named),
    );
    plants
}

/// Mallory plants every trap in the database's `public`.
fn plant(database: &str, plants: &[Plant]) {
    let mut mallory = connect(PORT.get(), "mallory", database);
    for statement in plants.iter().flat_map(|plant| &plant.create) {
        mallory
            .batch_execute(statement)
            .unwrap_or_else(|error| panic!("mallory in {database}: {statement}: {error}"));
    }
}

/// Reaches every trap from a superuser session that puts `public` first, and runs the worker's
/// rebuild statement as it was (an unqualified `*` under pg_catalog, public). Returns that
/// session's pid: its lines are the only ones in the log that may say SHADOWED.
fn prove_the_traps_are_armed(plants: &[Plant]) -> i32 {
    let mut probe = connect(PORT.get(), "postgres", SERVED);
    let pid: i32 = probe
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    probe
        .batch_execute("SET search_path = public, pg_catalog")
        .unwrap();
    for plant in plants {
        let result = probe.query(&plant.probe, &[]);
        if plant.label.starts_with("type ") {
            let resolved: bool = result.unwrap()[0].get(0);
            assert!(resolved, "{}: {} is mallory's", plant.label, plant.probe);
        } else {
            let message = error_message(result);
            assert_eq!(
                message,
                format!("SHADOWED {}", plant.label),
                "{}",
                plant.probe
            );
        }
    }
    probe
        .batch_execute("SET search_path = pg_catalog, public, pg_temp")
        .unwrap();
    let before_the_fix = probe.query(
        "SELECT (d.ram_gb * 1000000000)::pg_catalog.int8 FROM public.compute_devices AS d",
        &[],
    );
    assert_eq!(error_message(before_the_fix), "SHADOWED *(numeric,int4)");
    pid
}

/// The server log, where every trap that runs leaves a line saying `SHADOWED <what>`.
struct ServerLog {
    path: PathBuf,
    /// The pid of the session that reached every trap on purpose, once it has.
    probe: Option<i32>,
}

impl ServerLog {
    /// The lines of traps that ran, the probing session's left out.
    fn sprung(&self) -> Vec<String> {
        let probe = self.probe.map(|pid| format!("[{pid}]"));
        let log = std::fs::read_to_string(&self.path).unwrap();
        log.lines()
            .filter(|line| line.contains("SHADOWED"))
            .filter(|line| probe.as_ref().is_none_or(|probe| !line.contains(probe)))
            .map(str::to_string)
            .collect()
    }

    fn assert_no_trap_ran(&self, during: &str) {
        let sprung = self.sprung();
        assert!(
            sprung.is_empty(),
            "traps ran during {during}:\n{}",
            sprung.join("\n")
        );
    }
}

fn error_message<T: Debug>(result: Result<T, postgres::Error>) -> String {
    let error = result.expect_err("a trap raises");
    let db_error = error.as_db_error().expect("a database error");
    db_error.message().to_string()
}

/// Every role and membership, with everything a role may be given.
fn roles(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT format('%s super=%s inherit=%s createrole=%s createdb=%s login=%s
                            replication=%s bypassrls=%s config=%s',
                           rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                           rolreplication, rolbypassrls, rolconfig)
               FROM pg_roles
             UNION ALL
             SELECT format('%s member of %s admin=%s by %s',
                           member::regrole, roleid::regrole, admin_option, grantor::regrole)
               FROM pg_auth_members
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The owner and privileges of each of the extension's objects (the test build's own `tests`
/// schema left out), of its schema and of the database.
fn extension_privileges(database: &str) -> Vec<String> {
    let mut client = connect(PORT.get(), "postgres", database);
    client
        .query(
            "SELECT format('%s owner=%s acl=%s', pg_describe_object(d.classid, d.objid, 0),
                           coalesce(c.relowner, p.proowner, t.typowner, n.nspowner)::regrole,
                           coalesce(c.relacl, p.proacl, t.typacl, n.nspacl))
               FROM pg_depend d
               LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
               LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
               LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
               LEFT JOIN pg_namespace n ON d.classid = 'pg_namespace'::regclass AND n.oid = d.objid
              WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'compute_devices')
                AND pg_describe_object(d.classid, d.objid, 0) <> 'schema tests'
                AND pg_describe_object(d.classid, d.objid, 0) NOT LIKE 'function tests.%'
             UNION ALL
             SELECT format('schema public owner=%s acl=%s', nspowner::regrole, nspacl)
               FROM pg_namespace WHERE nspname = 'public'
             UNION ALL
             SELECT format('database owner=%s acl=%s', datdba::regrole, datacl)
               FROM pg_database WHERE datname = current_database()
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// What each call answered, with ids replaced by the names of what they identify.
struct Transcript<'a> {
    lines: Vec<String>,
    names: Vec<(String, String)>,
    log: &'a ServerLog,
}

impl Transcript<'_> {
    fn name(&mut self, id: &str, name: &str) {
        self.names.push((id.to_string(), name.to_string()));
    }

    /// Notes the answer (or the error's SQLSTATE and message) and returns the answer.
    fn note<T: Debug>(&mut self, what: &str, result: Result<T, postgres::Error>) -> Option<T> {
        let outcome = result.map_err(|error| {
            let db_error = error
                .as_db_error()
                .unwrap_or_else(|| panic!("{what}: {error}"));
            assert!(
                !db_error.message().contains("SHADOWED"),
                "{what} ran a trap: {}",
                db_error.message()
            );
            assert_ne!(
                db_error.code(),
                &SqlState::QUERY_CANCELED,
                "{what} did not finish; traps that ran:\n{}",
                self.log.sprung().join("\n")
            );
            format!("{} {}", db_error.code().code(), db_error.message())
        });
        let mut line = format!("{what}: {outcome:?}");
        for (id, name) in &self.names {
            line = line.replace(id, name);
        }
        self.lines.push(line);
        outcome.ok()
    }

    fn rows(&mut self, what: &str, result: Result<Vec<Row>, postgres::Error>) {
        self.note(
            what,
            result.map(|rows| rows.iter().map(render).collect::<Vec<_>>()),
        );
    }

    fn row(&mut self, what: &str, result: Result<Row, postgres::Error>) {
        self.note(what, result.map(|row| render(&row)));
    }

    /// Registers a device and names its id; UNKNOWN if it failed (noted).
    fn register(
        &mut self,
        api: &mut PostgRest,
        caller: Caller<'_>,
        name: &str,
        device_type: &str,
        specs: (&str, i32, &str),
    ) -> String {
        let row = api.register(caller, name, device_type, specs);
        self.named_row(&format!("{caller:?} registers {name}"), name, row)
    }

    fn named_row(&mut self, what: &str, name: &str, row: Result<Row, postgres::Error>) -> String {
        let id = row.as_ref().map_or(UNKNOWN.to_string(), |row| row.get(0));
        self.name(&id, name);
        self.row(what, row);
        id
    }
}

/// A row's columns (text, bool, int4 or int8), each as `Some(value)` or `None`.
fn render(row: &Row) -> Vec<String> {
    (0..row.len())
        .map(|i| match *row.columns()[i].type_() {
            Type::BOOL => format!("{:?}", row.get::<_, Option<bool>>(i)),
            Type::INT4 => format!("{:?}", row.get::<_, Option<i32>>(i)),
            Type::INT8 => format!("{:?}", row.get::<_, Option<i64>>(i)),
            _ => format!("{:?}", row.get::<_, Option<String>>(i)),
        })
        .collect()
}

/// Each API function as it is called, with arguments that change nothing.
const EVERY_FUNCTION: [&str; 13] = [
    "SELECT active_nodes, total_cpu_cores FROM get_network_stats()",
    "SELECT device_type, active_nodes FROM get_network_stats_by_type()",
    "SELECT device_name FROM register_device('matrix', 'toaster', 1, 1, 1)",
    "SELECT device_id::text FROM send_heartbeat('00000000-0000-4000-8000-000000000000')",
    "SELECT id::text FROM deactivate_device('00000000-0000-4000-8000-000000000000')",
    "SELECT device_name FROM get_user_devices()",
    "SELECT user_id::text, error_code FROM send_heartbeats(
         ARRAY['00000000-0000-4000-8000-000000000000']::uuid[],
         ARRAY['00000000-0000-4000-8000-000000000000']::uuid[])",
    "SELECT caller_user_id()::text",
    "SELECT calculate_compute_score(16, 8, 512)::text",
    "SELECT path FROM liveness_status()",
    "SELECT sweep_stale_devices()",
    "SELECT device_name FROM compute_devices",
    "SELECT device_name, is_active FROM compute_devices_live",
];

const TIMEOUT: &str = "SET statement_timeout = '20s'";

const BATCH: &str = "
    SELECT user_id::text, device_id::text, is_active, last_seen IS NOT NULL,
           next_heartbeat_in_seconds, error_code, error_message
      FROM send_heartbeats(user_ids => $1::text[]::uuid[], device_ids => $2::text[]::uuid[])";

const STATS: &str = "
    SELECT active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
           trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text
      FROM get_network_stats()";

const STATS_BY_TYPE: &str = "
    SELECT device_type, active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
           trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text
      FROM get_network_stats_by_type()";

/// Every API function as every role, through PostgREST's call shape, then as the superuser
/// (resync_liveness() too, where it exists). A run starts and ends with no device active: every
/// device it makes is stopped at the end. Its users are its own; the transcript names them
/// `user a` and `user b`.
fn drive(log: &ServerLog, database: &str, run: u32) -> Vec<String> {
    let a = format!("{run:08x}-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
    let b = format!("{run:08x}-bbbb-4bbb-8bbb-bbbbbbbbbbbb");
    let mut t = Transcript {
        lines: Vec::new(),
        names: vec![(a.clone(), "user a".into()), (b.clone(), "user b".into())],
        log,
    };
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", database),
    };
    let mut superuser = connect(PORT.get(), "postgres", database);
    // A call that waits on a worker stuck in a trap fails instead of hanging the test.
    for client in [&mut api.client, &mut superuser] {
        client.batch_execute(TIMEOUT).unwrap();
    }
    let resync = superuser
        .query_one(
            "SELECT to_regprocedure('public.resync_liveness()') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get::<_, bool>(0);

    let no_sub = r#"{"role":"authenticated"}"#;
    for caller in [
        Caller::Anon,
        Caller::Service,
        Caller::User(&a),
        Caller::AuthenticatedWithClaims(no_sub),
    ] {
        for sql in EVERY_FUNCTION {
            t.rows(&format!("{caller:?}: {sql}"), api.call(caller, sql, &[]));
        }
        if resync {
            let sql = "SELECT 1 FROM resync_liveness() LIMIT 1";
            t.rows(&format!("{caller:?}: {sql}"), api.call(caller, sql, &[]));
        }
    }

    // a's devices: registered, registered again with new specs, beaten, listed, read through
    // the policy, counted, one stopped.
    let (user_a, user_b) = (Caller::User(&a), Caller::User(&b));
    let laptop = t.register(&mut api, user_a, "laptop", "laptop", ("16", 8, "512"));
    let server = t.register(
        &mut api,
        user_a,
        "server",
        "server",
        ("64.5", 32, "1000.25"),
    );
    t.register(&mut api, user_a, "laptop", "laptop", ("32.75", 16, "1024"));
    t.row("a beats the laptop", api.heartbeat(user_a, &laptop));
    t.row("a beats the server", api.heartbeat(user_a, &server));
    t.row("b beats a's laptop", api.heartbeat(user_b, &laptop));
    t.note("a's devices", api.user_devices(user_a));
    let own_rows = "SELECT device_name, ram_gb::text, cpu_cores, storage_gb::text,
                           compute_score::text, is_active
                      FROM compute_devices ORDER BY device_name";
    t.rows("a reads the table", api.call(user_a, own_rows, &[]));
    t.rows("b reads the table", api.call(user_b, own_rows, &[]));
    let live_rows = own_rows.replace("FROM compute_devices", "FROM compute_devices_live");
    t.rows("a reads the view", api.call(user_a, &live_rows, &[]));
    t.rows("b reads the view", api.call(user_b, &live_rows, &[]));
    t.note("stats", api.stats(Caller::Anon));
    t.note("stats by type", api.stats_by_type(user_a));
    t.row("a stops the server", api.deactivate(user_a, &server));
    t.row("a beats the stopped server", api.heartbeat(user_a, &server));
    t.row("b stops a's laptop", api.deactivate(user_b, &laptop));
    let phone = t.register(&mut api, user_b, "phone", "phone", ("4", 8, "64"));
    let (owners, devices) = (
        vec![Some(&a), Some(&a), Some(&b), Some(&b), None],
        vec![
            Some(&laptop),
            Some(&server),
            Some(&laptop),
            Some(&phone),
            Some(&phone),
        ],
    );
    t.rows(
        "a trusted server's batch",
        api.call(Caller::Service, BATCH, &[&owners, &devices]),
    );
    t.note("stats", api.stats(Caller::Anon));

    // The superuser, as b.
    let claims = format!(r#"{{"sub":"{b}","role":"authenticated"}}"#);
    superuser
        .execute(
            "SELECT pg_catalog.set_config('request.jwt.claims', $1, false)",
            &[&claims],
        )
        .unwrap();
    let register = "SELECT id::text, device_name, ram_gb::text, compute_score::text, is_active
                      FROM register_device($1, 'desktop', 8.25, 4, 256)";
    let desktop = t.named_row(
        "superuser registers",
        "desktop",
        superuser.query_one(register, &[&"desktop"]),
    );
    t.rows(
        "superuser beats",
        superuser.query(
            "SELECT device_id::text, is_active, next_heartbeat_in_seconds
               FROM send_heartbeat($1::text::uuid)",
            &[&desktop],
        ),
    );
    t.rows(
        "superuser's batch",
        superuser.query(BATCH, &[&vec![&b], &vec![&desktop]]),
    );
    for sql in [
        "SELECT device_name, is_active FROM get_user_devices()",
        "SELECT caller_user_id()::text",
        STATS,
        STATS_BY_TYPE,
        "SELECT calculate_compute_score(16.5, 8, 512)::text",
        "SELECT path FROM liveness_status()",
        "SELECT sweep_stale_devices()",
    ] {
        t.rows(&format!("superuser: {sql}"), superuser.query(sql, &[]));
    }
    if resync {
        let resynced = superuser.query("SELECT 1 FROM resync_liveness() LIMIT 1", &[]);
        t.note("superuser resyncs", resynced.map(|_| ()));
    }
    let deactivate = "SELECT device_name, is_active FROM deactivate_device($1::text::uuid)";
    t.rows(
        "superuser stops the desktop",
        superuser.query(deactivate, &[&desktop]),
    );
    t.row("a stops the laptop", api.deactivate(user_a, &laptop));
    t.row("b stops the phone", api.deactivate(user_b, &phone));

    // A device silent past a 1 s window: the table path's sweep marks it inactive (on the
    // shared-memory path that is the worker's, and the sweep answers 0).
    superuser
        .batch_execute("SET compute_devices.active_window = 1")
        .unwrap();
    let stale = t.named_row(
        "superuser registers",
        "stale",
        superuser.query_one(register, &[&"stale"]),
    );
    std::thread::sleep(Duration::from_millis(1500));
    for sql in [
        "SELECT sweep_stale_devices()",
        "SELECT device_name, is_active FROM get_user_devices()",
    ] {
        t.rows(
            &format!("superuser, 1 s window: {sql}"),
            superuser.query(sql, &[]),
        );
    }
    superuser
        .batch_execute("RESET compute_devices.active_window")
        .unwrap();
    t.rows(
        "superuser stops the stale device",
        superuser.query(deactivate, &[&stale]),
    );
    t.note("stats at the end", api.stats(Caller::Anon));
    t.note("a's devices at the end", api.user_devices(user_a));
    t.lines
}

/// The planted run answered as the control did. resync_liveness() is compared only where both
/// databases have it: one updated by a script that does not create it lacks it, which is for
/// tests/upgrade.rs to catch.
fn same_transcript(database: &str, control: &[String], planted: &[String]) {
    let has_resync = |lines: &[String]| lines.iter().any(|line| line.contains("resync"));
    let skewed = has_resync(control) != has_resync(planted);
    if skewed {
        eprintln!("{database}: resync_liveness() is in only one of the databases compared");
    }
    let comparable = |lines: &[String]| -> Vec<String> {
        let lines = lines.iter();
        lines
            .filter(|line| !(skewed && line.contains("resync")))
            .cloned()
            .collect()
    };
    let (control, planted) = (comparable(control), comparable(planted));
    for (expected, actual) in control.iter().zip(&planted) {
        assert_eq!(actual, expected, "{database}, planted vs. control");
    }
    assert_eq!(planted.len(), control.len(), "{database}: calls made");
}

/// A restart with devices in the table (the worker rebuilds the slots from it), then a device
/// gone stale under a 4 s window that the worker writes back as inactive, and again as active
/// after a heartbeat.
fn restart_and_write_back(cluster: &Cluster) {
    let mut superuser = connect(PORT.get(), "postgres", SERVED);
    superuser
        .batch_execute(&format!(
            "ALTER DATABASE {SERVED} SET compute_devices.active_window = '4s'"
        ))
        .unwrap();
    let owner = "000000c0-cccc-4ccc-8ccc-cccccccccccc";
    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", SERVED),
    };
    let kept: String = api
        .register(
            Caller::User(owner),
            "kept",
            "desktop",
            ("8.5", 4, "100.125"),
        )
        .unwrap()
        .get(0);
    drop((api, superuser));
    let log = cluster.data.join("server.log");
    let before_restart = std::fs::read_to_string(&log).unwrap().len();
    cluster.stop();
    cluster.start();

    let mut superuser = connect(PORT.get(), "postgres", SERVED);
    let served = eventually(Duration::from_secs(40), || {
        liveness_path(&mut superuser) == "shared memory"
    });
    let since_restart = std::fs::read_to_string(&log).unwrap()[before_restart..].to_string();
    assert!(served, "the worker rebuilt the slots:\n{since_restart}");
    assert!(
        since_restart.contains("compute_devices sweeper: rebuilt"),
        "{since_restart}"
    );

    let mut api = PostgRest {
        client: connect(PORT.get(), "authenticator", SERVED),
    };
    let mut table_row = || -> (bool, f64) {
        let row = superuser
            .query_one(
                "SELECT is_active, extract(epoch FROM last_seen)::float8
                   FROM compute_devices WHERE id = $1::text::uuid",
                &[&kept],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    api.heartbeat(Caller::User(owner), &kept).unwrap();
    assert_eq!(
        api.stats(Caller::Anon).unwrap().0,
        1,
        "the kept device counts"
    );
    assert!(
        eventually(Duration::from_secs(30), || !table_row().0),
        "the worker wrote the stale device back as inactive"
    );
    let stale_since = table_row().1;
    api.heartbeat(Caller::User(owner), &kept).unwrap();
    assert!(
        eventually(Duration::from_secs(30), || table_row().1 > stale_since),
        "the worker wrote the revived device's heartbeat back"
    );
    api.deactivate(Caller::User(owner), &kept).unwrap();
    superuser
        .batch_execute(&format!(
            "ALTER DATABASE {SERVED} RESET compute_devices.active_window"
        ))
        .unwrap();
}
