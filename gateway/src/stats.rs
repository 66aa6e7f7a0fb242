//! Collapsed totals (see `crate::dispatch`): concurrent calls of the same statement share one
//! database call: a request that arrives while a call is in flight waits for that call's answer
//! instead of making its own. Nothing is kept after the call returns, so an answer is never
//! older than one call. The totals are public and the same for every caller, so the call runs
//! as the anon role, and a replica in rotation may serve it (`crate::databases`).

use crate::answer::Answer;
use crate::auth::Identity;
use crate::databases::{Databases, Target};
use crate::db::{self, Access, Prepare};
use crate::errors::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

type Outcome = Result<Answer, ApiError>;

pub struct Stats {
    databases: Arc<Databases>,
    anon: Identity,
    /// The calls in flight, by statement: each one's answer is published here.
    in_flight: Mutex<HashMap<Arc<str>, watch::Receiver<Option<Outcome>>>>,
}

impl Stats {
    pub fn new(databases: Arc<Databases>, anon: Identity) -> Stats {
        Stats {
            databases,
            anon,
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
                            let anon = &stats.anon;
                            async move { db::query(&pool, anon, Access::ReadWrite, sql, &[]).await }
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
