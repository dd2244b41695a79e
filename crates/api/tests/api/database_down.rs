//! The database cut off mid-flight (through a TCP proxy in front of Postgres): reads and webhooks
//! answer 503 so clients and Svix retry, nothing is half-written, and service resumes once the
//! database is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;

/// Forwards loopback connections to Postgres until cut.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    kill: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (kill, _) = watch::channel(0u64);
        let (accepting_cut, killer) = (cut.clone(), kill.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accepting_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused mid-handshake
                }
                let mut killed = killer.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        });
        Proxy { port, cut, kill }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.kill.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// The `host[:port]` of a `postgres://user@host:port/db` URL.
fn server_of(url: &str) -> &str {
    let authority = url.split('/').nth(2).expect("a URL");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, server)| server)
}

#[tokio::test]
async fn cut_database_answers_503_and_resumes_without_half_writes() {
    let database = TestDatabase::postgres().await;
    let url = database.url().to_owned();
    let server = server_of(&url);
    let target = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    };
    let proxy = Proxy::start(target).await;
    let proxied = url.replacen(
        &format!("{server}/"),
        &format!("127.0.0.1:{}/", proxy.port),
        1,
    );
    let app = webhook_app_with(database, &[("DATABASE_URL", proxied.as_str())]).await;
    create_fixed(&app, "u", "Rent", 0).await;

    proxy.cut();
    let read = app.get("/api/expenses/fixed-costs?userId=uncached").await;
    assert_eq!(read.status, 503, "{read:?}");
    assert!(read.error().contains("database is unavailable"));
    assert_eq!(
        read.headers["retry-after"], "1",
        "clients are told when to retry"
    );
    let write = app
        .post(
            "/api/expenses/fixed-costs",
            &fixed_cost("u", "Phone", 1.0, 1),
        )
        .await;
    assert_eq!(write.status, 503);
    let body = event(
        "user.created",
        clerk_user("user_down", Some("D"), None, 5),
        5,
    );
    let webhook = deliver(&app, "msg_down", &body).await;
    assert_eq!(webhook.status, 503, "Svix retries a 5xx");
    let cron = app.get("/cron/keep-alive").await;
    assert_eq!(cron.status, 503);

    proxy.restore();
    let retried = deliver(&app, "msg_down", &body).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(
        retried.data()["result"],
        "applied",
        "nothing was recorded while down"
    );
    let rows = app.db().list_fixed_costs("u").await.unwrap();
    assert_eq!(rows.len(), 1, "the refused write left nothing");
    assert!(app
        .db()
        .get_billable_cost("user_down")
        .await
        .unwrap()
        .is_some());
}
