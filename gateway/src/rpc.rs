//! PostgREST-style RPC: `POST /rpc/<fn>` with a JSON object of named arguments, `GET` with
//! query parameters for the read-only functions, PostgREST's error body and status codes.

use crate::app::AppState;
use crate::errors::ApiError;
use crate::functions::{self, Args, Function};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
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
        .map(|(key, value)| (key, functions::string_arg(&value)))
        .collect();
    call(&state, &headers, function, args).await
}

async fn call(
    state: &AppState,
    headers: &HeaderMap,
    function: &'static Function,
    args: Args,
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

/// The request body as a JSON object of named arguments, each value kept as its text; an empty
/// body is no arguments.
pub fn json_object(body: Result<Bytes, BytesRejection>) -> Result<Args, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        ApiError::new(status, "PGRST102", rejection.body_text())
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Args::new());
    }
    let not_json = |error: serde_json::Error| {
        ApiError::bad_body(format!("the body is not valid JSON: {error}"))
    };
    let body = serde_json::from_slice::<&RawValue>(&body).map_err(not_json)?;
    if !body.get().starts_with('{') {
        return Err(ApiError::bad_body(
            "the body must be a JSON object of named arguments",
        ));
    }
    serde_json::from_str(body.get()).map_err(not_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(body: &str) -> Result<Args, ApiError> {
        json_object(Ok(Bytes::from(body.to_string())))
    }

    #[test]
    fn every_argument_keeps_its_text() {
        let args = args(" \n{\"ram_gb\": 65536.00000000000000000001, \"ids\": [1e2, \"a\\u0062\"], \"n\": null} ")
            .unwrap();
        assert_eq!(args["ram_gb"].get(), "65536.00000000000000000001");
        // The object the statement reads, as its parameter is written.
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#"{"ids":[1e2, "a\u0062"],"n":null,"ram_gb":65536.00000000000000000001}"#
        );
    }

    #[test]
    fn a_body_that_is_not_one_json_object_is_refused() {
        assert!(args("  ").unwrap().is_empty());
        for body in [
            "[1, 2]",
            "42",
            "\"x\"",
            "{\"a\": 1",
            "{\"a\": 1} {}",
            "{oops",
        ] {
            let error = args(body).unwrap_err();
            assert_eq!(
                (error.status.as_u16(), error.code.as_str()),
                (400, "PGRST102"),
                "{body}"
            );
        }
    }
}
