//! PostgREST's lookup of what a request names, and its 404s: a function by its name and the
//! names of the arguments given (PGRST202, worded as PostgREST v12 words it), a relation by its
//! name (42P01, as the database would answer PostgREST v12's query of it).

use crate::args::Args;
use crate::errors::ApiError;
use crate::schema::{Function, SchemaCache};
use axum::http::StatusCode;

/// How a function is invoked: GET/HEAD (arguments in the query, a read-only transaction) or
/// POST (arguments in a JSON body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Read,
    Post,
}

/// An unknown argument name, or a missing argument without a default, is no such function.
pub fn check_args(
    cache: &SchemaCache,
    function: &Function,
    args: &Args,
    invocation: Invocation,
) -> Result<(), ApiError> {
    let unknown = args.keys().any(|key| function.argument(key).is_none());
    let missing = function
        .args
        .iter()
        .any(|arg| !arg.has_default && !args.contains_key(&arg.name));
    if unknown || missing {
        let keys: Vec<&str> = args.keys().map(String::as_str).collect();
        Err(no_such_function(
            &cache.schema,
            &function.name,
            &keys,
            invocation,
            Some(function),
        ))
    } else {
        Ok(())
    }
}

/// 404 PGRST202 for `name` called with argument names `keys`; `near`, the function of that
/// name, gives the hint with its own arguments.
pub fn no_such_function(
    schema: &str,
    name: &str,
    keys: &[&str],
    invocation: Invocation,
    near: Option<&Function>,
) -> ApiError {
    let function = format!("{schema}.{name}");
    let (in_message, in_details) = if keys.is_empty() {
        (
            " without parameters".to_string(),
            " without parameters".to_string(),
        )
    } else {
        let plural = if keys.len() > 1 { "s" } else { "" };
        (
            format!("({})", keys.join(", ")),
            format!(" with parameter{plural} {}", keys.join(", ")),
        )
    };
    let or_json = match invocation {
        Invocation::Post => " or with a single unnamed json/jsonb parameter",
        Invocation::Read => "",
    };
    let mut error = ApiError::new(
        StatusCode::NOT_FOUND,
        "PGRST202",
        format!("Could not find the function {function}{in_message} in the schema cache"),
    )
    .with_details(format!(
        "Searched for the function {function}{in_details}{or_json}, but no matches were found \
         in the schema cache."
    ));
    if let Some(near) = near {
        let mut names: Vec<&str> = near.args.iter().map(|arg| arg.name.as_str()).collect();
        names.sort_unstable();
        error.hint = Some(format!(
            "Perhaps you meant to call the function {function}({})",
            names.join(", ")
        ));
    }
    error
}

/// 404 for a relation the extension does not have.
pub fn no_such_relation(schema: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "42P01",
        format!("relation \"{schema}.{name}\" does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::fixture::{args, register_cache};

    fn cache() -> SchemaCache {
        register_cache("public")
    }

    #[test]
    fn unknown_or_missing_arguments_are_no_such_function() {
        let cache = cache();
        let register = &cache.functions["register_device"];
        let check = |names: &[&str]| check_args(&cache, register, &args(names), Invocation::Post);
        assert!(check(&["device_name", "ram_gb"]).is_ok());
        assert!(check(&["device_name", "ram_gb", "note"]).is_ok());
        for names in [&["device_name"][..], &["device_name", "ram_gb", "color"]] {
            let error = check(names).unwrap_err();
            assert_eq!(
                (error.status.as_u16(), error.code.as_str()),
                (404, "PGRST202")
            );
        }
        let error = check(&["color"]).unwrap_err();
        assert_eq!(
            error.postgrest_body(),
            serde_json::json!({
                "code": "PGRST202",
                "message": "Could not find the function public.register_device(color) in the schema cache",
                "details": "Searched for the function public.register_device with parameter color \
                            or with a single unnamed json/jsonb parameter, but no matches were found \
                            in the schema cache.",
                "hint": "Perhaps you meant to call the function public.register_device(device_name, note, ram_gb)",
            })
        );
    }

    #[test]
    fn an_unknown_function_is_worded_as_postgrest_words_it() {
        let error = no_such_function("public", "zzz", &[], Invocation::Read, None);
        assert_eq!(
            error.postgrest_body(),
            serde_json::json!({
                "code": "PGRST202",
                "message": "Could not find the function public.zzz without parameters in the schema cache",
                "details": "Searched for the function public.zzz without parameters, but no matches \
                            were found in the schema cache.",
                "hint": null,
            })
        );
        let error = no_such_function("public", "zzz", &["a", "b"], Invocation::Post, None);
        assert_eq!(
            error.details.unwrap(),
            "Searched for the function public.zzz with parameters a, b or with a single unnamed \
             json/jsonb parameter, but no matches were found in the schema cache."
        );
    }
}
