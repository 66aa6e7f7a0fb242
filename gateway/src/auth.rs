//! Who is calling: the verified claims of the request's Bearer token, as PostgREST reads them.
//! A request without a token is the anon role. Every token failure is a 401 that never reaches
//! the database.

use crate::errors::ApiError;
use axum::http::HeaderMap;
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
    /// The `sub` claim, when it is a uuid: the owner the extension will see.
    pub user_id: Option<uuid::Uuid>,
    /// Whether a token was given: PostgREST answers 42501 with 401 without one, 403 with one.
    pub has_token: bool,
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
            .map(|algorithm| (algorithm, validation(algorithm, audience)))
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
                    "PGRST303",
                    "JWT claim \"role\" must be a string",
                ))
            }
        };
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| uuid::Uuid::parse_str(sub).ok());
        Ok(Identity {
            role,
            claims: Value::Object(claims).to_string(),
            user_id,
            has_token: true,
        })
    }

    /// A request without a token: the anon role.
    pub fn anonymous(&self) -> Identity {
        Identity {
            role: self.anon_role.clone(),
            claims: json!({ "role": self.anon_role }).to_string(),
            user_id: None,
            has_token: false,
        }
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
        jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|error| token_error(&error, &self.audience))
    }
}

/// PostgREST's checks: exp and nbf when present, and aud when present; no claim is required.
fn validation(algorithm: Algorithm, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.set_audience(&[audience]);
    validation
}

fn token_error(error: &jsonwebtoken::errors::Error, audience: &str) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => ApiError::unauthorized("PGRST303", "JWT expired"),
        ErrorKind::ImmatureSignature => ApiError::unauthorized("PGRST303", "JWT not yet valid"),
        ErrorKind::InvalidAudience => {
            ApiError::unauthorized("PGRST303", format!("JWT audience is not {audience:?}"))
        }
        ErrorKind::InvalidSignature => {
            ApiError::unauthorized("PGRST301", "JWT signature does not match")
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
