//! The Cloudflare client against `kv-emulator`, over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use formula_cache::{CacheError, CloudflareKv, CloudflareOptions, KvStore};
use kv_emulator::{Faults, Options, Running, Stats};
use secrecy::SecretString;

const TOKEN: &str = "tok-3f9a-very-secret";

struct Setup {
    emulator: Running,
    kv: CloudflareKv,
}

fn options(emulator: &Running) -> CloudflareOptions {
    let mut options = CloudflareOptions::new("acc", "ns1", SecretString::from(TOKEN));
    options.api_base = emulator.api_base();
    options.request_timeout = Duration::from_millis(300);
    options.retry_backoff = Duration::from_millis(5);
    options
}

async fn setup_with(change: impl FnOnce(&mut CloudflareOptions), emulator: Options) -> Setup {
    let emulator = kv_emulator::spawn(emulator).await.unwrap();
    let mut options = options(&emulator);
    change(&mut options);
    Setup {
        kv: CloudflareKv::new(options).unwrap(),
        emulator,
    }
}

async fn setup() -> Setup {
    setup_with(|_| {}, emulator_accepting_token()).await
}

impl Setup {
    async fn stats(&self) -> Stats {
        self.emulator.stats().await.unwrap()
    }

    async fn faults(&self, faults: Faults) {
        self.emulator.set_faults(&faults).await.unwrap();
    }
}

/// An emulator that accepts the test token.
fn emulator_accepting_token() -> Options {
    Options {
        token: TOKEN.into(),
        ..Options::default()
    }
}

#[tokio::test]
async fn reads_writes_and_deletes() {
    let s = setup().await;
    assert_eq!(s.kv.get("k").await.unwrap(), None, "a 404 is a miss");
    s.kv.put("k", Bytes::from_static(b"[1,2]"), Duration::from_secs(1200))
        .await
        .unwrap();
    assert_eq!(
        s.kv.get("k").await.unwrap(),
        Some(Bytes::from_static(b"[1,2]"))
    );
    assert_eq!(s.stats().await.write_ttls, vec![Some(1200)]);
    s.kv.delete("k").await.unwrap();
    s.kv.delete("never-written").await.unwrap();
    assert_eq!(s.kv.get("k").await.unwrap(), None);

    for key in ["a", "b", "c"] {
        s.kv.put(key, Bytes::from_static(b"1"), Duration::from_secs(60))
            .await
            .unwrap();
    }
    s.kv.delete_many(&["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(s.kv.get("b").await.unwrap(), None);
    let stats = s.stats().await;
    assert_eq!(
        stats.count("bulk_delete"),
        1,
        "one bulk call for three keys"
    );
}

#[tokio::test]
async fn keys_travel_percent_encoded() {
    let s = setup().await;
    let key = "fixed-cost-list:user/1?x y.z";
    s.kv.put(key, Bytes::from_static(b"v"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(s.kv.get(key).await.unwrap(), Some(Bytes::from_static(b"v")));
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/accounts/acc/storage/kv/namespaces/ns1/keys",
            s.emulator.api_base()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["result"][0]["name"], key);
}

#[tokio::test]
async fn refusals_are_typed_with_status_and_codes_and_never_show_the_token() {
    let s = setup_with(
        |o| o.token = SecretString::from("wrong-token-abc"),
        emulator_accepting_token(),
    )
    .await;
    let error = s.kv.get("k").await.unwrap_err();
    match &error {
        CacheError::Backend { status, errors } => {
            assert_eq!(*status, 403);
            assert_eq!(errors[0].code, 10000);
            assert_eq!(errors[0].message, "Authentication error");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("403") && shown.contains("10000"), "{shown}");
    assert!(!shown.contains("wrong-token-abc"));
}

#[tokio::test]
async fn a_missing_namespace_is_an_error_not_a_miss() {
    let s = setup_with(
        |_| {},
        Options {
            token: TOKEN.into(),
            namespaces: Some(vec!["another".into()]),
            ..Options::default()
        },
    )
    .await;
    let error = s.kv.get("k").await.unwrap_err();
    assert!(
        matches!(&error, CacheError::Backend { status: 404, errors } if errors[0].code == 10013),
        "{error:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let s = setup().await;
    s.faults(Faults {
        fail_next: 2,
        ..Faults::default()
    })
    .await;
    assert_eq!(s.kv.get("k").await.unwrap(), None, "third attempt succeeds");
    assert_eq!(s.stats().await.count("get"), 3);

    s.faults(Faults {
        fail_next: 10,
        ..Faults::default()
    })
    .await;
    let error = s.kv.get("k").await.unwrap_err();
    assert!(
        matches!(error, CacheError::Backend { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(s.stats().await.count("get"), 6, "one call and two retries");
}

#[tokio::test]
async fn hanging_requests_time_out() {
    let s = setup_with(|o| o.retries = 0, emulator_accepting_token()).await;
    s.faults(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let error = s.kv.get("k").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&error, CacheError::Unavailable(m) if m.contains("timed out")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_pauses_every_call_for_its_retry_after() {
    let s = setup().await;
    s.faults(Faults {
        force_429: true,
        retry_after_secs: Some(1),
        ..Faults::default()
    })
    .await;
    let error = s.kv.get("k").await.unwrap_err();
    assert!(
        matches!(error, CacheError::Backend { status: 429, .. }),
        "{error:?}"
    );
    s.faults(Faults::default()).await;

    for _ in 0..20 {
        let paused = s.kv.delete("k").await.unwrap_err();
        assert!(
            matches!(&paused, CacheError::Unavailable(m) if m.contains("paused")),
            "{paused:?}"
        );
    }
    assert_eq!(s.stats().await.total, 1, "nothing sent while paused");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.kv.delete("k").await.unwrap();
    assert_eq!(s.stats().await.total, 2);
}

#[tokio::test]
async fn a_burst_far_above_the_budget_stays_within_it_and_invalidations_go_first() {
    let s = setup_with(
        |o| {
            o.budget_per_five_minutes = 200;
            o.budget_reserved_percent = 20;
        },
        emulator_accepting_token(),
    )
    .await;
    let kv = Arc::new(s.kv);
    let mut tasks = Vec::new();
    for i in 0..2000 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(
            async move { kv.get(&format!("user:{i}")).await },
        ));
    }
    let mut throttled = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(CacheError::Throttled) => throttled += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    let sent = s.emulator.stats().await.unwrap().total;
    // Value calls may burst to a tenth of their 160 (80% of 200), plus what refills meanwhile.
    assert!(sent <= 20, "{sent} calls sent for 2000 reads");
    assert_eq!(throttled as u64, 2000 - sent);

    // Reads are spent, but the reserve still carries invalidations.
    assert!(matches!(kv.get("x").await, Err(CacheError::Throttled)));
    kv.delete("user:1").await.unwrap();
}

#[tokio::test]
async fn an_outage_opens_the_breaker_so_requests_stop_paying_timeouts() {
    let s = setup_with(
        |o| {
            o.retries = 0;
            o.breaker_failures = 3;
            o.breaker_open_for = Duration::from_millis(400);
        },
        emulator_accepting_token(),
    )
    .await;
    s.faults(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    for _ in 0..3 {
        assert!(s.kv.get("k").await.is_err());
    }
    let started = Instant::now();
    for _ in 0..50 {
        let error = s.kv.get("k").await.unwrap_err();
        assert!(
            matches!(&error, CacheError::Unavailable(m) if m.contains("circuit open")),
            "{error:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "fail fast while open"
    );
    assert_eq!(s.stats().await.count("get"), 3);

    s.faults(Faults::default()).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        s.kv.get("k").await.unwrap(),
        None,
        "a probe closes it again"
    );
    assert_eq!(s.kv.get("k").await.unwrap(), None);
}

#[test]
fn the_token_never_reaches_the_log() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = buffer.clone();
        move || BufferWriter(buffer.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let s = setup().await;
        s.faults(Faults {
            force_429: true,
            ..Faults::default()
        })
        .await;
        let _ = s.kv.get("k").await;
        s.faults(Faults::default()).await;
        let _ =
            s.kv.put("k", Bytes::from_static(b"v"), Duration::from_secs(60))
                .await;
    });
    let logged = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("429"), "the pause is logged: {logged}");
    assert!(!logged.contains(TOKEN));
}

struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
