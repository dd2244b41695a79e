//! Verifying Clerk session tokens: RS256 only, with the instance's public key from
//! `CLERK_JWT_KEY` (no network) or from its JWKS (fetched, cached, refetched on an unknown `kid`
//! at most once per floor). `exp`, `nbf` and `iat` get 5 s of clock skew; `azp` and `iss` are
//! checked when configured. No cryptography here: `jsonwebtoken` does it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::fields::UserId;

/// Clock skew allowed on `exp`, `nbf` and `iat`, as Clerk's SDK allows.
const LEEWAY_SECS: u64 = 5;
/// How long fetched keys are trusted before a refetch (Clerk's SDK: 5 minutes).
const JWKS_TTL: Duration = Duration::from_secs(300);

/// Where the public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `CLERK_JWT_KEY`: the PEM of the instance's RSA public key.
    Pem(String),
    /// `CLERK_JWKS_URL`, and the least time between two fetches.
    Jwks {
        url: String,
        refetch_floor: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub keys: KeySource,
    /// `CLERK_AUTHORIZED_PARTIES`: accepted `azp` values; empty accepts any.
    pub authorized_parties: Vec<String>,
    /// `CLERK_ISSUER`: the required `iss`, when set.
    pub issuer: Option<String>,
}

/// Why a token was refused; the sentence goes to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

#[derive(Deserialize)]
struct Claims {
    sub: String,
    azp: Option<String>,
    iat: Option<u64>,
}

pub struct SessionVerifier {
    keys: Keys,
    validation: Validation,
    authorized_parties: Vec<String>,
}

enum Keys {
    Static(DecodingKey),
    Jwks(Jwks),
}

impl SessionVerifier {
    pub fn new(settings: &SessionSettings) -> Result<SessionVerifier, String> {
        let keys = match &settings.keys {
            KeySource::Pem(pem) => Keys::Static(parse_pem(pem)?),
            KeySource::Jwks { url, refetch_floor } => Keys::Jwks(Jwks::new(url, *refetch_floor)?),
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(SessionVerifier {
            keys,
            validation,
            authorized_parties: settings.authorized_parties.clone(),
        })
    }

    /// The user a valid token names.
    pub async fn verify(&self, token: &str) -> Result<UserId, Rejected> {
        let header = decode_header(token).map_err(|_| reject("malformed session token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(reject("session token must be signed with RS256"));
        }
        let key = match &self.keys {
            Keys::Static(key) => key.clone(),
            Keys::Jwks(jwks) => jwks.key(header.kid.as_deref()).await?,
        };
        let claims = decode::<Claims>(token, &key, &self.validation)
            .map_err(|error| reject(describe(error.kind())))?
            .claims;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS) {
            return Err(reject("session token issued in the future"));
        }
        if !self.authorized_parties.is_empty()
            && !claims
                .azp
                .as_ref()
                .is_some_and(|azp| self.authorized_parties.contains(azp))
        {
            return Err(reject(
                "session token was not issued for an authorized party",
            ));
        }
        UserId::parse(&claims.sub).map_err(|reason| reject(&format!("session token sub: {reason}")))
    }
}

fn reject(message: &str) -> Rejected {
    Rejected(message.to_owned())
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "session token expired",
        ErrorKind::ImmatureSignature => "session token not yet valid",
        ErrorKind::InvalidIssuer => "session token has the wrong issuer",
        ErrorKind::InvalidSignature => "session token signature does not verify",
        ErrorKind::InvalidAlgorithm => "session token must be signed with RS256",
        ErrorKind::MissingRequiredClaim(_) => "session token lacks a required claim",
        _ => "invalid session token",
    }
}

/// The PEM of an RSA public key; literal `\n` sequences (as env files often hold) are newlines.
pub fn parse_pem(pem: &str) -> Result<DecodingKey, String> {
    let pem = pem.trim().replace("\\n", "\n");
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| "not the PEM of an RSA public key (-----BEGIN PUBLIC KEY-----)".into())
}

struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<JwksState>,
    /// Held while fetching, so concurrent misses fetch once.
    fetching: Mutex<()>,
    refetch_floor: Duration,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, DecodingKey>,
    /// A key set without `kid`s can still verify a token without one.
    unnamed: Vec<DecodingKey>,
    fetched_at: Option<Instant>,
}

impl JwksState {
    fn find(&self, kid: Option<&str>) -> Option<DecodingKey> {
        match kid {
            Some(kid) => self.keys.get(kid).cloned(),
            None if self.keys.len() + self.unnamed.len() == 1 => {
                self.keys.values().chain(&self.unnamed).next().cloned()
            }
            None => None,
        }
    }

    /// The key, unless it is unknown or the set is older than `JWKS_TTL`.
    fn fresh_key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let fresh = self.fetched_at.is_some_and(|at| at.elapsed() < JWKS_TTL);
        fresh.then(|| self.find(kid)).flatten()
    }
}

impl Jwks {
    fn new(url: &str, refetch_floor: Duration) -> Result<Jwks, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            keys: RwLock::new(JwksState::default()),
            fetching: Mutex::new(()),
            refetch_floor,
        })
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, Rejected> {
        if let Some(key) = self.keys.read().await.fresh_key(kid) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        let may_fetch = {
            let state = self.keys.read().await;
            // Another request may have fetched while this one waited for the lock.
            if let Some(key) = state.fresh_key(kid) {
                return Ok(key);
            }
            state
                .fetched_at
                .is_none_or(|at| at.elapsed() >= self.refetch_floor)
        };
        if may_fetch {
            match self.fetch().await {
                Ok(fetched) => *self.keys.write().await = fetched,
                Err(error) => tracing::warn!(url = %self.url, %error, "JWKS fetch failed"),
            }
        }
        self.keys
            .read()
            .await
            .find(kid)
            .ok_or_else(|| reject("session token signed with an unknown key"))
    }

    async fn fetch(&self) -> Result<JwksState, String> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.without_url().to_string())?
            .json()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let mut state = JwksState {
            fetched_at: Some(Instant::now()),
            ..JwksState::default()
        };
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    state.keys.insert(kid.clone(), key);
                }
                None => state.unnamed.push(key),
            }
        }
        tracing::info!(
            keys = state.keys.len() + state.unnamed.len(),
            "JWKS fetched"
        );
        Ok(state)
    }
}
