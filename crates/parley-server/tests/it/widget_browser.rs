//! The web chat widget (`GET /widget.js`) in headless Chromium, embedded by pages served from
//! other origins than Parley: listeners of their own on other ports, serving the demo's shop page
//! (`tests/browser/widget.mjs` drives them). One page's origin is on the `shop` deployment's
//! allowlist, one is not, one embeds `members`, a deployment whose visitors must be verified
//! with a token signed by a key of a keyset. The pages reach Parley through a relay the scenario
//! can cut, to see the widget lose its stream and resume it. Screenshots go to `PARLEY_SHOTS` when
//! set.

use std::path::PathBuf;
use std::time::Duration;

use parley_core::model::{AgentRole, ChannelKind, ConsentLevel, Provider};
use parley_core::web::{
    Branding, KeysetSpec, OriginPattern, Prechat, PrechatField, PrechatKind, WebDeploymentSpec,
    WidgetSettings,
};
use parley_core::{Clock as _, SystemClock};
use parley_engine::EngineConfig;
use parley_server::ServerConfig;
use parley_server::widget_assets::demo_shop_router;
use parley_store::testing::TestBackend;
use parley_store::{AcceptWrite, ChannelSpec, ConsoleChange};
use parley_testkit::build;
use reqwest::StatusCode;
use serde_json::json;

use crate::TestApp;
use crate::console::PASSWORD;

const ISSUER: &str = "https://shop.example/auth";

/// A listener on a port of its own serving the shop page for `deployment`: another origin.
async fn host_page(parley: &str, deployment: &str) -> String {
    host_page_in(parley, deployment, "en").await
}

/// [`host_page`] whose snippet names `language` (empty: none, so the deployment's applies).
async fn host_page_in(parley: &str, deployment: &str, language: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = demo_shop_router(parley, deployment, language);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A TCP relay in front of Parley that the scenario can cut, as a dropped network would:
/// `POST {control}/cut` closes every relayed connection and refuses new ones until
/// `POST {control}/restore`. Answers the relay's base URL and the control's.
async fn relay(target: &str) -> (String, String) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let target = target.trim_start_matches("http://").to_owned();
    let cut = Arc::new(AtomicBool::new(false));
    let (drop_all, _) = tokio::sync::broadcast::channel::<()>(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (c, tx) = (cut.clone(), drop_all.clone());
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if c.load(Ordering::SeqCst) {
                continue;
            }
            let target = target.clone();
            let mut dropped = tx.subscribe();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = dropped.recv() => {}
                }
            });
        }
    });
    let control = axum::Router::new()
        .route(
            "/cut",
            axum::routing::post({
                let (cut, tx) = (cut.clone(), drop_all.clone());
                move || async move {
                    cut.store(true, Ordering::SeqCst);
                    let _ = tx.send(());
                }
            }),
        )
        .route(
            "/restore",
            axum::routing::post(move || async move { cut.store(false, Ordering::SeqCst) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, control).await;
    });
    (base, control_base)
}

/// A web channel routed to `queue_id`, open at all hours.
fn web_channel(queue_id: uuid::Uuid) -> ChannelSpec {
    ChannelSpec {
        name: "Shop chat".into(),
        kind: ChannelKind::Web,
        provider: Provider::Web,
        address: "shop-chat".into(),
        number_type: None,
        provider_keyword: None,
        country: None,
        consent_level: ConsentLevel::Implicit,
        queue_id: Some(queue_id),
        throughput_mps: None,
        settings: json!({}),
        secrets: json!({}),
    }
}

fn field(name: &str, label: &str, kind: PrechatKind, required: bool, hidden: bool) -> PrechatField {
    PrechatField {
        name: name.into(),
        label: label.into(),
        kind,
        required,
        hidden,
    }
}

async fn widget_in_a_real_browser(b: TestBackend) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let backend = format!("{b:?}").to_lowercase();
    let app = TestApp::spawn_full(
        b,
        ServerConfig::default(),
        // The agent's picture is fetched from the shop page's listener, on loopback.
        EngineConfig {
            media_fetch_allow_private: true,
            ..EngineConfig::default()
        },
    )
    .await;
    let s = &app.db.store;
    let now = SystemClock.now();
    let queue = s
        .create_queue(&build::queue_spec("Web support"), now)
        .await
        .unwrap();
    let channel = s.create_channel(&web_channel(queue.id), now).await.unwrap();
    let ada = app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Agent, 3, vec![queue.id]),
            PASSWORD,
        )
        .await;
    // Ten accepts in the last ten minutes make the queue's wait estimable (RT-10): 74 s on
    // average, which the visitor reads as "about 2 minutes".
    for waited_ms in [70_000; 9].into_iter().chain([110_000]) {
        s.commit_console(
            &ConsoleChange {
                accepts: vec![AcceptWrite {
                    queue_id: queue.id,
                    waited_ms,
                }],
                ..ConsoleChange::default()
            },
            now,
        )
        .await
        .unwrap();
    }

    // The pages load the widget through the relay, so the scenario can drop its connections.
    let (parley, control) = relay(&app.base).await;
    let shop = host_page(&parley, "shop").await;
    let refused = host_page(&parley, "shop").await;
    let members = host_page(&parley, "members").await;
    let night = host_page(&parley, "night").await;
    // The snippet names no language: the deployment's (French) applies to the widget's labels.
    let french = host_page_in(&parley, "boutique", "").await;
    let spec = |name: &str, origin: &str, prechat: Prechat, keyset_id| WebDeploymentSpec {
        name: name.into(),
        channel_id: channel.id,
        origins: vec![OriginPattern::parse(origin).unwrap()],
        language: "en".into(),
        branding: Branding {
            title: "Parley Demo Shop".into(),
            color: "#1f3b2d".into(),
            avatar_url: None,
            greeting: "Hi! Ask us anything about your order.".into(),
        },
        settings: WidgetSettings::default(),
        prechat,
        keyset_id,
    };
    let prechat = Prechat {
        enabled: true,
        fields: vec![
            field("first_name", "First name", PrechatKind::Text, true, false),
            field("email", "E-mail", PrechatKind::Email, true, false),
            field("plan", "Plan", PrechatKind::Text, false, false),
            field("cart_total", "", PrechatKind::Text, false, true),
        ],
    };
    s.create_web_deployment(&spec("shop", &shop, prechat, None), now)
        .await
        .unwrap();
    let keyset = s
        .create_keyset(
            &KeysetSpec {
                name: "Shop accounts".into(),
                issuer: ISSUER.into(),
                jwks_url: None,
            },
            now,
        )
        .await
        .unwrap();
    s.create_web_deployment(
        &spec("members", &members, Prechat::default(), Some(keyset.id)),
        now,
    )
    .await
    .unwrap();
    // A chat whose channel is closed at every hour, with its after-hours message.
    let closed = s
        .create_channel(
            &ChannelSpec {
                name: "Night chat".into(),
                address: "night-chat".into(),
                settings: json!({
                    "business_hours": {"utc_offset_minutes": 0, "intervals": []},
                    "auto_replies": {"after_hours": "We are closed; we answer from 9:00."}
                }),
                ..web_channel(queue.id)
            },
            now,
        )
        .await
        .unwrap();
    s.create_web_deployment(
        &WebDeploymentSpec {
            channel_id: closed.id,
            ..spec("night", &night, Prechat::default(), None)
        },
        now,
    )
    .await
    .unwrap();

    // A French deployment: the widget's own labels come in French, its branding as written.
    s.create_web_deployment(
        &WebDeploymentSpec {
            language: "fr".into(),
            branding: Branding {
                title: "La Boutique".into(),
                color: "#1f3b2d".into(),
                avatar_url: None,
                greeting: "Bonjour! Une question sur votre commande?".into(),
            },
            prechat: Prechat {
                enabled: true,
                fields: vec![field(
                    "first_name",
                    "Prénom",
                    PrechatKind::Text,
                    true,
                    false,
                )],
            },
            ..spec("boutique", &french, Prechat::default(), None)
        },
        now,
    )
    .await
    .unwrap();

    // The script itself: cacheable, typed, loadable from any page.
    let r = app
        .client
        .get(format!("{}/widget.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["access-control-allow-origin"], "*");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}/widget.js", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // A page whose origin is not on the allowlist is refused at the API too.
    let r = app
        .client
        .get(format!("{}/widget/v1/deployments/shop/config", app.base))
        .header("origin", &refused)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let shots = crate::browser::shots_dir("widget-shots", &backend);
    let profile = std::env::temp_dir().join(format!("parley-widget-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&profile).unwrap();
    let run = tokio::process::Command::new("node")
        .arg("widget.mjs")
        .arg(format!("--url={}", app.base))
        .arg(format!("--relay={control}"))
        .arg(format!("--shop={shop}"))
        .arg(format!("--refused={refused}"))
        .arg(format!("--members={members}"))
        .arg(format!("--night={night}"))
        .arg(format!("--french={french}"))
        .arg(format!("--agent={}:{PASSWORD}", ada.email))
        .arg(format!("--token={}", app.token))
        .arg(format!("--keyset={}", keyset.id))
        .arg(format!("--issuer={ISSUER}"))
        .arg(format!("--shots={}", shots.display()))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the widget scenario finishes within five minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "widget scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

parley_store::on_both_backends!(widget_in_a_real_browser);
