//! get_capacity (issue 15) against a small network worked out by hand: every filter, min_gpus
//! counting only the accelerators that meet the accelerator filters, every group_by with its
//! NULL keys and order, the zeros row, every bad filter; and the GPU totals of the network
//! stats. Included by one test binary per liveness path, each with its own `test_db`.

use super::accelerators::{group, register_with};
use crate::common::{eventually, request, sqlstate_of, Caller, PostgRest, TestDb, ALICE, BOB};
use crate::test_db;
use postgres::types::ToSql;
use serde_json::{json, Value};
use std::time::Duration;

/// get_capacity's arguments; None is SQL NULL (no filter).
#[derive(Clone, Debug, Default)]
pub(super) struct Filters {
    pub device_types: Option<Vec<&'static str>>,
    pub countries: Option<Vec<&'static str>>,
    pub regions: Option<Vec<&'static str>>,
    pub min_ram_gb: Option<&'static str>,
    pub min_cpu_cores: Option<i32>,
    pub min_storage_gb: Option<&'static str>,
    pub gpu_vendors: Option<Vec<&'static str>>,
    pub gpu_models: Option<Vec<&'static str>>,
    pub min_gpus: Option<i32>,
    pub min_gpu_memory_mib: Option<i32>,
    pub group_by: Option<&'static str>,
}

impl Filters {
    /// The arguments as $1..$11, in get_capacity's order (numerics as text).
    pub fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.device_types,
            &self.countries,
            &self.regions,
            &self.min_ram_gb,
            &self.min_cpu_cores,
            &self.min_storage_gb,
            &self.gpu_vendors,
            &self.gpu_models,
            &self.min_gpus,
            &self.min_gpu_memory_mib,
            &self.group_by,
        ]
    }
}

/// One row of get_capacity (numerics without trailing zeros, as text).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Capacity {
    pub group_key: Option<String>,
    pub active_nodes: i64,
    pub total_ram_gb: String,
    pub total_cpu_cores: i64,
    pub total_storage_gb: String,
    pub total_compute_score: String,
    pub total_gpus: i64,
    pub total_gpu_memory_gb: String,
}

impl Capacity {
    /// From a row of get_capacity's eight columns, in order, numerics as text.
    pub fn from_row(row: &postgres::Row) -> Capacity {
        Capacity {
            group_key: row.get(0),
            active_nodes: row.get(1),
            total_ram_gb: row.get(2),
            total_cpu_cores: row.get(3),
            total_storage_gb: row.get(4),
            total_compute_score: row.get(5),
            total_gpus: row.get(6),
            total_gpu_memory_gb: row.get(7),
        }
    }

    /// Everything but the score (checked against the formula on its own).
    fn summary(&self) -> Summary {
        (
            self.group_key.clone(),
            self.active_nodes,
            (
                self.total_ram_gb.clone(),
                self.total_cpu_cores,
                self.total_storage_gb.clone(),
            ),
            self.total_gpus,
            self.total_gpu_memory_gb.clone(),
        )
    }
}

/// (group_key, active_nodes, (ram, cores, storage), total_gpus, total_gpu_memory_gb)
type Summary = (Option<String>, i64, (String, i64, String), i64, String);

/// get_capacity with these arguments, as this caller.
pub(super) fn capacity(
    api: &mut PostgRest,
    caller: Caller<'_>,
    filters: &Filters,
) -> Result<Vec<Capacity>, postgres::Error> {
    let rows = api.call(
        caller,
        "SELECT group_key, active_nodes, trim_scale(total_ram_gb)::text, total_cpu_cores,
                trim_scale(total_storage_gb)::text, trim_scale(total_compute_score)::text,
                total_gpus, trim_scale(total_gpu_memory_gb)::text
           FROM get_capacity(device_types => $1::text[], countries => $2::text[],
                             regions => $3::text[], min_ram_gb => $4::text::numeric,
                             min_cpu_cores => $5::int4, min_storage_gb => $6::text::numeric,
                             gpu_vendors => $7::text[], gpu_models => $8::text[],
                             min_gpus => $9::int4, min_gpu_memory_mib => $10::int4,
                             group_by => $11::text)",
        &filters.params(),
    )?;
    Ok(rows.iter().map(Capacity::from_row).collect())
}

// The network worked out by hand: specs (ram, cores, storage), country, accelerators.
const A: (&str, i32, &str) = ("64", 32, "2000");
const B: (&str, i32, &str) = ("32", 16, "1000");
const C: (&str, i32, &str) = ("16", 8, "512");
const D: (&str, i32, &str) = ("8", 8, "128");
const E: (&str, i32, &str) = ("128", 64, "4000");
const F: (&str, i32, &str) = ("48", 12, "750");

/// Six devices, five active (E is stopped):
/// - A server, DE: 2 x geforce-rtx-4090 24 GB, 1 x a100 80 GB (3 GPUs, 128 GB)
/// - B desktop, US: 1 x radeon-rx-7900-xtx 24 GB (1, 24)
/// - C laptop, JP: 1 x m2-max with shared memory (1, 0)
/// - D phone, no country, no accelerators
/// - E server, FR: 8 x geforce-rtx-4090 24 GB, stopped
/// - F desktop, BR: 4 x geforce-rtx-3060 12 GB and 1 of 8 GB, one model (5, 56)
fn register_network(api: &mut PostgRest) {
    let mib = |gb: i64| gb * 1024;
    let devices: [(Caller, &str, &str, _, Value, Option<&str>); 6] = [
        (
            Caller::User(ALICE),
            "a",
            "server",
            A,
            json!([
                group("nvidia", "NVIDIA GeForce RTX 4090", mib(24), 2),
                group("nvidia", "NVIDIA A100", mib(80), 1),
            ]),
            Some("de"),
        ),
        (
            Caller::User(ALICE),
            "b",
            "desktop",
            B,
            json!([group("amd", "AMD Radeon RX 7900 XTX", mib(24), 1)]),
            Some("us"),
        ),
        (
            Caller::User(BOB),
            "c",
            "laptop",
            C,
            json!([group("apple", "Apple M2 Max", 0, 1)]),
            Some("JP"),
        ),
        (Caller::User(BOB), "d", "phone", D, json!([]), None),
        (
            Caller::User(BOB),
            "e",
            "server",
            E,
            json!([group("nvidia", "NVIDIA GeForce RTX 4090", mib(24), 8)]),
            Some("FR"),
        ),
        (
            Caller::User(ALICE),
            "f",
            "desktop",
            F,
            json!([
                group("nvidia", "NVIDIA GeForce RTX 3060", mib(12), 4),
                group("nvidia", "GeForce RTX 3060", mib(8), 1),
            ]),
            Some("BR"),
        ),
    ];
    for (caller, name, device_type, specs, accelerators, country) in devices {
        let (id, ..) = register_with(
            api,
            caller,
            name,
            device_type,
            specs,
            Some(&accelerators),
            country,
        )
        .unwrap();
        if name == "e" {
            api.deactivate(caller, &id).unwrap();
        }
    }
}

/// The expected summary of the devices given (by their specs), with these GPU totals.
fn expect(key: Option<&str>, devices: &[(&str, i32, &str)], gpus: i64, gpu_gb: &str) -> Summary {
    let ram: i64 = devices.iter().map(|d| d.0.parse::<i64>().unwrap()).sum();
    let cores: i64 = devices.iter().map(|d| i64::from(d.1)).sum();
    let storage: i64 = devices.iter().map(|d| d.2.parse::<i64>().unwrap()).sum();
    (
        key.map(str::to_string),
        devices.len() as i64,
        (ram.to_string(), cores, storage.to_string()),
        gpus,
        gpu_gb.to_string(),
    )
}

/// get_capacity answers `expected` (within a few seconds: on the shared-memory path totals
/// may come from the worker's snapshot), and each row's score is the formula over its sums.
fn assert_capacity(db: &mut TestDb, api: &mut PostgRest, filters: &Filters, expected: &[Summary]) {
    let mut rows = Vec::new();
    let answered = eventually(Duration::from_secs(3), || {
        rows = capacity(api, Caller::Anon, filters).unwrap();
        rows.iter().map(Capacity::summary).collect::<Vec<_>>() == expected
    });
    assert!(
        answered,
        "{filters:?}:\n got {:?}\nwant {expected:?}",
        rows.iter().map(Capacity::summary).collect::<Vec<_>>()
    );
    for row in rows {
        let score: String = db
            .superuser
            .query_one(
                "SELECT trim_scale(calculate_compute_score($1::text::numeric,
                                                          $2::int8::int4, $3::text::numeric))::text",
                &[&row.total_ram_gb, &row.total_cpu_cores, &row.total_storage_gb],
            )
            .unwrap()
            .get(0);
        assert_eq!(row.total_compute_score, score, "{filters:?}: {row:?}");
    }
}

#[test]
fn get_capacity_filters_active_devices_and_counts_only_matching_accelerators() {
    let mut db = test_db("capacity_filters");
    let mut api = db.postgrest();
    register_network(&mut api);
    let all = [A, B, C, D, F];
    let cases: Vec<(Filters, Summary)> = vec![
        (Filters::default(), expect(None, &all, 10, "208")),
        // Accelerator filters: devices holding one; totals of the matching ones only.
        (
            Filters {
                gpu_vendors: Some(vec!["nvidia"]),
                ..Filters::default()
            },
            expect(None, &[A, F], 8, "184"),
        ),
        (
            Filters {
                gpu_vendors: Some(vec!["amd", "apple"]),
                ..Filters::default()
            },
            expect(None, &[B, C], 2, "24"),
        ),
        (
            Filters {
                min_gpu_memory_mib: Some(24 * 1024),
                ..Filters::default()
            },
            expect(None, &[A, B], 4, "152"),
        ),
        (
            Filters {
                min_gpu_memory_mib: Some(24 * 1024 + 1),
                ..Filters::default()
            },
            expect(None, &[A], 1, "80"),
        ),
        // min_gpus counts the accelerators that meet every accelerator filter.
        (
            Filters {
                min_gpu_memory_mib: Some(24 * 1024),
                min_gpus: Some(3),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                min_gpu_memory_mib: Some(24 * 1024),
                min_gpus: Some(4),
                ..Filters::default()
            },
            expect(None, &[], 0, "0"),
        ),
        // min_gpus 0: no requirement, but the totals still count only matching ones.
        (
            Filters {
                min_gpu_memory_mib: Some(24 * 1024),
                min_gpus: Some(0),
                ..Filters::default()
            },
            expect(None, &all, 4, "152"),
        ),
        (
            Filters {
                min_gpus: Some(0),
                ..Filters::default()
            },
            expect(None, &all, 10, "208"),
        ),
        (
            Filters {
                min_gpus: Some(1),
                ..Filters::default()
            },
            expect(None, &[A, B, C, F], 10, "208"),
        ),
        (
            Filters {
                min_gpus: Some(3),
                ..Filters::default()
            },
            expect(None, &[A, F], 8, "184"),
        ),
        (
            Filters {
                min_gpus: Some(4),
                ..Filters::default()
            },
            expect(None, &[F], 5, "56"),
        ),
        // Model keys; a filter value is normalised the same way, and never matches in part.
        (
            Filters {
                gpu_models: Some(vec!["geforce-rtx-4090"]),
                ..Filters::default()
            },
            expect(None, &[A], 2, "48"),
        ),
        (
            Filters {
                gpu_models: Some(vec!["GeForce RTX 4090", "RTX 3060", "no-such-gpu"]),
                ..Filters::default()
            },
            expect(None, &[A], 2, "48"),
        ),
        (
            Filters {
                gpu_models: Some(vec!["geforce-rtx-3060"]),
                ..Filters::default()
            },
            expect(None, &[F], 5, "56"),
        ),
        (
            Filters {
                gpu_models: Some(vec!["geforce-rtx-3060"]),
                min_gpu_memory_mib: Some(12 * 1024),
                ..Filters::default()
            },
            expect(None, &[F], 4, "48"),
        ),
        (
            Filters {
                gpu_models: Some(vec!["geforce-rtx-3060"]),
                min_gpus: Some(6),
                ..Filters::default()
            },
            expect(None, &[], 0, "0"),
        ),
        (
            Filters {
                gpu_vendors: Some(vec!["amd"]),
                gpu_models: Some(vec!["geforce-rtx-4090"]),
                ..Filters::default()
            },
            expect(None, &[], 0, "0"),
        ),
        // Device filters; the stopped server E counts nowhere.
        (
            Filters {
                device_types: Some(vec!["server"]),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                device_types: Some(vec!["desktop", "laptop"]),
                ..Filters::default()
            },
            expect(None, &[B, C, F], 7, "80"),
        ),
        (
            Filters {
                countries: Some(vec!["de", "US"]),
                ..Filters::default()
            },
            expect(None, &[A, B], 4, "152"),
        ),
        (
            Filters {
                countries: Some(vec!["FR"]),
                ..Filters::default()
            },
            expect(None, &[], 0, "0"),
        ),
        (
            Filters {
                regions: Some(vec!["Europe"]),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                regions: Some(vec!["Americas"]),
                ..Filters::default()
            },
            expect(None, &[B, F], 6, "80"),
        ),
        (
            Filters {
                regions: Some(vec!["Northern America"]),
                ..Filters::default()
            },
            expect(None, &[B], 1, "24"),
        ),
        (
            Filters {
                regions: Some(vec!["Western Europe", "Asia"]),
                ..Filters::default()
            },
            expect(None, &[A, C], 4, "128"),
        ),
        // Minimums, at their edge and just past it.
        (
            Filters {
                min_ram_gb: Some("48"),
                ..Filters::default()
            },
            expect(None, &[A, F], 8, "184"),
        ),
        (
            Filters {
                min_ram_gb: Some("48.01"),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                min_cpu_cores: Some(16),
                ..Filters::default()
            },
            expect(None, &[A, B], 4, "152"),
        ),
        (
            Filters {
                min_cpu_cores: Some(17),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                min_storage_gb: Some("1000"),
                ..Filters::default()
            },
            expect(None, &[A, B], 4, "152"),
        ),
        (
            Filters {
                min_storage_gb: Some("1000.5"),
                ..Filters::default()
            },
            expect(None, &[A], 3, "128"),
        ),
        (
            Filters {
                min_ram_gb: Some("0"),
                min_cpu_cores: Some(0),
                min_storage_gb: Some("0"),
                min_gpu_memory_mib: Some(0),
                ..Filters::default()
            },
            expect(None, &[A, B, C, F], 10, "208"),
        ),
        // Every kind at once.
        (
            Filters {
                device_types: Some(vec!["desktop"]),
                regions: Some(vec!["Americas"]),
                gpu_vendors: Some(vec!["nvidia"]),
                min_gpu_memory_mib: Some(10_000),
                min_ram_gb: Some("40"),
                ..Filters::default()
            },
            expect(None, &[F], 4, "48"),
        ),
    ];
    for (filters, expected) in cases {
        assert_capacity(&mut db, &mut api, &filters, &[expected]);
    }
    // Public like the stats: anyone gets the same answer, in a read-only transaction too.
    let filters = Filters {
        gpu_vendors: Some(vec!["nvidia"]),
        group_by: Some("country"),
        ..Filters::default()
    };
    let answer = capacity(&mut api, Caller::Anon, &filters).unwrap();
    for caller in [Caller::User(ALICE), Caller::User(BOB), Caller::Service] {
        assert_eq!(
            capacity(&mut api, caller, &filters).unwrap(),
            answer,
            "{caller:?}"
        );
    }
    let mut reading =
        request(api.client.build_transaction().read_only(true), Caller::Anon).unwrap();
    reading.query("SELECT * FROM get_capacity()", &[]).unwrap();
    let assigned: Option<String> = reading
        .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(assigned, None, "get_capacity takes no transaction id");
    reading.commit().unwrap();
}

#[test]
fn get_capacity_groups_by_every_key_nulls_last() {
    let mut db = test_db("capacity_groups");
    let mut api = db.postgrest();
    register_network(&mut api);
    let by = |group_by| Filters {
        group_by: Some(group_by),
        ..Filters::default()
    };
    let nvidia = |group_by, min_gpus| Filters {
        gpu_vendors: Some(vec!["nvidia"]),
        min_gpus,
        group_by: Some(group_by),
        ..Filters::default()
    };
    let cases: Vec<(Filters, Vec<Summary>)> = vec![
        (
            by("device_type"),
            vec![
                expect(Some("desktop"), &[B, F], 6, "80"),
                expect(Some("laptop"), &[C], 1, "0"),
                expect(Some("phone"), &[D], 0, "0"),
                expect(Some("server"), &[A], 3, "128"),
            ],
        ),
        (
            by("country"),
            vec![
                expect(Some("BR"), &[F], 5, "56"),
                expect(Some("DE"), &[A], 3, "128"),
                expect(Some("JP"), &[C], 1, "0"),
                expect(Some("US"), &[B], 1, "24"),
                expect(None, &[D], 0, "0"),
            ],
        ),
        (
            by("region"),
            vec![
                expect(Some("Americas"), &[B, F], 6, "80"),
                expect(Some("Asia"), &[C], 1, "0"),
                expect(Some("Europe"), &[A], 3, "128"),
                expect(None, &[D], 0, "0"),
            ],
        ),
        (
            by("subregion"),
            vec![
                expect(Some("Eastern Asia"), &[C], 1, "0"),
                expect(Some("Latin America and the Caribbean"), &[F], 5, "56"),
                expect(Some("Northern America"), &[B], 1, "24"),
                expect(Some("Western Europe"), &[A], 3, "128"),
                expect(None, &[D], 0, "0"),
            ],
        ),
        // A device counts once per model it holds; one without any has a NULL key.
        (
            by("gpu_model"),
            vec![
                expect(Some("a100"), &[A], 1, "80"),
                expect(Some("geforce-rtx-3060"), &[F], 5, "56"),
                expect(Some("geforce-rtx-4090"), &[A], 2, "48"),
                expect(Some("m2-max"), &[C], 1, "0"),
                expect(Some("radeon-rx-7900-xtx"), &[B], 1, "24"),
                expect(None, &[D], 0, "0"),
            ],
        ),
        (
            nvidia("gpu_model", None),
            vec![
                expect(Some("a100"), &[A], 1, "80"),
                expect(Some("geforce-rtx-3060"), &[F], 5, "56"),
                expect(Some("geforce-rtx-4090"), &[A], 2, "48"),
            ],
        ),
        (
            nvidia("gpu_model", Some(0)),
            vec![
                expect(Some("a100"), &[A], 1, "80"),
                expect(Some("geforce-rtx-3060"), &[F], 5, "56"),
                expect(Some("geforce-rtx-4090"), &[A], 2, "48"),
                expect(None, &[B, C, D], 0, "0"),
            ],
        ),
        (
            nvidia("region", None),
            vec![
                expect(Some("Americas"), &[F], 5, "56"),
                expect(Some("Europe"), &[A], 3, "128"),
            ],
        ),
        (
            Filters {
                min_gpus: Some(1),
                group_by: Some("subregion"),
                ..Filters::default()
            },
            vec![
                expect(Some("Eastern Asia"), &[C], 1, "0"),
                expect(Some("Latin America and the Caribbean"), &[F], 5, "56"),
                expect(Some("Northern America"), &[B], 1, "24"),
                expect(Some("Western Europe"), &[A], 3, "128"),
            ],
        ),
        // Nothing matches: no rows when grouped, one row of zeros when not.
        (
            Filters {
                countries: Some(vec!["FR"]),
                group_by: Some("country"),
                ..Filters::default()
            },
            vec![],
        ),
        (
            Filters {
                countries: Some(vec!["FR"]),
                ..Filters::default()
            },
            vec![expect(None, &[], 0, "0")],
        ),
    ];
    for (filters, expected) in cases {
        assert_capacity(&mut db, &mut api, &filters, &expected);
    }
}

#[test]
fn every_bad_capacity_filter_names_its_argument() {
    let db = test_db("capacity_bad_filters");
    let mut api = db.postgrest();
    let lists = [
        ("device_types", "phone"),
        ("countries", "DE"),
        ("regions", "Europe"),
        ("gpu_vendors", "nvidia"),
        ("gpu_models", "geforce-rtx-4090"),
    ];
    let mut cases: Vec<(String, &str, &str)> = vec![
        (
            "device_types => ARRAY['toaster']".into(),
            "22023",
            "device_types",
        ),
        (
            "countries => ARRAY['DE', 'XX']".into(),
            "22023",
            "countries",
        ),
        ("countries => ARRAY['deu']".into(), "22023", "countries"),
        ("countries => ARRAY['']".into(), "22023", "countries"),
        ("regions => ARRAY['Atlantis']".into(), "22023", "regions"),
        ("gpu_vendors => ARRAY['ati']".into(), "22023", "gpu_vendors"),
        ("group_by => 'vendor'".into(), "22023", "group_by"),
        ("group_by => ''".into(), "22023", "group_by"),
        (
            "group_by => 'device_type, country'".into(),
            "22023",
            "group_by",
        ),
        ("min_ram_gb => -1".into(), "22003", "min_ram_gb"),
        ("min_ram_gb => -0.001".into(), "22003", "min_ram_gb"),
        ("min_cpu_cores => -1".into(), "22003", "min_cpu_cores"),
        ("min_storage_gb => -0.5".into(), "22003", "min_storage_gb"),
        ("min_gpus => -1".into(), "22003", "min_gpus"),
        (
            "min_gpu_memory_mib => -1".into(),
            "22003",
            "min_gpu_memory_mib",
        ),
    ];
    for (argument, value) in lists {
        cases.push((
            format!("{argument} => array_fill('{value}'::text, ARRAY[101])"),
            "22023",
            argument,
        ));
        cases.push((
            format!("{argument} => ARRAY['{value}', NULL]"),
            "22023",
            argument,
        ));
        // A hundred is not too many.
        let hundred = format!("SELECT count(*) FROM get_capacity({argument} => array_fill('{value}'::text, ARRAY[100]))");
        api.call(Caller::Anon, &hundred, &[])
            .unwrap_or_else(|error| panic!("{hundred}: {error}"));
    }
    for (arguments, sqlstate, argument) in cases {
        let sql = format!("SELECT * FROM get_capacity({arguments})");
        let (got, message) = sqlstate_of(api.call(Caller::Anon, &sql, &[]));
        assert_eq!(got, sqlstate, "{sql}: {message}");
        assert!(
            message.starts_with(argument),
            "{sql}: {message:?} names {argument}"
        );
    }
}

#[test]
fn network_stats_count_gpus_and_their_memory() {
    let db = test_db("stats_gpus");
    let mut api = db.postgrest();
    let gpu_totals = |api: &mut PostgRest| -> (i64, String) {
        let row = api
            .call_one(
                Caller::Anon,
                "SELECT total_gpus, trim_scale(total_gpu_memory_gb)::text FROM get_network_stats()",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let gpu_totals_by_type = |api: &mut PostgRest| -> Vec<(String, i64, String)> {
        let rows = api
            .call(
                Caller::Anon,
                "SELECT device_type, total_gpus, trim_scale(total_gpu_memory_gb)::text
                   FROM get_network_stats_by_type()",
                &[],
            )
            .unwrap();
        rows.iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    };
    let by_type = |gpus: [(i64, &str); 4]| {
        let types = ["phone", "laptop", "desktop", "server"];
        let rows = types.iter().zip(gpus);
        rows.map(|(t, (n, gb))| (t.to_string(), n, gb.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(gpu_totals(&mut api), (0, "0".to_string()));
    assert_eq!(gpu_totals_by_type(&mut api), by_type([(0, "0"); 4]));
    // After the seed's columns, in this order.
    for (sql, seed_columns) in [
        ("SELECT * FROM get_network_stats()", 5),
        ("SELECT * FROM get_network_stats_by_type()", 6),
    ] {
        let rows = api.call(Caller::Anon, sql, &[]).unwrap();
        let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
        assert_eq!(
            columns[seed_columns..],
            ["total_gpus", "total_gpu_memory_gb"],
            "{sql}"
        );
    }

    register_network(&mut api);
    let expected = (10, "208".to_string());
    let expected_by_type = by_type([(0, "0"), (1, "0"), (6, "80"), (3, "128")]);
    let answered = eventually(Duration::from_secs(3), || {
        gpu_totals(&mut api) == expected && gpu_totals_by_type(&mut api) == expected_by_type
    });
    assert!(
        answered,
        "{:?} {:?}",
        gpu_totals(&mut api),
        gpu_totals_by_type(&mut api)
    );
    // An odd memory size: memory_mib x count / 1024, exactly.
    register_with(
        &mut api,
        Caller::User(BOB),
        "d",
        "phone",
        D,
        Some(&json!([group("qualcomm", "Adreno 740", 1000, 3)])),
        None,
    )
    .unwrap();
    let expected = (13, "210.9296875".to_string());
    let answered = eventually(Duration::from_secs(3), || gpu_totals(&mut api) == expected);
    assert!(answered, "{:?}", gpu_totals(&mut api));
    assert_eq!(
        gpu_totals_by_type(&mut api)[0],
        ("phone".to_string(), 3, "2.9296875".to_string())
    );
}
