//! What a call or a read answers: the one row every statement the gateway runs returns.

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// All the rows there are, when the request asked for an exact count.
    pub total: Option<i64>,
    /// The rows in this answer.
    pub page_count: i64,
    /// The JSON body; None for a function that returns void.
    pub body: Option<Arc<str>>,
}

impl Answer {
    /// From the statement's row: (total bigint, page_count bigint, body text).
    pub fn from_row(row: &tokio_postgres::Row) -> Answer {
        Answer {
            total: row.get(0),
            page_count: row.get(1),
            body: row.get::<_, Option<String>>(2).map(Arc::from),
        }
    }

    /// One row, already rendered (a coalesced heartbeat's).
    pub fn one(body: String) -> Answer {
        Answer {
            total: None,
            page_count: 1,
            body: Some(Arc::from(body)),
        }
    }
}
