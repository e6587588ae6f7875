//! `parley twilio`: accounts and messaging services from the command line, on both databases,
//! through the same service functions as the admin API.

use parley_store::{Store, StoreOptions};
use parley_testkit::db::{TestBackend, fresh_url};

use crate::process::{apply, run};

const WORKSPACE: &str = r#"
channels:
  - name: Alerts US
    kind: sms
    provider: simulator
    address: "+14155550100"
    number_type: long_code
    country: US
    consent_level: implicit
  - name: Alerts UK
    kind: sms
    provider: simulator
    address: "+447400123400"
    number_type: long_code
    country: GB
    consent_level: implicit
"#;

async fn accounts_and_services_from_the_command_line(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    apply(&db, WORKSPACE);

    let (ok, out, err) = run(&db, &["twilio", "accounts", "create", "--name", "Shop"]);
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    let sid = field("account_sid");
    let token = field("auth_token");
    assert!(sid.starts_with("AC") && sid.len() == 34, "{out}");
    assert_eq!(token.len(), 32, "{out}");

    let (ok, list, err) = run(&db, &["twilio", "accounts", "list"]);
    assert!(ok, "{err}");
    assert!(
        list.contains(&sid) && list.contains("Shop") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&token), "{list}");

    let (ok, out, err) = run(
        &db,
        &[
            "twilio",
            "services",
            "create",
            "--account",
            &sid,
            "--name",
            "Alerts",
            "--channel",
            "Alerts UK",
            "Alerts US",
        ],
    );
    assert!(ok, "{err}");
    let mg = out.trim().to_owned();
    assert!(mg.starts_with("MG") && mg.len() == 34, "{out}");
    let (ok, services, err) = run(&db, &["twilio", "services", "list", "--account", &sid]);
    assert!(ok, "{err}");
    assert!(
        services.contains(&mg) && services.contains("Alerts UK, Alerts US"),
        "{services}"
    );

    // What the API would refuse, the command refuses: an unknown channel, an empty name.
    let (ok, _, err) = run(
        &db,
        &[
            "twilio",
            "services",
            "create",
            "--account",
            &sid,
            "--name",
            "X",
            "--channel",
            "Nope",
        ],
    );
    assert!(!ok && err.contains("Nope"), "{err}");
    let (ok, _, err) = run(&db, &["twilio", "accounts", "create", "--name", " "]);
    assert!(!ok && err.contains("name"), "{err}");

    let (ok, _, err) = run(&db, &["twilio", "accounts", "revoke", &sid]);
    assert!(ok, "{err}");
    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();
    let account = store.twilio_account(&sid).await.unwrap().unwrap();
    assert!(account.revoked_at.is_some());
    let service = store.twilio_messaging_service(&mg).await.unwrap().unwrap();
    assert_eq!(service.channel_ids.len(), 2);
    store.close().await;
    let (ok, _, _) = run(&db, &["twilio", "accounts", "revoke", &sid]);
    assert!(!ok, "revoking twice fails");
}

parley_store::on_both_backends!(accounts_and_services_from_the_command_line);
