//! compute-gateway: a thin HTTP gateway over the compute_devices extension. The extension does
//! the work and decides ownership; the gateway verifies tokens, runs each call the way
//! PostgREST would, and coalesces heartbeats.

pub mod answer;
pub mod app;
pub mod args;
pub mod auth;
pub mod calls;
pub mod config;
pub mod databases;
pub mod db;
pub mod dispatch;
pub mod errors;
pub mod heartbeats;
pub mod http;
pub mod metrics;
pub mod query;
pub mod resolve;
pub mod schema;
pub mod served;
pub mod state;
pub mod statements;
pub mod stats;
pub mod typescript;

use std::sync::Arc;

/// Serves until SIGTERM or Ctrl-C, then lets the requests in flight finish.
pub async fn serve(config: config::Config) -> Result<(), String> {
    let verifier = auth::Verifier::new(
        config.jwt_secret.as_deref(),
        config.jwks_file.as_deref(),
        &config.jwt_aud,
        &config.db_anon_role,
    )?;
    if config.jwt_secret.is_none() && config.jwks_file.is_none() {
        tracing::warn!("neither JWT_SECRET nor JWKS_FILE is set: every token is refused, only anonymous calls work");
    }
    // First: the databases' gauges and counters are registered with it.
    let metrics = metrics::install()?;
    let settings = |url: &str, variable: &str| {
        db::settings(
            url,
            variable,
            config.db_connect_timeout,
            config.request_timeout,
        )
    };
    let read_settings = config
        .database_read_url
        .as_deref()
        .map(|url| settings(url, "DATABASE_READ_URL"))
        .transpose()?;
    let databases = Arc::new(databases::Databases::new(
        settings(&config.database_url, "DATABASE_URL")?,
        read_settings,
        config.db_pool_size,
        config.db_connect_timeout,
    )?);
    databases.check_replicas(config.database_read_max_lag, config.db_connect_timeout);
    let pool = databases.primary().clone();
    let roles = dispatch::Roles {
        anon: config.db_anon_role.clone(),
        authenticated: config.db_authenticated_role.clone(),
        service: config.db_service_role.clone(),
    };
    // Before the first load, which may wait for the database: a SIGHUP meanwhile is not fatal.
    let hangups = served::hangups()?;
    let schema = Arc::new(
        served::SchemaCell::start(pool.clone(), roles.clone(), http::seed_routes::check).await?,
    );
    let extension_schema = &schema.current().cache.schema;
    if let Some(configured) = &config.db_schema {
        if configured != extension_schema {
            return Err(format!(
                "DB_SCHEMA is {configured}, but the extension compute_devices is installed in {extension_schema}"
            ));
        }
    }
    served::reload_on(hangups, schema.clone());
    let heartbeats = heartbeats::Heartbeats::start(
        pool.clone(),
        &config.db_service_role,
        config.heartbeat_batch_window,
        config.heartbeat_batch_max,
    );
    let calls = calls::Calls::new(
        databases,
        verifier.anonymous(),
        heartbeats,
        roles,
        config.request_timeout,
    );
    let state = Arc::new(state::AppState {
        verifier,
        schema,
        calls,
    });
    let router = app::router(&config, state, metrics)?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|error| format!("LISTEN_ADDR {}: {error}", config.listen_addr))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    tracing::info!(%address, "compute-gateway listening on http://{address}");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!("compute-gateway stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
