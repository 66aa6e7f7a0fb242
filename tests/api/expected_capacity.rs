//! Reliability-weighted capacity (issue 16): get_capacity's expected_nodes, expected_ram_gb,
//! expected_cpu_cores, expected_gpus, p95_floor_nodes and p95_floor_gpus, and its
//! min_uptime_7d filter, against a direct SQL computation over the spells and unknown periods
//! the test writes (tests/api/health.rs places them so that nothing changes while it runs),
//! for a set of filters with each group_by; and min_uptime_7d's bad values. On the
//! shared-memory path the answer weighs each device by the health the worker stored in its
//! slot: the test asks for a fresh one (resync_liveness() refreshes it) before comparing.
//! Included by one test binary per liveness path, each with its own `test_db`.

use super::accelerators::{group, register_with};
use super::capacity::Filters;
use super::health::{
    patterns, place_spells, place_unknown, registration_recorded, TRUTH_HEALTH, UNKNOWN,
};
use crate::common::{self, eventually, sqlstate_of, Caller, PostgRest, TestDb, ALICE, BOB};
use crate::test_db;
use postgres::types::ToSql;
use serde_json::{json, Value};
use std::time::Duration;

/// The expected capacity computed from the tables and the direct health, with get_capacity's
/// arguments as $1..$12: (group_key, active_nodes, expected_nodes, expected_ram_gb,
/// expected_cpu_cores, expected_gpus, p95_floor_nodes, p95_floor_gpus).
fn truth_sql() -> String {
    format!(
        r#"
WITH filters AS (
    SELECT $1::text[] AS device_types, $2::text[] AS countries, $3::text[] AS regions,
           $4::text::numeric AS min_ram_gb, $5::int4 AS min_cpu_cores,
           $6::text::numeric AS min_storage_gb, $7::text[] AS gpu_vendors,
           $8::text[] AS gpu_models, $9::int4 AS min_gpus, $10::int4 AS min_gpu_memory_mib,
           $11::text AS group_by, $12::text::numeric AS min_uptime_7d
), health AS (
    SELECT * FROM ({TRUTH_HEALTH}) AS h
), devices AS (
    -- Every registered device not stopped that passes the filters, whether it is live, and
    -- its probability of being online.
    SELECT d.id, d.device_type, d.ram_gb, d.cpu_cores, d.country_code, c.region, c.subregion,
           (d.is_active AND d.last_seen > now() - make_interval(secs => (
                SELECT setting::float8 FROM pg_settings WHERE name = 'compute_devices.active_window')))
               AS live,
           h.p
      FROM compute_devices AS d LEFT JOIN countries AS c USING (country_code)
      JOIN health AS h ON h.id = d.id, filters AS f
     WHERE d.deactivated_at IS NULL
       AND (f.device_types IS NULL OR d.device_type = ANY (f.device_types))
       AND (f.countries IS NULL
            OR d.country_code IN (SELECT upper(x) FROM unnest(f.countries) AS x))
       AND (f.regions IS NULL OR c.region = ANY (f.regions) OR c.subregion = ANY (f.regions))
       AND (f.min_ram_gb IS NULL OR d.ram_gb >= f.min_ram_gb)
       AND (f.min_cpu_cores IS NULL OR d.cpu_cores >= f.min_cpu_cores)
       AND (f.min_storage_gb IS NULL OR d.storage_gb >= f.min_storage_gb)
       AND (f.min_uptime_7d IS NULL OR h.u7 >= f.min_uptime_7d)
), matching AS (
    SELECT a.device_id, a.model, a.count, a.memory_mib
      FROM device_accelerators AS a, filters AS f
     WHERE (f.gpu_vendors IS NULL OR a.vendor = ANY (f.gpu_vendors))
       AND (f.gpu_models IS NULL OR a.model IN (
              SELECT btrim(regexp_replace(lower(x), '[^a-z0-9]+', '-', 'g'), '-')
                FROM unnest(f.gpu_models) AS x))
       AND (f.min_gpu_memory_mib IS NULL OR a.memory_mib >= f.min_gpu_memory_mib)
), matched AS (
    SELECT m.* FROM devices AS m, filters AS f
     WHERE (f.gpu_vendors IS NULL AND f.gpu_models IS NULL AND f.min_gpu_memory_mib IS NULL
            AND f.min_gpus IS NULL)
        OR coalesce((SELECT sum(a.count) FROM matching AS a WHERE a.device_id = m.id), 0)
           >= coalesce(f.min_gpus, 1)
), keyed AS (
    SELECT k.key, m.live, m.p, m.ram_gb, m.cpu_cores, coalesce(k.gpus, 0) AS gpus
      FROM matched AS m, filters AS f, LATERAL (
               SELECT CASE f.group_by WHEN 'device_type' THEN m.device_type
                                      WHEN 'country' THEN m.country_code
                                      WHEN 'region' THEN m.region
                                      WHEN 'subregion' THEN m.subregion END AS key,
                      sum(a.count) AS gpus
                 FROM matching AS a WHERE a.device_id = m.id
               HAVING f.group_by IS DISTINCT FROM 'gpu_model'
               UNION ALL
               SELECT a.model, sum(a.count)
                 FROM matching AS a WHERE a.device_id = m.id AND f.group_by = 'gpu_model'
                GROUP BY a.model
               UNION ALL
               SELECT NULL, 0
                WHERE f.group_by = 'gpu_model'
                  AND NOT EXISTS (SELECT FROM matching AS a WHERE a.device_id = m.id)
           ) AS k
)
SELECT key, count(*) FILTER (WHERE live), round(sum(p), 3)::text,
       round(sum(p * ram_gb), 3)::text, round(sum(p * cpu_cores), 3)::text,
       round(sum(p * gpus), 3)::text,
       greatest(0, floor(sum(p) - sqrt(19 * sum(p * (1 - p)))))::int8,
       greatest(0, floor(sum(p * gpus) - sqrt(19 * sum(p * (1 - p) * gpus * gpus))))::int8
  FROM keyed GROUP BY key
UNION ALL
SELECT NULL, 0, '0.000', '0.000', '0.000', '0.000', 0, 0
  FROM filters AS f WHERE f.group_by IS NULL AND NOT EXISTS (SELECT FROM keyed)
ORDER BY 1 NULLS LAST"#
    )
}

/// One row: (group_key, active_nodes, expected_nodes, expected_ram_gb, expected_cpu_cores,
/// expected_gpus, p95_floor_nodes, p95_floor_gpus).
type Expected = (
    Option<String>,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

fn expected_of(row: &postgres::Row) -> Expected {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
    )
}

/// get_capacity's arguments as $1..$12.
fn params<'a>(
    filters: &'a Filters,
    min_uptime_7d: &'a Option<&'static str>,
) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params = filters.params().to_vec();
    params.push(min_uptime_7d);
    params
}

const CALL: &str = "SELECT group_key, active_nodes, expected_nodes::text, expected_ram_gb::text,
                           expected_cpu_cores::text, expected_gpus::text, p95_floor_nodes,
                           p95_floor_gpus
                      FROM get_capacity(device_types => $1::text[], countries => $2::text[],
                                        regions => $3::text[], min_ram_gb => $4::text::numeric,
                                        min_cpu_cores => $5::int4,
                                        min_storage_gb => $6::text::numeric,
                                        gpu_vendors => $7::text[], gpu_models => $8::text[],
                                        min_gpus => $9::int4, min_gpu_memory_mib => $10::int4,
                                        group_by => $11::text,
                                        min_uptime_7d => $12::text::numeric)";

/// The filter sets compared (with min_uptime_7d), each with every group_by.
fn filter_sets() -> Vec<(Filters, Option<&'static str>)> {
    let none = Filters::default;
    vec![
        (none(), None),
        (none(), Some("0")),
        (none(), Some("0.5")),
        (none(), Some("0.71")),
        (none(), Some("1")),
        (
            Filters {
                device_types: Some(vec!["server", "desktop"]),
                ..none()
            },
            Some("0.2"),
        ),
        (
            Filters {
                regions: Some(vec!["Europe"]),
                ..none()
            },
            None,
        ),
        (
            Filters {
                gpu_vendors: Some(vec!["nvidia"]),
                ..none()
            },
            None,
        ),
        (
            Filters {
                min_gpus: Some(2),
                min_ram_gb: Some("32"),
                ..none()
            },
            Some("0.1"),
        ),
    ]
}

const GROUP_BYS: [Option<&str>; 4] = [None, Some("device_type"), Some("region"), Some("gpu_model")];

/// Every filter set with every group_by, get_capacity against the truth: the differences.
fn compare(db: &mut TestDb, api: &mut PostgRest) -> Vec<String> {
    let truth = truth_sql();
    let mut differences = Vec::new();
    for (base, min_uptime_7d) in filter_sets() {
        for group_by in GROUP_BYS {
            let filters = Filters {
                group_by,
                ..base.clone()
            };
            let params = params(&filters, &min_uptime_7d);
            let got: Vec<Expected> = api
                .call(Caller::Anon, CALL, &params)
                .unwrap()
                .iter()
                .map(expected_of)
                .collect();
            let want: Vec<Expected> = db
                .superuser
                .query(&truth, &params)
                .unwrap()
                .iter()
                .map(expected_of)
                .collect();
            if got != want {
                differences.push(format!(
                    "{filters:?} min_uptime_7d {min_uptime_7d:?}\n  got {got:?}\n want {want:?}"
                ));
            }
        }
    }
    differences
}

const TYPES: [&str; 4] = ["phone", "laptop", "desktop", "server"];
const COUNTRIES: [Option<&str>; 5] = [Some("DE"), Some("US"), Some("FR"), None, Some("JP")];
const USERS: [&str; 3] = [ALICE, BOB, "33333333-3333-4333-8333-333333333333"];

fn accelerators(i: usize) -> Option<Value> {
    match i % 4 {
        0 => None,
        1 => Some(json!([group(
            "nvidia",
            "NVIDIA GeForce RTX 4090",
            24564,
            3
        )])),
        2 => Some(json!([
            group("nvidia", "NVIDIA A100", 81920, 1),
            group("amd", "AMD Radeon RX 7900 XTX", 24560, 2),
        ])),
        _ => Some(json!([group("apple", "Apple M2 Max", 0, 1)])),
    }
}

#[test]
fn expected_capacity_equals_a_direct_computation_over_the_recorded_spells() {
    let mut db = test_db("expected_capacity");
    let shared = common::liveness_path(&mut db.superuser) == "shared memory";
    let mut api = db.postgrest();
    let patterns = patterns();
    let mut ids = Vec::new();
    for i in 0..15 {
        let ram = format!("{}.5", 8 * (i + 1));
        let id = register_with(
            &mut api,
            Caller::User(USERS[i % 3]),
            &format!("d{i}"),
            TYPES[i % 4],
            (ram.as_str(), 4 * (1 + i as i32 % 5), "512"),
            accelerators(i).as_ref(),
            COUNTRIES[i % 5],
        )
        .unwrap()
        .0;
        registration_recorded(&mut db, &id);
        place_spells(&mut db, &id, &patterns[i % patterns.len()]);
        ids.push(id);
    }
    place_unknown(&mut db, &UNKNOWN);
    // Stopped: not expected at all.
    api.deactivate(Caller::User(USERS[1]), &ids[1]).unwrap();
    // Registered "tomorrow" (no time of its own in either window): no uptime, the prior's 50%.
    db.superuser
        .execute(
            "UPDATE compute_devices SET created_at = now() + interval '1 day'
              WHERE id = $1::text::uuid",
            &[&ids[4]],
        )
        .unwrap();
    // The devices' probabilities differ, and one has no uptime.
    let spread: (i64, i64) = {
        let row = db
            .superuser
            .query_one(
                &format!("SELECT count(DISTINCT p), count(*) FILTER (WHERE u7 IS NULL) FROM ({TRUTH_HEALTH}) AS h
                           WHERE id = ANY ($1::text[]::uuid[])"),
                &[&ids],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(spread.0 >= 4 && spread.1 == 1, "{spread:?}");

    let mut differences = Vec::new();
    let agreed = eventually(Duration::from_secs(10), || {
        if shared {
            // Refreshes the health in the slots.
            db.superuser
                .execute("SELECT resync_liveness()", &[])
                .unwrap();
        }
        differences = compare(&mut db, &mut api);
        differences.is_empty()
    });
    assert!(
        agreed,
        "{} differ from the truth:\n{}",
        differences.len(),
        differences.join("\n")
    );
    place_unknown(&mut db, &[]);
}

#[test]
fn every_bad_min_uptime_7d_names_it_and_changes_nothing() {
    let mut db = test_db("expected_bad_uptime");
    let mut api = db.postgrest();
    api.register(Caller::User(ALICE), "pc", "desktop", common::GOOD_SPECS)
        .unwrap();
    let before = db.table_fingerprint();
    for value in [
        "-0.1",
        "-1",
        "1.0001",
        "2",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
    ] {
        let sql = format!("SELECT * FROM get_capacity(min_uptime_7d => {value})");
        let (sqlstate, message) = sqlstate_of(api.call(Caller::Anon, &sql, &[]));
        assert_eq!(sqlstate, "22023", "{sql}: {message}");
        assert!(
            message.starts_with("min_uptime_7d "),
            "{sql}: {message:?} names min_uptime_7d"
        );
    }
    for value in ["0", "1", "1.000", "0.99999", "0.00001"] {
        let sql = format!("SELECT count(*) FROM get_capacity(min_uptime_7d => {value})");
        api.call(Caller::Anon, &sql, &[])
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    assert_eq!(db.table_fingerprint(), before);
    // The columns, after issue 15's, in this order; the argument last.
    let rows = api
        .call(Caller::Anon, "SELECT * FROM get_capacity()", &[])
        .unwrap();
    let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        columns[8..],
        [
            "expected_nodes",
            "expected_ram_gb",
            "expected_cpu_cores",
            "expected_gpus",
            "p95_floor_nodes",
            "p95_floor_gpus"
        ]
    );
    let last: String = db
        .superuser
        .query_one(
            "SELECT (proargnames)[pronargs] FROM pg_proc WHERE proname = 'get_capacity'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(last, "min_uptime_7d");
}
