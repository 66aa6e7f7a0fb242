//! PostgREST's own answers to what this gateway's resources cannot have: it serves no
//! relationships between them, so an embed finds none (PGRST200) and an embedded resource's
//! filter, order or range names one that is not embedded (PGRST108); aggregates are off, as in
//! PostgREST's default configuration (PGRST123).

use axum::http::StatusCode;

use crate::errors::ApiError;

/// `select=child(...)`, PostgREST's NoRelBetween: the gateway knows no foreign keys.
pub(super) fn no_relationship(child: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST200",
        format!("Could not find a relationship between this resource and '{child}' in the schema cache"),
    )
    .with_details(format!(
        "The gateway serves no relationships between its resources, so '{child}' cannot be embedded."
    ))
}

/// `child.col=…`, `child.order=…`, … PostgREST's NotEmbedded: nothing can be embedded.
pub(super) fn not_embedded(child: &str) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST108",
        format!("'{child}' is not an embedded resource in this request"),
    );
    error.hint = Some(format!(
        "Verify that '{child}' is included in the 'select' query parameter."
    ));
    error
}

/// `count()`, `col.sum()`, …: PostgREST with `db-aggregates-enabled` off, its default.
pub(super) fn aggregates_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST123",
        "Use of aggregate functions is not allowed",
    )
}
