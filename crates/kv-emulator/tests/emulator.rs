//! The emulator answers as `docs/cloudflare-kv.md` says Cloudflare does.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kv_emulator::{Faults, Options, Running, Stats};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "test-token";

struct Kv {
    emulator: Running,
    client: Client,
}

impl Kv {
    async fn start(options: Options) -> Kv {
        Kv {
            emulator: kv_emulator::spawn(options).await.unwrap(),
            client: Client::new(),
        }
    }

    async fn new() -> Kv {
        Kv::start(Options {
            token: TOKEN.into(),
            ..Options::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/accounts/acc/storage/kv/namespaces/ns1{path}",
            self.emulator.api_base()
        )
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> (StatusCode, Value) {
        let path = match ttl {
            Some(ttl) => format!("/values/{key}?expiration_ttl={ttl}"),
            None => format!("/values/{key}"),
        };
        let response = self
            .request(reqwest::Method::PUT, &path)
            .body(value.to_owned())
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn get(&self, key: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, &format!("/values/{key}"))
            .send()
            .await
            .unwrap()
    }

    async fn stats(&self) -> Stats {
        self.emulator.stats().await.unwrap()
    }

    async fn set_faults(&self, faults: Faults) {
        self.emulator.set_faults(&faults).await.unwrap();
    }

    async fn list(&self, query: &str) -> Value {
        self.request(reqwest::Method::GET, &format!("/keys{query}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn first_error(body: &Value) -> (u64, String) {
    assert_eq!(body["success"], false, "{body}");
    let error = &body["errors"][0];
    (
        error["code"].as_u64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn write_then_read_with_expiration_header() {
    let kv = Kv::new().await;
    let (status, body) = kv.put("greeting", "hello", Some(1200)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "errors": [], "messages": [], "result": null})
    );
    let response = kv.get("greeting").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let expiration: u64 = response.headers()["expiration"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now() + 1199..=now() + 1201).contains(&expiration));
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(kv.stats().await.write_ttls, vec![Some(1200)]);
}

#[tokio::test]
async fn missing_key_is_404_10009() {
    let kv = Kv::new().await;
    let response = kv.get("nope").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_error(&body), (10009, "get: 'key not found'".into()));
    assert_eq!(body["result"], Value::Null);
}

#[tokio::test]
async fn bad_or_missing_token_is_403_10000() {
    let kv = Kv::new().await;
    for auth in [Some("Bearer wrong"), None] {
        let mut request = kv.client.get(kv.url("/values/a"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(first_error(&body), (10000, "Authentication error".into()));
    }
}

#[tokio::test]
async fn limits_are_refused_as_cloudflare_refuses_them() {
    let kv = Kv::new().await;
    let long_key = "k".repeat(513);
    let (status, body) = kv.put(&long_key, "v", None).await;
    assert_eq!(status, 414);
    assert_eq!(
        first_error(&body).1,
        "UTF-8 encoded length of 513 exceeds key length limit of 512."
    );
    assert_eq!(kv.put(&"k".repeat(512), "v", None).await.0, 200);

    let (status, body) = kv.put("short-ttl", "v", Some(59)).await;
    assert_eq!(status, 400);
    assert_eq!(
        first_error(&body).1,
        "Invalid expiration_ttl of 59. Expiration TTL must be at least 60."
    );

    let huge = "x".repeat(25 * 1024 * 1024 + 1);
    let (status, _) = kv.put("huge", &huge, None).await;
    assert_eq!(status, 413);

    assert_eq!(kv.put("busy", "1", None).await.0, 200);
    let (status, body) = kv.put("busy", "2", None).await;
    assert_eq!(status, 429, "a second write to one key within a second");
    assert!(first_error(&body).1.contains("429"));
    assert_eq!(kv.get("busy").await.text().await.unwrap(), "1");
}

#[tokio::test]
async fn delete_succeeds_for_present_and_missing_keys() {
    let kv = Kv::new().await;
    kv.put("a", "1", None).await;
    for _ in 0..2 {
        let response = kv
            .request(reqwest::Method::DELETE, "/values/a")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"], Value::Null);
        assert_eq!(body["success"], true);
    }
    assert_eq!(kv.get("a").await.status(), 404);
}

#[tokio::test]
async fn percent_encoded_keys_round_trip() {
    let kv = Kv::new().await;
    let response = kv
        .request(reqwest::Method::PUT, "/values/a%2Fb%3Fc%20d")
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed = kv.list("").await;
    assert_eq!(listed["result"][0]["name"], "a/b?c d");
}

#[tokio::test]
async fn multipart_writes_carry_metadata() {
    let kv = Kv::new().await;
    let form = reqwest::multipart::Form::new()
        .text("value", "from a form")
        .text("metadata", r#"{"owner":"me"}"#);
    let response = kv
        .request(reqwest::Method::PUT, "/values/form?expiration_ttl=60")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(kv.get("form").await.text().await.unwrap(), "from a form");
    let listed = kv.list("").await;
    assert_eq!(listed["result"][0]["metadata"], json!({"owner": "me"}));

    // `GET /metadata/{key}`: the metadata as the result; null without any; 404 for no key.
    let metadata = |key: &str| {
        kv.request(reqwest::Method::GET, &format!("/metadata/{key}"))
            .send()
    };
    let response = metadata("form").await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"], json!({"owner": "me"}));
    kv.put("bare", "v", None).await;
    let body: Value = metadata("bare").await.unwrap().json().await.unwrap();
    assert_eq!(
        (body["success"].clone(), body["result"].clone()),
        (json!(true), Value::Null)
    );
    let response = metadata("none").await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        first_error(&body),
        (10009, "metadata: 'key not found'".into())
    );
}

#[tokio::test]
async fn bulk_write_get_and_both_deletes() {
    let kv = Kv::new().await;
    let items = json!([
        {"key": "a", "value": "{\"n\":1}"},
        {"key": "b", "value": "aGk=", "base64": true, "expiration_ttl": 120},
        {"key": "c", "value": "x", "expiration_ttl": 5},
    ]);
    let written: Value = kv
        .request(reqwest::Method::PUT, "/bulk")
        .json(&items)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(written["result"]["successful_key_count"], 2);
    assert_eq!(written["result"]["unsuccessful_keys"], json!(["c"]));

    let fetched: Value = kv
        .request(reqwest::Method::POST, "/bulk/get")
        .json(&json!({"keys": ["a", "b", "zzz"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        fetched["result"]["values"],
        json!({"a": "{\"n\":1}", "b": "hi", "zzz": null})
    );
    let as_json: Value = kv
        .request(reqwest::Method::POST, "/bulk/get")
        .json(&json!({"keys": ["a"], "type": "json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_json["result"]["values"]["a"], json!({"n": 1}));

    let deleted = kv
        .request(reqwest::Method::POST, "/bulk/delete")
        .json(&json!(["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted = kv
        .request(reqwest::Method::DELETE, "/bulk")
        .json(&json!(["b"]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(kv.get("a").await.status(), 404);
    assert_eq!(kv.get("b").await.status(), 404);
    let stats = kv.stats().await;
    assert_eq!(stats.count("bulk_delete"), 2);
    assert_eq!(stats.count("bulk_get"), 2);
}

#[tokio::test]
async fn list_pages_with_a_cursor_and_filters_by_prefix() {
    let kv = Kv::new().await;
    let items: Vec<Value> = (0..25)
        .map(|i| json!({"key": format!("user:{i:02}"), "value": "v"}))
        .chain([json!({"key": "other", "value": "v"})])
        .collect();
    kv.request(reqwest::Method::PUT, "/bulk")
        .json(&items)
        .send()
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = kv
            .list(&format!("?prefix=user:&limit=10&cursor={cursor}"))
            .await;
        pages += 1;
        for key in page["result"].as_array().unwrap() {
            names.push(key["name"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            page["result_info"]["count"],
            page["result"].as_array().unwrap().len()
        );
        cursor = page["result_info"]["cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    assert!(names.iter().all(|n| n.starts_with("user:")));
    let bad_limit = kv
        .request(reqwest::Method::GET, "/keys?limit=5")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_limit.status(), 400);
}

#[tokio::test]
async fn values_expire_on_the_emulator_clock() {
    let kv = Kv::new().await;
    kv.put("soon", "v", Some(60)).await;
    kv.put("later", "v", Some(600)).await;
    kv.emulator.advance_clock(61).await.unwrap();
    assert_eq!(kv.get("soon").await.status(), 404);
    assert_eq!(kv.get("later").await.status(), 200);
}

#[tokio::test]
async fn unknown_namespace_is_404_10013() {
    let kv = Kv::start(Options {
        token: TOKEN.into(),
        namespaces: Some(vec!["other".into()]),
        ..Options::default()
    })
    .await;
    let response = kv.get("a").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_error(&body).0, 10013);
}

#[tokio::test]
async fn injected_faults_and_counts() {
    let kv = Kv::new().await;
    kv.set_faults(Faults {
        force_429: true,
        retry_after_secs: Some(7),
        ..Faults::default()
    })
    .await;
    let limited = kv.get("a").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");

    kv.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    })
    .await;
    assert_eq!(kv.get("a").await.status(), 500);
    assert_eq!(kv.get("a").await.status(), 500);
    assert_eq!(kv.get("a").await.status(), 404);

    kv.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    kv.get("a").await;
    assert!(started.elapsed() >= Duration::from_millis(150));

    kv.set_faults(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    let hung = kv
        .client
        .get(kv.url("/values/a"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    let stats = kv.stats().await;
    assert_eq!(stats.count("get"), 6);
    assert_eq!(stats.total, 6);
}

#[tokio::test]
async fn namespaces_are_listed_in_pages_and_read_one_by_one() {
    let names: Vec<String> = (0..7).map(|i| format!("ns{i}")).collect();
    let kv = Kv::start(Options {
        token: TOKEN.into(),
        namespaces: Some(names.clone()),
        ..Options::default()
    })
    .await;
    let base = format!(
        "{}/accounts/acc/storage/kv/namespaces",
        kv.emulator.api_base()
    );
    let get = |path: String| {
        kv.client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
    };
    let ids = |body: Value| -> Vec<String> {
        let result = body["result"].as_array().unwrap().iter();
        result
            .map(|ns| ns["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut pages = Vec::new();
    for n in 1..=3 {
        let page: Value = get(format!("?per_page=5&page={n}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["result_info"]["total_count"], 7);
        pages.push(ids(page));
    }
    assert_eq!(pages, [names[..5].to_vec(), names[5..].to_vec(), vec![]]);

    let one: Value = get("/ns3".into()).await.unwrap().json().await.unwrap();
    assert_eq!(one["result"]["id"], "ns3");
    let missing = get("/nope".into()).await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(first_error(&body).0, 10013);
    let anonymous = kv.client.get(&base).send().await.unwrap();
    assert_eq!(anonymous.status(), 403);
}
