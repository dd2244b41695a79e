//! Routes 9–13, including the fixes over the old API (PATCH by id, PUT and DELETE exist).

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    create_answers_201_with_every_field,
    purchase_date_accepts_dates_datetimes_and_millis,
    patch_changes_the_row_named_by_id_not_the_first,
    batch_updates_all_or_nothing,
    delete_removes_the_row,
);

const EQUIPMENT: &str = "/api/expenses/equipment-costs";

async fn create_answers_201_with_every_field(app: TestApp) {
    let reply = app.post(EQUIPMENT, &equipment("u", "Laptop", 0)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let row = reply.data();
    assert_eq!(
        field_names(row),
        [
            "amount",
            "category",
            "createdAt",
            "id",
            "lifeSpan",
            "name",
            "purchaseDate",
            "rank",
            "updatedAt",
            "usage",
            "userId"
        ]
    );
    assert_eq!(row["purchaseDate"], "2024-05-01T00:00:00.000Z");
    assert_eq!(row["amount"], 2400);
    assert_eq!(row["usage"], 80);
    assert_eq!(row["lifeSpan"], 3);
    assert_timestamp(&row["createdAt"]);
    let listed = app.get(&format!("{EQUIPMENT}?userId=u")).await;
    assert_eq!(listed.data(), &json!([row]));
}

async fn purchase_date_accepts_dates_datetimes_and_millis(app: TestApp) {
    for (given, stored) in [
        (json!("2024-05-01"), "2024-05-01T00:00:00.000Z"),
        (
            json!("2024-05-01T10:00:00.250Z"),
            "2024-05-01T10:00:00.250Z",
        ),
        (json!(1714557600000i64), "2024-05-01T10:00:00.000Z"),
    ] {
        let mut body = equipment("u", "Desk", 0);
        body["purchaseDate"] = given.clone();
        let reply = app.post(EQUIPMENT, &body).await;
        assert_eq!(reply.status, 201, "{given}: {reply:?}");
        assert_eq!(reply.data()["purchaseDate"], stored, "{given}");
    }
}

async fn patch_changes_the_row_named_by_id_not_the_first(app: TestApp) {
    let first = create_equipment(&app, "u", "first", 0).await;
    let second = create_equipment(&app, "u", "second", 1).await;
    let reply = app
        .patch(
            EQUIPMENT,
            &json!({"userId": "u", "id": second, "name": "renamed", "purchaseDate": "2023-01-02"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.data()["id"], second);
    assert_eq!(reply.data()["name"], "renamed");
    assert_eq!(reply.data()["purchaseDate"], "2023-01-02T00:00:00.000Z");
    let rows = app.db().list_equipment("u").await.unwrap();
    assert_eq!(rows[0].id as i64, first);
    assert_eq!(rows[0].name, "first");
    assert_eq!(rows[1].name, "renamed");

    let missing_id = app
        .patch(EQUIPMENT, &json!({"userId": "u", "name": "x"}))
        .await;
    assert_eq!(missing_id.status, 400);
    assert_eq!(missing_id.error(), "id: required");
}

async fn batch_updates_all_or_nothing(app: TestApp) {
    let a = create_equipment(&app, "u", "a", 0).await;
    let b = create_equipment(&app, "u", "b", 1).await;
    let reply = app
        .put(
            EQUIPMENT,
            &json!({"userId": "u", "updates": [
                {"id": a, "data": {"rank": 5}},
                {"id": b, "data": {"usage": 50, "lifeSpan": 4}},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.data()[0]["rank"], 5);
    assert_eq!(reply.data()[1]["lifeSpan"], 4);

    let before = app.db().list_equipment("u").await.unwrap();
    let failed = app
        .put(
            EQUIPMENT,
            &json!({"userId": "u", "updates": [
                {"id": a, "data": {"rank": 9}},
                {"id": 424242, "data": {"rank": 9}},
            ]}),
        )
        .await;
    assert_eq!(failed.status, 404);
    assert_eq!(app.db().list_equipment("u").await.unwrap(), before);
}

async fn delete_removes_the_row(app: TestApp) {
    let id = create_equipment(&app, "u", "a", 0).await;
    let reply = app.delete(&format!("{EQUIPMENT}/u/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"], json!(null));
    assert!(app.db().list_equipment("u").await.unwrap().is_empty());
    assert_eq!(app.delete(&format!("{EQUIPMENT}/u/{id}")).await.status, 404);
}
