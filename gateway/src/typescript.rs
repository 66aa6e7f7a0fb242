//! The TypeScript types of what the gateway serves, generated from the schema cache in the shape
//! `supabase gen types typescript` writes (`Database['public']['Functions'][name]['Args']`, …), so
//! `createClient<Database>(…)` types every call and the TypeScript client's own types can be
//! checked against the catalog (`clients/typescript/src/database.ts`, compared with this output
//! by `gateway/tests/typescript.rs`).

use crate::schema::{Column, Function, Relation, RelationKind, SchemaCache};
use std::fmt::Write;

/// The generated module's text.
pub fn render(cache: &SchemaCache) -> String {
    let mut out = String::from(
        "// Generated from the database catalog by compute-gateway (gateway/src/typescript.rs): do not edit.\n\
         // Regenerate with `UPDATE_TYPES=1 cargo test -p compute-gateway --test typescript`.\n\n\
         export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[];\n\n\
         export type Database = {\n",
    );
    let _ = writeln!(out, "  {}: {{", key(&cache.schema));
    relations(&mut out, "Tables", cache, RelationKind::Table);
    relations(&mut out, "Views", cache, RelationKind::View);
    out.push_str("    Functions: {\n");
    for function in cache.functions.values() {
        render_function(&mut out, function);
    }
    out.push_str("    };\n");
    out.push_str("    Enums: { [_ in never]: never };\n");
    out.push_str("    CompositeTypes: { [_ in never]: never };\n");
    out.push_str("  };\n};\n");
    out
}

const NOTHING: &str = "{ [_ in never]: never }";

fn relations(out: &mut String, section: &str, cache: &SchemaCache, kind: RelationKind) {
    let _ = writeln!(out, "    {section}: {{");
    for relation in cache.relations.values().filter(|r| r.kind == kind) {
        render_relation(out, relation);
    }
    out.push_str("    };\n");
}

/// A table or view: its rows. Writes go through the API functions only, so a table's Insert and
/// Update take nothing.
fn render_relation(out: &mut String, relation: &Relation) {
    let _ = writeln!(out, "      {}: {{", key(&relation.name));
    let _ = writeln!(out, "        Row: {};", object(&relation.columns, 8));
    if relation.kind == RelationKind::Table {
        let _ = writeln!(out, "        Insert: {NOTHING};");
        let _ = writeln!(out, "        Update: {NOTHING};");
    }
    out.push_str("        Relationships: [];\n      };\n");
}

fn render_function(out: &mut String, function: &Function) {
    let _ = writeln!(out, "      {}: {{", key(&function.name));
    if function.args.is_empty() {
        out.push_str("        Args: Record<PropertyKey, never>;\n");
    } else {
        out.push_str("        Args: {\n");
        for arg in &function.args {
            let optional = if arg.has_default { "?" } else { "" };
            let _ = writeln!(
                out,
                "          {}{optional}: {};",
                key(&arg.name),
                ts_type(&arg.sql_type)
            );
        }
        out.push_str("        };\n");
    }
    let one = match &function.return_columns {
        Some(columns) => object(columns, 8),
        None => ts_type(&function.return_type),
    };
    let returns = if function.returns_set {
        format!("({one})[]")
    } else {
        one
    };
    let _ = writeln!(out, "        Returns: {returns};");
    out.push_str("      };\n");
}

/// An object type with one member a column, indented to sit at `indent`.
fn object(columns: &[Column], indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let mut text = String::from("{\n");
    for column in columns {
        let nullable = if column.not_null { "" } else { " | null" };
        let _ = writeln!(
            text,
            "{pad}{}: {}{nullable};",
            key(&column.name),
            ts_type(&column.sql_type)
        );
    }
    text.push_str(&" ".repeat(indent));
    text.push('}');
    text
}

/// The TypeScript type of a value of this SQL type as JSON (as PostgREST writes it: numeric
/// and bigint as numbers, timestamps as ISO 8601 strings).
fn ts_type(sql_type: &str) -> String {
    let name = sql_type
        .strip_prefix("pg_catalog.")
        .unwrap_or(sql_type)
        .trim_matches('"');
    if let Some(element) = name.strip_prefix('_') {
        return format!("{}[]", ts_type(&format!("pg_catalog.{element}")));
    }
    match name {
        "bool" => "boolean",
        "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" | "oid" => "number",
        "text" | "varchar" | "bpchar" | "char" | "name" | "uuid" | "date" | "time" | "timetz"
        | "timestamp" | "timestamptz" | "interval" => "string",
        "json" | "jsonb" => "Json",
        "void" => "undefined",
        _ => "unknown",
    }
    .to_string()
}

/// A member name: bare when it is an identifier, quoted otherwise.
fn key(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if bare {
        name.to_string()
    } else {
        serde_json::to_string(name).expect("a string is JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_types_map_to_what_postgrest_writes() {
        assert_eq!(ts_type("pg_catalog.numeric"), "number");
        assert_eq!(ts_type("pg_catalog._uuid"), "string[]");
        assert_eq!(ts_type("pg_catalog.timestamptz"), "string");
        assert_eq!(ts_type("pg_catalog.jsonb"), "Json");
        assert_eq!(ts_type("public.something"), "unknown");
        assert_eq!(key("device_id"), "device_id");
        assert_eq!(key("odd name"), "\"odd name\"");
    }
}
