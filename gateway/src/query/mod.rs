//! PostgREST's read grammar (select, filters, order, limit/offset/Range, count, singular),
//! parsed from a request and compiled to one SQL statement whose values are all bound parameters.

use axum::http::{HeaderMap, StatusCode};

use crate::errors::ApiError;

/// The alias the FROM item binds the rows to.
pub const SOURCE: &str = "pgrst_source";

/// What a read asks for, parsed but not yet checked against any columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Read {}

/// How the body renders the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON array of the rows.
    Rows,
    /// The first row as an object, `null` when there is none.
    Object,
}

/// PostgREST's read grammar from the query pairs (in order, percent-decoded) and headers
/// (Accept, Prefer, Range, Range-Unit). Pairs for which `is_argument(name)` is true are skipped.
pub fn parse(
    pairs: &[(String, String)],
    headers: &HeaderMap,
    is_argument: &dyn Fn(&str) -> bool,
) -> Result<Read, ApiError> {
    let _ = (pairs, headers, is_argument);
    Ok(Read {})
}

impl Read {
    /// No select, filters, order, range, count or singular.
    pub fn is_plain(&self) -> bool {
        true
    }

    /// Accept: application/vnd.pgrst.object+json.
    pub fn is_singular(&self) -> bool {
        false
    }

    pub fn wants_count(&self) -> bool {
        false
    }

    /// One statement over `from` (SQL that follows FROM and binds the rows as [`SOURCE`]) whose
    /// columns are `columns` (name, SQL type as safe-to-splice qualified text). Its values are
    /// bound from parameter `first` on and returned in order as text. The statement returns one
    /// row: (total bigint, NULL unless counted; page_count bigint; body text).
    pub fn statement(
        &self,
        from: &str,
        columns: &[(&str, &str)],
        shape: Shape,
        first: usize,
    ) -> Result<(String, Vec<String>), ApiError> {
        let _ = (columns, first);
        let body = match shape {
            Shape::Rows => "pg_catalog.coalesce(pg_catalog.json_agg(t), '[]')::pg_catalog.text",
            Shape::Object => "(pg_catalog.json_agg(t) -> 0)::pg_catalog.text",
        };
        Ok((
            format!(
                "SELECT NULL::pg_catalog.int8, pg_catalog.count(t), {body} \
                 FROM (SELECT {SOURCE}.* FROM {from}) t"
            ),
            Vec::new(),
        ))
    }

    /// Status (200/206/416 PGRST103) and the Content-Range value for a page of `page_count` rows.
    pub fn content_range(
        &self,
        page_count: i64,
        total: Option<i64>,
    ) -> Result<(StatusCode, String), ApiError> {
        let _ = total;
        let range = if page_count == 0 {
            "*/*".to_string()
        } else {
            format!("0-{}/*", page_count - 1)
        };
        Ok((StatusCode::OK, range))
    }
}
