//! Network stats, with concurrent requests collapsed into one database call: a request that
//! arrives while a call is in flight waits for that call's answer instead of making its own.
//! Nothing is kept after the call returns, so an answer is never older than one call. The
//! totals are public and the same for every caller, so the call runs as the anon role.

use crate::auth::Identity;
use crate::db;
use crate::errors::ApiError;
use deadpool_postgres::Pool;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

type Answer = Result<Arc<str>, ApiError>;

pub struct Stats {
    pool: Pool,
    statement: String,
    anon: Identity,
    /// The call in flight, if any: its answer is published here.
    in_flight: Mutex<Option<watch::Receiver<Option<Answer>>>>,
}

impl Stats {
    pub fn new(pool: Pool, statement: String, anon: Identity) -> Stats {
        Stats {
            pool,
            statement,
            anon,
            in_flight: Mutex::new(None),
        }
    }

    /// The `network_stats` row as JSON text. The call runs in a task of its own, so a request
    /// that goes away does not take its waiting neighbours' answer with it.
    pub async fn get(self: &Arc<Self>) -> Answer {
        let mut answer = {
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            match in_flight.as_ref() {
                Some(answer) => answer.clone(),
                None => {
                    let (publish, answer) = watch::channel(None);
                    *in_flight = Some(answer.clone());
                    let stats = self.clone();
                    tokio::spawn(async move {
                        let answer = db::run(&stats.pool, &stats.anon, &stats.statement, &[])
                            .await
                            .map(|row| Arc::from(row.unwrap_or_else(|| "null".to_string())));
                        *stats.in_flight.lock().expect("not poisoned") = None;
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
