//! `/openapi.json` describes every route the service serves, and every documented operation is
//! served; `/docs` works offline (its assets come from the binary).

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// Every operation of the contract, and the operational routes.
const OPERATIONS: [(&str, &str); 19] = [
    ("GET", "/api/expenses/fixed-costs"),
    ("POST", "/api/expenses/fixed-costs"),
    ("PATCH", "/api/expenses/fixed-costs/{id}"),
    ("PUT", "/api/expenses/fixed-costs"),
    ("DELETE", "/api/expenses/fixed-costs/{user_id}/{id}"),
    ("GET", "/api/expenses/billable-costs"),
    ("POST", "/api/expenses/billable-costs"),
    ("PATCH", "/api/expenses/billable-costs"),
    ("GET", "/api/expenses/equipment-costs"),
    ("POST", "/api/expenses/equipment-costs"),
    ("PATCH", "/api/expenses/equipment-costs"),
    ("PUT", "/api/expenses/equipment-costs"),
    ("DELETE", "/api/expenses/equipment-costs/{user_id}/{id}"),
    ("POST", "/webhooks/clerk"),
    ("GET", "/cron/keep-alive"),
    ("POST", "/cron/keep-alive"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
];

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    operations.sort();
    operations
}

#[tokio::test]
async fn the_document_and_the_router_describe_the_same_routes() {
    let app = TestApp::sqlite().await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .filter(|(_, path)| *path != "/metrics") // operational text, outside the API document
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented(&doc), expected);

    // Every documented operation, and /metrics, is served: no router 404 or 405.
    for (method, path) in OPERATIONS {
        let concrete = path.replace("{user_id}", "u").replace("{id}", "1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method != Method::GET).then(|| serde_json::json!({}));
        let reply = app.request(method.clone(), &concrete, body.as_ref()).await;
        assert_ne!(reply.status, 405, "{method} {path}");
        let unrouted = reply.status == 404 && reply.body["error"] == "no such route";
        assert!(!unrouted, "{method} {path} is documented but not served");
    }

    // Envelopes and entities are typed in the document.
    let list = &doc["paths"]["/api/expenses/fixed-costs"]["get"]["responses"]["200"];
    let schema = list["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = schema.rsplit('/').next().unwrap();
    let envelope = &doc["components"]["schemas"][name];
    assert_eq!(
        envelope["required"],
        serde_json::json!(["status", "success", "data"])
    );
    let fixed = &doc["components"]["schemas"]["FixedCost"]["properties"];
    for field in [
        "id",
        "userId",
        "rank",
        "name",
        "amount",
        "period",
        "category",
        "createdAt",
        "updatedAt",
    ] {
        assert!(fixed.get(field).is_some(), "FixedCost.{field}");
    }
    for status in ["400", "401", "403", "404", "413", "415", "500", "503"] {
        assert!(list.get("content").is_some());
        let responses = &doc["paths"]["/api/expenses/fixed-costs"]["post"]["responses"];
        assert!(
            responses.get(status).is_some(),
            "POST fixed-costs documents {status}"
        );
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = TestApp::sqlite().await;
    let page = reqwest::get(format!("{}/docs/", app.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("https://"),
        "no asset fetched from elsewhere"
    );
    let script = reqwest::get(format!("{}/docs/swagger-ui-bundle.js", app.base))
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
}

/// The committed `openapi.json` (what the TypeScript client is generated from) is the code's
/// document, byte for byte, and the one a production (Clerk) instance serves.
#[tokio::test]
async fn the_committed_document_is_the_codes_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let committed = std::fs::read_to_string(&path).expect("openapi.json at the repository root");
    assert!(
        committed == formula_api::cli::openapi_json(),
        "openapi.json differs from the code's document; regenerate it with \
         `cargo run -q -p formula-api -- openapi > openapi.json`"
    );

    let app = clerk_app(TestDatabase::sqlite()).await;
    assert_eq!(
        served_document(&app).await,
        serde_json::from_str::<Value>(&committed).unwrap()
    );
}

async fn served_document(app: &TestApp) -> Value {
    reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The document says what each auth mode enforces: with Clerk, a token and an optional `userId`;
/// in `AUTH_MODE=none`, no token and a required `userId` in the query and in every body.
#[tokio::test]
async fn the_served_document_follows_the_auth_mode() {
    let clerk = served_document(&clerk_app(TestDatabase::sqlite()).await).await;
    let none = served_document(&TestApp::sqlite().await).await;
    let list = "/paths/~1api~1expenses~1fixed-costs/get";
    let create = "/paths/~1api~1expenses~1fixed-costs/post";

    let query = |doc: &Value| {
        doc.pointer(&format!("{list}/parameters/0"))
            .unwrap()
            .clone()
    };
    assert_eq!(query(&clerk)["name"], "userId");
    assert_eq!(query(&clerk)["required"], false);
    assert_eq!(query(&none)["required"], true);

    let security = |doc: &Value, op: &str| doc.pointer(&format!("{op}/security")).cloned();
    assert_eq!(
        security(&clerk, list),
        Some(serde_json::json!([{ "clerk": [] }]))
    );
    assert_eq!(security(&none, create), None);

    let body = |doc: &Value| {
        doc.pointer(&format!(
            "{create}/requestBody/content/application~1json/schema"
        ))
        .unwrap()
        .clone()
    };
    assert_eq!(body(&clerk)["$ref"], "#/components/schemas/FixedCostCreate");
    assert_eq!(
        body(&none)["allOf"][1]["required"],
        serde_json::json!(["userId"])
    );

    // A user id in a path is what the service accepts: no control characters.
    let delete = "/paths/~1api~1expenses~1fixed-costs~1{user_id}~1{id}/delete/parameters/0/schema";
    assert_eq!(
        none.pointer(delete).unwrap()["$ref"],
        "#/components/schemas/UserId"
    );
    let pattern = none["components"]["schemas"]["UserId"]["pattern"]
        .as_str()
        .unwrap();
    assert!(pattern.contains("\\u0000-\\u001F"), "{pattern}");
}

/// Every operation has its own `operationId` (OpenAPI requires it; openapi-typescript keys its
/// `operations` type by it, so a repeated id merges two operations' types).
#[test]
fn operation_ids_are_unique() {
    let doc: Value = serde_json::from_str(&formula_api::cli::openapi_json()).unwrap();
    let mut ids = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            ids.push(operation["operationId"].as_str().expect("an operationId"));
        }
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "repeated operationIds among {ids:?}");
}
