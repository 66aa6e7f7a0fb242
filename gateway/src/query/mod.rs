//! PostgREST's read grammar (select, filters, order, limit/offset/Range, count, singular),
//! parsed from a request and compiled to one SQL statement whose values are all bound
//! parameters. Nothing is ignored: embedding and aggregates get PostgREST's own answers for
//! resources without relationships and with aggregates off (PGRST200/108/123); what PostgREST
//! serves and this gateway does not (JSON paths, other operators, CSV) is a 400/406 naming it.

mod filter;
mod headers;
mod order;
mod range;
mod refusals;
mod select;
mod sql;
mod syntax;

use axum::http::{header, HeaderMap, Method, StatusCode};

use crate::errors::ApiError;
use filter::Condition;
use headers::Representation;
use range::Range;
use select::Item;
pub(crate) use sql::nul_in_value;
use syntax::{failure, Unsupported};

/// The alias the FROM item binds the rows to.
pub const SOURCE: &str = "pgrst_source";

/// What a read asks for, parsed but not yet checked against any columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Read {
    /// None when `select` was not given (every column).
    select: Option<Vec<Item>>,
    conditions: Vec<Condition>,
    order: Vec<order::Term>,
    range: Range,
    /// The `Prefer` count preference as given (`count=exact`, …).
    count: Option<&'static str>,
    representation: Representation,
}

/// How the body renders the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON array of the rows.
    Rows,
    /// The first row as an object, `null` when there is none.
    Object,
}

/// The headers the read grammar reads for a request of `method`: PostgREST reads `Range` for
/// GET only (ApiRequest.hs: `headerRange = if method == "GET" ...`), so HEAD and POST drop it.
pub fn grammar_headers(method: &Method, mut headers: HeaderMap) -> HeaderMap {
    if method != Method::GET {
        headers.remove(header::RANGE);
    }
    headers
}

/// PostgREST's read grammar from the query pairs (in order, percent-decoded) and headers
/// (Accept, Prefer, Range, Range-Unit). Pairs for which `is_argument(name)` is true are skipped.
///
/// PostgREST reads the `Range` header on GET only: a caller passes `headers` through
/// [`grammar_headers`]. `Range-Unit` is ignored, as PostgREST ignores it.
pub fn parse(
    pairs: &[(String, String)],
    headers: &HeaderMap,
    is_argument: &dyn Fn(&str) -> bool,
) -> Result<Read, ApiError> {
    let mut read = Read {
        representation: headers::representation(headers)?,
        count: headers::count(headers),
        ..Read::default()
    };
    let (mut limit, mut offset) = (None, None);
    for (name, value) in pairs {
        if is_argument(name) {
            continue;
        }
        let parameter = || format!("{name}={value}");
        // PostgREST's reserved names; order, limit, offset, and, or also after an embedded
        // resource's path (`clients.order`).
        let last = name.rsplit('.').next().unwrap_or(name);
        let embedded = last != name && !matches!(name.as_str(), "not.and" | "not.or");
        match last {
            "select" if name == "select" => {
                // The first select counts, as in PostgREST.
                if read.select.is_none() {
                    read.select = Some(
                        select::parse(value)
                            .map_err(|f| failure("select parameter", value, &parameter(), f))?,
                    );
                }
            }
            "columns" | "on_conflict" if !embedded => {
                let what = format!("the {name} parameter (it applies to writes)");
                return Err(syntax::unsupported(&parameter(), Unsupported(what)));
            }
            "order" | "limit" | "offset" if embedded => {
                let child = name.split('.').next().unwrap_or(name);
                return Err(refusals::not_embedded(child));
            }
            "order" => {
                let terms =
                    order::parse(value).map_err(|f| failure("order", value, &parameter(), f))?;
                // The first order counts, as in PostgREST (its foldr lets the first win).
                if read.order.is_empty() {
                    read.order = terms;
                }
            }
            // The last limit and offset count, as in PostgREST.
            "limit" => limit = Some(value.as_str()),
            "offset" => offset = Some(value.as_str()),
            "and" | "or" => read.conditions.push(
                filter::logic_tree(name, value)
                    .map_err(|f| failure("logic tree", value, &parameter(), f))?,
            ),
            _ => {
                let column = filter::column_filter(name)
                    .map_err(|f| failure("tree path", name, &parameter(), f))?;
                let filter = filter::operation(column, value)
                    .map_err(|f| failure("filter", value, &parameter(), f))?;
                read.conditions.push(Condition::Filter(filter));
            }
        }
    }
    refuse_too_many("select", read.select.as_ref().map_or(0, Vec::len))?;
    refuse_too_many("order", read.order.len())?;
    refuse_too_many(
        "filters",
        read.conditions.iter().map(Condition::filters).sum(),
    )?;
    let range_header = headers
        .get(header::RANGE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    read.range = Range::parse(limit, offset, range_header.as_deref())?;
    Ok(read)
}

/// The most select items, order terms and filters a read may have: PostgreSQL's target list
/// holds at most 1664 entries (54011, a 500), and every filter binds a value.
const MOST_TERMS: usize = 1000;

/// 400 PGRST100 naming the limit, for a parameter with more than [`MOST_TERMS`] terms.
fn refuse_too_many(what: &str, count: usize) -> Result<(), ApiError> {
    if count <= MOST_TERMS {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST100",
        format!("{what}: {count} terms, more than the {MOST_TERMS} this gateway serves"),
    ))
}

impl Read {
    /// No select, filters, order, range, count or singular.
    pub fn is_plain(&self) -> bool {
        self.fits_a_value()
            && self.count.is_none()
            && self.representation == Representation::default()
    }

    /// Nothing but what a single value answers as one row: a count (1) and the singular
    /// object (the value itself); no select but `*`, no filters, order or range.
    pub fn fits_a_value(&self) -> bool {
        let every_column = self
            .select
            .as_ref()
            .is_none_or(|items| items.as_slice() == [Item::Star]);
        every_column
            && self.conditions.is_empty()
            && self.order.is_empty()
            && self.range.is_everything()
    }

    /// Accept: application/vnd.pgrst.object+json.
    pub fn is_singular(&self) -> bool {
        self.representation.singular
    }

    /// `Prefer: count=exact`, or `planned`/`estimated`: PostgREST answers those from the
    /// planner's estimate when that is cheaper, an approximation the exact count always
    /// satisfies; the gateway counts exactly for all three, in the same statement.
    pub fn wants_count(&self) -> bool {
        self.count.is_some()
    }

    /// The count preference as the request gave it, for `Preference-Applied`.
    pub fn count_preference(&self) -> Option<&'static str> {
        self.count
    }

    /// One statement over `from` (SQL that follows FROM and binds the rows as [`SOURCE`]) whose
    /// columns are `columns` (name, SQL type as safe-to-splice qualified text). Its values are
    /// bound from parameter `first` on and returned in order as text. The statement returns one
    /// row: (total bigint, NULL unless counted; page_count bigint; body text).
    ///
    /// The rows are filtered in one CTE that the count and the page both read, so the source
    /// (a volatile function, say) runs once.
    pub fn statement(
        &self,
        from: &str,
        columns: &[(&str, &str)],
        shape: Shape,
        first: usize,
    ) -> Result<(String, Vec<String>), ApiError> {
        sql::statement(self, from, columns, shape, first)
    }

    /// Status (200/206/416 PGRST103) and the Content-Range value for a page of `page_count` rows.
    pub fn content_range(
        &self,
        page_count: i64,
        total: Option<i64>,
    ) -> Result<(StatusCode, String), ApiError> {
        self.range.content_range(page_count, total)
    }
}

#[cfg(test)]
mod tests;
