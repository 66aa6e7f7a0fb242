//! What the gateway treats specially, decided in this one place from catalog facts (never from
//! function names):
//!
//! - **Collapsed totals**: a function with no arguments, STABLE, that the anon role may
//!   EXECUTE, is the same for every caller: concurrent plain calls share one database call made
//!   as the anon role (`crate::stats`), and its answer may be cached for a second.
//! - **Coalesced heartbeats**: a VOLATILE function F taking one `uuid` argument (no default)
//!   and returning one composite row, granted to the authenticated role, whose *batched twin*
//!   is in the extension too: a set-returning function taking `user_ids uuid[]` then F's
//!   argument as an array, whose rows have `error_code`, `error_message` and every column of
//!   F's row, and which the service role may EXECUTE. A user's plain call of F joins a batch
//!   (`crate::heartbeats`) sent as the service role; the twin checks each entry's owner and
//!   answers each entry on its own, as F would.
//!
//! - **Public reads**: a function STABLE or IMMUTABLE that the anon role may EXECUTE reads what
//!   anyone may read, and changes nothing: its calls (the collapsed totals among them) may be
//!   served by a read replica (`crate::databases`). Every other call, relation read and write
//!   goes to the primary: an owner reads their own writes.
//!
//! Everything else is a plain call in the caller's own transaction.

use crate::args::Args;
use crate::databases::Target;
use crate::schema::{quote_ident, Function, SchemaCache, Volatility};
use crate::statements::{call_from, plain_statement};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The roles requests run as.
#[derive(Debug, Clone)]
pub struct Roles {
    pub anon: String,
    pub authenticated: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Special {
    /// The plain statement, shared by every caller.
    CollapsedTotals(Arc<str>),
    /// The batch statement: `$1` the owners, `$2` the argument of each entry; one row per
    /// entry in order: (error_code, error_message, error_hint, F's row as JSON text).
    CoalescedHeartbeat(Arc<str>),
}

#[derive(Debug, Clone, Default)]
pub struct Dispatch {
    special: HashMap<String, Special>,
    public_reads: HashSet<String>,
}

const ERROR_COLUMNS: [&str; 2] = ["error_code", "error_message"];

impl Dispatch {
    pub fn new(cache: &SchemaCache, roles: &Roles) -> Dispatch {
        let special = cache
            .functions
            .values()
            .filter_map(|function| {
                if is_collapsed_total(function, roles) {
                    let from = call_from(cache, function, &Args::new());
                    let statement = Arc::from(plain_statement(function, &from, false));
                    return Some((function.name.clone(), Special::CollapsedTotals(statement)));
                }
                batched_twin(cache, function, roles).map(|twin| {
                    let statement = batch_statement(cache, function, twin);
                    (
                        function.name.clone(),
                        Special::CoalescedHeartbeat(Arc::from(statement)),
                    )
                })
            })
            .collect();
        let public_reads = cache
            .functions
            .values()
            .filter(|function| is_public_read(function, roles))
            .map(|function| function.name.clone())
            .collect();
        Dispatch {
            special,
            public_reads,
        }
    }

    pub fn special(&self, function: &str) -> Option<&Special> {
        self.special.get(function)
    }

    /// Collapsed totals: the same for everyone, so their answers may be cached for a second.
    pub fn is_collapsed(&self, function: &str) -> bool {
        matches!(self.special(function), Some(Special::CollapsedTotals(_)))
    }

    /// Which database runs a call of `function`: a replica for a public read.
    pub fn target(&self, function: &str) -> Target {
        if self.public_reads.contains(function) {
            Target::Replica
        } else {
            Target::Primary
        }
    }
}

/// A public read (collapsed totals are some).
fn is_public_read(function: &Function, roles: &Roles) -> bool {
    function.is_read_only() && function.grants_execute_to(&roles.anon)
}

fn is_collapsed_total(function: &Function, roles: &Roles) -> bool {
    is_public_read(function, roles)
        && function.args.is_empty()
        && function.volatility == Volatility::Stable
        && !function.returns_void()
}

const UUID: &str = "pg_catalog.uuid";

/// F's batched twin, if F is a user heartbeat (see the module's comment).
fn batched_twin<'a>(
    cache: &'a SchemaCache,
    function: &Function,
    roles: &Roles,
) -> Option<&'a Function> {
    let [arg] = function.args.as_slice() else {
        return None;
    };
    let row = function.return_columns.as_ref()?;
    let single_uuid_call = function.volatility == Volatility::Volatile
        && !function.returns_set
        && arg.sql_type == UUID
        && !arg.has_default
        && function.grants_execute_to(&roles.authenticated);
    if !single_uuid_call {
        return None;
    }
    cache.functions.values().find(|twin| {
        let Some(columns) = twin.return_columns.as_ref() else {
            return false;
        };
        let has = |name: &str| columns.iter().any(|column| column.name == name);
        let takes_arrays = match twin.args.as_slice() {
            [owners, entries] => {
                owners.name == "user_ids"
                    && owners.element_sql_type.as_deref() == Some(UUID)
                    && entries.element_sql_type.as_deref() == Some(UUID)
                    && !owners.has_default
                    && !entries.has_default
            }
            _ => false,
        };
        twin.returns_set
            && takes_arrays
            && ERROR_COLUMNS.into_iter().all(has)
            && row.iter().all(|column| {
                columns
                    .iter()
                    .any(|theirs| theirs.name == column.name && theirs.sql_type == column.sql_type)
            })
            && twin.grants_execute_to(&roles.service)
    })
}

fn batch_statement(cache: &SchemaCache, function: &Function, twin: &Function) -> String {
    // The twin may carry each entry's hint too.
    let has_hint = twin
        .return_columns
        .iter()
        .flatten()
        .any(|column| column.name == "error_hint");
    let hint = if has_hint {
        "h.error_hint::pg_catalog.text"
    } else {
        "NULL::pg_catalog.text"
    };
    let row: Vec<String> = function
        .return_columns
        .iter()
        .flatten()
        .map(|column| format!("h.{}", quote_ident(&column.name)))
        .collect();
    format!(
        "SELECT h.error_code::pg_catalog.text, h.error_message::pg_catalog.text, {hint}, \
                pg_catalog.to_json(ROW({})::{})::pg_catalog.text \
           FROM {}($1, $2) WITH ORDINALITY AS h ORDER BY h.ordinality",
        row.join(", "),
        function.return_type,
        cache.qualified(&twin.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Argument, Category, Column};

    fn roles() -> Roles {
        Roles {
            anon: "anon".into(),
            authenticated: "authenticated".into(),
            service: "service_role".into(),
        }
    }

    fn column(name: &str, sql_type: &str) -> Column {
        Column {
            name: name.into(),
            sql_type: sql_type.into(),
            not_null: false,
        }
    }

    fn arg(name: &str, sql_type: &str, element: Option<&str>) -> Argument {
        Argument {
            name: name.into(),
            sql_type: sql_type.into(),
            element_sql_type: element.map(str::to_string),
            category: if element.is_some() {
                Category::Array
            } else {
                Category::Other
            },
            has_default: false,
        }
    }

    fn function(name: &str, volatility: Volatility, executors: &[&str]) -> Function {
        Function {
            name: name.into(),
            args: Vec::new(),
            returns_set: false,
            volatility,
            return_type: "public.t".into(),
            return_columns: Some(vec![column("n", "pg_catalog.int8")]),
            executors: executors.iter().map(|role| role.to_string()).collect(),
        }
    }

    /// The extension's shapes: a heartbeat and its twin, totals by anon, a user's own list.
    fn cache() -> SchemaCache {
        let mut beat = function("beat", Volatility::Volatile, &["authenticated"]);
        beat.args = vec![arg("device_id", UUID, None)];
        beat.return_columns = Some(vec![column("device_id", UUID)]);
        beat.return_type = "public.heartbeat".into();
        let mut twin = function("beats", Volatility::Volatile, &["service_role"]);
        twin.returns_set = true;
        twin.args = vec![
            arg("user_ids", "pg_catalog._uuid", Some(UUID)),
            arg("device_ids", "pg_catalog._uuid", Some(UUID)),
        ];
        twin.return_columns = Some(vec![
            column("user_id", UUID),
            column("device_id", UUID),
            column("error_code", "pg_catalog.text"),
            column("error_message", "pg_catalog.text"),
        ]);
        // Public like the totals, but with arguments (get_capacity's filters).
        let mut filtered = function("filtered", Volatility::Stable, &["anon", "authenticated"]);
        filtered.returns_set = true;
        filtered.args = vec![arg(
            "countries",
            "pg_catalog._text",
            Some("pg_catalog.text"),
        )];
        filtered.args[0].has_default = true;
        let functions = [
            beat,
            twin,
            filtered,
            function("totals", Volatility::Stable, &["anon", "authenticated"]),
            function("public_totals", Volatility::Stable, &["PUBLIC"]),
            function("mine", Volatility::Stable, &["authenticated"]),
            function("sweep", Volatility::Volatile, &["anon"]),
            function("stamp", Volatility::Immutable, &["anon"]),
        ];
        SchemaCache {
            schema: "public".into(),
            functions: functions
                .into_iter()
                .map(|function| (function.name.clone(), function))
                .collect(),
            relations: Default::default(),
        }
    }

    #[test]
    fn specials_follow_from_catalog_facts() {
        let dispatch = Dispatch::new(&cache(), &roles());
        assert!(dispatch.is_collapsed("totals"));
        assert!(dispatch.is_collapsed("public_totals"));
        let Some(Special::CollapsedTotals(statement)) = dispatch.special("totals") else {
            panic!("totals are collapsed");
        };
        assert!(statement.ends_with("FROM \"public\".\"totals\"() AS pgrst_source"));
        for plain in ["mine", "sweep", "beats", "filtered"] {
            assert_eq!(dispatch.special(plain), None, "{plain}");
        }
        // Replicas serve what anyone may read; an owner's list and every write, the primary.
        for (function, target) in [
            ("totals", Target::Replica),
            ("public_totals", Target::Replica),
            ("stamp", Target::Replica),
            ("filtered", Target::Replica),
            ("mine", Target::Primary),
            ("sweep", Target::Primary),
            ("beat", Target::Primary),
        ] {
            assert_eq!(dispatch.target(function), target, "{function}");
        }
        let Some(Special::CoalescedHeartbeat(statement)) = dispatch.special("beat") else {
            panic!("beat is coalesced");
        };
        assert_eq!(
            &**statement,
            "SELECT h.error_code::pg_catalog.text, h.error_message::pg_catalog.text, \
             NULL::pg_catalog.text, pg_catalog.to_json(ROW(h.\"device_id\")::public.heartbeat)::pg_catalog.text \
             FROM \"public\".\"beats\"($1, $2) WITH ORDINALITY AS h ORDER BY h.ordinality"
        );
    }

    #[test]
    fn no_twin_without_the_service_roles_grant_or_the_error_columns() {
        let mut cache = cache();
        cache.functions.get_mut("beats").unwrap().executors = vec!["authenticated".into()];
        assert_eq!(Dispatch::new(&cache, &roles()).special("beat"), None);
        let mut cache = self::cache();
        let twin = cache.functions.get_mut("beats").unwrap();
        twin.return_columns.as_mut().unwrap().pop();
        assert_eq!(Dispatch::new(&cache, &roles()).special("beat"), None);
        // A heartbeat the authenticated role may not call is never batched for it.
        let mut cache = self::cache();
        cache.functions.get_mut("beat").unwrap().executors = vec!["service_role".into()];
        assert_eq!(Dispatch::new(&cache, &roles()).special("beat"), None);
    }
}
