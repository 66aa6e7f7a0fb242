//! One API call, whichever route it came in by: stats go through the collapsed stats call,
//! a user's heartbeat through the batcher, everything else through its own transaction.

use crate::auth::Identity;
use crate::db;
use crate::errors::ApiError;
use crate::functions::{self, Args, Function};
use crate::heartbeats::Heartbeats;
use crate::stats::Stats;
use deadpool_postgres::Pool;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::Json;

pub struct Calls {
    pool: Pool,
    /// Each API function's statement, built once.
    statements: HashMap<&'static str, String>,
    stats: Arc<Stats>,
    heartbeats: Heartbeats,
    /// Heartbeats of this role (users' tokens) are coalesced.
    authenticated_role: String,
}

impl Calls {
    pub fn new(
        pool: Pool,
        schema: &str,
        anon: Identity,
        heartbeats: Heartbeats,
        authenticated_role: &str,
    ) -> Calls {
        let statements: HashMap<&'static str, String> = functions::FUNCTIONS
            .iter()
            .map(|function| (function.name, function.statement(schema)))
            .collect();
        let stats = Arc::new(Stats::new(
            pool.clone(),
            statements["get_network_stats"].clone(),
            anon,
        ));
        Calls {
            pool,
            statements,
            stats,
            heartbeats,
            authenticated_role: authenticated_role.to_string(),
        }
    }

    /// Calls `function` with named `args` as `identity`: its result as JSON text.
    pub async fn call(
        &self,
        identity: &Identity,
        function: &Function,
        args: Args,
    ) -> Result<Arc<str>, ApiError> {
        if function.name == "get_network_stats" {
            return self.stats.get().await;
        }
        if function.name == "send_heartbeat" && identity.role == self.authenticated_role {
            // The device id in the one grammar the owner's `sub` is read in: canonical only.
            let device_id = args
                .get("device_id")
                .and_then(|id| serde_json::from_str::<String>(id.get()).ok())
                .and_then(|id| compute_devices_claims::parse_uuid(&id))
                .map(uuid::Uuid::from_bytes);
            // Anything the batch cannot carry (no owner, no canonical id) goes the direct way,
            // and the extension gives its own error.
            if let (Some(user_id), Some(device_id)) = (identity.user_id, device_id) {
                return self
                    .heartbeats
                    .send(user_id, device_id)
                    .await
                    .map(Arc::from);
            }
        }
        let statement = &self.statements[function.name];
        let row = if function.args.is_empty() {
            db::run(&self.pool, identity, statement, &[]).await?
        } else {
            // One json parameter, written from the arguments' own texts.
            db::run(&self.pool, identity, statement, &[&Json(&args)]).await?
        };
        Ok(Arc::from(row.unwrap_or_else(|| "null".to_string())))
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}
