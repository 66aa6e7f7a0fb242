//! The seed's REST routes under /api/v1, with its envelope: `{"success": true, "data": ...}` and
//! `{"success": false, "error": {"code", "message"}}`. Each route is one function of the
//! extension, named in [`SEED_ROUTES`] with which request parts are which arguments; every
//! loaded schema cache is checked against the table ([`check`]), and the gateway does not
//! start when a route names a function or an argument the catalog lacks.

use super::caller::Caller;
use super::{query_args, reply};
use crate::args::{self, Args};
use crate::auth::Identity;
use crate::errors::{ApiError, Envelope};
use crate::query;
use crate::resolve::{no_such_function, Invocation};
use crate::schema::{Function, SchemaCache};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, RawPathParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{on, MethodFilter};
use axum::Router;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arguments {
    None,
    /// The path parameter of this name is the argument of the same name.
    Path(&'static str),
    /// The body's fields that name an argument (others are ignored); a missing one is null,
    /// which the extension reports by name.
    Body,
    /// The query parameters, each the argument of its name (another name is refused), written
    /// by the argument's type (`super::query_args`); a missing one as for `Body`.
    Query,
}

#[derive(Debug)]
pub struct SeedRoute {
    pub get: bool,
    pub path: &'static str,
    pub function: &'static str,
    pub arguments: Arguments,
    /// Needs a Bearer token: without one, 401 before the database.
    pub signed_in: bool,
}

pub static SEED_ROUTES: [SeedRoute; 9] = [
    SeedRoute {
        get: true,
        path: "/network/stats",
        function: "get_network_stats",
        arguments: Arguments::None,
        signed_in: false,
    },
    SeedRoute {
        get: true,
        path: "/network/stats/by-type",
        function: "get_network_stats_by_type",
        arguments: Arguments::None,
        signed_in: false,
    },
    SeedRoute {
        get: true,
        path: "/network/capacity",
        function: "get_capacity",
        arguments: Arguments::Query,
        signed_in: false,
    },
    SeedRoute {
        get: true,
        path: "/network/history",
        function: "get_network_history",
        arguments: Arguments::Query,
        signed_in: false,
    },
    SeedRoute {
        get: true,
        path: "/network/stats/at",
        function: "get_network_stats_at",
        arguments: Arguments::Query,
        signed_in: false,
    },
    SeedRoute {
        get: true,
        path: "/network/devices",
        function: "get_user_devices",
        arguments: Arguments::None,
        signed_in: true,
    },
    SeedRoute {
        get: false,
        path: "/network/devices/register",
        function: "register_device",
        arguments: Arguments::Body,
        signed_in: true,
    },
    SeedRoute {
        get: false,
        path: "/network/devices/{device_id}/heartbeat",
        function: "send_heartbeat",
        arguments: Arguments::Path("device_id"),
        signed_in: true,
    },
    SeedRoute {
        get: false,
        path: "/network/devices/{device_id}/deactivate",
        function: "deactivate_device",
        arguments: Arguments::Path("device_id"),
        signed_in: true,
    },
];

/// Every route's function is in the cache, takes the route's arguments, and changes nothing
/// when the route is a GET.
pub fn check(cache: &SchemaCache) -> Result<(), String> {
    for route in &SEED_ROUTES {
        let function = cache.functions.get(route.function).ok_or_else(|| {
            format!(
                "/api/v1{} calls {}, which the extension does not have",
                route.path, route.function
            )
        })?;
        if let Arguments::Path(name) = route.arguments {
            if function.argument(name).is_none() {
                return Err(format!(
                    "/api/v1{} passes {name} to {}, which takes no such argument",
                    route.path, route.function
                ));
            }
        }
        if route.get && !function.is_read_only() {
            return Err(format!(
                "/api/v1{} is a GET, but {} is VOLATILE",
                route.path, route.function
            ));
        }
    }
    Ok(())
}

pub fn router() -> Router<Arc<AppState>> {
    SEED_ROUTES.iter().fold(Router::new(), |router, route| {
        let method = if route.get {
            MethodFilter::GET
        } else {
            MethodFilter::POST
        };
        let handler = move |state: State<Arc<AppState>>,
                            params: RawPathParams,
                            caller: Result<Caller, ApiError>,
                            query: Result<Pairs, QueryRejection>,
                            body: Result<Bytes, BytesRejection>| async move {
            let request = Request {
                params,
                query,
                body,
            };
            handle(route, &state, caller, request).await
        };
        router.route(route.path, on(method, handler))
    })
}

type Pairs = Query<Vec<(String, String)>>;

/// The parts of a request that may carry arguments.
struct Request {
    params: RawPathParams,
    query: Result<Pairs, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
}

async fn handle(
    route: &SeedRoute,
    state: &AppState,
    caller: Result<Caller, ApiError>,
    request: Request,
) -> Result<Response, Envelope> {
    let Caller(identity) = caller?;
    let invocation = if route.get {
        Invocation::Read
    } else {
        Invocation::Post
    };
    if route.signed_in {
        signed_in(&identity)?;
    }
    let served = state
        .schema
        .knowing(|cache| cache.functions.contains_key(route.function))
        .await?;
    let function = served.cache.functions.get(route.function).ok_or_else(|| {
        no_such_function(&served.cache.schema, route.function, &[], invocation, None)
    })?;
    let args = arguments(route.arguments, function, request)?;
    let read = query::parse(&[], &HeaderMap::new(), &|_| false)?;
    let answer = state
        .calls
        .call(&served, &identity, (function, args, invocation), &read)
        .await?;
    let collapsed = served.dispatch.is_collapsed(route.function);
    Ok(reply::envelope(answer, collapsed))
}

/// The route's arguments, from the part of the request its table entry names.
fn arguments(
    arguments: Arguments,
    function: &Function,
    request: Request,
) -> Result<Args, ApiError> {
    Ok(match arguments {
        Arguments::None => Args::new(),
        Arguments::Path(name) => request
            .params
            .iter()
            .filter(|(key, _)| *key == name)
            .map(|(key, value)| (key.to_string(), args::string_arg(value)))
            .collect(),
        Arguments::Body => completed(function, args::from_body(request.body)?),
        Arguments::Query => {
            let Query(pairs) = request.query.map_err(|rejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "PGRST100", rejection.body_text())
            })?;
            completed(function, query_args::arguments(function, &pairs)?)
        }
    })
}

/// The given arguments that are `function`'s, and null for each missing one without a default.
fn completed(function: &Function, mut given: Args) -> Args {
    function
        .args
        .iter()
        .filter_map(|arg| match given.remove(&arg.name) {
            Some(value) => Some((arg.name.clone(), value)),
            None if arg.has_default => None,
            None => Some((arg.name.clone(), args::null_arg())),
        })
        .collect()
}

/// Without a token, 401 before the database (PostgREST's "token required").
fn signed_in(identity: &Identity) -> Result<(), ApiError> {
    if identity.has_token {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "PGRST302",
            "this route needs an Authorization: Bearer <token> header",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_its_own_path_and_function() {
        for (n, route) in SEED_ROUTES.iter().enumerate() {
            assert!(
                SEED_ROUTES[n + 1..]
                    .iter()
                    .all(|other| other.path != route.path),
                "{} twice",
                route.path
            );
            if let Arguments::Path(name) = route.arguments {
                assert!(
                    route.path.contains(&format!("{{{name}}}")),
                    "{}",
                    route.path
                );
            }
        }
    }
}
