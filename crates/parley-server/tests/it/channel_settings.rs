//! A channel's provider settings are typed by its adapter: a mistake is a 422 naming the field,
//! and a refused replace changes nothing. A channel written through the API and through `apply`
//! with the same content is the same row.

use parley_core::SystemClock;
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

fn whatsapp(settings: Value, secrets: Value) -> Value {
    json!({
        "name": "Support WA", "kind": "whatsapp", "provider": "meta", "address": "+14155550123",
        "settings": settings, "secrets": secrets
    })
}

async fn put_with_an_invalid_setting_is_422_and_changes_nothing(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let good = whatsapp(
        json!({"api_version": "v21.0", "phone_number_id": "106540352242922"}),
        json!({"access_token": "EAAG", "app_secret": "s"}),
    );
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = |c: parley_store::Channel| (serde_json::to_value(&c).unwrap(), c.secrets);
    let before = row(app.db.store.channel(id.parse().unwrap()).await.unwrap());

    let cases = [
        (
            whatsapp(
                json!({"api_version": "twenty-one"}),
                json!({"access_token": "EAAG"}),
            ),
            "settings.api_version",
        ),
        (
            whatsapp(
                json!({"api_version": "v21.0"}),
                json!({"acess_token": "EAAG"}),
            ),
            "secrets.acess_token",
        ),
        (
            whatsapp(json!({"base_url": "graph.facebook.com"}), json!({})),
            "settings.base_url",
        ),
        (
            whatsapp(json!({"phone_number_id": 106540352242922_u64}), json!({})),
            "settings.phone_number_id",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .req(Method::PUT, &format!("/api/v1/channels/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
        let after = row(app.db.store.channel(id.parse().unwrap()).await.unwrap());
        assert_eq!(after, before, "a refused replace changes nothing");
    }

    // The same mistake is refused on create, and an unknown provider names the known ones.
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(
            &json!({"name": "X", "kind": "sms", "provider": "twilio", "address": "+14155550124",
                      "number_type": "long_code", "settings": {"public_url": "nope"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().await.unwrap().contains("settings.public_url"),
        "names the field"
    );
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(
            &json!({"name": "X", "kind": "sms", "provider": "carrier_pigeon",
                      "address": "+14155550124", "number_type": "long_code"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("carrier_pigeon") && text.contains("twilio"),
        "{text}"
    );
}

async fn api_and_apply_write_the_same_row(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let settings = json!({"api_version": "v21.0", "phone_number_id": "106540352242922",
                          "end_conversation_reply": "Bye"});
    let secrets = json!({"access_token": "EAAG", "app_secret": "s", "verify_token": "v"});
    let content = |c: &parley_store::Channel| {
        let mut v = serde_json::to_value(c).unwrap();
        for k in ["id", "created_at", "updated_at"] {
            v.as_object_mut().unwrap().remove(k);
        }
        (v, c.secrets.clone())
    };

    // Through the API, then deleted (addresses are unique)...
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&whatsapp(settings.clone(), secrets.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let api_id: uuid::Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let via_api = content(&app.db.store.channel(api_id).await.unwrap());
    let r = app
        .req(Method::DELETE, &format!("/api/v1/channels/{api_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // ...then the same content through `apply`.
    let file: WorkspaceFile = serde_json::from_value(json!({"channels": [{
        "name": "Support WA", "kind": "whatsapp", "provider": "meta", "address": "+14155550123",
        "settings": settings, "secrets": secrets
    }]}))
    .unwrap();
    apply(&app.db.store, &SystemClock, &file, false)
        .await
        .unwrap();
    let applied = app
        .db
        .store
        .channel_by_name("Support WA")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(applied.id, api_id);
    assert_eq!(via_api, content(&applied));
}

parley_store::on_both_backends!(
    put_with_an_invalid_setting_is_422_and_changes_nothing,
    api_and_apply_write_the_same_row,
);
