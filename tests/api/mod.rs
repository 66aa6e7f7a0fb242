//! The API tests both liveness paths run: each test binary (api_shared_memory.rs,
//! api_table_path.rs) includes this module and gives it its own `test_db`.

mod accelerators;
mod capacity;
mod capacity_truth;
mod cases;
mod expected_capacity;
mod health;
mod history;
mod intervals;
mod trust;
