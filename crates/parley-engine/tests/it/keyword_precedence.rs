//! Issue 10, item 5: on a shared short code the number's started SMS processes answer their
//! keywords before the channel's compliance keywords; a paused process stops answering and the
//! channel's keywords take over; the channel's STOP still opts out.

use std::sync::Arc;

use parley_core::keyword_process::{ProcessAction, ProcessType};
use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::inbound::InboundEvent;
use parley_engine::service::sms_processes::{self as processes, ProcessDraft};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;
use uuid::Uuid;

const SHORT_CODE: &str = "11221";
const KIDS_PROCESS_HELP: &str = "Kids Club Alerts: Help at kids@club.example. Msg&data rates may apply. 2 msgs/week. Text STOP to cancel.";
const BABY_PROCESS_STOP: &str = "Baby Club: you are unsubscribed and get no more offers.";

fn channel_help(program: &str) -> String {
    format!(
        "{program} Channel Alerts: Help at {program}@parley.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel."
    )
}

fn channel_stopped(program: &str) -> String {
    format!("{program} channel: you are opted out.")
}

async fn program(store: &Store, keyword: &str, now: Timestamp) -> Channel {
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: keyword.into(),
                address: SHORT_CODE.into(),
                number_type: Some(NumberType::SharedShortCode),
                provider_keyword: Some(keyword.into()),
                country: Some("US".into()),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    store
        .upsert_keyword_set(
            &KeywordSetSpec {
                channel_id: channel.id,
                language: "en".into(),
                config: json!({"opt_out": ["STOP"], "help": ["HELP"],
                    "responses": {"help": channel_help(keyword),
                                  "opt_out_confirmation": channel_stopped(keyword)}}),
            },
            now,
        )
        .await
        .unwrap();
    channel
}

async fn started(store: &Store, now: Timestamp, draft: ProcessDraft) -> Uuid {
    let created = processes::create(store, now, &draft).await.unwrap();
    processes::act(store, now, created.process.id, ProcessAction::Start)
        .await
        .unwrap();
    created.process.id
}

fn event(channel: &Channel, from: &str, text: &str, at: Timestamp) -> InboundEvent {
    InboundEvent {
        channel_id: channel.id,
        provider_message_id: Uuid::now_v7().to_string(),
        from: from.into(),
        to: channel.address.clone(),
        text: text.into(),
        media: vec![],
        profile_name: None,
        received_at: at,
        choice: None,
        web: None,
    }
}

struct World {
    engine: Engine,
    kids: Channel,
    baby: Channel,
}

impl World {
    /// Sends one text to the short code (the webhook of the baby program, as a carrier posts every
    /// message of the number to one URL) and processes it.
    async fn text(&self, from: &str, text: &str) {
        let now = self.engine.clock.now();
        self.engine
            .ingest
            .submit(&event(&self.baby, from, text, now))
            .await
            .unwrap();
        assert_eq!(self.engine.inbound_runner().run_once().await.unwrap(), 1);
    }

    async fn user(&self, channel: &Channel, from: &str) -> MessagingUser {
        self.engine
            .store
            .messaging_user_by_key(channel.id, from)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no messaging user of {from} on {}", channel.name))
    }

    /// What the customer was sent on the program, in order.
    async fn replies(&self, channel: &Channel, from: &str) -> Vec<String> {
        let user = self.user(channel, from).await;
        let store = &self.engine.store;
        let sessions = store
            .list_sessions(
                SessionFilter {
                    messaging_user_id: Some(user.id),
                    ..Default::default()
                },
                PageRequest::new(None, 50),
            )
            .await
            .unwrap()
            .items;
        let mut entries = Vec::new();
        for s in sessions {
            entries.extend(
                store
                    .list_entries(s.id, PageRequest::new(None, 50))
                    .await
                    .unwrap()
                    .items,
            );
        }
        entries.sort_by_key(|e| e.id);
        entries
            .into_iter()
            .filter(|e| e.direction == Direction::Outbound)
            .map(|e| e.body)
            .collect()
    }
}

async fn world(b: TestBackend) -> (World, parley_store::testing::TestDb) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let kids = program(&db.store, "kids", now).await;
    let baby = program(&db.store, "baby", now).await;
    let engine = Engine::new(
        db.store.clone(),
        clock,
        EventBus::default(),
        EngineConfig::default(),
    );
    (World { engine, kids, baby }, db)
}

fn draft(kind: ProcessType, keyword: &str, message: &str) -> ProcessDraft {
    ProcessDraft {
        name: format!("{keyword} {kind}"),
        kind,
        number: SHORT_CODE.into(),
        provider_keyword: Some(keyword.into()),
        custom_keywords: Vec::new(),
        message: Some(message.into()),
    }
}

async fn started_processes_answer_before_the_channel(b: TestBackend) {
    let (w, _db) = world(b).await;
    let now = w.engine.clock.now();
    let store = w.engine.store.clone();
    let kids_help = started(
        &store,
        now,
        draft(ProcessType::Help, "kids", KIDS_PROCESS_HELP),
    )
    .await;
    started(
        &store,
        now,
        draft(ProcessType::Unsubscribe, "baby", BABY_PROCESS_STOP),
    )
    .await;

    // The kids Help process answers "kids help", not the kids channel's help response.
    let ann = "+447400100001";
    w.text(ann, "kids help").await;
    assert_eq!(w.replies(&w.kids, ann).await, vec![KIDS_PROCESS_HELP]);

    // The baby Unsubscribe process answers "baby stop" with its confirmation, and the opt-out is
    // recorded on the baby program only.
    w.text(ann, "baby stop").await;
    assert_eq!(w.replies(&w.baby, ann).await, vec![BABY_PROCESS_STOP]);
    assert_eq!(
        w.user(&w.baby, ann).await.consent_status,
        Some(ConsentStatus::OptedOut)
    );
    assert_ne!(
        w.user(&w.kids, ann).await.consent_status,
        Some(ConsentStatus::OptedOut),
        "baby stop leaves the kids program alone"
    );

    // No process covers HELP on the baby program: the channel's help response.
    let bob = "+447400100002";
    w.text(bob, "baby help").await;
    assert_eq!(w.replies(&w.baby, bob).await, vec![channel_help("baby")]);

    // No process covers STOP on the kids program: the channel's opt-out, with its confirmation.
    w.text(bob, "kids stop").await;
    assert_eq!(w.replies(&w.kids, bob).await, vec![channel_stopped("kids")]);
    assert_eq!(
        w.user(&w.kids, bob).await.consent_status,
        Some(ConsentStatus::OptedOut)
    );

    // A plain HELP names no program: the channel the number's messages arrive on (baby's)
    // answers with its help response (CO-10), and no process is involved.
    let dan = "+447400100004";
    w.text(dan, "HELP").await;
    assert_eq!(w.replies(&w.baby, dan).await, vec![channel_help("baby")]);

    // Paused, the kids Help process answers nothing: its keyword falls back to the channel.
    processes::act(&store, now, kids_help, ProcessAction::Pause)
        .await
        .unwrap();
    let cid = "+447400100003";
    w.text(cid, "kids help").await;
    assert_eq!(w.replies(&w.kids, cid).await, vec![channel_help("kids")]);
}

/// An exclusive short code: the Unsubscribe process's confirmation for STOP, the channel's help
/// for HELP (no Help process), and the opt-out recorded on the channel.
async fn exclusive_short_code_process_and_channel(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let store = db.store.clone();
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Acme".into(),
                address: "24680".into(),
                number_type: Some(NumberType::ShortCode),
                country: Some("US".into()),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    store
        .upsert_keyword_set(
            &KeywordSetSpec {
                channel_id: channel.id,
                language: "en".into(),
                config: json!({"opt_out": ["STOP", "QUIT"], "help": ["HELP"],
                    "responses": {"help": channel_help("acme"),
                                  "opt_out_confirmation": channel_stopped("acme")}}),
            },
            now,
        )
        .await
        .unwrap();
    started(
        &store,
        now,
        ProcessDraft {
            name: "Acme stop".into(),
            kind: ProcessType::Unsubscribe,
            number: "24680".into(),
            provider_keyword: None,
            custom_keywords: Vec::new(),
            message: Some("Acme: unsubscribed from offers.".into()),
        },
    )
    .await;
    let engine = Engine::new(
        store.clone(),
        clock,
        EventBus::default(),
        EngineConfig::default(),
    );
    for (i, text) in ["HELP", "Stop"].iter().enumerate() {
        engine
            .ingest
            .submit(&event(
                &channel,
                "+447400100009",
                text,
                now.plus(std::time::Duration::from_millis(i as u64)),
            ))
            .await
            .unwrap();
        engine.inbound_runner().run_once().await.unwrap();
    }
    let w = World {
        engine,
        kids: channel.clone(),
        baby: channel.clone(),
    };
    assert_eq!(
        w.replies(&channel, "+447400100009").await,
        vec![
            channel_help("acme"),
            "Acme: unsubscribed from offers.".to_owned()
        ]
    );
    assert_eq!(
        w.user(&channel, "+447400100009").await.consent_status,
        Some(ConsentStatus::OptedOut)
    );
}

parley_store::on_both_backends!(
    started_processes_answer_before_the_channel,
    exclusive_short_code_process_and_channel,
);
