//! PostgREST's SQLSTATE-to-HTTP table, entry by entry as `pgErrorStatus` in PostgREST v12's
//! `src/PostgREST/Error.hs` (and the docs' "Errors" page, "HTTP status codes"): the first entry
//! that matches a code decides its status.

use axum::http::StatusCode;

/// Which codes an entry covers.
#[derive(Debug, Clone, Copy)]
enum Codes {
    /// One SQLSTATE.
    Code(&'static str),
    /// A class: the codes that start with these two characters.
    Class(&'static str),
}

/// What an entry answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// 42501: 401 when the request's role is the anon role, 403 otherwise.
    Privilege,
    /// 21000: 400 when pg-safeupdate refused (message ends "requires a WHERE clause"), else 500.
    Cardinality,
    /// 42883: 406 for a missing `xmlagg(` (a media type the database cannot build), else 404.
    UndefinedFunction,
    /// PTxxx: the status xxx the caller raised, 500 when it is not one.
    Custom,
}

use Answer::*;
use Codes::*;

/// In PostgREST's order; a code no entry names is 400.
const TABLE: [(Codes, Answer); 35] = [
    (Class("08"), Status(503)),         // connection exception
    (Class("09"), Status(500)),         // triggered action exception
    (Class("0L"), Status(403)),         // invalid grantor
    (Class("0P"), Status(403)),         // invalid role specification
    (Code("23503"), Status(409)),       // foreign_key_violation
    (Code("23505"), Status(409)),       // unique_violation
    (Code("25006"), Status(405)),       // read_only_sql_transaction
    (Code("21000"), Cardinality),       // cardinality_violation
    (Class("25"), Status(500)),         // invalid transaction state
    (Class("28"), Status(403)),         // invalid authorization specification
    (Class("2D"), Status(500)),         // invalid transaction termination
    (Class("38"), Status(500)),         // external routine exception
    (Class("39"), Status(500)),         // external routine invocation exception
    (Class("3B"), Status(500)),         // savepoint exception
    (Class("40"), Status(500)),         // transaction rollback
    (Code("53400"), Status(500)),       // configuration_limit_exceeded
    (Class("53"), Status(503)),         // insufficient resources
    (Class("54"), Status(500)),         // program limit exceeded
    (Class("55"), Status(500)),         // object not in prerequisite state
    (Code("57P01"), Status(503)),       // admin_shutdown
    (Class("57"), Status(500)),         // operator intervention
    (Class("58"), Status(500)),         // system error
    (Class("F0"), Status(500)),         // configuration file error
    (Class("HV"), Status(500)),         // foreign data wrapper error
    (Code("P0001"), Status(400)),       // raise_exception (RAISE's default)
    (Class("P0"), Status(500)),         // PL/pgSQL error
    (Class("XX"), Status(500)),         // internal error
    (Code("42883"), UndefinedFunction), // undefined_function
    (Code("42P01"), Status(404)),       // undefined_table
    (Code("42P17"), Status(500)),       // invalid_object_definition (infinite recursion)
    (Code("42501"), Privilege),         // insufficient_privilege
    (Class("PT"), Custom),              // PTxxx: status xxx
    // Below: no entry in PostgREST's table, kept explicit so the table states the default.
    (Class("22"), Status(400)), // data exception
    (Class("23"), Status(400)), // other integrity constraint violations
    (Class("42"), Status(400)), // other syntax errors or access rule violations
];

/// The status PostgREST gives a database error with this code and message, for a request
/// running as the anon role (`anonymous`) or not.
pub fn status(code: &str, message: &str, anonymous: bool) -> StatusCode {
    let answer = TABLE.iter().find_map(|(codes, answer)| {
        let matches = match codes {
            Code(exact) => code == *exact,
            Class(class) => code.len() == 5 && code.starts_with(class),
        };
        matches.then_some(*answer)
    });
    let status = match answer {
        None => 400,
        Some(Status(status)) => status,
        Some(Privilege) => {
            if anonymous {
                401
            } else {
                403
            }
        }
        Some(Cardinality) => {
            if message.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            }
        }
        Some(UndefinedFunction) => {
            if message.starts_with("function xmlagg(") {
                406
            } else {
                404
            }
        }
        Some(Custom) => code[2..].parse::<u16>().unwrap_or(500),
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a code, its message, whether the role is anon, and PostgREST's status, with
    /// the line of `pgErrorStatus` (v12.2.9) it comes from.
    #[test]
    fn every_entry_answers_as_postgrest() {
        let cases: [(&str, &str, bool, u16); 45] = [
            ("08006", "", false, 503), // '0':'8':_ -> 503 pg connection err
            ("08P01", "", false, 503),
            ("09000", "", false, 500), // '0':'9':_ -> 500 triggered action exception
            ("0L000", "", false, 403), // '0':'L':_ -> 403 invalid grantor
            ("0P000", "", false, 403), // '0':'P':_ -> 403 invalid role specification
            ("23503", "", false, 409), // "23503" -> 409 foreign_key_violation
            ("23505", "", false, 409), // "23505" -> 409 unique_violation
            ("25006", "", false, 405), // "25006" -> 405 read_only_sql_transaction
            ("21000", "DELETE requires a WHERE clause", false, 400), // pg-safeupdate
            (
                "21000",
                "more than one row returned by a subquery",
                false,
                500,
            ),
            ("25P02", "", false, 500), // '2':'5':_ -> 500 invalid tx state
            ("28000", "", false, 403), // '2':'8':_ -> 403 invalid auth specification
            ("28P01", "", false, 403),
            ("2D000", "", false, 500), // '2':'D':_ -> 500 invalid tx termination
            ("38000", "", false, 500), // '3':'8':_ -> 500 external routine exception
            ("39000", "", false, 500), // '3':'9':_ -> 500 external routine invocation
            ("3B000", "", false, 500), // '3':'B':_ -> 500 savepoint exception
            ("40001", "", false, 500), // '4':'0':_ -> 500 tx rollback
            ("40P01", "", false, 500),
            ("53400", "", false, 500), // "53400" -> 500 config limit exceeded
            ("53000", "", false, 503), // '5':'3':_ -> 503 insufficient resources
            ("53300", "", false, 503),
            ("54000", "", false, 500), // '5':'4':_ -> 500 too complex
            ("55P03", "", false, 500), // '5':'5':_ -> 500 obj not on prereq state
            ("57P01", "", false, 503), // "57P01" -> 503 admin shutdown
            ("57014", "", false, 500), // '5':'7':_ -> 500 operator intervention
            ("58030", "", false, 500), // '5':'8':_ -> 500 system error
            ("F0000", "", false, 500), // 'F':'0':_ -> 500 conf file error
            ("HV000", "", false, 500), // 'H':'V':_ -> 500 foreign data wrapper error
            ("P0001", "", false, 400), // "P0001" -> 400 default code for "raise"
            ("P0002", "", false, 500), // 'P':'0':_ -> 500 PL/pgSQL error
            ("XX000", "", false, 500), // 'X':'X':_ -> 500 internal error
            ("42883", "function xmlagg(x) does not exist", false, 406),
            ("42883", "function f() does not exist", false, 404), // undefined function
            ("42P01", "", false, 404),                            // undefined table
            ("42P17", "", false, 500),                            // infinite recursion
            ("42501", "", true, 401),  // "42501" -> 401 for the anon role
            ("42501", "", false, 403), // ... and 403 for any other
            ("PT402", "", false, 402), // 'P':'T':n -> status n
            ("PT4XX", "", false, 500), // ... 500 when n is not a status
            ("22004", "", false, 400), // _ -> 400
            ("22023", "", false, 400),
            ("22P02", "", false, 400),
            ("23514", "", false, 400),
            ("42703", "", false, 400),
        ];
        for (code, message, anonymous, expected) in cases {
            assert_eq!(
                status(code, message, anonymous).as_u16(),
                expected,
                "{code} {message:?} anonymous={anonymous}"
            );
        }
    }
}
