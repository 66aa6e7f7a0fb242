//! Updating from the previous version: `ALTER EXTENSION compute_devices UPDATE` gives the same
//! schema as a new install (objects, function definitions and settings, privileges, types,
//! triggers, indexes, constraints, policies, view definitions), keeps the device rows, and the
//! new functions work. Each release's install script is kept in tests/upgrade/ for this, and
//! every release is updated from.

mod common;

use common::{create_postgrest_roles, Caller, PreviousVersionInstalled, TestDb, ALICE, GOOD_SPECS};
use postgres::Client;

#[test]
fn updating_from_0_1_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.1.0");
}

#[test]
fn updating_from_0_2_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.2.0");
}

#[test]
fn updating_from_0_3_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.3.0");
}

#[test]
fn updating_from_0_4_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.4.0");
}

#[test]
fn updating_from_0_5_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.5.0");
}

#[test]
fn updating_from_0_6_0_gives_a_new_installs_schema_and_keeps_the_rows() {
    updating_gives_a_new_installs_schema_and_keeps_the_rows("0.6.0");
}

fn updating_gives_a_new_installs_schema_and_keeps_the_rows(previous: &str) {
    let _previous = PreviousVersionInstalled::new(previous);
    let suffix = previous.replace('.', "_");

    let mut fresh = TestDb::empty(&format!("upgrade_fresh_{suffix}"), vec![]);
    create_postgrest_roles(&mut fresh.superuser);
    fresh
        .superuser
        .batch_execute("CREATE EXTENSION compute_devices")
        .unwrap();

    let mut updated = TestDb::empty(&format!("upgrade_updated_{suffix}"), vec![]);
    updated
        .superuser
        .batch_execute(&format!(
            "CREATE EXTENSION compute_devices VERSION '{previous}'"
        ))
        .unwrap();
    let mut api = updated.postgrest();
    let id: String = api
        .register(Caller::User(ALICE), "kept", "desktop", GOOD_SPECS)
        .unwrap()
        .get(0);
    updated
        .superuser
        .batch_execute("ALTER EXTENSION compute_devices UPDATE")
        .unwrap();

    let versions: Vec<String> = [&mut fresh.superuser, &mut updated.superuser]
        .into_iter()
        .map(|client| {
            client
                .query_one(
                    "SELECT extversion FROM pg_extension WHERE extname = 'compute_devices'",
                    &[],
                )
                .unwrap()
                .get(0)
        })
        .collect();
    assert_eq!(versions[0], versions[1], "updated to the current version");
    assert_ne!(versions[1], previous);

    let expected = schema(&mut fresh.superuser);
    let actual = schema(&mut updated.superuser);
    for line in &expected {
        assert!(actual.contains(line), "missing after the update: {line}");
    }
    for line in &actual {
        assert!(expected.contains(line), "not in a new install: {line}");
    }

    // The device survived, the functions count it, for anon as for anyone, and its owner reads
    // it through the updated policy.
    let mut api = updated.postgrest();
    assert!(api.heartbeat(Caller::User(ALICE), &id).is_ok());
    let own = api.user_devices(Caller::User(ALICE)).unwrap();
    assert_eq!(own.len(), 1);
    let by_type = api.stats_by_type(Caller::Anon).unwrap();
    let desktop = by_type.iter().find(|(t, _)| t == "desktop").unwrap();
    assert_eq!(desktop.1 .0, 1, "{by_type:?}");

    // The device from before the update counts in get_capacity too, without accelerators or
    // a country; registered again, it takes both.
    let capacity = |db: &mut Client| -> Vec<(Option<String>, i64, i64)> {
        db.query(
            "SELECT group_key, active_nodes, total_gpus FROM get_capacity(group_by => 'country')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
    };
    assert_eq!(capacity(&mut updated.superuser), vec![(None, 1, 0)]);
    updated
        .superuser
        .batch_execute(&format!(
            "SELECT set_config('request.jwt.claims', '{{\"sub\":\"{ALICE}\"}}', false);
             SELECT register_device('kept', 'desktop', 16, 8, 512,
                 '[{{\"vendor\":\"nvidia\",\"product_name\":\"NVIDIA GeForce RTX 4090\",
                    \"memory_mib\":24576,\"count\":2}}]', 'de');
             RESET request.jwt.claims"
        ))
        .unwrap();
    assert_eq!(
        capacity(&mut updated.superuser),
        vec![(Some("DE".to_string()), 1, 2)]
    );

    // 0.7.0: the device the table marked active before the update is online since its last
    // heartbeat the table held (one open spell), has health, and the history records.
    let spells: Vec<(bool, bool)> = updated
        .superuser
        .query(
            "SELECT i.ended_at IS NULL, i.started_at <= d.last_seen
               FROM online_intervals AS i JOIN compute_devices AS d ON d.id = i.device_id
              WHERE d.id = $1::text::uuid",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        spells,
        vec![(true, true)],
        "one open spell, opened by the update"
    );
    let health: Option<String> = api
        .call_one(
            Caller::User(ALICE),
            "SELECT health_score::text FROM get_user_devices()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(health.is_some(), "health after the update");
    let recorded: bool = updated
        .superuser
        .query_one("SELECT record_network_history() IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(recorded);
    let history: i64 = updated
        .superuser
        .query_one(
            "SELECT count(*) FROM get_network_history(now() - interval '1 hour', now())",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(history, 1, "the minute just recorded");
}

/// Everything about the extension's schema that an update could get wrong, as sorted lines.
fn schema(client: &mut Client) -> Vec<String> {
    const QUERIES: [&str; 10] = [
        // Less the #[pg_test] functions and their schema, which only a test build installs.
        "SELECT d FROM pg_depend, pg_describe_object(classid, objid, objsubid) AS d
          WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'compute_devices')
            AND d <> 'schema tests' AND d NOT LIKE 'function tests.%'",
        "SELECT pg_get_functiondef(oid) || ' ACL ' || coalesce(proacl::text, 'default')
           FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
        "SELECT t.typname || ': ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                                ', ' ORDER BY a.attnum)
           FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
          WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'c'
          GROUP BY t.typname",
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger
          WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
            AND NOT tgisinternal",
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index
          WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)",
        "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint
          WHERE conrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)",
        "SELECT polrelid::regclass || ' ' || polname || ' ' || pg_get_expr(polqual, polrelid)
           FROM pg_policy",
        "SELECT relname || ' ' || relkind::text || ' ' || coalesce(relacl::text, 'default') || ' '
                || coalesce(reloptions::text, '') || ' ' || relrowsecurity::text
           FROM pg_class WHERE relnamespace = 'public'::regnamespace",
        "SELECT relname || ' ' || pg_get_viewdef(oid) FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relkind = 'v'",
        // The shipped data: every country with its place, the same either way.
        "SELECT 'countries ' || count(*) || ' ' || md5(string_agg(c::text, ',' ORDER BY country_code))
           FROM countries AS c",
    ];
    let mut lines: Vec<String> = QUERIES
        .iter()
        .flat_map(|query| client.query(*query, &[]).unwrap())
        .map(|row| row.get(0))
        .collect();
    lines.sort();
    lines
}
