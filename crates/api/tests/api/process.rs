//! The `api` binary as operators run it: signals, exit codes and what it logs.

use std::time::Duration;

use futures::StreamExt;
use kv_emulator::{Faults, Options};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_lets_every_request_in_flight_finish_and_exits_0() {
    // Every cold read waits 300 ms on KV: plenty are in flight when the signal lands.
    let emulator = kv_emulator::spawn(Options {
        faults: Faults {
            latency_ms: 300,
            ..Faults::default()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let api_base = emulator.api_base();
    let mut process = Process::start(&[
        ("CLOUDFLARE_ACCOUNT_ID", "acc"),
        ("CLOUDFLARE_KV_NAMESPACE", "ns"),
        ("CLOUDFLARE_KV_API_TOKEN", "emulator-token"),
        ("CLOUDFLARE_API_BASE_URL", api_base.as_str()),
    ])
    .await;
    let client = reqwest::Client::new();
    let base = process.base.clone();
    let load = tokio::spawn(async move {
        futures::stream::iter(0..60)
            .map(|i| {
                let (client, base) = (client.clone(), base.clone());
                async move {
                    client
                        .get(format!("{base}/api/expenses/fixed-costs?userId=load_{i}"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                }
            })
            .buffer_unordered(60)
            .collect::<Vec<_>>()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    process.terminate();
    let answers = load.await.unwrap();
    assert_eq!(process.exit_code().await, Some(0), "{}", process.log());
    let finished = answers.iter().filter(|a| matches!(a, Ok(200))).count();
    assert_eq!(
        finished, 60,
        "every request in flight finished: {answers:?}"
    );
    let log = process.log();
    assert!(log.contains("shutdown signal received"));
    // The workers' batches of log lines are all written at exit: one line per request.
    let lines = log
        .lines()
        .filter(|line| line.contains("route=/api/expenses/fixed-costs status=200"))
        .count();
    assert_eq!(lines, 60, "{log}");
}

/// A runtime worker hands its log lines over when it runs out of work: a service that has
/// answered and idles holds none of them back.
#[tokio::test]
async fn an_idle_service_holds_no_log_line_back() {
    let process = Process::start(&[]).await;
    let answer = reqwest::Client::new()
        .get(format!("{}/health", process.base))
        .header("x-request-id", "idle-line-1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // It leaves when the worker parks, within milliseconds; the sweeper's 100 ms is the bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while !process.log().contains("request_id=idle-line-1") {
        assert!(
            std::time::Instant::now() < deadline,
            "the request's line was not written while the service idled: {}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `RUST_LOG=` (blank, as an env file leaves it) is the default level, not errors only.
#[tokio::test]
async fn a_blank_rust_log_logs_at_the_default_level() {
    let log = log_of_one_health_check(&[("RUST_LOG", "")]).await;
    assert!(log.contains("finished processing request"), "{log}");
    assert!(log.contains("formula-api listening"), "{log}");
}

/// A request's line is written straight to the log's writer, not as a tracing event: it still
/// obeys `RUST_LOG` and `LOG_FORMAT`.
#[tokio::test]
async fn the_access_line_follows_rust_log_and_log_format() {
    let quiet = log_of_one_health_check(&[("RUST_LOG", "warn")]).await;
    assert!(!quiet.contains("finished processing request"), "{quiet}");
    let only_edge_off =
        log_of_one_health_check(&[("RUST_LOG", "info,formula_api::edge=warn")]).await;
    assert!(
        !only_edge_off.contains("finished processing request"),
        "{only_edge_off}"
    );
    assert!(
        only_edge_off.contains("formula-api listening"),
        "{only_edge_off}"
    );
    // A directive on a field the access line does not have (a failure's `error`) keeps it out;
    // one on a field it has lets it through.
    let failures_only =
        log_of_one_health_check(&[("RUST_LOG", "warn,formula_api::edge[{error}]=info")]).await;
    assert!(
        !failures_only.contains("finished processing request"),
        "{failures_only}"
    );
    let with_status =
        log_of_one_health_check(&[("RUST_LOG", "warn,formula_api::edge[{status}]=info")]).await;
    assert!(
        with_status.contains("finished processing request"),
        "{with_status}"
    );

    let json = log_of_one_health_check(&[("LOG_FORMAT", "json")]).await;
    let line = json
        .lines()
        .find(|line| line.contains("finished processing request"))
        .unwrap_or_else(|| panic!("no access line: {json}"));
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["target"], "formula_api::edge", "{line}");
    assert_eq!(line["message"], "finished processing request", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "/health", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_us"].is_u64(), "{line}");
    assert!(line["request_id"].is_string(), "{line}");
}

/// A log that is not a terminal (a pipe here, a container's collector in production) gets plain
/// text: no ANSI colour codes around the fields.
#[tokio::test]
async fn a_piped_text_log_has_no_colour_codes() {
    let log = log_of_one_health_check(&[("LOG_FORMAT", "text")]).await;
    assert!(log.contains("finished processing request"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}

#[tokio::test]
async fn logs_carry_request_ids_and_never_secrets() {
    let cron_secret = "cron-secret-4f1d";
    let mut process = Process::start(&[
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        ("CLERK_JWT_KEY", KEY_A.public_pem.as_str()),
        ("CLERK_WEBHOOK_SIGNING_SECRET", SECRET),
        ("CRON_SECRET", cron_secret),
    ])
    .await;
    let token = KEY_A.token("user_logged");
    let client = reqwest::Client::new();
    let answered = client
        .get(format!("{}/api/expenses/fixed-costs", process.base))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.headers()["x-request-id"], "trace-me-123");
    client
        .get(format!("{}/api/expenses/billable-costs", process.base))
        .header("cookie", format!("__session={token}"))
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/api/expenses/billable-costs", process.base))
        .bearer_auth("forged.token.value")
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/cron/keep-alive", process.base))
        .bearer_auth(cron_secret)
        .send()
        .await
        .unwrap();
    let body = event(
        "user.created",
        clerk_user("user_logged", Some("Privatefirstname"), None, 1),
        1,
    );
    // A correctly signed delivery, so its body is parsed and applied, not refused unread.
    let body = serde_json::to_vec(&body).unwrap();
    let now = chrono::Utc::now().timestamp();
    let delivered = post_signed(&client, &process.base, SECRET, "msg_log", now, &body).await;
    assert_eq!(delivered.status(), 200);
    process.terminate();
    assert_eq!(process.exit_code().await, Some(0));

    let log = process.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    assert!(
        log.contains("trace-me-123"),
        "the request id reaches the log"
    );
    for secret in [
        token.as_str(),
        &token[..40],
        "forged.token.value",
        cron_secret,
        SECRET,
        "Privatefirstname",
        "user_logged@example.org",
    ] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

/// What the service, started with `env`, logs from start to a clean exit around one `/health`.
async fn log_of_one_health_check(env: &[(&str, &str)]) -> String {
    let mut process = Process::start(env).await;
    let health = reqwest::get(format!("{}/health", process.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    process.terminate();
    assert_eq!(process.exit_code().await, Some(0), "{}", process.log());
    process.log()
}
