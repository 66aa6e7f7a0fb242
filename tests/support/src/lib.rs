//! What the extension's tests (tests/), the gateway's and the agent's share: a throwaway
//! PostgreSQL cluster of a test's own (tests/cluster.sh) and a streaming standby of it,
//! Supabase's roles (tests/supabase_roles.sql), connecting and waiting.

mod cluster;
mod standby;

pub use cluster::{Cluster, ClusterPort};
pub use standby::Standby;
use std::time::{Duration, Instant};

/// Creates Supabase's roles (`anon`, `authenticated`, `service_role`, `authenticator`): the
/// script ./demo and bench/ run too. Idempotent, but not safe to run twice at once on one
/// cluster (concurrent `CREATE ROLE`s of one name conflict).
pub const SUPABASE_ROLES: &str = include_str!("../../supabase_roles.sql");

pub fn connect(port: u16, user: &str, dbname: &str) -> postgres::Client {
    postgres::Config::new()
        .host("localhost")
        .port(port)
        .user(user)
        .dbname(dbname)
        .connect(postgres::NoTls)
        .unwrap_or_else(|error| panic!("connect as {user} to {dbname} on port {port}: {error}"))
}

/// Where the database's liveness is kept now: `liveness_status()`'s path, `shared memory`,
/// `published totals` (a standby, or a preloaded server before its slots are rebuilt) or `table`.
pub fn liveness_path(client: &mut postgres::Client) -> String {
    client
        .query_one("SELECT path FROM liveness_status()", &[])
        .unwrap()
        .get(0)
}

/// True once `condition` holds, checking every 100 ms until `within` has passed.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// A local TCP port free at the moment, for a server the test runs in its own process (a
/// separate one is better told to listen on port 0 and asked where it listens: between this
/// answer and its bind, another process may take the port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
