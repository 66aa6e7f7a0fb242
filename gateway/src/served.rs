//! The schema cache in use, and its reloads: at start, on SIGHUP, and when a request names a
//! function or relation the cache lacks (after an `ALTER EXTENSION ... UPDATE`, say). Those
//! reloads are at most one a second, and concurrent requests share one.

use crate::dispatch::{Dispatch, Roles};
use crate::errors::ApiError;
use crate::schema::{self, SchemaCache};
use deadpool_postgres::Pool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A schema cache with what follows from it.
#[derive(Debug)]
pub struct Served {
    pub cache: SchemaCache,
    pub dispatch: Dispatch,
}

/// A check every loaded cache must pass (the seed routes name functions and arguments in it).
pub type Check = fn(&SchemaCache) -> Result<(), String>;

pub struct SchemaCell {
    current: RwLock<Arc<Served>>,
    /// Held while reloading; when the last reload finished.
    reloaded: Mutex<Instant>,
    pool: Pool,
    roles: Roles,
    check: Check,
}

const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

impl SchemaCell {
    /// The first load, tried again every second while the database cannot be reached (as
    /// PostgREST waits for it). A catalog that fails `check`, or no extension, stops the
    /// gateway from starting.
    pub async fn start(pool: Pool, roles: Roles, check: Check) -> Result<SchemaCell, String> {
        let served = loop {
            match load(&pool, &roles).await {
                Ok(served) => break served,
                Err(Failure::Unreachable(error)) => {
                    tracing::error!(%error, "loading the schema cache; trying again in 1 s");
                    tokio::time::sleep(RELOAD_AT_MOST_EVERY).await;
                }
                Err(Failure::Refused(error)) => return Err(error),
            }
        };
        check(&served.cache).map_err(|error| format!("the schema cache: {error}"))?;
        tracing::info!(
            schema = %served.cache.schema,
            functions = served.cache.functions.len(),
            relations = served.cache.relations.len(),
            "schema cache loaded"
        );
        Ok(SchemaCell {
            current: RwLock::new(Arc::new(served)),
            reloaded: Mutex::new(Instant::now()),
            pool,
            roles,
            check,
        })
    }

    pub fn current(&self) -> Arc<Served> {
        self.current.read().expect("not poisoned").clone()
    }

    /// The cache, reloaded first (see [`SchemaCell::refresh`]) if it lacks what `knows` looks
    /// for. The caller looks again: it may still lack it.
    pub async fn knowing(
        &self,
        knows: impl Fn(&SchemaCache) -> bool,
    ) -> Result<Arc<Served>, ApiError> {
        let served = self.current();
        if knows(&served.cache) {
            Ok(served)
        } else {
            self.refresh(&served).await
        }
    }

    /// Reloads now (SIGHUP).
    pub async fn reload(&self) -> Result<Arc<Served>, String> {
        let mut reloaded = self.reloaded.lock().await;
        self.reload_holding(&mut reloaded).await
    }

    /// Reloads, with the reload lock held (`reloaded` is its guarded time).
    async fn reload_holding(&self, reloaded: &mut Instant) -> Result<Arc<Served>, String> {
        // Stamped before loading: a load that fails (the database is down) counts too, so
        // unknown names do not run a load each while it stays down.
        *reloaded = Instant::now();
        let served = Arc::new(load(&self.pool, &self.roles).await.map_err(String::from)?);
        if let Err(error) = (self.check)(&served.cache) {
            // Served anyway: the database is what it is; the route that names what is gone
            // answers 404 until the gateway or the extension is fixed.
            tracing::error!(%error, "the reloaded schema cache fails the gateway's check");
        }
        *self.current.write().expect("not poisoned") = served.clone();
        tracing::info!(
            functions = served.cache.functions.len(),
            relations = served.cache.relations.len(),
            "schema cache reloaded"
        );
        Ok(served)
    }

    /// The cache after a request met a name `seen` lacks: a newer one if another request
    /// reloaded meanwhile, a reloaded one if the last reload is over a second old, else `seen`.
    pub async fn refresh(&self, seen: &Arc<Served>) -> Result<Arc<Served>, ApiError> {
        let mut reloaded = self.reloaded.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, seen) || reloaded.elapsed() < RELOAD_AT_MOST_EVERY {
            return Ok(current);
        }
        self.reload_holding(&mut reloaded)
            .await
            .map_err(ApiError::unavailable)
    }
}

/// Why a load failed.
enum Failure {
    /// No connection, or it broke: worth trying again.
    Unreachable(String),
    /// The database answered, but not with a catalog the gateway can serve.
    Refused(String),
}

impl From<Failure> for String {
    fn from(failure: Failure) -> String {
        match failure {
            Failure::Unreachable(error) | Failure::Refused(error) => error,
        }
    }
}

async fn load(pool: &Pool, roles: &Roles) -> Result<Served, Failure> {
    let client = crate::db::connection(pool)
        .await
        .map_err(|error| Failure::Unreachable(error.message))?;
    let cache = schema::load(&client).await;
    client.release();
    let cache = cache.map_err(|error| match &error {
        schema::LoadError::Database(db) if db.as_db_error().is_none() => {
            Failure::Unreachable(error.to_string())
        }
        _ => Failure::Refused(error.to_string()),
    })?;
    let dispatch = Dispatch::new(&cache, roles);
    Ok(Served { cache, dispatch })
}

/// Listens for SIGHUP: from now on a SIGHUP no longer stops the process (its default).
pub fn hangups() -> Result<tokio::signal::unix::Signal, String> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|error| format!("cannot listen for SIGHUP: {error}"))
}

/// Reloads on every SIGHUP, for as long as the gateway runs.
pub fn reload_on(mut hangups: tokio::signal::unix::Signal, cell: Arc<SchemaCell>) {
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Err(error) = cell.reload().await {
                tracing::error!(%error, "SIGHUP: the schema cache was not reloaded");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::fixture::register_cache;

    /// A cell over a database nobody listens at, whose last reload is long past.
    fn unreachable_cell() -> SchemaCell {
        let pool = crate::db::unreachable_pool();
        let roles = Roles {
            anon: "anon".into(),
            authenticated: "authenticated".into(),
            service: "service_role".into(),
        };
        let cache = register_cache("public");
        let dispatch = Dispatch::new(&cache, &roles);
        SchemaCell {
            current: RwLock::new(Arc::new(Served { cache, dispatch })),
            reloaded: Mutex::new(Instant::now() - RELOAD_AT_MOST_EVERY * 10),
            pool,
            roles,
            check: |_| Ok(()),
        }
    }

    #[tokio::test]
    async fn a_failed_reload_counts_for_the_rate_limit() {
        let cell = unreachable_cell();
        let seen = cell.current();
        assert!(cell.refresh(&seen).await.is_err(), "the database is down");
        // Right after the failed attempt, the next unknown name gets the cache as it is.
        let again = cell.refresh(&seen).await.expect("not tried again");
        assert!(Arc::ptr_eq(&again, &seen));
    }
}
