//! What a read's headers ask for: the representation (`Accept`: a JSON array, or one object)
//! and a count (`Prefer: count=…`), negotiated as PostgREST does.

use axum::http::{header, HeaderMap, StatusCode};

use crate::errors::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Representation {
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    pub singular: bool,
    /// `;nulls=stripped`: keys whose value is null are left out.
    pub strip_nulls: bool,
}

/// The media type of the answer: the first of the Accept header's types (by quality, then
/// specificity, as PostgREST's `parseHttpAccept` orders them) that the gateway produces;
/// 406 PGRST107 naming them when it produces none.
pub(super) fn representation(headers: &HeaderMap) -> Result<Representation, ApiError> {
    let values: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    if values.is_empty() {
        return Ok(Representation::default());
    }
    let accepted = by_preference(&values.join(","));
    accepted
        .iter()
        .find_map(|media_type| produced(media_type))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST107",
                format!(
                    "None of these media types are available: {}",
                    accepted.join(", ")
                ),
            )
        })
}

/// The Accept header's media types, spaces removed, the preferred first: higher quality, then
/// more parameters, then fewer wildcards; ties keep their order.
fn by_preference(accept: &str) -> Vec<String> {
    let mut entries: Vec<(String, (f64, usize, usize))> = accept
        .split(',')
        .map(|entry| {
            let entry: String = entry.chars().filter(|c| *c != ' ').collect();
            let (media_type, quality) = match entry.split_once(";q=") {
                Some((media_type, rest)) => {
                    let quality = rest.split(';').next().unwrap_or("");
                    (media_type.to_string(), quality.parse().unwrap_or(1.0))
                }
                None => (entry.clone(), 1.0),
            };
            let parameters = media_type.matches(';').count();
            let wildcards = media_type.matches('*').count();
            (media_type, (quality, parameters, wildcards))
        })
        .collect();
    entries.sort_by(|(_, a), (_, b)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    entries
        .into_iter()
        .map(|(media_type, _)| media_type)
        .collect()
}

/// The representation of a media type the gateway produces, None for the others (CSV,
/// GeoJSON, plans, `application/*`, …).
fn produced(media_type: &str) -> Option<Representation> {
    let mut parts = media_type.split(';');
    let essence = parts.next().unwrap_or("").to_ascii_lowercase();
    let strip_nulls = parts.any(|parameter| {
        parameter
            .split_once('=')
            .is_some_and(|(name, value)| name.eq_ignore_ascii_case("nulls") && value == "stripped")
    });
    match essence.as_str() {
        "application/json" | "*/*" => Some(Representation::default()),
        "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => {
            Some(Representation {
                singular: false,
                strip_nulls,
            })
        }
        "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
            Some(Representation {
                singular: true,
                strip_nulls,
            })
        }
        _ => None,
    }
}

/// `Prefer: count=exact|planned|estimated`, the first one given (of every Prefer header, each a
/// comma-separated list, as RFC 7240 and PostgREST read them).
pub(super) fn count(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get_all("prefer")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .find_map(|preference| match preference.trim() {
            "count=exact" => Some("count=exact"),
            "count=planned" => Some("count=planned"),
            "count=estimated" => Some("count=estimated"),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    fn accept(value: &'static str) -> Result<Representation, ApiError> {
        representation(&headers("accept", &[value]))
    }

    const ROWS: Representation = Representation {
        singular: false,
        strip_nulls: false,
    };
    const OBJECT: Representation = Representation {
        singular: true,
        strip_nulls: false,
    };

    #[test]
    fn json_and_the_singular_object_are_produced() {
        assert_eq!(representation(&HeaderMap::new()), Ok(ROWS));
        let cases = [
            ("application/json", ROWS),
            ("*/*", ROWS),
            ("APPLICATION/JSON; charset=utf-8", ROWS),
            ("text/csv, */*;q=0.8", ROWS),
            ("application/vnd.pgrst.object+json", OBJECT),
            ("application/vnd.pgrst.object", OBJECT),
            (
                "application/json;q=0.5, application/vnd.pgrst.object+json",
                OBJECT,
            ),
            ("*/*, application/vnd.pgrst.object+json", OBJECT),
            (
                "application/vnd.pgrst.object+json;nulls=stripped",
                Representation {
                    singular: true,
                    strip_nulls: true,
                },
            ),
            (
                "application/vnd.pgrst.array+json;nulls=stripped",
                Representation {
                    singular: false,
                    strip_nulls: true,
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(accept(value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn other_media_types_are_406() {
        let error = accept("text/csv").unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(error.code, "PGRST107");
        assert_eq!(
            error.message,
            "None of these media types are available: text/csv"
        );
        let error = accept("application/geo+json;q=0.5, text/plain").unwrap_err();
        assert_eq!(
            error.message,
            "None of these media types are available: text/plain, application/geo+json"
        );
        assert!(accept("application/*").is_err());
    }

    #[test]
    fn the_first_count_preference_counts() {
        assert_eq!(count(&HeaderMap::new()), None);
        assert_eq!(
            count(&headers(
                "prefer",
                &["return=minimal, count=planned", "count=exact"]
            )),
            Some("count=planned")
        );
        assert_eq!(
            count(&headers("prefer", &["count=exact"])),
            Some("count=exact")
        );
        assert_eq!(count(&headers("prefer", &["count=all"])), None);
    }
}
