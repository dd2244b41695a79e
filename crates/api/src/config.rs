//! Settings, read once from the environment (and `.env`). Every variable is optional; a value
//! that is present but wrong stops start-up with a message naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use formula_cache::CloudflareOptions;
use secrecy::SecretString;

use crate::auth::AuthMode;
use crate::session::{KeySource, SessionSettings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://formula.db";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:3002";
pub const DEFAULT_CORS_ORIGINS: &str = "http://localhost:3000";

/// A variable whose value was refused.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The variable (or variables, comma-separated) at fault.
    pub name: String,
    pub reason: String,
}

/// The variables that name a Cloudflare KV namespace; all three are needed once one is set.
pub const CLOUDFLARE_VARIABLES: [&str; 3] = [
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_KV_NAMESPACE",
    "CLOUDFLARE_KV_API_TOKEN",
];

/// Where cached values live.
#[derive(Debug, Clone)]
pub enum CacheBackend {
    /// In this process only (the embedded default).
    Memory,
    /// Cloudflare Workers KV, through its REST API.
    Cloudflare(CloudflareOptions),
}

/// Which origins may call the API from a browser.
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<HeaderValue>),
}

#[derive(Debug, Clone)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold a password: never printed.
    pub database_url: SecretString,
    /// A direct connection for migrations and LISTEN when `database_url` is pooled (Neon's
    /// `DATABASE_URL_UNPOOLED`).
    pub database_url_unpooled: Option<SecretString>,
    pub database_max_connections: u32,
    pub auto_migrate: bool,
    pub bind_addr: SocketAddr,
    /// Serve `/metrics` on this address instead of `BIND_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
    pub cors_origins: CorsOrigins,
    /// How long browsers may reuse a preflight's answer.
    pub cors_max_age: Duration,
    pub cache_backend: CacheBackend,
    pub cache_ttl: Duration,
    /// TTL of in-process values in front of Cloudflare KV.
    pub local_cache_ttl: Duration,
    pub memory_cache_max_bytes: u64,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Time a client has to send a request's headers, counted from when the connection waits
    /// for one: also how long an idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// Most client connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    pub auth_mode: AuthMode,
    /// How session tokens are verified (`AUTH_MODE=clerk`).
    pub session: Option<SessionSettings>,
    /// Svix signing secret of the Clerk webhook; without it the webhook answers 503.
    pub webhook_secret: Option<SecretString>,
    /// When set, the keep-alive route requires `Authorization: Bearer <CRON_SECRET>`.
    pub cron_secret: Option<SecretString>,
    pub log_format: LogFormat,
}

/// Every variable the service reads, with its default and meaning: `api --help` prints it, and
/// a test keeps `.env.example` listing exactly these.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "SQLite file ./formula.db",
        "postgres://… for production, sqlite://path for embedded",
    ),
    (
        "DATABASE_URL_UNPOOLED",
        "",
        "direct postgres://… URL for migrations and LISTEN when DATABASE_URL goes through PgBouncer (Neon's -pooler hosts)",
    ),
    (
        "DATABASE_MAX_CONNECTIONS",
        "10",
        "pool size (SQLite uses at most 4)",
    ),
    ("AUTO_MIGRATE", "true", "apply migrations at start-up"),
    (
        "BIND_ADDR",
        DEFAULT_BIND_ADDR,
        "address and port to listen on",
    ),
    (
        "METRICS_ADDR",
        "",
        "serve /metrics on this address instead of BIND_ADDR",
    ),
    (
        "CORS_ALLOWED_ORIGINS",
        DEFAULT_CORS_ORIGINS,
        "comma-separated origins of the web app, or *",
    ),
    (
        "CORS_MAX_AGE_SECONDS",
        "600",
        "how long browsers may reuse a preflight answer (Access-Control-Max-Age)",
    ),
    (
        "BODY_LIMIT_BYTES",
        "1048576",
        "largest accepted request body",
    ),
    (
        "REQUEST_TIMEOUT_SECONDS",
        "15",
        "a request still running after this answers 503",
    ),
    (
        "HEADER_READ_TIMEOUT_SECONDS",
        "10",
        "a client that has not sent a request's headers this long after the connection began waiting for them (a slow client, or an idle keep-alive connection) is disconnected",
    ),
    (
        "MAX_CONNECTIONS",
        "4096",
        "most client connections open at once; more wait in the listen backlog",
    ),
    (
        "CACHE_TTL_SECONDS",
        "1200",
        "TTL of cached values; at least 60",
    ),
    (
        "MEMORY_CACHE_MAX_BYTES",
        "33554432",
        "size bound of the in-process cache",
    ),
    (
        "LOCAL_CACHE_TTL_SECONDS",
        "60",
        "TTL of in-process values in front of Cloudflare KV",
    ),
    (
        "CACHE_BACKEND",
        "memory",
        "memory, or cloudflare (the default when a CLOUDFLARE_* variable is set)",
    ),
    (
        "CLOUDFLARE_ACCOUNT_ID",
        "",
        "Cloudflare account of the KV namespace",
    ),
    ("CLOUDFLARE_KV_NAMESPACE", "", "id of the KV namespace"),
    (
        "CLOUDFLARE_KV_API_TOKEN",
        "",
        "API token with KV access (never logged)",
    ),
    (
        "CLOUDFLARE_API_BASE_URL",
        formula_cache::DEFAULT_API_BASE,
        "Cloudflare API base (point at kv-emulator locally)",
    ),
    (
        "KV_BUDGET_PER_5_MIN",
        "900",
        "most KV calls in any five minutes (Cloudflare allows 1200 per account)",
    ),
    ("KV_TIMEOUT_MS", "2000", "timeout of one KV call"),
    (
        "AUTH_MODE",
        "none, or clerk when a Clerk key is set",
        "clerk: require Clerk session tokens; none: trust the request's userId (loopback only)",
    ),
    (
        "ALLOW_UNAUTHENTICATED",
        "false",
        "let AUTH_MODE=none listen on a non-loopback address",
    ),
    (
        "CLERK_JWT_KEY",
        "",
        "PEM of the Clerk instance's RSA public key (networkless verification)",
    ),
    (
        "CLERK_JWKS_URL",
        "",
        "https://<frontend-api>/.well-known/jwks.json, instead of CLERK_JWT_KEY",
    ),
    (
        "CLERK_JWKS_REFETCH_FLOOR_SECONDS",
        "10",
        "least time between two JWKS fetches",
    ),
    (
        "CLERK_AUTHORIZED_PARTIES",
        "",
        "comma-separated origins accepted as azp (recommended)",
    ),
    (
        "CLERK_ISSUER",
        "",
        "required iss of session tokens, when set",
    ),
    (
        "CLERK_WEBHOOK_SIGNING_SECRET",
        "",
        "Svix signing secret (whsec_…) of the Clerk webhook; also read as CLERK_WEBHOOK_SECRET",
    ),
    (
        "CRON_SECRET",
        "",
        "when set, /cron/keep-alive requires Authorization: Bearer <CRON_SECRET>",
    ),
    ("LOG_FORMAT", "text", "text or json"),
    ("RUST_LOG", "info", "log filter (tracing-subscriber syntax)"),
];

/// The range of every numeric variable (inclusive): start-up refuses a value outside it, naming
/// the variable, and `api --help` prints it. Wider values overflow timers or make no sense.
pub const RANGES: &[(&str, u64, u64)] = &[
    ("DATABASE_MAX_CONNECTIONS", 1, 1000),
    ("BODY_LIMIT_BYTES", 1024, 256 << 20),
    ("REQUEST_TIMEOUT_SECONDS", 1, 3600),
    ("HEADER_READ_TIMEOUT_SECONDS", 1, 300),
    ("MAX_CONNECTIONS", 1, 1_000_000),
    // Cloudflare's minimum; at most a year.
    (
        "CACHE_TTL_SECONDS",
        formula_cache::MIN_TTL_SECS,
        365 * 24 * 3600,
    ),
    ("MEMORY_CACHE_MAX_BYTES", 1 << 20, 64 << 30),
    ("LOCAL_CACHE_TTL_SECONDS", 1, 24 * 3600),
    // Cloudflare blocks the whole account above 1200 per five minutes.
    ("KV_BUDGET_PER_5_MIN", 10, 1200),
    ("KV_TIMEOUT_MS", 100, 60_000),
    ("CLERK_JWKS_REFETCH_FLOOR_SECONDS", 1, 3600),
    // Browsers cap it lower still (Chrome: 7200).
    ("CORS_MAX_AGE_SECONDS", 0, 86_400),
];

/// `RANGES`' entry of `name`.
pub fn range_of(name: &str) -> Option<(u64, u64)> {
    RANGES
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, min, max)| (*min, *max))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if formula_db::DbKind::of_url(&database_url).is_none() {
            return Err(invalid(
                "DATABASE_URL",
                "expected postgres://…, postgresql://… or sqlite:…",
            ));
        }
        let database_url_unpooled = get("DATABASE_URL_UNPOOLED").map(|url| url.trim().to_owned());
        if let Some(url) = &database_url_unpooled {
            if formula_db::DbKind::of_url(url) != Some(formula_db::DbKind::Postgres) {
                return Err(invalid(
                    "DATABASE_URL_UNPOOLED",
                    "expected a postgres://… or postgresql://… URL",
                ));
            }
        }
        let cache_ttl_secs = parse_ranged(&get, "CACHE_TTL_SECONDS", 1200)?;
        let bind_addr: SocketAddr = parse(
            &get,
            "BIND_ADDR",
            DEFAULT_BIND_ADDR.parse().expect("default"),
        )?;
        let (auth_mode, session) = parse_auth(&get, bind_addr)?;
        Ok(Config {
            database_url: SecretString::from(database_url),
            database_url_unpooled: database_url_unpooled.map(SecretString::from),
            database_max_connections: parse_ranged(&get, "DATABASE_MAX_CONNECTIONS", 10)? as u32,
            auto_migrate: parse_bool(&get, "AUTO_MIGRATE", true)?,
            bind_addr,
            metrics_addr: match get("METRICS_ADDR") {
                None => None,
                Some(_) => Some(parse(&get, "METRICS_ADDR", bind_addr)?),
            },
            cors_origins: parse_cors(get("CORS_ALLOWED_ORIGINS"))?,
            cors_max_age: seconds(&get, "CORS_MAX_AGE_SECONDS", 600)?,
            cache_backend: parse_cache_backend(&get)?,
            cache_ttl: Duration::from_secs(cache_ttl_secs),
            local_cache_ttl: seconds(&get, "LOCAL_CACHE_TTL_SECONDS", 60)?,
            memory_cache_max_bytes: parse_ranged(&get, "MEMORY_CACHE_MAX_BYTES", 32 << 20)?,
            body_limit_bytes: parse_ranged(&get, "BODY_LIMIT_BYTES", 1 << 20)? as usize,
            request_timeout: seconds(&get, "REQUEST_TIMEOUT_SECONDS", 15)?,
            header_read_timeout: seconds(&get, "HEADER_READ_TIMEOUT_SECONDS", 10)?,
            max_connections: parse_ranged(&get, "MAX_CONNECTIONS", 4096)? as usize,
            auth_mode,
            session,
            webhook_secret: parse_webhook_secret(&get)?,
            cron_secret: get("CRON_SECRET").map(|s| SecretString::from(s.trim().to_owned())),
            log_format: parse_log_format(get("LOG_FORMAT"))?,
        })
    }
}

fn is_http_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// The Svix secret, under Clerk's current name or the old API's; checked by building a verifier.
fn parse_webhook_secret(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, ConfigError> {
    let named = ["CLERK_WEBHOOK_SIGNING_SECRET", "CLERK_WEBHOOK_SECRET"]
        .into_iter()
        .find_map(|name| get(name).map(|value| (name, value.trim().to_owned())));
    let Some((name, secret)) = named else {
        return Ok(None);
    };
    svix::webhooks::Webhook::new(&secret).map_err(|_| {
        invalid(
            name,
            "not a Svix signing secret (whsec_ followed by base64)",
        )
    })?;
    Ok(Some(SecretString::from(secret)))
}

/// `CACHE_BACKEND`, or Cloudflare when any `CLOUDFLARE_*` variable is set; then all three of
/// `CLOUDFLARE_VARIABLES` are required, and every missing one is named.
fn parse_cache_backend(get: &impl Fn(&str) -> Option<String>) -> Result<CacheBackend, ConfigError> {
    let any_cloudflare = CLOUDFLARE_VARIABLES.iter().any(|name| get(name).is_some());
    match get("CACHE_BACKEND").as_deref().map(str::trim) {
        Some("memory") => return Ok(CacheBackend::Memory),
        Some("cloudflare") => {}
        None if any_cloudflare => {}
        None => return Ok(CacheBackend::Memory),
        Some(other) => {
            return Err(invalid(
                "CACHE_BACKEND",
                format!("{other:?} is not memory or cloudflare"),
            ))
        }
    }
    let missing: Vec<&str> = CLOUDFLARE_VARIABLES
        .into_iter()
        .filter(|name| get(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            &missing.join(", "),
            "required for the Cloudflare cache (CACHE_BACKEND=cloudflare or another CLOUDFLARE_* variable is set)",
        ));
    }
    let value = |name: &str| get(name).unwrap_or_default().trim().to_owned();
    let mut options = CloudflareOptions::new(
        value("CLOUDFLARE_ACCOUNT_ID"),
        value("CLOUDFLARE_KV_NAMESPACE"),
        SecretString::from(value("CLOUDFLARE_KV_API_TOKEN")),
    );
    if let Some(base) = get("CLOUDFLARE_API_BASE_URL") {
        if !is_http_url(&base) {
            return Err(invalid(
                "CLOUDFLARE_API_BASE_URL",
                "expected an http:// or https:// URL",
            ));
        }
        options.api_base = base.trim().to_owned();
    }
    options.budget_per_five_minutes = parse_ranged(get, "KV_BUDGET_PER_5_MIN", 900)? as u32;
    options.request_timeout = Duration::from_millis(parse_ranged(get, "KV_TIMEOUT_MS", 2000)?);
    Ok(CacheBackend::Cloudflare(options))
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|error| invalid(name, format!("{text:?} is not valid: {error}"))),
    }
}

/// A numeric variable, refused outside its range in `RANGES`.
fn parse_ranged(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    let (min, max) = range_of(name).expect("every numeric variable has a range");
    let value = parse(get, name, default)?;
    if !(min..=max).contains(&value) {
        return Err(invalid(name, format!("{value} is outside {min} to {max}")));
    }
    Ok(value)
}

/// A duration in seconds, within its range.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse_ranged(get, name, default).map(Duration::from_secs)
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|text| text.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(text) if ["1", "true", "yes", "on"].contains(&text.as_str()) => Ok(true),
        Some(text) if ["0", "false", "no", "off"].contains(&text.as_str()) => Ok(false),
        Some(text) => Err(invalid(name, format!("{text:?} is not true or false"))),
    }
}

fn parse_cors(value: Option<String>) -> Result<CorsOrigins, ConfigError> {
    let value = value.unwrap_or_else(|| DEFAULT_CORS_ORIGINS.into());
    if value.trim() == "*" {
        return Ok(CorsOrigins::Any);
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let well_formed = is_http_url(origin) && !origin.ends_with('/');
            HeaderValue::from_str(origin)
                .ok()
                .filter(|_| well_formed)
                .ok_or_else(|| {
                    invalid(
                        "CORS_ALLOWED_ORIGINS",
                        format!("{origin:?} is not an origin like https://app.example.com"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

/// `AUTH_MODE` (clerk by default once a Clerk key is configured) and what Clerk mode needs.
fn parse_auth(
    get: &impl Fn(&str) -> Option<String>,
    bind_addr: SocketAddr,
) -> Result<(AuthMode, Option<SessionSettings>), ConfigError> {
    let pem = get("CLERK_JWT_KEY");
    let jwks = get("CLERK_JWKS_URL");
    let mode = match get("AUTH_MODE").as_deref().map(str::trim) {
        None if pem.is_some() || jwks.is_some() => AuthMode::Clerk,
        None | Some("none") => AuthMode::None,
        Some("clerk") => AuthMode::Clerk,
        Some(other) => {
            return Err(invalid(
                "AUTH_MODE",
                format!("{other:?} is not clerk or none"),
            ));
        }
    };
    if mode == AuthMode::None {
        if !bind_addr.ip().is_loopback() && !parse_bool(get, "ALLOW_UNAUTHENTICATED", false)? {
            return Err(invalid(
                "AUTH_MODE",
                format!(
                    "none trusts any userId, and BIND_ADDR {bind_addr} is not loopback: set AUTH_MODE=clerk with CLERK_JWT_KEY, or ALLOW_UNAUTHENTICATED=true"
                ),
            ));
        }
        return Ok((mode, None));
    }
    let keys = match (pem, jwks) {
        (Some(pem), _) => {
            crate::session::parse_pem(&pem).map_err(|reason| invalid("CLERK_JWT_KEY", reason))?;
            KeySource::Pem(pem)
        }
        (None, Some(url)) => {
            if !is_http_url(&url) {
                return Err(invalid("CLERK_JWKS_URL", "expected an https:// URL"));
            }
            KeySource::Jwks {
                url: url.trim().to_owned(),
                refetch_floor: seconds(get, "CLERK_JWKS_REFETCH_FLOOR_SECONDS", 10)?,
                max_age: crate::session::JWKS_MAX_AGE,
            }
        }
        (None, None) => {
            return Err(invalid(
                "AUTH_MODE",
                "clerk needs CLERK_JWT_KEY or CLERK_JWKS_URL",
            ));
        }
    };
    let authorized_parties = get("CLERK_AUTHORIZED_PARTIES")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|party| !party.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let settings = SessionSettings {
        keys,
        authorized_parties,
        issuer: get("CLERK_ISSUER").map(|issuer| issuer.trim().to_owned()),
    };
    Ok((mode, Some(settings)))
}

fn parse_log_format(value: Option<String>) -> Result<LogFormat, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(invalid(
            "LOG_FORMAT",
            format!("{other:?} is not text or json"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_run_embedded_on_loopback() {
        let config = config(&[]).unwrap();
        assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3002");
        assert_eq!(config.cache_ttl, Duration::from_secs(1200));
        assert_eq!(config.body_limit_bytes, 1 << 20);
        assert!(config.auto_migrate);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("BIND_ADDR", "nowhere"),
            ("CACHE_TTL_SECONDS", "59"),
            ("CACHE_TTL_SECONDS", "soon"),
            ("DATABASE_URL", "mysql://x"),
            ("CORS_ALLOWED_ORIGINS", "localhost:3000"),
            ("AUTO_MIGRATE", "maybe"),
            ("AUTH_MODE", "sometimes"),
            (
                "CLERK_JWT_KEY",
                "-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----",
            ),
            ("CLERK_JWKS_URL", "jwks.json"),
            ("LOG_FORMAT", "xml"),
            ("CACHE_BACKEND", "redis"),
            ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_!!!"),
            ("CLERK_WEBHOOK_SECRET", "not base64 at all"),
            ("KV_BUDGET_PER_5_MIN", "5000"),
        ] {
            let mut pairs = vec![(name, value)];
            if name.starts_with("KV_") {
                pairs.extend([
                    ("CLOUDFLARE_ACCOUNT_ID", "a"),
                    ("CLOUDFLARE_KV_NAMESPACE", "n"),
                    ("CLOUDFLARE_KV_API_TOKEN", "t"),
                ]);
            }
            let error = config(&pairs).unwrap_err();
            assert_eq!(error.name, name, "{value}");
            assert!(error.to_string().starts_with(name));
        }
    }

    /// Every numeric variable has a range; a value past either end (or one that would overflow a
    /// timer) stops start-up naming the variable.
    #[test]
    fn numeric_variables_refuse_values_outside_their_range() {
        let numeric: Vec<&str> = VARIABLES
            .iter()
            .filter(|(_, default, _)| default.parse::<u64>().is_ok())
            .map(|(name, _, _)| *name)
            .collect();
        for name in &numeric {
            assert!(range_of(name).is_some(), "{name} has no documented range");
        }
        let base = [
            ("CLOUDFLARE_ACCOUNT_ID", "a"),
            ("CLOUDFLARE_KV_NAMESPACE", "n"),
            ("CLOUDFLARE_KV_API_TOKEN", "t"),
            (
                "CLERK_JWKS_URL",
                "https://clerk.example.com/.well-known/jwks.json",
            ),
        ];
        for (name, min, max) in RANGES {
            let below = min.checked_sub(1).map(|v| v.to_string());
            let above = (max + 1).to_string();
            let huge = u64::MAX.to_string();
            for value in below.iter().chain([&above, &huge]) {
                let error = config(&[&base[..], &[(name, value.as_str())]].concat()).unwrap_err();
                assert_eq!(error.name, *name, "{name}={value}");
            }
            for value in [min, max] {
                let value = value.to_string();
                config(&[&base[..], &[(name, value.as_str())]].concat())
                    .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            }
        }
        for (name, value) in [
            ("REQUEST_TIMEOUT_SECONDS", "18446744073709551615"),
            ("REQUEST_TIMEOUT_SECONDS", "0"),
            ("CACHE_TTL_SECONDS", "18446744073709551615"),
        ] {
            assert_eq!(config(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn one_cloudflare_variable_requires_the_others_and_names_them() {
        let error = config(&[("CLOUDFLARE_ACCOUNT_ID", "acc")]).unwrap_err();
        assert_eq!(
            error.name,
            "CLOUDFLARE_KV_NAMESPACE, CLOUDFLARE_KV_API_TOKEN"
        );
        let error = config(&[("CACHE_BACKEND", "cloudflare")]).unwrap_err();
        assert_eq!(
            error.name,
            "CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE, CLOUDFLARE_KV_API_TOKEN"
        );
        let config = config(&[
            ("CLOUDFLARE_ACCOUNT_ID", "acc"),
            ("CLOUDFLARE_KV_NAMESPACE", "ns"),
            ("CLOUDFLARE_KV_API_TOKEN", "hunter2-token"),
        ])
        .unwrap();
        assert!(matches!(config.cache_backend, CacheBackend::Cloudflare(_)));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn auth_mode_none_stays_on_loopback_unless_allowed() {
        assert_eq!(config(&[]).unwrap().auth_mode, AuthMode::None);
        let error = config(&[("BIND_ADDR", "0.0.0.0:3002")]).unwrap_err();
        assert_eq!(error.name, "AUTH_MODE");
        let allowed = config(&[
            ("BIND_ADDR", "0.0.0.0:3002"),
            ("ALLOW_UNAUTHENTICATED", "true"),
        ])
        .unwrap();
        assert_eq!(allowed.auth_mode, AuthMode::None);
        let error = config(&[("AUTH_MODE", "clerk")]).unwrap_err();
        assert!(error.reason.contains("CLERK_JWT_KEY"));
        let jwks = config(&[(
            "CLERK_JWKS_URL",
            "https://clerk.example.com/.well-known/jwks.json",
        )])
        .unwrap();
        assert_eq!(
            jwks.auth_mode,
            AuthMode::Clerk,
            "a Clerk key turns clerk mode on"
        );
        assert!(jwks.session.is_some());
    }

    #[test]
    fn database_url_is_not_printed() {
        let config = config(&[("DATABASE_URL", "postgres://u:hunter2@db/app")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn env_example_documents_exactly_the_variables() {
        let example = include_str!("../../../.env.example");
        let documented: Vec<&str> = example
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .collect();
        let known: Vec<&str> = VARIABLES.iter().map(|(name, _, _)| *name).collect();
        for name in &known {
            assert!(documented.contains(name), ".env.example lacks {name}");
        }
        for name in &documented {
            assert!(
                known.contains(name),
                "{name} is in .env.example but not VARIABLES"
            );
        }
    }

    /// The defaults that `api --help` and `.env.example` state are the ones the code applies:
    /// setting each to its documented default changes nothing.
    #[test]
    fn the_documented_defaults_are_the_applied_ones() {
        // Written as prose, or (the cache backend) depending on other variables.
        let prose = ["DATABASE_URL", "AUTH_MODE", "CACHE_BACKEND"];
        let documented: Vec<(&str, &str)> = VARIABLES
            .iter()
            .filter(|(name, default, _)| !default.is_empty() && !prose.contains(name))
            .map(|(name, default, _)| (*name, *default))
            .collect();
        let cloudflare = [
            ("CLOUDFLARE_ACCOUNT_ID", "acc"),
            ("CLOUDFLARE_KV_NAMESPACE", "ns"),
            ("CLOUDFLARE_KV_API_TOKEN", "token"),
        ];
        let jwks = [(
            "CLERK_JWKS_URL",
            "https://clerk.example.com/.well-known/jwks.json",
        )];
        // The KV_* defaults apply with Cloudflare configured, the JWKS ones with a JWKS URL.
        for base in [&[][..], &cloudflare[..], &jwks[..]] {
            let implicit = config(base).unwrap();
            let explicit = config(&[base, &documented[..]].concat()).unwrap();
            assert_eq!(format!("{explicit:?}"), format!("{implicit:?}"));
        }
    }

    #[test]
    fn cors_lists_and_wildcard() {
        let config = config(&[(
            "CORS_ALLOWED_ORIGINS",
            "http://localhost:3000, https://app.example.com",
        )])
        .unwrap();
        assert!(matches!(config.cors_origins, CorsOrigins::List(ref l) if l.len() == 2));
        let any = super::parse_cors(Some("*".into())).unwrap();
        assert!(matches!(any, CorsOrigins::Any));
    }
}
