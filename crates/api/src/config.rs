//! Settings, read once from the environment (and `.env`), grouped by what they configure.
//!
//! Every variable is declared once, in `SECTIONS`: name, default, range, help. The parser takes
//! each one's default and range from there, `api --help` prints the table, and `api env-example`
//! writes `.env.example` from it (a test fails while the committed file differs). Every variable is
//! optional, and an empty one counts as absent; a value that is present but wrong stops start-up
//! with a message naming the variable. Secrets and keys are checked here, once, by building what
//! uses them. This module is a leaf: it knows no route, handler or shared state.

use std::net::SocketAddr;
use std::time::Duration;

use formula_cache::{CacheOptions, CloudflareOptions};
use formula_db::DbKind;
use jsonwebtoken::DecodingKey;
use secrecy::SecretString;
use svix::webhooks::Webhook;

use crate::cors::CorsOrigins;

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    /// What an absent variable means, written as a value it could hold; empty when absence means
    /// "none" or depends on other variables (the help says how).
    pub default: &'static str,
    /// Inclusive bounds of a numeric variable; start-up refuses a value outside them.
    pub range: Option<(u64, u64)>,
    pub help: &'static str,
    /// A name older deployments set, read when the variable itself is absent.
    pub old_name: Option<&'static str>,
}

impl Var {
    #[rustfmt::skip]
    const fn new(name: &'static str, default: &'static str, range: Option<(u64, u64)>, help: &'static str) -> Var {
        Var { name, default, range, help, old_name: None }
    }

    const fn or_old_name(self, old_name: &'static str) -> Var {
        Var {
            old_name: Some(old_name),
            ..self
        }
    }

    /// The help, with the range and the old name, as `--help` and `.env.example` print it.
    fn described(&self) -> String {
        let mut text = self.help.to_owned();
        if let Some((min, max)) = self.range {
            text += &format!(" Range: {min} to {max}.");
        }
        if let Some(old_name) = self.old_name {
            text += &format!(" Also read as {old_name}.");
        }
        text
    }
}

const DAY: u64 = 24 * 3600;

pub use variables::*;

/// Every variable the service reads, each declared once.
#[rustfmt::skip] // a table: a variable to an entry
mod variables {
    use formula_cache::{DEFAULT_API_BASE, MIN_TTL_SECS};

    use super::{Var, DAY};

    pub const DATABASE_URL: Var = Var::new("DATABASE_URL", "sqlite://formula.db", None,
        "postgres://user:password@host/db in production (sslmode and sslrootcert as libpq reads \
         them; Neon's URLs work as given), or sqlite://path for an embedded file.");
    pub const DATABASE_URL_UNPOOLED: Var = Var::new("DATABASE_URL_UNPOOLED", "", None,
        "The direct postgres:// URL when DATABASE_URL goes through PgBouncer (Neon's -pooler hosts, \
         or pgbouncer=true): migrations and LISTEN (cross-instance eviction) need it.");
    pub const DATABASE_MAX_CONNECTIONS: Var = Var::new("DATABASE_MAX_CONNECTIONS", "10", Some((1, 1000)),
        "Connection pool size (SQLite uses at most 4).");
    pub const AUTO_MIGRATE: Var = Var::new("AUTO_MIGRATE", "true", None,
        "Apply pending migrations at start-up (they only add); `api migrate` does it on demand.");

    pub const BIND_ADDR: Var = Var::new("BIND_ADDR", "127.0.0.1:3002", None,
        "Address and port to listen on (the old API's port is 3002).");
    pub const METRICS_ADDR: Var = Var::new("METRICS_ADDR", "", None,
        "Serve Prometheus metrics (/metrics) on this address, e.g. 127.0.0.1:9102, not on BIND_ADDR.");
    pub const CORS_ALLOWED_ORIGINS: Var = Var::new("CORS_ALLOWED_ORIGINS", "http://localhost:3000", None,
        "Comma-separated origins allowed to call the API from a browser (the web app), or * for any.");
    pub const CORS_MAX_AGE_SECONDS: Var = Var::new("CORS_MAX_AGE_SECONDS", "600", Some((0, DAY)),
        "How long browsers may reuse a preflight's answer, in seconds (Chrome caps it at 7200).");
    pub const BODY_LIMIT_BYTES: Var = Var::new("BODY_LIMIT_BYTES", "1048576", Some((1024, 256 << 20)),
        "Largest accepted request body, in bytes (a larger one answers 413).");
    pub const REQUEST_TIMEOUT_SECONDS: Var = Var::new("REQUEST_TIMEOUT_SECONDS", "15", Some((1, 3600)),
        "A request still running after this many seconds is answered 503.");
    pub const HEADER_READ_TIMEOUT_SECONDS: Var = Var::new("HEADER_READ_TIMEOUT_SECONDS", "10", Some((1, 300)),
        "Seconds a client has to send a request's headers once the connection waits for them (a new \
         connection: to begin its first request); then it is disconnected (a slow client, an idle \
         keep-alive connection, or one that never sends a request).");
    pub const MAX_CONNECTIONS: Var = Var::new("MAX_CONNECTIONS", "4096", Some((1, 1_000_000)),
        "Most client connections open at once; more wait in the listen backlog.");

    pub const CACHE_BACKEND: Var = Var::new("CACHE_BACKEND", "", None,
        "local (this process only), or cloudflare (Workers KV behind the local layer; the default \
         when a CLOUDFLARE_* variable is set). The former value memory means local.");
    pub const CACHE_TTL_SECONDS: Var = Var::new("CACHE_TTL_SECONDS", "1200", Some((MIN_TTL_SECS, 365 * DAY)),
        "TTL of cached values, in seconds; Cloudflare's minimum is 60.");
    pub const LOCAL_CACHE_TTL_SECONDS: Var = Var::new("LOCAL_CACHE_TTL_SECONDS", "60", Some((1, DAY)),
        "TTL of the local layer's values with Cloudflare KV behind it (without, CACHE_TTL_SECONDS); \
         on Postgres, other instances' writes evict them at once.");
    pub const LOCAL_CACHE_MAX_BYTES: Var = Var::new("LOCAL_CACHE_MAX_BYTES", "33554432", Some((1 << 20, 64 << 30)),
        "Size bound of the local layer (the values this process holds), in bytes.")
        .or_old_name("MEMORY_CACHE_MAX_BYTES");
    pub const CLOUDFLARE_ACCOUNT_ID: Var = Var::new("CLOUDFLARE_ACCOUNT_ID", "", None,
        "Cloudflare account of the KV namespace. Any CLOUDFLARE_* variable selects the cloudflare \
         backend; then account, namespace and token are all required.");
    pub const CLOUDFLARE_KV_NAMESPACE: Var = Var::new("CLOUDFLARE_KV_NAMESPACE", "", None,
        "Id of the KV namespace.");
    pub const CLOUDFLARE_KV_API_TOKEN: Var = Var::new("CLOUDFLARE_KV_API_TOKEN", "", None,
        "API token with KV access; never logged or printed.");
    pub const CLOUDFLARE_API_BASE_URL: Var = Var::new("CLOUDFLARE_API_BASE_URL", DEFAULT_API_BASE, None,
        "Cloudflare's API base (kv-emulator's locally, e.g. http://127.0.0.1:8787/client/v4).");
    pub const KV_BUDGET_PER_5_MIN: Var = Var::new("KV_BUDGET_PER_5_MIN", "900", Some((10, 1200)),
        "Most KV calls in any five minutes: Cloudflare allows 1200 per account, then locks the \
         account out for five minutes.");
    pub const KV_TIMEOUT_MS: Var = Var::new("KV_TIMEOUT_MS", "2000", Some((100, 60_000)),
        "Timeout of one KV call, in milliseconds.");

    pub const AUTH_MODE: Var = Var::new("AUTH_MODE", "", None,
        "clerk: expense routes need a Clerk session token and act for its user. none: they trust \
         the request's userId (on loopback only, unless ALLOW_UNAUTHENTICATED=true). Empty: clerk \
         when CLERK_JWT_KEY or CLERK_JWKS_URL is set.");
    pub const ALLOW_UNAUTHENTICATED: Var = Var::new("ALLOW_UNAUTHENTICATED", "false", None,
        "Let AUTH_MODE=none listen on a non-loopback address.");
    pub const CLERK_JWT_KEY: Var = Var::new("CLERK_JWT_KEY", "", None,
        "The Clerk instance's RSA public key as PEM (Clerk's dashboard, API keys, JWT public key); \
         literal \\n sequences are read as newlines. Verifies tokens without any network call.");
    pub const CLERK_JWKS_URL: Var = Var::new("CLERK_JWKS_URL", "", None,
        "Instead of CLERK_JWT_KEY, the instance's JWKS (https://<frontend-api>/.well-known/jwks.json): \
         fetched, used for five minutes, refetched on an unknown key id.");
    pub const CLERK_JWKS_REFETCH_FLOOR_SECONDS: Var = Var::new("CLERK_JWKS_REFETCH_FLOOR_SECONDS", "10", Some((1, 3600)),
        "Least time between two JWKS fetches, in seconds.");
    pub const CLERK_AUTHORIZED_PARTIES: Var = Var::new("CLERK_AUTHORIZED_PARTIES", "", None,
        "Comma-separated origins accepted as a token's azp, e.g. http://localhost:3000 (Clerk \
         recommends setting it); empty accepts any.");
    pub const CLERK_ISSUER: Var = Var::new("CLERK_ISSUER", "", None,
        "When set, a token's iss must equal it (the Clerk frontend API URL).");

    pub const CLERK_WEBHOOK_SIGNING_SECRET: Var = Var::new("CLERK_WEBHOOK_SIGNING_SECRET", "", None,
        "Svix signing secret (whsec_…) of the Clerk webhook, from Clerk's dashboard. Without it, \
         /webhooks/clerk answers 503 to every event.")
        .or_old_name("CLERK_WEBHOOK_SECRET");
    pub const CRON_SECRET: Var = Var::new("CRON_SECRET", "", None,
        "When set, /cron/keep-alive requires Authorization: Bearer <CRON_SECRET>.");

    pub const LOG_FORMAT: Var = Var::new("LOG_FORMAT", "text", None,
        "text (readable) or json (one object per line).");
    pub const RUST_LOG: Var = Var::new("RUST_LOG", "info,sqlx=warn", None,
        "Log filter, in tracing-subscriber's syntax.");

    /// Every variable, by what it configures: `--help` and `.env.example` list them in this order.
    pub const SECTIONS: &[(&str, &[Var])] = &[
        ("Database", &[DATABASE_URL, DATABASE_URL_UNPOOLED, DATABASE_MAX_CONNECTIONS, AUTO_MIGRATE]),
        ("Server", &[BIND_ADDR, METRICS_ADDR, CORS_ALLOWED_ORIGINS, CORS_MAX_AGE_SECONDS,
            BODY_LIMIT_BYTES, REQUEST_TIMEOUT_SECONDS, HEADER_READ_TIMEOUT_SECONDS, MAX_CONNECTIONS]),
        ("Cache", &[CACHE_BACKEND, CACHE_TTL_SECONDS, LOCAL_CACHE_TTL_SECONDS, LOCAL_CACHE_MAX_BYTES,
            CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE, CLOUDFLARE_KV_API_TOKEN,
            CLOUDFLARE_API_BASE_URL, KV_BUDGET_PER_5_MIN, KV_TIMEOUT_MS]),
        ("Authentication of the expense routes", &[AUTH_MODE, ALLOW_UNAUTHENTICATED, CLERK_JWT_KEY,
            CLERK_JWKS_URL, CLERK_JWKS_REFETCH_FLOOR_SECONDS, CLERK_AUTHORIZED_PARTIES, CLERK_ISSUER]),
        ("Webhook and cron", &[CLERK_WEBHOOK_SIGNING_SECRET, CRON_SECRET]),
        ("Logs", &[LOG_FORMAT, RUST_LOG]),
    ];

    /// The variables that name a Cloudflare KV namespace: one set selects Cloudflare, which needs all.
    pub const CLOUDFLARE_NAMESPACE: [Var; 3] =
        [CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE, CLOUDFLARE_KV_API_TOKEN];
}

/// The environment section of `api --help`.
pub fn help_text() -> String {
    let mut text = String::from("Environment (also read from ./.env):\n");
    for (title, vars) in SECTIONS {
        text += &format!("\n  {title}\n");
        for var in *vars {
            text += &format!("  {:<33} {}", var.name, var.described());
            if !var.default.is_empty() {
                text += &format!(" [default: {}]", var.default);
            }
            text.push('\n');
        }
    }
    text
}

/// `.env.example`, as `api env-example` writes it.
pub fn env_example() -> String {
    let mut text = String::from(
        "# formula-api configuration, written by `api env-example` from crates/api/src/config.rs.\n\
         # Copy to .env (read at start-up) or set in the environment. Every variable is optional,\n\
         # and an empty one counts as absent: the defaults run the service on SQLite on loopback.\n\
         # A value that is present but invalid stops start-up with a message naming the variable.\n",
    );
    for (title, vars) in SECTIONS {
        text += &format!("\n# --- {title} ---\n");
        for var in *vars {
            text += &format!(
                "{}{}={}\n",
                comment(&var.described()),
                var.name,
                var.default
            );
        }
    }
    text
}

/// `text` as `# ` comment lines of at most 100 characters.
fn comment(text: &str) -> String {
    let mut lines = vec![String::from("#")];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("a line");
        if line.len() == 1 || line.chars().count() + 1 + word.chars().count() <= 100 {
            line.push(' ');
            line.push_str(word);
        } else {
            lines.push(format!("# {word}"));
        }
    }
    lines.join("\n") + "\n"
}

/// A variable whose value was refused.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The variable (or variables, comma-separated) at fault.
    pub name: String,
    pub reason: String,
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// The settings, by what they configure. Each field holds the variable of its name (its meaning
/// is that variable's help in `SECTIONS`); secrets print redacted.
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub cache: CacheSettings,
    pub auth: Auth,
    /// The verifier of `CLERK_WEBHOOK_SIGNING_SECRET`.
    pub webhook: Option<Webhook>,
    pub cron_secret: Option<SecretString>,
    /// `LOG_FORMAT=json`.
    pub json_logs: bool,
}

#[derive(Debug)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub url_unpooled: Option<SecretString>,
    pub max_connections: u32,
    pub auto_migrate: bool,
}

#[derive(Debug)]
pub struct ServerSettings {
    pub bind_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub cors_origins: CorsOrigins,
    pub cors_max_age: Duration,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

#[derive(Debug)]
pub struct CacheSettings {
    /// `CACHE_TTL_SECONDS`, `LOCAL_CACHE_TTL_SECONDS`, `LOCAL_CACHE_MAX_BYTES`.
    pub options: CacheOptions,
    /// Cloudflare KV behind the local layer (`CACHE_BACKEND=cloudflare`); `None`: the local layer
    /// is the cache.
    pub cloudflare: Option<CloudflareOptions>,
}

/// How the expense routes learn their user.
#[derive(Debug)]
pub enum Auth {
    /// Trust the request's `userId`. For local use on loopback.
    None,
    /// Require a Clerk session token and act for its `sub`.
    Clerk(SessionSettings),
}

/// How session tokens are verified.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub keys: KeySource,
    /// `CLERK_AUTHORIZED_PARTIES`: accepted `azp` values; empty accepts any.
    pub authorized_parties: Vec<String>,
    /// `CLERK_ISSUER`: the required `iss`, when set.
    pub issuer: Option<String>,
}

/// Where the public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `CLERK_JWT_KEY`: the instance's RSA public key.
    Pem(DecodingKey),
    /// `CLERK_JWKS_URL`, the least time between two fetches, and how long keys are used before a
    /// background refresh.
    Jwks {
        url: String,
        refetch_floor: Duration,
        max_age: Duration,
    },
}

/// How long fetched keys are used before a background refresh (Clerk's SDK: 5 minutes).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&lookup);
        let database = DatabaseSettings::read(&env)?;
        let cache = CacheSettings::read(&env)?;
        let server = ServerSettings::read(&env)?;
        Ok(Config {
            auth: Auth::read(&env, server.bind_addr)?,
            database,
            server,
            cache,
            webhook: env.webhook()?,
            cron_secret: env.text(&CRON_SECRET).map(SecretString::from),
            json_logs: env.choice(&LOG_FORMAT, &["text", "json"])? == Some("json"),
        })
    }
}

impl DatabaseSettings {
    fn read(env: &Env) -> Result<Self, ConfigError> {
        let url = env.text(&DATABASE_URL).unwrap_or_default();
        if DbKind::of_url(&url).is_none() {
            return Err(invalid(
                DATABASE_URL.name,
                "expected postgres://…, postgresql://… or sqlite:…",
            ));
        }
        let url_unpooled = env.text(&DATABASE_URL_UNPOOLED);
        if url_unpooled
            .as_deref()
            .is_some_and(|url| DbKind::of_url(url) != Some(DbKind::Postgres))
        {
            return Err(invalid(
                DATABASE_URL_UNPOOLED.name,
                "expected a postgres://… or postgresql://… URL",
            ));
        }
        Ok(DatabaseSettings {
            url: SecretString::from(url),
            url_unpooled: url_unpooled.map(SecretString::from),
            max_connections: env.number(&DATABASE_MAX_CONNECTIONS)? as u32,
            auto_migrate: env.flag(&AUTO_MIGRATE)?,
        })
    }
}

impl ServerSettings {
    fn read(env: &Env) -> Result<Self, ConfigError> {
        Ok(ServerSettings {
            bind_addr: env.parse(&BIND_ADDR)?.expect("BIND_ADDR has a default"),
            metrics_addr: env.parse(&METRICS_ADDR)?,
            cors_origins: cors_origins(&env.text(&CORS_ALLOWED_ORIGINS).unwrap_or_default())?,
            cors_max_age: env.seconds(&CORS_MAX_AGE_SECONDS)?,
            body_limit_bytes: env.number(&BODY_LIMIT_BYTES)? as usize,
            request_timeout: env.seconds(&REQUEST_TIMEOUT_SECONDS)?,
            header_read_timeout: env.seconds(&HEADER_READ_TIMEOUT_SECONDS)?,
            max_connections: env.number(&MAX_CONNECTIONS)? as usize,
        })
    }
}

impl CacheSettings {
    fn read(env: &Env) -> Result<Self, ConfigError> {
        let options = CacheOptions {
            ttl: env.seconds(&CACHE_TTL_SECONDS)?,
            local_ttl: env.seconds(&LOCAL_CACHE_TTL_SECONDS)?,
            local_max_bytes: env.number(&LOCAL_CACHE_MAX_BYTES)?,
            ..CacheOptions::default()
        };
        let cloudflare = cloudflare(env)?;
        Ok(CacheSettings {
            options,
            cloudflare,
        })
    }
}

/// Cloudflare's options with `CACHE_BACKEND=cloudflare` or any `CLOUDFLARE_*` variable set: then
/// all three of `CLOUDFLARE_NAMESPACE` are required, and every missing one is named.
fn cloudflare(env: &Env) -> Result<Option<CloudflareOptions>, ConfigError> {
    let any_cloudflare = CLOUDFLARE_NAMESPACE
        .iter()
        .any(|var| env.text(var).is_some());
    match env.choice(&CACHE_BACKEND, &["local", "cloudflare", "memory"])? {
        Some("cloudflare") => {}
        None if any_cloudflare => {}
        _ => return Ok(None),
    }
    let missing: Vec<&str> = CLOUDFLARE_NAMESPACE
        .iter()
        .filter(|var| env.text(var).is_none())
        .map(|var| var.name)
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
                &missing.join(", "),
                "required for the Cloudflare cache (CACHE_BACKEND=cloudflare or another CLOUDFLARE_* variable is set)",
            ));
    }
    let [account, namespace, token] =
        CLOUDFLARE_NAMESPACE.map(|var| env.text(&var).unwrap_or_default());
    let mut cloudflare = CloudflareOptions::new(account, namespace, SecretString::from(token));
    cloudflare.api_base = env.text(&CLOUDFLARE_API_BASE_URL).unwrap_or_default();
    if !is_http_url(&cloudflare.api_base) {
        return Err(invalid(
            CLOUDFLARE_API_BASE_URL.name,
            "expected an http:// or https:// URL",
        ));
    }
    cloudflare.budget_per_five_minutes = env.number(&KV_BUDGET_PER_5_MIN)? as u32;
    cloudflare.request_timeout = Duration::from_millis(env.number(&KV_TIMEOUT_MS)?);
    Ok(Some(cloudflare))
}

impl Auth {
    /// `AUTH_MODE` (clerk by default once a Clerk key is configured) and what Clerk mode needs.
    fn read(env: &Env, bind_addr: SocketAddr) -> Result<Self, ConfigError> {
        let pem = env.text(&CLERK_JWT_KEY);
        let jwks = env.text(&CLERK_JWKS_URL);
        let clerk = match env.choice(&AUTH_MODE, &["clerk", "none"])? {
            None => pem.is_some() || jwks.is_some(),
            mode => mode == Some("clerk"),
        };
        if !clerk {
            if !bind_addr.ip().is_loopback() && !env.flag(&ALLOW_UNAUTHENTICATED)? {
                return Err(invalid(
                    AUTH_MODE.name,
                    format!(
                        "none trusts any userId, and BIND_ADDR {bind_addr} is not loopback: set AUTH_MODE=clerk with CLERK_JWT_KEY, or ALLOW_UNAUTHENTICATED=true"
                    ),
                ));
            }
            return Ok(Auth::None);
        }
        let keys = match (pem, jwks) {
            (Some(pem), _) => KeySource::Pem(
                parse_pem(&pem).map_err(|reason| invalid(CLERK_JWT_KEY.name, reason))?,
            ),
            (None, Some(url)) if is_http_url(&url) => KeySource::Jwks {
                url,
                refetch_floor: env.seconds(&CLERK_JWKS_REFETCH_FLOOR_SECONDS)?,
                max_age: JWKS_MAX_AGE,
            },
            (None, Some(_)) => {
                return Err(invalid(CLERK_JWKS_URL.name, "expected an https:// URL"))
            }
            (None, None) => {
                return Err(invalid(
                    AUTH_MODE.name,
                    "clerk needs CLERK_JWT_KEY or CLERK_JWKS_URL",
                ))
            }
        };
        Ok(Auth::Clerk(SessionSettings {
            keys,
            authorized_parties: list(&env.text(&CLERK_AUTHORIZED_PARTIES).unwrap_or_default())
                .map(str::to_owned)
                .collect(),
            issuer: env.text(&CLERK_ISSUER),
        }))
    }
}

/// The PEM of an RSA public key; literal `\n` sequences (as env files often hold) are newlines.
fn parse_pem(pem: &str) -> Result<DecodingKey, String> {
    let pem = pem.trim().replace("\\n", "\n");
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| "not the PEM of an RSA public key (-----BEGIN PUBLIC KEY-----)".into())
}

/// `CORS_ALLOWED_ORIGINS`: `*`, or a list of origins such as `https://app.example.com`.
fn cors_origins(value: &str) -> Result<CorsOrigins, ConfigError> {
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    list(value)
        .map(|origin| {
            let well_formed = is_http_url(origin) && !origin.ends_with('/');
            origin.parse().ok().filter(|_| well_formed).ok_or_else(|| {
                invalid(
                    CORS_ALLOWED_ORIGINS.name,
                    format!("{origin:?} is not an origin like https://app.example.com"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

/// The non-empty items of a comma-separated list.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn is_http_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// The environment as the parser reads it: each variable under its name or its old name, trimmed,
/// an empty one as absent, and an absent one as its default.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable's value and the name it was found under (its own for a default).
    fn value(&self, var: &Var) -> Option<(&'static str, String)> {
        let set = |name: &'static str| {
            let value = (self.0)(name)?.trim().to_owned();
            (!value.is_empty()).then_some((name, value))
        };
        set(var.name)
            .or_else(|| var.old_name.and_then(set))
            .or_else(|| (!var.default.is_empty()).then(|| (var.name, var.default.to_owned())))
    }

    fn text(&self, var: &Var) -> Option<String> {
        self.value(var).map(|(_, value)| value)
    }

    fn parse<T: std::str::FromStr>(&self, var: &Var) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let parsed = self.value(var).map(|(name, text)| {
            let error = |error| invalid(name, format!("{text:?} is not valid: {error}"));
            text.parse().map_err(error)
        });
        parsed.transpose()
    }

    /// A numeric variable within its range.
    fn number(&self, var: &Var) -> Result<u64, ConfigError> {
        let (min, max) = var.range.expect("a numeric variable has a range");
        let value = self.parse(var)?.expect("a numeric variable has a default");
        let outside = || format!("{value} is outside {min} to {max}");
        let name = self.value(var).map_or(var.name, |(name, _)| name);
        (min..=max)
            .contains(&value)
            .then_some(value)
            .ok_or_else(|| invalid(name, outside()))
    }

    /// One of `choices`, if set.
    fn choice(
        &self,
        var: &Var,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, ConfigError> {
        let Some(text) = self.text(var) else {
            return Ok(None);
        };
        let choice = choices.iter().find(|choice| **choice == text).copied();
        let refused = || {
            invalid(
                var.name,
                format!("{text:?} is not one of {}", choices.join(", ")),
            )
        };
        choice.map(Some).ok_or_else(refused)
    }

    fn seconds(&self, var: &Var) -> Result<Duration, ConfigError> {
        self.number(var).map(Duration::from_secs)
    }

    fn flag(&self, var: &Var) -> Result<bool, ConfigError> {
        match self
            .text(var)
            .map(|text| text.to_ascii_lowercase())
            .as_deref()
        {
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") | None => Ok(false),
            Some(text) => Err(invalid(var.name, format!("{text:?} is not true or false"))),
        }
    }

    /// The Svix verifier of the webhook's signing secret (`whsec_` and base64), if one is set.
    fn webhook(&self) -> Result<Option<Webhook>, ConfigError> {
        let Some((name, secret)) = self.value(&CLERK_WEBHOOK_SIGNING_SECRET) else {
            return Ok(None);
        };
        Webhook::new(&secret).map(Some).map_err(|_| {
            invalid(
                name,
                "not a Svix signing secret (whsec_ followed by base64)",
            )
        })
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

    fn variables() -> impl Iterator<Item = &'static Var> {
        SECTIONS.iter().flat_map(|(_, vars)| vars.iter())
    }

    #[test]
    fn defaults_run_embedded_on_loopback() {
        let config = config(&[]).unwrap();
        assert_eq!(config.database.url.expose_secret(), "sqlite://formula.db");
        assert_eq!(config.server.bind_addr.to_string(), "127.0.0.1:3002");
        assert_eq!(config.cache.options.ttl, Duration::from_secs(1200));
        assert_eq!(config.server.body_limit_bytes, 1 << 20);
        assert!(config.database.auto_migrate);
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
        for var in variables() {
            if var.default.parse::<u64>().is_ok() {
                assert!(var.range.is_some(), "{} has no documented range", var.name);
            }
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
        for var in variables() {
            let (name, Some((min, max))) = (var.name, var.range) else {
                continue;
            };
            let below = min.checked_sub(1).map(|v| v.to_string());
            let above = (max + 1).to_string();
            let huge = u64::MAX.to_string();
            for value in below.iter().chain([&above, &huge]) {
                let error = config(&[&base[..], &[(name, value.as_str())]].concat()).unwrap_err();
                assert_eq!(error.name, name, "{name}={value}");
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
        assert!(config.cache.cloudflare.is_some());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn auth_mode_none_stays_on_loopback_unless_allowed() {
        assert!(matches!(config(&[]).unwrap().auth, Auth::None));
        let error = config(&[("BIND_ADDR", "0.0.0.0:3002")]).unwrap_err();
        assert_eq!(error.name, "AUTH_MODE");
        let allowed = config(&[
            ("BIND_ADDR", "0.0.0.0:3002"),
            ("ALLOW_UNAUTHENTICATED", "true"),
        ])
        .unwrap();
        assert!(matches!(allowed.auth, Auth::None));
        let error = config(&[("AUTH_MODE", "clerk")]).unwrap_err();
        assert!(error.reason.contains("CLERK_JWT_KEY"));
        let jwks = config(&[(
            "CLERK_JWKS_URL",
            "https://clerk.example.com/.well-known/jwks.json",
        )])
        .unwrap();
        assert!(
            matches!(jwks.auth, Auth::Clerk(_)),
            "a Clerk key turns clerk mode on"
        );
    }

    #[test]
    fn database_url_is_not_printed() {
        let config = config(&[("DATABASE_URL", "postgres://u:hunter2@db/app")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    /// `.env.example` is written by `api env-example`; regenerate it after changing `SECTIONS`
    /// with `cargo run -q -p formula-api -- env-example > .env.example`.
    #[test]
    fn env_example_is_the_one_the_table_writes() {
        let committed = include_str!("../../../.env.example");
        assert!(
            committed == env_example(),
            ".env.example differs from `api env-example`: regenerate it"
        );
        for var in variables() {
            assert!(
                committed.contains(&format!("\n{}=", var.name)),
                "{}",
                var.name
            );
        }
    }

    /// The defaults that `api --help` and `.env.example` state are the ones the code applies:
    /// setting each to its documented default changes nothing.
    #[test]
    fn the_documented_defaults_are_the_applied_ones() {
        let documented: Vec<(&str, &str)> = variables()
            .filter(|var| !var.default.is_empty())
            .map(|var| (var.name, var.default))
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
        assert!(matches!(config.server.cors_origins, CorsOrigins::List(ref l) if l.len() == 2));
        let any = super::cors_origins("*").unwrap();
        assert!(matches!(any, CorsOrigins::Any));
    }
}
