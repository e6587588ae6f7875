use parley_core::model::*;
use parley_core::{Clock, ManualClock, Timestamp};
use parley_engine::import::{
    ImportError, ImportFile, ImportRecord, ImportReport, Progress, import_messaging_users,
};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{Channel, ChannelSpec, MessagingUser, NewMessagingUser, PageRequest, Store};
use parley_testkit::build;

const T0: Timestamp = Timestamp(1_700_000_000_000);

async fn channel(s: &Store, name: &str, kind: ChannelKind, address: &str) -> Channel {
    let (provider, number_type) = match kind {
        ChannelKind::Sms => (Provider::Simulator, Some(NumberType::TollFree)),
        _ => (Provider::Simulator, None),
    };
    let spec = ChannelSpec {
        name: name.into(),
        kind,
        provider,
        address: address.into(),
        number_type,
        consent_level: ConsentLevel::Explicit,
        ..build::simulator_sms()
    };
    build::channel(s, &spec, T0).await
}

async fn channels(s: &Store) -> (Channel, Channel) {
    (
        channel(s, "Main SMS", ChannelKind::Sms, "+14155550100").await,
        channel(s, "Chat", ChannelKind::Web, "site").await,
    )
}

/// A small CSV without quoting: one record per line, the header on line 1.
fn csv(text: &str) -> ImportFile {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let split = |l: &str| l.split(',').map(str::to_owned).collect::<Vec<_>>();
    let header = lines.next().map(|(_, l)| split(l)).unwrap();
    ImportFile {
        name: "users.csv".into(),
        header,
        records: lines
            .map(|(i, l)| ImportRecord::new(i as u64 + 1, split(l)))
            .collect(),
    }
}

async fn run(s: &Store, clock: &ManualClock, file: &ImportFile) -> ImportReport {
    import_messaging_users(s, clock, file, |_| {})
        .await
        .unwrap()
}

async fn user(s: &Store, c: &Channel, key: &str) -> MessagingUser {
    s.messaging_user_by_key(c.id, key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no messaging user {key}"))
}

const FILE: &str = "\
Channel,Platform_Key,Consent_Status,First_Name,Last_Name,Locale
Main SMS,+1 (415) 555-2671,ExplicitlyOptedIn,Ada,Lovelace,en
Main SMS,+447400123456,DoublyOptedIn,,,
Chat,visitor-42,ImplicitlyOptedIn,Grace,,fr-CA
";

async fn new_users_are_created_with_history(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, chat) = channels(s).await;
    let clock = ManualClock::new(T0);
    let report = run(s, &clock, &csv(FILE)).await;
    assert_eq!(
        report.summary(),
        "created 3, updated 0, unchanged 0, rejected 0"
    );

    let ada = user(s, &sms, "+14155552671").await;
    assert_eq!(ada.name, "Ada Lovelace");
    assert_eq!(ada.locale.as_deref(), Some("en"));
    assert_eq!(ada.consent_status, Some(ConsentStatus::ExplicitlyOptedIn));
    let history = s.consent_history(ada.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, ConsentStatus::ExplicitlyOptedIn);
    assert_eq!(history[0].source, ConsentSource::Import);
    assert_eq!(history[0].reason, "imported from users.csv");
    assert_eq!(history[0].at, T0);

    let uk = user(s, &sms, "+447400123456").await;
    assert_eq!(uk.name, "");
    assert_eq!(uk.locale, None);
    assert_eq!(uk.consent_status, Some(ConsentStatus::DoublyOptedIn));
    let grace = user(s, &chat, "visitor-42").await;
    assert_eq!(grace.name, "Grace");
    assert_eq!(grace.locale.as_deref(), Some("fr-CA"));
    assert_eq!(s.consent_history(grace.id).await.unwrap().len(), 1);

    // Found by name and number at once, as people who wrote in are.
    let key = s.search_key().await.unwrap();
    for (word, who) in [
        ("lovelace", ada.id),
        ("ada", ada.id),
        ("2671", ada.id),
        ("447400123456", uk.id),
        ("grace", grace.id),
    ] {
        let found = s.search_term_people(&key.hash(word), 10).await.unwrap();
        assert_eq!(found, vec![who], "{word}");
    }
}

async fn the_same_file_twice_changes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, _) = channels(s).await;
    let clock = ManualClock::new(T0);
    run(s, &clock, &csv(FILE)).await;
    let before = user(s, &sms, "+14155552671").await;
    clock.advance(std::time::Duration::from_secs(60));

    let second = run(s, &clock, &csv(FILE)).await;
    assert_eq!(
        second.summary(),
        "created 0, updated 0, unchanged 3, rejected 0"
    );
    let after = user(s, &sms, "+14155552671").await;
    assert_eq!(after.updated_at, before.updated_at, "not even touched");
    assert_eq!(s.consent_history(after.id).await.unwrap().len(), 1);
}

async fn a_changed_consent_is_updated_with_history(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, chat) = channels(s).await;
    // Someone who messaged first: known, never consented, no name.
    let texter = s
        .create_messaging_user(
            &NewMessagingUser {
                locale: Some("en".into()),
                ..build::new_user(sms.id, "+447400123456", None)
            },
            &build::origin(ConsentSource::Inbound, "first message"),
            T0,
        )
        .await
        .unwrap();
    let clock = ManualClock::new(T0);
    let first = run(s, &clock, &csv(FILE)).await;
    assert_eq!(
        first.summary(),
        "created 2, updated 1, unchanged 0, rejected 0"
    );
    let history = s.consent_history(texter.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, ConsentStatus::DoublyOptedIn);
    let texter = s.messaging_user(texter.id).await.unwrap();
    assert_eq!(
        texter.locale.as_deref(),
        Some("en"),
        "an empty locale keeps the stored one"
    );

    clock.advance(std::time::Duration::from_secs(60));
    let changed = csv("\
channel,platform_key,consent_status,first_name,last_name,locale
Main SMS,+14155552671,OptedOut,,,
Main SMS,+447400123456,DoublyOptedIn,Tom,Texter,
Chat,visitor-42,ImplicitlyOptedIn,Grace,,fr-CA
");
    let report = run(s, &clock, &changed).await;
    assert_eq!(
        report.summary(),
        "created 0, updated 2, unchanged 1, rejected 0"
    );

    let ada = user(s, &sms, "+14155552671").await;
    assert_eq!(ada.consent_status, Some(ConsentStatus::OptedOut));
    assert_eq!(
        ada.name, "Ada Lovelace",
        "no name in the file keeps the name"
    );
    assert_eq!(ada.updated_at, clock.now());
    let history = s.consent_history(ada.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1].from_status,
        Some(ConsentStatus::ExplicitlyOptedIn)
    );
    assert_eq!(history[1].to_status, ConsentStatus::OptedOut);
    assert_eq!(history[1].source, ConsentSource::Import);

    let tom = s.messaging_user(texter.id).await.unwrap();
    assert_eq!(tom.name, "Tom Texter");
    assert_eq!(
        s.consent_history(tom.id).await.unwrap().len(),
        1,
        "a new name is no consent change"
    );
    assert_eq!(
        user(s, &chat, "visitor-42").await.updated_at,
        T0,
        "unchanged rows are not written"
    );
}

async fn bad_rows_are_reported_by_line_and_good_rows_land(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, chat) = channels(s).await;
    let clock = ManualClock::new(T0);
    let file = csv(&format!(
        "\
channel,platform_key,consent_status,locale
Main SMS,+14155552671,ExplicitlyOptedIn,en
Nowhere,+14155552672,ExplicitlyOptedIn,en
Main SMS,555-2671,ExplicitlyOptedIn,en
Main SMS,+14155552673,Yes please,en
Main SMS,+14155552674

{id},visitor-7,OptedOut,en
Chat,,ExplicitlyOptedIn,en
Main SMS,+14155552675,ExplicitlyOptedIn,not a locale
",
        id = chat.id
    ));
    let report = run(s, &clock, &file).await;
    assert_eq!(
        report.summary(),
        "created 2, updated 0, unchanged 0, rejected 6"
    );
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 9, 10]);
    let reason = |line: u64| {
        report
            .rejected
            .iter()
            .find(|r| r.line == line)
            .map(|r| r.reason.clone())
            .unwrap()
    };
    assert!(
        reason(3).contains("unknown channel 'Nowhere'"),
        "{}",
        reason(3)
    );
    assert!(reason(4).contains("platform_key"), "{}", reason(4));
    assert!(reason(5).contains("consent_status"), "{}", reason(5));
    assert!(
        reason(5).contains("DoublyOptedIn"),
        "names the choices: {}",
        reason(5)
    );
    assert!(
        reason(6).contains("missing consent_status"),
        "{}",
        reason(6)
    );
    assert!(reason(9).contains("missing platform_key"), "{}", reason(9));
    assert!(reason(10).contains("locale"), "{}", reason(10));
    assert_eq!(
        report.rejected[0].fields,
        ["Nowhere", "+14155552672", "ExplicitlyOptedIn", "en"],
        "the row as read, for the error file"
    );

    user(s, &sms, "+14155552671").await;
    let by_id = user(s, &chat, "visitor-7").await;
    assert_eq!(by_id.consent_status, Some(ConsentStatus::OptedOut));
    for key in ["+14155552673", "+14155552674", "+14155552675"] {
        assert!(
            s.messaging_user_by_key(sms.id, key)
                .await
                .unwrap()
                .is_none()
        );
    }

    // A required column missing from the header: nothing can be read, nothing is written.
    let err = import_messaging_users(
        s,
        &clock,
        &csv("channel,phone,consent_status\nMain SMS,+14155552676,OptedOut\n"),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImportError::Header(_)), "{err:?}");
    assert!(err.to_string().contains("platform_key"), "{err}");
}

async fn a_key_twice_in_the_file_is_rejected_on_every_line(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, _) = channels(s).await;
    let clock = ManualClock::new(T0);
    let file = csv("\
channel,platform_key,consent_status
Main SMS,+1 415 555 2671,ExplicitlyOptedIn
Main SMS,+14155552672,ExplicitlyOptedIn
Main SMS,+1-415-555-2671,OptedOut
");
    let report = run(s, &clock, &file).await;
    assert_eq!(
        report.summary(),
        "created 1, updated 0, unchanged 0, rejected 2"
    );
    assert_eq!(report.rejected[0].line, 2);
    assert_eq!(report.rejected[1].line, 4);
    for r in &report.rejected {
        assert!(r.reason.contains("duplicate"), "{}", r.reason);
        assert!(r.reason.contains("2, 4"), "names both lines: {}", r.reason);
    }
    assert!(
        s.messaging_user_by_key(sms.id, "+14155552671")
            .await
            .unwrap()
            .is_none()
    );
    user(s, &sms, "+14155552672").await;
}

async fn five_thousand_rows_import(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (sms, _) = channels(s).await;
    let clock = ManualClock::new(T0);
    let mut text = String::from("channel,platform_key,consent_status,first_name,last_name\n");
    for i in 0..5_000 {
        text.push_str(&format!(
            "Main SMS,+1 415 555 {:04},ExplicitlyOptedIn,First{i},Last{i}\n",
            i
        ));
    }
    let file = csv(&text);
    let mut seen = Vec::new();
    let report = import_messaging_users(s, &clock, &file, |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(
        report.summary(),
        "created 5000, updated 0, unchanged 0, rejected 0"
    );
    assert_eq!(
        seen.first(),
        Some(&Progress {
            done: 0,
            total: 5_000
        })
    );
    assert_eq!(
        seen.last(),
        Some(&Progress {
            done: 5_000,
            total: 5_000
        })
    );
    assert_eq!(seen.len(), 6, "after each batch of 1,000: {seen:?}");

    let mut count = 0;
    let mut after = None;
    loop {
        let page = s
            .list_messaging_users(
                parley_store::MessagingUserFilter {
                    channel_id: Some(sms.id),
                    contact_id: None,
                },
                PageRequest::new(after, PageRequest::MAX_LIMIT),
            )
            .await
            .unwrap();
        count += page.items.len();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(count, 5_000);
    let last = user(s, &sms, "+14155554999").await;
    assert_eq!(last.name, "First4999 Last4999");
    assert_eq!(s.consent_history(last.id).await.unwrap().len(), 1);

    let again = run(s, &clock, &file).await;
    assert_eq!(
        again.summary(),
        "created 0, updated 0, unchanged 5000, rejected 0"
    );
}

parley_store::on_both_backends!(
    new_users_are_created_with_history,
    the_same_file_twice_changes_nothing,
    a_changed_consent_is_updated_with_history,
    bad_rows_are_reported_by_line_and_good_rows_land,
    a_key_twice_in_the_file_is_rejected_on_every_line,
    five_thousand_rows_import,
);
