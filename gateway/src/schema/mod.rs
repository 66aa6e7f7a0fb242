//! The schema cache: what the gateway serves, learnt from the database as PostgREST learns it.
//! Only the `compute_devices` extension's own functions, tables and views, in the extension's
//! schema, are in it; nothing else is ever exposed. [`load`] reads it (one query,
//! `catalog.sql`); `crate::served` keeps the current one and reloads it.

#[cfg(test)]
pub mod fixture;

use serde::Deserialize;
use std::collections::BTreeMap;

/// Everything the gateway serves, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaCache {
    /// The extension's schema (its `extnamespace`): the one schema served.
    pub schema: String,
    pub functions: BTreeMap<String, Function>,
    pub relations: BTreeMap<String, Relation>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Function {
    pub name: String,
    /// In the function's order.
    pub args: Vec<Argument>,
    pub returns_set: bool,
    pub volatility: Volatility,
    /// The return type, as SQL text safe to splice (`"public"."heartbeat"`, `"pg_catalog"."int8"`).
    pub return_type: String,
    /// The columns of a composite return type; None for a scalar (or void) one.
    pub return_columns: Option<Vec<Column>>,
    /// The roles granted EXECUTE directly (`PUBLIC` for everyone), from the function's ACL.
    pub executors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Argument {
    pub name: String,
    /// As SQL text safe to splice; an array is its array type (`"pg_catalog"."_uuid"`).
    pub sql_type: String,
    /// For an array, its element type.
    pub element_sql_type: Option<String>,
    /// The type's category (`pg_type.typcategory`).
    pub category: Category,
    /// May be left out of a call.
    pub has_default: bool,
}

/// The categories of `pg_type.typcategory` the gateway tells apart: how a query parameter's
/// text is written as an argument of the type (`crate::http::query_args`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Category {
    #[serde(rename = "A")]
    Array,
    #[serde(rename = "N")]
    Numeric,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
    /// NOT NULL (a table's constraint; a view's or a row type's columns never say so).
    pub not_null: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Volatility {
    #[serde(rename = "i")]
    Immutable,
    #[serde(rename = "s")]
    Stable,
    #[serde(rename = "v")]
    Volatile,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Relation {
    pub name: String,
    pub kind: RelationKind,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RelationKind {
    #[serde(rename = "r")]
    Table,
    #[serde(rename = "v")]
    View,
}

impl Function {
    /// STABLE and IMMUTABLE functions change nothing: they may be called with GET and HEAD.
    pub fn is_read_only(&self) -> bool {
        self.volatility != Volatility::Volatile
    }

    pub fn argument(&self, name: &str) -> Option<&Argument> {
        self.args.iter().find(|arg| arg.name == name)
    }

    /// Whether `role` was granted EXECUTE, by name or through PUBLIC.
    pub fn grants_execute_to(&self, role: &str) -> bool {
        self.executors
            .iter()
            .any(|executor| executor == role || executor == "PUBLIC")
    }

    pub fn returns_void(&self) -> bool {
        self.return_type == "pg_catalog.void"
    }
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }
}

/// Why the schema cache could not be read.
#[derive(Debug)]
pub enum LoadError {
    Database(tokio_postgres::Error),
    /// The database answered, but not with what the gateway serves.
    Catalog(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Database(error) => write!(f, "reading the schema cache: {error}"),
            LoadError::Catalog(message) => write!(f, "reading the schema cache: {message}"),
        }
    }
}

#[derive(Deserialize)]
struct Document {
    schema: Option<String>,
    functions: Vec<Function>,
    relations: Vec<Relation>,
}

/// Reads the schema cache with `client` (the gateway's login role: the catalog is readable by
/// every role, so what it reads does not depend on who asks).
pub async fn load(client: &tokio_postgres::Client) -> Result<SchemaCache, LoadError> {
    let row = client
        .query_one(include_str!("catalog.sql"), &[])
        .await
        .map_err(LoadError::Database)?;
    parse(row.get(0))
}

fn parse(text: &str) -> Result<SchemaCache, LoadError> {
    let document: Document = serde_json::from_str(text)
        .map_err(|error| LoadError::Catalog(format!("unexpected catalog document: {error}")))?;
    let schema = document.schema.ok_or_else(|| {
        LoadError::Catalog("the extension compute_devices is not installed in this database".into())
    })?;
    Ok(SchemaCache {
        schema,
        functions: document
            .functions
            .into_iter()
            .map(|function| (function.name.clone(), function))
            .collect(),
        relations: document
            .relations
            .into_iter()
            .map(|relation| (relation.name.clone(), relation))
            .collect(),
    })
}

/// An identifier quoted for SQL (names spliced into statements are first found in the cache).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SchemaCache {
    /// `"schema"."name"`: an object of the extension, qualified and quoted.
    pub fn qualified(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_document_reads_into_the_cache() {
        let cache = parse(
            r#"{"schema": "public",
                "functions": [{"name": "f", "args": [{"name": "a", "sql_type": "pg_catalog._uuid",
                  "element_sql_type": "pg_catalog.uuid", "category": "A", "has_default": true}],
                  "returns_set": false, "volatility": "s", "return_type": "pg_catalog.int8",
                  "return_columns": null, "executors": ["anon"]}],
                "relations": [{"name": "t", "kind": "v", "columns": [{"name": "c", "sql_type": "pg_catalog.text", "not_null": true}]}]}"#,
        )
        .unwrap();
        let f = &cache.functions["f"];
        assert!(f.is_read_only() && f.grants_execute_to("anon") && !f.grants_execute_to("x"));
        assert!(f.argument("a").unwrap().has_default);
        assert_eq!(f.argument("a").unwrap().category, Category::Array);
        assert_eq!(cache.relations["t"].kind, RelationKind::View);
        assert_eq!(cache.qualified("t\"x"), "\"public\".\"t\"\"x\"");
        assert!(matches!(
            parse(r#"{"schema": null, "functions": [], "relations": []}"#),
            Err(LoadError::Catalog(_))
        ));
    }
}
