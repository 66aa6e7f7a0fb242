//! Collapsed totals (see `crate::dispatch`): concurrent calls of the same statement share one
//! database call: a request that arrives while a call is in flight waits for that call's answer
//! instead of making its own. Nothing is kept after the call returns, so an answer is never
//! older than one call. The totals are public and the same for every caller, so the call runs
//! as the anon role, and a replica in rotation may serve it (`crate::databases`).
//!
//! Each database gets `REQUEST_TIMEOUT_MS` to answer the shared call: one that vanished without
//! a reset would otherwise hold it (and every request that joins it) until TCP gives up. A
//! replica that does not answer in time has failed the read: it leaves the rotation and the
//! primary is asked, once.

use crate::answer::Answer;
use crate::auth::Identity;
use crate::databases::{Databases, Target};
use crate::db::{self, Access, Prepare};
use crate::errors::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

type Outcome = Result<Answer, ApiError>;

pub struct Stats {
    databases: Arc<Databases>,
    anon: Identity,
    /// The most each database may take to answer a call.
    timeout: Duration,
    /// The calls in flight, by statement: each one's answer is published here.
    in_flight: Mutex<HashMap<Arc<str>, watch::Receiver<Option<Outcome>>>>,
}

impl Stats {
    pub fn new(databases: Arc<Databases>, anon: Identity, timeout: Duration) -> Stats {
        Stats {
            databases,
            anon,
            timeout,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The answer of `statement` (no parameters). The call runs in a task of its own, so a
    /// request that goes away does not take its waiting neighbours' answer with it.
    pub async fn get(self: &Arc<Self>, statement: &Arc<str>) -> Outcome {
        let mut answer = {
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            match in_flight.get(statement) {
                Some(answer) => answer.clone(),
                None => {
                    let (publish, answer) = watch::channel(None);
                    in_flight.insert(statement.clone(), answer.clone());
                    let stats = self.clone();
                    let statement = statement.clone();
                    tokio::spawn(async move {
                        let call = |pool| {
                            let sql = (&*statement, &Prepare::Kept);
                            let (anon, within) = (&stats.anon, stats.timeout);
                            async move {
                                let call = db::query(&pool, anon, Access::ReadWrite, sql, &[]);
                                tokio::time::timeout(within, call)
                                    .await
                                    .unwrap_or_else(|_| {
                                        Err(ApiError::unavailable(format!(
                                            "database unavailable: {}",
                                            db::no_answer(within)
                                        )))
                                    })
                            }
                        };
                        let answer =
                            stats
                                .databases
                                .run(Target::Replica, call)
                                .await
                                .and_then(|rows| {
                                    rows.first().map(Answer::from_row).ok_or_else(|| {
                                        ApiError::unavailable("the totals call returned no row")
                                    })
                                });
                        stats
                            .in_flight
                            .lock()
                            .expect("not poisoned")
                            .remove(&statement);
                        let _ = publish.send(Some(answer));
                    });
                    answer
                }
            }
        };
        let answer = answer.wait_for(Option::is_some).await;
        match answer {
            Ok(answer) => answer.clone().expect("waited for Some"),
            Err(_) => Err(ApiError::unavailable("the stats call was lost")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::Config;

    #[tokio::test]
    async fn a_replica_that_never_answers_leaves_the_rotation_and_the_primary_is_asked() {
        let (replica, _) = db::silent_server().await;
        let second = Duration::from_secs(1);
        let primary: Config = "postgres://nobody@127.0.0.1:1/nothing".parse().unwrap();
        let databases = Databases::new(primary, Some(replica.parse().unwrap()), 1, second);
        let databases = Arc::new(databases.unwrap());
        databases.admit_replicas();
        let anon = Identity::without_token("anon");
        let stats = Arc::new(Stats::new(
            databases.clone(),
            anon,
            Duration::from_millis(300),
        ));
        let statement: Arc<str> = Arc::from("SELECT 1");
        let started = tokio::time::Instant::now();
        let (first, joined) = tokio::join!(stats.get(&statement), stats.get(&statement));
        // The primary was asked (nobody listens there), after the replica's time was up.
        for error in [first.unwrap_err(), joined.unwrap_err()] {
            assert!(error.message.contains("Connection refused"), "{error:?}");
        }
        assert!(started.elapsed() < second, "{:?}", started.elapsed());
        let health = databases.replicas()[0].health();
        assert!(!health.in_rotation);
        assert!(stats.in_flight.lock().unwrap().is_empty());
    }
}
