//! `select=`: which columns to return, under which keys, optionally cast. Embedding and
//! spreads find no relationship and aggregates are off, as PostgREST answers them here; JSON
//! paths are refused by name.

use super::refusals::{aggregates_not_allowed, no_relationship};
use super::syntax::{is_identifier_char, Cursor, Failure, SyntaxError, Unsupported};

/// One item of the select list.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    /// `*`: every column, under its own name.
    Star,
    Column {
        name: String,
        /// The JSON key, when not the column's name (`alias:col`).
        alias: Option<String>,
        /// A `::type` cast, as the caller spelled the type.
        cast: Option<String>,
    },
}

impl Item {
    pub fn key(&self) -> Option<&str> {
        match self {
            Item::Star => None,
            Item::Column { name, alias, .. } => Some(alias.as_deref().unwrap_or(name)),
        }
    }
}

const AGGREGATES: [&str; 5] = ["sum", "avg", "count", "max", "min"];

/// The select list; an empty one means every column, as PostgREST reads `select=`.
pub(super) fn parse(text: &str) -> Result<Vec<Item>, Failure> {
    let mut cursor = Cursor::new(text);
    let mut items = Vec::new();
    cursor.skip_blanks();
    if cursor.at_end() {
        return Ok(vec![Item::Star]);
    }
    loop {
        items.push(item(&mut cursor)?);
        cursor.skip_blanks();
        if cursor.at_end() {
            return Ok(items);
        }
        cursor.expect(",", "\",\" or end of input")?;
        cursor.skip_blanks();
    }
}

fn item(cursor: &mut Cursor) -> Result<Item, Failure> {
    if cursor.eat("...") {
        let child = cursor.field_name()?;
        return Err(no_relationship(&child).into());
    }
    if cursor.eat("*") {
        return Ok(Item::Star);
    }
    let alias = alias(cursor);
    if cursor.rest().starts_with("count()") {
        return Err(aggregates_not_allowed().into());
    }
    let name = cursor.field_name()?;
    match cursor.peek() {
        Some('(' | '!') => return Err(no_relationship(&name).into()),
        Some('-') if cursor.rest().starts_with("->") => {
            return Err(Unsupported(format!("a JSON path in select ({name}->...)")).into())
        }
        _ => {}
    }
    let cast = if cursor.eat("::") {
        Some(identifier(cursor)?)
    } else {
        None
    };
    let saved = cursor.save();
    if cursor.eat(".") {
        let function = cursor.take_while(|c| c.is_ascii_alphabetic());
        if AGGREGATES.contains(&function) && cursor.rest().starts_with("()") {
            return Err(aggregates_not_allowed().into());
        }
        cursor.restore(saved);
    }
    cursor.skip_blanks();
    if !(cursor.at_end() || cursor.peek() == Some(',')) {
        return Err(cursor.error("\"::\", \",\" or end of input").into());
    }
    Ok(Item::Column { name, alias, cast })
}

/// `alias:` before a field, when there is one (a `::` is a cast, not an alias).
fn alias(cursor: &mut Cursor) -> Option<String> {
    let saved = cursor.save();
    if let Ok(alias) = cursor.field_name() {
        if cursor.eat(":") && cursor.peek() != Some(':') {
            return Some(alias);
        }
    }
    cursor.restore(saved);
    None
}

/// A cast's type name: PostgREST's identifier characters, trimmed.
fn identifier(cursor: &mut Cursor) -> Result<String, SyntaxError> {
    let name = cursor.take_while(is_identifier_char).trim();
    if name.is_empty() {
        return Err(cursor.error("letter or digit"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::syntax::syntax;
    use super::*;

    fn column(name: &str, alias: Option<&str>, cast: Option<&str>) -> Item {
        Item::Column {
            name: name.into(),
            alias: alias.map(Into::into),
            cast: cast.map(Into::into),
        }
    }

    #[test]
    fn columns_aliases_casts_and_stars() {
        assert_eq!(parse(""), Ok(vec![Item::Star]));
        assert_eq!(parse("*"), Ok(vec![Item::Star]));
        assert_eq!(
            parse("id, name:device_name,ram_gb::text,cores:cpu_cores::int8,*"),
            Ok(vec![
                column("id", None, None),
                column("device_name", Some("name"), None),
                column("ram_gb", None, Some("text")),
                column("cpu_cores", Some("cores"), Some("int8")),
                Item::Star,
            ])
        );
        assert_eq!(
            parse("\"odd,name\":\"a\"\"b\""),
            Err(syntax(
                15,
                "unexpected \"\"\" expecting \"::\", \",\" or end of input"
            ))
        );
        assert_eq!(
            parse("\"odd,name\":\"a b\""),
            Ok(vec![column("a b", Some("odd,name"), None)])
        );
    }

    #[test]
    fn embeds_find_no_relationship_and_aggregates_are_off() {
        for text in [
            "clients(*)",
            "id,clients!inner(*)",
            "c:clients(id)",
            "...clients(name)",
        ] {
            let refused = Failure::Refused(no_relationship("clients"));
            assert_eq!(parse(text), Err(refused), "{text}");
        }
        for text in [
            "count()",
            "total:count()",
            "ram_gb.sum()",
            "ram_gb::text.max()",
        ] {
            let refused = Failure::Refused(aggregates_not_allowed());
            assert_eq!(parse(text), Err(refused), "{text}");
        }
    }

    #[test]
    fn json_paths_are_named() {
        for text in ["data->key", "data->>key"] {
            let what = "a JSON path in select (data->...)".into();
            assert_eq!(parse(text), Err(Failure::Unsupported(Unsupported(what))));
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let cases = [
            (
                "id,",
                4,
                "unexpected end of input expecting field name (* or [a..z0..9_$])",
            ),
            (
                "id::",
                5,
                "unexpected end of input expecting letter or digit",
            ),
            (
                "id;x",
                3,
                "unexpected \";\" expecting \"::\", \",\" or end of input",
            ),
            (
                "id.foo",
                3,
                "unexpected \".\" expecting \"::\", \",\" or end of input",
            ),
        ];
        for (text, column, details) in cases {
            assert_eq!(parse(text), Err(syntax(column, details)), "{text}");
        }
    }
}
