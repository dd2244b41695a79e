//! Clients that hold connections: one sending half a header line, an idle keep-alive connection,
//! more connections than the cap. Raw TCP against the real server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
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
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[("HEADER_READ_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /health HTTP/1.1\r\nHo").await.unwrap();
    let held = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(held >= Duration::from_millis(900), "{held:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[("HEADER_READ_TIMEOUT_SECONDS", "1")],
    )
    .await;
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
