//! Running a function call or a relation read, whichever route it came in by. A plain call of a
//! function the dispatch marks special takes its fast path (collapsed totals, coalesced
//! heartbeats); everything else is one statement in the caller's own transaction: the function
//! (or relation) as the FROM item, with the read grammar over it.

use crate::answer::Answer;
use crate::args::Args;
use crate::auth::Identity;
use crate::databases::{Databases, Target};
use crate::db::{self, Access, Params, Prepare};
use crate::dispatch::{Roles, Special};
use crate::errors::ApiError;
use crate::heartbeats::Heartbeats;
use crate::query::{Read, Shape, SOURCE};
use crate::resolve::{check_args, Invocation};
use crate::schema::{Function, Relation};
use crate::served::Served;
use crate::statements::{call_from, plain_statement};
use crate::stats::Stats;
use axum::http::StatusCode;
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{Json, ToSql, Type};

pub struct Calls {
    databases: Arc<Databases>,
    stats: Arc<Stats>,
    heartbeats: Heartbeats,
    roles: Roles,
}

impl Calls {
    pub fn new(
        databases: Arc<Databases>,
        anon: Identity,
        heartbeats: Heartbeats,
        roles: Roles,
        request_timeout: Duration,
    ) -> Calls {
        Calls {
            stats: Arc::new(Stats::new(databases.clone(), anon, request_timeout)),
            databases,
            heartbeats,
            roles,
        }
    }

    /// Calls `function` with named `args` as `identity`, with `read` over its result.
    pub async fn call(
        &self,
        served: &Served,
        identity: &Identity,
        (function, args, invocation): (&Function, Args, Invocation),
        read: &Read,
    ) -> Result<Answer, ApiError> {
        check_args(&served.cache, function, &args, invocation)?;
        // PostgREST's transaction mode: read-only for GET and HEAD, and for a STABLE or
        // IMMUTABLE function however it is called.
        let access = if invocation == Invocation::Read || function.is_read_only() {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        if read.is_plain() {
            match served.dispatch.special(&function.name) {
                // Shared only with a caller the function is granted to; any other gets the
                // database's own answer (42501, an unknown role) from a call of its own.
                Some(Special::CollapsedTotals(statement))
                    if function.grants_execute_to(&identity.role) =>
                {
                    return self.stats.get(statement).await
                }
                // A heartbeat changes data: never by GET, which runs read-only.
                Some(Special::CoalescedHeartbeat(statement)) if access == Access::ReadWrite => {
                    if let Some(answer) = self.coalesce(statement, identity, &args).await {
                        return answer;
                    }
                }
                _ => {}
            }
        }
        let from = call_from(&served.cache, function, &args);
        let statement = match &function.return_columns {
            _ if read.is_plain() => Statement::fixed(plain_statement(function, &from, false)),
            // A single value is one row: counted 1, and the singular object is the value.
            None if !function.returns_set && read.fits_a_value() => {
                Statement::fixed(plain_statement(function, &from, read.wants_count()))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST100",
                    format!(
                        "{} returns scalar values, not rows: select, filters, order and limits \
                         (and for a set of values, counts and singular objects) apply only to rows",
                        function.name
                    ),
                ))
            }
            Some(columns) => {
                let columns: Vec<(&str, &str)> = columns
                    .iter()
                    .map(|column| (column.name.as_str(), column.sql_type.as_str()))
                    .collect();
                let shape = if function.returns_set && !read.is_singular() {
                    Shape::Rows
                } else {
                    Shape::Object
                };
                let first = if args.is_empty() { 1 } else { 2 };
                Statement::shaped(read.statement(&from, &columns, shape, first)?)
            }
        };
        let target = served.dispatch.target(&function.name);
        self.run(target, identity, access, statement, args, read)
            .await
    }

    /// Reads `relation` as `identity` (its row-level security applies), with `read`.
    pub async fn read(
        &self,
        served: &Served,
        identity: &Identity,
        relation: &Relation,
        read: &Read,
    ) -> Result<Answer, ApiError> {
        let from = format!("{} AS {SOURCE}", served.cache.qualified(&relation.name));
        let columns: Vec<(&str, &str)> = relation
            .columns
            .iter()
            .map(|column| (column.name.as_str(), column.sql_type.as_str()))
            .collect();
        let shape = if read.is_singular() {
            Shape::Object
        } else {
            Shape::Rows
        };
        let statement = Statement::shaped(read.statement(&from, &columns, shape, 1)?);
        let (target, access) = (Target::Primary, Access::ReadOnly);
        self.run(target, identity, access, statement, Args::new(), read)
            .await
    }

    /// A user's heartbeat through the batcher; None when the batch cannot carry it (not the
    /// authenticated role, no owner, a device id not in the canonical form the owner's `sub`
    /// is read in), and the call goes the direct way where the extension gives its own answer.
    async fn coalesce(
        &self,
        statement: &Arc<str>,
        identity: &Identity,
        args: &Args,
    ) -> Option<Result<Answer, ApiError>> {
        if identity.role != self.roles.authenticated {
            return None;
        }
        let user_id = identity.user_id?;
        let [(_, device_id)] = args.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let device_id = serde_json::from_str::<String>(device_id.get())
            .ok()
            .and_then(|id| compute_devices_claims::parse_uuid(&id))
            .map(uuid::Uuid::from_bytes)?;
        Some(
            self.heartbeats
                .send(statement, user_id, device_id)
                .await
                .map(Answer::one),
        )
    }

    /// Runs a statement on `target`'s database (see `crate::databases`).
    async fn run(
        &self,
        target: Target,
        identity: &Identity,
        access: Access,
        statement: Statement,
        args: Args,
        read: &Read,
    ) -> Result<Answer, ApiError> {
        let call = |pool| run_on(pool, identity, access, &statement, &args, read);
        self.databases.run(target, call).await
    }

    pub fn databases(&self) -> &Arc<Databases> {
        &self.databases
    }
}

/// Runs a statement with `pool`: the arguments as one json parameter (when there are any), then
/// the statement's text parameters. A singular read commits only when it found exactly one row.
async fn run_on(
    pool: Pool,
    identity: &Identity,
    access: Access,
    statement: &Statement,
    args: &Args,
    read: &Read,
) -> Result<Answer, ApiError> {
    let mut params: Params = Vec::new();
    let mut types = Vec::new();
    if !args.is_empty() {
        // One json parameter, written from the arguments' own texts.
        params.push(Box::new(Json(args.clone())));
        types.push(Type::JSON);
    }
    for text in &statement.texts {
        params.push(Box::new(text.clone()));
        types.push(Type::TEXT);
    }
    let prepare = if statement.shaped {
        Prepare::Once(types)
    } else {
        Prepare::Kept
    };
    let rows = if read.is_singular() {
        let sql = (statement.sql.clone(), prepare);
        db::query_checked(&pool, identity, access, sql, params, exactly_one_row).await?
    } else {
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|param| &**param as &(dyn ToSql + Sync))
            .collect();
        let sql = (statement.sql.as_str(), &prepare);
        db::query(&pool, identity, access, sql, &params).await?
    };
    rows.first()
        .map(Answer::from_row)
        .ok_or_else(|| ApiError::unavailable("the statement returned no row"))
}

/// A statement to run, with its text parameters.
struct Statement {
    sql: String,
    texts: Vec<String>,
    /// Whether the caller shaped its text (the read grammar), so it is not kept prepared.
    shaped: bool,
}

impl Statement {
    /// A statement of the plain calls, whose texts are few: kept prepared.
    fn fixed(sql: String) -> Statement {
        Statement {
            sql,
            texts: Vec::new(),
            shaped: false,
        }
    }

    /// The read grammar's statement and its values.
    fn shaped((sql, texts): (String, Vec<String>)) -> Statement {
        Statement {
            sql,
            texts,
            shaped: true,
        }
    }
}

/// PostgREST's singular check: exactly one row, else 406 PGRST116 (and the transaction rolls
/// back).
fn exactly_one_row(rows: &[tokio_postgres::Row]) -> Result<(), ApiError> {
    let count = rows.first().map_or(0, |row| row.get::<_, i64>(1));
    if count == 1 {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST116",
            "JSON object requested, multiple (or no) rows returned",
        )
        .with_details(format!("The result contains {count} rows")))
    }
}
