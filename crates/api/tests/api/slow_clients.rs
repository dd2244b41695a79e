//! Clients that hold connections: one sending half a header line, one sending nothing or part of
//! the HTTP/2 preface, an idle keep-alive connection, one sending its body slowly, more connections
//! than the cap. Raw TCP against the real server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// A server whose clients have one second to send a request's headers.
async fn with_one_second_header_timeout() -> TestApp {
    TestApp::start(
        TestDatabase::sqlite(),
        &[("HEADER_READ_TIMEOUT_SECONDS", "1")],
    )
    .await
}

/// Reads until the server closes the connection; how long that took (panics past `limit`).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Err(_) => panic!("the connection is still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_sending_half_a_header_line_is_disconnected_after_the_timeout() {
    let app = with_one_second_header_timeout().await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /health HTTP/1.1\r\nHo").await.unwrap();
    let held = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(held >= Duration::from_millis(900), "{held:?}");
}

#[tokio::test]
async fn a_client_that_sends_nothing_or_part_of_the_http2_preface_is_disconnected_after_the_timeout(
) {
    let app = with_one_second_header_timeout().await;
    // Before any byte, and within the HTTP/2 preface, the server cannot yet tell HTTP/1 from
    // HTTP/2: hyper's header timer has not started.
    let opened = Instant::now();
    let mut silent = connect(&app).await;
    let mut preface = connect(&app).await;
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for stream in [&mut silent, &mut preface] {
        closed_within(stream, Duration::from_secs(5)).await;
        let held = opened.elapsed();
        assert!(held >= Duration::from_millis(900), "{held:?}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let app = with_one_second_header_timeout().await;
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 1024];
    let read = idle.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"), "served first");
    closed_within(&mut idle, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_request_whose_body_arrives_slowly_is_not_cut_by_the_header_timeout() {
    let app = with_one_second_header_timeout().await;
    let body = br#"{"userId": "slow-uploader"}"#;
    let mut upload = connect(&app).await;
    let head = format!(
        "POST /api/expenses/billable-costs HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    // The headers are in: hyper's header timer has stopped and the connection is marked started
    // (the first-request watch leaves it alone), however long the body takes (here 2 s, twice the
    // header timeout).
    for part in body.chunks(body.len() / 4 + 1) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        upload.write_all(part).await.unwrap();
    }
    let mut buffer = [0u8; 1024];
    let read = upload.read(&mut buffer).await.unwrap();
    assert!(
        buffer[..read].starts_with(b"HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&buffer[..read])
    );
    // Served, it is idle again: closed after the timeout.
    let held = closed_within(&mut upload, Duration::from_secs(5)).await;
    assert!(held >= Duration::from_millis(900), "{held:?}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[
            ("MAX_CONNECTIONS", "2"),
            ("HEADER_READ_TIMEOUT_SECONDS", "60"),
        ],
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = connect(&app).await;
        holder.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = format!("{}/health", app.base);
    let client = reqwest::Client::new();
    let refused = client
        .get(&health)
        .timeout(Duration::from_millis(700))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a third connection was served: {refused:?}"
    );

    drop(holders.pop());
    let served = client
        .get(&health)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
}
