//! A row is reachable only through its own user id: another user's id answers 404, exactly as an
//! unknown id, and changes nothing.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    another_user_cannot_read_change_or_delete_fixed_costs,
    another_user_cannot_read_change_or_delete_equipment,
    another_user_cannot_touch_billable_costs,
);

async fn another_user_cannot_read_change_or_delete_fixed_costs(app: TestApp) {
    let id = create_fixed(&app, "alice", "Rent", 0).await;
    let before = app.db().list_fixed_costs("alice").await.unwrap();
    let path = "/api/expenses/fixed-costs";

    let listed = app.get(&format!("{path}?userId=bob")).await;
    assert_eq!(listed.data(), &json!([]));
    let patched = app
        .patch(
            &format!("{path}/{id}"),
            &json!({"userId": "bob", "amount": 1}),
        )
        .await;
    assert_eq!(patched.status, 404);
    assert_eq!(patched.error(), format!("fixed cost {id} not found"));
    let batch = app
        .put(
            path,
            &json!({"userId": "bob", "updates": [{"id": id, "data": {"amount": 1}}]}),
        )
        .await;
    assert_eq!(batch.status, 404);
    let deleted = app.delete(&format!("{path}/bob/{id}")).await;
    assert_eq!(deleted.status, 404);

    assert_eq!(app.db().list_fixed_costs("alice").await.unwrap(), before);
}

async fn another_user_cannot_read_change_or_delete_equipment(app: TestApp) {
    let id = create_equipment(&app, "alice", "Laptop", 0).await;
    let before = app.db().list_equipment("alice").await.unwrap();
    let path = "/api/expenses/equipment-costs";

    assert_eq!(
        app.get(&format!("{path}?userId=bob")).await.data(),
        &json!([])
    );
    let patched = app
        .patch(path, &json!({"userId": "bob", "id": id, "amount": 1}))
        .await;
    assert_eq!(patched.status, 404);
    let batch = app
        .put(
            path,
            &json!({"userId": "bob", "updates": [{"id": id, "data": {"amount": 1}}]}),
        )
        .await;
    assert_eq!(batch.status, 404);
    assert_eq!(app.delete(&format!("{path}/bob/{id}")).await.status, 404);

    assert_eq!(app.db().list_equipment("alice").await.unwrap(), before);
}

async fn another_user_cannot_touch_billable_costs(app: TestApp) {
    let path = "/api/expenses/billable-costs";
    app.post(path, &json!({"userId": "alice"})).await;
    let before = app.db().get_billable_cost("alice").await.unwrap();

    assert_eq!(
        app.get(&format!("{path}?userId=bob")).await.data(),
        &json!(null)
    );
    let patched = app
        .patch(path, &json!({"userId": "bob", "taxes": 50}))
        .await;
    assert_eq!(patched.status, 404);

    assert_eq!(app.db().get_billable_cost("alice").await.unwrap(), before);
}
