//! `parley keys` (issue 16, PRIV-08): a database written in the clear encrypted by
//! `keys encrypt`, a rotation by `keys rotate`, and every command refusing to start on encrypted
//! data without its key or with a wrong one, naming where the key goes.

use std::process::Stdio;

use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_store::{Keyring, Store, StoreOptions};
use parley_testkit::build;
use parley_testkit::db::fresh_url;

use crate::process::parley;

const CUSTOMER: &str = "+447400123456";
const TEXT: &str = "my address is 12 Quiet Lane";

/// `parley <args>` on `db` with `PARLEY_ENCRYPTION_KEY` set to `key` (or unset): (success,
/// stdout, stderr).
fn run_keyed(db: &str, key: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = parley(db, 0, args);
    cmd.env_remove("PARLEY_ENCRYPTION_KEY");
    if let Some(k) = key {
        cmd.env("PARLEY_ENCRYPTION_KEY", k);
    }
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn open(db: &str, key: Option<&str>) -> Store {
    let store = Store::connect(db, &StoreOptions::default()).await.unwrap();
    store.set_keyring(key.map(|k| Keyring::parse(k).unwrap()));
    store
}

async fn keys_encrypt_rotate_and_refusals(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    let (ok, _, err) = run_keyed(&db, None, &["migrate"]);
    assert!(ok, "{err}");

    // A workspace written in the clear.
    let plain = open(&db, None).await;
    let now = SystemClock.now();
    let mut spec = build::simulator_sms();
    spec.secrets = serde_json::json!({"auth_token": "chan-secret-5e4d3c"});
    let channel = plain.create_channel(&spec, now).await.unwrap();
    let user = plain
        .create_messaging_user(
            &build::new_user(channel.id, CUSTOMER, None),
            &build::origin(parley_core::model::ConsentSource::Api, "test"),
            now,
        )
        .await
        .unwrap();
    let session = plain
        .create_session(
            &build::new_session(
                channel.id,
                user.id,
                parley_core::model::SessionStatus::Active,
            ),
            now,
        )
        .await
        .unwrap();
    plain
        .append_entry(
            &build::new_entry(
                session.id,
                parley_core::model::Direction::Inbound,
                parley_core::model::Actor::Customer,
                TEXT,
                parley_core::model::EntryStatus::Received,
            ),
            now,
        )
        .await
        .unwrap();
    plain.close().await;

    let a = format!("a:{}", Keyring::generate_key());
    let (ok, out, err) = run_keyed(&db, Some(&a), &["keys", "encrypt", "--batch", "2"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("encrypt finished"), "{out}");
    assert!(err.contains("100%"), "progress is shown: {err}");

    // Everything reads back with the key, and by number.
    let sealed = open(&db, Some(&a)).await;
    let found = sealed
        .messaging_user_by_key(channel.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert_eq!(found.platform_key, CUSTOMER);
    assert_eq!(sealed.entry_body_for_test(session.id).await, TEXT);
    assert_eq!(
        sealed.channel(channel.id).await.unwrap().secrets["auth_token"],
        "chan-secret-5e4d3c"
    );
    sealed.close().await;

    // Refusals: no key, a different key under the same id, another id, a wrong key file.
    let (ok, _, err) = run_keyed(&db, None, &["migrate"]);
    assert!(!ok);
    assert!(
        err.contains("PARLEY_ENCRYPTION_KEY") && err.contains("--encryption-key-file"),
        "{err}"
    );
    let wrong = format!("a:{}", Keyring::generate_key());
    let (ok, _, err) = run_keyed(&db, Some(&wrong), &["migrate"]);
    assert!(!ok);
    assert!(err.contains("not the key"), "{err}");
    let (ok, _, err) = run_keyed(
        &db,
        Some(&format!("b:{}", Keyring::generate_key())),
        &["serve"],
    );
    assert!(!ok);
    assert!(err.contains("'a'"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("parley.key");
    std::fs::write(&file, &wrong).unwrap();
    let (ok, _, err) = run_keyed(
        &db,
        None,
        &["--encryption-key-file", file.to_str().unwrap(), "migrate"],
    );
    assert!(!ok);
    assert!(err.contains("not the key"), "{err}");
    std::fs::write(&file, &a).unwrap();
    let (ok, out, err) = run_keyed(
        &db,
        None,
        &[
            "--encryption-key-file",
            file.to_str().unwrap(),
            "keys",
            "status",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("encryption: on"), "{out}");

    // Rotation: the new key first, the old one after it until `rotate` is done.
    let c = format!("c:{}", Keyring::generate_key());
    let both = format!("{c},{a}");
    let (ok, out, err) = run_keyed(&db, Some(&both), &["keys", "rotate", "--batch", "3"]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run_keyed(&db, Some(&c), &["keys", "status"]);
    assert!(ok);
    assert!(out.contains("retired"), "{out}");
    let (ok, _, err) = run_keyed(&db, Some(&a), &["migrate"]);
    assert!(!ok, "the retired key alone no longer opens the data: {err}");
    let rotated = open(&db, Some(&c)).await;
    let found = rotated
        .messaging_user_by_key(channel.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert_eq!(rotated.entry_body_for_test(session.id).await, TEXT);
    rotated.close().await;
}

/// The first entry's body of a session, read through the store (so opened).
trait FirstBody {
    async fn entry_body_for_test(&self, session: uuid::Uuid) -> String;
}

impl FirstBody for Store {
    async fn entry_body_for_test(&self, session: uuid::Uuid) -> String {
        self.list_entries(session, parley_store::PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .first()
            .unwrap()
            .body
            .clone()
    }
}

parley_store::on_both_backends!(keys_encrypt_rotate_and_refusals);
