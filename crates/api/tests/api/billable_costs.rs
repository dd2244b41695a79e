//! Routes 6–8.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    get_answers_null_without_a_row,
    post_creates_the_defaults_once,
    patch_updates_the_given_fields,
    patch_without_a_row_is_404,
);

const BILLABLE: &str = "/api/expenses/billable-costs";

async fn get_answers_null_without_a_row(app: TestApp) {
    let reply = app.get(&format!("{BILLABLE}?userId=u")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"status": 200, "success": true, "data": null})
    );
}

async fn post_creates_the_defaults_once(app: TestApp) {
    let created = app.post(BILLABLE, &json!({"userId": "u"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let row = created.data().clone();
    assert_eq!(
        field_names(&row),
        [
            "billableHours",
            "createdAt",
            "fees",
            "holidaysDays",
            "hoursPerDay",
            "id",
            "margin",
            "monthlySalary",
            "sickLeaveDays",
            "taxes",
            "updatedAt",
            "userId",
            "vacationsDays",
            "workDays"
        ]
    );
    for (field, value) in [
        ("workDays", 5),
        ("hoursPerDay", 6),
        ("holidaysDays", 12),
        ("vacationsDays", 30),
        ("sickLeaveDays", 3),
        ("monthlySalary", 0),
        ("taxes", 0),
        ("fees", 0),
        ("margin", 0),
        ("billableHours", 1290),
    ] {
        assert_eq!(row[field], value, "{field}");
    }
    assert_timestamp(&row["createdAt"]);

    let again = app.post(BILLABLE, &json!({"userId": "u"})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.data(), &row);
    let fetched = app.get(&format!("{BILLABLE}?userId=u")).await;
    assert_eq!(fetched.data(), &row);
}

async fn patch_updates_the_given_fields(app: TestApp) {
    let created = app.post(BILLABLE, &json!({"userId": "u"})).await;
    let before = created.data().clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reply = app
        .patch(
            BILLABLE,
            &json!({"userId": "u", "workDays": 4, "monthlySalary": 4200.5, "billableHours": null}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let after = reply.data();
    assert_eq!(after["workDays"], 4);
    assert_eq!(after["monthlySalary"], 4200.5);
    assert_eq!(after["billableHours"], json!(null));
    assert_eq!(after["hoursPerDay"], before["hoursPerDay"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_ne!(after["updatedAt"], before["updatedAt"]);
    let stored = app.db().get_billable_cost("u").await.unwrap().unwrap();
    assert_eq!(stored.work_days, 4.0);
    assert_eq!(stored.billable_hours, None);
}

async fn patch_without_a_row_is_404(app: TestApp) {
    let reply = app
        .patch(BILLABLE, &json!({"userId": "u", "workDays": 4}))
        .await;
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("billable cost"));
    assert!(app.db().get_billable_cost("u").await.unwrap().is_none());
}
