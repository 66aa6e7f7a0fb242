//! The application: the routers of `crate::http` (also under Supabase's /rest/v1 prefix),
//! metrics, and the layers every request passes (request id, logs, CORS, limits, timeout).
//! Nothing here is imported back by the routes.

use crate::config::Config;
use crate::http::{health, page, relations, rpc, seed_routes};
use crate::metrics;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(
    config: &Config,
    state: Arc<AppState>,
    metrics_handle: PrometheusHandle,
) -> Result<Router, String> {
    let pool = state.calls.databases().primary().clone();
    let app = Router::new()
        .nest("/api/v1", seed_routes::router())
        .nest("/rpc", rpc::router())
        .nest("/rest/v1/rpc", rpc::router())
        .merge(relations::router())
        .nest("/rest/v1", relations::router())
        .merge(health::router())
        .with_state(state)
        .merge(page::router())
        .route(
            "/metrics",
            get(metrics::render).with_state((metrics_handle, pool)),
        )
        .fallback(health::not_found)
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
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        // Whatever headers the browser asks to send: supabase-js adds apikey, x-client-info and,
        // with a schema option, accept-profile and content-profile.
        .allow_headers(AllowHeaders::mirror_request())
        // supabase-js reads the count from Content-Range.
        .expose_headers([REQUEST_ID, axum::http::header::CONTENT_RANGE])
        .max_age(std::time::Duration::from_secs(3600)))
}
