//! The seed's REST routes, with its envelope: `{"success": true, "data": ...}` and
//! `{"success": false, "error": {"code", "message"}}`. Each route is one API function.

use crate::app::AppState;
use crate::auth::Identity;
use crate::errors::ApiError;
use crate::functions::{self, Args};
use crate::rpc::json_object;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// An error in the seed's envelope.
pub struct EnvelopeError(pub ApiError);

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        (self.0.status, axum::Json(self.0.envelope())).into_response()
    }
}

impl From<ApiError> for EnvelopeError {
    fn from(error: ApiError) -> EnvelopeError {
        EnvelopeError(error)
    }
}

type Answer = Result<Response, EnvelopeError>;

/// GET /api/v1/network/stats: public.
pub async fn network_stats(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer {
    network_totals(&state, &headers, "get_network_stats").await
}

/// GET /api/v1/network/stats/by-type: public, one entry per device type.
pub async fn network_stats_by_type(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Answer {
    network_totals(&state, &headers, "get_network_stats_by_type").await
}

/// The public totals: any caller, and a second of caching.
async fn network_totals(state: &AppState, headers: &HeaderMap, name: &str) -> Answer {
    let identity = state.verifier.identify(headers)?;
    let mut response = call(state, &identity, name, Args::new()).await?;
    crate::app::cache_briefly(&mut response);
    Ok(response)
}

/// POST /api/v1/network/devices/register: the body's device fields (others are ignored).
pub async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let identity = signed_in(&state, &headers)?;
    let mut args = json_object(body)?;
    let register = functions::find("register_device").expect("an API function");
    args.retain(|key, _| register.args.iter().any(|(name, _)| name == key));
    call(&state, &identity, "register_device", args).await
}

/// POST /api/v1/network/devices/:deviceId/heartbeat
pub async fn heartbeat(
    State(state): State<Arc<AppState>>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let identity = signed_in(&state, &headers)?;
    call(&state, &identity, "send_heartbeat", device(device_id)).await
}

/// POST /api/v1/network/devices/:deviceId/deactivate
pub async fn deactivate(
    State(state): State<Arc<AppState>>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let identity = signed_in(&state, &headers)?;
    call(&state, &identity, "deactivate_device", device(device_id)).await
}

/// GET /api/v1/network/devices: the caller's devices.
pub async fn user_devices(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer {
    let identity = signed_in(&state, &headers)?;
    call(&state, &identity, "get_user_devices", Args::new()).await
}

fn device(device_id: String) -> Args {
    Args::from([("device_id".to_string(), functions::string_arg(&device_id))])
}

/// These routes need a Bearer token: without one, 401 before the database.
fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let identity = state.verifier.identify(headers)?;
    if identity.has_token {
        Ok(identity)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "PGRST301",
            "this route needs an Authorization: Bearer <token> header",
        ))
    }
}

async fn call(state: &AppState, identity: &Identity, name: &str, args: Args) -> Answer {
    let function = functions::find(name).expect("an API function");
    let data = state.calls.call(identity, function, args).await?;
    let body = format!("{{\"success\":true,\"data\":{data}}}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
