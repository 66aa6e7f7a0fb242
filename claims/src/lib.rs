//! The one grammar of the JWT claims that both the extension (reading `request.jwt.claims`) and
//! the gateway (reading a verified token) accept, so that a token is either good everywhere or
//! refused everywhere.
//!
//! - The claims are one JSON object. An array, a scalar, or an object that names any key twice
//!   (at any depth) is refused: JSON parsers disagree on which duplicate wins, and a claim must
//!   never be read by position.
//! - `sub`, when a caller is needed, is a string holding a uuid in its canonical written form:
//!   8-4-4-4-12 hexadecimal digits (either case), nothing before or after it. No braces, no
//!   `urn:uuid:`, no missing dashes.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why claims name no caller. Each is a 42501 in the extension and a refusal in the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not JSON, or JSON with a key named twice.
    Malformed,
    /// JSON, but not an object.
    NotAnObject,
    NoSub,
    /// `sub` is there but is not a string holding a canonical uuid.
    SubNotAUuid,
}

impl ClaimsError {
    pub fn reason(self) -> &'static str {
        match self {
            ClaimsError::Malformed => "request.jwt.claims is not valid JSON without duplicate keys",
            ClaimsError::NotAnObject => "request.jwt.claims is not a JSON object",
            ClaimsError::NoSub => "request.jwt.claims has no sub claim",
            ClaimsError::SubNotAUuid => {
                "the sub claim is not a uuid (8-4-4-4-12 hexadecimal digits)"
            }
        }
    }
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The claims object, parsed strictly (see the module comment).
pub fn parse_claims(text: &str) -> Result<Map<String, Value>, ClaimsError> {
    let value = serde_json::from_str::<Strict>(text)
        .map_err(|_| ClaimsError::Malformed)?
        .0;
    match value {
        Value::Object(claims) => Ok(claims),
        _ => Err(ClaimsError::NotAnObject),
    }
}

/// Claims as a type to deserialize into (a JWT library's payload type, say): a JSON object that
/// names no key twice at any depth, or a deserialization error.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(StrictVisitor)? {
            Value::Object(claims) => Ok(Claims(claims)),
            _ => Err(de::Error::custom(ClaimsError::NotAnObject.reason())),
        }
    }
}

/// The caller named by parsed claims: their `sub`, as the uuid's 16 bytes.
pub fn subject(claims: &Map<String, Value>) -> Result<[u8; 16], ClaimsError> {
    match claims.get("sub") {
        None => Err(ClaimsError::NoSub),
        Some(Value::String(sub)) => parse_uuid(sub).ok_or(ClaimsError::SubNotAUuid),
        Some(_) => Err(ClaimsError::SubNotAUuid),
    }
}

/// The caller named by claims in their JSON text.
pub fn caller_id(claims: &str) -> Result<[u8; 16], ClaimsError> {
    subject(&parse_claims(claims)?)
}

/// A uuid in its canonical written form, 8-4-4-4-12 hexadecimal digits of either case.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    let text = text.as_bytes();
    if text.len() != 36 || DASHES.iter().any(|&at| text[at] != b'-') {
        return None;
    }
    let mut digits = text
        .iter()
        .enumerate()
        .filter(|(at, _)| !DASHES.contains(at))
        .map(|(_, digit)| char::from(*digit).to_digit(16));
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        *byte = (digits.next()?? * 16 + digits.next()??) as u8;
    }
    Some(bytes)
}

/// A JSON value whose objects, at every depth, name each key once.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate keys")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10";

    #[test]
    fn a_canonical_sub_is_the_caller_in_either_case() {
        let lower = caller_id(&format!(r#"{{"sub":"{ALICE}","role":"authenticated"}}"#));
        let upper = caller_id(&format!(r#"{{"sub":"{}"}}"#, ALICE.to_uppercase()));
        assert_eq!(lower, upper);
        assert_eq!(lower.unwrap()[..4], [0x0b, 0x1e, 0x4a, 0x52]);
    }

    #[test]
    fn every_other_form_is_refused() {
        let cases = [
            ("", ClaimsError::Malformed),
            ("not json", ClaimsError::Malformed),
            (r#"{"sub":"a","sub":"b"}"#, ClaimsError::Malformed),
            (
                r#"{"role":"x","app":{"k":1,"k":2},"sub":"x"}"#,
                ClaimsError::Malformed,
            ),
            (
                r#"[{"sub":"0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"}]"#,
                ClaimsError::NotAnObject,
            ),
            (
                r#"["0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"]"#,
                ClaimsError::NotAnObject,
            ),
            ("42", ClaimsError::NotAnObject),
            ("null", ClaimsError::NotAnObject),
            (r#"{"role":"anon"}"#, ClaimsError::NoSub),
            (r#"{"sub":42}"#, ClaimsError::SubNotAUuid),
            (r#"{"sub":null}"#, ClaimsError::SubNotAUuid),
            (
                r#"{"sub":["0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"]}"#,
                ClaimsError::SubNotAUuid,
            ),
            (r#"{"sub":"alice"}"#, ClaimsError::SubNotAUuid),
            (
                r#"{"sub":"0b1e4a526f0e4c399d4c2f5a1c7e9b10"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":"{0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10}"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":"urn:uuid:0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":" 0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":"0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b1g"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":"0b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b1é"}"#,
                ClaimsError::SubNotAUuid,
            ),
            (
                r#"{"sub":"+b1e4a52-6f0e-4c39-9d4c-2f5a1c7e9b10"}"#,
                ClaimsError::SubNotAUuid,
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(caller_id(claims), Err(expected), "{claims}");
        }
    }

    #[test]
    fn the_claims_type_is_as_strict() {
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"a","role":"x"}"#).is_ok());
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"["sub"]"#).is_err());
    }

    #[test]
    fn strict_parsing_keeps_every_value() {
        let claims = parse_claims(r#"{"a":[1,2.5,{"b":null}],"c":true,"d":-3,"e":"x"}"#).unwrap();
        assert_eq!(
            Value::Object(claims),
            serde_json::json!({"a":[1,2.5,{"b":null}],"c":true,"d":-3,"e":"x"})
        );
    }
}
