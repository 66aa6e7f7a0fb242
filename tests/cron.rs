//! The capacity history without the library preloaded (the table path, no background worker of
//! ours): a real pg_cron (Debian's postgresql-15-cron, which .ci/run installs) runs
//! `SELECT record_network_history()` every minute, as the README's recipe schedules it, and the
//! minutes appear with what get_network_stats() answers.

mod common;

use common::{Caller, PostgRest, ALICE, BOB, GOOD_SPECS};
use compute_devices_test_support::{connect, eventually, liveness_path, Cluster, SUPABASE_ROLES};
use std::time::Duration;

const DATABASE: &str = "cron_history";

#[test]
fn pg_cron_records_the_history_every_minute_on_the_table_path() {
    // The pgrx test framework installs the extension the cluster loads.
    common::TestDb::empty("cron_install", vec![]);
    // pg_cron instead of compute_devices in shared_preload_libraries (the later line wins).
    let cluster = Cluster::init(
        "cron",
        &format!(
            "shared_preload_libraries = 'pg_cron'\n\
             cron.database_name = '{DATABASE}'\n\
             cron.use_background_workers = on"
        ),
    );
    cluster.start();
    let mut admin = connect(cluster.port(), "postgres", "postgres");
    admin.batch_execute(SUPABASE_ROLES).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .unwrap();
    let mut superuser = connect(cluster.port(), "postgres", DATABASE);
    superuser
        .batch_execute("CREATE EXTENSION compute_devices; CREATE EXTENSION pg_cron;")
        .unwrap();
    assert_eq!(liveness_path(&mut superuser), "table", "not preloaded");

    let mut api = PostgRest {
        client: connect(cluster.port(), "authenticator", DATABASE),
    };
    api.register(Caller::User(ALICE), "pc", "desktop", GOOD_SPECS)
        .unwrap();
    api.register(Caller::User(BOB), "phone", "phone", ("4", 8, "64"))
        .unwrap();

    // The README's recipe.
    let job: i64 = superuser
        .query_one(
            "SELECT cron.schedule('compute-devices-history', '* * * * *',
                                  'SELECT public.record_network_history()')",
            &[],
        )
        .unwrap()
        .get(0);
    // pg_cron 1.4 runs jobs at the start of a minute: within two minutes, a minute recorded.
    let recorded = eventually(Duration::from_secs(150), || {
        superuser
            .query_one(
                "SELECT count(*) FROM network_history_minutes WHERE kind = 0 AND active_nodes = 2",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            > 0
    });
    // pg_cron marks a run succeeded after the job's own commit: the minute can be visible while
    // the run still reads "running".
    let mut runs = || -> Vec<(String, Option<String>)> {
        superuser
            .query(
                "SELECT status, return_message FROM cron.job_run_details WHERE jobid = $1",
                &[&job],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    };
    assert!(recorded, "pg_cron recorded a minute: its runs {:?}", runs());
    let succeeded = eventually(Duration::from_secs(30), || {
        runs().iter().any(|(status, _)| status == "succeeded")
    });
    assert!(succeeded, "{:?}", runs());

    // What was recorded is what the stats answer, read back as anon.
    let minute: String = superuser
        .query_one(
            "SELECT max(minute)::text FROM network_history_minutes WHERE kind = 0",
            &[],
        )
        .unwrap()
        .get(0);
    let stats = api
        .call_one(
            Caller::Anon,
            "SELECT active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
                    trim_scale(total_compute_score)::text
               FROM get_network_stats_at($1::text::timestamptz)",
            &[&minute],
        )
        .unwrap();
    let now = api
        .call_one(
            Caller::Anon,
            "SELECT active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
                    trim_scale(total_compute_score)::text
               FROM get_network_stats()",
            &[],
        )
        .unwrap();
    let row = |r: &postgres::Row| -> (i64, String, i64, String) {
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!(row(&stats), row(&now));
    assert_eq!(row(&now), (2, "20".to_string(), 16, "148.8".to_string()));
    let by_type: i64 = api
        .call_one(
            Caller::Anon,
            "SELECT count(*) FROM get_network_history($1::text::timestamptz,
                                                      $1::text::timestamptz,
                                                      group_by => 'device_type')
              WHERE active_nodes > 0",
            &[&minute],
        )
        .unwrap()
        .get(0);
    assert_eq!(by_type, 2, "a desktop and a phone");
    superuser
        .execute("SELECT cron.unschedule($1::int8)", &[&job])
        .unwrap();
}
