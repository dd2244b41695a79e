//! Several instances on one Postgres: a write on one evicts the others' in-process entries within
//! a second, through LISTEN/NOTIFY.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_write_on_one_instance_evicts_the_others_within_a_second() {
    let first = TestApp::postgres().await;
    let url = first.database.url().to_owned();
    let second = TestApp::start(TestDatabase::sqlite(), &[("DATABASE_URL", url.as_str())]).await;
    a_write_on_one_evicts_the_other_within_a_second(&first, &second).await;
}

/// Forwards connections to `target` until frozen; then holds them open and silent, as a
/// database that stopped answering does.
async fn freezing_proxy(target: String) -> (u16, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (freeze, frozen) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut frozen = frozen.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                let froze = tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                    froze = frozen.wait_for(|frozen| *frozen) => froze.is_ok(),
                };
                if froze {
                    std::future::pending::<()>().await;
                }
                drop((client, server));
            });
        }
    });
    (port, freeze)
}

#[tokio::test]
async fn writes_do_not_wait_on_a_stalled_notify() {
    let database = TestDatabase::postgres().await;
    let direct = database.url().to_owned();
    let (port, freeze) = freezing_proxy("127.0.0.1:5432".into()).await;
    let name = direct.rsplit_once('/').unwrap().1;
    let stalling = format!("postgres://postgres@127.0.0.1:{port}/{name}");
    let app = TestApp::start(
        database,
        &[
            ("DATABASE_URL", direct.as_str()),
            ("DATABASE_URL_UNPOOLED", stalling.as_str()),
        ],
    )
    .await;
    freeze.send_replace(true);
    let started = Instant::now();
    for n in 0..20 {
        create_fixed(&app, "busy", &format!("cost {n}"), n).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "20 writes took {:?} with the peers' channel stalled",
        started.elapsed()
    );
}
