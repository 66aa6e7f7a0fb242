//! The module's contract: requests parsed into reads (or PostgREST's errors), and reads
//! compiled to exact SQL whose values are all parameters.

use super::*;
use axum::http::HeaderValue;

const COLUMNS: [(&str, &str); 4] = [
    ("id", "\"pg_catalog\".\"uuid\""),
    ("device_type", "\"pg_catalog\".\"text\""),
    ("cpu_cores", "\"pg_catalog\".\"int4\""),
    ("is_active", "\"pg_catalog\".\"bool\""),
];
const FROM: &str = "\"public\".\"compute_devices\" AS pgrst_source";

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in list {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn read(query: &[(&str, &str)]) -> Result<Read, ApiError> {
    parse(&pairs(query), &HeaderMap::new(), &|_| false)
}

fn sql(query: &[(&str, &str)], shape: Shape, first: usize) -> (String, Vec<String>) {
    read(query)
        .unwrap()
        .statement(FROM, &COLUMNS, shape, first)
        .unwrap()
}

fn error(result: Result<Read, ApiError>) -> (u16, String, String, Option<String>) {
    let error = result.unwrap_err();
    (
        error.status.as_u16(),
        error.code,
        error.message,
        error.details,
    )
}

#[test]
fn a_request_without_the_grammar_is_plain() {
    let plain = read(&[]).unwrap();
    assert!(plain.is_plain() && !plain.is_singular() && !plain.wants_count());
    assert!(read(&[("select", "*")]).unwrap().is_plain());
    assert!(parse(
        &pairs(&[("p_type", "laptop")]),
        &HeaderMap::new(),
        &|name| name == "p_type"
    )
    .unwrap()
    .is_plain());
    let grammar: [&[(&str, &str)]; 6] = [
        &[("select", "id")],
        &[("id", "eq.1")],
        &[("or", "(id.eq.1)")],
        &[("order", "id")],
        &[("limit", "1")],
        &[("offset", "1")],
    ];
    for query in grammar {
        assert!(!read(query).unwrap().is_plain(), "{query:?}");
    }
    let headers_only = [
        headers(&[("prefer", "count=exact")]),
        headers(&[("accept", "application/vnd.pgrst.object+json")]),
        headers(&[("range", "0-9")]),
    ];
    for headers in headers_only {
        assert!(
            !parse(&[], &headers, &|_| false).unwrap().is_plain(),
            "{headers:?}"
        );
    }
}

#[test]
fn arguments_are_left_to_the_caller() {
    let read = parse(
        &pairs(&[("p_type", "laptop"), ("cpu_cores", "gt.2")]),
        &HeaderMap::new(),
        &|name| name == "p_type",
    )
    .unwrap();
    let (statement, values) = read.statement(FROM, &COLUMNS, Shape::Rows, 2).unwrap();
    assert!(statement.contains("$2::pg_catalog.text"), "{statement}");
    assert_eq!(values, ["2"]);
}

#[test]
fn the_first_select_and_order_count_and_the_last_limit() {
    let (statement, values) = sql(
        &[
            ("select", "id"),
            ("select", "cpu_cores"),
            ("order", "id"),
            ("order", "cpu_cores"),
            ("limit", "1"),
            ("limit", "2"),
        ],
        Shape::Rows,
        1,
    );
    assert!(
        statement.contains(
            "SELECT pgrst_rows.\"id\" AS \"id\" FROM pgrst_rows ORDER BY pgrst_rows.\"id\" LIMIT"
        ),
        "{statement}"
    );
    assert_eq!(values, ["2"]);
}

#[test]
fn headers_choose_singular_and_count() {
    let read = parse(
        &[],
        &headers(&[
            ("accept", "application/vnd.pgrst.object+json"),
            ("prefer", "count=exact"),
        ]),
        &|_| false,
    )
    .unwrap();
    assert!(read.is_singular() && read.wants_count());
    assert_eq!(read.count_preference(), Some("count=exact"));
    let planned = parse(&[], &headers(&[("prefer", "count=planned")]), &|_| false).unwrap();
    assert!(planned.wants_count());
    assert_eq!(planned.count_preference(), Some("count=planned"));
    assert_eq!(
        error(parse(&[], &headers(&[("accept", "text/csv")]), &|_| false)),
        (
            406,
            "PGRST107".into(),
            "None of these media types are available: text/csv".into(),
            None
        )
    );
}

#[test]
fn parse_errors_are_postgrests_pgrst100() {
    assert_eq!(
        error(read(&[("id", "0")])),
        (
            400,
            "PGRST100".into(),
            "\"failed to parse filter (0)\" (line 1, column 1)".into(),
            Some("unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)".into())
        )
    );
    assert_eq!(
        error(read(&[("order", "id.asc.nlsfst")])).2,
        "\"failed to parse order (id.asc.nlsfst)\" (line 1, column 8)"
    );
    assert_eq!(
        error(read(&[("or", "()")])).2,
        "\"failed to parse logic tree (())\" (line 1, column 4)"
    );
    assert_eq!(
        error(read(&[("select", "id,")])).2,
        "\"failed to parse select parameter (id,)\" (line 1, column 4)"
    );
}

#[test]
fn unsupported_grammar_is_a_400_naming_it() {
    let cases = [
        (("select", "data->x"), "a JSON path in select (data->...)"),
        (("tags", "cs.{a}"), "the operator cs"),
        (("id", "eq(any).{1,2}"), "the operator modifier eq(any)"),
        (("data->>x", "eq.1"), "filtering on a JSON path (data->...)"),
        (
            ("columns", "id"),
            "the columns parameter (it applies to writes)",
        ),
    ];
    for ((name, value), what) in cases {
        assert_eq!(
            error(read(&[(name, value)])),
            (
                400,
                "PGRST100".into(),
                format!("{what} is not supported by this gateway"),
                Some(format!("in the query parameter {name}={value}"))
            )
        );
    }
}

#[test]
fn embedding_and_aggregates_get_postgrests_answers() {
    let no_relationship =
        "Could not find a relationship between this resource and 'clients' in the schema cache";
    let not_embedded = "'clients' is not an embedded resource in this request";
    let aggregates = "Use of aggregate functions is not allowed";
    let cases = [
        (("select", "*,clients(*)"), "PGRST200", no_relationship),
        (("select", "...clients(*)"), "PGRST200", no_relationship),
        (("select", "count()"), "PGRST123", aggregates),
        (("select", "ram_gb.avg()"), "PGRST123", aggregates),
        (("clients.id", "eq.1"), "PGRST108", not_embedded),
        (("clients.order", "id"), "PGRST108", not_embedded),
        (("clients.limit", "1"), "PGRST108", not_embedded),
        (("clients.offset", "1"), "PGRST108", not_embedded),
        (("clients.or", "(id.eq.1)"), "PGRST108", not_embedded),
        (("order", "clients(id)"), "PGRST108", not_embedded),
    ];
    for ((name, value), code, message) in cases {
        let (status, got_code, got_message, _) = error(read(&[(name, value)]));
        assert_eq!(
            (status, got_code.as_str(), got_message.as_str()),
            (400, code, message)
        );
    }
}

#[test]
fn unknown_columns_are_42703_wherever_they_appear() {
    let queries: [&[(&str, &str)]; 5] = [
        &[("select", "id,banana")],
        &[("banana", "eq.1")],
        &[("or", "(id.is.null,banana.eq.1)")],
        &[("order", "banana.desc")],
        &[("select", "b:banana::text")],
    ];
    for query in queries {
        let error = read(query)
            .unwrap()
            .statement(FROM, &COLUMNS, Shape::Rows, 1)
            .unwrap_err();
        assert_eq!(
            (
                error.status.as_u16(),
                error.code.as_str(),
                error.message.as_str()
            ),
            (400, "42703", "column \"banana\" does not exist"),
            "{query:?}"
        );
    }
}

#[test]
fn a_plain_read_compiles_to_every_row() {
    assert_eq!(
        sql(&[], Shape::Rows, 1),
        (
            "WITH pgrst_rows AS (SELECT pgrst_source.* FROM \"public\".\"compute_devices\" AS pgrst_source) \
             SELECT NULL::pg_catalog.int8, pg_catalog.count(pgrst_page), \
             (COALESCE(pg_catalog.json_agg(pgrst_page), '[]'::pg_catalog.json))::pg_catalog.text \
             FROM (SELECT pgrst_rows.* FROM pgrst_rows) pgrst_page"
                .to_string(),
            vec![]
        )
    );
}

#[test]
fn the_whole_grammar_compiles_with_every_value_a_parameter() {
    let (statement, values) = sql(
        &[
            ("select", "type:device_type,cpu_cores::text"),
            ("device_type", "in.(laptop,\"a,b\")"),
            ("cpu_cores", "not.gte.8"),
            ("device_type", "ilike.*TOP*"),
            ("or", "(is_active.is.true,and(id.eq.x,cpu_cores.lt.2))"),
            ("order", "cpu_cores.desc.nullslast,id"),
            ("limit", "10"),
            ("offset", "5"),
        ],
        Shape::Object,
        3,
    );
    assert_eq!(
        statement,
        "WITH pgrst_rows AS (SELECT pgrst_source.* FROM \"public\".\"compute_devices\" AS pgrst_source \
         WHERE pgrst_source.\"device_type\" OPERATOR(pg_catalog.=) \
         ANY ((($3::pg_catalog.text)::pg_catalog.text[])::\"pg_catalog\".\"text\"[]) \
         AND NOT (pgrst_source.\"cpu_cores\" OPERATOR(pg_catalog.>=) ($4::pg_catalog.text)::\"pg_catalog\".\"int4\") \
         AND (pgrst_source.\"device_type\")::pg_catalog.text OPERATOR(pg_catalog.~~*) $5::pg_catalog.text \
         AND (pgrst_source.\"is_active\" IS TRUE OR \
         (pgrst_source.\"id\" OPERATOR(pg_catalog.=) ($6::pg_catalog.text)::\"pg_catalog\".\"uuid\" \
         AND pgrst_source.\"cpu_cores\" OPERATOR(pg_catalog.<) ($7::pg_catalog.text)::\"pg_catalog\".\"int4\"))) \
         SELECT NULL::pg_catalog.int8, pg_catalog.count(pgrst_page), \
         (COALESCE(pg_catalog.json_agg(pgrst_page) OPERATOR(pg_catalog.->) 0, 'null'::pg_catalog.json))::pg_catalog.text \
         FROM (SELECT pgrst_rows.\"device_type\" AS \"type\", \
         CAST(pgrst_rows.\"cpu_cores\" AS pg_catalog.\"text\") AS \"cpu_cores\" FROM pgrst_rows \
         ORDER BY pgrst_rows.\"cpu_cores\" DESC NULLS LAST, pgrst_rows.\"id\" \
         LIMIT ($8::pg_catalog.text)::pg_catalog.int8 OFFSET ($9::pg_catalog.text)::pg_catalog.int8) pgrst_page"
    );
    assert_eq!(
        values,
        ["{\"laptop\",\"a,b\"}", "8", "%TOP%", "x", "2", "10", "5"]
    );
}

#[test]
fn a_count_reads_the_filtered_rows_once_more_not_the_source() {
    let read = parse(
        &pairs(&[("is_active", "is.false")]),
        &headers(&[("prefer", "count=exact")]),
        &|_| false,
    )
    .unwrap();
    let (statement, values) = read.statement(FROM, &COLUMNS, Shape::Rows, 1).unwrap();
    assert_eq!(
        statement,
        "WITH pgrst_rows AS (SELECT pgrst_source.* FROM \"public\".\"compute_devices\" AS pgrst_source \
         WHERE pgrst_source.\"is_active\" IS FALSE) \
         SELECT (SELECT pg_catalog.count(*) FROM pgrst_rows), pg_catalog.count(pgrst_page), \
         (COALESCE(pg_catalog.json_agg(pgrst_page), '[]'::pg_catalog.json))::pg_catalog.text \
         FROM (SELECT pgrst_rows.* FROM pgrst_rows) pgrst_page"
    );
    assert!(values.is_empty());
}

#[test]
fn stripped_nulls_and_the_range_header() {
    let read = parse(
        &[],
        &headers(&[
            ("accept", "application/vnd.pgrst.array+json;nulls=stripped"),
            ("range", "2-5"),
        ]),
        &|_| false,
    )
    .unwrap();
    let (statement, values) = read.statement(FROM, &COLUMNS, Shape::Rows, 1).unwrap();
    assert!(
        statement.contains(
            "COALESCE(pg_catalog.json_strip_nulls(pg_catalog.json_agg(pgrst_page)), '[]'::pg_catalog.json)"
        ),
        "{statement}"
    );
    assert!(statement.ends_with(
        "LIMIT ($1::pg_catalog.text)::pg_catalog.int8 OFFSET ($2::pg_catalog.text)::pg_catalog.int8) pgrst_page"
    ));
    assert_eq!(values, ["4", "2"]);
    assert_eq!(
        read.content_range(4, Some(10))
            .map(|(s, h)| (s.as_u16(), h)),
        Ok((206, "2-5/10".to_string()))
    );
}

#[test]
fn hostile_values_and_names_never_reach_the_sql_text() {
    let hostile = "'); DROP TABLE x; --";
    let (statement, values) = sql(
        &[
            ("device_type", &format!("eq.{hostile}")),
            ("device_type", &format!("in.(\"{hostile}\")")),
            ("device_type", &format!("like.{hostile}")),
        ],
        Shape::Rows,
        1,
    );
    assert!(!statement.contains("DROP"), "{statement}");
    assert_eq!(values[0], hostile);
    let weird = [("a\"b", "\"pg_catalog\".\"text\"")];
    let read = read(&[("\"a\\\"b\"", "eq.1")]).unwrap();
    let (statement, _) = read.statement(FROM, &weird, Shape::Rows, 1).unwrap();
    assert!(
        statement.contains("pgrst_source.\"a\"\"b\" OPERATOR"),
        "{statement}"
    );
}

#[test]
fn a_nul_in_a_value_is_postgresqls_22021_and_in_a_quoted_name_pgrst100() {
    for (name, value) in [
        ("device_type", "in.(a1\0zzz)"),
        ("device_type", "in.(\"a\0b\",c)"),
        ("device_type", "eq.a\0b"),
        ("device_type", "like.a\0*"),
        ("or", "(device_type.eq.a\0b)"),
    ] {
        let error = read(&[(name, value)])
            .unwrap()
            .statement(FROM, &COLUMNS, Shape::Rows, 1)
            .unwrap_err();
        assert_eq!(
            (
                error.status.as_u16(),
                error.code.as_str(),
                error.message.as_str()
            ),
            (
                400,
                "22021",
                "invalid byte sequence for encoding \"UTF8\": 0x00"
            ),
            "{name}={value:?}"
        );
    }
    for (name, value) in [
        ("select", "\"a\0b\":device_type"),
        ("select", "\"a\0b\""),
        ("order", "\"a\0b\""),
        ("\"a\0b\"", "eq.1"),
    ] {
        let (status, code, _, _) = error(read(&[(name, value)]));
        assert_eq!(
            (status, code.as_str()),
            (400, "PGRST100"),
            "{name}={value:?}"
        );
    }
}

#[test]
fn selects_orders_and_filters_are_capped_at_a_thousand_terms() {
    let ids = |n: usize| vec!["id"; n].join(",");
    let filters = |n: usize| vec!["id.eq.1"; n].join(",");
    let too_many = [
        ("select", ids(1001)),
        ("order", ids(1001)),
        ("or", format!("({})", filters(1001))),
        ("and", format!("(or({}),id.eq.1)", filters(1000))),
    ];
    for (name, value) in &too_many {
        let (status, code, message, _) = error(read(&[(name, value)]));
        assert_eq!((status, code.as_str()), (400, "PGRST100"), "{name}");
        assert!(message.contains("1000"), "{message}");
    }
    let mut pairs = vec![("select", ids(1000)), ("order", ids(1000))];
    pairs.extend(vec![("id", "eq.1".to_string()); 1000]);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert!(read(&pairs).is_ok());
    let error = error(read(&[pairs.as_slice(), &[("id", "eq.1")]].concat()));
    assert_eq!((error.0, error.1.as_str()), (400, "PGRST100"));
}

#[test]
fn no_short_input_panics_the_parser() {
    // Every string of up to four of the grammar's delimiters and a multi-byte letter, in each
    // place the grammar reads: parsed or refused, never a panic.
    let alphabet = [
        ".", ",", "(", ")", "\"", "\\", "*", ":", "-", ">", "!", "{", "a", "é", "n",
    ];
    let mut texts = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = texts
            .iter()
            .filter(|text| text.chars().count() == texts.last().unwrap().chars().count())
            .flat_map(|text| alphabet.iter().map(move |c| format!("{text}{c}")))
            .collect();
        texts.extend(longer);
    }
    for text in &texts {
        for (name, value) in [
            ("select", text.as_str()),
            ("order", text),
            ("or", text),
            ("id", text),
            (text, "eq.1"),
        ] {
            if let Ok(read) = read(&[(name, value)]) {
                let _ = read.statement(FROM, &COLUMNS, Shape::Rows, 1);
            }
        }
        for prefix in ["in.", "is.", "not.", "eq.", "or=("] {
            let _ = read(&[("id", &format!("{prefix}{text}"))]);
        }
    }
}
