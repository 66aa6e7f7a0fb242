//! The read compiled to one statement. Every name is checked against the resource's columns and
//! quoted; every value is a text parameter cast to the column's type; every operator and
//! function is pg_catalog's.

use axum::http::StatusCode;

use super::filter::{Condition, Filter, Operation};
use super::order::Term;
use super::range::Range;
use super::select::Item;
use super::syntax::quote_identifier;
use super::{Read, Shape, SOURCE};
use crate::errors::ApiError;

/// The CTE holding the filtered rows, read once whether or not they are also counted.
const ROWS: &str = "pgrst_rows";
/// The page of rows the body is built from.
const PAGE: &str = "pgrst_page";

/// See [`Read::statement`].
pub(super) fn statement(
    read: &Read,
    from: &str,
    columns: &[(&str, &str)],
    shape: Shape,
    first: usize,
) -> Result<(String, Vec<String>), ApiError> {
    let mut compiler = Compiler::new(columns, first);
    let conditions = compiler.conditions(&read.conditions)?;
    let select = compiler.select(read.select.as_deref().unwrap_or(&[Item::Star]))?;
    let order = compiler.order(&read.order)?;
    let range = compiler.range(&read.range);

    let mut rows = format!("SELECT {SOURCE}.* FROM {from}");
    if !conditions.is_empty() {
        rows += &format!(" WHERE {conditions}");
    }
    let mut page = format!("SELECT {select} FROM {ROWS}");
    if !order.is_empty() {
        page += &format!(" ORDER BY {order}");
    }
    page += &range;
    let total = if read.wants_count() {
        format!("(SELECT pg_catalog.count(*) FROM {ROWS})")
    } else {
        "NULL::pg_catalog.int8".to_string()
    };
    let mut aggregate = format!("pg_catalog.json_agg({PAGE})");
    if read.representation.strip_nulls {
        aggregate = format!("pg_catalog.json_strip_nulls({aggregate})");
    }
    let body = match shape {
        Shape::Rows => format!("COALESCE({aggregate}, '[]'::pg_catalog.json)"),
        Shape::Object => {
            format!("COALESCE({aggregate} OPERATOR(pg_catalog.->) 0, 'null'::pg_catalog.json)")
        }
    };
    let statement = format!(
        "WITH {ROWS} AS ({rows}) \
         SELECT {total}, pg_catalog.count({PAGE}), ({body})::pg_catalog.text \
         FROM ({page}) {PAGE}"
    );
    let values = compiler.into_values();
    if values.iter().any(|value| value.contains('\0')) {
        return Err(nul_in_value());
    }
    Ok((statement, values))
}

/// A value with a NUL: PostgreSQL's text cannot hold one, and answers a parameter holding one
/// with this (it never reaches the database: the protocol cannot send it).
pub(crate) fn nul_in_value() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "22021",
        "invalid byte sequence for encoding \"UTF8\": 0x00",
    )
}

/// The parts of the statement and the values they bind, numbered from `first`.
struct Compiler<'a> {
    columns: &'a [(&'a str, &'a str)],
    first: usize,
    values: Vec<String>,
}

impl<'a> Compiler<'a> {
    fn new(columns: &'a [(&'a str, &'a str)], first: usize) -> Compiler<'a> {
        Compiler {
            columns,
            first,
            values: Vec::new(),
        }
    }

    fn into_values(self) -> Vec<String> {
        self.values
    }

    /// A text parameter holding `value`.
    fn bind(&mut self, value: String) -> String {
        let number = self.first + self.values.len();
        self.values.push(value);
        format!("${number}::pg_catalog.text")
    }

    /// The quoted name and the type of a column, or PostgREST's 42703 for an unknown one.
    fn column(&self, name: &str) -> Result<(String, &'a str), ApiError> {
        self.columns
            .iter()
            .find(|(column, _)| *column == name)
            .map(|(column, sql_type)| (quote_identifier(column), *sql_type))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "42703",
                    format!("column {} does not exist", quote_identifier(name)),
                )
            })
    }

    /// The select list over the filtered rows, each item under its JSON key.
    fn select(&mut self, items: &[Item]) -> Result<String, ApiError> {
        let mut list = Vec::with_capacity(items.len());
        for item in items {
            list.push(match item {
                Item::Star => format!("{ROWS}.*"),
                Item::Column { name, cast, .. } => {
                    let (column, _) = self.column(name)?;
                    let value = format!("{ROWS}.{column}");
                    let value = match cast {
                        Some(cast) => format!("CAST({value} AS {})", cast_type(cast)),
                        None => value,
                    };
                    let key = item.key().unwrap_or(name);
                    format!("{value} AS {}", quote_identifier(key))
                }
            });
        }
        Ok(list.join(", "))
    }

    /// The conditions, ANDed, over the source's rows.
    fn conditions(&mut self, conditions: &[Condition]) -> Result<String, ApiError> {
        let sql = conditions
            .iter()
            .map(|condition| self.condition(condition))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sql.join(" AND "))
    }

    fn condition(&mut self, condition: &Condition) -> Result<String, ApiError> {
        match condition {
            Condition::Filter(filter) => self.filter(filter),
            Condition::Group {
                negated,
                all,
                conditions,
            } => {
                let joined = conditions
                    .iter()
                    .map(|condition| self.condition(condition))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(if *all { " AND " } else { " OR " });
                Ok(format!("{}({joined})", if *negated { "NOT " } else { "" }))
            }
        }
    }

    fn filter(&mut self, filter: &Filter) -> Result<String, ApiError> {
        let (column, sql_type) = self.column(&filter.column)?;
        let column = format!("{SOURCE}.{column}");
        let test = match &filter.operation {
            Operation::Compare(comparison, value) => format!(
                "{column} OPERATOR(pg_catalog.{}) ({})::{sql_type}",
                comparison.operator(),
                self.bind(value.clone())
            ),
            Operation::Like {
                insensitive,
                pattern,
            } => format!(
                "({column})::pg_catalog.text OPERATOR(pg_catalog.{}) {}",
                if *insensitive { "~~*" } else { "~~" },
                self.bind(pattern.clone())
            ),
            // One array parameter for the whole list, so the statement's text does not
            // depend on its length.
            Operation::In(items) => format!(
                "{column} OPERATOR(pg_catalog.=) ANY ((({})::pg_catalog.text[])::{sql_type}[])",
                self.bind(array_literal(items))
            ),
            Operation::Is(truth) => format!("{column} IS {}", truth.keyword()),
        };
        Ok(if filter.negated {
            format!("NOT ({test})")
        } else {
            test
        })
    }

    /// ORDER BY's terms over the filtered rows.
    fn order(&self, terms: &[Term]) -> Result<String, ApiError> {
        let sql = terms
            .iter()
            .map(|term| {
                let (column, _) = self.column(&term.column)?;
                Ok(format!("{ROWS}.{column}{}", term.modifiers()))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(sql.join(", "))
    }

    /// LIMIT and OFFSET, empty for the whole result.
    fn range(&mut self, range: &Range) -> String {
        let mut sql = String::new();
        if let Some(limit) = range.limit {
            let limit = self.bind(limit.to_string());
            sql += &format!(" LIMIT ({limit})::pg_catalog.int8");
        }
        if range.offset != 0 {
            let offset = self.bind(range.offset.to_string());
            sql += &format!(" OFFSET ({offset})::pg_catalog.int8");
        }
        sql
    }
}

/// A `::type` from `select=` as a pg_catalog type: SQL's spellings (`integer`, `double
/// precision`, …) mapped to their catalog names, any other name looked up in pg_catalog only
/// (an unknown one is the database's 42704).
fn cast_type(name: &str) -> String {
    let spelled = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let spelled = spelled.to_lowercase();
    let catalog_name = match spelled.as_str() {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "float" | "double precision" => "float8",
        "decimal" => "numeric",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        other => other,
    };
    format!("pg_catalog.{}", quote_identifier(catalog_name))
}

/// A PostgreSQL array literal of text items, each double-quoted with `\` and `"` escaped
/// (PostgREST's pgBuildArrayLiteral), so an item may hold any character; one with a NUL is
/// refused with the other values.
fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_item() {
        let items = ["a".to_string(), "b,c".into(), "d\"e\\f".into(), "".into()];
        assert_eq!(array_literal(&items), r#"{"a","b,c","d\"e\\f",""}"#);
        assert_eq!(array_literal(&[]), "{}");
    }

    #[test]
    fn casts_resolve_in_pg_catalog() {
        assert_eq!(cast_type("text"), "pg_catalog.\"text\"");
        assert_eq!(cast_type("Double  Precision"), "pg_catalog.\"float8\"");
        assert_eq!(cast_type("integer"), "pg_catalog.\"int4\"");
        assert_eq!(cast_type("x\"y"), "pg_catalog.\"x\"\"y\"");
    }
}
