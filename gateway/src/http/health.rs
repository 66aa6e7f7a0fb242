//! The service's own routes: liveness, readiness, and the answer to a request no route matches.

use crate::db;
use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

/// Ready when the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match db::ready(state.calls.pool()).await {
        Ok(()) => "ready".into_response(),
        Err(error) => error.into_response(),
    }
}

/// Answers a request that matched no route, in PostgREST's body.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "PGRST125", "no such route")
}
