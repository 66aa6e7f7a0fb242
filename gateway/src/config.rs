//! Settings, from flags or the environment (flags win). `compute-gateway --help` lists them.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "compute-gateway",
    version,
    about = "HTTP gateway over the compute_devices PostgreSQL extension: the seed's REST routes \
             and PostgREST-style /rpc, with heartbeats coalesced into batches."
)]
pub struct Config {
    /// PostgreSQL to connect to, as the role PostgREST would (Supabase: `authenticator`),
    /// which must be able to SET ROLE to the anon, authenticated and service roles. A libpq URL
    /// may name several hosts: with `target_session_attrs=read-write`
    /// (`postgres://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write`) each new
    /// connection goes to the first that takes writes, so after a failover the gateway finds
    /// the new primary by itself. Unless the URL sets them, every connection (to the primary
    /// and to the replicas) has `keepalives_idle=5`, `keepalives_interval=1`,
    /// `keepalives_retries=5` and `tcp_user_timeout=10` (seconds, as tokio-postgres reads it;
    /// libpq reads milliseconds), so a connection to a server that vanished without a reset (a
    /// crash, a partition) breaks within about 10 s; `keepalives=0` turns keepalives off.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Read replicas for the public reads (calls of STABLE or IMMUTABLE functions the anon role
    /// may execute, such as the network totals): a libpq URL naming one or more hosts, each
    /// its own pool. Owners' reads and every write go to DATABASE_URL. Unset: the primary
    /// serves every read.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// Most replay lag, in milliseconds, of a replica in rotation; one that lags more, is down,
    /// or is in recovery without a WAL receiver streaming from its primary (checked every
    /// second) is out of rotation, and the primary serves the reads when no replica is in. A
    /// promoted replica (out of recovery) stays in.
    #[arg(long, env = "DATABASE_READ_MAX_LAG_MS", default_value = "5000", value_parser = millis)]
    pub database_read_max_lag: Duration,

    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    pub listen_addr: SocketAddr,

    /// Shared secret for HS256 tokens (Supabase's JWT secret).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// JSON Web Key Set file with the public keys of ES256 and RS256 tokens.
    #[arg(long, env = "JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// The audience a token's `aud` must name, when it has one.
    #[arg(long, env = "JWT_AUD", default_value = "authenticated")]
    pub jwt_aud: String,

    /// Schema the extension is installed in, as a check: the gateway serves the extension's own
    /// schema (read from the catalog) and refuses to start if this names another.
    #[arg(long, env = "DB_SCHEMA")]
    pub db_schema: Option<String>,

    /// Role for requests without a token.
    #[arg(long, env = "DB_ANON_ROLE", default_value = "anon")]
    pub db_anon_role: String,

    /// Role whose requests' heartbeats are coalesced (the role in users' tokens).
    #[arg(long, env = "DB_AUTHENTICATED_ROLE", default_value = "authenticated")]
    pub db_authenticated_role: String,

    /// Role that sends the coalesced batches (granted send_heartbeats).
    #[arg(long, env = "DB_SERVICE_ROLE", default_value = "service_role")]
    pub db_service_role: String,

    /// Most database connections, to the primary and to each replica.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16, value_parser = at_least_one)]
    pub db_pool_size: usize,

    /// How long a request waits for a connection, or to connect (to each host tried), before it
    /// gets 503; also the most a replica's check may take before the replica counts as down.
    #[arg(long, env = "DB_CONNECT_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub db_connect_timeout: Duration,

    /// Most time a request may take, end to end, before it gets 504; also the most a shared
    /// totals call may wait for each database (a replica that does not answer in time leaves
    /// the rotation and the primary is asked). A connection whose call was given up is closed,
    /// never handed to another request.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value = "10000", value_parser = millis)]
    pub request_timeout: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 64 * 1024, value_parser = at_least_one)]
    pub body_limit_bytes: usize,

    /// How long the first heartbeat of a batch waits for others to join it.
    #[arg(long, env = "HEARTBEAT_BATCH_WINDOW_MS", default_value = "2", value_parser = millis)]
    pub heartbeat_batch_window: Duration,

    /// Most heartbeats in one send_heartbeats call (at most the extension's max_batch_size).
    #[arg(long, env = "HEARTBEAT_BATCH_MAX", default_value_t = 1000, value_parser = at_least_one)]
    pub heartbeat_batch_max: usize,

    /// Origins browsers may call from, comma separated; `*` allows any.
    #[arg(long, env = "CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// Log format: `json` (one object a line) or `text`.
    #[arg(long, env = "LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

fn millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|error| format!("expected milliseconds: {error}"))
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}
