//! Issue 17, items 1 and 7: inbound media URLs cannot make the server fetch from its own
//! network (loopback listeners on other addresses, a redirect to the metadata address, a name
//! resolving to loopback), credentials never leave the provider's API hosts, and stored files
//! are served so a browser never runs them (octet-stream attachments, nosniff everywhere).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri, header};
use axum::response::{IntoResponse, Response};
use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use parley_testkit::fake::PNG;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const ACCOUNT_SID: &str = "AC22222222222222222222222222222222";
const AUTH_TOKEN: &str = "media-auth-token";
const CUSTOMER: &str = "+14155550177";

/// What a listener saw: the path and `Authorization` header of each request.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A listener on `ip` that records every request. `/to/{n}` redirects to `redirects[n]`;
/// anything else is answered with a PNG.
async fn listener(ip: &str, redirects: Vec<String>) -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let redirects = Arc::new(redirects);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        let redirects = redirects.clone();
        async move {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            log.lock().unwrap().push((uri.path().to_owned(), auth));
            let target = uri
                .path()
                .strip_prefix("/to/")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| redirects.get(n).cloned());
            let response: Response = match target {
                Some(location) => {
                    (AxumStatus::FOUND, [(header::LOCATION, location)]).into_response()
                }
                None => ([(header::CONTENT_TYPE, "image/png")], PNG).into_response(),
            };
            response
        }
    });
    let socket = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    (port, seen)
}

/// A Twilio channel with credentials and the given extra settings (`media_hosts`,
/// `base_url`), whose webhook URL is this app's.
async fn twilio_channel(app: &TestApp, address: &str, extra: Value) -> Channel {
    let now = SystemClock.now();
    let s = &app.db.store;
    let secrets = json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN});
    let mut spec = build::twilio_sms(&format!("Media {address}"), address, extra.clone(), secrets);
    let channel = s.create_channel(&spec, now).await.unwrap();
    let mut settings = extra;
    settings["public_url"] = json!(format!("{}/webhooks/twilio/{}", app.base, channel.id));
    spec.settings = settings;
    s.update_channel(channel.id, &spec, now).await.unwrap()
}

/// Posts a signed inbound MMS with these media URLs, and waits until every file has been
/// stored or has a reason it was not.
async fn inbound_mms(app: &TestApp, channel: &Channel, sid: &str, urls: &[String]) -> Vec<Media> {
    let url = format!("{}/webhooks/twilio/{}", app.base, channel.id);
    let mut params: Vec<(String, String)> = vec![
        ("MessageSid".into(), sid.into()),
        ("AccountSid".into(), ACCOUNT_SID.into()),
        ("From".into(), CUSTOMER.into()),
        ("To".into(), channel.address.clone()),
        ("Body".into(), "files".into()),
        ("NumMedia".into(), urls.len().to_string()),
    ];
    for (i, u) in urls.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), u.clone()));
        params.push((format!("MediaContentType{i}"), "image/png".into()));
    }
    let r = crate::messages::post_signed_twilio(app, AUTH_TOKEN, &url, &params).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let user = app.wait_for_user(channel.id, CUSTOMER).await;
    let store = app.db.store.clone();
    let sid = sid.to_owned();
    eventually(&app.events, "media settled", || {
        let store = store.clone();
        let sid = sid.clone();
        async move {
            let sessions = store
                .list_sessions(
                    SessionFilter {
                        messaging_user_id: Some(user.id),
                        ..Default::default()
                    },
                    PageRequest::new(None, 10),
                )
                .await
                .unwrap()
                .items;
            for session in sessions {
                let entries = store
                    .list_entries(session.id, PageRequest::new(None, 50))
                    .await
                    .unwrap()
                    .items;
                let found = entries.into_iter().find(|e| {
                    e.direction == Direction::Inbound
                        && e.provider_message_id.as_deref() == Some(sid.as_str())
                });
                if let Some(e) = found {
                    return e
                        .media
                        .iter()
                        .all(|m| m.id.is_some() || m.error.is_some())
                        .then_some(e.media);
                }
            }
            None
        }
    })
    .await
}

fn refused(m: &Media, says: &str) {
    assert!(m.id.is_none(), "{m:?}");
    let error = m.error.as_deref().unwrap_or_default();
    assert!(error.contains("not fetched"), "{error}");
    assert!(error.contains(says), "'{error}' should say '{says}'");
}

async fn local_addresses_are_never_fetched(b: TestBackend) {
    // The production default: no private networks.
    let app = TestApp::spawn(b).await;
    let (p1, seen1) = listener("127.0.0.1", vec![]).await;
    let (p2, seen2) = listener("127.0.0.2", vec![]).await;

    // Twilio's own hosts only: none of these is one.
    let plain = twilio_channel(&app, "+14155550101", json!({})).await;
    let media = inbound_mms(
        &app,
        &plain,
        "MMssrf1",
        &[
            format!("http://127.0.0.2:{p2}/a"),
            format!("http://localhost:{p1}/b"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            format!("https://api.twilio.com.127.0.0.1.nip.io:{p1}/c"),
        ],
    )
    .await;
    refused(&media[0], "not a media host");
    refused(&media[1], "not a media host");
    refused(&media[2], "not a media host");
    refused(&media[3], "not a media host");

    // Allowed by name, refused by address: an IP literal, a name resolving to loopback, the
    // IPv4-mapped IPv6 form.
    let listed = twilio_channel(
        &app,
        "+14155550102",
        json!({"media_hosts": ["127.0.0.2", "localhost", "::ffff:127.0.0.2", "169.254.169.254"]}),
    )
    .await;
    let media = inbound_mms(
        &app,
        &listed,
        "MMssrf2",
        &[
            format!("http://127.0.0.2:{p2}/d"),
            format!("http://localhost:{p1}/e"),
            format!("http://[::ffff:127.0.0.2]:{p2}/f"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ],
    )
    .await;
    refused(&media[0], "loopback");
    refused(&media[1], "loopback");
    refused(&media[2], "loopback");
    refused(&media[3], "link-local");

    assert!(
        seen1.lock().unwrap().is_empty(),
        "{:?}",
        seen1.lock().unwrap()
    );
    assert!(
        seen2.lock().unwrap().is_empty(),
        "{:?}",
        seen2.lock().unwrap()
    );
}

async fn redirects_and_credentials_stay_on_allowed_hosts(b: TestBackend) {
    // Loopback allowed, as in tests and the demo; link-local still never.
    let app = TestApp::spawn_full(
        b,
        parley_server::ServerConfig {
            simulator: true,
            ..Default::default()
        },
        parley_engine::EngineConfig {
            media_fetch_allow_private: true,
            ..Default::default()
        },
    )
    .await;
    let (p3, seen3) = listener("127.0.0.3", vec![]).await;
    let (p2, seen2) = listener(
        "127.0.0.2",
        vec![
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
            format!("http://127.0.0.3:{p3}/elsewhere"),
            format!("http://localhost:{p3}/named"),
        ],
    )
    .await;
    // 127.0.0.2 is one of the channel's own media hosts: fetched, but it is not Twilio's API,
    // so the account's credentials never reach it. 169.254.169.254 is listed too, to show the
    // address check stops it on a redirect hop even so.
    let channel = twilio_channel(
        &app,
        "+14155550103",
        json!({"media_hosts": ["127.0.0.2", "169.254.169.254"]}),
    )
    .await;
    let media = inbound_mms(
        &app,
        &channel,
        "MMssrf3",
        &[
            format!("http://127.0.0.2:{p2}/to/0"),
            format!("http://127.0.0.2:{p2}/to/1"),
            format!("http://127.0.0.2:{p2}/to/2"),
            format!("http://127.0.0.2:{p2}/file.png"),
        ],
    )
    .await;
    refused(&media[0], "169.254.169.254 is a link-local address");
    refused(&media[1], "127.0.0.3 is not a media host");
    refused(&media[2], "localhost is not a media host");
    assert!(media[3].id.is_some(), "{:?}", media[3]);
    assert_eq!(media[3].size, Some(PNG.len() as u64));

    let seen = seen2.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter().all(|(_, auth)| auth.is_none()),
        "credentials reached a host that is not Twilio's API: {seen:?}"
    );
    assert!(
        seen3.lock().unwrap().is_empty(),
        "{:?}",
        seen3.lock().unwrap()
    );
}

async fn media_hosts_are_checked_when_saved(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&json!({
            "name": "Bad hosts", "kind": "sms", "provider": "twilio", "address": "+14155550104",
            "number_type": "long_code",
            "settings": {"media_hosts": ["ok.example.com", "https://media.example.com/x"]},
            "secrets": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert!(
        v.to_string().contains("settings.media_hosts[1]"),
        "the refusal names the entry: {v}"
    );
}

/// A stored file with a content type written straight into its row, as an older server or a
/// bad provider answer may have left it.
async fn stored_as(app: &TestApp, content_type: &str, bytes: &[u8]) -> Uuid {
    let saved = app
        .engine
        .media
        .save(None, "application/octet-stream", bytes.to_vec())
        .await
        .unwrap();
    let row = StoredMedia {
        id: Uuid::now_v7(),
        content_type: content_type.to_owned(),
        ..saved
    };
    app.db.store.insert_media(&row).await.unwrap();
    row.id
}

async fn stored_files_are_served_safely(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let html = b"<html><script>alert(document.cookie)</script></html>";
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";

    // Saved through the media store: the type is checked when it is stored.
    let cleaned = app
        .engine
        .media
        .save(None, "image/png\u{1}\r\nSet-Cookie: a=b", PNG.to_vec())
        .await
        .unwrap();
    assert_eq!(cleaned.content_type, "application/octet-stream");

    for (content_type, bytes) in [
        ("text/html", &html[..]),
        ("image/svg+xml", &svg[..]),
        ("text/html; charset=utf-8", &html[..]),
        ("application/javascript", &b"alert(1)"[..]),
        ("text/xml", &b"<x/>"[..]),
        // Control characters in a stored type answered 500 before.
        ("image/png\u{1}", PNG),
        ("text/html\u{7f}", &html[..]),
    ] {
        let id = stored_as(&app, content_type, bytes).await;
        let r = app
            .req(Method::GET, &format!("/api/v1/media/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{content_type:?}");
        let h = r.headers().clone();
        assert_eq!(
            h["content-type"], "application/octet-stream",
            "{content_type:?}"
        );
        assert_eq!(
            h["content-disposition"],
            format!("attachment; filename=\"{id}\"").as_str()
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes);
    }

    // A picture is still shown inline, with its type.
    let id = stored_as(&app, "image/png", PNG).await;
    let r = app
        .req(Method::GET, &format!("/api/v1/media/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["content-disposition"], "inline");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

async fn every_answer_says_nosniff(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for (request, status) in [
        (app.req(Method::GET, "/api/v1/channels"), StatusCode::OK),
        (
            app.req(Method::GET, &format!("/api/v1/channels/{}", Uuid::now_v7())),
            StatusCode::NOT_FOUND,
        ),
        (
            app.anon(Method::GET, "/api/v1/channels"),
            StatusCode::UNAUTHORIZED,
        ),
        (app.anon(Method::GET, "/healthz"), StatusCode::OK),
        (app.anon(Method::GET, "/api/openapi.json"), StatusCode::OK),
        (
            app.anon(Method::GET, "/no/such/route"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = request.send().await.unwrap();
        let url = r.url().to_string();
        assert_eq!(r.status(), status, "{url}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(
            r.headers().get_all("x-content-type-options").iter().count(),
            1,
            "{url}"
        );
    }
}

parley_store::on_both_backends!(
    local_addresses_are_never_fetched,
    redirects_and_credentials_stay_on_allowed_hosts,
    media_hosts_are_checked_when_saved,
    stored_files_are_served_safely,
    every_answer_says_nosniff,
);
