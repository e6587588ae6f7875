//! Campaigns in the store (issue 11): segments, lists, audiences read page by page, expansion
//! batches written whole (and recipients skipped whole), pause and cancel through the jobs'
//! group, the funnel, short links and reply attribution. Every case runs on both databases.

use std::collections::BTreeMap;
use std::time::Duration;

use parley_core::campaign::audience::{Condition, SegmentFilter, TextOp};
use parley_core::campaign::results::Counts;
use parley_core::campaign::{
    Audience, CampaignKind, CampaignSpec, CampaignState, Content, Footer, MissingValues, Schedule,
};
use parley_core::model::*;
use parley_core::{Timestamp, new_id};
use parley_store::testing::{TestBackend, campaign_statements, fresh, query_plans};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;
use uuid::Uuid;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn later(ms: i64) -> Timestamp {
    Timestamp(T0.0 + ms)
}

fn spec(name: &str, senders: Vec<Uuid>) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        kind: CampaignKind::Marketing,
        senders,
        audience: Audience::Segment {
            segment_id: new_id(),
        },
        content: Content {
            text: Some("Hi {{ contact.first_name }}".into()),
            template: None,
            missing: MissingValues::Fallback,
            fallbacks: BTreeMap::new(),
        },
        footer: Footer::default(),
        schedule: Schedule::default(),
        reply_flow: None,
    }
}

async fn channel(s: &Store, address: &str) -> Channel {
    s.create_channel(
        &ChannelSpec {
            name: format!("sms {address}"),
            address: address.into(),
            ..build::simulator_sms()
        },
        T0,
    )
    .await
    .unwrap()
}

async fn user(s: &Store, channel: Uuid, key: &str) -> MessagingUser {
    build::user(
        s,
        &build::new_user(channel, key, Some(ConsentStatus::ExplicitlyOptedIn)),
        &build::origin(ConsentSource::Import, "test"),
        T0,
    )
    .await
}

/// One recipient as the expansion writes them: a new ended marketing session, a queued entry,
/// its send job in the campaign's group, and the recipient row.
struct Recipient {
    session: Session,
    entry: Entry,
    job: NewJob,
    message: CampaignMessage,
}

fn recipient(campaign: Uuid, u: &MessagingUser, code: Option<&str>, now: Timestamp) -> Recipient {
    recipient_of(campaign, (u.id, u.channel_id, &u.platform_key), code, now)
}

fn recipient_of(
    campaign: Uuid,
    (user_id, channel_id, key): (Uuid, Uuid, &str),
    code: Option<&str>,
    now: Timestamp,
) -> Recipient {
    let session = Session {
        id: new_id(),
        conversation_id: new_id(),
        channel_id,
        messaging_user_id: user_id,
        status: SessionStatus::Ended,
        context: SessionContext::Marketing,
        owner_kind: None,
        owner_id: None,
        queue_id: None,
        case_id: None,
        error_reason: None,
        agent_messages: 0,
        customer_messages: 0,
        started_at: now,
        accepted_at: None,
        ended_at: Some(now),
        last_customer_at: None,
        last_agent_at: None,
        initiated_by: Actor::System,
        status_since: now,
        pending_inquiry: false,
        session_opt_in: false,
        end_reason: Some("campaign".into()),
        ended_by: Some(Actor::System),
        updated_at: now,
    };
    let entry = Entry {
        id: new_id(),
        session_id: session.id,
        direction: Direction::Outbound,
        actor: Actor::System,
        actor_id: None,
        body: format!("Hello {key}, our spring sale starts today: https://example.com/s/abc"),
        media: vec![],
        provider_message_id: None,
        status: EntryStatus::Queued,
        error_code: None,
        provider_error: None,
        created_at: now,
        updated_at: now,
        template: None,
        component: None,
    };
    let mut job = NewJob::new(
        "outbound",
        "outbound_send",
        json!({"entry_id": entry.id}).to_string(),
        now,
    );
    job.dedupe_key = Some(format!("send:{}", entry.id));
    job.group_key = Some(campaign_group(campaign));
    let message = CampaignMessage {
        entry_id: entry.id,
        messaging_user_id: user_id,
        channel_id,
        address: key.to_owned(),
        code: code.map(str::to_owned),
    };
    Recipient {
        session,
        entry,
        job,
        message,
    }
}

fn batch(campaign: Uuid, recipients: &[Recipient], audience: u64) -> CampaignBatch {
    CampaignBatch {
        campaign_id: campaign,
        sessions: recipients.iter().map(|r| r.session.clone()).collect(),
        entries: recipients.iter().map(|r| r.entry.clone()).collect(),
        jobs: recipients.iter().map(|r| r.job.clone()).collect(),
        messages: recipients.iter().map(|r| r.message.clone()).collect(),
        cursor: recipients.last().map(|r| r.message.messaging_user_id),
        expansion: Counts {
            audience,
            excluded: BTreeMap::from([("opted_out".to_owned(), 1)]),
            ..Counts::default()
        },
        expanded: false,
    }
}

async fn sending_campaign(s: &Store, senders: Vec<Uuid>) -> StoredCampaign {
    let c = s
        .create_campaign(&spec("Spring sale", senders), Some("ada@example.com"), T0)
        .await
        .unwrap();
    s.set_campaign_state(
        c.id,
        &[CampaignState::Draft],
        CampaignState::Sending,
        Some(&["https://example.com/sale".to_owned()]),
        None,
        T0,
    )
    .await
    .unwrap()
}

fn claim(limit: u32, now: Timestamp) -> ClaimRequest<'static> {
    ClaimRequest {
        queue: "outbound",
        worker: "w",
        limit,
        lease: Duration::from_secs(30),
        now,
    }
}

async fn segments_are_named_filters(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let filter = SegmentFilter {
        all: vec![Condition::Contact {
            name: parley_core::campaign::audience::ContactField::FirstName,
            op: TextOp::IsSet,
            value: String::new(),
        }],
    };
    let seg = s
        .create_segment(
            &SegmentSpec {
                name: "Named".into(),
                description: "has a first name".into(),
                filter: filter.clone(),
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(s.segment(seg.id).await.unwrap(), seg);
    assert_eq!(seg.filter, filter);
    let dup = s
        .create_segment(
            &SegmentSpec {
                name: "Named".into(),
                description: String::new(),
                filter: SegmentFilter::default(),
            },
            T0,
        )
        .await;
    match dup {
        Err(StoreError::Conflict(m)) => assert!(m.contains("segment"), "{m}"),
        other => panic!("a second segment of the same name: {other:?}"),
    }
    let updated = s
        .update_segment(
            seg.id,
            &SegmentSpec {
                name: "Everyone".into(),
                description: String::new(),
                filter: SegmentFilter::default(),
            },
            later(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.updated_at,
            updated.created_at
        ),
        ("Everyone", later(5), T0)
    );
    assert_eq!(s.segments().await.unwrap(), vec![updated]);
    s.delete_segment(seg.id).await.unwrap();
    assert!(matches!(
        s.segment(seg.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_segment(
            seg.id,
            &SegmentSpec {
                name: "x".into(),
                description: String::new(),
                filter: SegmentFilter::default()
            },
            T0
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn lists_count_their_members(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let list = s.create_list("VIP", "our best", T0).await.unwrap();
    assert!(matches!(
        s.create_list("VIP", "", T0).await,
        Err(StoreError::Conflict(_))
    ));
    let contact = new_id();
    let phone = |p: &str| ListMember {
        id: new_id(),
        phone: Some(p.into()),
        contact_id: None,
    };
    let members = vec![
        phone("+447400123456"),
        phone("+447400123457"),
        // Twice in one call: added once.
        phone("+447400123456"),
        ListMember {
            id: new_id(),
            phone: None,
            contact_id: Some(contact),
        },
    ];
    assert_eq!(s.add_list_members(list.id, &members, T0).await.unwrap(), 3);
    // Again: all on the list already.
    let again = vec![
        phone("+447400123457"),
        ListMember {
            id: new_id(),
            phone: None,
            contact_id: Some(contact),
        },
    ];
    assert_eq!(s.add_list_members(list.id, &again, T0).await.unwrap(), 0);
    assert_eq!(s.audience_list(list.id).await.unwrap().members, 3);

    // Many at once: more rows than one statement carries.
    let many: Vec<ListMember> = (0..2500)
        .map(|i| phone(&format!("+1202555{i:04}")))
        .collect();
    assert_eq!(s.add_list_members(list.id, &many, T0).await.unwrap(), 2500);
    assert_eq!(s.audience_list(list.id).await.unwrap().members, 2503);

    let first = s.list_members(list.id, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = s
        .list_members(list.id, Some(first[1].id), 10_000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2501);
    assert!(first[1].id < rest[0].id, "pages follow the member id");
    let gone: Vec<Uuid> = first.iter().map(|m| m.id).chain([new_id()]).collect();
    assert_eq!(
        s.remove_list_members(list.id, &gone, later(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.audience_list(list.id).await.unwrap().members, 2501);
    assert!(matches!(
        s.add_list_members(new_id(), &[phone("+447400123456")], T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.audience_lists().await.unwrap().len(), 1);
    s.delete_list(list.id).await.unwrap();
    assert!(s.audience_lists().await.unwrap().is_empty());
}

async fn campaign_states_change_by_compare_and_set(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    let wa = new_id();
    let mut draft_spec = spec("Spring", vec![sms.id]);
    draft_spec.footer.whatsapp_channel_id = Some(wa);
    let c = s.create_campaign(&draft_spec, None, T0).await.unwrap();
    assert_eq!(
        (c.state, c.kind(), c.expanded, c.expand_cursor),
        (CampaignState::Draft, CampaignKind::Marketing, false, None)
    );
    assert_eq!(c.expansion, Counts::default());
    assert_eq!(s.campaign(c.id).await.unwrap(), c);

    draft_spec.name = "Spring sale".into();
    let c = s
        .update_campaign(c.id, &draft_spec, later(1))
        .await
        .unwrap();
    assert_eq!(c.spec, draft_spec);

    let at = later(60_000);
    let scheduled = s
        .set_campaign_state(
            c.id,
            &[CampaignState::Draft],
            CampaignState::Scheduled,
            None,
            Some(at),
            later(2),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            scheduled.state,
            scheduled.scheduled_at,
            scheduled.started_at
        ),
        (CampaignState::Scheduled, Some(at), None)
    );
    assert!(s.campaigns_due(later(59_999)).await.unwrap().is_empty());
    assert_eq!(s.campaigns_due(at).await.unwrap(), vec![c.id]);
    // Only a draft is edited or deleted.
    match s.update_campaign(c.id, &draft_spec, later(3)).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("scheduled"), "{m}"),
        other => panic!("edited a scheduled campaign: {other:?}"),
    }
    assert!(matches!(
        s.delete_campaign(c.id).await,
        Err(StoreError::Conflict(_))
    ));

    let links = vec!["https://example.com/a".to_owned()];
    let sending = s
        .set_campaign_state(
            c.id,
            &[CampaignState::Draft, CampaignState::Scheduled],
            CampaignState::Sending,
            Some(&links),
            None,
            later(4),
        )
        .await
        .unwrap();
    assert_eq!(
        (sending.state, sending.started_at, &sending.links),
        (CampaignState::Sending, Some(later(4)), &links)
    );
    // A second start is refused, naming where the campaign is.
    match s
        .set_campaign_state(
            c.id,
            &[CampaignState::Draft],
            CampaignState::Sending,
            None,
            None,
            later(5),
        )
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("sending"), "{m}"),
        other => panic!("started twice: {other:?}"),
    }
    let paused = s
        .set_campaign_state(
            c.id,
            &[CampaignState::Sending],
            CampaignState::Paused,
            None,
            None,
            later(6),
        )
        .await
        .unwrap();
    let resumed = s
        .set_campaign_state(
            c.id,
            &[CampaignState::Paused],
            CampaignState::Sending,
            None,
            None,
            later(7),
        )
        .await
        .unwrap();
    assert_eq!(paused.state, CampaignState::Paused);
    assert_eq!(resumed.started_at, Some(later(4)), "the first start stays");
    assert_eq!(resumed.links, links, "links stay when not given");
    assert_eq!(
        s.campaigns_in(CampaignState::Sending).await.unwrap(),
        vec![c.id]
    );
    let other = s
        .create_campaign(&spec("Other", vec![sms.id]), None, later(8))
        .await
        .unwrap();
    let states = s
        .campaign_states(&[c.id, other.id, new_id()])
        .await
        .unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[&c.id], CampaignState::Sending);
    assert_eq!(states[&other.id], CampaignState::Draft);
    let listed: Vec<Uuid> = s.campaigns().await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(listed, vec![other.id, c.id], "newest first");

    let done = s
        .set_campaign_state(
            c.id,
            &[CampaignState::Sending],
            CampaignState::Completed,
            None,
            None,
            later(9),
        )
        .await
        .unwrap();
    assert_eq!(done.finished_at, Some(later(9)));
    assert!(matches!(
        s.set_campaign_state(
            new_id(),
            &[CampaignState::Draft],
            CampaignState::Sending,
            None,
            None,
            T0
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    s.delete_campaign(other.id).await.unwrap();
    assert!(matches!(
        s.campaign(other.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn audiences_read_members_with_their_contacts(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let a = channel(s, "+14155550100").await;
    let other = channel(s, "+14155550101").await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(user(s, a.id, &format!("+1415555012{i}")).await);
    }
    let elsewhere = user(s, other.id, "+14155550120").await;
    let contact = s
        .create_contact(
            &ContactSpec {
                first_name: "Ada".into(),
                last_name: String::new(),
                phone: None,
                email: Some("ada@example.com".into()),
            },
            T0,
        )
        .await
        .unwrap();
    s.link_contact(users[1].id, contact.id, T0).await.unwrap();
    let attrs = |v: serde_json::Value| v.as_object().unwrap().clone();
    s.set_contact_attributes(
        contact.id,
        &attrs(json!({"tier": "gold", "city": "Paris"})),
        T0,
    )
    .await
    .unwrap();
    s.set_user_profile(
        users[1].id,
        &attrs(json!({"tier": "platinum"})),
        &["vip".to_owned(), "beta".to_owned()],
        T0,
    )
    .await
    .unwrap();
    s.touch_inbound(users[1].id, later(10)).await.unwrap();
    let open = build::session(
        s,
        &build::new_session(a.id, users[1].id, SessionStatus::Active),
        T0,
    )
    .await;

    let page = s.audience_page(&[a.id], None, 3).await.unwrap();
    let ids: Vec<Uuid> = page.iter().map(|m| m.messaging_user_id).collect();
    assert_eq!(ids, users[..3].iter().map(|u| u.id).collect::<Vec<_>>());
    let ada = &page[1];
    assert_eq!(ada.first_name.as_deref(), Some("Ada"));
    assert_eq!(ada.last_name, None, "an empty name is no value");
    assert_eq!(ada.email.as_deref(), Some("ada@example.com"));
    assert_eq!(ada.contact_id, Some(contact.id));
    assert_eq!(
        ada.attributes,
        attrs(json!({"tier": "platinum", "city": "Paris"})),
        "the user's attributes over the contact's"
    );
    assert_eq!(ada.tags, vec!["vip".to_owned(), "beta".to_owned()]);
    assert_eq!(ada.last_inbound_at, Some(later(10)));
    assert_eq!(ada.consent, Some(ConsentStatus::ExplicitlyOptedIn));
    assert_eq!(ada.open_session.map(|o| o.session_id), Some(open.id));
    assert_eq!(ada.conversation_id, Some(open.conversation_id));
    assert_eq!(page[0].open_session, None);
    assert_eq!(page[0].conversation_id, None);
    assert!(page[0].attributes.is_empty() && page[0].tags.is_empty());

    let rest = s.audience_page(&[a.id], Some(ids[2]), 3).await.unwrap();
    assert_eq!(
        rest.iter().map(|m| m.messaging_user_id).collect::<Vec<_>>(),
        vec![users[3].id, users[4].id]
    );
    let both = s.audience_page(&[a.id, other.id], None, 100).await.unwrap();
    assert_eq!(both.len(), 6);
    assert!(s.audience_page(&[], None, 10).await.unwrap().is_empty());

    // A list page: by phone (on the senders only) and by contact, each user once.
    let found = s
        .audience_of(
            &[a.id],
            &[
                "+14155550120".to_owned(),
                "+14155550121".to_owned(),
                "+19999999999".to_owned(),
            ],
            &[contact.id],
        )
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|m| m.messaging_user_id)
            .collect::<Vec<_>>(),
        vec![users[0].id, users[1].id]
    );
    let found = s
        .audience_of(&[other.id], &["+14155550120".to_owned()], &[])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].messaging_user_id, elsewhere.id);
}

async fn batches_skip_recipients_whole(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    let c = sending_campaign(s, vec![sms.id]).await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(user(s, sms.id, &format!("+1415555013{i}")).await);
    }
    let first: Vec<Recipient> = users[..2]
        .iter()
        .map(|u| recipient(c.id, u, None, later(1)))
        .collect();
    assert_eq!(
        s.write_campaign_batch(&batch(c.id, &first, 3), later(1))
            .await
            .unwrap(),
        0
    );
    let stored = s.campaign(c.id).await.unwrap();
    assert_eq!(stored.expand_cursor, Some(users[1].id));
    assert_eq!(stored.expansion.audience, 3);
    assert_eq!(stored.expansion.excluded["opted_out"], 1);
    for r in &first {
        let e = s.entry(r.entry.id).await.unwrap();
        assert_eq!(
            (e.status, e.session_id),
            (EntryStatus::Queued, r.session.id)
        );
        assert_eq!(
            s.session(r.session.id).await.unwrap().context,
            SessionContext::Marketing
        );
    }
    assert_eq!(
        s.messaging_user(users[0].id).await.unwrap().updated_at,
        T0,
        "the send time is no change of the user"
    );
    let member = s
        .audience_of(&[sms.id], &[users[0].platform_key.clone()], &[])
        .await
        .unwrap();
    assert_eq!(member[0].last_outbound_at, Some(later(1)));

    // Again for user 1 (already sent), user 2 twice in one batch, and user 3.
    let mut second: Vec<Recipient> = [1, 2, 2, 3]
        .iter()
        .map(|i| recipient(c.id, &users[*i], None, later(2)))
        .collect();
    second[2].message.address = users[2].platform_key.clone();
    let mut last = batch(c.id, &second, 7);
    last.expanded = true;
    assert_eq!(s.write_campaign_batch(&last, later(2)).await.unwrap(), 2);
    for (i, r) in second.iter().enumerate() {
        let kept = i == 1 || i == 3;
        assert_eq!(s.entry(r.entry.id).await.is_ok(), kept, "entry {i}");
        assert_eq!(s.session(r.session.id).await.is_ok(), kept, "session {i}");
        assert_eq!(
            s.job_payload(&format!("send:{}", r.entry.id))
                .await
                .unwrap()
                .is_some(),
            kept,
            "job {i}"
        );
    }
    let stored = s.campaign(c.id).await.unwrap();
    assert!(stored.expanded);
    assert_eq!(stored.expansion.audience, 7);
    let mut sent = s
        .campaign_addresses_sent(
            c.id,
            &users
                .iter()
                .map(|u| u.platform_key.clone())
                .chain(["+19999999999".to_owned()])
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    sent.sort();
    assert_eq!(
        sent,
        users
            .iter()
            .map(|u| u.platform_key.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(s.campaign_counts(c.id).await.unwrap().queued, 4);

    // A cancelled campaign takes no more recipients.
    s.set_campaign_state(
        c.id,
        &[CampaignState::Sending],
        CampaignState::Cancelled,
        None,
        None,
        later(3),
    )
    .await
    .unwrap();
    let extra = user(s, sms.id, "+14155550199").await;
    let late = [recipient(c.id, &extra, None, later(4))];
    assert!(matches!(
        s.write_campaign_batch(&batch(c.id, &late, 8), later(4))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.entry(late[0].entry.id).await.is_err());
}

async fn pauses_hold_the_campaigns_jobs(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    let c = sending_campaign(s, vec![sms.id]).await;
    let mut rs = Vec::new();
    for i in 0..3 {
        let u = user(s, sms.id, &format!("+1415555014{i}")).await;
        rs.push(recipient(c.id, &u, None, later(1)));
    }
    // One waits for its recipient's window.
    rs[2].job.due_at = later(3_600_000);
    s.write_campaign_batch(&batch(c.id, &rs, 3), later(1))
        .await
        .unwrap();
    // Another campaign's and a reply's jobs are not this campaign's.
    let mut reply = NewJob::new("outbound", "outbound_send", "{}", T0);
    reply.dedupe_key = Some("send:reply".into());
    s.enqueue(&reply, T0).await.unwrap();

    assert_eq!(s.campaign_backlog(c.id, later(1)).await.unwrap(), 2);
    assert!(s.campaign_unsettled(c.id).await.unwrap());
    assert_eq!(s.hold_campaign_jobs(c.id, later(2)).await.unwrap(), 3);
    assert_eq!(s.campaign_backlog(c.id, later(2)).await.unwrap(), 0);
    assert!(
        s.campaign_unsettled(c.id).await.unwrap(),
        "held is not settled"
    );
    let claimed = s.claim_jobs(claim(10, later(3_600_000))).await.unwrap();
    assert_eq!(claimed.len(), 1, "held jobs are never claimed");
    assert_eq!(claimed[0].group_key, None);
    s.complete_jobs("w", &[claimed[0].id], later(3))
        .await
        .unwrap();
    assert!(
        !s.has_pending_jobs("outbound").await.unwrap(),
        "a paused campaign keeps nothing waiting"
    );
    assert_eq!(s.pending_jobs("outbound").await.unwrap(), 0);
    let counts = s.queue_counts("outbound").await.unwrap();
    assert_eq!((counts.held, counts.done, counts.ready), (3, 1, 0));

    assert_eq!(s.release_campaign_jobs(c.id, later(4)).await.unwrap(), 3);
    assert_eq!(s.campaign_backlog(c.id, later(4)).await.unwrap(), 2);
    let claimed = s.claim_jobs(claim(10, later(4))).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        claimed[0].group_key.as_deref(),
        Some(campaign_group(c.id).as_str())
    );
    assert_eq!(
        s.campaign_backlog(c.id, later(4)).await.unwrap(),
        2,
        "running jobs are still the dispatcher's"
    );
    // A job claimed before the pause is set aside when the dispatcher sees it.
    let settled = s
        .commit_outbox(
            &[],
            &[
                outbox::JobSettlement {
                    id: claimed[0].id,
                    settle: outbox::Settle::Hold,
                },
                outbox::JobSettlement {
                    id: claimed[1].id,
                    settle: outbox::Settle::Done,
                },
            ],
            "w",
            later(5),
        )
        .await
        .unwrap();
    assert_eq!(settled.jobs_settled, 2);
    let held = s.job(claimed[0].id).await.unwrap();
    assert_eq!((held.state, held.attempts), (JobState::Held, 0));
    s.release_campaign_jobs(c.id, later(6)).await.unwrap();
    let rest = s.claim_jobs(claim(10, later(3_600_000))).await.unwrap();
    assert_eq!(rest.len(), 2);
    let ids: Vec<Uuid> = rest.iter().map(|j| j.id).collect();
    s.complete_jobs("w", &ids, later(7)).await.unwrap();
    assert!(!s.campaign_unsettled(c.id).await.unwrap());
}

async fn cancels_withdraw_what_was_not_sent(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    let c = sending_campaign(s, vec![sms.id]).await;
    let mut rs = Vec::new();
    for i in 0..4 {
        let u = user(s, sms.id, &format!("+1415555015{i}")).await;
        rs.push(recipient(c.id, &u, None, later(1)));
    }
    // Recipient 3 has an open session: its message joins it (SE-18), no new session.
    let u3 = s
        .messaging_user(rs[3].message.messaging_user_id)
        .await
        .unwrap();
    let open = build::session(
        s,
        &build::new_session(sms.id, u3.id, SessionStatus::Active),
        T0,
    )
    .await;
    rs[3].entry.session_id = open.id;
    let mut b1 = batch(c.id, &rs, 4);
    b1.sessions.pop();
    s.write_campaign_batch(&b1, later(1)).await.unwrap();
    // Recipient 0 was sent; recipient 1's job is on the wire; 2 and 3 still wait.
    let claimed = s.claim_jobs(claim(2, later(1))).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let job_of = |entry: Uuid| {
        claimed
            .iter()
            .find(|j| j.dedupe_key.as_deref() == Some(format!("send:{entry}").as_str()))
    };
    let sent = job_of(rs[0].entry.id).expect("the first recipient's job was claimed");
    s.complete_jobs("w", &[sent.id], later(2)).await.unwrap();
    s.set_entry_status(rs[0].entry.id, EntryStatus::Sent, None, None, later(2))
        .await
        .unwrap();
    s.hold_campaign_jobs(c.id, later(3)).await.unwrap();

    assert_eq!(s.withdraw_campaign(c.id, later(4)).await.unwrap(), 2);
    assert!(s.entry(rs[0].entry.id).await.is_ok(), "sent stays");
    assert!(
        s.entry(rs[1].entry.id).await.is_ok(),
        "running is the dispatcher's"
    );
    for r in &rs[2..] {
        assert!(s.entry(r.entry.id).await.is_err());
        assert_eq!(
            s.job_payload(&format!("send:{}", r.entry.id))
                .await
                .unwrap(),
            None
        );
    }
    assert!(
        s.session(rs[2].session.id).await.is_err(),
        "made for it, gone with it"
    );
    assert!(
        s.session(open.id).await.is_ok(),
        "the customer's own session stays"
    );
    let counts = s.campaign_counts(c.id).await.unwrap();
    assert_eq!((counts.withdrawn, counts.queued, counts.sent), (2, 2, 1));
    assert!(
        s.campaign_unsettled(c.id).await.unwrap(),
        "one is still running"
    );
    assert_eq!(s.withdraw_campaign(c.id, later(5)).await.unwrap(), 0);
    assert!(matches!(
        s.withdraw_campaign(new_id(), later(5)).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn funnels_links_and_replies(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    let wa = s
        .create_channel(
            &build::whatsapp("wa", "+14155550102", json!({}), json!({})),
            T0,
        )
        .await
        .unwrap();
    let c = sending_campaign(s, vec![sms.id]).await;
    let mut with_wa = spec("wa.me footer", vec![sms.id]);
    with_wa.footer.whatsapp_channel_id = Some(wa.id);
    let c2 = s.create_campaign(&with_wa, None, T0).await.unwrap();
    s.set_campaign_state(
        c2.id,
        &[CampaignState::Draft],
        CampaignState::Sending,
        Some(&["https://example.com/other".to_owned()]),
        None,
        T0,
    )
    .await
    .unwrap();

    let mut users = Vec::new();
    for i in 0..6 {
        users.push(user(s, sms.id, &format!("+1415555016{i}")).await);
    }
    let rs: Vec<Recipient> = users
        .iter()
        .enumerate()
        .map(|(i, u)| recipient(c.id, u, Some(&format!("code{i}")), later(10)))
        .collect();
    s.write_campaign_batch(&batch(c.id, &rs, 6), later(10))
        .await
        .unwrap();
    let statuses = [
        (EntryStatus::Sent, None),
        (EntryStatus::Delivered, None),
        (EntryStatus::Read, None),
        (EntryStatus::Failed, Some("2001")),
        (EntryStatus::Undelivered, Some("2001")),
    ];
    for (r, (status, code)) in rs.iter().zip(statuses) {
        s.set_entry_status(r.entry.id, status, code, None, later(11))
            .await
            .unwrap();
    }

    // Links.
    let target = s.link_target("code1", 0).await.unwrap().unwrap();
    assert_eq!(
        target,
        LinkTarget {
            campaign_id: c.id,
            entry_id: rs[1].entry.id,
            url: "https://example.com/sale".into()
        }
    );
    assert_eq!(s.link_target("code1", 1).await.unwrap(), None);
    assert_eq!(s.link_target("nope", 0).await.unwrap(), None);
    for (code, at) in [("code1", 20), ("code1", 30), ("code2", 40)] {
        s.record_click(code, later(at)).await.unwrap();
    }

    // Replies: on the sender by messaging user; HELP and STOP also count as replies.
    let reply = |u: &MessagingUser, kind: ReplyKind, at: i64| Attribution {
        messaging_user_id: u.id,
        channel_id: u.channel_id,
        address: "",
        kind,
        at: later(at),
        since: later(0),
    };
    let users2 = users.clone();
    let a = reply(&users2[1], ReplyKind::Reply, 50);
    assert_eq!(s.attribute_reply(&a).await.unwrap(), Some(c.id));
    let a = reply(&users2[1], ReplyKind::Help, 60);
    assert_eq!(s.attribute_reply(&a).await.unwrap(), Some(c.id));
    let a = reply(&users2[2], ReplyKind::OptOut, 70);
    assert_eq!(s.attribute_reply(&a).await.unwrap(), Some(c.id));
    // Outside the window: nothing.
    let mut old = reply(&users2[3], ReplyKind::Reply, 80);
    old.since = later(11);
    assert_eq!(s.attribute_reply(&old).await.unwrap(), None);

    let counts = s.campaign_counts(c.id).await.unwrap();
    assert_eq!(counts.audience, 6);
    assert_eq!(counts.queued, 6);
    assert_eq!(counts.sent, 3);
    assert_eq!(counts.delivered, 2);
    assert_eq!(counts.failed, BTreeMap::from([("2001".to_owned(), 2)]));
    assert_eq!(counts.unknown, 0);
    assert_eq!((counts.clicks_total, counts.clicks_unique), (3, 2));
    assert_eq!(
        (counts.replied, counts.help_handoffs, counts.opt_outs),
        (2, 1, 1)
    );

    // The export, page by page in entry order.
    let first = s.campaign_export(c.id, None, 4).await.unwrap();
    let rest = s
        .campaign_export(c.id, Some(first[3].entry_id), 4)
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (4, 2));
    let row = first.iter().find(|r| r.entry_id == rs[1].entry.id).unwrap();
    assert_eq!(
        (row.status.as_str(), row.clicks, row.replied_at, row.help_at),
        ("delivered", 2, Some(later(50)), Some(later(60)))
    );
    assert_eq!(row.address, users[1].platform_key);

    // A wa.me footer: the customer writes on WhatsApp, where they are another messaging user;
    // the reply is found by their number among campaigns whose footer links there.
    let mut wa_rs = recipient(c2.id, &users[5], None, later(100));
    wa_rs.message.address = users[5].platform_key.clone();
    s.write_campaign_batch(&batch(c2.id, &[wa_rs], 1), later(100))
        .await
        .unwrap();
    let on_wa = user(s, wa.id, &users[5].platform_key).await;
    let a = Attribution {
        messaging_user_id: on_wa.id,
        channel_id: wa.id,
        address: &on_wa.platform_key,
        kind: ReplyKind::Reply,
        at: later(110),
        since: later(0),
    };
    assert_eq!(s.attribute_reply(&a).await.unwrap(), Some(c2.id));
    // Not on a WhatsApp channel no footer links to.
    let a = Attribution {
        channel_id: sms.id,
        messaging_user_id: new_id(),
        ..a
    };
    assert_eq!(s.attribute_reply(&a).await.unwrap(), None);
    assert_eq!(s.campaign_counts(c2.id).await.unwrap().replied, 1);
}

/// Every statement of the campaign paths that runs per message or per batch finds its rows
/// through an index on both databases, with the tables full enough that a scan would be chosen
/// if nothing else served.
async fn campaign_statements_use_indexes(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sms = channel(s, "+14155550100").await;
    s.bulk_load(
        &parley_store::bulk::BulkLoad::new(sms.id, 2000, 2000, T0, 1000),
        |_, _| {},
    )
    .await
    .unwrap();
    // Run the paths first: PostgreSQL's plan of a statement needs its parameter types, which
    // the pool's connections remember from running it.
    let c = sending_campaign(s, vec![sms.id]).await;
    let page = s.audience_page(&[sms.id], None, 2).await.unwrap();
    let after = s
        .audience_page(&[sms.id], Some(page[0].messaging_user_id), 2)
        .await
        .unwrap();
    assert_eq!(after[0].messaging_user_id, page[1].messaging_user_id);
    let users: Vec<MessagingUser> = {
        let mut v = Vec::new();
        for m in &page {
            v.push(s.messaging_user(m.messaging_user_id).await.unwrap());
        }
        v
    };
    let rs: Vec<Recipient> = users
        .iter()
        .map(|u| recipient(c.id, u, Some(&new_id().simple().to_string()), later(1)))
        .collect();
    s.write_campaign_batch(&batch(c.id, &rs, 2), later(1))
        .await
        .unwrap();
    s.campaign_backlog(c.id, later(1)).await.unwrap();
    s.campaign_unsettled(c.id).await.unwrap();
    s.campaign_counts(c.id).await.unwrap();
    s.campaign_export(c.id, Some(rs[0].entry.id), 10)
        .await
        .unwrap();
    s.link_target("x", 0).await.unwrap();
    s.record_click("x", later(2)).await.unwrap();
    s.touch_inbound(users[0].id, later(2)).await.unwrap();
    let a = Attribution {
        messaging_user_id: users[0].id,
        channel_id: sms.id,
        address: &users[0].platform_key,
        kind: ReplyKind::Reply,
        at: later(3),
        since: T0,
    };
    s.attribute_reply(&a).await.unwrap();
    s.hold_campaign_jobs(c.id, later(4)).await.unwrap();
    s.release_campaign_jobs(c.id, later(4)).await.unwrap();
    s.audience_of(
        &[sms.id],
        &[users[0].platform_key.clone(), "+1".into()],
        &[new_id(), new_id()],
    )
    .await
    .unwrap();
    s.hold_campaign_jobs(c.id, later(5)).await.unwrap();
    assert_eq!(s.withdraw_campaign(c.id, later(5)).await.unwrap(), 2);

    const LARGE: &[&str] = &[
        "messaging_users",
        "contacts",
        "sessions",
        "entries",
        "jobs",
        "campaign_messages",
        "audience_list_members",
    ];
    let statements = campaign_statements(s, 2);
    let mut failures = Vec::new();
    for (sql, plan) in query_plans(s, &statements).await {
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{sql}\n  could not be explained: {e}"));
                continue;
            }
        };
        for line in &plan {
            let line = line.trim().trim_start_matches("->").trim();
            let scanned = if let Some(rest) = line.strip_prefix("SCAN ") {
                rest.split_whitespace().next()
            } else {
                line.find("Seq Scan on ")
                    .and_then(|at| line.get(at + "Seq Scan on ".len()..))
                    .and_then(|r| r.split_whitespace().next())
            };
            let Some(name) = scanned else { continue };
            // SQLite names a table by its alias in a plan.
            let table = match name {
                "u" => "messaging_users",
                "c" => "contacts",
                "s" | "l" => "sessions",
                "e" => "entries",
                "m" => "campaign_messages",
                other => other,
            };
            if LARGE.contains(&table) {
                failures.push(format!("{sql}\n  scans {table}: {}", plan.join(" | ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

parley_store::on_both_backends!(
    segments_are_named_filters,
    lists_count_their_members,
    campaign_states_change_by_compare_and_set,
    audiences_read_members_with_their_contacts,
    batches_skip_recipients_whole,
    pauses_hold_the_campaigns_jobs,
    cancels_withdraw_what_was_not_sent,
    funnels_links_and_replies,
    campaign_statements_use_indexes,
);
