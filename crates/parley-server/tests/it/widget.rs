//! Issue 14: the web chat widget's public API end to end, on both databases: origins, visitors,
//! a conversation from the pre-chat to an agent's reply on the event stream, replay after a
//! reconnect, files both ways, the anonymous history window (moved clock), limits.

use std::sync::Arc;
use std::time::Duration;

use parley_core::ManualClock;
use parley_core::web::{
    Branding, OriginPattern, Prechat, PrechatField, PrechatKind, WebDeployment, WebDeploymentSpec,
    WidgetSettings,
};
use parley_engine::EngineConfig;
use parley_server::ServerConfig;
use parley_store::testing::TestBackend;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const ORIGIN: &str = "https://shop.example";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

struct Web {
    app: TestApp,
    channel_id: Uuid,
    gold_queue: Uuid,
    deployment: WebDeployment,
}

async fn setup(b: TestBackend) -> Web {
    setup_with(TestApp::spawn(b).await).await
}

async fn setup_with(app: TestApp) -> Web {
    let (s, support) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/queues")
            .json(&json!({"name": "Support"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{support}");
    let (_, gold) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/queues")
            .json(&json!({"name": "Gold"})),
    )
    .await;
    let (s, channel) =
        parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
            &json!({"name": "Shop", "kind": "web", "provider": "web", "address": "shop",
                "queue_id": support["id"]}),
        ))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{channel}");
    let channel_id: Uuid = channel["id"].as_str().unwrap().parse().unwrap();
    let (s, rule) =
        parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/routing-rules").json(
            &json!({"name": "Gold plan", "channel_id": channel_id,
                "conditions": [{"type": "field_equals", "field": "prechat.plan", "value": "gold"}],
                "actions": [{"type": "route_to_queue", "queue_id": gold["id"]}]}),
        ))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let deployment = app
        .db
        .store
        .create_web_deployment(
            &WebDeploymentSpec {
                name: "shop".to_owned(),
                channel_id,
                origins: vec![OriginPattern::parse(ORIGIN).unwrap()],
                language: "en".to_owned(),
                branding: Branding::default(),
                settings: WidgetSettings::default(),
                prechat: Prechat {
                    enabled: true,
                    fields: vec![
                        PrechatField {
                            name: "first_name".to_owned(),
                            label: "First name".to_owned(),
                            kind: PrechatKind::Text,
                            required: true,
                            hidden: false,
                        },
                        PrechatField {
                            name: "plan".to_owned(),
                            label: String::new(),
                            kind: PrechatKind::Text,
                            required: false,
                            hidden: true,
                        },
                    ],
                },
                keyset_id: None,
            },
            app.engine.clock.now(),
        )
        .await
        .unwrap();
    Web {
        app,
        channel_id,
        gold_queue: gold["id"].as_str().unwrap().parse().unwrap(),
        deployment,
    }
}

impl Web {
    fn call(&self, method: Method, path: &str) -> RequestBuilder {
        self.app
            .anon(method, &format!("/widget/v1{path}"))
            .header("origin", ORIGIN)
    }

    fn visitor_call(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.call(method, path).bearer_auth(token)
    }

    async fn visitor(&self) -> (String, Uuid) {
        let (s, v) = parley_testkit::status_and_json(
            self.call(Method::POST, "/deployments/shop/visitors")
                .json(&json!({})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["verified"], false);
        (
            v["visitor_token"].as_str().unwrap().to_owned(),
            v["visitor_id"].as_str().unwrap().parse().unwrap(),
        )
    }

    async fn send(&self, token: &str, body: Value) -> (StatusCode, Value) {
        parley_testkit::status_and_json(
            self.visitor_call(token, Method::POST, "/messages")
                .json(&body),
        )
        .await
    }

    async fn conversation(&self, token: &str) -> Value {
        let (s, v) =
            parley_testkit::status_and_json(self.visitor_call(token, Method::GET, "/conversation"))
                .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// The conversation once it has `n` entries.
    async fn conversation_with(&self, token: &str, n: usize) -> Value {
        let client = self.app.client.clone();
        let url = format!("{}/widget/v1/conversation", self.app.base);
        let token = token.to_owned();
        eventually(&self.app.events, &format!("{n} widget entries"), || {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                let v: Value = client
                    .get(&url)
                    .header("origin", ORIGIN)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                (v["entries"].as_array()?.len() >= n).then_some(v)
            }
        })
        .await
    }
}

/// SSE events from a response (event, id, data) until `done` says they are enough.
async fn read_until(
    r: &mut reqwest::Response,
    buf: &mut String,
    done: impl Fn(&[(String, Option<String>, Value)]) -> bool,
) -> Vec<(String, Option<String>, Value)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for e in parley_testkit::sse::take_events(buf) {
            if !e.event.is_empty() {
                out.push((
                    e.event,
                    e.id,
                    serde_json::from_str(&e.data).unwrap_or(Value::Null),
                ));
            }
        }
    }
    out
}

async fn origins_are_checked(b: TestBackend) {
    let w = setup(b).await;
    let r = w
        .call(Method::GET, "/deployments/shop/config")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(r.headers().get("set-cookie").is_none());
    let config: Value = r.json().await.unwrap();
    assert_eq!(config["name"], "shop");
    assert_eq!(config["verification_required"], false);
    assert_eq!(config["prechat"]["fields"][0]["name"], "first_name");
    assert_eq!(config["business_hours"]["open"], true);
    assert_eq!(config["labels"]["send"], "Send");
    assert_eq!(config["labels_language"], "en");
    // The snippet's language, when the catalogue has it, picks the labels (WEB-07); an unknown
    // one leaves the deployment's.
    for (asked, send, language) in [("fr", "Envoyer", "fr"), ("xx", "Send", "en")] {
        let config: Value = w
            .call(
                Method::GET,
                &format!("/deployments/shop/config?language={asked}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(config["labels"]["send"], send, "{asked}");
        assert_eq!(config["labels_language"], language, "{asked}");
        assert_eq!(config["language"], "en");
    }

    // A method no operation declares is 405 from any origin, before the origin check.
    for (method, path) in [
        (Method::GET, "/widget/v1/end"),
        (Method::DELETE, "/widget/v1/conversation"),
    ] {
        let r = w.app.anon(method, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }

    // Another site, and no Origin at all: refused, and nothing a browser may read.
    for origin in [
        Some("https://evil.example"),
        Some("http://shop.example"),
        None,
    ] {
        let mut req = w
            .app
            .anon(Method::GET, "/widget/v1/deployments/shop/config");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "origin_not_allowed");
    }

    // Preflights: allowed origins get the methods and headers, others nothing.
    let r = w
        .call(Method::OPTIONS, "/messages")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("authorization") && allowed.contains("last-event-id"));
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let r = w
        .app
        .anon(Method::OPTIONS, "/widget/v1/deployments/shop/visitors")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // A visitor's token used from another site is refused too.
    let (token, _) = w.visitor().await;
    let r = w
        .app
        .anon(Method::GET, "/widget/v1/conversation")
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A bad token is told to the allowed site, so the widget starts afresh.
    let r = w
        .visitor_call("pv_nope", Method::GET, "/conversation")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "visitor_token_invalid");
    // Unknown deployment.
    let r = w
        .call(Method::GET, "/deployments/nope/config")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn a_conversation_from_prechat_to_agent_reply(b: TestBackend) {
    let w = setup(b).await;
    let (token, visitor_id) = w.visitor().await;
    let empty = w.conversation(&token).await;
    assert_eq!(empty["session"], Value::Null);
    assert_eq!(empty["prechat_done"], false);
    assert_eq!(empty["entries"], json!([]));

    // The pre-chat must fit the form.
    let (s, refused) = w
        .send(
            &token,
            json!({"client_message_id": "m0", "text": "hi", "prechat": {"plan": "gold"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("first_name"));

    let html = "<script>alert(1)</script> & <b>hello</b>";
    let first = json!({"client_message_id": "m1", "text": html,
        "prechat": {"first_name": "Ann", "plan": "gold"},
        "page_url": "https://shop.example/cart"});
    let (s, accepted) = w.send(&token, first.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["client_message_id"], "m1");
    // A retried POST is the same message.
    let (s, _) = w.send(&token, first).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let c = w.conversation_with(&token, 1).await;
    let entry = &c["entries"][0];
    assert_eq!(entry["text"], html, "customer text comes back as text");
    assert_eq!(entry["author"], "customer");
    assert_eq!(entry["direction"], "inbound");
    let session_id: Uuid = c["session"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(c["prechat_done"], true);

    // The session's web data, written with it, and the pre-chat value reaching routing.
    let data = w
        .app
        .db
        .store
        .web_session_data(session_id)
        .await
        .unwrap()
        .expect("web session data");
    assert_eq!(data.deployment_name, "shop");
    assert_eq!(data.visitor_id, visitor_id);
    assert_eq!(data.prechat["plan"], "gold");
    assert_eq!(data.prechat["first_name"], "Ann");
    assert_eq!(data.page_url.as_deref(), Some("https://shop.example/cart"));
    let store = w.app.db.store.clone();
    let gold = w.gold_queue.to_string();
    eventually(&w.app.events, "routing to the Gold queue", || {
        let (store, gold) = (store.clone(), gold.clone());
        async move {
            let work = store.routing_work_of(&[session_id]).await.unwrap();
            work.first()
                .filter(|w| w.target.contains(&gold))
                .map(|_| ())
        }
    })
    .await;
    let user = w
        .app
        .db
        .store
        .messaging_user(data_user(&w, session_id).await)
        .await
        .unwrap();
    assert!(user.platform_key.starts_with("anon:"));
    assert_eq!(user.name, "Ann");

    // The agent's reply arrives on the stream.
    let mut stream = w
        .visitor_call(&token, Method::GET, "/events")
        .header("last-event-id", c["entries"][0]["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["access-control-allow-origin"], ORIGIN);
    let (s, sent) = parley_testkit::status_and_json(
        w.app
            .req(
                Method::POST,
                &format!("/api/v1/sessions/{session_id}/messages"),
            )
            .json(&json!({"body": "Hello Ann, <i>how</i> can I help?"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let mut buf = String::new();
    let got = read_until(&mut stream, &mut buf, |got| {
        got.iter()
            .any(|(e, _, d)| e == "entry" && d["direction"] == "outbound")
    })
    .await;
    let (_, id, reply) = got
        .iter()
        .find(|(e, _, d)| e == "entry" && d["direction"] == "outbound")
        .unwrap();
    assert_eq!(reply["text"], "Hello Ann, <i>how</i> can I help?");
    assert_eq!(reply["author"], "agent");
    assert_eq!(reply["status"], "delivered");
    assert_eq!(id.as_deref(), reply["id"].as_str());
    let reply_id = reply["id"].as_str().unwrap().to_owned();

    // Typing and read receipts.
    let r = w
        .visitor_call(&token, Method::POST, "/typing")
        .json(&json!({"typing": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, read) = parley_testkit::status_and_json(
        w.visitor_call(&token, Method::POST, "/read")
            .json(&json!({"up_to": reply_id})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["marked"], 1);
    let entry = w
        .app
        .db
        .store
        .entry(reply_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(entry.status.as_str(), "read");
    let got = read_until(&mut stream, &mut buf, |got| {
        got.iter()
            .any(|(e, _, d)| e == "status" && d["status"] == "read")
    })
    .await;
    assert!(!got.is_empty());

    // The transcript, as text.
    let r = w
        .visitor_call(&token, Method::GET, "/transcript")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(text.contains(html), "{text}");
    assert!(text.contains("Hello Ann"), "{text}");

    // End Chat: the session ends; a new message opens a new session (SE-13).
    let (s, ended) =
        parley_testkit::status_and_json(w.visitor_call(&token, Method::POST, "/end")).await;
    assert_eq!(s, StatusCode::OK, "{ended}");
    assert_eq!(ended["status"], "ended");
    let (s, _) =
        parley_testkit::status_and_json(w.visitor_call(&token, Method::POST, "/end")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let c = w.conversation(&token).await;
    assert_eq!(c["prechat_done"], false, "a new session asks again");

    // Logout revokes the token and ends its stream.
    let r = w
        .visitor_call(&token, Method::POST, "/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends at logout");
    let (s, body) =
        parley_testkit::status_and_json(w.visitor_call(&token, Method::GET, "/conversation")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "visitor_token_invalid");
}

async fn data_user(w: &Web, session_id: Uuid) -> Uuid {
    w.app
        .db
        .store
        .session(session_id)
        .await
        .unwrap()
        .messaging_user_id
}

async fn a_reconnect_replays_what_was_missed(b: TestBackend) {
    let w = setup(b).await;
    let (token, _) = w.visitor().await;
    let (s, _) = w
        .send(
            &token,
            json!({"client_message_id": "a", "text": "one", "prechat": {"first_name": "Bo"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let c = w.conversation_with(&token, 1).await;
    let first = c["entries"][0]["id"].as_str().unwrap().to_owned();
    let session_id = c["session"]["id"].as_str().unwrap().to_owned();
    // While no stream is open: two more messages and an agent's reply.
    for (id, text) in [("b", "two"), ("c", "three")] {
        let (s, _) = w
            .send(&token, json!({"client_message_id": id, "text": text}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    w.conversation_with(&token, 3).await;
    let (s, _) = parley_testkit::status_and_json(
        w.app
            .req(
                Method::POST,
                &format!("/api/v1/sessions/{session_id}/messages"),
            )
            .json(&json!({"body": "reply"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let all = w.conversation_with(&token, 4).await;
    let texts: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three", "reply"]);

    let mut stream = w
        .visitor_call(&token, Method::GET, "/events")
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let got = read_until(&mut stream, &mut buf, |got| {
        got.iter().filter(|(e, _, _)| e == "entry").count() >= 3
    })
    .await;
    let replayed: Vec<&str> = got
        .iter()
        .filter(|(e, _, _)| e == "entry")
        .map(|(_, _, d)| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        replayed,
        ["two", "three", "reply"],
        "nothing lost, nothing twice"
    );
}

async fn files_go_both_ways(b: TestBackend) {
    let w = setup(b).await;
    let (token, _) = w.visitor().await;
    let upload = |ct: &'static str, body: Vec<u8>| {
        w.visitor_call(&token, Method::POST, "/uploads")
            .header("content-type", ct)
            .body(body)
    };
    let (s, file) = parley_testkit::status_and_json(upload("image/png", PNG.to_vec())).await;
    assert_eq!(s, StatusCode::CREATED, "{file}");
    assert_eq!(file["content_type"], "image/png");
    // Not an accepted type, or not what it claims to be: 415 naming the file.
    let (s, body) =
        parley_testkit::status_and_json(upload("text/html", b"<html><script>x</script>".to_vec()))
            .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("file:"));
    let (s, _) = parley_testkit::status_and_json(upload("application/pdf", PNG.to_vec())).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let r = upload("image/png", big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let media_id = file["id"].as_str().unwrap();
    let (s, _) = w
        .send(
            &token,
            json!({"client_message_id": "f1", "text": "my receipt", "media_ids": [media_id],
                   "prechat": {"first_name": "Cy"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let c = w.conversation_with(&token, 1).await;
    assert_eq!(c["entries"][0]["media"][0]["id"], media_id);
    assert_eq!(c["entries"][0]["media"][0]["content_type"], "image/png");
    let r = w
        .visitor_call(&token, Method::GET, &format!("/media/{media_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // Another visitor cannot read it, nor attach it.
    let (other, _) = w.visitor().await;
    let r = w
        .visitor_call(&other, Method::GET, &format!("/media/{media_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (s, _) = w
        .send(
            &other,
            json!({"client_message_id": "x", "text": "", "media_ids": [media_id],
                   "prechat": {"first_name": "Eve"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // An agent's file reaches the visitor.
    let session_id = c["session"]["id"].as_str().unwrap();
    let (s, sent) = parley_testkit::status_and_json(
        w.app
            .req(
                Method::POST,
                &format!("/api/v1/sessions/{session_id}/messages"),
            )
            .json(
                &json!({"body": "the invoice", "media": [{"url": "https://files.example/i.pdf",
                "content_type": "application/pdf", "size": 2048}]}),
            ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let c = w.conversation_with(&token, 2).await;
    let out = &c["entries"][1];
    assert_eq!(out["author"], "agent");
    assert_eq!(out["media"][0]["content_type"], "application/pdf");
    assert_eq!(out["media"][0]["url"], "https://files.example/i.pdf");
}

async fn anonymous_history_ends_after_six_hours(b: TestBackend) {
    let clock = Arc::new(ManualClock::new(parley_core::Timestamp::from_millis(
        1_800_000_000_000,
    )));
    let app = TestApp::spawn_clocked(
        b,
        ServerConfig {
            simulator: true,
            ..ServerConfig::default()
        },
        EngineConfig::default(),
        clock.clone(),
    )
    .await;
    let w = setup_with(app).await;
    let (token, _) = w.visitor().await;
    let (s, _) = w
        .send(
            &token,
            json!({"client_message_id": "a", "text": "hello", "prechat": {"first_name": "Di"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    w.conversation_with(&token, 1).await;
    clock.advance(Duration::from_secs(5 * 3600));
    assert_eq!(
        w.conversation(&token).await["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    clock.advance(Duration::from_secs(3600 + 60));
    let (s, body) =
        parley_testkit::status_and_json(w.visitor_call(&token, Method::GET, "/conversation")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "visitor_token_invalid");
    let (fresh, _) = w.visitor().await;
    assert_eq!(w.conversation(&fresh).await["entries"], json!([]));
}

async fn limits_answer_413_and_429(b: TestBackend) {
    let w = setup(b).await;
    let (token, _) = w.visitor().await;
    let (s, body) = w
        .send(
            &token,
            json!({"client_message_id": "big", "text": "x".repeat(20 * 1024)}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let mut limited = None;
    for i in 0..40 {
        let r = w
            .visitor_call(&token, Method::POST, "/messages")
            .json(
                &json!({"client_message_id": format!("r{i}"), "text": "spam",
                          "prechat": {"first_name": "Sam"}}),
            )
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = limited.expect("the per-visitor limit answers 429");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Bad input: a clear 4xx naming the field.
    let (s, body) = w
        .send(&token, json!({"client_message_id": "bad id!", "text": "x"}))
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::TOO_MANY_REQUESTS,
        "{s} {body}"
    );
    // Visitors per client address.
    let mut refused = false;
    for _ in 0..70 {
        let r = w
            .call(Method::POST, "/deployments/shop/visitors")
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().get("retry-after").is_some());
            refused = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert!(refused, "at most {} visitors a minute from one address", 60);
    let _ = w.channel_id;
    let _ = &w.deployment;
}

/// An ES256 key made here, its JWK, and identity tokens signed with it.
struct Signer {
    der: Vec<u8>,
    jwk: Value,
}

const ISS: &str = "https://shop.example";

fn signer(kid: &str) -> Signer {
    use base64::Engine as _;
    use p256::pkcs8::EncodePrivateKey;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = sk.verifying_key().to_encoded_point(false);
    Signer {
        der: sk.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        jwk: json!({"kty": "EC", "kid": kid, "alg": "ES256", "crv": "P-256",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
    }
}

impl Signer {
    fn token(&self, sub: &str, iss: &str) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = self.jwk["kid"].as_str().map(str::to_owned);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({"sub": sub, "iss": iss, "exp": now + 600, "iat": now});
        jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.der),
        )
        .unwrap()
    }
}

async fn verified_history_follows_the_user(b: TestBackend) {
    use parley_engine::service::web::{self as svc, KeysetInput};
    let w = setup(b).await;
    let store = &w.app.db.store;
    let now = w.app.engine.clock.now();
    let ks = svc::create_keyset(
        store,
        &KeysetInput {
            name: "Members".into(),
            issuer: ISS.into(),
            jwks_url: None,
        },
        now,
    )
    .await
    .unwrap();
    let key = signer("k1");
    svc::upload_key(store, ks.id, &key.jwk, now).await.unwrap();
    let mut spec = w.deployment.spec();
    spec.name = "members".into();
    spec.keyset_id = Some(ks.id);
    spec.prechat = Prechat::default();
    store.create_web_deployment(&spec, now).await.unwrap();
    let create = |body: Value| {
        parley_testkit::status_and_json(
            w.call(Method::POST, "/deployments/members/visitors")
                .json(&body),
        )
    };
    let (s, config) =
        parley_testkit::status_and_json(w.call(Method::GET, "/deployments/members/config")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(config["verification_required"], true);
    // This deployment takes verified users only, with a token of its keyset.
    let (s, body) = create(json!({})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "identity_token_invalid");
    let (s, body) =
        create(json!({"identity_token": key.token("user-1", "https://other.example")})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let (s, body) = create(json!({"identity_token": signer("k1").token("user-1", ISS)})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a forged signature: {body}");

    // Two devices of the same user share one history.
    let (s, laptop) = create(json!({"identity_token": key.token("user-1", ISS)})).await;
    assert_eq!(s, StatusCode::CREATED, "{laptop}");
    assert_eq!(laptop["verified"], true);
    let laptop = laptop["visitor_token"].as_str().unwrap().to_owned();
    let (s, _) = w
        .send(
            &laptop,
            json!({"client_message_id": "l1", "text": "from my laptop"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let c = w.conversation_with(&laptop, 1).await;
    let session_id: Uuid = c["session"]["id"].as_str().unwrap().parse().unwrap();
    let data = store.web_session_data(session_id).await.unwrap().unwrap();
    assert_eq!(data.identity.as_deref(), Some("user-1"));
    let (s, phone) = create(json!({"identity_token": key.token("user-1", ISS)})).await;
    assert_eq!(s, StatusCode::CREATED);
    let phone = phone["visitor_token"].as_str().unwrap().to_owned();
    let c = w.conversation(&phone).await;
    assert_eq!(c["entries"][0]["text"], "from my laptop");
    // Another user sees nothing of it.
    let (_, other) = create(json!({"identity_token": key.token("user-2", ISS)})).await;
    let other = other["visitor_token"].as_str().unwrap().to_owned();
    assert_eq!(w.conversation(&other).await["entries"], json!([]));
    // Logging out on the phone ends the phone's token only.
    let r = w
        .visitor_call(&phone, Method::POST, "/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) =
        parley_testkit::status_and_json(w.visitor_call(&phone, Method::GET, "/conversation")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.conversation(&laptop).await["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let user = store
        .messaging_user(data_user(&w, session_id).await)
        .await
        .unwrap();
    assert_eq!(user.platform_key, "uid:user-1");
}

/// A widget connected to another node than the one where things happen: the agent who accepts
/// and their reply reach it through the console feed (the database), not the first node's bus.
async fn another_node_hears_the_agent_and_the_reply(b: TestBackend) {
    use parley_core::model::{AgentRole, Presence};
    use parley_engine::web_hub::WidgetEvent;
    let w = setup(b).await;
    let (token, _) = w.visitor().await;
    let (s, _) = w
        .send(
            &token,
            json!({"client_message_id": "n1", "text": "hello", "prechat": {"first_name": "Flo", "plan": "gold"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let c = w.conversation_with(&token, 1).await;
    let session_id: Uuid = c["session"]["id"].as_str().unwrap().parse().unwrap();
    let user = data_user(&w, session_id).await;

    // Node B: its own engine on the same database, with its feed running.
    let other = parley_store::Store::connect(&w.app.db.url, &parley_store::StoreOptions::default())
        .await
        .unwrap();
    let node_b = parley_engine::Engine::new(
        other,
        w.app.engine.clock.clone(),
        parley_engine::EventBus::default(),
        EngineConfig::default(),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = node_b.feed.spawn(&node_b.events, stop_rx);
    let mut stream = node_b.web.subscribe(user, &[session_id]);
    assert_eq!(node_b.web.connections(), 1);

    // Node A: an agent of the Gold queue is offered the session and accepts it.
    let store = &w.app.db.store;
    let now = w.app.engine.clock.now();
    let ada = store
        .create_agent(
            &parley_store::AgentSpec {
                name: "Ada".into(),
                email: "ada@example.test".into(),
                role: AgentRole::Agent,
                capacity: 2,
                queue_ids: vec![w.gold_queue],
                skills: vec![],
            },
            now,
        )
        .await
        .unwrap();
    let ada = w
        .app
        .engine
        .desk
        .set_presence(&ada, Presence::Available)
        .await
        .unwrap();
    let s2 = store.clone();
    eventually(&w.app.events, "the offer to Ada", || {
        let s2 = s2.clone();
        async move {
            let work = s2.routing_work_of(&[session_id]).await.unwrap();
            work.first()
                .filter(|x| x.offered_agent_id == Some(ada.id))
                .map(|_| ())
        }
    })
    .await;
    w.app.engine.desk.accept(&ada, session_id).await.unwrap();
    let (s, _) = parley_testkit::status_and_json(
        w.app
            .req(
                Method::POST,
                &format!("/api/v1/sessions/{session_id}/messages"),
            )
            .json(&json!({"body": "Ada here"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let (mut joined, mut replied) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !(joined && replied) {
        let e = tokio::time::timeout_at(deadline, stream.rx.recv())
            .await
            .expect("node B's widget hears node A in time")
            .expect("stream open");
        match e.as_ref() {
            WidgetEvent::Session {
                status, agent_name, ..
            } if status.as_str() == "active" => {
                assert_eq!(agent_name.as_deref(), Some("Ada"));
                joined = true;
            }
            WidgetEvent::Entry { entry, author_name } if entry.body == "Ada here" => {
                assert_eq!(author_name.as_deref(), None, "an API token is no agent");
                replied = true;
            }
            _ => {}
        }
    }
    drop(stream);
    assert_eq!(
        node_b.web.connections(),
        0,
        "a closed widget leaves the hub"
    );
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
}

/// The hub with 10,000 widgets on one node: each hears its own visitor's event and no other's;
/// the memory the registrations take is printed (VmRSS delta per stream, Linux), not asserted.
async fn ten_thousand_streams_each_hear_their_own(b: TestBackend) {
    use parley_engine::DomainEvent;
    use parley_engine::web_hub::WidgetEvent;
    const N: usize = 10_000;
    let w = setup(b).await;
    let hub = &w.app.engine.web;
    let before = rss_kib();
    let pairs: Vec<(Uuid, Uuid)> = (0..N).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
    let mut streams: Vec<_> = pairs
        .iter()
        .map(|(user, session)| hub.subscribe(*user, &[*session]))
        .collect();
    let after = rss_kib();
    assert_eq!(hub.connections(), N);
    if let (Some(a), Some(b)) = (before, after) {
        println!(
            "widget hub: {N} streams, VmRSS +{} KiB, {} bytes per stream",
            b.saturating_sub(a),
            b.saturating_sub(a) * 1024 / N as u64
        );
    }
    let agent = Uuid::now_v7();
    for (_, session) in &pairs {
        w.app.events.publish(DomainEvent::AgentTyping {
            session_id: *session,
            agent_id: agent,
            typing: true,
        });
    }
    for s in &mut streams {
        let e = tokio::time::timeout(Duration::from_secs(10), s.rx.recv())
            .await
            .expect("its event in time")
            .expect("open");
        assert!(matches!(
            e.as_ref(),
            WidgetEvent::Typing { typing: true, .. }
        ));
        assert!(s.rx.try_recv().is_err(), "nobody else's event");
    }
    drop(streams);
    assert_eq!(hub.connections(), 0);
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Closed hours: the config and the conversation say so, with the channel's after-hours reply.
async fn business_hours_reach_the_widget(b: TestBackend) {
    let w = setup(b).await;
    let store = &w.app.db.store;
    let ch = store.channel(w.channel_id).await.unwrap();
    let spec = parley_store::ChannelSpec {
        name: ch.name.clone(),
        kind: ch.kind,
        provider: ch.provider.clone(),
        address: ch.address.clone(),
        number_type: ch.number_type,
        provider_keyword: None,
        country: ch.country.clone(),
        consent_level: ch.consent_level,
        queue_id: ch.queue_id,
        throughput_mps: None,
        settings: json!({
            "business_hours": {"utc_offset_minutes": 0, "intervals": []},
            "auto_replies": {"after_hours": "We are closed; we answer from 9:00."}
        }),
        secrets: json!({}),
    };
    store
        .update_channel(ch.id, &spec, w.app.engine.clock.now())
        .await
        .unwrap();
    let (_, config) =
        parley_testkit::status_and_json(w.call(Method::GET, "/deployments/shop/config")).await;
    assert_eq!(config["business_hours"]["open"], false, "{config}");
    assert_eq!(
        config["business_hours"]["message"],
        "We are closed; we answer from 9:00."
    );
    let (token, _) = w.visitor().await;
    let c = w.conversation(&token).await;
    assert_eq!(c["business_hours"]["open"], false);
}

parley_store::on_both_backends!(
    origins_are_checked,
    a_conversation_from_prechat_to_agent_reply,
    a_reconnect_replays_what_was_missed,
    files_go_both_ways,
    anonymous_history_ends_after_six_hours,
    limits_answer_413_and_429,
    verified_history_follows_the_user,
    another_node_hears_the_agent_and_the_reply,
    ten_thousand_streams_each_hear_their_own,
    business_hours_reach_the_widget,
);
