//! Vonage's SMS API end to end, the worked example of `docs/adding-a-provider.md`: a channel
//! created over REST with its typed settings; a signed inbound message through the generic
//! webhook route (an unsigned or tampered one refused); an agent's reply sent to a fake of the
//! SMS API; its delivery receipt recorded.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use parley_channels::vonage::{SignatureMethod, compute_signature, timestamp_param};
use parley_core::model::{EntryStatus, SessionStatus};
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const CUSTOMER: &str = "+447700900001";
const SIGNATURE_SECRET: &str = "vonage-signature-secret";

type Sends = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// The fake `POST /sms/json`: records the form and accepts with a message id.
async fn fake_vonage() -> (String, Sends) {
    let sends = Sends::default();
    let app = Router::new()
        .route(
            "/sms/json",
            post(|State(sends): State<Sends>, body: String| async move {
                let form: Vec<(String, String)> = url_pairs(&body);
                sends.lock().unwrap().push(form);
                (
                    [("content-type", "application/json")],
                    json!({"message-count": "1", "messages": [{"to": "447700900001",
                        "message-id": "0A0000000123ABCD1", "status": "0",
                        "remaining-balance": "3.14", "message-price": "0.0333", "network": "23410"}]})
                    .to_string(),
                )
                    .into_response()
            }),
        )
        .with_state(sends.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), sends)
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{s}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Vonage's parameters with `timestamp` and `sig`, as a form body.
fn signed(params: &[(&str, &str)], secret: &str) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    pairs.push(("timestamp".into(), timestamp_param(SystemClock.now())));
    let sig = compute_signature(secret, SignatureMethod::Sha256, &pairs);
    pairs.push(("sig".into(), sig));
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap().to_owned()
}

async fn post_form(app: &TestApp, path: &str, body: String) -> StatusCode {
    app.client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn vonage_sms_end_to_end(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (base, sends) = fake_vonage().await;
    let mut channel = json!({
        "name": "Vonage SMS", "kind": "sms", "provider": "vonage", "address": "+14155550100",
        "number_type": "long_code", "country": "US",
        "settings": {"base_url": base},
        "secrets": {"api_key": "key", "api_secret": "secret", "signature_secret": SIGNATURE_SECRET}
    });
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hook = format!("/webhooks/vonage/{id}");
    channel["settings"]["public_url"] = json!(format!("{}{hook}", app.base));
    let r = app
        .req(Method::PUT, &format!("/api/v1/channels/{id}"))
        .json(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Inbound: refused unsigned, wrongly signed or tampered; accepted when signed.
    let inbound = [
        ("msisdn", "447700900001"),
        ("to", "14155550100"),
        ("messageId", "1700000000AB"),
        ("text", "Hello from Vonage & co"),
        ("type", "text"),
        ("message-timestamp", "2026-12-03 10:00:00"),
    ];
    let unsigned = signed(&inbound, SIGNATURE_SECRET)
        .split('&')
        .filter(|p| !p.starts_with("sig="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        post_form(&app, &hook, unsigned).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&app, &hook, signed(&inbound, "another secret")).await,
        StatusCode::FORBIDDEN
    );
    let tampered = signed(&inbound, SIGNATURE_SECRET).replace("Hello", "Jello");
    assert_eq!(
        post_form(&app, &hook, tampered).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&app, &hook, signed(&inbound, SIGNATURE_SECRET)).await,
        StatusCode::OK
    );
    let user = app.wait_for_user(id, CUSTOMER).await;
    let entries = app.wait_for_entries(user.id, 1).await;
    let (session, first) = entries.first().unwrap().clone();
    assert_eq!(first.body, "Hello from Vonage & co");

    // Outbound: an agent's reply goes to the SMS API with the channel's credentials.
    let mut session = app.db.store.session(session.id).await.unwrap();
    session.status = SessionStatus::Active;
    app.db
        .store
        .save_sessions(&[session.clone()], SystemClock.now())
        .await
        .unwrap();
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/sessions/{}/messages", session.id),
        )
        .json(&json!({"body": "Thanks, looking into it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let entry_id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let sent = eventually(&app.events, "the SMS at Vonage", || {
        let sends = sends.clone();
        async move { sends.lock().unwrap().first().cloned() }
    })
    .await;
    for expected in [
        ("api_key", "key"),
        ("api_secret", "secret"),
        ("from", "14155550100"),
        ("to", "447700900001"),
        ("text", "Thanks, looking into it"),
    ] {
        assert!(
            sent.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {sent:?}"
        );
    }
    assert!(sent.contains(&("callback".into(), format!("{}{hook}/status", app.base))));
    let s = app.db.store.clone();
    let entry = eventually(&app.events, "the entry sent", || {
        let s = s.clone();
        async move {
            let e = s.entry(entry_id).await.unwrap();
            (e.status == EntryStatus::Sent).then_some(e)
        }
    })
    .await;
    assert_eq!(
        entry.provider_message_id.as_deref(),
        Some("0A0000000123ABCD1")
    );

    // Status: the signed delivery receipt marks it delivered.
    let receipt = [
        ("msisdn", "447700900001"),
        ("to", "14155550100"),
        ("network-code", "23410"),
        ("messageId", "0A0000000123ABCD1"),
        ("price", "0.0333"),
        ("status", "delivered"),
        ("scts", "2612031000"),
        ("err-code", "0"),
        ("message-timestamp", "2026-12-03 10:00:05"),
    ];
    let status_hook = format!("{hook}/status");
    assert_eq!(
        post_form(&app, &status_hook, signed(&receipt, "wrong")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&app, &status_hook, signed(&receipt, SIGNATURE_SECRET)).await,
        StatusCode::OK
    );
    let s = app.db.store.clone();
    eventually(&app.events, "the entry delivered", || {
        let s = s.clone();
        async move {
            let e = s.entry(entry_id).await.unwrap();
            (e.status == EntryStatus::Delivered).then_some(())
        }
    })
    .await;
}

parley_store::on_both_backends!(vonage_sms_end_to_end);
