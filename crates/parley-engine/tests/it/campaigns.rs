//! Campaigns end to end through the engine (issue 11): audiences, who is left out and why, merge
//! fields and footers, pause, resume and cancel, replies attributed to the campaign they answer,
//! and clicks. The simulator provider plays the network; every case runs on both databases.

use std::sync::Arc;

use parley_core::campaign::audience::{Condition, SegmentFilter};
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{
    Audience, CampaignKind, CampaignSpec, CampaignState, Content, Footer, MissingValues,
    TemplateContent,
};
use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::inbound::InboundEvent;
use parley_engine::jobs::Queue;
use parley_engine::service::ServiceError;
use parley_engine::service::campaigns::{self as service, SegmentInput};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, TestDb, fresh};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::until_event;

const LINKS: &str = "https://exm.pl";
/// Entries per campaign chunk job in these tests.
const CHUNK: usize = 10;

struct World {
    db: TestDb,
    engine: Engine,
    bus: EventBus,
    sms: Channel,
    wa: Channel,
    _stop: watch::Sender<bool>,
}

impl World {
    fn store(&self) -> &Store {
        &self.db.store
    }

    fn now(&self) -> Timestamp {
        SystemClock.now()
    }
}

async fn world(b: TestBackend) -> World {
    world_with(b, true).await
}

/// A US SMS sender whose HELP opens a case (CMP-01), a WhatsApp channel for the wa.me footer,
/// and an engine with its workers running (or not, to look between the steps).
async fn world_with(b: TestBackend, workers: bool) -> World {
    let db = fresh(b).await;
    let now = SystemClock.now();
    let queue = db
        .store
        .create_queue(&build::queue_spec("Support"), now)
        .await
        .unwrap();
    let sms = db
        .store
        .create_channel(
            &ChannelSpec {
                name: "Offers SMS".into(),
                country: Some("US".into()),
                queue_id: Some(queue.id),
                settings: json!({"case_handoff": {"trigger": {"on": "help"},
                    "reply": "An agent will text you within 24 hours."}}),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let wa = db
        .store
        .create_channel(
            &ChannelSpec {
                name: "Offers WhatsApp".into(),
                kind: ChannelKind::Whatsapp,
                address: "+14155550101".into(),
                number_type: None,
                queue_id: Some(queue.id),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let bus = EventBus::default();
    let engine = Engine::new(
        db.store.clone(),
        Arc::new(SystemClock),
        bus.clone(),
        EngineConfig {
            link_base: Some(LINKS.into()),
            idle_poll: std::time::Duration::from_millis(20),
            // Small chunks, so a campaign of a few dozen is several chunk jobs.
            campaign_chunk: CHUNK,
            ..EngineConfig::default()
        },
    );
    let (stop, rx) = watch::channel(false);
    if workers {
        engine.spawn_workers(rx);
    }
    World {
        db,
        engine,
        bus,
        sms,
        wa,
        _stop: stop,
    }
}

/// A messaging user on `channel` with a contact named `first` (when given).
async fn person(
    w: &World,
    channel: &Channel,
    phone: &str,
    consent: Option<ConsentStatus>,
    first: Option<&str>,
) -> MessagingUser {
    let contact = match first {
        Some(name) => Some(
            w.store()
                .create_contact(
                    &ContactSpec {
                        first_name: name.into(),
                        last_name: String::new(),
                        phone: Some(parley_core::E164::parse(phone).unwrap()),
                        email: None,
                    },
                    w.now(),
                )
                .await
                .unwrap()
                .id,
        ),
        None => None,
    };
    w.store()
        .create_messaging_user(
            &NewMessagingUser {
                contact_id: contact,
                ..build::new_user(channel.id, phone, consent)
            },
            &build::origin(ConsentSource::Import, "test"),
            w.now(),
        )
        .await
        .unwrap()
}

async fn segment_of(w: &World, channel: &Channel) -> Segment {
    service::create_segment(
        w.store(),
        &SegmentInput {
            name: format!("on {}", channel.name),
            description: String::new(),
            filter: SegmentFilter {
                all: vec![Condition::Channel {
                    channels: vec![channel.id],
                }],
            },
        },
        w.now(),
    )
    .await
    .unwrap()
}

fn text_campaign(name: &str, sender: Uuid, audience: Audience, text: &str) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        kind: CampaignKind::Marketing,
        senders: vec![sender],
        audience,
        content: Content {
            text: Some(text.into()),
            template: None,
            missing: MissingValues::Fallback,
            fallbacks: Default::default(),
        },
        footer: Footer::default(),
        schedule: Default::default(),
        reply_flow: None,
    }
}

async fn start(w: &World, spec: &CampaignSpec) -> StoredCampaign {
    let c = service::create_campaign(w.store(), spec, Some("test"), w.now())
        .await
        .unwrap();
    service::act(&w.engine.campaigns(), c.id, CampaignAction::Start)
        .await
        .unwrap()
}

async fn finished(w: &World, id: Uuid) -> StoredCampaign {
    until_event(&w.bus, "the campaign to complete", || async {
        let c = w.store().campaign(id).await.unwrap();
        (c.state == CampaignState::Completed).then_some(c)
    })
    .await
}

/// What the simulator phone of `to` received.
async fn received(w: &World, to: &str) -> Vec<String> {
    w.store()
        .simulator_messages(to, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| m.body)
        .collect()
}

/// A segment's campaign reaches exactly the members who may receive it, with the merge field,
/// a short link on the operator's own domain and both footers; everyone else is counted by
/// reason (consent, opt-out, country).
async fn a_segment_campaign_reaches_the_eligible_and_counts_the_rest(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ImplicitlyOptedIn),
        None,
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552673",
        Some(ConsentStatus::OptedOut),
        Some("Olga"),
    )
    .await;
    person(&w, &sms, "+14155552674", None, Some("Nora")).await;
    person(
        &w,
        &sms,
        "+447400123456",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Ian"),
    )
    .await;
    // On another channel: not in the segment.
    person(
        &w,
        &w.wa.clone(),
        "+14155552675",
        Some(ConsentStatus::ExplicitlyOptedIn),
        None,
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let mut spec = text_campaign(
        "Winter",
        sms.id,
        Audience::Segment {
            segment_id: segment.id,
        },
        "Hi {{ contact.first_name }}, 20% off at https://shop.example.com/winter",
    );
    spec.content.fallbacks = [("contact.first_name".to_owned(), "there".to_owned())].into();
    spec.footer = Footer {
        help: true,
        whatsapp_channel_id: Some(w.wa.id),
        shorten_whatsapp: false,
        custom: None,
    };
    let c = start(&w, &spec).await;
    let done = finished(&w, c.id).await;
    assert!(done.expanded);

    let jordan = received(&w, "+14155552671").await;
    assert_eq!(jordan.len(), 1, "{jordan:?}");
    let body = &jordan[0];
    assert!(
        body.starts_with("Hi Jordan, 20% off at https://exm.pl/l/"),
        "{body}"
    );
    assert!(!body.contains("shop.example.com"), "{body}");
    assert!(
        body.contains("Reply HELP for help, STOP to opt out."),
        "{body}"
    );
    assert!(body.contains("wa.me/14155550101"), "{body}");
    let implicit = received(&w, "+14155552672").await;
    assert_eq!(implicit.len(), 1);
    assert!(implicit[0].starts_with("Hi there, "), "{}", implicit[0]);
    for nobody in [
        "+14155552673",
        "+14155552674",
        "+447400123456",
        "+14155552675",
    ] {
        assert!(
            received(&w, nobody).await.is_empty(),
            "{nobody} got a message"
        );
    }

    let results = service::results(w.store(), c.id).await.unwrap();
    let n = &results.counts;
    assert_eq!(n.audience, 5);
    assert_eq!(n.excluded.get("opted_out"), Some(&1));
    assert_eq!(n.excluded.get("no_consent"), Some(&1));
    assert_eq!(n.excluded.get("out_of_country"), Some(&1));
    assert_eq!(n.excluded_total(), 3);
    assert_eq!(n.queued, 2);
    assert_eq!(n.sent, 2);
    assert_eq!(n.failed_total(), 0);

    // CMP-03: the message is an entry in the recipient's conversation, in a marketing session.
    let user = w
        .store()
        .messaging_user_by_key(sms.id, "+14155552671")
        .await
        .unwrap()
        .unwrap();
    let sessions = w
        .store()
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
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].context, SessionContext::Marketing);
    assert_eq!(sessions[0].status, SessionStatus::Ended);
}

/// A list of numbers: each reaches the messaging user of that number on the sender; a number
/// with none is counted as not on the sender; the same number twice gets one message.
async fn a_list_campaign_sends_one_message_per_number(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Priya"),
    )
    .await;
    let list = service::create_list(w.store(), "VIPs", "", w.now())
        .await
        .unwrap();
    let rows: Vec<Vec<String>> = [
        vec!["phone"],
        vec!["+1 (415) 555-2671"],
        vec!["+14155552671"],
        vec!["4155552672"],
        vec!["not a number"],
        vec!["+14155552679"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    let mut seen = Vec::new();
    let report = service::import_list(w.store(), list.id, &rows, w.now(), |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(report.rows, 5);
    assert_eq!(report.added, 2, "{report:?}");
    assert_eq!(report.duplicates, 1);
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5], "{report:?}");
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((5, 5)));

    let c = start(
        &w,
        &text_campaign(
            "VIP night",
            sms.id,
            Audience::List { list_id: list.id },
            "See you tonight",
        ),
    )
    .await;
    finished(&w, c.id).await;
    assert_eq!(received(&w, "+14155552671").await.len(), 1);
    assert!(received(&w, "+14155552679").await.is_empty());
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.audience, 2);
    assert_eq!(n.excluded.get("not_on_sender"), Some(&1), "{n:?}");
    assert_eq!(n.sent, 1);
}

/// A missing merge value either takes the fallback or leaves the recipient out, as the campaign
/// says; a field that does not exist is refused when the campaign is saved.
async fn missing_values_take_the_fallback_or_exclude(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ExplicitlyOptedIn),
        None,
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let audience = Audience::Segment {
        segment_id: segment.id,
    };

    let typo = text_campaign(
        "Typo",
        sms.id,
        audience.clone(),
        "Hi {{ contact.frist_name }}",
    );
    let refused = service::create_campaign(w.store(), &typo, None, w.now()).await;
    assert!(
        matches!(&refused, Err(ServiceError::Invalid(m)) if m.contains("frist_name")),
        "{refused:?}"
    );

    let mut exclude = text_campaign(
        "Only named",
        sms.id,
        audience,
        "Hi {{ contact.first_name }}!",
    );
    exclude.content.missing = MissingValues::Exclude;
    let c = start(&w, &exclude).await;
    finished(&w, c.id).await;
    assert_eq!(
        received(&w, "+14155552671").await,
        vec!["Hi Jordan!".to_owned()]
    );
    assert!(received(&w, "+14155552672").await.is_empty());
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.excluded.get("missing_field"), Some(&1));
}

/// Broadcasts (BC-01, BC-02, BC-04): SMS from a short code or toll-free number with an approved
/// template, to explicitly or doubly opted-in recipients only, whatever the channel's level.
async fn a_broadcast_needs_explicit_opt_in_and_a_template(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ImplicitlyOptedIn),
        Some("Priya"),
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let audience = Audience::Segment {
        segment_id: segment.id,
    };
    let mut spec = text_campaign("Outage", sms.id, audience, "Service is down");
    spec.kind = CampaignKind::Broadcast;
    let refused = service::create_campaign(w.store(), &spec, None, w.now()).await;
    assert!(
        matches!(refused, Err(ServiceError::Invalid(_))),
        "{refused:?}"
    );

    w.store()
        .upsert_template(
            &TemplateSpec {
                channel_id: sms.id,
                name: "outage".into(),
                language: "en".into(),
                category: TemplateCategory::Utility,
                status: TemplateStatus::Approved,
                body: "Hi {{1}}, our service is down until {{2}}.".into(),
                components: json!([]),
            },
            w.now(),
        )
        .await
        .unwrap();
    spec.content = Content {
        text: None,
        template: Some(TemplateContent {
            name: "outage".into(),
            language: "en".into(),
            parameters: vec!["{{ contact.first_name }}".into(), "6 pm".into()],
        }),
        missing: MissingValues::Fallback,
        fallbacks: Default::default(),
    };
    let c = start(&w, &spec).await;
    finished(&w, c.id).await;
    assert_eq!(
        received(&w, "+14155552671").await,
        vec!["Hi Jordan, our service is down until 6 pm.".to_owned()]
    );
    assert!(received(&w, "+14155552672").await.is_empty());
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.excluded.get("not_explicitly_opted_in"), Some(&1), "{n:?}");

    // TM-05: the template a broadcast used stays.
    let t = w
        .store()
        .template(sms.id, "outage", "en")
        .await
        .unwrap()
        .unwrap();
    let refused = parley_engine::service::templates::delete(w.store(), &w.bus, t.id, w.now()).await;
    assert!(
        matches!(refused, Err(ServiceError::Invalid(_))),
        "{refused:?}"
    );
}

/// Pause holds what the expansion queued, resume sends it, cancel withdraws what was not sent;
/// each step seen without the dispatcher running.
async fn pause_resume_and_cancel(b: TestBackend) {
    let w = world_with(b, false).await;
    let sms = w.sms.clone();
    for i in 0..30 {
        person(
            &w,
            &sms,
            &format!("+1415555{:04}", 2600 + i),
            Some(ConsentStatus::ExplicitlyOptedIn),
            None,
        )
        .await;
    }
    let segment = segment_of(&w, &sms).await;
    let audience = Audience::Segment {
        segment_id: segment.id,
    };
    let campaigns = w.engine.campaigns();
    let c = service::create_campaign(
        w.store(),
        &text_campaign("Flash", sms.id, audience, "Flash sale"),
        None,
        w.now(),
    )
    .await
    .unwrap();
    service::act(&campaigns, c.id, CampaignAction::Start)
        .await
        .unwrap();
    let pass = campaigns.pass().await.unwrap();
    assert_eq!(pass.queued, 30);
    // Three chunk jobs of ten on the campaign queue, none on the replies' queue.
    let queue = Queue::Campaign.as_str();
    assert_eq!(w.store().queue_counts(queue).await.unwrap().ready, 3);
    let outbound = parley_engine::outbound::QUEUE;
    assert_eq!(w.store().queue_counts(outbound).await.unwrap().ready, 0);

    let paused = service::act(&campaigns, c.id, CampaignAction::Pause)
        .await
        .unwrap();
    assert_eq!(paused.state, CampaignState::Paused);
    assert_eq!(w.store().queue_counts(queue).await.unwrap().ready, 0);
    assert_eq!(w.store().queue_counts(queue).await.unwrap().held, 3);
    assert_eq!(w.engine.campaign_runner().run_once().await.unwrap(), 0);
    assert!(received(&w, "+14155552600").await.is_empty());
    // Pausing twice is refused, in words.
    let again = service::act(&campaigns, c.id, CampaignAction::Pause).await;
    assert!(matches!(again, Err(ServiceError::Invalid(_))), "{again:?}");

    service::act(&campaigns, c.id, CampaignAction::Resume)
        .await
        .unwrap();
    assert_eq!(w.store().queue_counts(queue).await.unwrap().ready, 3);
    // One chunk of ten goes out, a second is claimed (on its way), then the campaign is
    // cancelled: the third chunk's ten are withdrawn unsent, the second's are left to it.
    let claim = |limit| ClaimRequest {
        queue,
        worker: "t",
        limit,
        lease: std::time::Duration::from_secs(60),
        now: w.now(),
    };
    let first = w.store().claim_jobs(claim(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    w.engine.outbound.send_batch(first).await;
    let second = w.store().claim_jobs(claim(1)).await.unwrap();
    assert_eq!(second.len(), 1);
    let cancelled = service::act(&campaigns, c.id, CampaignAction::Cancel)
        .await
        .unwrap();
    assert_eq!(cancelled.state, CampaignState::Cancelled);
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!((n.sent, n.withdrawn), (10, 10), "{n:?}");
    assert_eq!(w.store().queue_counts(queue).await.unwrap().ready, 0);
    // The chunk on its way finds its campaign cancelled: its ten are withdrawn too, unsent.
    w.engine.outbound.send_batch(second).await;
    let counts = w.store().queue_counts(queue).await.unwrap();
    assert_eq!((counts.ready, counts.held, counts.running), (0, 0, 0));
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!((n.sent, n.withdrawn, n.queued), (10, 20, 10), "{n:?}");
    let mut reached = 0;
    for i in 0..30 {
        reached += received(&w, &format!("+1415555{:04}", 2600 + i))
            .await
            .len();
    }
    assert_eq!(reached, 10);
    let resumed = service::act(&campaigns, c.id, CampaignAction::Resume).await;
    assert!(
        matches!(resumed, Err(ServiceError::Invalid(_))),
        "{resumed:?}"
    );
}

async fn inbound(w: &World, channel: &Channel, from: &str, text: &str) {
    let id = format!("in-{}", Uuid::now_v7().simple());
    w.engine
        .ingest
        .submit(&InboundEvent {
            channel_id: channel.id,
            provider_message_id: id.clone(),
            from: from.into(),
            to: channel.address.clone(),
            text: text.into(),
            media: vec![],
            profile_name: None,
            received_at: w.now(),
            choice: None,
            web: None,
        })
        .await
        .unwrap();
    until_event(&w.bus, "the inbound message", || async {
        w.store()
            .queue_counts(parley_engine::inbound::QUEUE)
            .await
            .ok()
            .filter(|c| c.ready == 0 && c.running == 0)
    })
    .await;
}

/// CMP-01: HELP to a campaign gets the help answer and opens a case linked to the contact found
/// by phone, with the session's own opt-in, routed to the queue; the campaign counts the reply
/// and the hand-off; STOP from another recipient opts out and counts against the campaign.
async fn help_and_stop_replies_count_against_the_campaign(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    let jordan = person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Priya"),
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let mut spec = text_campaign(
        "Winter",
        sms.id,
        Audience::Segment {
            segment_id: segment.id,
        },
        "Winter sale this week",
    );
    spec.footer.help = true;
    let c = start(&w, &spec).await;
    finished(&w, c.id).await;

    inbound(&w, &sms, "+14155552671", "HELP").await;
    inbound(&w, &sms, "+14155552672", "STOP").await;

    let contact = jordan.contact_id.unwrap();
    let cases = until_event(&w.bus, "the case", || async {
        let cases = w.store().cases_of_contact(contact).await.unwrap();
        (!cases.is_empty()).then_some(cases)
    })
    .await;
    assert_eq!(cases.len(), 1);
    let sessions = w.store().sessions_of_case(cases[0].id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].context, SessionContext::Service);
    assert!(sessions[0].session_opt_in);
    assert_eq!(sessions[0].status, SessionStatus::Waiting);
    // The agent sees the campaign message above the customer's HELP: same conversation.
    let campaign_session = w
        .store()
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(jordan.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(campaign_session.len(), 2);
    assert!(
        campaign_session
            .iter()
            .all(|s| s.conversation_id == sessions[0].conversation_id)
    );
    // The agent's timeline shows it as the campaign's, above the HELP.
    let timeline = w.engine.desk.timeline(jordan.id, 50).await.unwrap();
    let campaign_at = timeline
        .iter()
        .position(|t| t.campaign.as_deref() == Some("Winter"))
        .expect("the campaign message, named");
    let help_at = timeline
        .iter()
        .position(|t| t.entry.body == "HELP")
        .expect("the customer's HELP");
    assert!(campaign_at < help_at);

    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.replied, 2, "{n:?}");
    assert_eq!(n.help_handoffs, 1, "{n:?}");
    assert_eq!(n.opt_outs, 1, "{n:?}");
    let priya = w
        .store()
        .messaging_user_by_key(sms.id, "+14155552672")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(priya.consent_status, Some(ConsentStatus::OptedOut));
}

/// CMP-05: a first WhatsApp message from a number the campaign's wa.me footer reached is
/// attributed to that campaign.
async fn a_whatsapp_reply_through_the_footer_is_attributed(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let mut spec = text_campaign(
        "Chat with us",
        sms.id,
        Audience::Segment {
            segment_id: segment.id,
        },
        "Questions? We are on WhatsApp.",
    );
    spec.footer.whatsapp_channel_id = Some(w.wa.id);
    let c = start(&w, &spec).await;
    finished(&w, c.id).await;
    let wa = w.wa.clone();
    inbound(&w, &wa, "+14155552671", "Do you ship to Canada?").await;
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.replied, 1, "{n:?}");
}

/// Clicks count per recipient; a preview bot and a HEAD request are redirected but not counted.
async fn short_links_count_clicks_but_not_previews(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    let segment = segment_of(&w, &sms).await;
    let c = start(
        &w,
        &text_campaign(
            "Links",
            sms.id,
            Audience::Segment {
                segment_id: segment.id,
            },
            "Shop https://shop.example.com/a or read https://blog.example.com/b.",
        ),
    )
    .await;
    finished(&w, c.id).await;
    let body = received(&w, "+14155552671").await.remove(0);
    let links: Vec<&str> = body
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("https://exm.pl/l/"))
        .map(|t| t.trim_end_matches('.'))
        .collect();
    assert_eq!(links.len(), 2, "{body}");
    let store = w.store();
    let now = w.now();
    let first = service::follow_link(store, links[0], Some("Mozilla/5.0"), false, now)
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("https://shop.example.com/a"));
    let second = service::follow_link(store, links[1], Some("Mozilla/5.0"), false, now)
        .await
        .unwrap();
    assert_eq!(second.as_deref(), Some("https://blog.example.com/b"));
    let bot = service::follow_link(store, links[0], Some("WhatsApp/2.23.20.0"), false, now)
        .await
        .unwrap();
    assert_eq!(bot.as_deref(), Some("https://shop.example.com/a"));
    service::follow_link(store, links[0], None, true, now)
        .await
        .unwrap();
    assert_eq!(
        service::follow_link(store, "nope", None, false, now)
            .await
            .unwrap(),
        None
    );
    let n = service::results(store, c.id).await.unwrap().counts;
    assert_eq!((n.clicks_total, n.clicks_unique), (2, 1), "{n:?}");
}

/// SE-18: a campaign message to someone with an open session on the sender lands in that
/// session, not in a new one.
async fn a_message_to_an_open_session_lands_in_it(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    inbound(&w, &sms, "+14155552671", "Is my order on its way?").await;
    let user = w
        .store()
        .messaging_user_by_key(sms.id, "+14155552671")
        .await
        .unwrap()
        .unwrap();
    let open = w
        .store()
        .open_session(user.id)
        .await
        .unwrap()
        .expect("the question opened a session");
    let segment = segment_of(&w, &sms).await;
    let c = start(
        &w,
        &text_campaign(
            "Notice",
            sms.id,
            Audience::Segment {
                segment_id: segment.id,
            },
            "Our stores close early today",
        ),
    )
    .await;
    finished(&w, c.id).await;
    let entries = w
        .store()
        .list_entries(open.id, PageRequest::new(None, 100))
        .await
        .unwrap()
        .items;
    assert!(
        entries
            .iter()
            .any(|e| e.body == "Our stores close early today"),
        "{entries:?}"
    );
    let sessions = w
        .store()
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
    assert_eq!(sessions.len(), 1);
}

/// WhatsApp's care window: free text only to someone who wrote in the last 24 hours; the others
/// are counted as outside the window. A local time window that is closed now holds a
/// recipient's message for its next opening instead of sending it.
async fn windows_decide_who_gets_it_and_when(b: TestBackend) {
    let w = world(b).await;
    let wa = w.wa.clone();
    person(
        &w,
        &wa,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &wa,
        "+14155552672",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Priya"),
    )
    .await;
    inbound(&w, &wa, "+14155552671", "hi").await;
    let segment = segment_of(&w, &wa).await;
    let audience = Audience::Segment {
        segment_id: segment.id,
    };
    let c = start(
        &w,
        &text_campaign("WA", wa.id, audience.clone(), "New arrivals are in"),
    )
    .await;
    finished(&w, c.id).await;
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.sent, 1, "{n:?}");
    assert_eq!(n.excluded.get("outside_care_window"), Some(&1), "{n:?}");

    // A window that opens an hour from now and closes an hour later, in the recipient's own zone
    // (their `time_zone` attribute, which wins over their number's country): not their time yet.
    let jordan = w
        .store()
        .messaging_user_by_key(wa.id, "+14155552671")
        .await
        .unwrap()
        .unwrap();
    let zone: serde_json::Map<String, serde_json::Value> =
        [("time_zone".to_owned(), json!("Etc/UTC"))]
            .into_iter()
            .collect();
    w.store()
        .set_user_profile(jordan.id, &zone, &[], w.now())
        .await
        .unwrap();
    let minute = |t: Timestamp| u16::try_from((t.millis() / 60_000) % 1440).unwrap();
    let now = w.now();
    let mut later = text_campaign("Later", wa.id, audience, "Good morning");
    later.schedule.window = Some(parley_core::campaign::LocalWindow {
        opens: (minute(now) + 60) % 1440,
        closes: (minute(now) + 120) % 1440,
        default_time_zone: "Asia/Tokyo".into(),
    });
    let c = start(&w, &later).await;
    let held = until_event(&w.bus, "the expansion", || async {
        let c = w.store().campaign(c.id).await.unwrap();
        c.expanded.then_some(c)
    })
    .await;
    assert_eq!(held.state, CampaignState::Sending);
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!((n.queued, n.sent), (1, 0), "{n:?}");
    let due = w
        .store()
        .campaign_backlog(c.id, w.now().plus(std::time::Duration::from_secs(2 * 3600)))
        .await
        .unwrap();
    assert_eq!(due, 1, "the message is due within the window");
    assert_eq!(w.store().campaign_backlog(c.id, w.now()).await.unwrap(), 0);
}

/// Attributes and tags imported with the messaging users (`attr:<name>` and `tags` columns)
/// are what a segment filters on and what a campaign merges; a second import merges attributes
/// and replaces tags.
async fn imported_attributes_and_tags_drive_segments_and_merge_fields(b: TestBackend) {
    use parley_core::campaign::audience::ValueOp;
    use parley_engine::import::{ImportFile, ImportRecord, import_messaging_users};
    let w = world(b).await;
    let sms = w.sms.clone();
    let import = |rows: Vec<Vec<&str>>| ImportFile {
        name: "people.csv".into(),
        header: rows[0].iter().map(|s| (*s).to_owned()).collect(),
        records: rows[1..]
            .iter()
            .enumerate()
            .map(|(i, r)| ImportRecord {
                line: i as u64 + 2,
                fields: r.iter().map(|s| (*s).to_owned()).collect(),
                unreadable: None,
            })
            .collect(),
    };
    let first = import(vec![
        vec![
            "channel",
            "platform_key",
            "consent_status",
            "tags",
            "attr:tier",
            "attr:city",
        ],
        vec![
            "Offers SMS",
            "+14155552671",
            "ExplicitlyOptedIn",
            "vip; early",
            "gold",
            "Austin",
        ],
        vec![
            "Offers SMS",
            "+14155552672",
            "ExplicitlyOptedIn",
            "early",
            "gold",
            "",
        ],
        vec![
            "Offers SMS",
            "+14155552673",
            "ExplicitlyOptedIn",
            "vip",
            "silver",
            "Boston",
        ],
    ]);
    let report = import_messaging_users(w.store(), &SystemClock, &first, |_| {})
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    // Again: Priya becomes a VIP and gets a city; her tier stays.
    let second = import(vec![
        vec![
            "channel",
            "platform_key",
            "consent_status",
            "tags",
            "attr:city",
        ],
        vec![
            "Offers SMS",
            "+14155552672",
            "ExplicitlyOptedIn",
            "vip",
            "Denver",
        ],
    ]);
    import_messaging_users(w.store(), &SystemClock, &second, |_| {})
        .await
        .unwrap();
    let segment = service::create_segment(
        w.store(),
        &SegmentInput {
            name: "gold VIPs".into(),
            description: String::new(),
            filter: SegmentFilter {
                all: vec![
                    Condition::Channel {
                        channels: vec![sms.id],
                    },
                    Condition::Attribute {
                        name: "tier".into(),
                        op: ValueOp::Equals,
                        value: "Gold".into(),
                    },
                    Condition::Tag {
                        tag: "vip".into(),
                        present: true,
                    },
                ],
            },
        },
        w.now(),
    )
    .await
    .unwrap();
    let c = start(
        &w,
        &text_campaign(
            "Gold",
            sms.id,
            Audience::Segment {
                segment_id: segment.id,
            },
            "See you in {{ attributes.city }}",
        ),
    )
    .await;
    finished(&w, c.id).await;
    assert_eq!(
        received(&w, "+14155552671").await,
        vec!["See you in Austin".to_owned()]
    );
    assert_eq!(
        received(&w, "+14155552672").await,
        vec!["See you in Denver".to_owned()]
    );
    assert!(received(&w, "+14155552673").await.is_empty());
}

/// A campaign with a reply flow: a recipient's reply opens a new conversation that the journey
/// takes (its trigger `campaign`), in the marketing context; HELP still gets its compliance answer
/// and the hand-off, never the journey.
async fn a_reply_to_a_campaign_runs_its_journey(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    let jordan = person(
        &w,
        &sms,
        "+14155552671",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Jordan"),
    )
    .await;
    person(
        &w,
        &sms,
        "+14155552672",
        Some(ConsentStatus::ExplicitlyOptedIn),
        Some("Priya"),
    )
    .await;
    let journey: parley_core::flow::FlowDefinition = serde_json::from_value(json!({
        "name": "winter-journey", "context": "marketing",
        "steps": [
            {"id": "size", "type": "ask", "message": {"text": "Which size, {{contact.first_name}}?"},
             "save_as": "size", "cases": [{"when": {"type": "any"}, "next": "done"}]},
            {"id": "done", "type": "end", "message": {"text": "Size {{flow.size}} reserved."}}
        ]
    }))
    .unwrap();
    parley_engine::service::flows::save(w.store(), &journey, SystemClock.now())
        .await
        .unwrap();
    let segment = segment_of(&w, &sms).await;
    let mut spec = text_campaign(
        "Winter",
        sms.id,
        Audience::Segment {
            segment_id: segment.id,
        },
        "Winter coats are back",
    );
    spec.reply_flow = Some("winter-journey".into());
    let c = start(&w, &spec).await;
    finished(&w, c.id).await;

    inbound(&w, &sms, "+14155552671", "I want one").await;
    let got = until_event(&w.bus, "the journey's question", || async {
        let got = received(&w, "+14155552671").await;
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert!(got.contains(&"Which size, Jordan?".to_owned()), "{got:?}");
    inbound(&w, &sms, "+14155552671", "M").await;
    until_event(&w.bus, "the journey's end", || async {
        received(&w, "+14155552671")
            .await
            .contains(&"Size M reserved.".to_owned())
            .then_some(())
    })
    .await;
    let sessions = w
        .store()
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(jordan.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items;
    let journey_session = sessions
        .iter()
        .find(|s| s.context == SessionContext::Marketing && s.owner_kind.is_some())
        .expect("the journey's session");
    let runs = w
        .store()
        .flow_runs_of_session(journey_session.id)
        .await
        .unwrap();
    assert_eq!(runs[0].trigger, "campaign");

    // HELP is compliance's, whatever the campaign's reply flow.
    inbound(&w, &sms, "+14155552672", "HELP").await;
    until_event(&w.bus, "the help answer", || async {
        let got = received(&w, "+14155552672").await;
        (got.len() >= 3).then_some(())
    })
    .await;
    assert!(
        !received(&w, "+14155552672")
            .await
            .iter()
            .any(|m| m.starts_with("Which size")),
        "HELP never starts the journey"
    );
}

/// Privacy (issue 16): a campaign reaches no one restricted, and no one erased after STOP (a
/// messaging user made again for the number starts opted out from the erasure's proof).
async fn restricted_and_erased_after_stop_get_no_campaign(b: TestBackend) {
    let w = world(b).await;
    let sms = w.sms.clone();
    let opted_in = Some(ConsentStatus::ExplicitlyOptedIn);
    person(&w, &sms, "+14155552681", opted_in, None).await;
    let restricted = person(&w, &sms, "+14155552682", opted_in, None).await;
    let stopped = person(&w, &sms, "+14155552683", opted_in, None).await;
    w.store()
        .set_restricted(&[restricted.id], Some(w.now()), w.now())
        .await
        .unwrap();
    w.store()
        .set_consent(
            stopped.id,
            ConsentStatus::OptedOut,
            &build::origin(ConsentSource::Keyword, "STOP"),
            w.now(),
        )
        .await
        .unwrap();
    let erased = w
        .store()
        .erase_messaging_user(None, stopped.id, w.now())
        .await
        .unwrap();
    assert_eq!((erased.messaging_users, erased.opt_out_proofs), (1, 1));
    // Imported again as opted in: the proof wins.
    let again = person(&w, &sms, "+14155552683", opted_in, None).await;
    assert_eq!(again.consent_status, Some(ConsentStatus::OptedOut));
    let segment = segment_of(&w, &sms).await;
    let c = start(
        &w,
        &text_campaign(
            "Privacy night",
            sms.id,
            Audience::Segment {
                segment_id: segment.id,
            },
            "Big sale",
        ),
    )
    .await;
    finished(&w, c.id).await;
    let got = received(&w, "+14155552681").await;
    assert!(got.len() == 1 && got[0].starts_with("Big sale"), "{got:?}");
    assert!(received(&w, "+14155552682").await.is_empty());
    assert!(received(&w, "+14155552683").await.is_empty());
    let n = service::results(w.store(), c.id).await.unwrap().counts;
    assert_eq!(n.sent, 1, "{n:?}");
}

parley_store::on_both_backends!(
    restricted_and_erased_after_stop_get_no_campaign,
    a_reply_to_a_campaign_runs_its_journey,
    imported_attributes_and_tags_drive_segments_and_merge_fields,
    windows_decide_who_gets_it_and_when,
    a_segment_campaign_reaches_the_eligible_and_counts_the_rest,
    a_list_campaign_sends_one_message_per_number,
    missing_values_take_the_fallback_or_exclude,
    a_broadcast_needs_explicit_opt_in_and_a_template,
    pause_resume_and_cancel,
    help_and_stop_replies_count_against_the_campaign,
    a_whatsapp_reply_through_the_footer_is_attributed,
    short_links_count_clicks_but_not_previews,
    a_message_to_an_open_session_lands_in_it,
);
