//! The read grammar's statements run over the extension's table in a real cluster: each feature
//! returns the rows PostgREST documents, values stay values (however hostile), and a volatile
//! source runs once even when counted. Runs as the superuser: row-level security is the
//! request pipeline's part (tests/e2e.rs, tests/supabase_clients.rs).

mod common;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use compute_gateway::query::{self, Shape, SOURCE};
use serde_json::{json, Value};

const ALICE: &str = common::ALICE;
const BOB: &str = common::BOB;
const TABLE: &str = "\"public\".\"compute_devices\"";

/// The devices every case reads: (owner, name, type, cores, ram, stopped).
const DEVICES: [(&str, &str, &str, i32, i32, bool); 6] = [
    (ALICE, "a-phone", "phone", 2, 4, true),
    (ALICE, "a-laptop", "laptop", 8, 16, false),
    (ALICE, "a-desktop", "desktop", 16, 32, false),
    (ALICE, "a-server", "server", 64, 256, false),
    (BOB, "b,laptop", "laptop", 4, 8, false),
    (BOB, "c \"quoted\"", "phone", 1, 2, true),
];

/// Query pairs and the device names they keep, sorted.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

struct Table {
    client: postgres::Client,
    /// (name, qualified type) of each column, from the catalog as the gateway reads it.
    columns: Vec<(String, String)>,
}

/// What one statement returned: the total (when counted), the page's row count, the body.
#[derive(Debug)]
struct Answer {
    total: Option<i64>,
    page_count: i64,
    body: Value,
}

impl Table {
    fn seeded(port: u16) -> Table {
        let mut client = common::superuser(port);
        for (owner, name, device_type, cores, ram, stopped) in DEVICES {
            client
                .execute(
                    "INSERT INTO compute_devices (user_id, device_name, device_type, cpu_cores, \
                     ram_gb, storage_gb, deactivated_at) \
                     VALUES ($1::text::uuid, $2, $3, $4, $5::int4::numeric, 100, \
                     CASE WHEN $6 THEN pg_catalog.now() END)",
                    &[&owner, &name, &device_type, &cores, &ram, &stopped],
                )
                .unwrap();
        }
        let columns = client
            .query(
                "SELECT a.attname::text, \
                 pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) \
                 FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                 WHERE a.attrelid = 'public.compute_devices'::pg_catalog.regclass \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        Table { client, columns }
    }

    fn read(&mut self, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        self.read_from(&format!("{TABLE} AS {SOURCE}"), pairs, headers)
            .unwrap_or_else(|error| panic!("{pairs:?} {headers:?}: {error}"))
    }

    fn read_from(
        &mut self,
        from: &str,
        pairs: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let read = query::parse(&pairs, &map, &|_| false).map_err(|error| error.code)?;
        let shape = if read.is_singular() {
            Shape::Object
        } else {
            Shape::Rows
        };
        let columns: Vec<(&str, &str)> = self
            .columns
            .iter()
            .map(|(name, sql_type)| (name.as_str(), sql_type.as_str()))
            .collect();
        let (sql, values) = read
            .statement(from, &columns, shape, 1)
            .map_err(|error| error.code)?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|value| value as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let row = self.client.query_one(&sql, &params).map_err(|error| {
            let error = error.as_db_error().expect("an error of the database's");
            eprintln!("{}: {} in {sql}", error.code().code(), error.message());
            error.code().code().to_string()
        })?;
        let body: String = row.get(2);
        Ok(Answer {
            total: row.get(0),
            page_count: row.get(1),
            body: serde_json::from_str(&body).unwrap(),
        })
    }

    /// The device names a read returns, in its order.
    fn names(&mut self, pairs: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = pairs.to_vec();
        pairs.push(("select", "device_name"));
        let answer = self.read(&pairs, &[]);
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["device_name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The device names a filter keeps, sorted.
    fn kept(&mut self, pairs: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = pairs.to_vec();
        pairs.push(("order", "device_name"));
        self.names(&pairs)
    }
}

#[test]
fn the_read_grammar_over_the_extensions_table() {
    let cluster = common::cluster("gateway-query");
    let mut table = Table::seeded(cluster.port());

    select_returns_the_named_keys(&mut table);
    each_filter_keeps_the_documented_rows(&mut table);
    logic_trees_nest(&mut table);
    order_uses_columns_not_selected(&mut table);
    pages_counts_and_singular_objects(&mut table);
    values_stay_values(&mut table);
    the_largest_read_served_runs(&mut table);
    a_volatile_source_runs_once_even_when_counted(&mut table);
}

fn select_returns_the_named_keys(table: &mut Table) {
    let answer = table.read(
        &[
            ("select", "device_name,cores:cpu_cores,ram_gb::text"),
            ("device_name", "eq.a-laptop"),
        ],
        &[],
    );
    assert_eq!(
        answer.body,
        json!([{"device_name": "a-laptop", "cores": 8, "ram_gb": "16"}])
    );
    let everything = table.read(&[("device_name", "eq.a-laptop")], &[]);
    let row = everything.body[0].as_object().unwrap().clone();
    let keys: Vec<&str> = row.keys().map(String::as_str).collect();
    // serde_json's map sorts its keys.
    let mut columns: Vec<&str> = table
        .columns
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    columns.sort();
    assert_eq!(
        keys, columns,
        "select absent: every column under its own name"
    );
    assert_eq!(
        table
            .read_from(
                &format!("{TABLE} AS {SOURCE}"),
                &[("select", "banana")],
                &[]
            )
            .unwrap_err(),
        "42703"
    );
}

fn each_filter_keeps_the_documented_rows(table: &mut Table) {
    let cases: [Case; 20] = [
        (&[("device_type", "eq.laptop")], &["a-laptop", "b,laptop"]),
        (
            &[("device_type", "neq.laptop")],
            &["a-desktop", "a-phone", "a-server", "c \"quoted\""],
        ),
        (&[("cpu_cores", "gt.8")], &["a-desktop", "a-server"]),
        (
            &[("cpu_cores", "gte.8")],
            &["a-desktop", "a-laptop", "a-server"],
        ),
        (&[("cpu_cores", "lt.4")], &["a-phone", "c \"quoted\""]),
        (
            &[("cpu_cores", "lte.4")],
            &["a-phone", "b,laptop", "c \"quoted\""],
        ),
        (
            &[("cpu_cores", "not.lte.4")],
            &["a-desktop", "a-laptop", "a-server"],
        ),
        (&[("ram_gb", "eq.16.0")], &["a-laptop"]),
        (
            &[(
                "device_name",
                "in.(a-phone,\"b,laptop\",\"c \\\"quoted\\\"\")",
            )],
            &["a-phone", "b,laptop", "c \"quoted\""],
        ),
        (
            &[("cpu_cores", "in.(1, 2,64)")],
            &["a-phone", "a-server", "c \"quoted\""],
        ),
        (&[("device_name", "in.()")], &[]),
        (
            &[(
                "device_name",
                "not.in.(a-phone,a-laptop,a-desktop,a-server)",
            )],
            &["b,laptop", "c \"quoted\""],
        ),
        (
            &[
                ("deactivated_at", "is.null"),
                ("user_id", &format!("eq.{BOB}")),
            ],
            &["b,laptop"],
        ),
        (
            &[("deactivated_at", "not.is.null")],
            &["a-phone", "c \"quoted\""],
        ),
        (
            &[("is_active", "is.false"), ("cpu_cores", "gt.10")],
            &["a-desktop", "a-server"],
        ),
        (&[("is_active", "is.true")], &[]),
        (
            &[("device_name", "like.a-*top")],
            &["a-desktop", "a-laptop"],
        ),
        (&[("device_name", "like.A-*")], &[]),
        (
            &[("device_name", "ilike.A-*O*")],
            &["a-desktop", "a-laptop", "a-phone"],
        ),
        (
            &[
                ("id", "not.is.null"),
                ("created_at", "lt.3000-01-01"),
                ("device_name", "not.ilike.*LAP*"),
            ],
            &["a-desktop", "a-phone", "a-server", "c \"quoted\""],
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(table.kept(pairs), expected, "{pairs:?}");
    }
}

fn logic_trees_nest(table: &mut Table) {
    let cases: [Case; 4] = [
        (&[("or", "(device_type.eq.server,cpu_cores.lt.2)")], &["a-server", "c \"quoted\""]),
        (
            &[("or", "(device_name.eq.a-phone,and(cpu_cores.gt.4,deactivated_at.is.null,device_type.neq.server))")],
            &["a-desktop", "a-laptop", "a-phone"],
        ),
        (&[("not.or", "(device_type.eq.laptop,device_type.eq.phone)")], &["a-desktop", "a-server"]),
        (
            &[("and", "(cpu_cores.gte.2,not.and(device_type.in.(laptop,desktop),cpu_cores.gt.5))"), ("device_name", "like.a*")],
            &["a-phone", "a-server"],
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(table.kept(pairs), expected, "{pairs:?}");
    }
}

fn order_uses_columns_not_selected(table: &mut Table) {
    assert_eq!(
        table.names(&[("order", "cpu_cores.desc")]),
        [
            "a-server",
            "a-desktop",
            "a-laptop",
            "b,laptop",
            "a-phone",
            "c \"quoted\""
        ]
    );
    assert_eq!(
        table.names(&[("order", "device_type.asc,ram_gb.desc")]),
        [
            "a-desktop",
            "a-laptop",
            "b,laptop",
            "a-phone",
            "c \"quoted\"",
            "a-server"
        ]
    );
    // deactivated_at is NULL for four devices; NULLS FIRST puts them before the two others.
    let nulls_first = table.names(&[("order", "deactivated_at.desc.nullsfirst,device_name")]);
    assert_eq!(
        &nulls_first[..4],
        ["a-desktop", "a-laptop", "a-server", "b,laptop"]
    );
    let nulls_last = table.names(&[("order", "deactivated_at.asc.nullslast,device_name")]);
    assert_eq!(
        &nulls_last[2..],
        ["a-desktop", "a-laptop", "a-server", "b,laptop"]
    );
}

fn pages_counts_and_singular_objects(table: &mut Table) {
    let by_cores = ("order", "cpu_cores");
    let page = table.read(
        &[
            by_cores,
            ("limit", "2"),
            ("offset", "1"),
            ("select", "cpu_cores"),
        ],
        &[],
    );
    assert_eq!(page.body, json!([{"cpu_cores": 2}, {"cpu_cores": 4}]));
    assert_eq!((page.total, page.page_count), (None, 2));

    let counted = table.read(
        &[
            by_cores,
            ("select", "cpu_cores"),
            ("device_type", "neq.server"),
        ],
        &[
            ("prefer", "count=exact"),
            ("range", "1-2"),
            ("range-unit", "items"),
        ],
    );
    assert_eq!(counted.body, json!([{"cpu_cores": 2}, {"cpu_cores": 4}]));
    assert_eq!((counted.total, counted.page_count), (Some(5), 2));
    let read = query::parse(
        &[],
        &HeaderMap::from_iter([(axum::http::header::RANGE, HeaderValue::from_static("1-2"))]),
        &|_| false,
    )
    .unwrap();
    assert_eq!(
        read.content_range(counted.page_count, counted.total)
            .map(|(status, range)| (status.as_u16(), range)),
        Ok((206, "1-2/5".to_string()))
    );

    let none = table.read(&[("limit", "0")], &[("prefer", "count=exact")]);
    assert_eq!(
        (none.total, none.page_count, none.body),
        (Some(6), 0, json!([]))
    );

    let singular = [("accept", "application/vnd.pgrst.object+json")];
    let one = table.read(
        &[("device_name", "eq.a-server"), ("select", "device_type")],
        &singular,
    );
    assert_eq!(
        (one.page_count, one.body),
        (1, json!({"device_type": "server"}))
    );
    let many = table.read(&[("select", "device_type")], &singular);
    assert_eq!(
        many.page_count, 6,
        "the caller sees more than one row and answers 406"
    );
    let nothing = table.read(&[("device_name", "eq.nothing")], &singular);
    assert_eq!((nothing.page_count, nothing.body), (0, Value::Null));

    let stripped = table.read(
        &[
            ("device_name", "eq.a-laptop"),
            ("select", "device_name,deactivated_at"),
        ],
        &[("accept", "application/vnd.pgrst.array+json;nulls=stripped")],
    );
    assert_eq!(stripped.body, json!([{"device_name": "a-laptop"}]));
}

/// The most select items, order terms and filters the parser lets through: PostgreSQL runs it
/// (1664 target entries at most, 54011).
fn the_largest_read_served_runs(table: &mut Table) {
    let ids = vec!["id"; 1000].join(",");
    let mut pairs = vec![("select", ids.as_str()), ("order", ids.as_str())];
    pairs.extend(vec![("device_name", "neq.x"); 999]);
    pairs.push(("or", "(device_name.eq.a-phone)"));
    let answer = table.read(&pairs, &[]);
    assert_eq!(answer.page_count, 1);
    assert_eq!(
        answer.body[0].as_object().unwrap().len(),
        1,
        "one key, id, 1000 times"
    );
}

fn values_stay_values(table: &mut Table) {
    let hostile = "'); DROP TABLE compute_devices; --";
    for pairs in [
        [("device_name", format!("eq.{hostile}"))],
        [("device_name", format!("in.(\"{hostile}\",x)"))],
        [("device_name", format!("like.*{hostile}"))],
        [(
            "or",
            format!("(device_name.eq.\"{hostile}\",device_name.eq.x)"),
        )],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(table.kept(&pairs), Vec::<String>::new(), "{pairs:?}");
    }
    assert_eq!(
        table.kept(&[]).len(),
        6,
        "the table is still there, every row in it"
    );

    let from = format!("{TABLE} AS {SOURCE}");
    // A value the column's type refuses is the database's 22P02 (PostgREST's 400).
    assert_eq!(
        table
            .read_from(&from, &[("cpu_cores", "eq.many")], &[])
            .unwrap_err(),
        "22P02"
    );
    assert_eq!(
        table
            .read_from(&from, &[("cpu_cores", "in.(1,many)")], &[])
            .unwrap_err(),
        "22P02"
    );
    // A NUL cannot be text: refused by the database, not taken as the end of the value.
    assert_eq!(
        table
            .read_from(&from, &[("device_name", "eq.a-phone\0x")], &[])
            .unwrap_err(),
        "22021"
    );
}

fn a_volatile_source_runs_once_even_when_counted(table: &mut Table) {
    table
        .client
        .batch_execute(
            "CREATE SEQUENCE public.query_test_calls; \
             CREATE FUNCTION public.query_test_devices() RETURNS SETOF public.compute_devices \
             LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
               PERFORM pg_catalog.nextval('public.query_test_calls'); \
               RETURN QUERY SELECT * FROM public.compute_devices; \
             END $$;",
        )
        .unwrap();
    let from = format!("\"public\".\"query_test_devices\"() AS {SOURCE}");
    let answer = table
        .read_from(
            &from,
            &[
                ("select", "device_name"),
                ("cpu_cores", "gt.4"),
                ("order", "device_name"),
                ("limit", "1"),
            ],
            &[("prefer", "count=exact")],
        )
        .unwrap();
    assert_eq!((answer.total, answer.page_count), (Some(3), 1));
    assert_eq!(answer.body, json!([{"device_name": "a-desktop"}]));
    let calls: i64 = table
        .client
        .query_one("SELECT last_value FROM public.query_test_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(calls, 1, "the function ran once for the page and the count");
}
