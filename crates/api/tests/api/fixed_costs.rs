//! Routes 1–5.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    list_is_empty_for_a_new_user,
    create_answers_201_with_every_field,
    list_is_ordered_by_rank_then_id,
    patch_changes_only_the_fields_given,
    patch_with_null_period_clears_it,
    batch_updates_every_row_in_request_order,
    batch_with_a_foreign_id_changes_nothing,
    batch_with_an_invalid_item_changes_nothing,
    delete_removes_the_row,
    first_write_creates_the_missing_user_row,
);

const FIXED: &str = "/api/expenses/fixed-costs";

async fn list_is_empty_for_a_new_user(app: TestApp) {
    let reply = app.get(&format!("{FIXED}?userId=nobody")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"status": 200, "success": true, "data": []})
    );
}

async fn create_answers_201_with_every_field(app: TestApp) {
    let reply = app
        .post(FIXED, &fixed_cost("user_a", "Rent", 950.5, 2))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["status"], 201);
    let row = reply.data();
    assert_eq!(
        field_names(row),
        [
            "amount",
            "category",
            "createdAt",
            "id",
            "name",
            "period",
            "rank",
            "updatedAt",
            "userId"
        ]
    );
    assert!(row["id"].as_i64().unwrap() > 0);
    assert_eq!(row["userId"], "user_a");
    assert_eq!(row["name"], "Rent");
    assert_eq!(row["amount"], 950.5);
    assert_eq!(row["category"], "office");
    assert_eq!(row["rank"], 2);
    assert_eq!(row["period"], "monthly");
    assert_timestamp(&row["createdAt"]);
    assert_eq!(row["createdAt"], row["updatedAt"]);

    let listed = app.get(&format!("{FIXED}?userId=user_a")).await;
    assert_eq!(listed.data(), &json!([row]));
}

async fn list_is_ordered_by_rank_then_id(app: TestApp) {
    let c = create_fixed(&app, "u", "c", 2).await;
    let a = create_fixed(&app, "u", "a", 1).await;
    let b = create_fixed(&app, "u", "b", 1).await;
    let d = create_fixed(&app, "u", "d", 0).await;
    let listed = app.get(&format!("{FIXED}?userId=u")).await;
    let ids: Vec<i64> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [d, a, b, c]);
}

async fn patch_changes_only_the_fields_given(app: TestApp) {
    let created = app.post(FIXED, &fixed_cost("u", "Rent", 900.0, 1)).await;
    let before = created.data().clone();
    let id = before["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let reply = app
        .patch(
            &format!("{FIXED}/{id}"),
            &json!({"userId": "u", "amount": 1000, "name": "Office rent"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let after = reply.data();
    assert_eq!(after["amount"], 1000);
    assert_eq!(after["name"], "Office rent");
    assert_eq!(after["category"], before["category"]);
    assert_eq!(after["rank"], before["rank"]);
    assert_eq!(after["period"], "monthly");
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert!(after["updatedAt"].as_str() > before["updatedAt"].as_str());
    assert_timestamp(&after["updatedAt"]);

    let stored = app.db().list_fixed_costs("u").await.unwrap();
    assert_eq!(stored[0].amount, 1000.0);
    assert_eq!(stored[0].name, "Office rent");
}

async fn patch_with_null_period_clears_it(app: TestApp) {
    let id = create_fixed(&app, "u", "Rent", 1).await;
    let reply = app
        .patch(
            &format!("{FIXED}/{id}"),
            &json!({"userId": "u", "period": null}),
        )
        .await;
    assert_eq!(reply.data()["period"], json!(null));
    let reply = app
        .patch(
            &format!("{FIXED}/{id}"),
            &json!({"userId": "u", "period": "yearly"}),
        )
        .await;
    assert_eq!(reply.data()["period"], "yearly");
}

async fn batch_updates_every_row_in_request_order(app: TestApp) {
    let a = create_fixed(&app, "u", "a", 0).await;
    let b = create_fixed(&app, "u", "b", 1).await;
    let reply = app
        .put(
            FIXED,
            &json!({"userId": "u", "updates": [
                {"id": b, "data": {"rank": 0}},
                {"id": a, "data": {"rank": 1, "amount": 7}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let rows = reply.data().as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], b);
    assert_eq!(rows[0]["rank"], 0);
    assert_eq!(rows[1]["id"], a);
    assert_eq!(rows[1]["amount"], 7);
    let listed = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(listed.data()[0]["id"], b);
}

async fn batch_with_a_foreign_id_changes_nothing(app: TestApp) {
    let mine = create_fixed(&app, "u", "mine", 0).await;
    let theirs = create_fixed(&app, "other", "theirs", 0).await;
    let before = app.db().list_fixed_costs("u").await.unwrap();
    let reply = app
        .put(
            FIXED,
            &json!({"userId": "u", "updates": [
                {"id": mine, "data": {"amount": 1}},
                {"id": theirs, "data": {"amount": 2}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains(&theirs.to_string()), "{reply:?}");
    assert_eq!(app.db().list_fixed_costs("u").await.unwrap(), before);
    assert_eq!(
        app.db().list_fixed_costs("other").await.unwrap()[0].amount,
        100.0
    );

    let unknown = app
        .put(
            FIXED,
            &json!({"userId": "u", "updates": [
                {"id": mine, "data": {"amount": 1}},
                {"id": 999_999, "data": {"amount": 2}},
            ]}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(app.db().list_fixed_costs("u").await.unwrap(), before);
}

async fn batch_with_an_invalid_item_changes_nothing(app: TestApp) {
    let a = create_fixed(&app, "u", "a", 0).await;
    let b = create_fixed(&app, "u", "b", 0).await;
    let before = app.db().list_fixed_costs("u").await.unwrap();
    let reply = app
        .put(
            FIXED,
            &json!({"userId": "u", "updates": [
                {"id": a, "data": {"amount": 1}},
                {"id": b, "data": {"amount": -1}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "updates[1].data.amount: must be ≥ 0");
    assert_eq!(app.db().list_fixed_costs("u").await.unwrap(), before);
}

async fn delete_removes_the_row(app: TestApp) {
    let id = create_fixed(&app, "u", "a", 0).await;
    let reply = app.delete(&format!("{FIXED}/u/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"status": 200, "success": true, "data": null})
    );
    assert!(app.db().list_fixed_costs("u").await.unwrap().is_empty());
    let again = app.delete(&format!("{FIXED}/u/{id}")).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error(), format!("fixed cost {id} not found"));
}

async fn first_write_creates_the_missing_user_row(app: TestApp) {
    assert!(app.db().get_user("user_new").await.unwrap().is_none());
    create_fixed(&app, "user_new", "a", 0).await;
    let user = app
        .db()
        .get_user("user_new")
        .await
        .unwrap()
        .expect("user row");
    assert_eq!(user.plan, "free");
    assert_eq!(user.email, None);
    // A second write finds the row and leaves it alone.
    create_fixed(&app, "user_new", "b", 0).await;
    assert_eq!(app.db().get_user("user_new").await.unwrap(), Some(user));
}
