//! Prometheus metrics: requests by route, method and status, their latency, pool use and
//! heartbeat batch sizes. Served at `/metrics`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Instant;

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0];

pub fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".to_string()),
            &LATENCY_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full("gateway_heartbeat_batch_size".to_string()),
                &BATCH_BUCKETS,
            )
        })
        .map_err(|error| error.to_string())?
        .install_recorder()
        .map_err(|error| error.to_string())
}

/// Counts and times every request. Every label comes from a bounded set, whatever callers send:
/// the route pattern (not the path: ids are unbounded), or "unmatched"; the method, or "other"
/// for one HTTP does not define (a caller may invent any); and the status the gateway answered.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("route", route),
        ("method", method.to_string()),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method's label: one of the nine HTTP defines, or "other".
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "PATCH", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

pub async fn render(State((handle, pool)): State<(PrometheusHandle, Pool)>) -> impl IntoResponse {
    let status = pool.status();
    metrics::gauge!("gateway_db_pool_max").set(status.max_size as f64);
    metrics::gauge!("gateway_db_pool_connections").set(status.size as f64);
    metrics::gauge!("gateway_db_pool_idle").set(status.available as f64);
    metrics::gauge!("gateway_db_pool_waiting").set(status.waiting as f64);
    handle.render()
}
