//! The device API PostgREST exposes as `/rpc/<name>`, one concern a file. The caller is always
//! the JWT's `sub` (auth), never an argument.

pub mod auth;
mod capacity;
mod device_ids;
mod devices;
pub mod heartbeats;
mod history;
pub mod jsonb_text;
mod owner_devices;
mod register;
pub mod stats;
mod status;
pub mod validate;
