//! `POST /webhooks/clerk`, signed by the `svix` crate's own signer with Clerk's payload shapes.

use chrono::Utc;
use formula_cache::keys;
use serde_json::{json, Value};
use svix::webhooks::Webhook;

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases!(
    start = webhook_app;
    user_created_creates_the_user_and_billable_defaults_served_from_the_cache,
    names_and_emails_follow_clerk_not_the_old_bugs,
    a_redelivery_changes_nothing,
    user_updated_changes_the_fields_but_not_the_plan,
    an_update_before_the_create_ends_in_the_described_state,
    a_delete_before_the_create_leaves_no_user,
    deletion_removes_rows_and_every_cache_key,
    a_deleted_user_writes_nothing_again,
    refused_deliveries_change_nothing,
    other_event_types_are_acknowledged_and_ignored,
);

async fn user_created_creates_the_user_and_billable_defaults_served_from_the_cache(app: TestApp) {
    let body = event(
        "user.created",
        clerk_user("user_29w83", Some("Example"), Some("Example"), 1000),
        1001,
    );
    let reply = deliver(&app, "msg_1", &body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.data()["result"], "applied");

    let user = app
        .db()
        .get_user("user_29w83")
        .await
        .unwrap()
        .expect("user row");
    assert_eq!(user.email.as_deref(), Some("user_29w83@example.org"));
    assert_eq!(user.name.as_deref(), Some("Example Example"));
    assert_eq!(user.avatar.as_deref(), Some("https://img.clerk.com/xxxxxx"));
    assert_eq!(user.plan, "free");
    let billable = app
        .db()
        .get_billable_cost("user_29w83")
        .await
        .unwrap()
        .expect("billable row");
    assert_eq!(billable.billable_hours, Some(1290.0));
    assert_eq!(billable.monthly_salary, 0.0);

    let cached_user = app
        .state
        .cache
        .get_raw(&keys::user("user_29w83"))
        .await
        .unwrap()
        .expect("user cached");
    assert_eq!(
        serde_json::from_slice::<Value>(&cached_user).unwrap()["email"],
        "user_29w83@example.org"
    );
    let served = app
        .get("/api/expenses/billable-costs?userId=user_29w83")
        .await;
    assert_eq!(
        served.cache(),
        "hit",
        "user.created put the defaults in the cache"
    );
    assert_eq!(served.data()["workDays"], 5);
    assert_eq!(served.data()["billableHours"], 1290);
}

async fn names_and_emails_follow_clerk_not_the_old_bugs(app: TestApp) {
    deliver(
        &app,
        "msg_a",
        &event("user.created", clerk_user("user_a", None, None, 1), 1),
    )
    .await;
    deliver(
        &app,
        "msg_b",
        &event(
            "user.created",
            clerk_user("user_b", Some("Ada"), None, 1),
            1,
        ),
    )
    .await;
    let a = app.db().get_user("user_a").await.unwrap().unwrap();
    assert_eq!(a.name, None, "no \"null null\"");
    assert_eq!(
        a.email.as_deref(),
        Some("user_a@example.org"),
        "the primary address, not the first"
    );
    let b = app.db().get_user("user_b").await.unwrap().unwrap();
    assert_eq!(b.name.as_deref(), Some("Ada"));
}

async fn a_redelivery_changes_nothing(app: TestApp) {
    let body = event(
        "user.created",
        clerk_user("user_r", Some("R"), None, 10),
        10,
    );
    assert_eq!(
        deliver(&app, "msg_r", &body).await.data()["result"],
        "applied"
    );
    let before = app.db().get_user("user_r").await.unwrap();
    let again = deliver(&app, "msg_r", &body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.data()["result"], "duplicate");
    assert_eq!(app.db().get_user("user_r").await.unwrap(), before);
}

async fn user_updated_changes_the_fields_but_not_the_plan(app: TestApp) {
    deliver(
        &app,
        "msg_c",
        &event(
            "user.created",
            clerk_user("user_u", Some("Old"), None, 10),
            10,
        ),
    )
    .await;
    execute(&app, "UPDATE users SET plan = 'pro' WHERE id = 'user_u'").await;
    let reply = deliver(
        &app,
        "msg_u",
        &event(
            "user.updated",
            clerk_user("user_u", Some("New"), Some("Name"), 20),
            20,
        ),
    )
    .await;
    assert_eq!(reply.data()["result"], "applied");
    let user = app.db().get_user("user_u").await.unwrap().unwrap();
    assert_eq!(user.name.as_deref(), Some("New Name"));
    assert_eq!(user.plan, "pro");
    let cached = app
        .state
        .cache
        .get_raw(&keys::user("user_u"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&cached).unwrap()["name"],
        "New Name"
    );
}

async fn an_update_before_the_create_ends_in_the_described_state(app: TestApp) {
    let updated = deliver(
        &app,
        "msg_2",
        &event(
            "user.updated",
            clerk_user("user_o", Some("Newer"), None, 20),
            21,
        ),
    )
    .await;
    assert_eq!(
        updated.data()["result"],
        "applied",
        "creates the user it does not know"
    );
    let created = deliver(
        &app,
        "msg_1",
        &event(
            "user.created",
            clerk_user("user_o", Some("Older"), None, 10),
            11,
        ),
    )
    .await;
    assert_eq!(created.data()["result"], "superseded");
    let user = app.db().get_user("user_o").await.unwrap().unwrap();
    assert_eq!(
        user.name.as_deref(),
        Some("Newer"),
        "the older event did not overwrite"
    );
    assert!(
        app.db()
            .get_billable_cost("user_o")
            .await
            .unwrap()
            .is_some(),
        "user.created's defaults still arrive"
    );
}

async fn a_delete_before_the_create_leaves_no_user(app: TestApp) {
    let deleted = event(
        "user.deleted",
        json!({"id": "user_d", "object": "user", "deleted": true}),
        30,
    );
    assert_eq!(deliver(&app, "msg_del", &deleted).await.status, 200);
    let created = deliver(
        &app,
        "msg_cr",
        &event(
            "user.created",
            clerk_user("user_d", Some("D"), None, 10),
            11,
        ),
    )
    .await;
    assert_eq!(created.data()["result"], "superseded");
    assert!(app.db().get_user("user_d").await.unwrap().is_none());
    assert!(app
        .db()
        .get_billable_cost("user_d")
        .await
        .unwrap()
        .is_none());
}

/// After `user.deleted`, the user's still-valid session could write: every write answers 410
/// in the envelope and creates nothing (no `users` row comes back).
async fn a_deleted_user_writes_nothing_again(app: TestApp) {
    let created = event("user.created", clerk_user("user_gone", None, None, 10), 10);
    deliver(&app, "msg_g1", &created).await;
    let id = create_fixed(&app, "user_gone", "Rent", 0).await;
    let deleted = event(
        "user.deleted",
        json!({"id": "user_gone", "object": "user", "deleted": true}),
        20,
    );
    assert_eq!(deliver(&app, "msg_g2", &deleted).await.status, 200);

    let writes = [
        app.post(
            "/api/expenses/fixed-costs",
            &fixed_cost("user_gone", "Phone", 10.0, 0),
        )
        .await,
        app.post(
            "/api/expenses/equipment-costs",
            &equipment("user_gone", "Laptop", 0),
        )
        .await,
        app.post(
            "/api/expenses/billable-costs",
            &json!({"userId": "user_gone"}),
        )
        .await,
        app.patch(
            &format!("/api/expenses/fixed-costs/{id}"),
            &json!({"userId": "user_gone", "amount": 1}),
        )
        .await,
    ];
    for reply in &writes[..3] {
        assert_eq!(reply.status, 410, "{reply:?}");
        assert!(reply.error().contains("user_gone was deleted"), "{reply:?}");
    }
    assert!([404, 410].contains(&writes[3].status), "{:?}", writes[3]);
    assert!(app.db().get_user("user_gone").await.unwrap().is_none());
    assert!(app
        .db()
        .list_fixed_costs("user_gone")
        .await
        .unwrap()
        .is_empty());
    assert!(app
        .db()
        .list_equipment("user_gone")
        .await
        .unwrap()
        .is_empty());
    assert!(app
        .db()
        .get_billable_cost("user_gone")
        .await
        .unwrap()
        .is_none());

    // A newer user.created (the id is reused) lifts the tombstone.
    let again = event("user.created", clerk_user("user_gone", None, None, 30), 30);
    deliver(&app, "msg_g3", &again).await;
    create_fixed(&app, "user_gone", "Rent", 0).await;
}

async fn deletion_removes_rows_and_every_cache_key(app: TestApp) {
    deliver(
        &app,
        "msg_c",
        &event(
            "user.created",
            clerk_user("user_x", Some("X"), None, 10),
            10,
        ),
    )
    .await;
    create_fixed(&app, "user_x", "Rent", 0).await;
    create_equipment(&app, "user_x", "Laptop", 0).await;
    for path in ["fixed-costs", "equipment-costs", "billable-costs"] {
        app.get(&format!("/api/expenses/{path}?userId=user_x"))
            .await;
    }
    for key in keys::all_of_user("user_x") {
        assert!(
            app.state.cache.get_raw(&key).await.unwrap().is_some(),
            "{key} primed"
        );
    }
    let body = event(
        "user.deleted",
        json!({"id": "user_x", "object": "user", "deleted": true}),
        50,
    );
    assert_eq!(
        deliver(&app, "msg_d", &body).await.data()["result"],
        "applied"
    );

    assert!(app.db().get_user("user_x").await.unwrap().is_none());
    assert!(app
        .db()
        .list_fixed_costs("user_x")
        .await
        .unwrap()
        .is_empty());
    assert!(app.db().list_equipment("user_x").await.unwrap().is_empty());
    assert!(app
        .db()
        .get_billable_cost("user_x")
        .await
        .unwrap()
        .is_none());
    for key in keys::all_of_user("user_x") {
        assert!(
            app.state.cache.get_raw(&key).await.unwrap().is_none(),
            "{key} still cached"
        );
    }
}

async fn refused_deliveries_change_nothing(app: TestApp) {
    let body = serde_json::to_vec(&event(
        "user.created",
        clerk_user("user_t", Some("T"), None, 1),
        1,
    ))
    .unwrap();
    let now = Utc::now().timestamp();

    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let signature = Webhook::new(SECRET)
        .unwrap()
        .sign("msg_t", now, &body)
        .unwrap();
    let response = app
        .client
        .post(format!("{}/webhooks/clerk", app.base))
        .header("svix-id", "msg_t")
        .header("svix-timestamp", now.to_string())
        .header("svix-signature", signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    let tampered_reply = read(response).await;
    assert_eq!(tampered_reply.status, 401);

    let other_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let wrong_secret = deliver_signed(&app, other_secret, "msg_w", now, &body).await;
    assert_eq!(wrong_secret.status, 401);
    let stale = deliver_signed(&app, SECRET, "msg_s", now - 6 * 60, &body).await;
    assert_eq!(stale.status, 400);
    assert!(stale.error().contains("5 minutes"));
    let future = deliver_signed(&app, SECRET, "msg_f", now + 6 * 60, &body).await;
    assert_eq!(future.status, 400);

    let unsigned = app
        .client
        .post(format!("{}/webhooks/clerk", app.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let unsigned = read(unsigned).await;
    assert_eq!(unsigned.status, 400);
    assert!(unsigned.error().contains("missing header"), "{unsigned:?}");

    let garbage = deliver_signed(&app, SECRET, "msg_g", now, b"{\"not\": \"an event\"}").await;
    assert_eq!(garbage.status, 400);

    assert!(app.db().get_user("user_t").await.unwrap().is_none());
    // The refused messages were not recorded: a correct delivery of one still applies.
    let good = deliver_signed(&app, SECRET, "msg_t", now, &body).await;
    assert_eq!(good.data()["result"], "applied");
}

async fn other_event_types_are_acknowledged_and_ignored(app: TestApp) {
    let body = event("session.created", json!({"id": "sess_1"}), 1);
    let reply = deliver(&app, "msg_s", &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["result"], "ignored");
}

#[tokio::test]
async fn without_a_secret_the_webhook_answers_503_and_accepts_nothing() {
    let app = TestApp::sqlite().await;
    let body = event("user.created", clerk_user("user_n", None, None, 1), 1);
    let reply = deliver(&app, "msg_n", &body).await;
    assert_eq!(reply.status, 503);
    assert!(reply.error().contains("not configured"));
    assert!(app.db().get_user("user_n").await.unwrap().is_none());
}
