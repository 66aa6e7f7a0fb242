//! PostgREST-style RPC: `POST /rpc/<fn>` with a JSON object of named arguments, `GET` with
//! query parameters for the read-only functions, PostgREST's error body and status codes.

use crate::app::AppState;
use crate::errors::ApiError;
use crate::functions::{self, Function};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// An error in PostgREST's body.
pub struct RpcError(pub ApiError);

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        (self.0.status, axum::Json(self.0.postgrest_body())).into_response()
    }
}

impl From<ApiError> for RpcError {
    fn from(error: ApiError) -> RpcError {
        RpcError(error)
    }
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RpcError> {
    let function = find(&name)?;
    let args = json_object(body)?;
    call(&state, &headers, function, args).await
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, RpcError> {
    let function = find(&name)?;
    if !function.read_only {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "25006",
            format!("{name} changes data: call it with POST"),
        )
        .into());
    }
    let args = query
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    call(&state, &headers, function, args).await
}

async fn call(
    state: &AppState,
    headers: &HeaderMap,
    function: &'static Function,
    args: Map<String, Value>,
) -> Result<Response, RpcError> {
    function
        .check_args(&args)
        .map_err(|message| ApiError::new(StatusCode::NOT_FOUND, "PGRST202", message))?;
    let identity = state.verifier.identify(headers)?;
    let result = state.calls.call(&identity, function, args).await?;
    Ok(json_response(function, result.to_string()))
}

fn find(name: &str) -> Result<&'static Function, RpcError> {
    functions::find(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "PGRST202",
            format!("Could not find the function {name} in the schema cache"),
        )
        .into()
    })
}

fn json_response(function: &Function, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if function.is_network_totals() {
        crate::app::cache_briefly(&mut response);
    }
    response
}

/// The request body as a JSON object; an empty body is no arguments.
pub fn json_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        ApiError::new(status, "PGRST102", rejection.body_text())
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(args)) => Ok(args),
        Ok(_) => Err(ApiError::bad_body(
            "the body must be a JSON object of named arguments",
        )),
        Err(error) => Err(ApiError::bad_body(format!(
            "the body is not valid JSON: {error}"
        ))),
    }
}
