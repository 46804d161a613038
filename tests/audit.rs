//! The audit trail, black-box (issue 12): a create, an edit, a cancel and a subscription each
//! leave one entry with the credential and the digest of what went to Zernio; a refused create
//! too; a tenant sees only its own; the export is NDJSON. On the suite's store (`TEST_STORE`).

mod common;

use common::fake_zernio::FakeZernio;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The standard tenants, with `audit:read` on acme's full key.
fn tenants() -> String {
    let t = tenants_toml();
    let with = t.replacen(
        "\"webhooks:manage\"]",
        "\"webhooks:manage\", \"audit:read\"]",
        1,
    );
    assert_ne!(with, t);
    with
}

async fn gateway() -> (TestGateway, FakeZernio) {
    let fake = FakeZernio::start().await;
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n[webhooks]\nallowed_hosts = [\"127.0.0.1\"]\n",
        fake.base_url
    );
    let gw = TestGateway::spawn_with_tenants(
        None,
        &toml,
        &tenants(),
        &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)],
    )
    .await;
    (gw, fake)
}

fn video(caption: &str, at: Option<&str>) -> Value {
    let mut v = json!({
        "account": "acc_a1",
        "caption": caption,
        "video": {"url": "https://cdn.example.com/v.mp4"},
        "privacy": "SELF_ONLY",
        "allow_comment": false, "allow_duet": false, "allow_stitch": false,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    });
    if let Some(at) = at {
        v["schedule_at"] = json!(at);
    }
    v
}

async fn audit(gw: &TestGateway, key: &str, query: &str) -> (u16, Value) {
    let r = gw.get_with_key(&format!("/v1/audit{query}"), key).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_change_leaves_one_entry_with_its_credential_and_digest() {
    let (gw, fake) = gateway().await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT10:00:00Z")
        .to_string();
    let created = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .header("x-request-id", "req-audit-1")
        .json(&video("Audited", Some(&at)))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A refused create is a change attempted: it is in the trail with its code.
    let mut refused = video("No consent", None);
    refused["consent"]["express_consent_given"] = json!(false);
    let r = gw.post_json("/v1/tiktok/posts", ACME_KEY, &refused).await;
    assert_eq!(r.status(), 422);
    let edit = gw
        .client
        .patch(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .json(&json!({"caption": "Audited, edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 200);
    let cancel = gw
        .client
        .delete(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 204);
    let sub = gw
        .post_json(
            "/v1/webhooks/subscriptions",
            ACME_KEY,
            &json!({"target_url": "http://127.0.0.1:9/hooks", "events": ["post.published"]}),
        )
        .await;
    assert_eq!(sub.status(), 201);
    let sub: Value = sub.json().await.unwrap();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    // A validation only changes nothing: not in the trail.
    let v = gw
        .post_json(
            "/v1/tiktok/posts/validate",
            ACME_KEY,
            &video("Just checking", None),
        )
        .await;
    assert_eq!(v.status(), 200);

    let (status, page) = audit(&gw, ACME_KEY, "").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.create",
            "post.cancel",
            "post.edit",
            "post.create",
            "post.create"
        ],
        "newest first: {page}"
    );
    let create = &items[4];
    assert_eq!(create["tenant"], "acme");
    assert_eq!(
        create["credential"],
        json!({"kind": "api_key", "id": "acme-full"})
    );
    assert_eq!(create["request_id"], "req-audit-1");
    assert_eq!(create["object_id"], id.as_str());
    assert_eq!(
        (create["account"].as_str(), create["kind"].as_str()),
        (Some("acc_a1"), Some("video"))
    );
    assert_eq!(
        create["consent"],
        json!({"content_preview_confirmed": true, "express_consent_given": true})
    );
    assert_eq!(
        (create["status"].as_u64(), &create["code"]),
        (Some(201), &Value::Null)
    );
    // The digest is of the exact body Zernio received.
    let sent = &fake.calls("create")[0].body;
    let digest = hex::encode(Sha256::digest(serde_json::to_vec(sent).unwrap()));
    assert_eq!(create["payload_sha256"], digest.as_str());
    let refused = &items[3];
    assert_eq!(
        (refused["status"].as_u64(), refused["code"].as_str()),
        (Some(422), Some("validation_failed"))
    );
    assert_eq!(refused["payload_sha256"], Value::Null, "nothing was sent");
    let edit = &items[2];
    let sent = &fake.calls("update")[0].body;
    assert_eq!(
        edit["payload_sha256"],
        hex::encode(Sha256::digest(serde_json::to_vec(sent).unwrap())).as_str()
    );
    assert_eq!(
        (items[1]["object_id"].as_str(), items[1]["status"].as_u64()),
        (Some(id.as_str()), Some(204))
    );
    assert_eq!(items[0]["object_id"], sub["id"]);
    // No secret or key in the trail.
    let text = page.to_string();
    assert!(!text.contains(&secret) && !text.contains(ACME_KEY));

    // Filters and pages.
    let (_, only) = audit(&gw, ACME_KEY, &format!("?action=post.create&post={id}")).await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let (_, first) = audit(&gw, ACME_KEY, "?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = audit(&gw, ACME_KEY, &format!("?limit=10&cursor={cursor}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!(audit(&gw, ACME_KEY, "?cursor=zzz").await.0, 400);

    // The export: NDJSON, oldest first.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let export = gw
        .client
        .get(gw.url("/v1/audit/export"))
        .query(&[("since", since.as_str())])
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exported: Vec<&str> = lines
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        exported,
        [
            "post.create",
            "post.create",
            "post.edit",
            "post.cancel",
            "subscription.create"
        ]
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_trail_and_needs_the_scope() {
    let (gw, _fake) = gateway().await;
    assert_eq!(
        gw.post_json("/v1/tiktok/posts", ACME_KEY, &video("Mine", None))
            .await
            .status(),
        201
    );
    // Globex's key has no audit:read.
    assert_eq!(audit(&gw, GLOBEX_KEY, "").await.0, 403);
    // A read-only key of acme neither.
    assert_eq!(audit(&gw, ACME_READ_KEY, "").await.0, 403);
    let (_, mine) = audit(&gw, ACME_KEY, "").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    gw.stop().await;
}
