//! The three calls the agent makes, as PostgREST-style RPC (`POST <root>/rpc/<function>` with
//! a JSON object of named arguments), and what each failure means for the caller: retry,
//! register again, or give up. The gateway, PostgREST and Supabase answer the same way.

use crate::specs::Specs;
use crate::token::Token;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The longest part of an unexpected (non-JSON) body kept in a message.
const MAX_BODY_CHARS: usize = 200;

/// The device row register_device returns; the agent needs only its id.
#[derive(Debug, Deserialize)]
pub struct Device {
    pub id: Uuid,
}

/// send_heartbeat's answer.
#[derive(Debug, Deserialize)]
pub struct Heartbeat {
    pub is_active: bool,
    pub next_heartbeat_in_seconds: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// May succeed later: no connection, a timeout, 5xx, 408, 429.
    Transient(String),
    /// The token was refused (401), or there is none to read.
    Unauthorized(String),
    /// 404 with 42P01: the device is unknown, not the caller's, or its owner stopped it.
    Gone(String),
    /// The server refused the request itself; sending it again cannot help.
    Permanent(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transient(message)
            | Failure::Unauthorized(message)
            | Failure::Gone(message)
            | Failure::Permanent(message) => f.write_str(message),
        }
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    root: String,
    token: Token,
}

impl Api {
    pub fn new(
        root: &Url,
        token: Token,
        api_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Api, String> {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(key)
                .map_err(|_| "COMPUTE_AGENT_API_KEY is not a valid header value".to_string())?;
            value.set_sensitive(true);
            headers.insert("apikey", value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("compute-agent/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Api {
            http,
            root: root.as_str().trim_end_matches('/').to_string(),
            token,
        })
    }

    pub fn token(&self) -> &Token {
        &self.token
    }

    pub async fn register(&self, specs: &Specs) -> Result<Device, Failure> {
        self.call("register_device", json!(specs)).await
    }

    pub async fn heartbeat(&self, device: Uuid) -> Result<Heartbeat, Failure> {
        self.call("send_heartbeat", json!({ "device_id": device }))
            .await
    }

    pub async fn deactivate(&self, device: Uuid) -> Result<(), Failure> {
        self.call::<Device>("deactivate_device", json!({ "device_id": device }))
            .await
            .map(|_| ())
    }

    async fn call<T: DeserializeOwned>(&self, function: &str, body: Value) -> Result<T, Failure> {
        let token = self.token.read().map_err(Failure::Unauthorized)?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Failure::Unauthorized(format!(
                "{} is not a valid header value",
                self.token.describe()
            ))
        })?;
        bearer.set_sensitive(true);
        let url = format!("{}/rpc/{function}", self.root);
        let response = self
            .http
            .post(&url)
            .header(AUTHORIZATION, bearer)
            .json(&body)
            .send()
            .await
            .map_err(|error| transport(function, &error))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| transport(function, &error))?;
        if !status.is_success() {
            return Err(classify(function, status, &text));
        }
        parse(&text).map_err(|error| {
            Failure::Permanent(format!(
                "{function}: unexpected answer from {url} (is COMPUTE_API_URL the API root?): {error}: {}",
                excerpt(&text)
            ))
        })
    }
}

/// Every transport problem is worth retrying but a request that cannot be built.
fn transport(function: &str, error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let message = format!("{function}: {kind}: {}", chain(error));
    if error.is_builder() {
        Failure::Permanent(message)
    } else {
        Failure::Transient(message)
    }
}

/// reqwest's own message is the outermost; the cause (refused, DNS, TLS) is further down.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a refusal means, from its status and PostgREST's `{code, message, details, hint}`.
pub fn classify(function: &str, status: StatusCode, body: &str) -> Failure {
    let error: Option<PostgrestError> = serde_json::from_str(body).ok();
    let code = error
        .as_ref()
        .and_then(|e| e.code.clone())
        .filter(|code| !code.is_empty());
    let mut message = format!("{function}: HTTP {}", status.as_u16());
    if let Some(code) = &code {
        message.push_str(&format!(" {code}"));
    }
    match &error {
        Some(error) => {
            if let Some(text) = &error.message {
                message.push_str(&format!(": {text}"));
            }
            if let Some(details) = &error.details {
                message.push_str(&format!(" ({details})"));
            }
            if let Some(hint) = &error.hint {
                message.push_str(&format!(" hint: {hint}"));
            }
        }
        None if !body.trim().is_empty() => message.push_str(&format!(": {}", excerpt(body))),
        None => {}
    }
    match status.as_u16() {
        401 => Failure::Unauthorized(message),
        404 if code.as_deref() == Some("42P01") => Failure::Gone(message),
        408 | 429 | 500..=599 => Failure::Transient(message),
        _ => Failure::Permanent(message),
    }
}

#[derive(Debug, Deserialize)]
struct PostgrestError {
    code: Option<String>,
    message: Option<String>,
    details: Option<String>,
    hint: Option<String>,
}

/// One row: PostgREST answers a function returning one composite with an object; accept a
/// one-row array as well.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let row = match value {
        Value::Array(mut rows) if rows.len() == 1 => rows.remove(0),
        other => other,
    };
    serde_json::from_value(row).map_err(|error| error.to_string())
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() > MAX_BODY_CHARS {
        let cut: String = text.chars().take(MAX_BODY_CHARS).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, body: &str) -> Failure {
        classify(
            "send_heartbeat",
            StatusCode::from_u16(status).unwrap(),
            body,
        )
    }

    fn postgrest(code: &str, message: &str) -> String {
        json!({"code": code, "message": message, "details": null, "hint": null}).to_string()
    }

    #[test]
    fn refusals_are_classified_by_status_and_code() {
        let gone = failure(
            404,
            &json!({"code": "42P01", "message": "device is stopped: its owner deactivated it",
                    "details": null, "hint": "Register the device again with register_device to resume sharing."})
            .to_string(),
        );
        assert_eq!(
            gone,
            Failure::Gone(
                "send_heartbeat: HTTP 404 42P01: device is stopped: its owner deactivated it \
                 hint: Register the device again with register_device to resume sharing."
                    .to_string()
            )
        );
        // Any other 404 is a wrong URL or a missing function: no use registering again.
        assert!(matches!(
            failure(404, &postgrest("PGRST202", "Could not find the function")),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            failure(404, "<html>Not Found</html>"),
            Failure::Permanent(_)
        ));
        for (status, body) in [
            (503, postgrest("PGRST001", "database unreachable")),
            (503, postgrest("53000", "no shared-memory slot left")),
            (504, String::new()),
            (500, "oops".to_string()),
            (502, "<html>Bad Gateway</html>".to_string()),
            (408, String::new()),
            (429, postgrest("", "slow down")),
        ] {
            assert!(
                matches!(failure(status, &body), Failure::Transient(_)),
                "{status} {body}"
            );
        }
        assert!(matches!(
            failure(401, &postgrest("PGRST303", "JWT expired")),
            Failure::Unauthorized(_)
        ));
        for (status, code) in [
            (400, "22003"),
            (400, "23514"),
            (403, "42501"),
            (413, "PGRST102"),
        ] {
            let refused = failure(status, &postgrest(code, "no"));
            assert!(matches!(refused, Failure::Permanent(_)), "{status} {code}");
        }
    }

    #[test]
    fn messages_carry_the_servers_words() {
        let message = failure(
            400,
            &postgrest(
                "23514",
                "device limit reached: a user may register at most 100 devices",
            ),
        )
        .to_string();
        assert_eq!(
            message,
            "send_heartbeat: HTTP 400 23514: device limit reached: a user may register at most 100 devices"
        );
        let long = "x".repeat(1000);
        let message = failure(502, &long).to_string();
        assert!(message.ends_with('…') && message.len() < 300, "{message}");
    }

    #[test]
    fn one_row_is_an_object_or_a_one_row_array() {
        let object = r#"{"device_id":"7f9c24e8-3b12-4fef-91e5-b1f1a2b3c4d5","is_active":true,
                         "last_seen":"2025-01-01T00:00:00Z","next_heartbeat_in_seconds":90}"#;
        let heartbeat: Heartbeat = parse(object).unwrap();
        assert_eq!(heartbeat.next_heartbeat_in_seconds, 90);
        assert!(heartbeat.is_active);
        let device: Device =
            parse(r#"[{"id":"7f9c24e8-3b12-4fef-91e5-b1f1a2b3c4d5","device_name":"x"}]"#).unwrap();
        assert_eq!(
            device.id.to_string(),
            "7f9c24e8-3b12-4fef-91e5-b1f1a2b3c4d5"
        );
        assert!(parse::<Device>("[]").is_err());
        assert!(parse::<Device>("<html></html>").is_err());
        assert!(
            parse::<Heartbeat>(r#"{"next_heartbeat_in_seconds":-1,"is_active":true}"#).is_err()
        );
    }
}
