//! The extension's tables and views, as PostgREST serves them: `GET`/`HEAD /<relation>` read
//! them as the caller's role (row-level security applies) with the read grammar. Writes go
//! through the API functions, so any other method is 405.

use super::caller::Caller;
use super::{path_name, profile, reply};
use crate::errors::ApiError;
use crate::query;
use crate::resolve::no_such_relation;
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/{relation}", any(relation))
}

async fn relation(
    State(state): State<Arc<AppState>>,
    // The token first, as PostgREST checks it before it looks at anything else.
    Caller(identity): Caller,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A name that does not decode names no relation.
    let name = path_name::decoded(path, &uri)
        .map_err(|segment| no_such_relation(&state.schema.current().cache.schema, &segment))?;
    let served = state
        .schema
        .knowing(|cache| cache.relations.contains_key(&name))
        .await?;
    let Some(relation) = served.cache.relations.get(&name) else {
        return Err(no_such_relation(&served.cache.schema, &name));
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "PGRST117",
            format!(
                "Unsupported HTTP method: {method}: the gateway serves {name} for reading only; \
                 write through the extension's functions under /rpc"
            ),
        ));
    }
    profile::check(&method, &headers, &served.cache.schema)?;
    let headers = query::grammar_headers(&method, headers);
    let read = query::parse(&pairs, &headers, &|_| false)?;
    let answer = state
        .calls
        .read(&served, &identity, relation, &read)
        .await?;
    reply::postgrest(&method, &read, answer, false)
}
