//! CREATE EXTENSION in public and in another schema, the grants it sets, DROP EXTENSION, and
//! pg_dump keeping the device rows.

mod common;

use common::{create_postgrest_roles, Caller, TestDb, ALICE, GOOD_SPECS};
use std::process::Command;

/// What each API role may do after CREATE EXTENSION alone: anon reads the network totals (also
/// by type); authenticated calls the five API functions and reads (its own) rows; nothing else
/// (published_totals is nobody's).
const EXPECTED_PRIVILEGES: [(&str, bool); 29] = [
    ("has_function_privilege('anon', 'get_network_stats()', 'EXECUTE')", true),
    ("has_function_privilege('anon', 'get_network_stats_by_type()', 'EXECUTE')", true),
    ("has_function_privilege('anon', 'register_device(text, text, numeric, integer, numeric, jsonb, text)', 'EXECUTE')", false),
    ("has_function_privilege('anon', 'get_user_devices()', 'EXECUTE')", false),
    ("has_table_privilege('anon', 'compute_devices', 'SELECT')", false),
    ("has_function_privilege('authenticated', 'get_network_stats()', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'register_device(text, text, numeric, integer, numeric, jsonb, text)', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'send_heartbeat(uuid)', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'deactivate_device(uuid)', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'get_user_devices()', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'calculate_compute_score(numeric, integer, numeric)', 'EXECUTE')", false),
    ("has_function_privilege('authenticated', 'sweep_stale_devices()', 'EXECUTE')", false),
    ("has_table_privilege('authenticated', 'compute_devices', 'SELECT')", true),
    ("has_table_privilege('authenticated', 'compute_devices', 'INSERT, UPDATE, DELETE, TRUNCATE')", false),
    // The published totals: the stats functions read them as their owner; nobody else does.
    ("has_table_privilege('anon', 'published_totals', 'SELECT, INSERT, UPDATE, DELETE')", false),
    ("has_table_privilege('authenticated', 'published_totals', 'SELECT, INSERT, UPDATE, DELETE')", false),
    ("has_table_privilege('service_role', 'published_totals', 'SELECT, INSERT, UPDATE, DELETE')", false),
    // get_capacity is public like the stats; the countries are reference data anyone reads;
    // accelerators are read by their owner (row-level security) and written by no caller.
    ("has_function_privilege('anon', 'get_capacity(text[], text[], text[], numeric, integer, numeric, text[], text[], integer, integer, text, numeric)', 'EXECUTE')", true),
    ("has_function_privilege('authenticated', 'get_capacity(text[], text[], text[], numeric, integer, numeric, text[], text[], integer, integer, text, numeric)', 'EXECUTE')", true),
    ("has_table_privilege('anon', 'countries', 'SELECT')", true),
    ("has_table_privilege('authenticated', 'countries', 'SELECT')", true),
    ("has_table_privilege('anon', 'countries', 'INSERT, UPDATE, DELETE, TRUNCATE')", false),
    ("has_table_privilege('authenticated', 'countries', 'INSERT, UPDATE, DELETE, TRUNCATE')", false),
    ("has_table_privilege('anon', 'device_accelerators', 'SELECT')", false),
    ("has_table_privilege('authenticated', 'device_accelerators', 'SELECT')", true),
    ("has_table_privilege('authenticated', 'device_accelerators', 'INSERT, UPDATE, DELETE, TRUNCATE')", false),
    ("has_function_privilege('authenticated', 'accelerator_slots()', 'EXECUTE')", false),
    // The view runs as its caller and calls device_health(), which answers only for devices
    // the caller may read.
    ("has_function_privilege('anon', 'device_health(uuid, uuid, timestamptz)', 'EXECUTE')", false),
    ("has_function_privilege('authenticated', 'device_health(uuid, uuid, timestamptz)', 'EXECUTE')", true),
];

#[test]
fn create_extension_in_public_grants_the_least_even_under_supabase_default_privileges() {
    let mut db = TestDb::empty("install_public", vec![]);
    create_postgrest_roles(&mut db.superuser);
    // Supabase grants every new table and function in public to anon and authenticated.
    db.superuser
        .batch_execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated;
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated;
             CREATE EXTENSION compute_devices;",
        )
        .unwrap();
    let objects: i64 = db
        .superuser
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relname = 'compute_devices'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(objects, 1, "the table is public.compute_devices");
    for (check, expected) in EXPECTED_PRIVILEGES {
        let allowed: bool = db
            .superuser
            .query_one(&format!("SELECT {check}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(allowed, expected, "{check}");
    }
    // Every function pins its search_path.
    let unpinned: Vec<String> = db
        .superuser
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
               JOIN pg_extension e ON e.oid = d.refobjid
              WHERE e.extname = 'compute_devices' AND p.pronamespace = 'public'::regnamespace
                AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']
                AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, public, pg_temp']",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(unpinned, Vec::<String>::new());
}

#[test]
fn create_extension_in_another_schema_works_and_drop_removes_everything() {
    let mut db = TestDb::empty("install_schema", vec![]);
    create_postgrest_roles(&mut db.superuser);
    db.superuser
        .batch_execute("CREATE SCHEMA api; GRANT USAGE ON SCHEMA api TO anon, authenticated; CREATE EXTENSION compute_devices SCHEMA api;")
        .unwrap();
    let in_public: i64 = db
        .superuser
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(in_public, 0, "nothing lands in public");

    // PostgREST configured with db-schemas = api puts api first on the search_path.
    let mut api = db.postgrest();
    api.client.batch_execute("SET search_path = api").unwrap();
    let id: String = api
        .register(Caller::User(ALICE), "box", "server", GOOD_SPECS)
        .unwrap()
        .get(0);
    assert!(api.heartbeat(Caller::User(ALICE), &id).is_ok());
    assert_eq!(api.stats(Caller::Anon).unwrap().0, 1);

    db.superuser
        .batch_execute("DROP EXTENSION compute_devices")
        .unwrap();
    let leftovers: i64 = db
        .superuser
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'api'::regnamespace)
                  + (SELECT count(*) FROM pg_type WHERE typnamespace = 'api'::regnamespace)
                  + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'api'::regnamespace)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        leftovers, 0,
        "DROP EXTENSION removes every object it created"
    );
}

#[test]
fn pg_dump_keeps_the_device_rows() {
    let db = TestDb::new("dump");
    let mut api = db.postgrest();
    let id: String = api
        .register(Caller::User(ALICE), "dumped", "laptop", GOOD_SPECS)
        .unwrap()
        .get(0);
    let bindir = Command::new("pg_config").arg("--bindir").output().unwrap();
    let bindir = String::from_utf8(bindir.stdout).unwrap();
    let dump = Command::new(format!("{}/pg_dump", bindir.trim()))
        .args(["--host", "localhost", "--port", &db.port.to_string()])
        .args([
            "--username",
            &pgrx_tests::get_pg_user(),
            "--dbname",
            &db.name,
        ])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains("CREATE EXTENSION IF NOT EXISTS compute_devices"));
    assert!(
        dump.contains("COPY public.compute_devices"),
        "the rows are dumped"
    );
    assert!(dump.contains(&id));
}
