//! A schema cache for unit tests: `register_device` with two required arguments and one with a
//! default, in the schema given.

use super::{Argument, Category, Function, SchemaCache, Volatility};
use crate::args::{string_arg, Args};

pub fn register_cache(schema: &str) -> SchemaCache {
    let arg = |name: &str, sql_type: &str, category: Category, has_default: bool| Argument {
        name: name.into(),
        sql_type: sql_type.into(),
        element_sql_type: None,
        category,
        has_default,
    };
    let register = Function {
        name: "register_device".into(),
        args: vec![
            arg("device_name", "pg_catalog.text", Category::Other, false),
            arg("ram_gb", "pg_catalog.\"numeric\"", Category::Numeric, false),
            arg("note", "pg_catalog.text", Category::Other, true),
        ],
        returns_set: false,
        volatility: Volatility::Volatile,
        return_type: "public.compute_devices".into(),
        return_columns: Some(Vec::new()),
        executors: Vec::new(),
    };
    SchemaCache {
        schema: schema.into(),
        functions: [(register.name.clone(), register)].into(),
        relations: Default::default(),
    }
}

/// Arguments of these names, each the string "x".
pub fn args(names: &[&str]) -> Args {
    names
        .iter()
        .map(|name| (name.to_string(), string_arg("x")))
        .collect()
}
