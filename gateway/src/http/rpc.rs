//! PostgREST's RPC: `POST /rpc/<fn>` with a JSON object of named arguments, `GET`/`HEAD` with
//! query parameters for STABLE and IMMUTABLE functions (in a read-only transaction, as PostgREST
//! runs them; a VOLATILE one is 25006, 405); the read grammar over the result.

use super::caller::Caller;
use super::{path_name, profile, reply};
use crate::args::{self, Args};
use crate::errors::ApiError;
use crate::query::{self, Read};
use crate::resolve::{no_such_function, Invocation};
use crate::schema::SchemaCache;
use crate::served::Served;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Query parameters that are always the read grammar, never a function's argument.
const RESERVED: [&str; 8] = [
    "select",
    "order",
    "limit",
    "offset",
    "or",
    "and",
    "on_conflict",
    "columns",
];

type Pairs = Query<Vec<(String, String)>>;

pub fn router() -> Router<Arc<AppState>> {
    // `get` answers HEAD too.
    // OPTIONS is the CORS layer's, which answers every one.
    let methods = get(by_get).post(by_post).fallback(invalid_method);
    Router::new().route("/{name}", methods)
}

/// PostgREST's 405 for a method RPC does not take.
async fn invalid_method(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "PGRST101",
        format!("Cannot use the {method} method on RPC"),
    )
}

async fn by_post(
    State(state): State<Arc<AppState>>,
    // The token first, as PostgREST checks it before it looks at anything else.
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    Query(pairs): Pairs,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let args = args::from_body(body)?;
    let keys: Vec<&str> = args.keys().map(String::as_str).collect();
    let name = named(&state, path, &uri, &keys, Invocation::Post)?;
    let served = function_in(&state, &name, &keys, Invocation::Post).await?;
    profile::check(&Method::POST, &headers, &served.cache.schema)?;
    // Every query parameter of a POST is the read grammar.
    let headers = query::grammar_headers(&Method::POST, headers);
    let read = query::parse(&pairs, &headers, &|_| false)?;
    let call = (name.as_str(), args, Invocation::Post);
    answer(&state, &served, &Method::POST, caller, call, &read).await
}

async fn by_get(
    State(state): State<Arc<AppState>>,
    // The token first, as PostgREST checks it before it looks at anything else.
    caller: Caller,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    Query(pairs): Pairs,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Before the function is known, every parameter outside the grammar may be an argument.
    let keys: Vec<&str> = pairs
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| !RESERVED.contains(key))
        .collect();
    let name = named(&state, path, &uri, &keys, Invocation::Read)?;
    let served = function_in(&state, &name, &keys, Invocation::Read).await?;
    profile::check(&method, &headers, &served.cache.schema)?;
    let function = &served.cache.functions[&name];
    if !function.is_read_only() {
        return Err(volatile_by_get(&name));
    }
    let is_argument = |key: &str| !RESERVED.contains(&key) && function.argument(key).is_some();
    let args: Args = pairs
        .iter()
        .filter(|(key, _)| is_argument(key))
        .map(|(key, value)| (key.clone(), args::string_arg(value)))
        .collect();
    let headers = query::grammar_headers(&method, headers);
    let read = query::parse(&pairs, &headers, &is_argument)?;
    let call = (name.as_str(), args, Invocation::Read);
    answer(&state, &served, &method, caller, call, &read).await
}

async fn answer(
    state: &AppState,
    served: &Served,
    method: &Method,
    Caller(identity): Caller,
    (name, args, invocation): (&str, Args, Invocation),
    read: &Read,
) -> Result<Response, ApiError> {
    let function = &served.cache.functions[name];
    let answer = state
        .calls
        .call(served, &identity, (function, args, invocation), read)
        .await?;
    let collapsed = read.is_plain() && served.dispatch.is_collapsed(name);
    reply::postgrest(method, read, answer, collapsed)
}

/// The function's name from the path; one that does not decode is 404 PGRST202.
fn named(
    state: &AppState,
    path: Result<Path<String>, PathRejection>,
    uri: &Uri,
    keys: &[&str],
    invocation: Invocation,
) -> Result<String, ApiError> {
    path_name::decoded(path, uri).map_err(|segment| {
        let schema = &state.schema.current().cache.schema;
        no_such_function(schema, &segment, keys, invocation, None)
    })
}

/// GET and HEAD are for STABLE and IMMUTABLE functions only: a VOLATILE one may change data,
/// which HTTP says a GET never does. Refused before it runs, as the read-only transaction
/// PostgREST runs a GET in would refuse a function that writes.
fn volatile_by_get(name: &str) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "25006",
        format!("cannot execute {name}() in a read-only transaction"),
    );
    error.hint = Some(format!("{name} is VOLATILE: call it with POST"));
    error
}

/// The schema cache that has function `name` (reloaded if needed), or 404 PGRST202. A cache
/// whose function would refuse these argument names is reloaded too: the extension may have
/// been updated since.
async fn function_in(
    state: &AppState,
    name: &str,
    keys: &[&str],
    invocation: Invocation,
) -> Result<Arc<Served>, ApiError> {
    let fits = |cache: &SchemaCache| {
        cache.functions.get(name).is_some_and(|function| {
            let required = function
                .args
                .iter()
                .all(|arg| arg.has_default || keys.contains(&arg.name.as_str()));
            // A GET's other parameters are filters; a POST's keys are all arguments.
            let known = invocation == Invocation::Read
                || keys.iter().all(|key| function.argument(key).is_some());
            required && known
        })
    };
    let served = state.schema.knowing(fits).await?;
    if served.cache.functions.contains_key(name) {
        Ok(served)
    } else {
        Err(no_such_function(
            &served.cache.schema,
            name,
            keys,
            invocation,
            None,
        ))
    }
}
