//! The `{name}` segment of a PostgREST route. A segment that is not UTF-8 once percent-decoded
//! (`/rpc/%FF`) names nothing the catalog can hold: it is the route's own "not found", in
//! PostgREST's body, not axum's plain-text rejection.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::Uri;

/// The decoded name, or the raw (still percent-encoded) last segment of `uri` when it does not
/// decode, for the caller's "not found".
pub fn decoded(path: Result<Path<String>, PathRejection>, uri: &Uri) -> Result<String, String> {
    path.map(|Path(name)| name).map_err(|_| {
        uri.path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    })
}
