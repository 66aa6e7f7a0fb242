//! Which rows of the result a read returns (`limit`, `offset`, the `Range` header) and how the
//! answer describes them (`Content-Range`, 200/206/416), by PostgREST's RangeQuery rules.

use axum::http::StatusCode;

use crate::errors::ApiError;

/// The rows `offset ..= offset + limit - 1` (to the end when `limit` is None).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Range {
    pub offset: i64,
    pub limit: Option<i64>,
}

impl Range {
    pub fn is_everything(&self) -> bool {
        *self == Range::default()
    }

    /// PostgREST's range from `limit=`, `offset=` and the `Range: first-last` header, which
    /// narrow each other. A non-number is refused (PostgREST ignores it); a negative limit and
    /// a header whose last row comes before its first are 416 PGRST103; a negative offset is
    /// the 400 the database gives PostgREST for it.
    pub fn parse(
        limit: Option<&str>,
        offset: Option<&str>,
        header: Option<&str>,
    ) -> Result<Range, ApiError> {
        let limit = limit.map(|text| number("limit", text)).transpose()?;
        let offset = offset.map(|text| number("offset", text)).transpose()?;
        if offset.is_some_and(|offset| offset < 0) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "2201X",
                "OFFSET must not be negative",
            ));
        }
        if limit.is_some_and(|limit| limit < 0) {
            return Err(unsatisfiable(
                "Limit should be greater than or equal to zero.",
            ));
        }
        let asked = Range {
            offset: offset.unwrap_or(0),
            limit,
        };
        // limit=0 asks for no rows at all, whatever the header says (PostgREST #1121).
        if limit == Some(0) {
            return Ok(asked);
        }
        match header.and_then(header_bounds) {
            None => Ok(asked),
            Some((first, last)) => {
                if last.is_some_and(|last| last < first) {
                    return Err(unsatisfiable(
                        "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
                    ));
                }
                asked.within(first, last)
            }
        }
    }

    /// The part of this range inside rows `first ..= last`.
    fn within(self, first: i64, last: Option<i64>) -> Result<Range, ApiError> {
        let offset = self.offset.max(first);
        let own_last = self
            .limit
            .map(|limit| self.offset.saturating_add(limit) - 1);
        let last = match (own_last, last) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match last {
            // PostgREST answers an empty intersection as it does a negative limit.
            Some(last) if last < offset => Err(unsatisfiable(
                "Limit should be greater than or equal to zero.",
            )),
            _ => Ok(Range {
                offset,
                limit: last.map(|last| (last - offset).saturating_add(1)),
            }),
        }
    }

    /// The status and `Content-Range` for `page_count` rows from this range's offset, out of
    /// `total` rows when they were counted.
    pub fn content_range(
        &self,
        page_count: i64,
        total: Option<i64>,
    ) -> Result<(StatusCode, String), ApiError> {
        let first = self.offset;
        let last = first.saturating_add(page_count) - 1;
        let rows = if total != Some(0) && first <= last {
            format!("{first}-{last}")
        } else {
            "*".to_string()
        };
        let of = total.map_or("*".to_string(), |total| total.to_string());
        let status = match total {
            Some(total) if first > total => {
                return Err(unsatisfiable(&format!(
                    "An offset of {first} was requested, but there are only {total} rows."
                )))
            }
            Some(total) if page_count < total => StatusCode::PARTIAL_CONTENT,
            _ => StatusCode::OK,
        };
        Ok((status, format!("{rows}/{of}")))
    }
}

fn number(name: &str, text: &str) -> Result<i64, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            format!("\"failed to parse {name} parameter ({text})\" (line 1, column 1)"),
        )
        .with_details(format!("{name} must be a whole number of rows"))
    })
}

/// `first-last` or `first-`, as PostgREST's `^([0-9]+)-([0-9]*)$`; anything else is ignored,
/// as PostgREST ignores it.
fn header_bounds(header: &str) -> Option<(i64, Option<i64>)> {
    let (first, last) = header.split_once('-')?;
    let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() || !digits(first) || !digits(last) {
        return None;
    }
    // Bounds past a bigint are as far as any result reaches.
    let first = first.parse().unwrap_or(i64::MAX);
    let last = (!last.is_empty()).then(|| last.parse().unwrap_or(i64::MAX));
    Some((first, last))
}

/// PostgREST's 416 PGRST103.
fn unsatisfiable(details: &str) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "PGRST103",
        "Requested range not satisfiable",
    )
    .with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(offset: i64, limit: Option<i64>) -> Range {
        Range { offset, limit }
    }

    #[test]
    fn limit_offset_and_the_header_narrow_each_other() {
        let cases = [
            (None, None, None, range(0, None)),
            (Some("10"), None, None, range(0, Some(10))),
            (Some("10"), Some("5"), None, range(5, Some(10))),
            (None, Some("5"), None, range(5, None)),
            (None, None, Some("0-9"), range(0, Some(10))),
            (None, None, Some("3-"), range(3, None)),
            (None, None, Some("items=0-9"), range(0, None)),
            (None, None, Some("x"), range(0, None)),
            (Some("5"), None, Some("2-9"), range(2, Some(3))),
            (Some("20"), Some("4"), Some("0-9"), range(4, Some(6))),
            (Some("0"), Some("3"), Some("0-9"), range(3, Some(0))),
            (Some(" 7 "), None, None, range(0, Some(7))),
            (
                None,
                None,
                Some("0-9223372036854775807"),
                range(0, Some(i64::MAX)),
            ),
            (
                None,
                None,
                Some("99999999999999999999-"),
                range(i64::MAX, None),
            ),
        ];
        for (limit, offset, header, expected) in cases {
            assert_eq!(
                Range::parse(limit, offset, header),
                Ok(expected),
                "{limit:?} {offset:?} {header:?}"
            );
        }
    }

    #[test]
    fn bad_ranges_get_postgrests_codes() {
        let cases = [
            (Some("-1"), None, None, 416, "PGRST103", "Limit should be greater than or equal to zero."),
            (None, None, Some("5-2"), 416, "PGRST103", "The lower boundary must be lower than or equal to the upper boundary in the Range header."),
            (None, Some("10"), Some("0-4"), 416, "PGRST103", "Limit should be greater than or equal to zero."),
            (None, Some("-3"), None, 400, "2201X", ""),
            (Some("ten"), None, None, 400, "PGRST100", "limit must be a whole number of rows"),
            (None, Some("1.5"), None, 400, "PGRST100", "offset must be a whole number of rows"),
        ];
        for (limit, offset, header, status, code, details) in cases {
            let error = Range::parse(limit, offset, header).unwrap_err();
            assert_eq!(
                error.status.as_u16(),
                status,
                "{limit:?} {offset:?} {header:?}"
            );
            assert_eq!(error.code, code);
            assert_eq!(error.details.as_deref().unwrap_or(""), details);
        }
    }

    #[test]
    fn content_range_follows_postgrest() {
        let cases = [
            (range(0, None), 4, None, 200, "0-3/*"),
            (range(0, None), 4, Some(4), 200, "0-3/4"),
            (range(0, None), 0, None, 200, "*/*"),
            (range(0, None), 0, Some(0), 200, "*/0"),
            (range(0, Some(2)), 2, Some(4), 206, "0-1/4"),
            (range(2, Some(2)), 2, Some(4), 206, "2-3/4"),
            (range(4, None), 0, Some(4), 206, "*/4"),
            (range(3, Some(0)), 0, Some(4), 206, "*/4"),
        ];
        for (range, page, total, status, header) in cases {
            assert_eq!(
                range
                    .content_range(page, total)
                    .map(|(s, h)| (s.as_u16(), h)),
                Ok((status, header.to_string())),
                "{range:?} {page} {total:?}"
            );
        }
        let error = range(5, None).content_range(0, Some(4)).unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.code.as_str()),
            (416, "PGRST103")
        );
        assert_eq!(
            error.details.as_deref(),
            Some("An offset of 5 was requested, but there are only 4 rows.")
        );
    }
}
