//! Verifying Clerk session tokens (`docs/clerk.md`): RS256 only, the instance's public key from
//! `CLERK_JWT_KEY` (no network) or from its JWKS. `exp`, `nbf` and `iat` get 5 s of clock skew;
//! `azp` and `iss` are checked when configured (a configured issuer makes `iss` required). No
//! cryptography here: `jsonwebtoken` (on aws-lc-rs) does it.
//!
//! - **Verified once.** A token that verifies is remembered (bounded, keyed by the SHA-256 of the
//!   exact token string) until its own `exp`, never longer; `exp` and `nbf` are checked again on
//!   every use. A token that fails is never remembered, and a change of the JWKS forgets them all.
//!   Clerk's tokens live 60 s and the web app sends the same one with every call of that minute, so
//!   a hot read pays a hash, not an RSA verification.
//! - **The JWKS** is fetched on the first token, refreshed in the background once older than its
//!   max age, and refetched on an unknown `kid` at most once per floor. A failed fetch counts for
//!   the floor too and backs off; meanwhile the last good keys keep serving, as Clerk's SDKs do.
//!   One fetch runs at a time, with a short timeout: requests never queue behind several.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use moka::sync::Cache as Moka;
use serde::Deserialize;

use crate::config::{KeySource, SessionSettings};
use crate::fields::UserId;

/// Clock skew allowed on `exp`, `nbf` and `iat`, as Clerk's SDK allows.
const LEEWAY_SECS: u64 = 5;
/// One JWKS fetch gives up after this long; requests waiting on it are answered then.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest pause between two JWKS attempts while it keeps failing.
const JWKS_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Verified tokens remembered at most (each about 150 bytes).
const TOKEN_CACHE_ENTRIES: u64 = 10_000;

/// Why a token gave no user.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The token is refused; the sentence goes to the client (401).
    #[error("{0}")]
    Rejected(String),
    /// No key was ever fetched from the JWKS: the token cannot be checked yet (503).
    #[error("session keys are unavailable; try again shortly")]
    KeysUnavailable,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    azp: Option<String>,
    iat: Option<u64>,
    exp: u64,
    nbf: Option<u64>,
}

/// What a verified token established, and the times it is good between.
#[derive(Clone)]
struct Verified {
    user: UserId,
    exp: u64,
    nbf: Option<u64>,
}

impl Verified {
    /// `exp` and `nbf` against the clock now, with the same skew as the first verification.
    fn check_times(&self, now: u64) -> Result<(), SessionError> {
        if self.exp + LEEWAY_SECS < now {
            return Err(reject("session token expired"));
        }
        if self.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
            return Err(reject("session token not yet valid"));
        }
        Ok(())
    }
}

type TokenDigest = [u8; 32];

/// Verified tokens by the SHA-256 of their text, each kept until its `exp`. The digest is hashed
/// with foldhash: it is already uniform, and SipHash would cost more than the lookup.
type TokenCache = Moka<TokenDigest, Verified, foldhash::fast::RandomState>;

struct UntilExp;

impl moka::Expiry<TokenDigest, Verified> for UntilExp {
    fn expire_after_create(
        &self,
        _: &TokenDigest,
        value: &Verified,
        _: Instant,
    ) -> Option<Duration> {
        let now = jsonwebtoken::get_current_timestamp();
        Some(Duration::from_secs(value.exp.saturating_sub(now)))
    }
}

pub struct SessionVerifier {
    keys: Keys,
    validation: Validation,
    authorized_parties: Vec<String>,
    tokens: TokenCache,
    /// Full (RSA) verifications done: the token cache's misses.
    verifications: AtomicU64,
}

enum Keys {
    Static(DecodingKey),
    Jwks(Arc<Jwks>),
}

impl SessionVerifier {
    /// The verifier of `settings` (whose PEM key the configuration already parsed).
    pub fn new(settings: &SessionSettings) -> Result<SessionVerifier, String> {
        let tokens: TokenCache = Moka::builder()
            .max_capacity(TOKEN_CACHE_ENTRIES)
            .expire_after(UntilExp)
            .build_with_hasher(foldhash::fast::RandomState::default());
        let keys = match &settings.keys {
            KeySource::Pem(key) => Keys::Static(key.clone()),
            KeySource::Jwks {
                url,
                refetch_floor,
                max_age,
            } => Keys::Jwks(Arc::new(Jwks::new(
                url,
                *refetch_floor,
                *max_age,
                tokens.clone(),
            )?)),
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        } else {
            validation.set_required_spec_claims(&["exp", "sub"]);
        }
        Ok(SessionVerifier {
            keys,
            validation,
            authorized_parties: settings.authorized_parties.clone(),
            tokens,
            verifications: AtomicU64::new(0),
        })
    }

    /// The user a valid token names: from the token cache, else by a full verification.
    pub async fn verify(&self, token: &str) -> Result<UserId, SessionError> {
        let now = jsonwebtoken::get_current_timestamp();
        let digest = digest(token);
        if let Some(verified) = self.tokens.get(&digest) {
            verified.check_times(now)?;
            return Ok(verified.user);
        }
        // Boxed: the verification's future (the key set's fetch among it) would otherwise make
        // every request's future, a cached token's too, larger by a kilobyte and a half.
        Box::pin(self.verify_and_remember(token, digest, now)).await
    }

    /// A token not in the cache: verified in full, then remembered if valid.
    async fn verify_and_remember(
        &self,
        token: &str,
        digest: TokenDigest,
        now: u64,
    ) -> Result<UserId, SessionError> {
        let verified = self.verify_signature(token).await?;
        verified.check_times(now)?;
        self.tokens.insert(digest, verified.clone());
        Ok(verified.user)
    }

    /// How many tokens were verified in full (signature included) since start-up.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn verify_signature(&self, token: &str) -> Result<Verified, SessionError> {
        let header = decode_header(token).map_err(|_| reject("malformed session token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(reject("session token must be signed with RS256"));
        }
        let key = match &self.keys {
            Keys::Static(key) => key.clone(),
            Keys::Jwks(jwks) => jwks.key(header.kid.as_deref()).await?,
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("session_token_verifications_total").increment(1);
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
        let user = UserId::parse(&claims.sub)
            .map_err(|reason| reject(&format!("session token sub: {reason}")))?;
        Ok(Verified {
            user,
            exp: claims.exp,
            nbf: claims.nbf,
        })
    }
}

fn digest(token: &str) -> TokenDigest {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    bytes
}

fn reject(message: &str) -> SessionError {
    SessionError::Rejected(message.to_owned())
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

struct Jwks {
    url: String,
    client: reqwest::Client,
    state: RwLock<JwksState>,
    /// Held while fetching: one fetch at a time, and requests that need it wait for that one.
    fetching: tokio::sync::Mutex<()>,
    /// A background refresh is under way (so a burst of requests starts one, not one each).
    refreshing: AtomicBool,
    refetch_floor: Duration,
    max_age: Duration,
    /// Forgotten when the key set changes.
    tokens: TokenCache,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, DecodingKey>,
    /// A key set without `kid`s can still verify a token without one.
    unnamed: Vec<DecodingKey>,
    /// The fetched key set as text, to tell a change from a refresh.
    fingerprint: String,
    fetched_at: Option<Instant>,
    /// The last fetch, whether it worked, and how many failed in a row since the last success.
    attempted_at: Option<Instant>,
    failures: u32,
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

    /// Whether another fetch may start: the floor after the last attempt, doubled per failure.
    fn may_fetch(&self, floor: Duration) -> bool {
        let wait = floor
            .saturating_mul(1 << self.failures.min(16))
            .min(JWKS_MAX_BACKOFF.max(floor));
        self.attempted_at.is_none_or(|at| at.elapsed() >= wait)
    }
}

impl Jwks {
    fn new(
        url: &str,
        refetch_floor: Duration,
        max_age: Duration,
        tokens: TokenCache,
    ) -> Result<Jwks, String> {
        let client = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            state: RwLock::new(JwksState::default()),
            fetching: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            refetch_floor,
            max_age,
            tokens,
        })
    }

    /// The key of `kid`: a known one at once (refreshing old keys in the background), an unknown
    /// one after one fetch, if a fetch may run now.
    async fn key(self: &Arc<Self>, kid: Option<&str>) -> Result<DecodingKey, SessionError> {
        let (known, refresh_due) = {
            let state = self.state.read().expect("jwks lock");
            let old = state
                .fetched_at
                .is_some_and(|at| at.elapsed() >= self.max_age);
            (state.find(kid), old && state.may_fetch(self.refetch_floor))
        };
        if let Some(key) = known {
            if refresh_due {
                self.refresh_in_background();
            }
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        let may_fetch = {
            let state = self.state.read().expect("jwks lock");
            // The fetch this request waited for may have brought the key.
            if let Some(key) = state.find(kid) {
                return Ok(key);
            }
            state.may_fetch(self.refetch_floor)
        };
        if may_fetch {
            self.refresh().await;
        }
        let state = self.state.read().expect("jwks lock");
        match state.find(kid) {
            Some(key) => Ok(key),
            None if state.fetched_at.is_none() => Err(SessionError::KeysUnavailable),
            None => Err(reject("session token signed with an unknown key")),
        }
    }

    /// Starts one background refresh, unless one is already under way.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let jwks = Arc::clone(self);
        tokio::spawn(async move {
            if let Ok(_fetching) = jwks.fetching.try_lock() {
                if jwks
                    .state
                    .read()
                    .expect("jwks lock")
                    .may_fetch(jwks.refetch_floor)
                {
                    jwks.refresh().await;
                }
            }
            jwks.refreshing.store(false, Ordering::Release);
        });
    }

    /// One fetch; on success the keys are replaced (and the token cache emptied if they
    /// changed), on failure the last good keys stay and the next attempt waits longer.
    async fn refresh(&self) {
        let fetched = self.fetch().await;
        let mut state = self.state.write().expect("jwks lock");
        state.attempted_at = Some(Instant::now());
        match fetched {
            Ok(mut fetched) => {
                if fetched.fingerprint != state.fingerprint {
                    self.tokens.invalidate_all();
                }
                fetched.attempted_at = state.attempted_at;
                *state = fetched;
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                metrics::counter!("jwks_fetch_failures_total").increment(1);
                tracing::warn!(url = %self.url, %error, failures = state.failures,
                    "JWKS fetch failed; the last good keys stay in use");
            }
        }
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
            fingerprint: serde_json::to_string(&set.keys).unwrap_or_default(),
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
