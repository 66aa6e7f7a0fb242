//! The service's own routes: liveness, readiness (with the databases' state), and the answer to a request no route matches.

use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

/// Ready (200) when the primary answers, else 503; the body names the primary's host
/// (`host:port` as configured) and each replica's state:
/// `{"primary": "h1:5432", "replicas": [{"host", "in_rotation", "in_recovery", "lag_ms",
/// "reason"}]}`; on 503 `primary` is null, with PostgREST's error fields. Anyone may ask, so
/// the body says why in a few words only ("database unavailable"; a replica's `reason` is one
/// of "not checked yet", "down", "not streaming", "lagging"): the errors themselves are logged.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let databases = state.calls.databases();
    let replicas: Vec<Value> = databases
        .replicas()
        .iter()
        .map(|replica| {
            let mut health = json!(replica.health());
            health["host"] = json!(replica.name);
            health
        })
        .collect();
    match databases.primary_host().await {
        Ok(primary) => Json(json!({ "primary": primary, "replicas": replicas })).into_response(),
        Err(error) => {
            tracing::warn!(error = %error.message, "/readyz: the primary cannot be reached");
            let mut body = ApiError::unavailable("database unavailable").postgrest_body();
            body["primary"] = Value::Null;
            body["replicas"] = json!(replicas);
            (error.status, Json(body)).into_response()
        }
    }
}

/// Answers a request that matched no route, in PostgREST's body.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "PGRST125", "no such route")
}
