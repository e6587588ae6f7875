//! Cost that stays flat as data grows: every statement the inbound and outbound pipelines run must
//! find its rows through an index, never by scanning a table that grows with traffic.
//!
//! The statements are not a hand-kept list: the test drives the pipelines through the engine
//! (customers writing in, a keyword, an agent's reply sent to a provider, its status callback,
//! the unknown-outcome sweeps, the dead-letter list) and
//! records what sqlx logs, so a query added tomorrow is checked tomorrow. Each is then explained on
//! the same database (see `parley_store::testing::query_plans`) and a full scan of a large table
//! fails, naming the statement and its plan.
//!
//! sqlx logs SQLite's statements from the connection's own thread, which a per-task or per-thread
//! subscriber does not see, so the recorder is the process's global subscriber. To keep other tests
//! of this binary out of the recording, the test runs itself again alone in a child process.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use parley_channels::adapter::StatusUpdate;
use parley_core::model::{Actor, EntryStatus};
use parley_core::{Clock, SystemClock, Timestamp, new_id};
use parley_engine::compose::{Author, OutgoingMessage};
use parley_engine::inbound::InboundEvent;
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh, query_plans};
use parley_store::{Channel, ChannelSpec, Store};
use parley_testkit::build;
use parley_testkit::fake::{self, Account};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Set in the child process that records and checks.
const CHILD: &str = "PARLEY_PLANS_CHILD";

/// Tables whose rows grow with customers and messages. A full scan of any of them is a cost that
/// grows with the data. `routing_work` is not one: it holds a row per session waiting for an
/// agent, deleted when the session is routed or ends, so it grows with the queue, not with
/// history (the router reads it whole every round).
const LARGE: &[&str] = &[
    "messaging_users",
    "contacts",
    "cases",
    "consent_events",
    "sessions",
    "conversation_closures",
    "entries",
    "jobs",
    "console_events",
    "simulator_messages",
    "media",
    "session_reads",
    "routing_accepts",
    "campaign_messages",
    "audience_list_members",
    "flow_runs",
    "idempotency_keys",
    "webhook_deliveries",
    "twilio_messages",
    "twilio_accounts",
    "notifications",
    "notification_errors",
    "web_visitors",
    "web_session_data",
    "web_uploads",
    "session_notes",
    "session_tags",
    "contact_tags",
    "tags",
    "search_terms",
];

/// Statements allowed to scan, each with why. Matched by a part of the statement's text that
/// only it has.
const ALLOWED: &[(&str, &str)] = &[(
    "WHERE +u.channel_id IN",
    "a campaign's expansion walks its audience once, a page at a time in id order; the first \
     page has no cursor yet, so its plan reads the primary key from the start (up to the page's \
     LIMIT). Per campaign and proportional to its audience, not per message; later pages search \
     from their cursor",
)];

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-secret-token";
const FROM: &str = "+14155550100";
const CUSTOMER: &str = "+14155550123";

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<BTreeSet<String>>>);

/// The statement of one `sqlx::query` event: `db.statement` holds the whole text, except when
/// the text is no longer than its four-word `summary`, which is then the text.
#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
}

impl Visit for StatementFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.summary = format!("{value:?}"),
            "db.statement" => self.statement = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut fields = StatementFields::default();
        event.record(&mut fields);
        let text = if fields.statement.trim().is_empty() {
            fields.summary
        } else {
            fields.statement.trim().to_owned()
        };
        if let Ok(mut set) = self.0.lock() {
            set.insert(text);
        }
    }
}

/// Only statements that read or change rows have a plan (not BEGIN, COMMIT, SET, PRAGMA).
fn has_plan(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH"
    )
}

/// The large tables `sql` names under an alias (`FROM entries e`, `JOIN sessions AS s`), as alias
/// to table: SQLite's plans name a table by its alias.
fn aliases(sql: &str) -> Vec<(String, &'static str)> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let Some(table) = LARGE.iter().find(|t| w.eq_ignore_ascii_case(t)) else {
            continue;
        };
        let next = match words.get(i + 1) {
            Some(a) if a.eq_ignore_ascii_case("AS") => words.get(i + 2),
            other => other,
        };
        if let Some(alias) =
            next.filter(|a| a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            found.push((alias.to_string(), *table));
        }
    }
    found
}

/// The partial indexes of the schema (`CREATE INDEX ... WHERE ...`), read from SQLite's
/// migrations: they hold only the rows their condition keeps (unknown outcomes, dead inbound
/// jobs), a set that grows with trouble, not with traffic, so reading one whole is not a scan of
/// its table.
fn partial_indexes() -> Vec<String> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley-store/migrations/sqlite");
    let mut names = Vec::new();
    for file in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(|l| [l, "\n"])
            .collect();
        for statement in text.split(';') {
            let words: Vec<&str> = statement.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| w.eq_ignore_ascii_case("INDEX")) else {
                continue;
            };
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
                && words.iter().any(|w| w.eq_ignore_ascii_case("WHERE"))
                && let Some(name) = words.get(at + 1)
            {
                names.push((*name).to_owned());
            }
        }
    }
    assert!(!names.is_empty(), "the migrations declare partial indexes");
    names
}

/// The large tables a plan reads in full: SQLite's `SCAN <table or alias>` (with or without a
/// covering index: either visits every row, unless the index is partial), PostgreSQL's
/// `Seq Scan on <table>`.
fn full_scans(sql: &str, plan: &[String]) -> Vec<String> {
    let aliases = aliases(sql);
    let partial = partial_indexes();
    let mut found = Vec::new();
    for line in plan {
        let line = line.trim().trim_start_matches("->").trim();
        let name = if let Some(rest) = line.strip_prefix("SCAN ") {
            let through = rest.split_whitespace().skip_while(|w| *w != "INDEX").nth(1);
            if through.is_some_and(|i| partial.iter().any(|p| p == i)) {
                continue;
            }
            rest.split_whitespace().next()
        } else if let Some(at) = line.find("Seq Scan on ") {
            line.get(at + "Seq Scan on ".len()..)
                .and_then(|r| r.split_whitespace().next())
        } else {
            None
        };
        let Some(name) = name else { continue };
        let table = LARGE.iter().copied().find(|t| *t == name).or_else(|| {
            aliases
                .iter()
                .find(|(alias, _)| alias == name)
                .map(|(_, table)| *table)
        });
        if let Some(t) = table {
            found.push(format!("{t}: {line}"));
        }
    }
    found
}

fn event(channel: &Channel, text: &str, at: Timestamp) -> InboundEvent {
    InboundEvent {
        channel_id: channel.id,
        provider_message_id: format!("SM{}", new_id().simple()),
        from: CUSTOMER.into(),
        to: channel.address.clone(),
        text: text.into(),
        media: vec![],
        profile_name: None,
        received_at: at,
        choice: None,
        web: None,
    }
}

async fn drain(engine: &Engine) {
    // Bounded: each round handles what is ready; the pipelines here queue a few jobs at most.
    for _ in 0..20 {
        let inbound = engine.inbound_runner().run_once().await.unwrap();
        let outbound = engine.outbound_runner().run_once().await.unwrap();
        let campaign = engine.campaign_runner().run_once().await.unwrap();
        let flows = engine.flow_runner().run_once().await.unwrap();
        if inbound == 0 && outbound == 0 && campaign == 0 && flows == 0 {
            return;
        }
    }
    panic!("the pipelines did not settle");
}

async fn reply(engine: &Engine, session_id: uuid::Uuid) -> parley_store::Entry {
    engine
        .compose()
        .send_to_session(
            session_id,
            OutgoingMessage {
                body: "Hi, how can we help?".into(),
                media: vec![],
                template: None,
                component: None,
            },
            Author {
                actor: Actor::Agent,
                actor_id: None,
            },
        )
        .await
        .unwrap()
}

/// A campaign's per-message and per-batch statements: expansion (a segment and a list), its
/// dispatch, a click, a reply attributed to it, a pause, a resume and a cancel, the results and
/// the export.
async fn campaign(store: &Store, engine: &Engine, channel: &parley_store::Channel) {
    use parley_core::campaign::audience::{Condition, SegmentFilter};
    use parley_core::campaign::state::CampaignAction;
    use parley_core::campaign::{Audience, CampaignKind, CampaignSpec, Content, Footer};
    use parley_engine::service::campaigns::{self as service, SegmentInput};
    let now = SystemClock.now();
    store
        .create_messaging_user(
            &build::new_user(
                channel.id,
                "+14155550124",
                Some(parley_core::model::ConsentStatus::ExplicitlyOptedIn),
            ),
            &build::origin(parley_core::model::ConsentSource::Import, "plans"),
            now,
        )
        .await
        .unwrap();
    let segment = service::create_segment(
        store,
        &SegmentInput {
            name: "everyone".into(),
            description: String::new(),
            filter: SegmentFilter {
                all: vec![Condition::Channel {
                    channels: vec![channel.id],
                }],
            },
        },
        now,
    )
    .await
    .unwrap();
    let list = service::create_list(store, "list", "", now).await.unwrap();
    let rows = vec![vec!["phone".to_owned()], vec![CUSTOMER.to_owned()]];
    service::import_list(store, list.id, &rows, now, |_| {})
        .await
        .unwrap();
    let spec = |name: &str, audience: Audience| CampaignSpec {
        name: name.into(),
        kind: CampaignKind::Marketing,
        senders: vec![channel.id],
        audience,
        content: Content {
            text: Some("Hi {{ contact.first_name }}: https://shop.example.com/x".into()),
            template: None,
            missing: Default::default(),
            fallbacks: Default::default(),
        },
        footer: Footer {
            help: true,
            ..Footer::default()
        },
        schedule: Default::default(),
        reply_flow: None,
    };
    let campaigns = engine.campaigns();
    let mut ids = Vec::new();
    for (name, audience) in [
        (
            "segment",
            Audience::Segment {
                segment_id: segment.id,
            },
        ),
        ("list", Audience::List { list_id: list.id }),
    ] {
        let c = service::create_campaign(store, &spec(name, audience), None, now)
            .await
            .unwrap();
        service::act(&campaigns, c.id, CampaignAction::Start)
            .await
            .unwrap();
        ids.push(c.id);
    }
    campaigns.pass().await.unwrap();
    service::act(&campaigns, ids[1], CampaignAction::Pause)
        .await
        .unwrap();
    service::act(&campaigns, ids[1], CampaignAction::Resume)
        .await
        .unwrap();
    service::act(&campaigns, ids[1], CampaignAction::Cancel)
        .await
        .unwrap();
    drain(engine).await;
    campaigns.pass().await.unwrap();
    let first = store.campaign_export(ids[0], None, 10).await.unwrap();
    assert!(!first.is_empty());
    let code = store
        .simulator_messages("+14155550124", None, 10)
        .await
        .unwrap()
        .iter()
        .find_map(|m| {
            m.body
                .split_whitespace()
                .find_map(|w| w.strip_prefix("https://exm.pl/l/").map(str::to_owned))
        })
        .expect("the campaign's short link");
    service::follow_link(store, &code, Some("Mozilla/5.0"), false, now)
        .await
        .unwrap();
    engine
        .ingest
        .submit(&event(
            channel,
            "is this offer still on?",
            SystemClock.now(),
        ))
        .await
        .unwrap();
    drain(engine).await;
    service::results(store, ids[0]).await.unwrap();
    let mut export = service::CsvExport::new(store, ids[0]).await.unwrap();
    while export.next_chunk().await.unwrap().is_some() {}
}

/// Drives both pipelines once each way and returns the statements they ran.
/// A channel's bot: a customer's first message starts it (its question sent), their answer is
/// taken where the run waits, and the run hands the conversation to people.
async fn bot(store: &Store, engine: &Engine) {
    let flow = parley_core::flow::FlowDefinition {
        name: "plans-bot".into(),
        description: String::new(),
        context: parley_core::model::SessionContext::Service,
        max_invalid: 3,
        steps: serde_json::from_value(json!([
            {"id": "ask", "type": "ask", "message": {"text": "Your order number?"},
             "save_as": "order", "cases": [{"when": {"type": "number"}, "next": "bye"}]},
            {"id": "bye", "type": "handoff", "queue": "nobody"}
        ]))
        .unwrap(),
    };
    parley_engine::service::flows::save(store, &flow, SystemClock.now())
        .await
        .unwrap();
    let channel = store
        .create_channel(
            &ChannelSpec {
                address: "+14155550112".into(),
                name: "plans-bot-channel".into(),
                settings: json!({"flows": {"bot": "plans-bot"}}),
                ..build::simulator_sms()
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    for text in ["hello bot", "123456"] {
        engine
            .ingest
            .submit(&event(&channel, text, SystemClock.now()))
            .await
            .unwrap();
        drain(engine).await;
    }
    let user = store
        .messaging_user_by_key(channel.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    let session = store.open_session(user.id).await.unwrap().unwrap();
    let runs = store.flow_runs_of_session(session.id).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "ended", "the answer was taken");
}

/// Notes and tags (issue 15): a note written, the session's notes read (per session and in the
/// person's timeline), tags set, read, suggested and looked up.
async fn notes_and_tags(store: &Store, engine: &Engine, session: &parley_store::Session) {
    let now = SystemClock.now();
    let agent = store
        .create_agent(
            &build::agent_spec(
                "Plans Notes",
                parley_core::model::AgentRole::Supervisor,
                2,
                vec![],
            ),
            now,
        )
        .await
        .unwrap();
    let desk = parley_engine::service::notes::NoteDesk {
        store,
        sensitive: &engine.sensitive,
        events: None,
    };
    let input = parley_engine::service::notes::NoteInput {
        body: "Call back after 5pm".into(),
        whisper_to: None,
    };
    parley_engine::service::notes::add(
        desk,
        &agent,
        parley_core::access::PermissionSet::all(),
        session.id,
        &input,
        now,
    )
    .await
    .unwrap();
    store.notes_of_session(session.id, 100).await.unwrap();
    store
        .notes_of_users(&[session.messaging_user_id], 500)
        .await
        .unwrap();
    let tags = parley_engine::service::notes::TagsInput {
        tags: vec!["vip".into()],
    };
    parley_engine::service::notes::set_tags(
        store,
        parley_store::Tagged::Session(session.id),
        &tags,
        now,
    )
    .await
    .unwrap();
    store
        .tags_of(parley_store::Tagged::Session(session.id))
        .await
        .unwrap();
    store
        .tags_of_many(&[parley_store::Tagged::Session(session.id)])
        .await
        .unwrap();
    store.tag_suggestions("v", 10).await.unwrap();
    store.sessions_tagged("vip", 10).await.unwrap();
    store.contacts_tagged("vip", 10).await.unwrap();
}

/// Messages to people outside a conversation (notifications, the Twilio-compatible API): a new
/// number, a known one, a key presented twice, and the keys' expiry.
async fn outreach(store: &Store, engine: &Engine, channel: &Channel) {
    use parley_engine::outreach::{OutreachRequest, Recipient};
    for (to, key) in [("+12125550900", "k1"), (CUSTOMER, "k2"), (CUSTOMER, "k2")] {
        let request = OutreachRequest {
            channel_id: channel.id,
            recipient: Recipient::Address(to.into()),
            message: OutgoingMessage {
                body: "Your order shipped".into(),
                ..OutgoingMessage::default()
            },
            author: Author {
                actor: Actor::System,
                actor_id: None,
            },
            idempotency: Some(parley_store::IdempotencyKey {
                scope: "plans".into(),
                key: key.into(),
                fingerprint: to.into(),
            }),
            contact_id: None,
        };
        engine
            .outreach()
            .send(&request, SystemClock.now())
            .await
            .unwrap();
    }
    drain(engine).await;
    store
        .delete_expired_idempotency_keys(SystemClock.now(), 500)
        .await
        .unwrap();
    // A dispatcher's status change asks whether the entry is a notification's; the retention
    // sweep deletes old log entries by time.
    store
        .notification_by_entry(uuid::Uuid::nil())
        .await
        .unwrap();
    store
        .delete_notification_errors_before(SystemClock.now(), 500)
        .await
        .unwrap();
}

/// The Twilio-compatible API's reads and writes per message: the account of a request, the row
/// of a sent message (the status callback path reads it at every status change), the list pages.
async fn twilio_api(store: &Store) {
    let now = SystemClock.now();
    let account = parley_engine::service::twilio::create_twilio_account(store, "plans", now)
        .await
        .unwrap();
    store.twilio_account(&account.sid).await.unwrap();
    let row = parley_store::TwilioMessage {
        entry_id: parley_core::new_id(),
        account_sid: account.sid.clone(),
        messaging_service_sid: None,
        status_callback: None,
        created_at: now,
        to_address: CUSTOMER.to_owned(),
        from_address: FROM.to_owned(),
    };
    store.write_twilio_message(&row).await.unwrap();
    store.twilio_message(row.entry_id).await.unwrap();
    // A status callback waits for the one before it.
    store
        .job_unfinished(&format!("twilio-callback:{}:sent", row.entry_id))
        .await
        .unwrap();
    let keyset = (now.millis(), row.entry_id);
    let day = Some(now.millis() - 86_400_000);
    let filters = [
        parley_store::TwilioMessageFilter::default(),
        parley_store::TwilioMessageFilter {
            to: Some(CUSTOMER.to_owned()),
            since: day,
            until: Some(now.millis() + 1),
            ..Default::default()
        },
        parley_store::TwilioMessageFilter {
            from: Some(FROM.to_owned()),
            ..Default::default()
        },
        parley_store::TwilioMessageFilter {
            since: day,
            until: Some(now.millis() + 1),
            ..Default::default()
        },
    ];
    for filter in &filters {
        for cursor in [
            parley_store::TwilioPageCursor::First,
            parley_store::TwilioPageCursor::Older(keyset.0, keyset.1),
            parley_store::TwilioPageCursor::Newer(keyset.0, keyset.1),
        ] {
            store
                .twilio_messages_page(&account.sid, filter, cursor, 2)
                .await
                .unwrap();
        }
    }
    // A send through a messaging service: its sticky sender.
    store
        .twilio_last_sender(&account.sid, "MG0123456789abcdef0123456789abcdef", CUSTOMER)
        .await
        .unwrap();
}

/// Search across conversations (issue 15): one word, several words (a person's and a message's),
/// a number, as a supervisor and as an agent, a next page, the person's latest session; and the
/// agent's closed conversations with their last messages.
async fn search(store: &Store) {
    use parley_core::access::SessionScope;
    use parley_engine::service::search::{closed_sessions, search_conversations};
    let agent = uuid::Uuid::now_v7();
    for scope in [SessionScope::All, SessionScope::Agent(agent)] {
        for q in ["hello", "hello there simulator", "0123", "are you"] {
            let page = search_conversations(store, scope, q, None).await.unwrap();
            search_conversations(store, scope, q, Some("1700000000000"))
                .await
                .unwrap();
            if q == "hello" && scope == SessionScope::All {
                assert!(
                    !page.items.is_empty(),
                    "the customers' messages are indexed"
                );
            }
        }
    }
    closed_sessions(store, agent, None).await.unwrap();
    closed_sessions(store, agent, Some("1700000000000"))
        .await
        .unwrap();
}

/// The web chat's statements per visitor and per message: a visitor created and its token
/// resolved, a message in with its files and pre-chat, the conversation and a stream's replay,
/// an agent's reply delivered natively, the visitor's read receipt, End Chat, logout.
async fn web_chat(store: &Store, engine: &Engine) {
    use parley_core::web::{Branding, OriginPattern, Prechat, WebDeploymentSpec, WidgetSettings};
    use parley_engine::web_chat::{self, VisitorMessage};
    let now = SystemClock.now();
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "plans-web".into(),
                kind: parley_core::model::ChannelKind::Web,
                provider: parley_core::model::Provider::Web,
                address: "plans-web".into(),
                number_type: None,
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let deployment = store
        .create_web_deployment(
            &WebDeploymentSpec {
                name: "plans-web".into(),
                channel_id: channel.id,
                origins: vec![OriginPattern::parse("https://shop.example").unwrap()],
                language: "en".into(),
                branding: Branding::default(),
                settings: WidgetSettings::default(),
                prechat: Prechat::default(),
                keyset_id: None,
            },
            now,
        )
        .await
        .unwrap();
    let created = web_chat::create_visitor(engine, &deployment, None)
        .await
        .unwrap();
    let visitor = web_chat::resolve(engine, &created.token).await.unwrap();
    store
        .web_deployment_by_name("plans-web")
        .await
        .unwrap()
        .unwrap();
    let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
    let file = web_chat::upload(engine, &visitor, "image/png", png)
        .await
        .unwrap();
    for (i, media) in [vec![file.id], vec![]].into_iter().enumerate() {
        web_chat::send(
            engine,
            &deployment,
            &visitor,
            VisitorMessage {
                client_message_id: format!("m{i}"),
                text: "hello web".into(),
                media_ids: media,
                page_url: Some("https://shop.example/".into()),
                ..VisitorMessage::default()
            },
        )
        .await
        .unwrap();
        drain(engine).await;
    }
    let conversation = web_chat::conversation(engine, &deployment, &visitor)
        .await
        .unwrap();
    let session = conversation.session.clone().expect("a session");
    store.web_session_data(session.id).await.unwrap().unwrap();
    let entry = reply(engine, session.id).await;
    drain(engine).await;
    let sessions = web_chat::sessions(engine, &visitor).await.unwrap();
    web_chat::entries(
        engine,
        &visitor,
        &sessions,
        Some(conversation.entries[0].id),
    )
    .await
    .unwrap();
    web_chat::may_read_media(engine, &visitor, file.id)
        .await
        .unwrap();
    assert_eq!(web_chat::read(engine, &visitor, entry.id).await.unwrap(), 1);
    web_chat::end(engine, &visitor).await.unwrap();
    drain(engine).await;
    web_chat::logout(engine, &visitor).await.unwrap();
    store
        .delete_expired_web_visitors(SystemClock.now())
        .await
        .unwrap();
}

async fn record_pipelines(store: &Store, recorder: &Recorder) -> Vec<String> {
    let (base, seen) = fake::provider(Account {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        ..Account::default()
    })
    .await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let channel = store
        .create_channel(
            &ChannelSpec {
                throughput_mps: Some(100),
                ..build::twilio_sms(
                    &format!("sms-{}", new_id().simple()),
                    FROM,
                    json!({"base_url": base}),
                    json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
                )
            },
            clock.now(),
        )
        .await
        .unwrap();
    let simulator = store
        .create_channel(
            &ChannelSpec {
                address: "+14155550111".into(),
                ..build::simulator_sms()
            },
            clock.now(),
        )
        .await
        .unwrap();
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig {
            link_base: Some("https://exm.pl".into()),
            // The widget's upload writes a file: never into the source tree.
            media_dir: std::env::temp_dir()
                .join(format!("parley-plans-media-{}", uuid::Uuid::now_v7())),
            ..EngineConfig::default()
        },
    );
    // The console feed records every message's events as they happen: part of each message's
    // cost.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let feed = engine.feed.spawn(&engine.events, stopped);
    // Setup above is not the pipelines: record from the first customer message on.
    recorder.0.lock().unwrap().clear();

    // A new customer, then the same customer again (the user, session and contact found).
    for text in ["hello", "are you there?"] {
        engine
            .ingest
            .submit(&event(&channel, text, clock.now()))
            .await
            .unwrap();
        drain(&engine).await;
    }
    // An agent's reply, sent to the provider, and the provider's status callback for it.
    let user = store
        .messaging_user_by_key(channel.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    let session = store.open_session(user.id).await.unwrap().unwrap();
    let entry = reply(&engine, session.id).await;
    drain(&engine).await;
    let sid = store
        .entry(entry.id)
        .await
        .unwrap()
        .provider_message_id
        .expect("the provider accepted the reply");
    engine
        .outbound
        .record_status(
            channel.id,
            &StatusUpdate {
                provider_message_id: sid,
                status: EntryStatus::Delivered,
                error_code: None,
                provider_error: None,
                recipient_opted_out: false,
            },
        )
        .await
        .unwrap();
    // Keywords: an opt-out (its confirmation sent), then an opt-in.
    for text in ["STOP", "START"] {
        engine
            .ingest
            .submit(&event(&channel, text, clock.now()))
            .await
            .unwrap();
        drain(&engine).await;
    }
    // The simulator's provider: a customer of the simulator channel and an agent's reply, which
    // the simulator records as the message delivered.
    engine
        .ingest
        .submit(&event(&simulator, "hello simulator", clock.now()))
        .await
        .unwrap();
    drain(&engine).await;
    let user = store
        .messaging_user_by_key(simulator.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    let session = store.open_session(user.id).await.unwrap().unwrap();
    let entry = reply(&engine, session.id).await;
    drain(&engine).await;
    assert_eq!(
        store.entry(entry.id).await.unwrap().status,
        EntryStatus::Delivered
    );
    notes_and_tags(store, &engine, &session).await;
    campaign(store, &engine, &simulator).await;
    bot(store, &engine).await;
    outreach(store, &engine, &simulator).await;
    twilio_api(store).await;
    web_chat(store, &engine).await;
    board(store, &engine).await;
    search(store).await;
    // The router's round, once a second on every node whatever the traffic, with the campaign's
    // marketing sessions in the table.
    engine.router.route().await.unwrap();
    // Delivery's upkeep, which runs on every node whatever the traffic: the sweeps of unknown
    // outcomes (expiry, and sends left behind dead jobs), an SMPP receipt's lookup of a customer's
    // unknown messages when its id matches none, and the operator's list of dead letters.
    let sweep = engine.unknown_sweep();
    sweep.sweep().await.unwrap();
    sweep.orphans().await.unwrap();
    store
        .unknown_entries_of(channel.id, CUSTOMER, 10)
        .await
        .unwrap();
    store
        .list_dead_letters(None, parley_store::PageRequest::new(None, 50))
        .await
        .unwrap();
    // Reports (issue 15): the rollup's batches (every node, every 30 s, reading finished
    // sessions, consent changes and delivery errors from its cursors), and every report, which
    // read the rollups and the open sessions only.
    store
        .roll_up_reports(Timestamp(clock.now().millis() + 86_400_000), 100)
        .await
        .unwrap();
    let (from, to) = parley_engine::reports::last_days(clock.now(), 30);
    for kind in parley_core::reports::ReportKind::ALL {
        parley_engine::reports::run(
            store,
            kind,
            parley_core::reports::ReportFilter {
                from,
                to,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    // Webhook subscriptions: the sender's claim of due deliveries, on every node whatever the
    // traffic, and a subscription's deliveries newest first.
    let sub = store
        .create_webhook_subscription(
            &parley_store::SubscriptionSpec {
                name: "shop".into(),
                url: "http://127.0.0.1:9/hook".into(),
                event_types: vec!["message.received".into()],
                channel_ids: None,
                active: true,
            },
            "0123456789abcdef",
            clock.now(),
        )
        .await
        .unwrap();
    store
        .write_webhook_deliveries(
            &[parley_store::NewDelivery {
                subscription_id: sub.id,
                event_type: "message.received".into(),
                event_id: new_id(),
                payload: "{}".into(),
            }],
            clock.now(),
        )
        .await
        .unwrap();
    store
        .claim_webhook_deliveries(clock.now(), std::time::Duration::from_secs(60), 32)
        .await
        .unwrap();
    store
        .list_webhook_deliveries(sub.id, parley_store::PageRequest::new(None, 50))
        .await
        .unwrap();
    // The console's case picker: by number, by subject text, and the filtered list, each with a
    // cursor as the next page sends it.
    for q in [
        parley_store::CaseQuery {
            number: Some(1001),
            ..Default::default()
        },
        parley_store::CaseQuery {
            text: Some("parcel".into()),
            status: Some(parley_core::model::CaseStatus::New),
            ..Default::default()
        },
        parley_store::CaseQuery {
            contact_id: Some(new_id()),
            ..Default::default()
        },
    ] {
        for after in [None, Some(new_id())] {
            store
                .search_cases(&q, parley_store::PageRequest::new(after, 20))
                .await
                .unwrap();
        }
    }
    {
        let seen = seen.lock().unwrap();
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        assert!(
            seen.twilio_sends.len() >= 2,
            "the reply and the opt-out confirmation reached the provider: {:?}",
            seen.twilio_sends
        );
    }
    sender_limits(store, &channel).await;
    retention_and_audit(store, &channel).await;
    composer(store, &channel).await;
    // The feed writes in the background, woken by the engine's events: wait (bounded) until it
    // has recorded one.
    crate::until_event(
        &engine.events,
        "the feed recorded the messages' console events",
        || async {
            let recorded = recorder.0.lock().unwrap();
            recorded
                .iter()
                .any(|s| s.starts_with("INSERT INTO console_events"))
                .then_some(())
        },
    )
    .await;
    stop.send(true).unwrap();
    for task in feed {
        task.await.unwrap();
    }
    let recorded = recorder.0.lock().unwrap().clone();
    recorded.into_iter().filter(|s| has_plan(s)).collect()
}

/// The composer's statements (issue 15): an agent's upload written, found, served by its token and
/// marked sent; the customer's last message id for read receipts and typing.
async fn composer(store: &Store, channel: &Channel) {
    use parley_core::model::{ConsentSource, ConsentStatus, SessionStatus};
    let now = SystemClock.now();
    let user = store
        .create_messaging_user(
            &build::new_user(
                channel.id,
                "+14155550177",
                Some(ConsentStatus::ImplicitlyOptedIn),
            ),
            &build::origin(ConsentSource::Inbound, "plans"),
            now,
        )
        .await
        .unwrap();
    let session = store
        .create_session(
            &build::new_session(channel.id, user.id, SessionStatus::Active),
            now,
        )
        .await
        .unwrap();
    store.last_inbound_provider_id(session.id).await.unwrap();
    let media = parley_store::StoredMedia {
        id: new_id(),
        sha256: "00".repeat(32),
        content_type: "image/png".into(),
        size: 1,
        entry_id: None,
        created_at: now.millis(),
    };
    store.insert_media(&media).await.unwrap();
    let upload = parley_store::AgentUpload {
        media_id: media.id,
        session_id: session.id,
        agent_id: None,
        token: "ab".repeat(24),
        entry_id: None,
        created_at: now.millis(),
    };
    store.create_agent_upload(&upload).await.unwrap();
    store.agent_upload(media.id).await.unwrap();
    let entry = store
        .append_entry(
            &build::new_entry(
                session.id,
                parley_core::model::Direction::Outbound,
                Actor::Agent,
                "",
                EntryStatus::Queued,
            ),
            now,
        )
        .await
        .unwrap();
    assert!(store.set_upload_sent(media.id, entry.id).await.unwrap());
    store.sent_upload_by_token(&upload.token).await.unwrap();
}

/// The supervisor's board and pick-from-queue (issue 15): the overview describing each waiting
/// session (customer, channel, first message), an agent's open conversations, a pick list, a take
/// and an assignment refused because the session was taken.
async fn board(store: &Store, engine: &Engine) {
    use parley_core::model::{AgentRole, QueueAssignment};
    let now = SystemClock.now();
    let queue = store
        .create_queue(
            &parley_store::QueueSpec {
                assignment: QueueAssignment::Pick,
                ..build::queue_spec(&format!("picks-{}", new_id().simple()))
            },
            now,
        )
        .await
        .unwrap();
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: format!("picks-{}", new_id().simple()),
                address: "+14155550122".into(),
                queue_id: Some(queue.id),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    engine
        .ingest
        .submit(&event(&channel, "a pick, please", now))
        .await
        .unwrap();
    drain(engine).await;
    engine.router.route().await.unwrap();
    let agent = store
        .create_agent(
            &build::agent_spec("Pia", AgentRole::Agent, 2, vec![queue.id]),
            now,
        )
        .await
        .unwrap();
    engine.desk.overview().await.unwrap();
    let list = engine.desk.pick_list(&agent).await.unwrap();
    let session = list.queues[0]
        .waiting
        .first()
        .expect("the pick queue's session is listed")
        .session_id;
    engine.desk.take(&agent, session).await.unwrap();
    engine.desk.agent_desk(agent.id).await.unwrap();
    assert!(engine.desk.assign(session, agent.id, true).await.is_err());
}

/// Sender limits' per-batch statements the pipelines above may not reach (a WhatsApp sender's
/// reach, held messages): the reach lookup and upsert, the usage sums, the hold list.
async fn sender_limits(store: &Store, channel: &Channel) {
    let now = SystemClock.now();
    let user = new_id();
    let mut charges = parley_store::sender_limits::SenderCharges::default();
    charges.charge(channel.id, Some(user), now);
    charges.charge(channel.id, Some(new_id()), now);
    store
        .commit_outbox_with(&[], &[], &charges, "plans", now)
        .await
        .unwrap();
    store
        .reached_since(
            channel.id,
            &[user, new_id()],
            now.minus(std::time::Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    store.sender_usage(channel.id, now, true).await.unwrap();
    store.sender_holds(Some(channel.id)).await.unwrap();
    store.sender_hold(new_id()).await.unwrap();
}

/// The retention worker's reads and deletes by time (issue 16 part 4), each per channel or for
/// rows of no channel, and the audit log's writes and reads (part 6): every one through an index.
async fn retention_and_audit(store: &Store, channel: &Channel) {
    use parley_core::privacy::retention::Scope;
    let now = SystemClock.now();
    for scope in [Scope::Channel(channel.id), Scope::Unassigned] {
        store
            .delete_error_logs_before(scope, now, 500)
            .await
            .unwrap();
        store.retention_media_due(scope, now, 500).await.unwrap();
    }
    store.delete_dead_letters_before(now, 500).await.unwrap();
    store
        .delete_link_clicks_before(channel.id, now, 500)
        .await
        .unwrap();
    store
        .sessions_with_transcript_due(channel.id, now, 50)
        .await
        .unwrap();
    store
        .closed_sessions_due(channel.id, now, 50)
        .await
        .unwrap();
    store.session_media(new_id()).await.unwrap();
    store
        .delete_session_transcript(new_id(), 500, now)
        .await
        .unwrap();
    store.delete_closed_session(new_id()).await.unwrap();
    store
        .delete_media_rows(&[(new_id(), "0".repeat(64))])
        .await
        .unwrap();
    let actor = parley_core::audit::AuditActor::Agent { id: new_id() };
    parley_engine::audit::conversation_opened(store, actor, "session", new_id(), json!({}), now)
        .await
        .unwrap();
    store
        .agent_owns_user_session(new_id(), new_id())
        .await
        .unwrap();
    for filter in [
        parley_store::AuditFilter {
            actor_id: actor.id(),
            before: Some(new_id()),
            ..Default::default()
        },
        parley_store::AuditFilter {
            action: Some("conversation_opened".into()),
            ..Default::default()
        },
        parley_store::AuditFilter {
            resource_kind: Some("session".into()),
            resource_id: Some(new_id().to_string()),
            ..Default::default()
        },
    ] {
        store.list_audit_entries(&filter, 50).await.unwrap();
    }
}

async fn pipeline_queries_use_indexes(b: TestBackend) {
    if std::env::var_os(CHILD).is_none() {
        let name = match b {
            TestBackend::Sqlite => "plans::sqlite::pipeline_queries_use_indexes",
            TestBackend::Postgres => "plans::postgres::pipeline_queries_use_indexes",
        };
        let out = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
        return;
    }

    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .unwrap();
    let db = fresh(b).await;
    let statements = record_pipelines(&db.store, &recorder).await;
    assert!(
        statements.len() >= 10,
        "sqlx's statement log was recorded: {statements:?}"
    );

    // The check itself can fail: a lookup by a column no index leads with is a scan on both.
    // An aliased table too, as SQLite's plans name it by its alias.
    for unindexed in [
        "SELECT * FROM sessions WHERE context = $1",
        "SELECT e.id FROM entries e WHERE e.body = $1",
    ] {
        let probe = query_plans(&db.store, &[unindexed.to_owned()]).await;
        let probe_plan = probe[0].1.as_ref().unwrap();
        assert!(
            !full_scans(unindexed, probe_plan).is_empty(),
            "a scan is detected: {unindexed} {probe_plan:?}"
        );
    }

    let mut failures = Vec::new();
    let mut untyped = Vec::new();
    for (sql, plan) in query_plans(&db.store, &statements).await {
        let plan = match plan {
            Ok(p) => p,
            // Seldom (a few runs in a hundred), the pool's connection that prepared a statement is
            // gone before its types are read, and a statement such as `$1 IS NULL OR ...` cannot
            // be prepared without them. The same statement is checked on SQLite, and on
            // PostgreSQL in the other runs; it is listed, not failed.
            Err(e) if e.starts_with(parley_store::testing::UNTYPED) => {
                untyped.push(sql);
                continue;
            }
            Err(e) => {
                failures.push(format!("{sql}\n  cannot be explained: {e}"));
                continue;
            }
        };
        let scans = full_scans(&sql, &plan);
        let allowed = ALLOWED.iter().any(|(part, _)| sql.contains(part));
        println!(
            "{}{sql}\n  {}",
            if allowed { "[allowed] " } else { "" },
            plan.join("\n  ")
        );
        if !scans.is_empty() && !allowed {
            failures.push(format!(
                "{sql}\n  scans {}\n  plan:\n  {}",
                scans.join(", "),
                plan.join("\n  ")
            ));
        }
    }
    if !untyped.is_empty() {
        println!("not explained this run, parameter types unknown: {untyped:#?}");
    }
    assert!(
        untyped.len() * 10 <= statements.len(),
        "most statements' parameter types were found: {untyped:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} pipeline statements scan a large table or cannot be explained:\n\n{}",
        failures.len(),
        statements.len(),
        failures.join("\n\n")
    );
}

parley_store::on_both_backends!(pipeline_queries_use_indexes);
