//! Every validation rule of the contract answers 400 with a sentence naming the field, and
//! writes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use formula_api::fields::UserId;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    every_rule_answers_400_naming_the_field,
    unknown_fields_are_ignored,
    invalid_utf8_in_a_query_string_is_refused_naming_the_field,
);

const FIXED: &str = "/api/expenses/fixed-costs";
const BILLABLE: &str = "/api/expenses/billable-costs";
const EQUIPMENT: &str = "/api/expenses/equipment-costs";

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

fn without(mut body: Value, field: &str) -> Value {
    body.as_object_mut().unwrap().remove(field);
    body
}

fn batch(updates: Vec<Value>) -> Value {
    json!({"userId": "u", "updates": updates})
}

async fn every_rule_answers_400_naming_the_field(app: TestApp) {
    let fixed = fixed_cost("u", "Rent", 10.0, 0);
    let gear = equipment("u", "Laptop", 0);
    let long_id = "x".repeat(UserId::MAX_BYTES + 1);
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::POST, FIXED.into(), Some(without(fixed.clone(), "userId")), "userId: required"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "userId", json!(""))), "userId: must not be empty"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "userId", json!(long_id))), "userId: must be at most 128 bytes"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "userId", json!("a\u{7}b"))), "userId: must not contain control characters"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "userId", json!(42))), "userId: expected a string, got a number"),
        (Method::POST, FIXED.into(), Some(without(fixed.clone(), "name")), "missing field name"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "name", json!(" "))), "name: must not be empty"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "name", json!("n".repeat(256)))), "name: must be at most 255 characters"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "category", json!(["x"]))), "category: expected a string, got an array"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "amount", json!("12"))), "amount: expected a number, got a string"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "amount", json!(null))), "amount: expected a number, got null"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "amount", json!(-0.5))), "amount: must be ≥ 0"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "rank", json!(1.5))), "rank: must be an integer ≥ 0"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "rank", json!(-1))), "rank: must be an integer ≥ 0"),
        (Method::POST, FIXED.into(), Some(with(fixed.clone(), "period", json!("weekly"))), "period: unknown variant weekly, expected monthly or yearly"),
        (Method::PATCH, format!("{FIXED}/abc"), Some(json!({"userId": "u"})), "id: expected a positive integer, got \"abc\""),
        (Method::PATCH, format!("{FIXED}/0"), Some(json!({"userId": "u"})), "id: expected a positive integer, got \"0\""),
        (Method::DELETE, format!("{FIXED}/u/-4"), None, "id: expected a positive integer, got \"-4\""),
        (Method::GET, FIXED.into(), None, "userId: required"),
        (Method::GET, format!("{EQUIPMENT}?userId="), None, "userId: must not be empty"),
        (Method::PUT, FIXED.into(), Some(batch(vec![])), "updates: expected 1 to 500 items, got 0"),
        (Method::PUT, FIXED.into(), Some(batch((1..=501).map(|id| json!({"id": id, "data": {}})).collect())), "updates: expected 1 to 500 items, got 501"),
        (Method::PUT, FIXED.into(), Some(batch(vec![json!({"id": 3, "data": {}}), json!({"id": 3, "data": {}})])), "updates[1].id: 3 appears more than once"),
        (Method::PUT, FIXED.into(), Some(batch(vec![json!({"id": 0, "data": {}})])), "updates[0].id: must be a positive integer"),
        (Method::PUT, EQUIPMENT.into(), Some(batch(vec![json!({"id": 1, "data": {"lifeSpan": 0}})])), "updates[0].data.lifeSpan: must be > 0"),
        (Method::PUT, FIXED.into(), Some(json!({"userId": "u"})), "missing field updates"),
        (Method::POST, EQUIPMENT.into(), Some(with(gear.clone(), "purchaseDate", json!("soon"))), "purchaseDate: expected an ISO 8601 date (2024-05-01), date-time (2024-05-01T10:00:00.000Z) or milliseconds since the epoch, in the years 0001 to 9999"),
        (Method::POST, EQUIPMENT.into(), Some(with(gear.clone(), "lifeSpan", json!(0))), "lifeSpan: must be > 0"),
        (Method::POST, EQUIPMENT.into(), Some(with(gear.clone(), "usage", json!(-1))), "usage: must be ≥ 0"),
        (Method::POST, EQUIPMENT.into(), Some(with(gear.clone(), "rank", json!("1"))), "rank: expected a number, got a string"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "workDays": 8})), "workDays: must be ≤ 7"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "hoursPerDay": 24.5})), "hoursPerDay: must be ≤ 24"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "holidaysDays": 367})), "holidaysDays: must be ≤ 366"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "vacationsDays": -1})), "vacationsDays: must be ≥ 0"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "sickLeaveDays": 400})), "sickLeaveDays: must be ≤ 366"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "margin": -3})), "margin: must be ≥ 0"),
        (Method::PATCH, BILLABLE.into(), Some(json!({"userId": "u", "billableHours": "many"})), "billableHours: expected a number, got a string"),
        (Method::POST, BILLABLE.into(), Some(json!({})), "userId: required"),
    ];
    for (method, path, body, expected) in cases {
        let reply = app.request(method.clone(), &path, body.as_ref()).await;
        assert_eq!(reply.status, 400, "{method} {path} {body:?}: {reply:?}");
        assert_eq!(reply.error(), expected, "{method} {path} {body:?}");
    }
    assert!(app.db().list_fixed_costs("u").await.unwrap().is_empty());
    assert!(app.db().list_equipment("u").await.unwrap().is_empty());
    assert!(app.db().get_user("u").await.unwrap().is_none());
}

async fn unknown_fields_are_ignored(app: TestApp) {
    let body = with(fixed_cost("u", "Rent", 1.0, 0), "color", json!("blue"));
    let reply = app.post(FIXED, &body).await;
    assert_eq!(reply.status, 201);
    assert!(reply.data().get("color").is_none());
}

/// `%FF%FE` is not UTF-8: refused as the same bytes in a body are, never decoded lossily.
async fn invalid_utf8_in_a_query_string_is_refused_naming_the_field(app: TestApp) {
    for path in [FIXED, BILLABLE, EQUIPMENT] {
        let reply = app.get(&format!("{path}?userId=%FF%FE")).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert_eq!(reply.error(), "userId: not valid UTF-8");
    }
    let fine = app.get(&format!("{FIXED}?userId=%C3%A9l%C3%A8ve")).await;
    assert_eq!(fine.status, 200, "{fine:?}");
}
