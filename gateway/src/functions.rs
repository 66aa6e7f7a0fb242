//! The extension's API functions: the only ones the gateway calls. Each call is one statement
//! that reads its named arguments out of a JSON object with `json_to_record` (as PostgREST
//! does, so a wrong type is the database's own 22P02) and returns JSON text.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A call's named arguments, each value kept as the JSON text the caller sent: the object the
/// statement reads is written back from these texts, so a number reaches the database exactly
/// as written (`9999999.999999999` stays that, not the nearest float) and the database alone
/// decides whether it fits.
pub type Args = BTreeMap<String, Box<RawValue>>;

/// An argument that is a JSON string (a path segment, a query parameter).
pub fn string_arg(text: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(text).expect("a string is JSON")
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Returns {
    /// One composite row: a JSON object.
    Row,
    /// SETOF rows: a JSON array.
    Rows,
}

pub struct Function {
    pub name: &'static str,
    /// (name, SQL type), in the function's order.
    pub args: &'static [(&'static str, &'static str)],
    pub returns: Returns,
    /// STABLE: may be called with GET.
    pub read_only: bool,
}

pub const FUNCTIONS: [Function; 7] = [
    Function {
        name: "get_network_stats",
        args: &[],
        returns: Returns::Row,
        read_only: true,
    },
    Function {
        name: "get_network_stats_by_type",
        args: &[],
        returns: Returns::Rows,
        read_only: true,
    },
    Function {
        name: "register_device",
        args: &[
            ("device_name", "pg_catalog.text"),
            ("device_type", "pg_catalog.text"),
            ("ram_gb", "pg_catalog.numeric"),
            ("cpu_cores", "pg_catalog.int4"),
            ("storage_gb", "pg_catalog.numeric"),
        ],
        returns: Returns::Row,
        read_only: false,
    },
    Function {
        name: "send_heartbeat",
        args: &[("device_id", "pg_catalog.uuid")],
        returns: Returns::Row,
        read_only: false,
    },
    Function {
        name: "deactivate_device",
        args: &[("device_id", "pg_catalog.uuid")],
        returns: Returns::Row,
        read_only: false,
    },
    Function {
        name: "get_user_devices",
        args: &[],
        returns: Returns::Rows,
        read_only: true,
    },
    Function {
        name: "send_heartbeats",
        args: &[
            ("user_ids", "pg_catalog.uuid[]"),
            ("device_ids", "pg_catalog.uuid[]"),
        ],
        returns: Returns::Rows,
        read_only: false,
    },
];

pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|function| function.name == name)
}

impl Function {
    /// The public totals, the same for every caller.
    pub fn is_network_totals(&self) -> bool {
        matches!(self.name, "get_network_stats" | "get_network_stats_by_type")
    }

    /// The statement that calls this function in `schema` with the arguments in `$1::json`.
    pub fn statement(&self, schema: &str) -> String {
        let schema = quote_ident(schema);
        let named: Vec<String> = self
            .args
            .iter()
            .map(|(name, _)| format!("{name} => a.{name}"))
            .collect();
        let call = format!("{schema}.{}({})", self.name, named.join(", "));
        let from = if self.args.is_empty() {
            format!("{call} AS r")
        } else {
            let columns: Vec<String> = self
                .args
                .iter()
                .map(|(name, sql_type)| format!("{name} {sql_type}"))
                .collect();
            format!(
                "pg_catalog.json_to_record($1::pg_catalog.json) AS a({}), LATERAL {call} AS r",
                columns.join(", ")
            )
        };
        match self.returns {
            Returns::Row => format!("SELECT pg_catalog.to_json(r)::pg_catalog.text FROM {from}"),
            Returns::Rows => format!(
                "SELECT COALESCE(pg_catalog.json_agg(r), '[]')::pg_catalog.text FROM {from}"
            ),
        }
    }

    /// Checks the argument names, as PostgREST finds a function by them: an unknown name is
    /// no such function (404). A missing argument is NULL, which the extension reports by name.
    pub fn check_args(&self, args: &Args) -> Result<(), String> {
        let unknown: Vec<&str> = args
            .keys()
            .map(String::as_str)
            .filter(|key| !self.args.iter().any(|(name, _)| name == key))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "Could not find the function {}({}) in the schema cache",
                self.name,
                args.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// An identifier quoted for SQL: the schema name comes from configuration.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_argument_and_qualify_everything() {
        let register = find("register_device").unwrap().statement("public");
        assert_eq!(
            register,
            "SELECT pg_catalog.to_json(r)::pg_catalog.text FROM pg_catalog.json_to_record($1::pg_catalog.json) \
             AS a(device_name pg_catalog.text, device_type pg_catalog.text, ram_gb pg_catalog.numeric, \
             cpu_cores pg_catalog.int4, storage_gb pg_catalog.numeric), \
             LATERAL \"public\".register_device(device_name => a.device_name, device_type => a.device_type, \
             ram_gb => a.ram_gb, cpu_cores => a.cpu_cores, storage_gb => a.storage_gb) AS r"
        );
        let devices = find("get_user_devices").unwrap().statement("my \"schema\"");
        assert!(devices.contains("FROM \"my \"\"schema\"\"\".get_user_devices() AS r"));
    }

    #[test]
    fn unknown_argument_names_are_no_such_function() {
        let heartbeat = find("send_heartbeat").unwrap();
        let args = |name: &str| Args::from([(name.to_string(), string_arg("x"))]);
        assert!(heartbeat.check_args(&args("device_id")).is_ok());
        assert!(heartbeat.check_args(&Args::new()).is_ok());
        assert!(heartbeat.check_args(&args("id")).is_err());
        assert!(find("pg_sleep").is_none());
    }
}
