//! `order=col.asc|desc.nullsfirst|nullslast,…`.

use super::refusals::not_embedded;
use super::syntax::{Cursor, Failure, SyntaxError, Unsupported};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Term {
    pub column: String,
    pub descending: Option<bool>,
    pub nulls_first: Option<bool>,
}

impl Term {
    /// The SQL after the column: `ASC`, `DESC NULLS LAST`, … (empty when nothing was asked).
    pub fn modifiers(&self) -> String {
        let direction = self
            .descending
            .map(|descending| if descending { "DESC" } else { "ASC" });
        let nulls = self
            .nulls_first
            .map(|first| if first { "NULLS FIRST" } else { "NULLS LAST" });
        [direction, nulls]
            .into_iter()
            .flatten()
            .fold(String::new(), |sql, word| sql + " " + word)
    }
}

pub(super) fn parse(text: &str) -> Result<Vec<Term>, Failure> {
    let mut cursor = Cursor::new(text);
    let mut terms = Vec::new();
    loop {
        cursor.skip_blanks();
        terms.push(term(&mut cursor)?);
        cursor.skip_blanks();
        if cursor.at_end() {
            return Ok(terms);
        }
        cursor.expect(",", "\",\" or end of input")?;
    }
}

fn term(cursor: &mut Cursor) -> Result<Term, Failure> {
    let column = cursor.field_name()?;
    if cursor.peek() == Some('(') {
        return Err(not_embedded(&column).into());
    }
    if cursor.rest().starts_with("->") {
        return Err(Unsupported(format!("ordering by a JSON path ({column}->...)")).into());
    }
    let mut term = Term {
        column,
        descending: None,
        nulls_first: None,
    };
    if cursor.eat(".") {
        const ANY: &str = "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"";
        match word(cursor, ANY, |word| direction(word).or(nulls(word)))? {
            Modifier::Direction(descending) => {
                term.descending = Some(descending);
                if cursor.eat(".") {
                    let expected = "\"nullsfirst\" or \"nullslast\"";
                    if let Modifier::Nulls(first) = word(cursor, expected, nulls)? {
                        term.nulls_first = Some(first);
                    }
                }
            }
            Modifier::Nulls(first) => term.nulls_first = Some(first),
        }
    }
    if !(cursor.at_end() || matches!(cursor.peek(), Some(',' | ' ' | '\t'))) {
        return Err(cursor.error("delimiter (.), \",\" or end of input").into());
    }
    Ok(term)
}

enum Modifier {
    /// Descending?
    Direction(bool),
    /// Nulls first?
    Nulls(bool),
}

fn direction(word: &str) -> Option<Modifier> {
    match word {
        "asc" => Some(Modifier::Direction(false)),
        "desc" => Some(Modifier::Direction(true)),
        _ => None,
    }
}

fn nulls(word: &str) -> Option<Modifier> {
    match word {
        "nullsfirst" => Some(Modifier::Nulls(true)),
        "nullslast" => Some(Modifier::Nulls(false)),
        _ => None,
    }
}

/// The next word as `read` reads it, or an error at its start naming what was `expected`.
fn word(
    cursor: &mut Cursor,
    expected: &str,
    read: impl Fn(&str) -> Option<Modifier>,
) -> Result<Modifier, SyntaxError> {
    let start = cursor.save();
    let word = cursor.take_while(|c| c.is_ascii_alphanumeric());
    read(word).ok_or_else(|| {
        cursor.restore(start);
        cursor.error(expected)
    })
}

#[cfg(test)]
mod tests {
    use super::super::syntax::syntax;
    use super::*;

    fn term(column: &str, descending: Option<bool>, nulls_first: Option<bool>) -> Term {
        Term {
            column: column.into(),
            descending,
            nulls_first,
        }
    }

    #[test]
    fn directions_and_nulls() {
        assert_eq!(
            parse("a,b.desc, c.asc.nullslast,d.nullsfirst"),
            Ok(vec![
                term("a", None, None),
                term("b", Some(true), None),
                term("c", Some(false), Some(false)),
                term("d", None, Some(true)),
            ])
        );
        assert_eq!(
            term("x", Some(true), Some(false)).modifiers(),
            " DESC NULLS LAST"
        );
        assert_eq!(term("x", None, None).modifiers(), "");
    }

    #[test]
    fn bad_terms_are_syntax_errors_where_postgrest_puts_them() {
        let cases = [
            (
                "id.ac",
                4,
                "unexpected \"a\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.asc.nlsfst",
                8,
                "unexpected \"n\" expecting \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.descc",
                4,
                "unexpected \"d\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"",
            ),
            (
                "id.asc.nullslast.x",
                17,
                "unexpected \".\" expecting delimiter (.), \",\" or end of input",
            ),
            (
                "",
                1,
                "unexpected end of input expecting field name (* or [a..z0..9_$])",
            ),
        ];
        for (text, column, details) in cases {
            assert_eq!(parse(text), Err(syntax(column, details)), "{text}");
        }
    }

    #[test]
    fn embedded_and_json_orders_are_named() {
        assert_eq!(
            parse("clients(name).desc"),
            Err(Failure::Refused(not_embedded("clients")))
        );
        assert_eq!(
            parse("data->key"),
            Err(Failure::Unsupported(Unsupported(
                "ordering by a JSON path (data->...)".into()
            )))
        );
    }
}
