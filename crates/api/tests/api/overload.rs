//! A flood of distinct cold keys against a one-connection pool whose database is stuck: the
//! service refuses what it cannot run soon with 503 and `Retry-After`, at once or after its short
//! wait (never the pool's 3 s or the request's 15 s), answers no other 5xx, and recovers.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::*;

const FLOOD: usize = 300;

#[tokio::test]
async fn a_flood_of_cold_keys_gets_quick_503s_with_retry_after_and_no_other_5xx() {
    let database = TestDatabase::postgres().await;
    let app = TestApp::start(database, &[("DATABASE_MAX_CONNECTIONS", "1")]).await;

    // Every list query blocks behind this lock, holding the pool's only connection.
    let mut locker = PgConnection::connect(app.database.url()).await.unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute(r#"LOCK TABLE "expenses-fixed-cost" IN ACCESS EXCLUSIVE MODE"#)
        .await
        .unwrap();

    let flood = join_all((0..FLOOD).map(|n| {
        let app = &app;
        async move {
            let started = Instant::now();
            let reply = app
                .get(&format!("{EXPENSES}/fixed-costs?userId=flood_{n}"))
                .await;
            (reply, started.elapsed())
        }
    }));
    let release = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        locker.execute("COMMIT").await.unwrap();
    };
    let (replies, ()) = tokio::join!(flood, release);

    let mut refused = 0;
    for (reply, took) in &replies {
        match reply.status {
            200 => {}
            503 => {
                refused += 1;
                assert_eq!(
                    reply
                        .headers
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap()),
                    Some("1"),
                    "{reply:?}"
                );
                assert!(reply.error().contains("try again"), "{reply:?}");
                assert!(
                    *took < Duration::from_millis(2500),
                    "a 503 took {took:?}: the flood queued on the pool"
                );
            }
            other => panic!("answered {other}: {reply:?}"),
        }
    }
    // One load runs (stuck on the lock) and sixteen wait for it, so nearly all are refused; a
    // loaded machine may deliver some after the first waiters gave up, which then get a place.
    // Without the bound every request waits on the pool and none is refused.
    assert!(
        refused >= FLOOD / 2,
        "only {refused} of {FLOOD} refused: the loads queued"
    );

    let after = app
        .get(&format!("{EXPENSES}/fixed-costs?userId=flood_0"))
        .await;
    assert_eq!(after.status, 200, "{after:?}");
}
