//! Web deployments and keysets: stored as given, names unique, channel and keyset kept from
//! under a deployment.

use parley_core::Timestamp;
use parley_core::model::*;
use parley_core::web::*;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use serde_json::json;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn web_channel(name: &str, address: &str) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: ChannelKind::Web,
        provider: Provider::Web,
        address: address.into(),
        number_type: None,
        provider_keyword: None,
        country: None,
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings: json!({}),
        secrets: json!({}),
    }
}

fn spec(name: &str, channel_id: uuid::Uuid) -> WebDeploymentSpec {
    WebDeploymentSpec {
        name: name.into(),
        channel_id,
        origins: vec![
            OriginPattern::parse("https://*.example.com").unwrap(),
            OriginPattern::parse("http://localhost:3001").unwrap(),
        ],
        language: "en".into(),
        branding: Branding {
            title: "Demo Shop".into(),
            color: "#112233".into(),
            avatar_url: Some("https://example.com/a.png".into()),
            greeting: "Hi!".into(),
        },
        settings: WidgetSettings::default(),
        prechat: Prechat {
            enabled: true,
            fields: vec![PrechatField {
                name: "cart_total".into(),
                label: String::new(),
                kind: PrechatKind::Text,
                required: false,
                hidden: true,
            }],
        },
        keyset_id: None,
    }
}

async fn deployment_crud(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let ch = s
        .create_channel(&web_channel("Shop chat", "shop"), T0)
        .await
        .unwrap();
    let d = s
        .create_web_deployment(&spec("shop", ch.id), T0)
        .await
        .unwrap();
    assert_eq!(d.spec(), spec("shop", ch.id));
    assert_eq!((d.created_at, d.updated_at), (T0, T0));
    assert_eq!(s.web_deployment_by_name("shop").await.unwrap().unwrap(), d);
    assert!(s.web_deployment_by_name("nope").await.unwrap().is_none());

    let dup = s
        .create_web_deployment(&spec("shop", ch.id), T0)
        .await
        .unwrap_err();
    assert!(
        dup.to_string().contains("web deployment with this name"),
        "{dup}"
    );
    let bad = s
        .create_web_deployment(&spec("other", uuid::Uuid::now_v7()), T0)
        .await
        .unwrap_err();
    assert!(matches!(bad, StoreError::Invalid(_)), "{bad}");

    let ks = s
        .create_keyset(
            &KeysetSpec {
                name: "Shop keys".into(),
                issuer: "https://shop.example.com".into(),
                jwks_url: None,
            },
            T0,
        )
        .await
        .unwrap();
    let mut changed = spec("shop-2", ch.id);
    changed.language = "fr".into();
    changed.keyset_id = Some(ks.id);
    changed.prechat.enabled = false;
    let later = Timestamp(T0.0 + 7);
    let u = s
        .update_web_deployment(d.id, &changed, later)
        .await
        .unwrap();
    assert_eq!(u.spec(), changed);
    assert_eq!((u.created_at, u.updated_at), (T0, later));
    assert_eq!(s.web_deployments().await.unwrap(), vec![u.clone()]);
    assert_eq!(s.web_deployments_of_channel(ch.id).await.unwrap().len(), 1);

    // A keyset or channel in use stays.
    assert!(s.delete_keyset(ks.id).await.is_err());
    assert!(s.delete_channel(ch.id).await.is_err());
    s.delete_web_deployment(d.id).await.unwrap();
    assert!(matches!(
        s.delete_web_deployment(d.id).await,
        Err(StoreError::NotFound { .. })
    ));
    s.delete_keyset(ks.id).await.unwrap();
    s.delete_channel(ch.id).await.unwrap();
}

async fn keysets_and_keys(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let ks = s
        .create_keyset(
            &KeysetSpec {
                name: "Shop".into(),
                issuer: "iss".into(),
                jwks_url: Some("https://idp.example.com/jwks".into()),
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(s.keyset_by_name("Shop").await.unwrap().unwrap(), ks);
    let dup = s
        .create_keyset(
            &KeysetSpec {
                name: "Shop".into(),
                issuer: "x".into(),
                jwks_url: None,
            },
            T0,
        )
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("keyset with this name"), "{dup}");

    let ec = json!({"kty": "EC", "kid": "e1", "alg": "ES256", "crv": "P-256",
        "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
        "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"});
    let key = check_jwk(&ec).unwrap();
    s.create_keyset_key(ks.id, &key, T0).await.unwrap();
    let dup = s.create_keyset_key(ks.id, &key, T0).await.unwrap_err();
    assert!(dup.to_string().contains("kid"), "{dup}");
    let keys = s.keyset_keys(ks.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].kid.as_str(), keys[0].alg), ("e1", JwkAlg::Es256));
    assert_eq!(keys[0].jwk, ec);

    assert_eq!(s.keyset_jwks_cache(ks.id).await.unwrap(), None);
    let jwks = json!({"keys": [ec]});
    s.set_keyset_jwks_cache(ks.id, "https://idp.example.com/jwks", &jwks, T0)
        .await
        .unwrap();
    // An answer of a URL the keyset no longer has is not kept.
    s.set_keyset_jwks_cache(ks.id, "https://old.example.com/jwks", &json!({}), T0)
        .await
        .unwrap();
    let cached = s.keyset_jwks_cache(ks.id).await.unwrap().unwrap();
    assert_eq!((cached.jwks, cached.fetched_at), (jwks, T0));
    // Same URL keeps the cache; a new one drops it.
    let mut spec = KeysetSpec {
        name: "Shop".into(),
        issuer: "iss2".into(),
        jwks_url: Some("https://idp.example.com/jwks".into()),
    };
    s.update_keyset(ks.id, &spec, T0).await.unwrap();
    assert!(s.keyset_jwks_cache(ks.id).await.unwrap().is_some());
    spec.jwks_url = None;
    let u = s.update_keyset(ks.id, &spec, T0).await.unwrap();
    assert_eq!((u.issuer.as_str(), u.jwks_url), ("iss2", None));
    assert!(s.keyset_jwks_cache(ks.id).await.unwrap().is_none());

    s.delete_keyset_key(ks.id, "e1").await.unwrap();
    assert!(matches!(
        s.delete_keyset_key(ks.id, "e1").await,
        Err(StoreError::NotFound { .. })
    ));
    s.create_keyset_key(ks.id, &key, T0).await.unwrap();
    s.delete_keyset(ks.id).await.unwrap();
    assert_eq!(s.keysets().await.unwrap(), vec![]);
}

parley_store::on_both_backends!(deployment_crud, keysets_and_keys);
