//! register_device's `accelerators` and `country_code` (issue 15): stored relationally with
//! their model keys, shown by get_user_devices, bounded by settings, readable by their owner
//! only, and every bad input refused with its SQLSTATE and field, changing nothing.
//! Included by one test binary per liveness path, each with its own `test_db`.

use crate::common::{sqlstate_of, Caller, PostgRest, TestDb, ALICE, BOB, GOOD_SPECS};
use crate::test_db;
use serde_json::{json, Value};

const ALICE_CALLS: Caller = Caller::User(ALICE);
const BOB_CALLS: Caller = Caller::User(BOB);

/// A device as register_device and get_user_devices show it: (id or name, accelerators,
/// country_code, region, subregion).
pub(super) type Shown = (
    String,
    Value,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn shown(row: &postgres::Row) -> Shown {
    let accelerators: String = row.get(1);
    let accelerators = serde_json::from_str(&accelerators).expect("accelerators is JSON");
    (row.get(0), accelerators, row.get(2), row.get(3), row.get(4))
}

/// register_device with the new arguments (None: SQL NULL), returning the device's id and how
/// it is shown.
pub(super) fn register_with(
    api: &mut PostgRest,
    caller: Caller<'_>,
    name: &str,
    device_type: &str,
    specs: (&str, i32, &str),
    accelerators: Option<&Value>,
    country_code: Option<&str>,
) -> Result<Shown, postgres::Error> {
    let accelerators = accelerators.map(Value::to_string);
    let row = api.call_one(
        caller,
        "SELECT id::text, accelerators::text, country_code, region, subregion
           FROM register_device(device_name => $1, device_type => $2,
                                ram_gb => $3::text::numeric, cpu_cores => $4,
                                storage_gb => $5::text::numeric,
                                accelerators => $6::text::jsonb, country_code => $7)",
        &[
            &name,
            &device_type,
            &specs.0,
            &specs.1,
            &specs.2,
            &accelerators,
            &country_code,
        ],
    )?;
    Ok(shown(&row))
}

/// get_user_devices as the caller sees it, by device name.
fn user_devices(api: &mut PostgRest, caller: Caller<'_>) -> Vec<Shown> {
    let rows = api
        .call(
            caller,
            "SELECT device_name, accelerators::text, country_code, region, subregion
               FROM get_user_devices() ORDER BY device_name",
            &[],
        )
        .unwrap();
    rows.iter().map(shown).collect()
}

/// Every device row, accelerator group and country as text: proves an error changed nothing.
pub(super) fn inventory_fingerprint(db: &mut TestDb) -> String {
    let devices = db.table_fingerprint();
    let inventory: String = db
        .superuser
        .query_one(
            "SELECT coalesce((SELECT string_agg(a::text, E'\\n' ORDER BY a::text)
                                FROM device_accelerators AS a), '')
                    || E'\\n' ||
                    coalesce((SELECT string_agg(d.id || ' ' || coalesce(d.country_code, '-'),
                                                E'\\n' ORDER BY d.id)
                                FROM compute_devices AS d), '')",
            &[],
        )
        .unwrap()
        .get(0);
    format!("{devices}\n{inventory}")
}

/// One accelerator group as a caller sends it.
pub(super) fn group(vendor: &str, product_name: &str, memory_mib: i64, count: i64) -> Value {
    json!({"vendor": vendor, "product_name": product_name, "memory_mib": memory_mib, "count": count})
}

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

#[test]
fn accelerators_and_country_are_stored_and_shown_to_the_owner() {
    let mut db = test_db("accelerators");
    let mut api = db.postgrest();
    let given = json!([
        group("nvidia", "NVIDIA GeForce RTX 4090", 24564, 2),
        group("amd", "AMD Radeon RX 7900 XTX", 24560, 1),
        group("apple", "Apple M2 Max", 0, 1),
    ]);
    // Ordered by vendor, model, memory_mib, each with its model key.
    let expected = json!([
        {"vendor": "amd", "product_name": "AMD Radeon RX 7900 XTX", "model": "radeon-rx-7900-xtx",
         "memory_mib": 24560, "count": 1},
        {"vendor": "apple", "product_name": "Apple M2 Max", "model": "m2-max",
         "memory_mib": 0, "count": 1},
        {"vendor": "nvidia", "product_name": "NVIDIA GeForce RTX 4090", "model": "geforce-rtx-4090",
         "memory_mib": 24564, "count": 2},
    ]);
    let rig = register_with(
        &mut api,
        ALICE_CALLS,
        "rig",
        "desktop",
        GOOD_SPECS,
        Some(&given),
        Some("de"),
    )
    .unwrap();
    let id = rig.0.clone();
    assert_eq!(
        rig,
        (
            id.clone(),
            expected.clone(),
            some("DE"),
            some("Europe"),
            some("Western Europe")
        ),
        "lower case accepted, stored upper; region and subregion from the country"
    );
    let rig_shown = |accelerators: &Value, country, region, subregion| {
        let name = "rig".to_string();
        (name, accelerators.clone(), country, region, subregion)
    };
    let in_germany = rig_shown(
        &expected,
        some("DE"),
        some("Europe"),
        some("Western Europe"),
    );
    // Neither argument, NULL for both, or an empty array: none.
    api.register(ALICE_CALLS, "plain", "laptop", GOOD_SPECS)
        .unwrap();
    register_with(
        &mut api,
        ALICE_CALLS,
        "nulls",
        "phone",
        GOOD_SPECS,
        None,
        None,
    )
    .unwrap();
    register_with(
        &mut api,
        ALICE_CALLS,
        "empty",
        "phone",
        GOOD_SPECS,
        Some(&json!([])),
        None,
    )
    .unwrap();
    let none = |name: &str| (name.to_string(), json!([]), None, None, None);
    assert_eq!(
        user_devices(&mut api, ALICE_CALLS),
        vec![none("empty"), none("nulls"), none("plain"), in_germany]
    );
    // The new columns come after the seed's, in this order, then 0.7.0's health.
    let rows = api
        .call(ALICE_CALLS, "SELECT * FROM get_user_devices()", &[])
        .unwrap();
    let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        columns[columns.len() - 8..],
        [
            "accelerators",
            "country_code",
            "region",
            "subregion",
            "uptime_1d",
            "uptime_7d",
            "flaps_24h",
            "health_score"
        ]
    );
    assert_eq!(
        columns[..4],
        ["id", "user_id", "device_name", "device_type"]
    );

    // Stored relationally, one row a group.
    let stored: Vec<(String, String, String, i32, i32)> = db
        .superuser
        .query(
            "SELECT vendor, product_name, model, memory_mib, count FROM device_accelerators
              WHERE device_id = $1::text::uuid ORDER BY vendor, model, memory_mib",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect();
    assert_eq!(
        stored.iter().map(|row| row.2.as_str()).collect::<Vec<_>>(),
        ["radeon-rx-7900-xtx", "m2-max", "geforce-rtx-4090"]
    );
    assert_eq!(stored[2].3, 24564);
    assert_eq!(stored[2].4, 2);

    // Registering again states the whole inventory and country anew.
    let replaced = json!([group("intel", "Intel Arc A770", 16384, 2)]);
    let in_us = register_with(
        &mut api,
        ALICE_CALLS,
        "rig",
        "desktop",
        GOOD_SPECS,
        Some(&replaced),
        Some("US"),
    )
    .unwrap();
    assert_eq!(in_us.0, id, "the same device");
    assert_eq!(
        in_us.1,
        json!([{"vendor": "intel", "product_name": "Intel Arc A770", "model": "arc-a770",
                "memory_mib": 16384, "count": 2}])
    );
    assert_eq!(
        (in_us.2, in_us.3, in_us.4),
        (some("US"), some("Americas"), some("Northern America"))
    );
    // Antarctica has a code but no M49 region.
    let antarctic = register_with(
        &mut api,
        ALICE_CALLS,
        "rig",
        "desktop",
        GOOD_SPECS,
        Some(&replaced),
        Some("aq"),
    )
    .unwrap();
    assert_eq!(
        (antarctic.2, antarctic.3, antarctic.4),
        (some("AQ"), None, None)
    );
    // Leaving both arguments out clears them.
    api.register(ALICE_CALLS, "rig", "desktop", GOOD_SPECS)
        .unwrap();
    assert_eq!(
        user_devices(&mut api, ALICE_CALLS)[3],
        rig_shown(&json!([]), None, None, None)
    );
    let count = |db: &mut TestDb| -> i64 {
        db.superuser
            .query_one("SELECT count(*) FROM device_accelerators", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&mut db), 0, "no group left behind");

    // A device's groups are deleted with it.
    register_with(
        &mut api,
        ALICE_CALLS,
        "rig",
        "desktop",
        GOOD_SPECS,
        Some(&given),
        None,
    )
    .unwrap();
    assert_eq!(count(&mut db), 3);
    db.superuser
        .execute(
            "DELETE FROM compute_devices WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    assert_eq!(count(&mut db), 0);
}

#[test]
fn model_keys_follow_the_issues_rule() {
    let db = test_db("model_keys");
    let mut api = db.postgrest();
    // (vendor, product_name, model key): lower case, the vendor's own name removed from the
    // start, every other run of characters outside a-z and 0-9 one '-', none at either end.
    let cases = [
        ("nvidia", "NVIDIA GeForce RTX 4090", "geforce-rtx-4090"),
        ("amd", "AMD Radeon RX 7900 XTX", "radeon-rx-7900-xtx"),
        ("apple", "Apple M2 Max", "m2-max"),
        ("nvidia", "GeForce RTX 4090 D", "geforce-rtx-4090-d"),
        (
            "intel",
            "Intel(R) Arc(TM) A770 Graphics",
            "r-arc-tm-a770-graphics",
        ),
        ("qualcomm", "Qualcomm® Adreno™ 740", "adreno-740"),
        (
            "other",
            "Tenstorrent  Grayskull e150",
            "tenstorrent-grayskull-e150",
        ),
        (
            "amd",
            "NVIDIA-compatible AMD card",
            "nvidia-compatible-amd-card",
        ),
    ];
    let groups: Vec<Value> = cases
        .iter()
        .map(|(vendor, product, _)| group(vendor, product, 1024, 1))
        .collect();
    let shown = register_with(
        &mut api,
        ALICE_CALLS,
        "keys",
        "server",
        GOOD_SPECS,
        Some(&Value::Array(groups)),
        None,
    )
    .unwrap();
    let keys: Vec<(String, String)> = shown
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let text = |key: &str| g[key].as_str().unwrap().to_string();
            (text("product_name"), text("model"))
        })
        .collect();
    for (_, product, model) in cases {
        assert!(
            keys.contains(&(product.to_string(), model.to_string())),
            "{product} -> {model}: {keys:?}"
        );
    }
    // Ordered by vendor, then model.
    let order: Vec<&str> = keys.iter().map(|(_, model)| model.as_str()).collect();
    assert_eq!(
        order,
        [
            "nvidia-compatible-amd-card",
            "radeon-rx-7900-xtx",
            "m2-max",
            "r-arc-tm-a770-graphics",
            "geforce-rtx-4090",
            "geforce-rtx-4090-d",
            "tenstorrent-grayskull-e150",
            "adreno-740",
        ]
    );
}

/// A call that must fail: its SQLSTATE, and a message that starts with the field's path.
fn assert_refused(result: Result<Shown, postgres::Error>, sqlstate: &str, field: &str, what: &str) {
    let (got, message) = sqlstate_of(result);
    assert_eq!(got, sqlstate, "{what}: {message}");
    assert!(
        message.starts_with(field),
        "{what}: {message:?} names {field}"
    );
}

#[test]
fn every_accelerator_bound_holds_at_its_edge_and_one_past() {
    let mut db = test_db("accelerator_bounds");
    let mut api = db.postgrest();
    let register = |api: &mut PostgRest, accelerators: &Value| {
        register_with(
            api,
            ALICE_CALLS,
            "edge",
            "server",
            GOOD_SPECS,
            Some(accelerators),
            None,
        )
    };
    let eight: Vec<Value> = (0..8)
        .map(|i| group("nvidia", &format!("Tesla T{i}"), 16384, 1))
        .collect();
    let visible_128 = "数".repeat(128);
    let accepted = [
        json!(eight),
        json!([group("amd", "x", 0, 1)]),
        json!([group("amd", "x", 1_048_576, 64)]),
        // 128 in all: one model in two memory sizes is two groups.
        json!([
            group("amd", "MI300X", 1024, 64),
            group("amd", "MI300X", 2048, 64)
        ]),
        json!([group("other", &visible_128, 1, 1)]),
        json!([group("other", &"a".repeat(128), 1, 1)]),
    ];
    for accelerators in &accepted {
        let shown = register(&mut api, accelerators)
            .unwrap_or_else(|error| panic!("{accelerators}: {error}"));
        assert_eq!(
            shown.1.as_array().unwrap().len(),
            accelerators.as_array().unwrap().len()
        );
    }
    let before = inventory_fingerprint(&mut db);
    let nine: Vec<Value> = (0..9)
        .map(|i| group("nvidia", &format!("Tesla T{i}"), 16384, 1))
        .collect();
    let ok = group("amd", "ok", 1, 1);
    let refused = [
        (json!(nine), "22023", "accelerators "),
        (
            json!([group("amd", "x", 1, 0)]),
            "22003",
            "accelerators[0].count",
        ),
        (
            json!([ok, group("amd", "x", 1, 65)]),
            "22003",
            "accelerators[1].count",
        ),
        (
            json!([group("amd", "x", 1, -1)]),
            "22003",
            "accelerators[0].count",
        ),
        (
            json!([
                group("amd", "a", 1, 64),
                group("amd", "b", 1, 64),
                group("amd", "c", 1, 1)
            ]),
            "22003",
            "accelerators ",
        ),
        (
            json!([group("amd", "x", -1, 1)]),
            "22003",
            "accelerators[0].memory_mib",
        ),
        (
            json!([group("amd", "x", 1_048_577, 1)]),
            "22003",
            "accelerators[0].memory_mib",
        ),
        (
            json!([group("amd", "", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", &"a".repeat(129), 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", &"数".repeat(129), 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", "   ", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([ok, group("amd", "\u{200B}", 1, 1)]),
            "22023",
            "accelerators[1].product_name",
        ),
        (
            json!([group("amd", "a\u{200B}b", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", "evil\u{202E}gpj", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", "tab\there", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
        (
            json!([group("amd", "two\nlines", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
    ];
    for (accelerators, sqlstate, field) in &refused {
        assert_refused(
            register(&mut api, accelerators),
            sqlstate,
            field,
            &accelerators.to_string(),
        );
    }
    assert_eq!(inventory_fingerprint(&mut db), before, "nothing changed");
    let (_, message) = sqlstate_of(register(&mut api, &json!([group("amd", "x", 1, 0)])));
    assert_eq!(
        message,
        "accelerators[0].count must be between 1 and 64 (got 0)"
    );
}

#[test]
fn accelerator_bounds_are_settings() {
    let mut db = test_db("accelerator_settings");
    let settings = [
        ("max_accelerator_groups", 2),
        ("max_accelerator_count", 4),
        ("max_accelerators", 6),
        ("max_accelerator_memory_mib", 1024),
        ("max_product_name_length", 10),
    ];
    for (setting, value) in settings {
        db.superuser
            .batch_execute(&format!(
                "ALTER DATABASE {} SET compute_devices.{setting} = {value}",
                db.name
            ))
            .unwrap();
    }
    let mut api = db.postgrest();
    let register = |api: &mut PostgRest, accelerators: Value| {
        register_with(
            api,
            ALICE_CALLS,
            "set",
            "server",
            GOOD_SPECS,
            Some(&accelerators),
            None,
        )
    };
    // Every bound at its edge at once.
    register(
        &mut api,
        json!([group("amd", "0123456789", 1024, 4), group("amd", "b", 0, 2)]),
    )
    .unwrap();
    let before = inventory_fingerprint(&mut db);
    let refused = [
        (
            json!([
                group("amd", "a", 1, 1),
                group("amd", "b", 1, 1),
                group("amd", "c", 1, 1)
            ]),
            "22023",
            "accelerators ",
        ),
        (
            json!([group("amd", "a", 1, 5)]),
            "22003",
            "accelerators[0].count",
        ),
        (
            json!([group("amd", "a", 1, 4), group("amd", "b", 1, 3)]),
            "22003",
            "accelerators ",
        ),
        (
            json!([group("amd", "a", 1025, 1)]),
            "22003",
            "accelerators[0].memory_mib",
        ),
        (
            json!([group("amd", "0123456789a", 1, 1)]),
            "22023",
            "accelerators[0].product_name",
        ),
    ];
    for (accelerators, sqlstate, field) in refused {
        let what = accelerators.to_string();
        assert_refused(register(&mut api, accelerators), sqlstate, field, &what);
    }
    let (_, message) = sqlstate_of(register(&mut api, json!([group("amd", "a", 1, 5)])));
    assert_eq!(
        message,
        "accelerators[0].count must be between 1 and 4 (got 5)"
    );
    assert_eq!(inventory_fingerprint(&mut db), before, "nothing changed");
    // A caller cannot loosen them for their own session.
    for (setting, _) in settings {
        let (sqlstate, _) = sqlstate_of(api.call(
            ALICE_CALLS,
            &format!("SELECT set_config('compute_devices.{setting}', '100000', true)"),
            &[],
        ));
        assert_eq!(sqlstate, "42501", "{setting}");
    }
}

#[test]
fn every_bad_accelerator_or_country_names_its_field_and_changes_nothing() {
    let mut db = test_db("bad_accelerators");
    let mut api = db.postgrest();
    let inventory = json!([group("nvidia", "NVIDIA GeForce RTX 4090", 24564, 2)]);
    register_with(
        &mut api,
        ALICE_CALLS,
        "rig",
        "server",
        GOOD_SPECS,
        Some(&inventory),
        Some("DE"),
    )
    .unwrap();
    let before = inventory_fingerprint(&mut db);
    let ok = group("amd", "ok", 1, 1);
    let without = |key: &str| {
        let mut g = group("amd", "x", 1, 1);
        g.as_object_mut().unwrap().remove(key);
        json!([g])
    };
    let with = |key: &str, value: Value| {
        let mut g = group("amd", "x", 1, 1);
        g[key] = value;
        json!([g])
    };
    let shapes = [
        (json!({}), "accelerators "),
        (json!("x"), "accelerators "),
        (json!(1), "accelerators "),
        (json!(true), "accelerators "),
        (json!([1]), "accelerators[0]"),
        (json!([null]), "accelerators[0]"),
        (json!(["nvidia"]), "accelerators[0]"),
        (json!([[]]), "accelerators[0]"),
        (json!([ok, 1]), "accelerators[1]"),
        (without("vendor"), "accelerators[0].vendor"),
        (without("product_name"), "accelerators[0].product_name"),
        (without("memory_mib"), "accelerators[0].memory_mib"),
        (without("count"), "accelerators[0].count"),
        (with("model", json!("m")), "accelerators[0]"),
        (with("extra", json!(1)), "accelerators[0]"),
        (with("vendor", json!(1)), "accelerators[0].vendor"),
        (with("vendor", json!(null)), "accelerators[0].vendor"),
        (with("vendor", json!(["amd"])), "accelerators[0].vendor"),
        (with("vendor", json!("ati")), "accelerators[0].vendor"),
        (with("vendor", json!("")), "accelerators[0].vendor"),
        (
            with("product_name", json!(5)),
            "accelerators[0].product_name",
        ),
        (
            with("product_name", json!(null)),
            "accelerators[0].product_name",
        ),
        (
            with("memory_mib", json!("24")),
            "accelerators[0].memory_mib",
        ),
        (
            with("memory_mib", json!(null)),
            "accelerators[0].memory_mib",
        ),
        (with("memory_mib", json!(1.5)), "accelerators[0].memory_mib"),
        (with("count", json!("2")), "accelerators[0].count"),
        (with("count", json!(true)), "accelerators[0].count"),
        (with("count", json!(null)), "accelerators[0].count"),
        (with("count", json!(2.5)), "accelerators[0].count"),
        // Duplicate groups: the later one is named; one model key from two spellings.
        (json!([ok, ok]), "accelerators[1]"),
        (
            json!([
                group("nvidia", "NVIDIA GeForce RTX 4090", 24564, 1),
                ok,
                group("nvidia", "GeForce RTX-4090", 24564, 1),
            ]),
            "accelerators[2]",
        ),
    ];
    for (accelerators, field) in &shapes {
        for name in ["rig", "new"] {
            let result = register_with(
                &mut api,
                ALICE_CALLS,
                name,
                "server",
                GOOD_SPECS,
                Some(accelerators),
                Some("FR"),
            );
            assert_refused(result, "22023", field, &format!("{name}: {accelerators}"));
        }
    }
    for country in ["XX", "zz", "DEU", "D", "", "1A", " DE", "DE ", "D-", "ÄÖ"] {
        for name in ["rig", "new"] {
            let result = register_with(
                &mut api,
                ALICE_CALLS,
                name,
                "server",
                GOOD_SPECS,
                None,
                Some(country),
            );
            assert_refused(
                result,
                "22023",
                "country_code",
                &format!("{name}: {country:?}"),
            );
        }
    }
    assert_eq!(
        inventory_fingerprint(&mut db),
        before,
        "no bad input changed anything"
    );
}

/// A DBA writing the table directly gets what the foreign key gave until 0.7.0: a country that
/// is not shipped is refused (23503, naming the column), on insert and on update, and a shipped
/// one or NULL is taken, whichever role writes (the check reads countries as the table's owner).
#[test]
fn direct_writes_of_an_unknown_country_are_refused_like_a_foreign_key() {
    let mut db = test_db("direct_country");
    let mut api = db.postgrest();
    register_with(
        &mut api,
        ALICE_CALLS,
        "box",
        "server",
        GOOD_SPECS,
        None,
        Some("DE"),
    )
    .unwrap();
    let before = inventory_fingerprint(&mut db);
    let writes = [
        "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores,
                                      storage_gb, country_code)
         VALUES (gen_random_uuid(), 'direct', 'phone', 4, 4, 64, 'ZZ')",
        "UPDATE compute_devices SET country_code = 'ZZ'",
        "UPDATE compute_devices SET country_code = 'de'",
    ];
    for write in writes {
        let (code, message) = sqlstate_of(db.superuser.execute(write, &[]));
        assert_eq!(code, "23503", "{write}: {message}");
        assert!(message.contains("country_code"), "{write}: {message}");
    }
    assert_eq!(inventory_fingerprint(&mut db), before, "nothing changed");

    // A role that may write the table but not read countries: the check still reads them.
    db.superuser
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE direct_writer BYPASSRLS;
                  EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT USAGE ON SCHEMA public TO direct_writer;
             GRANT SELECT, UPDATE ON compute_devices TO direct_writer;
             REVOKE SELECT ON countries FROM PUBLIC;
             SET ROLE direct_writer;
             UPDATE compute_devices SET country_code = 'FR';
             UPDATE compute_devices SET country_code = NULL;
             UPDATE compute_devices SET country_code = 'JP';
             RESET ROLE;",
        )
        .unwrap();
    let country: Option<String> = db
        .superuser
        .query_one("SELECT country_code FROM compute_devices", &[])
        .unwrap()
        .get(0);
    assert_eq!(country.as_deref(), Some("JP"));
}

#[test]
fn device_accelerators_are_read_by_their_owner_only_and_countries_by_everyone() {
    let mut db = test_db("accelerators_rls");
    let mut api = db.postgrest();
    let two = json!([group("amd", "a", 1, 1), group("amd", "b", 1, 1)]);
    register_with(
        &mut api,
        ALICE_CALLS,
        "alices",
        "server",
        GOOD_SPECS,
        Some(&two),
        None,
    )
    .unwrap();
    let one = json!([group("intel", "c", 1, 1)]);
    register_with(
        &mut api,
        BOB_CALLS,
        "bobs",
        "server",
        GOOD_SPECS,
        Some(&one),
        None,
    )
    .unwrap();
    let models = |api: &mut PostgRest, caller| -> Result<Vec<String>, postgres::Error> {
        let rows = api.call(
            caller,
            "SELECT model FROM device_accelerators ORDER BY model",
            &[],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    };
    assert_eq!(models(&mut api, ALICE_CALLS).unwrap(), ["a", "b"]);
    assert_eq!(models(&mut api, BOB_CALLS).unwrap(), ["c"]);
    let nobody = Caller::AuthenticatedWithClaims(r#"{"role":"authenticated"}"#);
    for caller in [Caller::Anon, nobody] {
        match models(&mut api, caller) {
            Ok(rows) => assert!(rows.is_empty(), "{caller:?} reads {rows:?}"),
            Err(error) => {
                let code = error.as_db_error().map(|db| db.code().code().to_string());
                assert_eq!(code.as_deref(), Some("42501"), "{caller:?}: {error}");
            }
        }
    }
    let before = inventory_fingerprint(&mut db);
    for write in [
        "UPDATE device_accelerators SET count = 64",
        "DELETE FROM device_accelerators",
        "INSERT INTO device_accelerators (device_id, vendor, product_name, model, memory_mib, count)
         SELECT id, 'amd', 'z', 'z', 1, 64 FROM compute_devices",
        "UPDATE countries SET region = 'Europe'",
        "INSERT INTO countries VALUES ('QQ', '999', 'Nowhere', NULL, NULL)",
    ] {
        for caller in [ALICE_CALLS, Caller::Anon] {
            let (sqlstate, message) = sqlstate_of(api.call(caller, write, &[]));
            assert_eq!(sqlstate, "42501", "{caller:?} {write}: {message}");
        }
    }
    assert_eq!(inventory_fingerprint(&mut db), before, "nothing changed");
    // The countries are reference data everyone reads (PostgREST's /countries).
    for caller in [Caller::Anon, ALICE_CALLS] {
        let row = api
            .call_one(
                caller,
                "SELECT numeric_code, country_name, region, subregion,
                        (SELECT count(*) FROM countries)
                   FROM countries WHERE country_code = 'DE'",
                &[],
            )
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "276");
        assert_eq!(row.get::<_, String>(1), "Germany");
        assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("Europe"));
        assert_eq!(
            row.get::<_, Option<String>>(3).as_deref(),
            Some("Western Europe")
        );
        let count: i64 = row.get(4);
        assert!(
            (240..=260).contains(&count),
            "ISO 3166-1 has 249 codes: {count}"
        );
    }
}
