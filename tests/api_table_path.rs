//! The API tests on the table path: the library is not preloaded, heartbeats update the table
//! and network stats sum it. Each test gets a database of its own.

mod api;
mod common;

fn test_db(test_name: &str) -> common::TestDb {
    common::TestDb::new(test_name)
}
