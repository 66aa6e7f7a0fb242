//! get_capacity against the truth (issue 15): after registrations, re-registrations that change
//! accelerators or country, deactivations, expiries and revivals, every combination of a set of
//! filters with every group_by equals a plain SQL query over compute_devices,
//! device_accelerators and countries under the table's liveness rule. A group is returned when
//! a registered device that is not stopped is in it, live or not (issue 16: its expected
//! capacity, tests/api/expected_capacity.rs). On the shared-memory path
//! the table is first let settle (the worker writes liveness back to it) and a device expires
//! by silence past a short server window; on the table path its last_seen is moved back.
//! Included by one test binary per liveness path, each with its own `test_db`.

use super::accelerators::{group, register_with};
use super::capacity::{capacity, Capacity, Filters};
use crate::common::{self, eventually, Caller, PostgRest, TestDb, ALICE, BOB};
use crate::test_db;
use serde_json::{json, Value};
use std::time::Duration;

/// The table's liveness rule (src/table/liveness.rs) over a row aliased `d`, with the session's
/// window.
macro_rules! is_live {
    () => {
        "(d.is_active AND d.last_seen > now() - make_interval(secs => (
             SELECT setting::float8 FROM pg_settings WHERE name = 'compute_devices.active_window')))"
    };
}

/// get_capacity's answer computed from the tables, with the same $1..$11 and the same columns.
const TRUTH: &str = concat!(
    r#"
WITH filters AS (
    SELECT $1::text[] AS device_types, $2::text[] AS countries, $3::text[] AS regions,
           $4::text::numeric AS min_ram_gb, $5::int4 AS min_cpu_cores,
           $6::text::numeric AS min_storage_gb, $7::text[] AS gpu_vendors,
           $8::text[] AS gpu_models, $9::int4 AS min_gpus, $10::int4 AS min_gpu_memory_mib,
           $11::text AS group_by
), live AS (
    -- Every registered device not stopped, and whether it is live.
    SELECT d.id, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb, d.compute_score,
           d.country_code, c.region, c.subregion, "#,
    is_live!(),
    r#" AS live
      FROM compute_devices AS d LEFT JOIN countries AS c USING (country_code), filters AS f
     WHERE d.deactivated_at IS NULL
       AND (f.device_types IS NULL OR d.device_type = ANY (f.device_types))
       AND (f.countries IS NULL
            OR d.country_code IN (SELECT upper(x) FROM unnest(f.countries) AS x))
       AND (f.regions IS NULL OR c.region = ANY (f.regions) OR c.subregion = ANY (f.regions))
       AND (f.min_ram_gb IS NULL OR d.ram_gb >= f.min_ram_gb)
       AND (f.min_cpu_cores IS NULL OR d.cpu_cores >= f.min_cpu_cores)
       AND (f.min_storage_gb IS NULL OR d.storage_gb >= f.min_storage_gb)
), matching AS (
    -- The accelerators that meet every accelerator filter (all of them when none is given).
    SELECT a.device_id, a.model, a.count, a.memory_mib
      FROM device_accelerators AS a, filters AS f
     WHERE (f.gpu_vendors IS NULL OR a.vendor = ANY (f.gpu_vendors))
       AND (f.gpu_models IS NULL OR a.model IN (
              SELECT btrim(regexp_replace(lower(x), '[^a-z0-9]+', '-', 'g'), '-')
                FROM unnest(f.gpu_models) AS x))
       AND (f.min_gpu_memory_mib IS NULL OR a.memory_mib >= f.min_gpu_memory_mib)
), matched AS (
    SELECT l.* FROM live AS l, filters AS f
     WHERE (f.gpu_vendors IS NULL AND f.gpu_models IS NULL AND f.min_gpu_memory_mib IS NULL
            AND f.min_gpus IS NULL)
        OR coalesce((SELECT sum(m.count) FROM matching AS m WHERE m.device_id = l.id), 0)
           >= coalesce(f.min_gpus, 1)
), keyed AS (
    -- One row per device and key: per model it holds when grouping by model.
    SELECT k.key, m.live, m.ram_gb, m.cpu_cores, m.storage_gb, m.compute_score, k.gpus, k.gpu_mib
      FROM matched AS m, filters AS f, LATERAL (
               SELECT CASE f.group_by WHEN 'device_type' THEN m.device_type
                                      WHEN 'country' THEN m.country_code
                                      WHEN 'region' THEN m.region
                                      WHEN 'subregion' THEN m.subregion END AS key,
                      sum(a.count) AS gpus, sum(a.count::numeric * a.memory_mib) AS gpu_mib
                 FROM matching AS a WHERE a.device_id = m.id
               HAVING f.group_by IS DISTINCT FROM 'gpu_model'
               UNION ALL
               SELECT a.model, sum(a.count), sum(a.count::numeric * a.memory_mib)
                 FROM matching AS a WHERE a.device_id = m.id AND f.group_by = 'gpu_model'
                GROUP BY a.model
               UNION ALL
               SELECT NULL, 0, 0
                WHERE f.group_by = 'gpu_model'
                  AND NOT EXISTS (SELECT FROM matching AS a WHERE a.device_id = m.id)
           ) AS k
)
SELECT key, count(*) FILTER (WHERE live),
       trim_scale(coalesce(sum(ram_gb) FILTER (WHERE live), 0))::text,
       coalesce(sum(cpu_cores) FILTER (WHERE live), 0)::int8,
       trim_scale(coalesce(sum(storage_gb) FILTER (WHERE live), 0))::text,
       trim_scale(coalesce(sum(compute_score) FILTER (WHERE live), 0))::text,
       coalesce(sum(gpus) FILTER (WHERE live), 0)::int8,
       trim_scale(coalesce(sum(gpu_mib) FILTER (WHERE live), 0) / 1024)::text
  FROM keyed GROUP BY key
UNION ALL
SELECT NULL, 0, '0', 0, '0', '0', 0, '0'
  FROM filters AS f WHERE f.group_by IS NULL AND NOT EXISTS (SELECT FROM keyed)
ORDER BY 1 NULLS LAST"#
);

const GROUP_BYS: [Option<&str>; 6] = [
    None,
    Some("device_type"),
    Some("country"),
    Some("region"),
    Some("subregion"),
    Some("gpu_model"),
];

/// The filter sets compared, each with every group_by.
fn filter_sets() -> Vec<Filters> {
    let none = Filters::default;
    vec![
        none(),
        Filters {
            device_types: Some(vec!["server", "desktop"]),
            ..none()
        },
        Filters {
            countries: Some(vec!["de", "US", "aq"]),
            ..none()
        },
        Filters {
            regions: Some(vec!["Europe"]),
            ..none()
        },
        Filters {
            regions: Some(vec!["Americas", "Eastern Asia", "Sub-Saharan Africa"]),
            ..none()
        },
        Filters {
            min_ram_gb: Some("10"),
            min_cpu_cores: Some(8),
            min_storage_gb: Some("500.05"),
            ..none()
        },
        Filters {
            gpu_vendors: Some(vec!["nvidia"]),
            ..none()
        },
        Filters {
            gpu_vendors: Some(vec!["amd", "intel", "apple"]),
            ..none()
        },
        Filters {
            gpu_models: Some(vec!["geforce-rtx-4090", "Radeon RX 7900 XTX"]),
            ..none()
        },
        Filters {
            min_gpu_memory_mib: Some(16384),
            ..none()
        },
        Filters {
            min_gpus: Some(2),
            ..none()
        },
        Filters {
            gpu_vendors: Some(vec!["nvidia"]),
            min_gpus: Some(0),
            ..none()
        },
        Filters {
            regions: Some(vec!["Europe", "Americas"]),
            min_gpus: Some(3),
            min_gpu_memory_mib: Some(8000),
            ..none()
        },
        Filters {
            device_types: Some(vec!["phone", "laptop"]),
            countries: Some(vec!["JP", "ng"]),
            gpu_models: Some(vec!["m2-max", "arc-a770"]),
            ..none()
        },
    ]
}

/// A device as the test registers it.
struct Device {
    user: &'static str,
    name: String,
    device_type: &'static str,
    specs: (String, i32, String),
    accelerators: Option<Value>,
    country: Option<&'static str>,
    id: String,
}

const TYPES: [&str; 4] = ["phone", "laptop", "desktop", "server"];
const COUNTRIES: [Option<&str>; 9] = [
    Some("de"),
    Some("FR"),
    Some("us"),
    Some("BR"),
    Some("JP"),
    Some("AU"),
    Some("NG"),
    Some("AQ"),
    None,
];

/// One of six inventories: none (NULL or empty), one model, one model in two sizes beside
/// another vendor's, memory shared with the system, three vendors with an odd memory size.
fn inventory(kind: usize) -> Option<Value> {
    match kind % 6 {
        0 => None,
        1 => Some(json!([])),
        2 => Some(json!([group(
            "nvidia",
            "NVIDIA GeForce RTX 4090",
            24564,
            3
        )])),
        3 => Some(json!([
            group("nvidia", "NVIDIA GeForce RTX 4090", 24564, 1),
            group("nvidia", "GeForce RTX 4090", 49140, 2),
            group("amd", "AMD Radeon RX 7900 XTX", 24560, 1),
        ])),
        4 => Some(json!([group("apple", "Apple M2 Max", 0, 1)])),
        _ => Some(json!([
            group("intel", "Intel Arc A770", 16384, 2),
            group("nvidia", "NVIDIA GeForce RTX 3060", 12288, 4),
            group("other", "Tenstorrent Grayskull e150", 8000, 1),
        ])),
    }
}

fn register(api: &mut PostgRest, device: &mut Device) {
    let specs = (
        device.specs.0.as_str(),
        device.specs.1,
        device.specs.2.as_str(),
    );
    device.id = register_with(
        api,
        Caller::User(device.user),
        &device.name,
        device.device_type,
        specs,
        device.accelerators.as_ref(),
        device.country,
    )
    .unwrap()
    .0;
}

/// The ids the table's liveness rule calls live, sorted.
fn live_in_table(superuser: &mut postgres::Client) -> Vec<String> {
    let rows = superuser
        .query(
            concat!(
                "SELECT d.id::text FROM compute_devices AS d WHERE ",
                is_live!()
            ),
            &[],
        )
        .unwrap();
    let mut ids: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    ids.sort();
    ids
}

/// Every filter set with every group_by, get_capacity against the truth: the differences.
fn compare(db: &mut TestDb, api: &mut PostgRest) -> Vec<String> {
    let mut differences = Vec::new();
    for base in filter_sets() {
        for group_by in GROUP_BYS {
            let filters = Filters {
                group_by,
                ..base.clone()
            };
            let got = capacity(api, Caller::Anon, &filters).unwrap();
            let rows = db.superuser.query(TRUTH, &filters.params()).unwrap();
            let want: Vec<Capacity> = rows.iter().map(Capacity::from_row).collect();
            if got != want {
                differences.push(format!("{filters:?}\n  got {got:?}\n want {want:?}"));
            }
        }
    }
    // The network stats' GPU totals are the unfiltered ones.
    let stats = api
        .call_one(
            Caller::Anon,
            "SELECT total_gpus, trim_scale(total_gpu_memory_gb)::text FROM get_network_stats()",
            &[],
        )
        .unwrap();
    let stats: (i64, String) = (stats.get(0), stats.get(1));
    let all = db
        .superuser
        .query_one(TRUTH, &Filters::default().params())
        .unwrap();
    let all = Capacity::from_row(&all);
    if stats != (all.total_gpus, all.total_gpu_memory_gb.clone()) {
        differences.push(format!("get_network_stats {stats:?}, truth {all:?}"));
    }
    differences
}

/// Beats the live devices, waits until the table's liveness agrees with them (on the
/// shared-memory path the worker writes it back), then compares everything.
fn check(db: &mut TestDb, api: &mut PostgRest, devices: &[Device], live: &[usize], what: &str) {
    let beat = |api: &mut PostgRest| {
        for &i in live {
            let device = &devices[i];
            api.heartbeat(Caller::User(device.user), &device.id)
                .unwrap();
        }
    };
    let mut expected: Vec<String> = live.iter().map(|&i| devices[i].id.clone()).collect();
    expected.sort();
    let mut in_table = Vec::new();
    let settled = eventually(Duration::from_secs(5), || {
        beat(api);
        in_table = live_in_table(&mut db.superuser);
        in_table == expected
    });
    assert!(
        settled,
        "{what}: the table has {in_table:?} live, not {expected:?}"
    );
    let mut differences = Vec::new();
    let agreed = eventually(Duration::from_secs(3), || {
        beat(api);
        differences = compare(db, api);
        differences.is_empty()
    });
    assert!(
        agreed,
        "{what}: {} differ from the truth:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// On the shared-memory path the worker counts with the server's window: a short one for
/// everyone while this lives (tests there take turns), the default again after, even when the
/// test fails.
pub(super) struct ShortServerWindow {
    port: u16,
    database: String,
}

const WINDOW_SECONDS: u64 = 3;

impl ShortServerWindow {
    pub(super) fn set(db: &mut TestDb) -> ShortServerWindow {
        set_server_window(&mut db.superuser, &format!("'{WINDOW_SECONDS}s'"));
        std::thread::sleep(Duration::from_millis(1500));
        ShortServerWindow {
            port: db.port,
            database: db.name.clone(),
        }
    }
}

impl Drop for ShortServerWindow {
    fn drop(&mut self) {
        let user = pgrx_tests::get_pg_user();
        set_server_window(
            &mut common::connect(self.port, &user, &self.database),
            "DEFAULT",
        );
    }
}

/// ALTER SYSTEM, then a reload (which may not share its transaction).
fn set_server_window(superuser: &mut postgres::Client, value: &str) {
    superuser
        .batch_execute(&format!(
            "ALTER SYSTEM SET compute_devices.active_window = {value}"
        ))
        .unwrap();
    superuser.batch_execute("SELECT pg_reload_conf()").unwrap();
}

#[test]
fn get_capacity_equals_the_truth_after_every_kind_of_change() {
    let mut db = test_db("capacity_truth");
    let shared = common::liveness_path(&mut db.superuser) == "shared memory";
    let _window = shared.then(|| ShortServerWindow::set(&mut db));
    let mut api = db.postgrest();
    let users = [ALICE, BOB, "33333333-3333-4333-8333-333333333333"];
    let mut devices: Vec<Device> = (0..18)
        .map(|i| Device {
            user: users[i % 3],
            name: format!("d{i}"),
            device_type: TYPES[i % 4],
            specs: (
                format!("{}.{}", 4 + i, i % 10),
                2 + i as i32,
                format!("{}.05", 100 * i),
            ),
            accelerators: inventory(i),
            country: COUNTRIES[i % 9],
            id: String::new(),
        })
        .collect();
    for device in &mut devices {
        register(&mut api, device);
    }
    let mut live: Vec<usize> = (0..devices.len()).collect();
    check(&mut db, &mut api, &devices, &live, "registered");

    // Registered again: new accelerators, a new country, both, or neither any more.
    devices[2].accelerators = inventory(5);
    devices[2].country = Some("jp");
    devices[5].accelerators = inventory(3);
    devices[6].country = Some("au");
    devices[9].accelerators = None;
    devices[9].country = None;
    devices[9].device_type = "server";
    for i in [2, 5, 6, 9] {
        register(&mut api, &mut devices[i]);
    }
    check(&mut db, &mut api, &devices, &live, "re-registered");

    for i in [3, 10, 11] {
        let device = &devices[i];
        api.deactivate(Caller::User(device.user), &device.id)
            .unwrap();
        live.retain(|&j| j != i);
    }
    check(&mut db, &mut api, &devices, &live, "deactivated");

    let silent = [4, 12, 13];
    live.retain(|j| !silent.contains(j));
    if shared {
        // Silent past the window while the rest keep beating.
        for _ in 0..(2 * WINDOW_SECONDS + 2) {
            std::thread::sleep(Duration::from_millis(500));
            for &i in &live {
                api.heartbeat(Caller::User(devices[i].user), &devices[i].id)
                    .unwrap();
            }
        }
    } else {
        let ids: Vec<String> = silent.iter().map(|&i| devices[i].id.clone()).collect();
        db.superuser
            .execute(
                "UPDATE compute_devices SET last_seen = now() - interval '1 hour'
                  WHERE id = ANY ($1::text[]::uuid[])",
                &[&ids],
            )
            .unwrap();
    }
    check(&mut db, &mut api, &devices, &live, "expired");

    // Revived: one by a heartbeat, a stopped one by registering again with a new inventory.
    live.push(12);
    devices[10].accelerators = inventory(2);
    devices[10].country = Some("NG");
    register(&mut api, &mut devices[10]);
    live.push(10);
    check(&mut db, &mut api, &devices, &live, "revived");
}
