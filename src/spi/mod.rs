//! How the extension's SQL runs: where its own objects are (catalog), statements planned once a
//! session (plans), and the rows a set-returning function returns (rows, and result_set for
//! long results).

pub mod catalog;
pub mod plans;
pub mod result_set;
pub mod rows;
