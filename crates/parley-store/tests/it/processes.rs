use parley_core::Timestamp;
use parley_core::keyword_process::{InboundNumber, ProcessStatus, ProcessType};
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn spec(kind: ProcessType, number: &str, provider_keyword: Option<&str>) -> SmsProcessSpec {
    SmsProcessSpec {
        name: format!("{kind} {number}"),
        kind,
        status: ProcessStatus::New,
        inbound: InboundNumber::new(number, provider_keyword),
        custom_keywords: Vec::new(),
        message: None,
    }
}

async fn process_crud(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut help = spec(ProcessType::Help, "11221", Some("kids"));
    help.custom_keywords = vec!["Hilfe".into(), "AIDE".into(), "ARRÊT".into()];
    help.message = Some("Kids Club: help at kids.example".into());
    let created = s.create_sms_process(&help, T0).await.unwrap();
    assert_eq!(SmsProcessSpec::of(&created.process), help);
    assert_eq!((created.created_at, created.updated_at), (T0, T0));
    assert_eq!(s.sms_process(created.process.id).await.unwrap(), created);

    // Nulls round-trip as nulls, an empty keyword list as an empty list.
    let stop = s
        .create_sms_process(&spec(ProcessType::Unsubscribe, "+4915112348765", None), T0)
        .await
        .unwrap();
    assert_eq!(stop.process.inbound.provider_keyword, None);
    assert_eq!(stop.process.message, None);
    assert!(stop.process.custom_keywords.is_empty());

    let later = Timestamp(T0.0 + 5);
    let mut edit = help.clone();
    edit.name = "Kids help".into();
    edit.custom_keywords = vec!["Hilfe".into()];
    edit.message = None;
    edit.status = ProcessStatus::Started;
    let updated = s
        .update_sms_process(created.process.id, &edit, later)
        .await
        .unwrap();
    assert_eq!(SmsProcessSpec::of(&updated.process), edit);
    assert_eq!((updated.created_at, updated.updated_at), (T0, later));

    let even_later = Timestamp(T0.0 + 9);
    let paused = s
        .set_sms_process_status(created.process.id, ProcessStatus::Paused, even_later)
        .await
        .unwrap();
    assert_eq!(paused.process.status, ProcessStatus::Paused);
    assert_eq!(paused.process.name, "Kids help", "only the status changes");
    assert_eq!(paused.updated_at, even_later);

    // Lists: all in creation order, or those of one number.
    let all = s.sms_processes(None).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.process.id).collect::<Vec<_>>(),
        vec![created.process.id, stop.process.id]
    );
    let on_short_code = s.sms_processes(Some("11221")).await.unwrap();
    assert_eq!(on_short_code.len(), 1);
    assert_eq!(on_short_code[0].process.id, created.process.id);
    assert!(s.sms_processes(Some("99999")).await.unwrap().is_empty());

    let first = s
        .list_sms_processes(None, PageRequest::new(None, 1))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let next = first.next.expect("a second page");
    let second = s
        .list_sms_processes(None, PageRequest::new(Some(next), 1))
        .await
        .unwrap();
    assert_eq!(second.items[0].process.id, stop.process.id);
    assert_eq!(second.next, None);
    let by_number = s
        .list_sms_processes(Some("+4915112348765"), PageRequest::new(None, 10))
        .await
        .unwrap();
    assert_eq!(by_number.items.len(), 1);
    assert_eq!(by_number.items[0].process.id, stop.process.id);

    s.delete_sms_process(created.process.id).await.unwrap();
    assert!(matches!(
        s.sms_process(created.process.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.sms_processes(None).await.unwrap().len(), 1);
}

async fn missing_processes_are_not_found(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let id = parley_core::new_id();
    let p = spec(ProcessType::Unsubscribe, "11221", None);
    assert!(matches!(
        s.update_sms_process(id, &p, T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.set_sms_process_status(id, ProcessStatus::Started, T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_sms_process(id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// KP-07: one process of each type per inbound number and provider keyword, enforced by the
/// database as well as by validation, with "no provider keyword" a value of its own.
async fn one_process_of_each_kind_per_number_and_keyword(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    for (number, keyword) in [("11221", Some("kids")), ("11221", None)] {
        s.create_sms_process(&spec(ProcessType::Unsubscribe, number, keyword), T0)
            .await
            .unwrap();
        let dup = s
            .create_sms_process(&spec(ProcessType::Unsubscribe, number, keyword), T0)
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    }
    // The other type, and another provider keyword on the same number, are free.
    let mut help = spec(ProcessType::Help, "11221", Some("kids"));
    help.message = Some("Help".into());
    s.create_sms_process(&help, T0).await.unwrap();
    let shoes = s
        .create_sms_process(&spec(ProcessType::Unsubscribe, "11221", Some("shoes")), T0)
        .await
        .unwrap();
    // Moving a process onto a taken assignment is refused too, and changes nothing.
    let onto_kids = s
        .update_sms_process(
            shoes.process.id,
            &spec(ProcessType::Unsubscribe, "11221", Some("kids")),
            T0,
        )
        .await;
    assert!(
        matches!(onto_kids, Err(StoreError::Conflict(_))),
        "{onto_kids:?}"
    );
    assert_eq!(
        s.sms_process(shoes.process.id)
            .await
            .unwrap()
            .process
            .inbound
            .provider_keyword
            .as_deref(),
        Some("shoes")
    );
    assert_eq!(s.sms_processes(Some("11221")).await.unwrap().len(), 4);
}

parley_store::on_both_backends!(
    process_crud,
    missing_processes_are_not_found,
    one_process_of_each_kind_per_number_and_keyword,
);
