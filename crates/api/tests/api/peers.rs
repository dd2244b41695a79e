//! Several instances on one Postgres: a write on one evicts the others' in-process entries within
//! a second, through LISTEN/NOTIFY.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_write_on_one_instance_evicts_the_others_within_a_second() {
    let first = TestApp::postgres().await;
    let url = first.database.url().to_owned();
    let second = TestApp::start(TestDatabase::sqlite(), &[("DATABASE_URL", url.as_str())]).await;
    let path = "/api/expenses/fixed-costs?userId=shared";
    create_fixed(&first, "shared", "Rent", 0).await;
    for app in [&first, &second] {
        app.get(path).await;
        assert_eq!(
            app.get(path).await.cache(),
            "hit",
            "both hold the list in memory"
        );
    }

    create_fixed(&first, "shared", "Phone", 1).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let read = second.get(path).await;
        if read.data().as_array().unwrap().len() == 2 {
            assert_eq!(read.cache(), "miss");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other instance still serves the old list"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
