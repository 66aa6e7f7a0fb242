//! The HTTP face: each module owns its routes and returns its router; `crate::app` assembles
//! them. PostgREST's routes (`rpc`, `relations`) answer in PostgREST's body; the seed's
//! (`seed_routes`) in its envelope.

pub mod caller;
pub mod health;
pub mod page;
pub mod path_name;
pub mod profile;
pub mod query_args;
pub mod relations;
pub mod reply;
pub mod rpc;
pub mod seed_routes;
