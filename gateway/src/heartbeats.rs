//! Heartbeats, coalesced (see `crate::dispatch`): the heartbeats that arrive within a few
//! milliseconds of each other go to the database as one call of the batched twin
//! (`send_heartbeats`), made as the service role. The extension checks each entry's owner (the
//! `sub` of that request's verified token) and answers each entry on its own, so one bad
//! device never fails its neighbours.

use crate::auth::Identity;
use crate::db;
use crate::errors::ApiError;
use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use uuid::Uuid;

/// A heartbeat's answer: the `heartbeat` row as JSON text, or its error.
pub type Answer = Result<String, ApiError>;

struct Pending {
    /// The batch statement (from the dispatch): only entries with the same one share a call.
    statement: Arc<str>,
    user_id: Uuid,
    device_id: Uuid,
    reply: oneshot::Sender<Answer>,
}

#[derive(Clone)]
pub struct Heartbeats {
    queue: mpsc::Sender<Pending>,
}

struct Batcher {
    pool: Pool,
    service: Identity,
    window: Duration,
    /// HEARTBEAT_BATCH_MAX, lowered for good if the extension's compute_devices.max_batch_size
    /// turns out to be smaller.
    max: AtomicUsize,
}

impl Heartbeats {
    pub fn start(pool: Pool, service_role: &str, window: Duration, max: usize) -> Heartbeats {
        let (queue, receiver) = mpsc::channel(max * 16);
        let batcher = Batcher {
            pool,
            service: Identity {
                role: service_role.to_string(),
                claims: serde_json::json!({ "role": service_role }).to_string(),
                user_id: None,
                has_token: true,
                anonymous: false,
            },
            window,
            max: AtomicUsize::new(max),
        };
        tokio::spawn(batcher.collect(receiver));
        Heartbeats { queue }
    }

    /// Sends one device's heartbeat with the batch `statement`, for the owner named by the
    /// caller's verified token.
    pub async fn send(&self, statement: &Arc<str>, user_id: Uuid, device_id: Uuid) -> Answer {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            statement: statement.clone(),
            user_id,
            device_id,
            reply,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| ApiError::unavailable("the gateway is shutting down"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::unavailable("the heartbeat batch was lost")))
    }
}

impl Batcher {
    async fn collect(self, mut receiver: mpsc::Receiver<Pending>) {
        let batcher = Arc::new(self);
        // Batches in flight at once: as many as connections, so a slow database makes
        // batches bigger rather than queueing for connections.
        let in_flight = Arc::new(Semaphore::new(batcher.pool.status().max_size.max(1)));
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            let deadline = Instant::now() + batcher.window;
            while batch.len() < batcher.max.load(Ordering::Relaxed) {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(pending)) => batch.push(pending),
                    Ok(None) | Err(_) => break,
                }
            }
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let batcher = batcher.clone();
            tokio::spawn(async move {
                batcher.send(batch).await;
                drop(permit);
            });
        }
    }

    async fn send(&self, batch: Vec<Pending>) {
        let mut unsent = by_statement(batch);
        while let Some(mut batch) = unsent.pop() {
            let statement = batch[0].statement.clone();
            metrics::histogram!("gateway_heartbeat_batch_size").record(batch.len() as f64);
            let user_ids: Vec<Uuid> = batch.iter().map(|pending| pending.user_id).collect();
            let device_ids: Vec<Uuid> = batch.iter().map(|pending| pending.device_id).collect();
            let rows = db::query(
                &self.pool,
                &self.service,
                db::Access::ReadWrite,
                (&statement, &db::Prepare::Kept),
                &[&user_ids, &device_ids],
            )
            .await;
            match rows {
                // More entries than compute_devices.max_batch_size (the only 22023 a batch
                // of equal arrays can get): send it in halves, and smaller batches from now on.
                Err(error) if error.code == "22023" && batch.len() > 1 => {
                    let half = batch.len() / 2;
                    if self.max.fetch_min(half, Ordering::Relaxed) > half {
                        tracing::error!(
                            batch_max = half,
                            "HEARTBEAT_BATCH_MAX is above the database's compute_devices.max_batch_size ({}); \
                             sending smaller batches",
                            error.message
                        );
                    }
                    let second = batch.split_off(half);
                    unsent.push(second);
                    unsent.push(batch);
                }
                Ok(rows) if rows.len() == batch.len() => answer_each(batch, rows),
                Ok(rows) => fail_all(
                    batch,
                    ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "PGRST000",
                        format!("send_heartbeats answered {} entries", rows.len()),
                    ),
                ),
                Err(error) => fail_all(batch, error),
            }
        }
    }
}

/// Each entry's own answer: its heartbeat, or the error send_heartbeat would have raised.
fn answer_each(batch: Vec<Pending>, rows: Vec<tokio_postgres::Row>) {
    for (pending, row) in batch.into_iter().zip(rows) {
        let answer = match row.get::<_, Option<String>>(0) {
            Some(code) => Err(ApiError::from_sqlstate(
                &code,
                row.get::<_, Option<String>>(1).unwrap_or_default(),
                None,
                row.get::<_, Option<String>>(2),
                // Only the authenticated role's heartbeats are coalesced.
                false,
            )),
            None => Ok(row.get(3)),
        };
        let _ = pending.reply.send(answer);
    }
}

fn fail_all(batch: Vec<Pending>, error: ApiError) {
    for pending in batch {
        let _ = pending.reply.send(Err(error.clone()));
    }
}

/// The batch split by statement: one group, unless a schema reload changed the statement
/// while the batch gathered.
fn by_statement(batch: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut groups: Vec<Vec<Pending>> = Vec::new();
    for pending in batch {
        match groups
            .iter_mut()
            .find(|group| Arc::ptr_eq(&group[0].statement, &pending.statement))
        {
            Some(group) => group.push(pending),
            None => groups.push(vec![pending]),
        }
    }
    groups
}
