//! The connection pool, and one request's transaction as PostgREST runs it: BEGIN, the role and
//! `request.jwt.claims` set locally, the call, COMMIT. The four are pipelined: one round trip.
//! A call whose rows decide whether it may commit (a singular request) runs, is checked, and
//! then commits or rolls back.
//!
//! A statement from a bounded set of texts is prepared once per connection and kept; one whose
//! text the caller shapes (the read grammar) is parsed for its call only (see [`Prepare`]).

use crate::auth::Identity;
use crate::errors::ApiError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use std::net::IpAddr;
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage, Statement};

/// How long a connection may wait, idle, for a server's answer before TCP asks whether the
/// server is still there; how often it asks again; how many unanswered asks mean it is gone.
const KEEPALIVES: (Duration, Duration, u32) = (Duration::from_secs(5), Duration::from_secs(1), 5);

/// How long data sent may stay unacknowledged before TCP gives the connection up.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection string (`variable` names its setting, for errors), with the gateway's own
/// settings added: its application name, the connect timeout (per host tried), a statement
/// timeout, and (unless the URL sets them) TCP keepalives and a TCP user timeout, so that a
/// connection to a server that vanished without a reset (a crash, a partition) breaks within
/// about 10 s instead of hanging for hours. A libpq URL may name several hosts
/// (`postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write`): tokio-postgres tries
/// them in order, as libpq does, and with `read-write` skips a host whose sessions are
/// read-only (a standby).
pub fn settings(
    url: &str,
    variable: &str,
    connect_timeout: Duration,
    statement_timeout: Duration,
) -> Result<tokio_postgres::Config, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| format!("{variable}: {error}"))?;
    config.application_name("compute-gateway");
    config.connect_timeout(connect_timeout);
    // A request that times out gets 504; its statement stops too, instead of holding a
    // connection after nobody waits for it.
    let timeout = format!("-c statement_timeout={}", statement_timeout.as_millis());
    let options = match config.get_options() {
        Some(given) => format!("{given} {timeout}"),
        None => timeout,
    };
    config.options(options);
    // tokio-postgres's defaults (2 h idle, the kernel's interval and count, no user timeout)
    // are what the URL did not set; `keepalives=0` turns keepalives off, as in libpq.
    let (idle, interval, retries) = KEEPALIVES;
    if config.get_keepalives_idle() == tokio_postgres::Config::new().get_keepalives_idle() {
        config.keepalives_idle(idle);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(interval);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(retries);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    Ok(config)
}

/// A pool of connections made with `config`.
pub fn pool(
    config: tokio_postgres::Config,
    size: usize,
    connect_timeout: Duration,
) -> Result<Pool, String> {
    // The connect timeout bounds each host tried: making a connection may try them all.
    let hosts = config.get_hosts().len().max(config.get_hostaddrs().len());
    let create = connect_timeout * u32::try_from(hosts.max(1)).unwrap_or(u32::MAX);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection the server closed (it stopped, crashed, or failed over) is noticed
            // here and replaced by a new one, made to whichever host is then the one asked for,
            // so the gateway recovers by itself.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(connect_timeout),
            create: Some(create),
            recycle: Some(connect_timeout),
        })
        .build()
        .map_err(|error| error.to_string())
}

/// The role and claims of the request, for the transaction.
const SETUP: &str = "SELECT pg_catalog.set_config('role', $1, true), \
                     pg_catalog.set_config('request.jwt.claims', $2, true)";

/// How a transaction begins: PostgREST runs GET and HEAD requests read-only, so a function
/// that writes refuses them itself (25006, 405).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl Access {
    fn begin(self) -> &'static str {
        match self {
            Access::ReadOnly => "BEGIN READ ONLY",
            Access::ReadWrite => "BEGIN",
        }
    }
}

/// How a statement is prepared on its connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepare {
    /// Its text is one of a bounded set (the plain calls, the shared and coalesced paths):
    /// prepared once per connection and kept, so later calls skip parsing.
    Kept,
    /// Its text is shaped by the caller (the read grammar's keys, casts, filters…): sent as
    /// the unnamed statement with its parameters' `Type`s, in the same round trip, and kept
    /// nowhere, so no caller can fill a connection's memory with prepared statements.
    Once(Vec<Type>),
}

/// A call ready to go out: a kept statement, or the text of an unnamed one.
enum Call<'a> {
    Kept(Statement),
    Once(&'a str, &'a [Type]),
}

impl<'a> Call<'a> {
    /// Prepares a kept statement (once per connection); an unnamed one needs nothing yet.
    async fn ready(
        client: &deadpool_postgres::Client,
        sql: &'a str,
        prepare: &'a Prepare,
    ) -> Result<Call<'a>, tokio_postgres::Error> {
        Ok(match prepare {
            Prepare::Kept => Call::Kept(client.prepare_cached(sql).await?),
            Prepare::Once(types) => Call::Once(sql, types),
        })
    }

    /// Runs the call; its messages go out when first polled, so it pipelines after BEGIN.
    async fn query(
        &self,
        client: &Client,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self {
            Call::Kept(statement) => client.query(statement, params).await,
            Call::Once(sql, types) => {
                let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                    params.iter().copied().zip(types.iter().cloned()).collect();
                client.query_typed(sql, &typed).await
            }
        }
    }
}

/// Runs `sql` inside the identity's transaction, and returns its rows.
pub async fn query(
    pool: &Pool,
    identity: &Identity,
    access: Access,
    (sql, prepare): (&str, &Prepare),
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, ApiError> {
    sendable(identity)?;
    let client = connection(pool).await?;
    let failed = |error: tokio_postgres::Error| database_error(&error, identity);
    let rows = async {
        let setup = client.prepare_cached(SETUP).await.map_err(failed)?;
        let call = Call::ready(&client, sql, prepare).await.map_err(failed)?;
        // Polled together, the four requests go out in order without waiting for each other.
        let identity_params: [&(dyn ToSql + Sync); 2] = [&identity.role, &identity.claims];
        let (begin, setup, rows, commit) = tokio::join!(
            client.batch_execute(access.begin()),
            client.execute(&setup, &identity_params),
            call.query(&client, params),
            client.batch_execute("COMMIT"),
        );
        begin.map_err(failed)?;
        setup.map_err(failed)?;
        let rows = rows.map_err(failed)?;
        commit.map_err(failed)?;
        Ok(rows)
    }
    .await;
    client.release();
    rows
}

/// Owned parameters, for a transaction that outlives the request that started it.
pub type Params = Vec<Box<dyn ToSql + Send + Sync>>;

/// Runs `sql` inside the identity's transaction, and commits only if `check` accepts its rows;
/// otherwise rolls back and returns the check's error. The transaction runs in a task of its
/// own, so a request that goes away never returns a connection inside a transaction.
pub async fn query_checked(
    pool: &Pool,
    identity: &Identity,
    access: Access,
    (sql, prepare): (String, Prepare),
    params: Params,
    check: impl FnOnce(&[Row]) -> Result<(), ApiError> + Send + 'static,
) -> Result<Vec<Row>, ApiError> {
    sendable(identity)?;
    let client = connection(pool).await?;
    let identity = identity.clone();
    let transaction = tokio::spawn(async move {
        let failed = |error: tokio_postgres::Error| database_error(&error, &identity);
        let outcome = async {
            let setup = client.prepare_cached(SETUP).await.map_err(failed)?;
            let call = Call::ready(&client, &sql, &prepare).await.map_err(failed)?;
            let identity_params: [&(dyn ToSql + Sync); 2] = [&identity.role, &identity.claims];
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|param| &**param as &(dyn ToSql + Sync))
                .collect();
            let (begin, setup, rows) = tokio::join!(
                client.batch_execute(access.begin()),
                client.execute(&setup, &identity_params),
                call.query(&client, &params),
            );
            let outcome = begin
                .and(setup)
                .and(rows)
                .map_err(failed)
                .and_then(|rows| check(&rows).map(|()| rows));
            match outcome {
                Ok(rows) => client
                    .batch_execute("COMMIT")
                    .await
                    .map(|()| rows)
                    .map_err(failed),
                Err(error) => {
                    client.batch_execute("ROLLBACK").await.map_err(failed)?;
                    Err(error)
                }
            }
        }
        .await;
        client.release();
        outcome
    });
    transaction
        .await
        .unwrap_or_else(|_| Err(ApiError::unavailable("the transaction was lost")))
}

/// A token's role is a text parameter, and the protocol cannot send a NUL in one: the request
/// gets the answer PostgreSQL gives such text (22021, 400), not a broken connection's 503.
fn sendable(identity: &Identity) -> Result<(), ApiError> {
    if identity.role.contains('\0') {
        return Err(crate::query::nul_in_value());
    }
    Ok(())
}

/// The address and port of the server a pooled connection reaches (None for a Unix socket),
/// so `/readyz` can name the host that serves: `/readyz`.
pub async fn server(pool: &Pool) -> Result<(Option<IpAddr>, Option<u16>), ApiError> {
    let client = connection(pool).await?;
    let messages = client
        .simple_query(
            "SELECT pg_catalog.host(pg_catalog.inet_server_addr()), pg_catalog.inet_server_port()",
        )
        .await;
    client.release();
    let messages = messages.map_err(database_unavailable)?;
    let row = messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .ok_or_else(|| ApiError::unavailable("the server returned no address"))?;
    let address = row.get(0).and_then(|text| text.parse().ok());
    let port = row.get(1).and_then(|text| text.parse().ok());
    Ok((address, port))
}

/// A pooled connection; none within the connect timeout is 503.
pub(crate) async fn connection(pool: &Pool) -> Result<Lease, ApiError> {
    let object = pool.get().await.map_err(database_unavailable)?;
    Ok(Lease(Some(object)))
}

/// A pooled connection that goes back to the pool only once the work on it has finished
/// ([`Lease::release`]). Dropped before that (its request timed out or went away mid-call), it
/// is closed instead: the server may never answer what was sent (it vanished without a reset),
/// and the pool, which checks only that a connection is open, would hand it to the next
/// request, which would wait behind it.
pub(crate) struct Lease(Option<deadpool_postgres::Object>);

impl Lease {
    /// Back to the pool: the work on it has finished (with an answer or an error).
    pub(crate) fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(unfinished) = self.0.take() {
            // Out of the pool; the connection closes when its last request ends or TCP gives
            // it up (see `KEEPALIVES`).
            drop(deadpool_postgres::Object::take(unfinished));
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = deadpool_postgres::Object;

    fn deref(&self) -> &deadpool_postgres::Object {
        self.0.as_ref().expect("held until released")
    }
}

/// Why a database that did not answer within `within` is unavailable.
pub fn no_answer(within: Duration) -> String {
    format!("no answer within {} ms", within.as_millis())
}

/// A database error as PostgREST reports it; a lost connection is 503.
pub fn database_error(error: &tokio_postgres::Error, identity: &Identity) -> ApiError {
    match error.as_db_error() {
        Some(db) => ApiError::from_sqlstate(
            db.code().code(),
            db.message(),
            db.detail().map(str::to_string),
            db.hint().map(str::to_string),
            identity.anonymous,
        ),
        None => database_unavailable(error),
    }
}

/// The database could not be reached, or the connection broke: 503, saying why.
fn database_unavailable(error: impl std::error::Error) -> ApiError {
    ApiError::unavailable(format!("database unavailable: {}", describe(&error)))
}

/// An error with its causes (tokio-postgres's own text says only "error connecting to server",
/// its cause says "Connection refused" or "database does not allow writes"), each said once.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let said = error.to_string();
        if !text.ends_with(&said) {
            text = format!("{text}: {said}");
        }
        cause = error.source();
    }
    text
}

/// A pool of a database nobody listens at: any attempt to connect is 503.
#[cfg(test)]
pub fn unreachable_pool() -> Pool {
    let second = Duration::from_secs(1);
    let url = "postgres://nobody@127.0.0.1:1/nothing";
    pool(
        settings(url, "DATABASE_URL", second, second).unwrap(),
        1,
        second,
    )
    .unwrap()
}

/// A server that completes the startup of every connection made to it, then never answers
/// nor closes: what a server that vanished without a reset looks like to a client. Its URL,
/// and how many connections were made to it.
#[cfg(test)]
pub async fn silent_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "postgres://nobody@{}/nothing",
        listener.local_addr().unwrap()
    );
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let made = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            made.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                // The startup message, then AuthenticationOk and ReadyForQuery.
                let length = socket.read_i32().await.unwrap();
                let mut startup = vec![0; usize::try_from(length - 4).unwrap()];
                socket.read_exact(&mut startup).await.unwrap();
                socket
                    .write_all(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I")
                    .await
                    .unwrap();
                let mut ignored = [0; 1024];
                while socket.read(&mut ignored).await.is_ok_and(|read| read > 0) {}
            });
        }
    });
    (url, connections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_whose_call_was_abandoned_is_not_handed_out_again() {
        let (url, connections) = silent_server().await;
        let second = Duration::from_secs(1);
        let pool = pool(
            settings(&url, "DATABASE_URL", second, second).unwrap(),
            1,
            second,
        )
        .unwrap();
        let anon = Identity::without_token("anon");
        for made in 1..=2 {
            let call = query(
                &pool,
                &anon,
                Access::ReadOnly,
                ("SELECT 1", &Prepare::Kept),
                &[],
            );
            let abandoned = tokio::time::timeout(Duration::from_millis(200), call).await;
            assert!(abandoned.is_err(), "the server never answers");
            // The one connection of the pool was closed, not kept: the next call makes its own.
            assert_eq!(connections.load(std::sync::atomic::Ordering::Relaxed), made);
            assert_eq!(pool.status().size, 0);
        }
    }

    #[test]
    fn keepalives_and_the_tcp_user_timeout_unless_the_url_sets_them() {
        let second = Duration::from_secs(1);
        let config = settings("postgres://h/db", "DATABASE_URL", second, second).unwrap();
        assert!(config.get_keepalives());
        assert_eq!(
            (
                config.get_keepalives_idle(),
                config.get_keepalives_interval(),
                config.get_keepalives_retries(),
                config.get_tcp_user_timeout()
            ),
            (
                Duration::from_secs(5),
                Some(second),
                Some(5),
                Some(&Duration::from_secs(10))
            )
        );
        let url = "postgres://h/db?keepalives=0&keepalives_idle=60&keepalives_interval=7\
                   &keepalives_retries=2&tcp_user_timeout=30";
        // tokio-postgres reads tcp_user_timeout in seconds (libpq: milliseconds).
        let config = settings(url, "DATABASE_URL", second, second).unwrap();
        assert!(!config.get_keepalives());
        assert_eq!(
            (
                config.get_keepalives_idle(),
                config.get_keepalives_interval(),
                config.get_keepalives_retries(),
                config.get_tcp_user_timeout()
            ),
            (
                Duration::from_secs(60),
                Some(Duration::from_secs(7)),
                Some(2),
                Some(&Duration::from_secs(30))
            )
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_is_503_saying_why() {
        let Err(error) = connection(&unreachable_pool()).await else {
            panic!("nobody listens")
        };
        assert_eq!(error.status.as_u16(), 503);
        assert_eq!(
            error.message,
            "database unavailable: Error occurred while creating a new object: \
             error connecting to server: Connection refused (os error 111)"
        );
    }

    #[test]
    fn several_hosts_are_tried_in_order_for_a_read_write_session() {
        let second = Duration::from_secs(1);
        let url = "postgres://u:p@h1:5433,h2:5434/db?target_session_attrs=read-write&options=-c%20work_mem%3D8MB";
        let config = settings(url, "DATABASE_URL", second, Duration::from_millis(2500)).unwrap();
        assert_eq!(
            config.get_hosts(),
            [
                tokio_postgres::config::Host::Tcp("h1".into()),
                tokio_postgres::config::Host::Tcp("h2".into())
            ]
        );
        assert_eq!(config.get_ports(), [5433, 5434]);
        assert_eq!(
            config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        // The caller's options are kept; the statement timeout is added.
        assert_eq!(
            config.get_options(),
            Some("-c work_mem=8MB -c statement_timeout=2500")
        );
        let error =
            settings("postgres://h1:x/db", "DATABASE_READ_URL", second, second).unwrap_err();
        assert!(error.starts_with("DATABASE_READ_URL: "), "{error}");
    }

    #[tokio::test]
    async fn a_role_with_a_nul_is_22021_before_any_connection() {
        // Nobody listens there: any attempt to connect would be 503.
        let pool = unreachable_pool();
        let identity = Identity {
            role: "auth\0enticated".into(),
            claims: "{}".into(),
            user_id: None,
            has_token: true,
            anonymous: false,
        };
        let error = query(
            &pool,
            &identity,
            Access::ReadOnly,
            ("SELECT 1", &Prepare::Kept),
            &[],
        )
        .await
        .unwrap_err();
        assert_eq!((error.status.as_u16(), error.code.as_str()), (400, "22021"));
        let error = query_checked(
            &pool,
            &identity,
            Access::ReadOnly,
            ("SELECT 1".into(), Prepare::Kept),
            Vec::new(),
            |_| Ok(()),
        )
        .await
        .unwrap_err();
        assert_eq!((error.status.as_u16(), error.code.as_str()), (400, "22021"));
    }
}
