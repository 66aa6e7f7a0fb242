//! The lexical pieces PostgREST's query parameters share (field names, quoted values, the `.`
//! delimiter) and the ways a parameter fails: a syntax error in Parsec's words, a feature this
//! gateway does not serve, or what PostgREST itself refuses (see `refusals`).

use axum::http::StatusCode;

use crate::errors::ApiError;

/// A position in one parameter's text, counted as Parsec does: the column of a character.
pub(super) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

/// Where and why a parameter did not parse; `parse_error` turns it into PostgREST's PGRST100.
#[derive(Debug, PartialEq)]
pub(super) struct SyntaxError {
    pub column: usize,
    pub details: String,
}

/// What the caller asked for that PostgREST serves and this gateway refuses (named in the 400).
#[derive(Debug, PartialEq)]
pub(super) struct Unsupported(pub String);

/// Each way a parameter can fail.
#[derive(Debug, PartialEq)]
pub(super) enum Failure {
    Syntax(SyntaxError),
    Unsupported(Unsupported),
    /// PostgREST's own answer, given as it is.
    Refused(ApiError),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure::Refused(error)
    }
}

impl From<SyntaxError> for Failure {
    fn from(error: SyntaxError) -> Failure {
        Failure::Syntax(error)
    }
}

impl From<Unsupported> for Failure {
    fn from(unsupported: Unsupported) -> Failure {
        Failure::Unsupported(unsupported)
    }
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    pub fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    pub fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    /// Consumes `prefix` if the text goes on with it.
    pub fn eat(&mut self, prefix: &str) -> bool {
        let found = self.rest().starts_with(prefix);
        if found {
            self.at += prefix.len();
        }
        found
    }

    /// Consumes characters while `keep` holds; what it consumed.
    pub fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&keep) {
            self.next();
        }
        &self.text[start..self.at]
    }

    /// Spaces and tabs, which PostgREST allows around list items.
    pub fn skip_blanks(&mut self) {
        self.take_while(|c| c == ' ' || c == '\t');
    }

    /// 1-based, in characters, as Parsec reports it.
    pub fn column(&self) -> usize {
        self.text[..self.at].chars().count() + 1
    }

    pub fn save(&self) -> usize {
        self.at
    }

    pub fn restore(&mut self, saved: usize) {
        self.at = saved;
    }

    /// A syntax error here: "unexpected <what is here> expecting <expected>".
    pub fn error(&self, expected: &str) -> SyntaxError {
        let found = match self.peek() {
            Some(c) => format!("\"{c}\""),
            None => "end of input".to_string(),
        };
        SyntaxError {
            column: self.column(),
            details: format!("unexpected {found} expecting {expected}"),
        }
    }

    pub fn expect(&mut self, prefix: &str, expected: &str) -> Result<(), SyntaxError> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// PostgREST's field name: a double-quoted value, or identifier characters (letters,
    /// digits, `_`, `$`, spaces) joined by dashes that do not start a `->`, trimmed.
    pub fn field_name(&mut self) -> Result<String, SyntaxError> {
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let start = self.save();
        loop {
            self.take_while(is_identifier_char);
            let before_dash = self.save();
            if self.eat("-") && self.peek() != Some('>') {
                continue;
            }
            self.restore(before_dash);
            break;
        }
        let name = self.text[start..self.at].trim();
        if name.is_empty() || name.split('-').any(|part| part.trim().is_empty()) {
            self.restore(start);
            return Err(self.error("field name (* or [a..z0..9_$])"));
        }
        Ok(name.to_string())
    }

    /// A double-quoted value in which a backslash takes the next character literally. A NUL
    /// is refused: PostgreSQL's names and texts cannot hold one.
    pub fn quoted(&mut self) -> Result<String, SyntaxError> {
        self.expect("\"", "\"\\\"\"")?;
        let mut value = String::new();
        loop {
            if self.peek() == Some('\0') || self.rest().starts_with("\\\0") {
                self.eat("\\");
                return Err(self.error("any character but NUL"));
            }
            match self.next() {
                Some('"') => return Ok(value),
                Some('\\') => match self.next() {
                    Some(c) => value.push(c),
                    None => return Err(self.error("any character")),
                },
                Some(c) => value.push(c),
                None => return Err(self.error("\"\\\"\"")),
            }
        }
    }

    /// A quoted list item or logic value counts only when `,` or `)` (or the end) follows it;
    /// otherwise PostgREST reads the quotes as part of a bare value.
    pub fn quoted_item(&mut self) -> Option<String> {
        let start = self.save();
        match self.quoted() {
            Ok(value) if matches!(self.peek(), None | Some(',' | ')')) => Some(value),
            _ => {
                self.restore(start);
                None
            }
        }
    }
}

pub(super) fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == ' '
}

/// PostgREST's 400 for a parameter that does not parse: PGRST100 with Parsec's position.
pub(super) fn parse_error(what: &str, input: &str, error: SyntaxError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST100",
        format!(
            "\"failed to parse {what} ({input})\" (line 1, column {})",
            error.column
        ),
    )
    .with_details(error.details)
}

/// The 400 for a part of PostgREST's grammar the gateway does not serve, naming it.
pub(super) fn unsupported(parameter: &str, Unsupported(what): Unsupported) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST100",
        format!("{what} is not supported by this gateway"),
    )
    .with_details(format!("in the query parameter {parameter}"))
}

/// The error for `input`, part of `parameter` (`name=value`), whichever way it failed.
pub(super) fn failure(what: &str, input: &str, parameter: &str, failure: Failure) -> ApiError {
    match failure {
        Failure::Syntax(error) => parse_error(what, input, error),
        Failure::Unsupported(feature) => unsupported(parameter, feature),
        Failure::Refused(error) => error,
    }
}

/// A syntax error at `column`, for the tests' expectations.
#[cfg(test)]
pub(super) fn syntax(column: usize, details: &str) -> Failure {
    Failure::Syntax(SyntaxError {
        column,
        details: details.to_string(),
    })
}

/// A double-quoted SQL identifier.
pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_identifiers_joined_by_dashes_or_quoted() {
        let cases = [
            ("identifier", "identifier", ""),
            ("with spaces ", "with spaces", ""),
            ("with-dashes,x", "with-dashes", ",x"),
            ("col->key", "col", "->key"),
            ("$_9", "$_9", ""),
            ("\"a.b\\\"c\".d", "a.b\"c", ".d"),
        ];
        for (text, name, rest) in cases {
            let mut cursor = Cursor::new(text);
            assert_eq!(cursor.field_name().unwrap(), name, "{text}");
            assert_eq!(cursor.rest(), rest, "{text}");
        }
    }

    #[test]
    fn a_quoted_name_refuses_nul() {
        for (text, column) in [("\"a\0b\"", 3), ("\"a\\\0b\"", 4)] {
            let mut cursor = Cursor::new(text);
            assert_eq!(
                cursor.field_name(),
                Err(SyntaxError {
                    column,
                    details: "unexpected \"\0\" expecting any character but NUL".into()
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_missing_field_name_is_a_syntax_error_at_its_column() {
        let mut cursor = Cursor::new(":x");
        assert_eq!(
            cursor.field_name(),
            Err(SyntaxError {
                column: 1,
                details: "unexpected \":\" expecting field name (* or [a..z0..9_$])".into()
            })
        );
    }

    #[test]
    fn identifiers_are_quoted_with_their_quotes_doubled() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
