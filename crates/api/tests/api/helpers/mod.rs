//! The harness: the real server on a real port (0), over a fresh database, with typed helpers.
// Without the `postgres-tests` feature the Postgres half of the harness has no caller.
#![cfg_attr(not(feature = "postgres-tests"), allow(dead_code))]

mod clerk;
mod process;

pub use clerk::*;
pub use process::Process;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use formula_api::{startup, AppState, Config};
use formula_db::DynStore;
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs each named test (an `async fn(TestApp)`) once on SQLite and, with the `postgres-tests`
/// feature, once on Postgres. `start = f;` names the test module's `async fn(TestDatabase) ->
/// TestApp` that starts the service (for tests that need extra settings); by default it starts
/// with none.
#[macro_export]
macro_rules! on_both_databases {
    (start = $start:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let database = $crate::helpers::TestDatabase::sqlite();
                    super::$name(super::$start(database).await).await
                }
            )*
        }
        #[cfg(feature = "postgres-tests")]
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let database = $crate::helpers::TestDatabase::postgres().await;
                    super::$name(super::$start(database).await).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        #[allow(dead_code)]
        async fn start_plain(database: $crate::helpers::TestDatabase) -> $crate::helpers::TestApp {
            $crate::helpers::TestApp::start(database, &[]).await
        }
        $crate::on_both_databases!(start = start_plain; $($name),*);
    };
}

/// A database that lives as long as the test.
pub enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres(PgTestDb),
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/formula.db", dir.path().display());
        TestDatabase::Sqlite { _dir: dir, url }
    }

    pub async fn postgres() -> Self {
        TestDatabase::Postgres(PgTestDb::create().await)
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } => url,
            TestDatabase::Postgres(db) => &db.url,
        }
    }
}

/// A Postgres database made for one test on the server of `TEST_DATABASE_URL`, dropped after.
pub struct PgTestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl PgTestDb {
    pub async fn create() -> Self {
        PgTestDb::create_on(&env_url(
            "TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ))
        .await
    }

    /// A database made on the server of `admin_url`; its URL keeps the admin URL's parameters.
    pub async fn create_on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_owned();
        let name = format!(
            "formula_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create test database");
        PgTestDb {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }
}

/// `url` naming the database `name` instead of its own, its parameters kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (url, params) = url.split_once('?').unwrap_or((url, ""));
    let (base, _) = url.rsplit_once('/').expect("the URL names a database");
    match params {
        "" => format!("{base}/{name}"),
        params => format!("{base}/{name}?{params}"),
    }
}

/// A URL the Postgres half of the suite needs (`scripts/test` sets them all), e.g. `example`.
pub fn env_url(name: &str, example: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("the Postgres suite needs {name}, e.g. {example} (scripts/test sets it)")
    })
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin.execute(sql.as_str()).await.map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// What the server answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        assert_eq!(self.body["success"], true, "not a success: {self:?}");
        &self.body["data"]
    }

    pub fn error(&self) -> &str {
        assert_eq!(self.body["success"], false, "not an error: {self:?}");
        assert_eq!(
            self.body["status"], self.status,
            "envelope status: {self:?}"
        );
        self.body["error"].as_str().expect("error is a string")
    }

    pub fn cache(&self) -> &str {
        self.headers
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The running service.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub database: TestDatabase,
    env: HashMap<String, String>,
    server: JoinHandle<std::io::Result<()>>,
    shutdown: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        TestApp::start(TestDatabase::sqlite(), &[]).await
    }

    pub async fn postgres() -> Self {
        TestApp::start(TestDatabase::postgres().await, &[]).await
    }

    /// Starts the service over `database` with extra environment variables.
    pub async fn start(database: TestDatabase, env: &[(&str, &str)]) -> Self {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TestApp::start_with_env(database, env).await
    }

    async fn start_with_env(database: TestDatabase, mut env: HashMap<String, String>) -> Self {
        env.entry("DATABASE_URL".into())
            .or_insert_with(|| database.url().to_owned());
        let config =
            Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
        let state = startup::build_state(config).await.expect("service state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(formula_api::server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            state,
            database,
            env,
            server,
            shutdown,
        }
    }

    /// Stops the server and starts a new one over the same database (and a cold cache).
    pub async fn restart(self) -> Self {
        let _ = self.shutdown.send(());
        self.server.await.expect("server task").expect("server");
        TestApp::start_with_env(self.database, self.env).await
    }

    pub fn db(&self) -> &DynStore {
        &self.state.db
    }

    /// What the cache holds under `key`, parsed.
    pub async fn cached(&self, key: &str) -> Option<Value> {
        let bytes = self.state.cache.get_raw(key).await.expect("cache read")?;
        Some(serde_json::from_slice(&bytes).expect("cached JSON"))
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    /// `get` of a path the future owns, for requests made many at once.
    pub async fn get_owned(&self, path: String) -> Reply {
        self.get(&path).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None).await
    }
}

/// Runs one SQL statement on the test's database, behind the service's back.
pub async fn execute(app: &TestApp, sql: &str) {
    let url = app.database.url();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        conn.execute(sql).await.expect("statement");
    } else {
        let mut conn = PgConnection::connect(url).await.expect("postgres");
        conn.execute(sql).await.expect("statement");
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        body,
    }
}

pub const EXPENSES: &str = "/api/expenses";

pub fn fixed_cost(user: &str, name: &str, amount: f64, rank: i64) -> Value {
    serde_json::json!({
        "userId": user, "name": name, "amount": amount, "category": "office",
        "rank": rank, "period": "monthly",
    })
}

pub fn equipment(user: &str, name: &str, rank: i64) -> Value {
    serde_json::json!({
        "userId": user, "name": name, "amount": 2400, "rank": rank, "category": "hardware",
        "purchaseDate": "2024-05-01", "usage": 80, "lifeSpan": 3,
    })
}

/// Creates a fixed cost through the API and returns its id.
pub async fn create_fixed(app: &TestApp, user: &str, name: &str, rank: i64) -> i64 {
    let reply = app
        .post(
            &format!("{EXPENSES}/fixed-costs"),
            &fixed_cost(user, name, 100.0, rank),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.data()["id"].as_i64().expect("id")
}

/// Creates an equipment expense through the API and returns its id.
pub async fn create_equipment(app: &TestApp, user: &str, name: &str, rank: i64) -> i64 {
    let reply = app
        .post(
            &format!("{EXPENSES}/equipment-costs"),
            &equipment(user, name, rank),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.data()["id"].as_i64().expect("id")
}

/// Asserts the ISO 8601 UTC millisecond format of the old API: `2025-03-01T09:30:00.000Z`.
pub fn assert_timestamp(value: &Value) {
    let text = value.as_str().expect("timestamp is a string");
    assert_eq!(text.len(), 24, "{text}");
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

/// The field names of a JSON object, sorted.
pub fn field_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// The error start-up stops with under `env` (with its causes, as `api` prints it).
pub async fn start_up_error(env: &[(&str, &str)]) -> String {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
    match startup::build_state(config).await {
        Ok(_) => panic!("start-up succeeded under {env:?}"),
        Err(error) => format!("{error:#}"),
    }
}

/// Reads `path` until the instance answers it from memory: the invalidation of an earlier write
/// reaches other instances a moment after the write answered.
pub async fn holds_in_memory(app: &TestApp, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while app.get(path).await.cache() != "hit" {
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never came from memory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The token the tests' `kv-emulator` instances require.
pub const KV_TOKEN: &str = "test-kv-token";

/// A `kv-emulator` with `faults`, on a port of its own.
pub async fn kv_emulator(faults: kv_emulator::Faults) -> kv_emulator::Running {
    kv_emulator::spawn(kv_emulator::Options {
        token: KV_TOKEN.into(),
        faults,
        ..kv_emulator::Options::default()
    })
    .await
    .expect("kv-emulator")
}

/// The settings that point the service at `emulator` (account `acc`, namespace `ns`).
pub fn kv_env(emulator: &kv_emulator::Running) -> Vec<(&'static str, String)> {
    vec![
        ("CACHE_BACKEND", "cloudflare".into()),
        ("CLOUDFLARE_ACCOUNT_ID", "acc".into()),
        ("CLOUDFLARE_KV_NAMESPACE", "ns".into()),
        ("CLOUDFLARE_KV_API_TOKEN", KV_TOKEN.into()),
        ("CLOUDFLARE_API_BASE_URL", emulator.api_base()),
    ]
}

/// The service over `database`, caching in `emulator`, with `extra` settings.
pub async fn app_on_kv(
    database: TestDatabase,
    emulator: &kv_emulator::Running,
    extra: &[(&str, &str)],
) -> TestApp {
    let env = kv_env(emulator);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    TestApp::start(database, &env).await
}

/// What `emulator` holds under `key`, parsed (`None` when it holds nothing).
pub async fn in_kv(emulator: &kv_emulator::Running, key: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/accounts/acc/storage/kv/namespaces/ns/values/{key}",
            emulator.api_base()
        ))
        .bearer_auth(KV_TOKEN)
        .send()
        .await
        .expect("kv-emulator answers");
    match response.status().as_u16() {
        404 => None,
        200 => Some(response.json().await.expect("JSON value")),
        other => panic!("KV answered {other}"),
    }
}

/// Both instances hold user "shared"'s list in memory; a write on `first` reaches `second`'s
/// memory within a second.
pub async fn a_write_on_one_evicts_the_other_within_a_second(first: &TestApp, second: &TestApp) {
    let path = "/api/expenses/fixed-costs?userId=shared";
    create_fixed(first, "shared", "Rent", 0).await;
    for app in [first, second] {
        holds_in_memory(app, path).await;
    }
    create_fixed(first, "shared", "Phone", 1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let read = second.get(path).await;
        if read.data().as_array().unwrap().len() == 2 {
            assert_eq!(read.cache(), "miss");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still serves the old list"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
