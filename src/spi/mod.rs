//! How the extension's SQL runs: where its own objects are (catalog), statements planned once a
//! session (plans), and the rows a set-returning function returns (rows).

pub mod catalog;
pub mod plans;
pub mod rows;
