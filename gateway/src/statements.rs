//! The SQL of a call without the read grammar: the function as a FROM item binding its rows to
//! `SOURCE`, and the plain statement over it. Every name comes from the schema cache, quoted.

use crate::args::Args;
use crate::query::SOURCE;
use crate::schema::{quote_ident, Function, SchemaCache};

/// The FROM item that binds the call's rows to SOURCE: the given arguments only (the others
/// take their defaults), read by name from the json parameter $1.
pub fn call_from(cache: &SchemaCache, function: &Function, args: &Args) -> String {
    let name = cache.qualified(&function.name);
    if args.is_empty() {
        return format!("{name}() AS {SOURCE}");
    }
    let given: Vec<_> = function
        .args
        .iter()
        .filter(|arg| args.contains_key(&arg.name))
        .collect();
    let columns: Vec<String> = given
        .iter()
        .map(|arg| format!("{} {}", quote_ident(&arg.name), arg.sql_type))
        .collect();
    let named: Vec<String> = given
        .iter()
        .map(|arg| format!("{0} => a.{0}", quote_ident(&arg.name)))
        .collect();
    format!(
        "pg_catalog.json_to_record($1::pg_catalog.json) AS a({}), LATERAL {name}({}) AS {SOURCE}",
        columns.join(", "),
        named.join(", ")
    )
}

/// A call without the read grammar: (total, rows, body) where the body is the JSON array of a
/// set's rows, the object of a composite, the value of a scalar, or none for void; the total
/// is NULL unless `counted` (a single value or composite is one row).
pub fn plain_statement(function: &Function, from: &str, counted: bool) -> String {
    if function.returns_void() {
        format!(
            "SELECT NULL::pg_catalog.int8, 1::pg_catalog.int8, NULL::pg_catalog.text FROM {from}"
        )
    } else if function.returns_set {
        format!(
            "SELECT NULL::pg_catalog.int8, pg_catalog.count(*), \
                    COALESCE(pg_catalog.json_agg({SOURCE}), '[]')::pg_catalog.text FROM {from}"
        )
    } else {
        let total = if counted { "1" } else { "NULL" };
        format!(
            "SELECT {total}::pg_catalog.int8, 1::pg_catalog.int8, \
                    pg_catalog.to_json({SOURCE})::pg_catalog.text FROM {from}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::fixture::{args, register_cache};

    fn cache() -> SchemaCache {
        register_cache("my \"schema\"")
    }

    #[test]
    fn calls_name_only_the_given_arguments_and_qualify_everything() {
        let cache = cache();
        let register = &cache.functions["register_device"];
        assert_eq!(
            call_from(&cache, register, &args(&["ram_gb", "device_name"])),
            "pg_catalog.json_to_record($1::pg_catalog.json) AS a(\"device_name\" pg_catalog.text, \
             \"ram_gb\" pg_catalog.\"numeric\"), LATERAL \"my \"\"schema\"\"\".\"register_device\"(\
             \"device_name\" => a.\"device_name\", \"ram_gb\" => a.\"ram_gb\") AS pgrst_source"
        );
        assert_eq!(
            call_from(&cache, register, &Args::new()),
            "\"my \"\"schema\"\"\".\"register_device\"() AS pgrst_source"
        );
    }

    #[test]
    fn plain_statements_answer_rows_objects_and_void() {
        let cache = cache();
        let mut function = cache.functions["register_device"].clone();
        assert!(plain_statement(&function, "f() AS pgrst_source", false)
            .contains("SELECT NULL::pg_catalog.int8, 1::pg_catalog.int8, pg_catalog.to_json(pgrst_source)"));
        assert!(plain_statement(&function, "f() AS pgrst_source", true)
            .starts_with("SELECT 1::pg_catalog.int8, 1::pg_catalog.int8,"));
        function.returns_set = true;
        assert!(plain_statement(&function, "f() AS pgrst_source", false)
            .contains("COALESCE(pg_catalog.json_agg(pgrst_source), '[]')"));
        function.return_type = "pg_catalog.void".into();
        assert!(plain_statement(&function, "f() AS pgrst_source", false)
            .contains("NULL::pg_catalog.text"));
    }
}
