use parley_core::model::*;
use parley_core::{E164, Timestamp};
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn sms_channel(name: &str, address: &str, queue_id: Option<uuid::Uuid>) -> ChannelSpec {
    ChannelSpec {
        consent_level: ConsentLevel::Explicit,
        queue_id,
        ..build::twilio_sms(
            name,
            address,
            json!({"public_url": "https://example.test/webhooks/twilio/x"}),
            json!({"auth_token": "s3cret"}),
        )
    }
}

async fn channel_crud(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let q = s
        .create_queue(
            &QueueSpec {
                name: "Support".into(),
                routing_model: RoutingModel::RoundRobin,
                priority: 2,
                assignment: parley_core::model::QueueAssignment::Push,
            },
            T0,
        )
        .await
        .unwrap();
    let c = s
        .create_channel(&sms_channel("Main", "+14155552671", Some(q.id)), T0)
        .await
        .unwrap();
    assert_eq!(c.kind, ChannelKind::Sms);
    assert_eq!(c.number_type, Some(NumberType::LongCode));
    assert_eq!(c.queue_id, Some(q.id));
    assert_eq!(c.secrets["auth_token"], "s3cret");
    assert_eq!(c.created_at, T0);

    let mut spec = sms_channel("Main renamed", "+14155552671", None);
    spec.number_type = Some(NumberType::TollFree);
    let later = Timestamp(T0.0 + 5);
    let u = s.update_channel(c.id, &spec, later).await.unwrap();
    assert_eq!(u.name, "Main renamed");
    assert_eq!(u.number_type, Some(NumberType::TollFree));
    assert_eq!(u.queue_id, None);
    assert_eq!((u.created_at, u.updated_at), (T0, later));
    assert_eq!(
        s.channel_by_name("Main renamed").await.unwrap().unwrap().id,
        c.id
    );

    // Same kind and address twice is refused; so is an unknown queue.
    let dup = s
        .create_channel(&sms_channel("Other", "+14155552671", None), T0)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let bad_ref = s
        .create_channel(
            &sms_channel("Other", "+14155552672", Some(uuid::Uuid::now_v7())),
            T0,
        )
        .await;
    assert!(
        matches!(bad_ref, Err(StoreError::Invalid(_))),
        "{bad_ref:?}"
    );

    s.delete_channel(c.id).await.unwrap();
    assert!(matches!(
        s.channel(c.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_channel(c.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_channel(c.id, &spec, T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn pagination_walks_every_item_once(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    for i in 0..23 {
        s.create_skill(
            &SkillSpec {
                name: format!("skill-{i:02}"),
                description: String::new(),
            },
            T0,
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_skills(PageRequest::new(after, 5)).await.unwrap();
        assert!(page.items.len() <= 5);
        seen.extend(page.items.iter().map(|k| k.name.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let expected: Vec<String> = (0..23).map(|i| format!("skill-{i:02}")).collect();
    assert_eq!(seen, expected);
    // An exact multiple of the page size ends without an empty page.
    let page = s.list_skills(PageRequest::new(None, 23)).await.unwrap();
    assert_eq!((page.items.len(), page.next), (23, None));
}

async fn agents_keep_memberships(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let q1 = s
        .create_queue(
            &QueueSpec {
                name: "A".into(),
                routing_model: RoutingModel::MostAvailable,
                priority: 0,
                assignment: parley_core::model::QueueAssignment::Push,
            },
            T0,
        )
        .await
        .unwrap();
    let q2 = s
        .create_queue(
            &QueueSpec {
                name: "B".into(),
                routing_model: RoutingModel::LeastActive,
                priority: 0,
                assignment: parley_core::model::QueueAssignment::Push,
            },
            T0,
        )
        .await
        .unwrap();
    let sk = s
        .create_skill(
            &SkillSpec {
                name: "French".into(),
                description: "fr".into(),
            },
            T0,
        )
        .await
        .unwrap();
    let mut spec = AgentSpec {
        name: "Ada".into(),
        email: "ada@example.test".into(),
        role: AgentRole::Agent,
        capacity: 3,
        queue_ids: vec![q1.id, q2.id],
        skills: vec![AgentSkill {
            skill_id: sk.id,
            level: 7,
        }],
    };
    let a = s.create_agent(&spec, T0).await.unwrap();
    assert_eq!(a.presence, Presence::Offline);
    assert_eq!(a.queue_ids, vec![q1.id, q2.id]);
    assert_eq!(a.skills, spec.skills);

    spec.queue_ids = vec![q2.id];
    spec.skills.clear();
    let u = s.update_agent(a.id, &spec, T0).await.unwrap();
    assert_eq!(u.queue_ids, vec![q2.id]);
    assert!(u.skills.is_empty());
    assert_eq!(
        s.agent_by_email("ada@example.test")
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );

    // A failed update (unknown queue) changes nothing.
    spec.queue_ids = vec![uuid::Uuid::now_v7()];
    assert!(s.update_agent(a.id, &spec, T0).await.is_err());
    assert_eq!(s.agent(a.id).await.unwrap().queue_ids, vec![q2.id]);

    s.set_agent_password_hash(a.id, "$argon2id$...", T0)
        .await
        .unwrap();
    assert_eq!(
        s.agent(a.id).await.unwrap().password_hash.as_deref(),
        Some("$argon2id$...")
    );

    // Deleting a queue removes memberships, not the agent.
    s.delete_queue(q2.id).await.unwrap();
    assert!(s.agent(a.id).await.unwrap().queue_ids.is_empty());
    let page = s.list_agents(PageRequest::new(None, 10)).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn templates_and_keyword_sets_upsert(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let c = s
        .create_channel(&sms_channel("Main", "+14155552671", None), T0)
        .await
        .unwrap();
    let mut t = TemplateSpec {
        channel_id: c.id,
        name: "order_update".into(),
        language: "en".into(),
        category: TemplateCategory::Utility,
        status: TemplateStatus::Pending,
        body: "Hi {{ name }}".into(),
        components: json!([]),
    };
    let first = s.upsert_template(&t, T0).await.unwrap();
    t.status = TemplateStatus::Approved;
    let second = s.upsert_template(&t, T0).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.status, TemplateStatus::Approved);
    assert_eq!(s.list_templates(Some(c.id)).await.unwrap().len(), 1);

    let k = KeywordSetSpec {
        channel_id: c.id,
        language: "en".into(),
        config: json!({"opt_out": ["STOP"]}),
    };
    let k1 = s.upsert_keyword_set(&k, T0).await.unwrap();
    let k2 = s
        .upsert_keyword_set(
            &KeywordSetSpec {
                config: json!({"opt_out": ["STOP", "END"]}),
                ..k.clone()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(k1.id, k2.id);
    assert_eq!(k2.config["opt_out"][1], "END");
    s.upsert_keyword_set(
        &KeywordSetSpec {
            language: "fr".into(),
            ..k
        },
        T0,
    )
    .await
    .unwrap();
    assert_eq!(s.keyword_sets(c.id).await.unwrap().len(), 2);
    // Deleting the channel takes its templates and keyword sets with it.
    s.delete_channel(c.id).await.unwrap();
    assert!(s.all_keyword_sets().await.unwrap().is_empty());
    assert!(s.list_templates(None).await.unwrap().is_empty());
}

async fn contacts_match_by_phone_then_email(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let phone = E164::parse("+447400123456").unwrap();
    let by_email = s
        .create_contact(
            &ContactSpec {
                first_name: "E".into(),
                last_name: "Mail".into(),
                phone: None,
                email: Some("ann@example.test".into()),
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        s.find_contact(Some(&phone), Some("ANN@example.test"))
            .await
            .unwrap()
            .unwrap()
            .id,
        by_email.id
    );
    let by_phone = s
        .create_contact(
            &ContactSpec {
                first_name: "P".into(),
                last_name: "Hone".into(),
                phone: Some(phone.clone()),
                email: None,
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        s.find_contact(Some(&phone), Some("ann@example.test"))
            .await
            .unwrap()
            .unwrap()
            .id,
        by_phone.id
    );
    assert!(s.find_contact(None, None).await.unwrap().is_none());
    let case = s
        .create_case(by_phone.id, None, "HELP from campaign", T0)
        .await
        .unwrap();
    assert_eq!(case.status, CaseStatus::New);
    assert_eq!(case.number, Some(1001), "numbers start at 1001");
    // Concurrent creates never share a number, and numbers follow creation.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        let contact = by_phone.id;
        tasks.push(tokio::spawn(async move {
            s.create_case(contact, None, &format!("case {i}"), T0)
                .await
                .unwrap()
                .number
                .unwrap()
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1002..1022).collect::<Vec<i64>>());
    assert_eq!(s.cases_of_contact(by_phone.id).await.unwrap().len(), 21);
    // A contact with cases cannot be deleted out from under them.
    assert!(matches!(
        s.delete_contact(by_phone.id).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn api_tokens_by_hash(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let t = s
        .create_api_token("ci", TokenRole::Admin, "abc123", T0)
        .await
        .unwrap();
    assert_eq!(
        s.api_token_by_hash("abc123").await.unwrap().unwrap().id,
        t.id
    );
    assert!(s.api_token_by_hash("nope").await.unwrap().is_none());
    s.revoke_api_token(t.id, T0).await.unwrap();
    assert!(s.api_token_by_hash("abc123").await.unwrap().is_none());
}

async fn migrations_are_idempotent(b: TestBackend) {
    let db = fresh(b).await;
    db.store.migrate().await.unwrap();
    db.store.ping().await.unwrap();
}

parley_store::on_both_backends!(
    channel_crud,
    pagination_walks_every_item_once,
    agents_keep_memberships,
    templates_and_keyword_sets_upsert,
    contacts_match_by_phone_then_email,
    api_tokens_by_hash,
    migrations_are_idempotent,
);
