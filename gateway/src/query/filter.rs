//! Horizontal filtering: `col=op.value` and the `or=(…)`/`and=(…)` trees, in PostgREST's
//! grammar. The operators the gateway serves are parsed; PostgREST's others are named in a 400.

use super::refusals::not_embedded;
use super::syntax::{Cursor, Failure, SyntaxError, Unsupported};

/// A condition on the rows: one filter, or a group joined by AND or OR.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Condition {
    Filter(Filter),
    Group {
        negated: bool,
        all: bool,
        conditions: Vec<Condition>,
    },
}

impl Condition {
    /// How many filters the condition holds, in all its groups.
    pub fn filters(&self) -> usize {
        match self {
            Condition::Filter(_) => 1,
            Condition::Group { conditions, .. } => conditions.iter().map(Condition::filters).sum(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Filter {
    pub column: String,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operation {
    Compare(Comparison, String),
    /// `like`/`ilike`, the pattern with PostgREST's `*` already turned into `%`.
    Like {
        insensitive: bool,
        pattern: String,
    },
    In(Vec<String>),
    Is(Truth),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    /// The pg_catalog operator.
    pub fn operator(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::NotEqual => "<>",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truth {
    Null,
    True,
    False,
    Unknown,
}

impl Truth {
    pub fn keyword(self) -> &'static str {
        match self {
            Truth::Null => "NULL",
            Truth::True => "TRUE",
            Truth::False => "FALSE",
            Truth::Unknown => "UNKNOWN",
        }
    }
}

/// PostgREST's operators that this gateway does not serve.
const UNSUPPORTED_OPERATORS: [&str; 15] = [
    "match",
    "imatch",
    "fts",
    "plfts",
    "phfts",
    "wfts",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxr",
    "nxl",
    "adj",
    "isdistinct",
];

/// Logic trees deeper than this are refused rather than parsed recursively without bound.
const MAX_DEPTH: usize = 64;

const EXPECTING_OPERATOR: &str = "\"not\" or operator (eq, gt, ...)";

/// Where a value ends: a top-level filter's value is the rest of the parameter; inside a
/// logic tree it ends at `,` or `)`.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    TopLevel,
    InTree,
}

/// The filter in the key `column` with the value `op.value`.
pub(super) fn column_filter(key: &str) -> Result<String, Failure> {
    let mut cursor = Cursor::new(key);
    let column = cursor.field_name()?;
    if cursor.peek() == Some('.') {
        return Err(not_embedded(&column).into());
    }
    refuse_json_path(&cursor, &column)?;
    if !cursor.at_end() {
        return Err(cursor.error("\".\" or end of input").into());
    }
    Ok(column)
}

/// `op.value` of a filter on `column`.
pub(super) fn operation(column: String, value: &str) -> Result<Filter, Failure> {
    let mut cursor = Cursor::new(value);
    let filter = filter_operation(&mut cursor, column, Place::TopLevel)?;
    if !cursor.at_end() {
        return Err(cursor.error("end of input").into());
    }
    Ok(filter)
}

/// `or=(…)`, `and=(…)`, `not.or=(…)`: `key` is the parameter's name.
pub(super) fn logic_tree(key: &str, value: &str) -> Result<Condition, Failure> {
    let path: Vec<&str> = key.split('.').collect();
    let embedded = path[..path.len() - 1].iter().find(|part| **part != "not");
    if let Some(child) = embedded {
        return Err(not_embedded(child).into());
    }
    let negation = if path.contains(&"not") { "not." } else { "" };
    let text = format!("{negation}{}{value}", path[path.len() - 1]);
    let mut cursor = Cursor::new(&text);
    let condition = tree(&mut cursor, 0)?;
    if !cursor.at_end() {
        return Err(cursor.error("end of input").into());
    }
    Ok(condition)
}

fn tree(cursor: &mut Cursor, depth: usize) -> Result<Condition, Failure> {
    if depth > MAX_DEPTH {
        return Err(Unsupported(format!("a logic tree nested more than {MAX_DEPTH} deep")).into());
    }
    let start = cursor.save();
    let filter_error = match tree_filter(cursor) {
        Ok(filter) => return Ok(Condition::Filter(filter)),
        Err(Failure::Syntax(error)) => error,
        Err(other) => return Err(other),
    };
    cursor.restore(start);
    match group(cursor, depth) {
        Ok(group) => Ok(group),
        // Parsec reports the alternative that got further.
        Err(Failure::Syntax(error)) if error.column <= filter_error.column => {
            Err(filter_error.into())
        }
        Err(failure) => Err(failure),
    }
}

fn tree_filter(cursor: &mut Cursor) -> Result<Filter, Failure> {
    let column = cursor.field_name()?;
    refuse_json_path(cursor, &column)?;
    cursor.expect(".", "delimiter (.)")?;
    filter_operation(cursor, column, Place::InTree)
}

fn group(cursor: &mut Cursor, depth: usize) -> Result<Condition, Failure> {
    let negated = cursor.eat("not.");
    let all = if cursor.eat("and") {
        true
    } else if cursor.eat("or") {
        false
    } else {
        return Err(cursor.error("logic operator (and, or)").into());
    };
    cursor.skip_blanks();
    cursor.expect("(", "\"(\"")?;
    let mut conditions = Vec::new();
    loop {
        cursor.skip_blanks();
        conditions.push(tree(cursor, depth + 1)?);
        cursor.skip_blanks();
        if cursor.eat(",") {
            continue;
        }
        cursor.expect(")", "\",\" or \")\"")?;
        cursor.skip_blanks();
        return Ok(Condition::Group {
            negated,
            all,
            conditions,
        });
    }
}

fn refuse_json_path(cursor: &Cursor, column: &str) -> Result<(), Unsupported> {
    if cursor.rest().starts_with("->") {
        return Err(Unsupported(format!(
            "filtering on a JSON path ({column}->...)"
        )));
    }
    Ok(())
}

fn filter_operation(cursor: &mut Cursor, column: String, place: Place) -> Result<Filter, Failure> {
    let negated = cursor.eat("not.");
    let before_operator = cursor.save();
    let name = cursor.take_while(|c| c.is_ascii_alphabetic());
    if UNSUPPORTED_OPERATORS.contains(&name) {
        return Err(Unsupported(format!("the operator {name}")).into());
    }
    let comparison = match name {
        "eq" => Some(Comparison::Equal),
        "neq" => Some(Comparison::NotEqual),
        "gt" => Some(Comparison::Greater),
        "gte" => Some(Comparison::GreaterOrEqual),
        "lt" => Some(Comparison::Less),
        "lte" => Some(Comparison::LessOrEqual),
        _ => None,
    };
    if comparison.is_none() && !matches!(name, "like" | "ilike" | "in" | "is") {
        cursor.restore(before_operator);
        return Err(cursor.error(EXPECTING_OPERATOR).into());
    }
    if cursor.peek() == Some('(') {
        let modifier = cursor.take_while(|c| c != ')');
        return Err(Unsupported(format!("the operator modifier {name}{modifier})")).into());
    }
    cursor.expect(".", "delimiter (.)")?;
    let operation = match (name, comparison) {
        (_, Some(comparison)) => Operation::Compare(comparison, single_value(cursor, place)),
        ("like" | "ilike", _) => Operation::Like {
            insensitive: name == "ilike",
            pattern: single_value(cursor, place).replace('*', "%"),
        },
        ("in", _) => Operation::In(list(cursor)?),
        _ => Operation::Is(truth(cursor)?),
    };
    Ok(Filter {
        column,
        negated,
        operation,
    })
}

fn single_value(cursor: &mut Cursor, place: Place) -> String {
    if place == Place::TopLevel {
        return cursor.take_while(|_| true).to_string();
    }
    if let Some(value) = cursor.quoted_item() {
        return value;
    }
    if cursor.peek() == Some('{') {
        let start = cursor.save();
        let array = cursor.take_while(|c| c != '}');
        if !array[1..].contains('{') && cursor.eat("}") {
            return format!("{array}}}");
        }
        cursor.restore(start);
    }
    cursor.take_while(|c| c != ',' && c != ')').to_string()
}

/// `in`'s `(a,"b,c",…)`; PostgREST reads `()` as the empty list.
fn list(cursor: &mut Cursor) -> Result<Vec<String>, SyntaxError> {
    cursor.skip_blanks();
    cursor.expect("(", "\"(\"")?;
    cursor.skip_blanks();
    let mut items = Vec::new();
    loop {
        let item = match cursor.quoted_item() {
            Some(item) => item,
            None => cursor.take_while(|c| c != ',' && c != ')').to_string(),
        };
        items.push(item);
        if cursor.eat(",") {
            continue;
        }
        cursor.expect(")", "\",\" or \")\"")?;
        cursor.skip_blanks();
        if items == [""] {
            items.clear();
        }
        return Ok(items);
    }
}

fn truth(cursor: &mut Cursor) -> Result<Truth, SyntaxError> {
    let truths = [
        ("null", Truth::Null),
        ("true", Truth::True),
        ("false", Truth::False),
        ("unknown", Truth::Unknown),
    ];
    for (word, truth) in truths {
        let given = cursor.rest().get(..word.len());
        if given.is_some_and(|given| given.eq_ignore_ascii_case(word)) {
            cursor.eat(given.unwrap_or(word));
            return Ok(truth);
        }
    }
    Err(cursor.error("null or trilean value (unknown, true, false)"))
}

#[cfg(test)]
mod tests {
    use super::super::syntax::syntax;
    use super::*;

    fn filter(column: &str, negated: bool, operation: Operation) -> Filter {
        Filter {
            column: column.into(),
            negated,
            operation,
        }
    }

    fn compare(comparison: Comparison, value: &str) -> Operation {
        Operation::Compare(comparison, value.into())
    }

    #[test]
    fn each_operator_with_its_value() {
        let cases = [
            (
                "eq.laptop",
                filter("c", false, compare(Comparison::Equal, "laptop")),
            ),
            (
                "neq.a.b",
                filter("c", false, compare(Comparison::NotEqual, "a.b")),
            ),
            (
                "gt.1",
                filter("c", false, compare(Comparison::Greater, "1")),
            ),
            (
                "gte.1",
                filter("c", false, compare(Comparison::GreaterOrEqual, "1")),
            ),
            (
                "lt.(x,y)",
                filter("c", false, compare(Comparison::Less, "(x,y)")),
            ),
            (
                "lte.",
                filter("c", false, compare(Comparison::LessOrEqual, "")),
            ),
            (
                "not.eq.1",
                filter("c", true, compare(Comparison::Equal, "1")),
            ),
            (
                "like.*top*",
                filter(
                    "c",
                    false,
                    Operation::Like {
                        insensitive: false,
                        pattern: "%top%".into(),
                    },
                ),
            ),
            (
                "not.ilike.LAP*",
                filter(
                    "c",
                    true,
                    Operation::Like {
                        insensitive: true,
                        pattern: "LAP%".into(),
                    },
                ),
            ),
            ("is.null", filter("c", false, Operation::Is(Truth::Null))),
            ("is.TRUE", filter("c", false, Operation::Is(Truth::True))),
            (
                "not.is.false",
                filter("c", true, Operation::Is(Truth::False)),
            ),
            (
                "is.unknown",
                filter("c", false, Operation::Is(Truth::Unknown)),
            ),
            ("in.()", filter("c", false, Operation::In(vec![]))),
            (
                "in.(a, \"b,c\",\"d\\\"e\",\"f\"g,)",
                filter(
                    "c",
                    false,
                    Operation::In(vec![
                        "a".into(),
                        " \"b".into(),
                        "c\"".into(),
                        "d\"e".into(),
                        "\"f\"g".into(),
                        "".into(),
                    ]),
                ),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(operation("c".into(), value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn operators_the_gateway_does_not_serve_are_named() {
        let cases = [
            ("match.^a", "the operator match"),
            ("imatch.^a", "the operator imatch"),
            ("fts.cat", "the operator fts"),
            ("plfts(english).cat", "the operator plfts"),
            ("cs.{1}", "the operator cs"),
            ("cd.{1}", "the operator cd"),
            ("ov.{1}", "the operator ov"),
            ("sl.(1,2)", "the operator sl"),
            ("sr.(1,2)", "the operator sr"),
            ("nxr.(1,2)", "the operator nxr"),
            ("nxl.(1,2)", "the operator nxl"),
            ("adj.(1,2)", "the operator adj"),
            ("not.isdistinct.1", "the operator isdistinct"),
            ("eq(any).{1,2}", "the operator modifier eq(any)"),
            ("like(all).{a*,b*}", "the operator modifier like(all)"),
        ];
        for (value, what) in cases {
            assert_eq!(
                operation("c".into(), value),
                Err(Failure::Unsupported(Unsupported(what.into()))),
                "{value}"
            );
        }
    }

    #[test]
    fn bad_filters_are_syntax_errors_where_postgrest_puts_them() {
        let cases = [
            (
                "0",
                1,
                "unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)",
            ),
            (
                "noop.0",
                1,
                "unexpected \"n\" expecting \"not\" or operator (eq, gt, ...)",
            ),
            (
                "not.x",
                5,
                "unexpected \"x\" expecting \"not\" or operator (eq, gt, ...)",
            ),
            ("eq", 3, "unexpected end of input expecting delimiter (.)"),
            (
                "is.nil",
                4,
                "unexpected \"n\" expecting null or trilean value (unknown, true, false)",
            ),
            ("is.nullx", 8, "unexpected \"x\" expecting end of input"),
            ("in.1,2", 4, "unexpected \"1\" expecting \"(\""),
            (
                "in.(1,2",
                8,
                "unexpected end of input expecting \",\" or \")\"",
            ),
            ("in.(1)x", 7, "unexpected \"x\" expecting end of input"),
        ];
        for (value, column, details) in cases {
            assert_eq!(
                operation("c".into(), value),
                Err(syntax(column, details)),
                "{value}"
            );
        }
    }

    #[test]
    fn filter_keys_name_one_column_of_the_resource() {
        assert_eq!(column_filter("device_type"), Ok("device_type".into()));
        assert_eq!(column_filter("\"a.b\""), Ok("a.b".into()));
        assert_eq!(
            column_filter("clients.name"),
            Err(Failure::Refused(not_embedded("clients")))
        );
        assert_eq!(
            column_filter("data->>key"),
            Err(Failure::Unsupported(Unsupported(
                "filtering on a JSON path (data->...)".into()
            )))
        );
    }

    fn leaf(column: &str, operation: Operation) -> Condition {
        Condition::Filter(filter(column, false, operation))
    }

    #[test]
    fn logic_trees_nest() {
        assert_eq!(
            logic_tree("or", "(a.eq.1,and(b.gt.2,c.is.null))"),
            Ok(Condition::Group {
                negated: false,
                all: false,
                conditions: vec![
                    leaf("a", compare(Comparison::Equal, "1")),
                    Condition::Group {
                        negated: false,
                        all: true,
                        conditions: vec![
                            leaf("b", compare(Comparison::Greater, "2")),
                            leaf("c", Operation::Is(Truth::Null)),
                        ],
                    },
                ],
            })
        );
        assert_eq!(
            logic_tree(
                "not.and",
                "( a.in.(1,\"2,3\") , not.or(b.like.x*,b.eq.\"p,q)\"), c.eq.{1,2})"
            ),
            Ok(Condition::Group {
                negated: true,
                all: true,
                conditions: vec![
                    leaf("a", Operation::In(vec!["1".into(), "2,3".into()])),
                    Condition::Group {
                        negated: true,
                        all: false,
                        conditions: vec![
                            leaf(
                                "b",
                                Operation::Like {
                                    insensitive: false,
                                    pattern: "x%".into()
                                }
                            ),
                            leaf("b", compare(Comparison::Equal, "p,q)")),
                        ],
                    },
                    leaf("c", compare(Comparison::Equal, "{1,2}")),
                ],
            })
        );
    }

    #[test]
    fn bad_logic_trees_are_refused() {
        assert_eq!(
            logic_tree("or", "()"),
            Err(syntax(
                4,
                "unexpected \")\" expecting field name (* or [a..z0..9_$])"
            ))
        );
        assert_eq!(
            logic_tree("or", "(a.eq.1,not.xor(b.eq.2))"),
            Err(syntax(
                15,
                "unexpected \"x\" expecting \"not\" or operator (eq, gt, ...)"
            ))
        );
        assert_eq!(
            logic_tree("or", "(a.eq.1)x"),
            Err(syntax(11, "unexpected \"x\" expecting end of input"))
        );
        assert_eq!(
            logic_tree("or", "(a.cs.{1})"),
            Err(Failure::Unsupported(Unsupported("the operator cs".into())))
        );
        assert_eq!(
            logic_tree("not.clients.or", "(a.eq.1)"),
            Err(Failure::Refused(not_embedded("clients")))
        );
        let deep = format!("({}a.eq.1{})", "and(".repeat(100), ")".repeat(100));
        assert_eq!(
            logic_tree("or", &deep),
            Err(Failure::Unsupported(Unsupported(
                "a logic tree nested more than 64 deep".into()
            )))
        );
    }
}
