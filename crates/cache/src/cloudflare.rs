//! The Cloudflare Workers KV backend, through Cloudflare's REST API
//! (`docs/cloudflare-kv.md`: its endpoints, envelope, error codes and limits).
//!
//! Every call passes, in order: the 429 pause (Cloudflare refused us: nothing is sent until its
//! `retry-after` passes), the circuit breaker (repeated failures: nothing is sent for a while but
//! one probe), and the request budget. Network errors and 5xx are retried with jittered backoff,
//! each attempt paid from the budget.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use reqwest::{header, Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::budget::{Budget, Priority};
use crate::{ApiMessage, CacheError, KvStore};

pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// Characters of a key sent as they are; everything else is percent-encoded (`.` included, so
/// no key can read as a relative path segment).
const KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// Cloudflare's bulk delete takes at most this many keys.
const BULK_LIMIT: usize = 10_000;

/// Derived `Debug` is safe: the token is a `SecretString`, which prints as redacted.
#[derive(Clone, Debug)]
pub struct CloudflareOptions {
    pub api_base: String,
    pub account_id: String,
    pub namespace_id: String,
    pub token: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Further attempts after a network error or a 5xx.
    pub retries: u32,
    /// First backoff; doubled per attempt, plus up to as much again in jitter.
    pub retry_backoff: Duration,
    /// Calls allowed in any five minutes (Cloudflare's account-wide limit is 1,200).
    pub budget_per_five_minutes: u32,
    /// Share of the budget (percent) only invalidations may use.
    pub budget_reserved_percent: u32,
    /// Pause after a 429 that carries no `retry-after` (Cloudflare blocks for five minutes).
    pub default_pause: Duration,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call.
    pub breaker_open_for: Duration,
}

impl CloudflareOptions {
    pub fn new(
        account_id: impl Into<String>,
        namespace_id: impl Into<String>,
        token: SecretString,
    ) -> Self {
        CloudflareOptions {
            api_base: DEFAULT_API_BASE.into(),
            account_id: account_id.into(),
            namespace_id: namespace_id.into(),
            token,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            budget_per_five_minutes: 900,
            budget_reserved_percent: 20,
            default_pause: Duration::from_secs(300),
            breaker_failures: 3,
            breaker_open_for: Duration::from_secs(10),
        }
    }
}

/// The KV namespace of one Cloudflare account. Built once at start-up and shared.
pub struct CloudflareKv {
    client: reqwest::Client,
    namespace_url: String,
    options: CloudflareOptions,
    budget: Budget,
    paused_until: Mutex<Option<Instant>>,
    breaker: Breaker,
}

impl fmt::Debug for CloudflareKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareKv")
            .field("namespace_url", &self.namespace_url)
            .finish_non_exhaustive()
    }
}

/// Cloudflare's JSON envelope, as far as errors go.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

impl CloudflareKv {
    pub fn new(options: CloudflareOptions) -> Result<CloudflareKv, CacheError> {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("formula-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CacheError::Unavailable(format!("HTTP client: {e}")))?;
        let namespace_url = format!(
            "{}/accounts/{}/storage/kv/namespaces/{}",
            options.api_base.trim_end_matches('/'),
            utf8_percent_encode(&options.account_id, KEY_SAFE),
            utf8_percent_encode(&options.namespace_id, KEY_SAFE),
        );
        Ok(CloudflareKv {
            client,
            namespace_url,
            budget: Budget::new(
                options.budget_per_five_minutes,
                options.budget_reserved_percent,
            ),
            paused_until: Mutex::new(None),
            breaker: Breaker::new(options.breaker_failures, options.breaker_open_for),
            options,
        })
    }

    fn value_url(&self, key: &str) -> String {
        format!(
            "{}/values/{}",
            self.namespace_url,
            utf8_percent_encode(key, KEY_SAFE)
        )
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(self.options.token.expose_secret())
    }

    /// Sends one logical call through the pause, the breaker, the budget and the retries.
    async fn call(
        &self,
        operation: &'static str,
        priority: Priority,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, CacheError> {
        let result = self.send(priority, build).await;
        let outcome = match &result {
            Ok(response) if response.status().is_success() => "ok",
            Ok(response) if response.status() == StatusCode::NOT_FOUND => "not_found",
            Ok(_) => "refused",
            Err(CacheError::Throttled) => "throttled",
            Err(CacheError::Unavailable(_)) => "unavailable",
            Err(_) => "error",
        };
        metrics::counter!("kv_calls_total", "op" => operation, "outcome" => outcome).increment(1);
        result
    }

    async fn send(
        &self,
        priority: Priority,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, CacheError> {
        self.check_pause()?;
        let mut attempt = 0;
        loop {
            if !self.breaker.allow() {
                return Err(CacheError::Unavailable(
                    "circuit open after repeated failures".into(),
                ));
            }
            if !self.budget.take(priority) {
                self.breaker.release_probe();
                return Err(CacheError::Throttled);
            }
            metrics::counter!("kv_requests_sent_total").increment(1);
            let outcome = build().send().await;
            let retriable = match &outcome {
                Ok(response) => response.status().is_server_error(),
                Err(_) => true,
            };
            if !retriable {
                self.breaker.record(true);
                return outcome.map_err(|e| CacheError::Unavailable(e.without_url().to_string()));
            }
            self.breaker.record(false);
            if attempt >= self.options.retries {
                return match outcome {
                    Ok(response) => Err(backend_error(response).await),
                    Err(error) => Err(unreachable(error)),
                };
            }
            attempt += 1;
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.retry_backoff * 2u32.pow(attempt - 1);
        let jitter = rand::thread_rng().gen_range(0..=base.as_millis() as u64);
        base + Duration::from_millis(jitter)
    }

    fn check_pause(&self) -> Result<(), CacheError> {
        let mut paused = self.paused_until.lock().expect("pause lock");
        match *paused {
            Some(until) if Instant::now() < until => Err(CacheError::Unavailable(format!(
                "Cloudflare rate limit: calls paused for {}s more",
                (until - Instant::now()).as_secs() + 1
            ))),
            Some(_) => {
                *paused = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A 429 from Cloudflare: stop every call for its `retry-after` (or five minutes).
    fn pause(&self, response: &Response) -> Duration {
        let pause = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(self.options.default_pause);
        *self.paused_until.lock().expect("pause lock") = Some(Instant::now() + pause);
        tracing::warn!(
            seconds = pause.as_secs(),
            "Cloudflare answered 429: pausing every KV call"
        );
        pause
    }

    /// Turns a non-success answer into an error; a 429 pauses the client first. A 429 to a value
    /// write without `retry-after` is Cloudflare's one-write-per-second-per-key limit: the write
    /// is refused, nothing is paused.
    async fn refused(&self, response: Response, is_value_write: bool) -> CacheError {
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let per_key = is_value_write && !response.headers().contains_key(header::RETRY_AFTER);
            if !per_key {
                self.pause(&response);
            }
        }
        backend_error(response).await
    }
}

/// The typed error of a refused call, with Cloudflare's codes and messages.
async fn backend_error(response: Response) -> CacheError {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let errors = serde_json::from_slice::<Envelope>(&body)
        .map(|envelope| envelope.errors)
        .unwrap_or_default();
    CacheError::Backend { status, errors }
}

fn unreachable(error: reqwest::Error) -> CacheError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    CacheError::Unavailable(format!("Cloudflare KV {kind}: {}", error.without_url()))
}

#[async_trait]
impl KvStore for CloudflareKv {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let url = self.value_url(key);
        let response = self
            .call("get", Priority::Value, || self.request(Method::GET, &url))
            .await?;
        match response.status() {
            StatusCode::OK => response.bytes().await.map(Some).map_err(unreachable),
            StatusCode::NOT_FOUND => match backend_error(response).await {
                // 10013 is a missing namespace: a configuration error, not a miss.
                CacheError::Backend { errors, .. } if errors.iter().any(|e| e.code == 10013) => {
                    Err(CacheError::Backend {
                        status: 404,
                        errors,
                    })
                }
                _ => Ok(None),
            },
            _ => Err(self.refused(response, false).await),
        }
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let url = format!(
            "{}?expiration_ttl={}",
            self.value_url(key),
            ttl.as_secs().max(crate::MIN_TTL_SECS)
        );
        let response = self
            .call("put", Priority::Value, || {
                self.request(Method::PUT, &url)
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .body(value.clone())
            })
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.refused(response, true).await)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let url = self.value_url(key);
        let response = self
            .call("delete", Priority::Invalidation, || {
                self.request(Method::DELETE, &url)
            })
            .await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.refused(response, false).await)
    }

    /// One bulk call per 10,000 keys; a single key uses the plain delete.
    async fn delete_many(&self, keys: &[String]) -> Result<(), CacheError> {
        if let [key] = keys {
            return self.delete(key).await;
        }
        let url = format!("{}/bulk/delete", self.namespace_url);
        for chunk in keys.chunks(BULK_LIMIT) {
            let response = self
                .call("bulk_delete", Priority::Invalidation, || {
                    self.request(Method::POST, &url).json(chunk)
                })
                .await?;
            if !response.status().is_success() {
                return Err(self.refused(response, false).await);
            }
        }
        Ok(())
    }
}

/// Opens after `threshold` consecutive failures; after `open_for`, lets one probe through.
struct Breaker {
    state: Mutex<BreakerState>,
    threshold: u32,
    open_for: Duration,
}

enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    Probing,
}

impl Breaker {
    fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn allow(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::Probing;
                true
            }
            BreakerState::Open { .. } | BreakerState::Probing => false,
        }
    }

    /// A probe that was let through but not sent: let the next call probe instead.
    fn release_probe(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if matches!(*state, BreakerState::Probing) {
            *state = BreakerState::Open {
                until: Instant::now(),
            };
        }
    }

    fn record(&self, success: bool) {
        let mut state = self.state.lock().expect("breaker lock");
        *state = match (&*state, success) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => {
                tracing::warn!(
                    seconds = self.open_for.as_secs_f64(),
                    "Cloudflare KV failing: circuit open"
                );
                BreakerState::Open {
                    until: Instant::now() + self.open_for,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded() {
        let encoded = utf8_percent_encode("a/b?c d.e:f_g-h", KEY_SAFE).to_string();
        assert_eq!(encoded, "a%2Fb%3Fc%20d%2Ee%3Af_g-h");
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.record(false);
        assert!(breaker.allow());
        breaker.record(false);
        assert!(!breaker.allow(), "open after two failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "one probe after the pause");
        assert!(!breaker.allow(), "only one");
        breaker.record(true);
        assert!(breaker.allow());
    }

    #[test]
    fn debug_never_prints_the_token() {
        let options = CloudflareOptions::new("acc", "ns", SecretString::from("s3cr3t-token"));
        assert!(!format!("{options:?}").contains("s3cr3t"));
        let kv = CloudflareKv::new(options).unwrap();
        assert!(!format!("{kv:?}").contains("s3cr3t"));
    }
}
