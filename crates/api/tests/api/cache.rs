//! Read-through and invalidation, observed through the real server and its cache backend.

use formula_db::models::FixedCostPatch;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    second_get_is_served_from_the_cache,
    every_write_invalidates_its_key_and_only_its_key,
    billable_post_writes_the_key,
);

const FIXED: &str = "/api/expenses/fixed-costs";
const BILLABLE: &str = "/api/expenses/billable-costs";
const EQUIPMENT: &str = "/api/expenses/equipment-costs";

async fn cached(app: &TestApp, key: &str) -> Option<Value> {
    app.cached(key).await
}

async fn second_get_is_served_from_the_cache(app: TestApp) {
    let id = create_fixed(&app, "u", "Rent", 0).await;
    let first = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(first.cache(), "miss");
    let raw = app
        .state
        .cache
        .get_raw("fixed-cost-list:u")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).unwrap(),
        *first.data()
    );
    assert!(
        !String::from_utf8_lossy(&raw).contains("100.0"),
        "numbers as JavaScript writes them"
    );

    // Change the row behind the service's back: a cached read cannot see it.
    let patch = FixedCostPatch {
        amount: Some(5.0),
        ..FixedCostPatch::default()
    };
    app.db()
        .update_fixed_costs("u", &[(id as i32, patch)], &[])
        .await
        .unwrap();
    let second = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(second.cache(), "hit");
    assert_eq!(second.data(), first.data());
}

async fn every_write_invalidates_its_key_and_only_its_key(app: TestApp) {
    let fixed = create_fixed(&app, "u", "Rent", 0).await;
    let gear = create_equipment(&app, "u", "Laptop", 0).await;
    app.post(BILLABLE, &json!({"userId": "u"})).await;
    create_fixed(&app, "other", "Theirs", 0).await;

    let writes: Vec<(&str, reqwest::Method, String, Option<Value>)> = vec![
        (
            "fixed-cost-list:u",
            reqwest::Method::POST,
            FIXED.into(),
            Some(fixed_cost("u", "More", 1.0, 1)),
        ),
        (
            "fixed-cost-list:u",
            reqwest::Method::PATCH,
            format!("{FIXED}/{fixed}"),
            Some(json!({"userId": "u", "amount": 3})),
        ),
        (
            "fixed-cost-list:u",
            reqwest::Method::PUT,
            FIXED.into(),
            Some(json!({"userId": "u", "updates": [{"id": fixed, "data": {"rank": 2}}]})),
        ),
        (
            "billable-cost:u",
            reqwest::Method::PATCH,
            BILLABLE.into(),
            Some(json!({"userId": "u", "taxes": 20})),
        ),
        (
            "equipment-cost-list:u",
            reqwest::Method::POST,
            EQUIPMENT.into(),
            Some(equipment("u", "Desk", 1)),
        ),
        (
            "equipment-cost-list:u",
            reqwest::Method::PATCH,
            EQUIPMENT.into(),
            Some(json!({"userId": "u", "id": gear, "usage": 10})),
        ),
        (
            "equipment-cost-list:u",
            reqwest::Method::PUT,
            EQUIPMENT.into(),
            Some(json!({"userId": "u", "updates": [{"id": gear, "data": {"rank": 3}}]})),
        ),
        (
            "equipment-cost-list:u",
            reqwest::Method::DELETE,
            format!("{EQUIPMENT}/u/{gear}"),
            None,
        ),
        (
            "fixed-cost-list:u",
            reqwest::Method::DELETE,
            format!("{FIXED}/u/{fixed}"),
            None,
        ),
    ];
    for (key, method, path, body) in writes {
        // Prime every key of both users.
        for list in [FIXED, BILLABLE, EQUIPMENT] {
            app.get(&format!("{list}?userId=u")).await;
        }
        app.get(&format!("{FIXED}?userId=other")).await;
        let reply = app.request(method.clone(), &path, body.as_ref()).await;
        assert!(reply.status < 300, "{method} {path}: {reply:?}");

        assert!(
            cached(&app, key).await.is_none(),
            "{method} {path} left {key} cached"
        );
        for other in [
            "fixed-cost-list:u",
            "billable-cost:u",
            "equipment-cost-list:u",
            "fixed-cost-list:other",
        ] {
            if other != key {
                assert!(
                    cached(&app, other).await.is_some(),
                    "{method} {path} dropped {other}"
                );
            }
        }
        let list = match key {
            "fixed-cost-list:u" => FIXED,
            "billable-cost:u" => BILLABLE,
            _ => EQUIPMENT,
        };
        let fresh = app.get(&format!("{list}?userId=u")).await;
        assert_eq!(fresh.cache(), "miss", "{method} {path}");
    }
}

async fn billable_post_writes_the_key(app: TestApp) {
    app.get(&format!("{BILLABLE}?userId=u")).await;
    assert_eq!(cached(&app, "billable-cost:u").await, Some(json!(null)));
    let created = app.post(BILLABLE, &json!({"userId": "u"})).await;
    assert_eq!(
        cached(&app, "billable-cost:u").await.as_ref(),
        Some(created.data())
    );
    let fetched = app.get(&format!("{BILLABLE}?userId=u")).await;
    assert_eq!(fetched.cache(), "hit");
    assert_eq!(fetched.data(), created.data());
}
