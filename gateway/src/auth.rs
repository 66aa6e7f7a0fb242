//! Who is calling: the verified claims of the request's Bearer token, as PostgREST reads them.
//! A request without a token is the anon role. Every token failure is a 401 that never reaches
//! the database. The claims are read in the grammar the extension reads `request.jwt.claims`
//! in (`compute-devices-claims`): one JSON object, no key named twice, and a `sub` that names
//! a caller only in the uuid's canonical form. As in PostgREST v12, every refused token is
//! PGRST301 (JwtTokenInvalid).

use crate::errors::ApiError;
use axum::http::HeaderMap;
use compute_devices_claims::Claims;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The database role and the claims a request runs with.
#[derive(Debug, Clone)]
pub struct Identity {
    pub role: String,
    /// `request.jwt.claims`, as JSON text.
    pub claims: String,
    /// The `sub` claim, when it is a canonical uuid: the owner the extension will see. Any
    /// other `sub` is None here and a 42501 in the extension, whichever way the call goes.
    pub user_id: Option<uuid::Uuid>,
    /// Whether a token was given (the seed's protected routes need one).
    pub has_token: bool,
    /// Whether the role is the anon role (with a token or without): PostgREST answers 42501
    /// with 401 for it, 403 for any other.
    pub anonymous: bool,
}

impl Identity {
    /// A request without a token, as `anon_role`.
    pub fn without_token(anon_role: &str) -> Identity {
        Identity {
            role: anon_role.to_string(),
            claims: json!({ "role": anon_role }).to_string(),
            user_id: None,
            has_token: false,
            anonymous: true,
        }
    }
}

pub struct Verifier {
    secret: Option<DecodingKey>,
    /// (key id, algorithm, key) from the JWKS file.
    public_keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    /// The checks for each algorithm a key may use, built once rather than per request.
    validations: Vec<(Algorithm, Validation)>,
    audience: String,
    anon_role: String,
}

/// The asymmetric algorithms a JWKS key may carry.
const PUBLIC_KEY_ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

impl Verifier {
    pub fn new(
        secret: Option<&str>,
        jwks_file: Option<&Path>,
        audience: &str,
        anon_role: &str,
    ) -> Result<Verifier, String> {
        let public_keys = match jwks_file {
            Some(path) => read_jwks(path)?,
            None => Vec::new(),
        };
        let validations = [Algorithm::HS256]
            .into_iter()
            .chain(PUBLIC_KEY_ALGORITHMS)
            .map(|algorithm| (algorithm, validation(algorithm)))
            .collect();
        Ok(Verifier {
            secret: secret.map(|secret| DecodingKey::from_secret(secret.as_bytes())),
            public_keys,
            validations,
            audience: audience.to_string(),
            anon_role: anon_role.to_string(),
        })
    }

    /// The identity of a request with these headers.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(self.anonymous());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|text| {
                text.strip_prefix("Bearer ")
                    .or_else(|| text.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "PGRST301",
                    "Authorization header must be \"Bearer <token>\"",
                )
            })?;
        let claims = self.verify(token)?;
        let role = match claims.get("role") {
            Some(Value::String(role)) if !role.is_empty() => role.clone(),
            None => self.anon_role.clone(),
            Some(_) => {
                return Err(ApiError::unauthorized(
                    "PGRST301",
                    "JWT claim \"role\" must be a string",
                ))
            }
        };
        let user_id = compute_devices_claims::subject(&claims)
            .ok()
            .map(uuid::Uuid::from_bytes);
        Ok(Identity {
            anonymous: role == self.anon_role,
            role,
            claims: Value::Object(claims).to_string(),
            user_id,
            has_token: true,
        })
    }

    /// A request without a token: the anon role.
    pub fn anonymous(&self) -> Identity {
        Identity::without_token(&self.anon_role)
    }

    fn verify(&self, token: &str) -> Result<Map<String, Value>, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| {
            ApiError::unauthorized("PGRST301", format!("JWT is malformed: {error}"))
        })?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref(),
            algorithm if PUBLIC_KEY_ALGORITHMS.contains(&algorithm) => self
                .public_keys
                .iter()
                .find(|(kid, key_algorithm, _)| {
                    *key_algorithm == algorithm
                        && (header.kid.is_none() || header.kid.as_ref() == kid.as_ref())
                })
                .map(|(_, _, key)| key),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::unauthorized(
                "PGRST301",
                format!(
                    "JWT algorithm {:?}{} is not configured",
                    header.alg,
                    header
                        .kid
                        .as_ref()
                        .map(|kid| format!(" with key id {kid:?}"))
                        .unwrap_or_default()
                ),
            )
        })?;
        let validation = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == header.alg)
            .map(|(_, validation)| validation)
            .expect("every algorithm with a key has its validation");
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map(|data| data.claims.0)
            .map_err(|error| token_error(&error))?;
        check_claims(&claims, now(), &self.audience)?;
        Ok(claims)
    }
}

/// The signature and algorithm only: jsonwebtoken skips an `exp`, `nbf` or `aud` it cannot read
/// (a string `exp`, a negative one, an `aud` of 5), so `check_claims` checks those instead.
fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// PostgREST's checks of `exp`, `nbf` and `aud`, each when present (no claim is required), with
/// its PGRST301 answers. `exp` and `nbf` must be numbers (seconds since 1970, no leeway); `aud`
/// a string or an array of strings naming `audience`. As in PostgREST a null `aud` counts as
/// absent; unlike PostgREST an empty array names no audience and is refused (as before).
fn check_claims(claims: &Map<String, Value>, now: i64, audience: &str) -> Result<(), ApiError> {
    let refused = |message: String| ApiError::unauthorized("PGRST301", message);
    let seconds = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(seconds)) => Ok(seconds.as_f64()),
        Some(_) => Err(refused(format!("The JWT '{name}' claim must be a number"))),
    };
    if seconds("exp")?.is_some_and(|exp| exp < now as f64) {
        return Err(refused("JWT expired".to_string()));
    }
    if seconds("nbf")?.is_some_and(|nbf| nbf > now as f64) {
        return Err(refused("JWT not yet valid".to_string()));
    }
    let names_audience = match claims.get("aud") {
        None | Some(Value::Null) => true,
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => {
            auds.iter().any(|aud| aud == audience)
        }
        Some(_) => {
            return Err(refused(
                "The JWT 'aud' claim must be a string or an array of strings".to_string(),
            ))
        }
    };
    if names_audience {
        Ok(())
    } else {
        Err(refused(format!("JWT audience is not {audience:?}")))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

fn token_error(error: &jsonwebtoken::errors::Error) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => {
            ApiError::unauthorized("PGRST301", "JWT signature does not match")
        }
        // The signature held, but the payload is not one JSON object without duplicate keys.
        ErrorKind::Json(_) => {
            ApiError::unauthorized("PGRST301", format!("Parsing claims failed: {error}"))
        }
        _ => ApiError::unauthorized("PGRST301", format!("JWT is invalid: {error}")),
    }
}

fn read_jwks(path: &Path) -> Result<Vec<(Option<String>, Algorithm, DecodingKey)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("JWKS_FILE {}: {error}", path.display()))?;
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|error| format!("JWKS_FILE {} is not a JWK set: {error}", path.display()))?;
    set.keys
        .iter()
        .map(|jwk| {
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|algorithm| algorithm.to_string().parse::<Algorithm>().ok())
                .filter(|algorithm| PUBLIC_KEY_ALGORITHMS.contains(algorithm))
                .ok_or_else(|| {
                    format!(
                        "JWKS_FILE {}: every key needs \"alg\": \"ES256\" or \"RS256\"",
                        path.display()
                    )
                })?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|error| format!("JWKS_FILE {}: {error}", path.display()))?;
            Ok((jwk.common.key_id.clone(), algorithm, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn check(claims: Value) -> Result<(), String> {
        check_claims(claims.as_object().unwrap(), NOW, "authenticated")
            .map_err(|error| format!("{} {}", error.code, error.message))
    }

    #[test]
    fn registered_claims_of_the_right_type_are_checked_by_value() {
        assert_eq!(check(json!({})), Ok(()));
        assert_eq!(check(json!({"exp": NOW, "nbf": NOW, "aud": null})), Ok(()));
        assert_eq!(
            check(json!({"exp": NOW as f64 + 0.5, "aud": ["x", "authenticated"]})),
            Ok(())
        );
        assert_eq!(
            check(json!({"exp": NOW - 1})),
            Err("PGRST301 JWT expired".into())
        );
        assert_eq!(
            check(json!({"exp": -1})),
            Err("PGRST301 JWT expired".into())
        );
        assert_eq!(
            check(json!({"nbf": NOW + 1})),
            Err("PGRST301 JWT not yet valid".into())
        );
        for aud in [json!("x"), json!([]), json!(["x"])] {
            let refused = check(json!({ "aud": aud })).unwrap_err();
            assert!(
                refused.starts_with("PGRST301 JWT audience is not"),
                "{refused}"
            );
        }
    }

    #[test]
    fn registered_claims_of_another_type_are_refused() {
        let cases = [
            (json!({"exp": "soon"}), "'exp' claim must be a number"),
            (json!({"exp": null}), "'exp' claim must be a number"),
            (json!({"exp": [NOW + 60]}), "'exp' claim must be a number"),
            (json!({"nbf": true}), "'nbf' claim must be a number"),
            (json!({"nbf": {"at": 0}}), "'nbf' claim must be a number"),
            (
                json!({"aud": 5}),
                "'aud' claim must be a string or an array of strings",
            ),
            (
                json!({"aud": ["authenticated", 5]}),
                "'aud' claim must be a string",
            ),
            (
                json!({"aud": {"authenticated": true}}),
                "'aud' claim must be a string",
            ),
        ];
        for (claims, says) in cases {
            let refused = check(claims.clone()).unwrap_err();
            assert!(
                refused.starts_with("PGRST301 ") && refused.contains(says),
                "{claims}: {refused}"
            );
        }
    }
}
