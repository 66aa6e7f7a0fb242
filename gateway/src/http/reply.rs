//! Answers as responses: PostgREST's (status and `Content-Range` from the read, the body, no
//! body for HEAD or void) and the seed's envelope.

use crate::answer::Answer;
use crate::errors::ApiError;
use crate::query::Read;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Collapsed totals may be cached for a second: the extension's totals trail the truth by up
/// to 2 s anyway.
const BRIEFLY: HeaderValue = HeaderValue::from_static("public, max-age=1");

pub fn postgrest(
    method: &Method,
    read: &Read,
    answer: Answer,
    cache_briefly: bool,
) -> Result<Response, ApiError> {
    let (status, range) = read.content_range(answer.page_count, answer.total)?;
    let content_type = if read.is_singular() {
        "application/vnd.pgrst.object+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    };
    let (status, body) = match answer.body {
        None => (StatusCode::NO_CONTENT, String::new()),
        Some(_) if method == Method::HEAD => (status, String::new()),
        Some(body) => (status, body.to_string()),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if status != StatusCode::NO_CONTENT {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Ok(range) = HeaderValue::from_str(&range) {
        headers.insert(header::CONTENT_RANGE, range);
    }
    // The preference as the caller wrote it (`planned` and `estimated` are counted exactly).
    if let Some(count) = read.count_preference() {
        headers.insert("preference-applied", HeaderValue::from_static(count));
    }
    if cache_briefly {
        headers.insert(header::CACHE_CONTROL, BRIEFLY);
    }
    Ok(response)
}

/// `{"success": true, "data": ...}`.
pub fn envelope(answer: Answer, cache_briefly: bool) -> Response {
    let data = answer.body.as_deref().unwrap_or("null");
    let body = format!("{{\"success\":true,\"data\":{data}}}");
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if cache_briefly {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, BRIEFLY);
    }
    response
}
