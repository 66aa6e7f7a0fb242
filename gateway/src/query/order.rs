//! `order=col.asc|desc.nullsfirst|nullslast,…`.

use super::syntax::{Cursor, Failure, Unsupported};

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
        return Err(
            Unsupported(format!("ordering by an embedded resource ({column}(...))")).into(),
        );
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
        let word = cursor.take_while(|c| c.is_ascii_alphanumeric());
        match word {
            "asc" => term.descending = Some(false),
            "desc" => term.descending = Some(true),
            "nullsfirst" => term.nulls_first = Some(true),
            "nullslast" => term.nulls_first = Some(false),
            _ => {
                return Err(back(cursor, word)
                    .error("\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"")
                    .into())
            }
        }
        if term.nulls_first.is_none() && cursor.eat(".") {
            let word = cursor.take_while(|c| c.is_ascii_alphanumeric());
            match word {
                "nullsfirst" => term.nulls_first = Some(true),
                "nullslast" => term.nulls_first = Some(false),
                _ => {
                    return Err(back(cursor, word)
                        .error("\"nullsfirst\" or \"nullslast\"")
                        .into())
                }
            }
        }
    }
    if !(cursor.at_end() || matches!(cursor.peek(), Some(',' | ' ' | '\t'))) {
        return Err(cursor.error("delimiter (.), \",\" or end of input").into());
    }
    Ok(term)
}

/// The cursor moved back over `word`, to report an error at its start.
fn back<'c, 'a>(cursor: &'c mut Cursor<'a>, word: &str) -> &'c mut Cursor<'a> {
    let end = cursor.save();
    cursor.restore(end - word.len());
    cursor
}

#[cfg(test)]
mod tests {
    use super::super::syntax::SyntaxError;
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
            assert_eq!(
                parse(text),
                Err(Failure::Syntax(SyntaxError {
                    column,
                    details: details.into()
                })),
                "{text}"
            );
        }
    }

    #[test]
    fn embedded_and_json_orders_are_named() {
        assert_eq!(
            parse("clients(name).desc"),
            Err(Failure::Unsupported(Unsupported(
                "ordering by an embedded resource (clients(...))".into()
            )))
        );
        assert_eq!(
            parse("data->key"),
            Err(Failure::Unsupported(Unsupported(
                "ordering by a JSON path (data->...)".into()
            )))
        );
    }
}
