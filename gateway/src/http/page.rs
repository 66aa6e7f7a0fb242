//! The live network page at `/`: static HTML, CSS and JavaScript built into the binary. The
//! script reads the public totals from this gateway's own routes, so the page needs no token
//! and no build step; the map's country shapes are an SVG built in as well.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/network.js", get(script))
        .route("/network.css", get(style))
        .route("/world.svg", get(world))
}

/// The page may not be framed or load anything from elsewhere: it only reads this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

async fn index() -> impl IntoResponse {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../page/index.html"),
    )
}

async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../page/network.js"),
    )
}

async fn style() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../page/network.css"),
    )
}

/// Country shapes for the map (made from world-atlas by page/world-map.mjs): fetched by the
/// script, so they are this origin's like everything else.
async fn world() -> impl IntoResponse {
    asset("image/svg+xml", include_str!("../../page/world.svg"))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Always revalidated, so a new gateway's page is picked up at the next load.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
