//! The caller's identity as an extractor: the verified token's role and claims, or the anon
//! role without a token. A refused token is the extractor's rejection (401).

use crate::auth::Identity;
use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

pub struct Caller(pub Identity);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        state.verifier.identify(&parts.headers).map(Caller)
    }
}
