//! What every request handler shares.

use crate::auth::Verifier;
use crate::calls::Calls;
use crate::served::SchemaCell;
use std::sync::Arc;

pub struct AppState {
    pub verifier: Verifier,
    pub schema: Arc<SchemaCell>,
    pub calls: Calls,
}
