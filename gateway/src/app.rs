//! The router: the seed's routes, /rpc (also under Supabase's /rest/v1 prefix), health,
//! metrics, and the layers every request passes (request id, logs, CORS, limits, timeout).

use crate::auth::Verifier;
use crate::calls::Calls;
use crate::config::Config;
use crate::errors::ApiError;
use crate::{db, metrics, page, routes, rpc};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub struct AppState {
    pub verifier: Verifier,
    pub calls: Calls,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(
    config: &Config,
    state: Arc<AppState>,
    metrics_handle: PrometheusHandle,
) -> Result<Router, String> {
    let rpc_routes = Router::new().route("/{name}", get(rpc::get).post(rpc::post));
    let api = Router::new()
        .route("/network/stats", get(routes::network_stats))
        .route("/network/stats/by-type", get(routes::network_stats_by_type))
        .route("/network/devices", get(routes::user_devices))
        .route("/network/devices/register", post(routes::register))
        .route(
            "/network/devices/{device_id}/heartbeat",
            post(routes::heartbeat),
        )
        .route(
            "/network/devices/{device_id}/deactivate",
            post(routes::deactivate),
        );
    let pool = state.calls.pool().clone();
    let app = Router::new()
        .nest("/api/v1", api)
        .nest("/rpc", rpc_routes.clone())
        .nest("/rest/v1/rpc", rpc_routes)
        .route("/readyz", get(readyz))
        .with_state(state)
        .route("/", get(page::index))
        .route("/network.js", get(page::script))
        .route("/network.css", get(page::style))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(metrics::render).with_state((metrics_handle, pool)),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(cors(&config.cors_origins)?)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|id| id.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
            })
            // One line per answered request (status and latency, inside the span with its id).
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    Ok(app)
}

/// Browsers may call from the configured origins.
fn cors(origins: &str) -> Result<CorsLayer, String> {
    let allow_origin = if origins.trim() == "*" {
        AllowOrigin::from(Any)
    } else {
        let list = origins
            .split(',')
            .map(|origin| HeaderValue::from_str(origin.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("CORS_ORIGINS: {error}"))?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        // Whatever headers the browser asks to send: supabase-js adds apikey, x-client-info and,
        // with a schema option, accept-profile and content-profile.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([REQUEST_ID])
        .max_age(std::time::Duration::from_secs(3600)))
}

/// Ready when the database answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match db::ready(state.calls.pool()).await {
        Ok(()) => "ready".into_response(),
        Err(error) => rpc::RpcError(error).into_response(),
    }
}

/// Stats may be cached for a second: the extension's totals trail the truth by up to 2 s anyway.
pub fn cache_briefly(response: &mut Response) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=1"),
    );
}

/// Answers a request that matched no route, in PostgREST's body.
pub async fn not_found() -> Response {
    rpc::RpcError(ApiError::new(
        StatusCode::NOT_FOUND,
        "PGRST125",
        "no such route",
    ))
    .into_response()
}
