//! The inbound pipeline: one provider event at a time, each stage a named function.
//!
//! ```text
//! webhook -> verify -> parse -> persist (a job, deduplicated by provider message id)
//!   -> identify (program, messaging user, contact) -> keywords_and_consent (and the HELP hand-off)
//!   -> context -> session -> [flows and bots, before routing] -> route
//!   -> write_plans (entry, auto-responses, timer) -> commit (one transaction per batch) -> notify
//! ```
//!
//! Each stage returns a plan (`Identified`, `ConsentPlan`, `SessionPlan`) that the next
//! stage or the writer consumes; a flow or bot stage takes its place between `session` and
//! `route` in `Inbound::decide`. Each message runs in an `inbound.message` span (job, channel,
//! messaging user, entry and session ids) with a child span per stage.
//!
//! The webhook's part ends once the event is a job row, so the provider gets its answer fast and a
//! crash loses nothing; a provider retry of the same message id finds the job's dedupe key taken.
//! The rest runs here, in batches claimed from the `inbound` queue. The decisions are
//! `parley-core`'s; this module gathers their inputs, turns their outputs into rows, and writes a
//! whole batch in one transaction. Messages of one customer inside a batch are decided in order,
//! each seeing what the previous one changed.

use std::collections::HashMap;
use std::sync::Arc;

use parley_core::consent::{ConsentDecision, InboundConsent, SendPurpose, decide_inbound};
use parley_core::dead_letter::DeadLetterReason;
use parley_core::keyword_process::{
    SmsProcess, bare_help, might_be_process_keyword, resolve as resolve_keyword,
};
use parley_core::keywords::{KeywordMatch, Language, ResponseKind};
use parley_core::model::{
    Actor, ChannelKind, ConsentStatus, Direction, EntryStatus, NumberType, OwnerKind,
    SessionContext, SessionStatus,
};
use parley_core::session::{
    FailurePlan, Handoff, InboundKind, InboundMessage, InboundPlan, PriorSession, decide_handoff,
    next_deadline, plan_failure, plan_inbound,
};
use parley_core::{Clock, E164, Timestamp, new_id};
use parley_store::{
    CaseInsert, Channel, ConsentWrite, ContactInsert, ContactLink, DeadLetterWrite, Entry,
    InboundWrite, Job, ReplyKind, ReplyWrite, Session, Store, StoreError, UserInsert,
};
use tokio::sync::Notify;
use tracing::{Instrument as _, field};
use uuid::Uuid;

use crate::channel_rules::{ChannelRules, RulesError};
use crate::events::{DomainEvent, EventBus};
use crate::flow_runs::{FlowCatalog, FlowUseError, held_by_flow, start_run};
use crate::jobs::{self, Queue};
use crate::runner::JobOutcome;
use crate::sensitive_data::{SensitiveRules, blocked_entry, blocked_entry_before, mask_with};
use parley_core::privacy::rules::RuleAuthor;

/// The mark [`crate::ingest`] leaves in a job whose text a rule changed.
#[derive(serde::Deserialize)]
struct BlockMark {
    #[serde(default, rename = "sensitive_data_blocked")]
    blocked: bool,
}

/// An automatic reply's text with the rules applied for author `bot`, and the transcript's note
/// when a rule changed it.
fn masked_reply(
    rules: &[parley_core::privacy::rules::CompiledRule],
    channel_id: Uuid,
    session_id: Uuid,
    text: String,
    now: Timestamp,
) -> (String, Option<Entry>) {
    let m = mask_with(rules, channel_id, RuleAuthor::Bot, &text);
    if m.blocked.is_empty() {
        (text, None)
    } else {
        (
            m.text,
            Some(blocked_entry(session_id, RuleAuthor::Bot, now)),
        )
    }
}
use parley_core::crm::MatchDecision;

pub use crate::jobs::InboundEvent;
pub use crate::session_rows::{SessionOf, new_session_row, row_of, state_of};

pub const QUEUE: &str = Queue::Inbound.as_str();
pub const KIND: &str = jobs::JobKind::InboundMessage.as_str();

/// What processing one message produced, for events and tests.
#[derive(Debug, Clone)]
struct Processed {
    write: InboundWrite,
    events: Vec<DomainEvent>,
}

/// The inbound pipeline's worker side.
#[derive(Clone)]
pub struct Inbound {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    outbound_wake: Option<Arc<Notify>>,
    flows: FlowCatalog,
    flow_wake: Option<Arc<Notify>>,
    sensitive: Option<SensitiveRules>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
enum StageError {
    /// Will never succeed (a malformed event, a channel that no longer exists): kept in an Error
    /// session when the customer can be identified, otherwise dead-lettered with the reason.
    #[error("{1}")]
    Permanent(DeadLetterReason, String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// What a batch reads once and reuses across its messages.
#[derive(Default)]
struct BatchCache {
    rules: HashMap<Uuid, Arc<ChannelRules>>,
    customers: HashMap<(Uuid, String), Customer>,
    /// Keys looked up and not found: new customers, created without asking again.
    unknown: std::collections::HashSet<(Uuid, String)>,
    /// Phone numbers looked up among contacts, with the oldest contact found.
    contacts: HashMap<String, Option<Uuid>>,
    processes: HashMap<String, Vec<SmsProcess>>,
    /// Error sessions this batch recorded, per messaging user: not in the database yet, but a
    /// repeat of the same failure must find them.
    failed: HashMap<Uuid, Vec<Session>>,
    /// The sensitive-data rules for the batch's automatic replies, read once per batch.
    sensitive: Arc<Vec<parley_core::privacy::rules::CompiledRule>>,
}

/// A customer as this batch knows them: read from the store once, then updated in memory by each
/// message the batch decides.
#[derive(Debug, Clone)]
struct Customer {
    user_id: Uuid,
    consent: Option<ConsentStatus>,
    locale: Option<String>,
    contact_id: Option<Uuid>,
    conversation_id: Option<Uuid>,
    open: Option<Session>,
    /// Whether linking to a contact was already tried in this batch.
    link_checked: bool,
}

/// The identify stage's plan: the channel (program) the message is for, and its customer.
struct Identified {
    rules: Arc<ChannelRules>,
    key: String,
    customer: Customer,
    /// The rows identifying the customer adds (a messaging user, a contact, a link to one); the
    /// routing stage adds the hand-off's case.
    rows: InboundWrite,
}

/// The keywords-and-consent stage's plan.
struct ConsentPlan {
    decision: ConsentDecision,
    /// The HELP hand-off, on a channel that opens a case for HELP.
    handoff: Option<Handoff>,
    /// What the message is to the session rules.
    kind: InboundKind,
    /// The id the customer's entry gets (the consent history points at it).
    entry_id: Uuid,
}

/// The session stage's plan (and, once routed, the routing stage's).
struct SessionPlan {
    /// The open session the message ended, when it opened another.
    ended: Option<Session>,
    /// The session the message lands in, as it is written.
    landed: Session,
    is_new: bool,
    needs_routing: bool,
}

/// Stage: the context (service or marketing) a new session of the message opens in: the
/// channel's default context.
fn context(rules: &ChannelRules) -> SessionContext {
    rules.behaviour.default_context
}

/// The writer: the rows and events of one message from its stages' plans (the customer's
/// entry, its files' fetch, the auto-responses in the order consent and hand-off decided, the
/// session's next timer), and the batch's view of the customer for the next message.
fn write_plans(
    event: &InboundEvent,
    who: Identified,
    consent: ConsentPlan,
    session: SessionPlan,
    now: Timestamp,
    cache: &mut BatchCache,
) -> Processed {
    let Identified {
        rules,
        key,
        mut customer,
        rows: mut write,
    } = who;
    let mut events = Vec::new();
    let entry_id = consent.entry_id;
    if let Some(change) = &consent.decision.change {
        write.consent = Some(ConsentWrite {
            messaging_user_id: customer.user_id,
            from: change.from,
            to: change.to,
            source: change.source,
            reason: change.reason.to_string(),
            entry_id: Some(entry_id),
        });
        customer.consent = Some(change.to);
        events.push(DomainEvent::ConsentChanged {
            messaging_user_id: customer.user_id,
        });
    }
    if let Some(ended) = session.ended {
        events.push(DomainEvent::SessionChanged {
            session_id: ended.id,
        });
        write.sessions.push(ended);
    }
    let landed = session.landed;

    write.reply = Some(ReplyWrite {
        messaging_user_id: customer.user_id,
        channel_id: rules.channel.id,
        address: key.clone(),
        kind: match consent.kind {
            InboundKind::OptOut => ReplyKind::OptOut,
            InboundKind::Handoff => ReplyKind::Help,
            _ => ReplyKind::Reply,
        },
        at: now,
        since: now.minus(crate::campaigns::ATTRIBUTION_WINDOW),
        whatsapp: rules.channel.kind == ChannelKind::Whatsapp,
    });
    write
        .entries
        .push(inbound_entry(event, entry_id, landed.id, None, now));
    // The files are fetched in the background, never in the webhook (see `crate::media`).
    if !event.media.is_empty() {
        write.jobs.push(jobs::fetch_job(entry_id, now));
    }
    let mut responses: Vec<(ResponseKind, String)> = consent
        .decision
        .responses
        .iter()
        .map(|r| (r.kind, r.text.clone()))
        .collect();
    if let Some(reply) = consent.handoff.as_ref().and_then(|h| h.reply.clone()) {
        responses.push((ResponseKind::HandoffReply, reply));
    }
    for (i, (kind, text)) in responses.into_iter().enumerate() {
        let (text, note) = masked_reply(&cache.sensitive, rules.channel.id, landed.id, text, now);
        write.entries.extend(note);
        let entry = jobs::auto_response_entry(landed.id, text, now);
        let priority_offset = i64::try_from(i).unwrap_or(0);
        write.jobs.push(jobs::send_job(
            entry.id,
            SendPurpose::AutoResponse { kind },
            jobs::REPLY_PRIORITY - priority_offset,
            now,
        ));
        write.entries.push(entry);
    }
    if let Some(deadline) = next_deadline(&state_of(&landed), &rules.behaviour.session_policy) {
        write.jobs.push(jobs::timer_job(landed.id, deadline));
    }

    events.push(if session.is_new {
        DomainEvent::SessionOpened {
            session_id: landed.id,
        }
    } else {
        DomainEvent::SessionChanged {
            session_id: landed.id,
        }
    });
    events.push(DomainEvent::MessageReceived {
        session_id: landed.id,
        entry_id,
    });

    if session.is_new
        && let Some(web) = &event.web
    {
        write.web_session = Some(parley_store::WebSessionWrite {
            session_id: landed.id,
            deployment_id: web.deployment_id,
            visitor_id: web.visitor_id,
            prechat: web.prechat.clone(),
            page_url: web.page_url.clone(),
            identity: web.identity.clone(),
            user_agent: web.user_agent.clone(),
        });
    }
    customer.open = landed.status.is_open().then(|| landed.clone());
    write.sessions.push(landed);
    cache.customers.insert((rules.channel.id, key), customer);
    Processed { write, events }
}

impl Inbound {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            store,
            clock,
            events,
            outbound_wake: None,
            flows: FlowCatalog::default(),
            flow_wake: None,
            sensitive: None,
        }
    }

    /// Masks the automatic replies with these rules (customer text is masked at the door,
    /// [`crate::ingest`]).
    pub fn with_sensitive(mut self, rules: SensitiveRules) -> Self {
        self.sensitive = Some(rules);
        self
    }

    /// Shares the engine's parsed flows, and wakes its flow runners when a message went to a flow.
    pub fn with_flows(mut self, flows: FlowCatalog, wake: Arc<Notify>) -> Self {
        self.flows = flows;
        self.flow_wake = Some(wake);
        self
    }

    /// Wakes the outbound dispatcher when auto-responses were queued.
    pub fn with_outbound_wake(mut self, wake: Arc<Notify>) -> Self {
        self.outbound_wake = Some(wake);
        self
    }

    /// Processes a claimed batch: decides every message in order, then commits them all at once.
    ///
    /// A message that cannot be processed ends one of three ways, never dropped in silence: in an
    /// Error session (the customer is known: SE-08); as a dead letter at once when retrying
    /// cannot help (see [`parley_core::dead_letter`]); or retried, becoming a dead letter only on
    /// its last attempt, when the database failed. Dead letters are written here, with their
    /// reason, and left out of the outcomes (the runner's contract for jobs a handler settles).
    pub async fn process_batch(&self, jobs: Vec<Job>) -> Vec<(Uuid, JobOutcome)> {
        let mut cache = BatchCache::default();
        let mut fate = Fate::default();
        let mut decided: Vec<Decided> = Vec::with_capacity(jobs.len());
        let mut parsed = Vec::with_capacity(jobs.len());
        let mut blocked_jobs = std::collections::HashSet::new();
        // One runner claimed the whole batch, so one worker holds every job of it.
        let worker = jobs
            .iter()
            .find_map(|j| j.leased_by.clone())
            .unwrap_or_default();
        for job in jobs {
            if jobs::is_last_attempt(&job) {
                fate.last.insert(job.id);
            }
            if serde_json::from_str::<BlockMark>(&job.payload).is_ok_and(|m| m.blocked) {
                blocked_jobs.insert(job.id);
            }
            match serde_json::from_str::<InboundEvent>(&job.payload) {
                // Events queued before text was cleaned at the door are cleaned here.
                Ok(e) => parsed.push((job.id, e.storable())),
                Err(e) => fate.bury(
                    job.id,
                    DeadLetterReason::Malformed,
                    format!("malformed inbound event: {e}"),
                    None,
                ),
            }
        }
        let read = match &self.sensitive {
            Some(s) => s.current(&self.store).await.map(|r| cache.sensitive = r),
            None => Ok(()),
        };
        if let Err(e) = match read {
            Ok(()) => self.prefetch(&parsed, &mut cache).await,
            Err(e) => Err(e),
        } {
            tracing::warn!(error = %e, "inbound batch could not be read; it will be retried");
            let channels: HashMap<Uuid, Uuid> =
                parsed.iter().map(|(id, e)| (*id, e.channel_id)).collect();
            fate.retry_all(parsed.iter().map(|(id, _)| *id), &e.to_string(), &channels);
            return self.settle(&worker, fate).await;
        }
        let channels: HashMap<Uuid, Uuid> =
            parsed.iter().map(|(id, e)| (*id, e.channel_id)).collect();
        let mut remaining = parsed.into_iter();
        while let Some((job_id, event)) = remaining.next() {
            let span = tracing::debug_span!(
                "inbound.message",
                job_id = %job_id,
                channel_id = %event.channel_id,
                messaging_user_id = field::Empty,
                session_id = field::Empty,
                entry_id = field::Empty,
            );
            let failed = match self.decide(&event, &mut cache).instrument(span).await {
                Ok(mut p) => {
                    if blocked_jobs.contains(&job_id)
                        && let Some(note) = p
                            .write
                            .entries
                            .iter()
                            .find(|e| e.direction == Direction::Inbound)
                            .map(|e| blocked_entry_before(e, RuleAuthor::Customer))
                    {
                        p.write.entries.push(note);
                    }
                    decided.push((job_id, p.write, p.events));
                    None
                }
                Err(StageError::Permanent(reason, m)) => {
                    match self.record_failure(&event, &m, &mut cache).await {
                        // The message is kept in an Error session with its reason (SE-08).
                        Ok(Some(write)) => {
                            let events = vec![DomainEvent::SessionChanged {
                                session_id: write.sessions.last().map_or(Uuid::nil(), |s| s.id),
                            }];
                            decided.push((job_id, write, events));
                            None
                        }
                        Ok(None) => {
                            fate.bury(job_id, reason, m, Some(event.channel_id));
                            None
                        }
                        Err(e) => Some(e),
                    }
                }
                Err(StageError::Rules(RulesError::Store(e)) | StageError::Store(e)) => Some(e),
                Err(StageError::Rules(e)) => {
                    fate.bury(
                        job_id,
                        DeadLetterReason::ChannelUnavailable,
                        format!("channel configuration: {e}"),
                        Some(event.channel_id),
                    );
                    None
                }
            };
            if let Some(e) = failed {
                // The batch's reads failed: nothing was written, so every message can retry.
                let rest = remaining.map(|(id, _)| id);
                let ids = decided.iter().map(|d| d.0).chain([job_id]).chain(rest);
                fate.retry_all(ids, &e.to_string(), &channels);
                return self.settle(&worker, fate).await;
            }
        }
        self.commit(&worker, decided, &mut fate, &channels).await;
        self.settle(&worker, fate).await
    }

    /// Writes the decided messages in one transaction, which also completes their jobs. When the
    /// database refuses the batch (a value it does not take), the messages are written one by one
    /// until the one it refuses is found: that one is dead-lettered, those before it are kept,
    /// those after it are decided again in a later batch (they may have counted on it).
    async fn commit(
        &self,
        worker: &str,
        decided: Vec<Decided>,
        fate: &mut Fate,
        channels: &HashMap<Uuid, Uuid>,
    ) {
        if decided.is_empty() {
            return;
        }
        let n = decided.len();
        let (mut ids, mut writes, mut events) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (id, write, e) in decided {
            ids.push(id);
            writes.push(write);
            events.push(e);
        }
        let result = self
            .store
            .commit_inbound(&writes, &ids, worker, self.clock.now())
            .await;
        match result {
            Ok(()) => self.committed(&ids, &writes, events, fate),
            Err(e) if e.is_refusal() => {
                tracing::warn!(error = %e, n, "inbound batch refused; writing it message by message");
                let mut rest = ids.iter().zip(&writes).zip(events);
                while let Some(((id, write), events)) = rest.next() {
                    let one = std::slice::from_ref(write);
                    match self
                        .store
                        .commit_inbound(one, &[*id], worker, self.clock.now())
                        .await
                    {
                        Ok(()) => self.committed(&[*id], one, vec![events], fate),
                        Err(e) => {
                            let error = e.to_string();
                            if e.is_refusal() {
                                let channel = channels.get(id).copied();
                                fate.bury(
                                    *id,
                                    DeadLetterReason::DatabaseRefused,
                                    error.clone(),
                                    channel,
                                );
                            } else {
                                fate.retry_all([*id], &error, channels);
                            }
                            for ((id, _), _) in rest.by_ref() {
                                fate.outcomes.push((*id, JobOutcome::Retry(error.clone())));
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "inbound batch not committed; it will be retried");
                fate.retry_all(ids, &e.to_string(), channels);
            }
        }
    }

    /// After a commit: the messages' events go out, the dispatcher is woken for their replies.
    fn committed(
        &self,
        ids: &[Uuid],
        writes: &[InboundWrite],
        events: Vec<Vec<DomainEvent>>,
        fate: &mut Fate,
    ) {
        let sent_any = writes
            .iter()
            .any(|w| w.jobs.iter().any(|j| j.queue == Queue::Outbound.as_str()));
        for e in events.into_iter().flatten() {
            self.events.publish(e);
        }
        // A HELP hand-off opened a case (webhook subscriptions report `case.opened`).
        for case in writes.iter().filter_map(|w| w.case.as_ref()) {
            self.events
                .publish(DomainEvent::CaseChanged { case_id: case.id });
        }
        if sent_any && let Some(w) = &self.outbound_wake {
            w.notify_one();
        }
        let to_flows = writes
            .iter()
            .any(|w| w.jobs.iter().any(|j| j.queue == Queue::Flows.as_str()));
        if to_flows && let Some(w) = &self.flow_wake {
            w.notify_one();
        }
        metrics::counter!("parley_inbound_messages_total").increment(ids.len() as u64);
        fate.outcomes
            .extend(ids.iter().map(|id| (*id, JobOutcome::Done)));
    }

    /// Writes the batch's dead letters (each counted by reason and logged at warn) and returns
    /// the outcomes for the runner to record. When the dead letters cannot be written either,
    /// their jobs are retried, and decided again, rather than left to die without their reason.
    async fn settle(&self, worker: &str, fate: Fate) -> Vec<(Uuid, JobOutcome)> {
        let Fate {
            mut outcomes, dead, ..
        } = fate;
        if dead.is_empty() {
            return outcomes;
        }
        let letters: Vec<DeadLetterWrite> = dead.iter().map(|(l, _)| l.clone()).collect();
        match self
            .store
            .dead_letter_jobs(worker, &letters, self.clock.now())
            .await
        {
            Ok(_) => {
                for (l, channel) in dead {
                    metrics::counter!("parley_inbound_dead_letters_total", "reason" => l.reason.as_str())
                        .increment(1);
                    tracing::warn!(
                        job_id = %l.id,
                        channel_id = channel.map(|c| c.to_string()),
                        reason = %l.reason,
                        detail = %l.detail,
                        "inbound message dead-lettered"
                    );
                }
            }
            Err(e) => {
                tracing::error!(error = %e, n = letters.len(), "dead letters not written; their messages will be retried");
                outcomes.extend(
                    letters
                        .into_iter()
                        .map(|l| (l.id, JobOutcome::Retry(l.detail))),
                );
            }
        }
        outcomes
    }

    /// One message through the stages of the pipeline (DESIGN.md section 3). Each stage reads
    /// the plans of the stages before it and returns its own; [`write_plans`] turns them into
    /// the rows and events of the message.
    async fn decide(
        &self,
        event: &InboundEvent,
        cache: &mut BatchCache,
    ) -> Result<Processed, StageError> {
        let now = self.clock.now();
        // The message's span (see `process_batch`) gets the ids as the stages find them.
        let span = tracing::Span::current();
        let mut who = self.identify(event, cache).await?;
        span.record("channel_id", field::display(who.rules.channel.id));
        span.record("messaging_user_id", field::display(who.customer.user_id));
        let consent = self
            .keywords_and_consent(&who, event, &mut cache.processes, now)
            .await?;
        span.record("entry_id", field::display(consent.entry_id));
        let context = context(&who.rules);
        let session = self.session(&mut who, &consent, context, now).await?;
        span.record("session_id", field::display(session.landed.id));
        // Compliance keywords have been decided above, so they pre-empt any bot.
        let session = self
            .flows_and_replies(&mut who, &consent, event, session, now)
            .await?;
        let session = self.route(&mut who, &consent, session).await?;
        Ok(write_plans(event, who, consent, session, now, cache))
    }

    /// Stage: the channel (program) the message is for and the customer who wrote it: their
    /// messaging user, found or created (MU-01), and their contact, linked if the channel's rule
    /// says so.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn identify(
        &self,
        event: &InboundEvent,
        cache: &mut BatchCache,
    ) -> Result<Identified, StageError> {
        let rules = self.resolve_program(event, &mut cache.rules).await?;
        let channel = &rules.channel;
        let key = platform_key(channel.kind, &event.from)?;
        let mut rows = InboundWrite::default();
        let mut customer = match cache.customers.get(&(channel.id, key.clone())) {
            Some(c) => c.clone(),
            None => {
                self.find_or_create_user(&rules, &key, event, &mut rows, cache)
                    .await?
            }
        };
        if customer.contact_id.is_none() && !customer.link_checked {
            customer.link_checked = true;
            if let Some(contact) = self.link(&rules, &key, &mut rows, cache).await? {
                customer.contact_id = Some(contact);
                match rows.user.as_mut() {
                    Some(u) => u.contact_id = Some(contact),
                    None => {
                        rows.link = Some(ContactLink {
                            messaging_user_id: customer.user_id,
                            contact_id: contact,
                        })
                    }
                }
            }
        }
        Ok(Identified {
            rules,
            key,
            customer,
            rows,
        })
    }

    /// Stage: keywords and consent. Keywords pre-empt any session or bot: the number's started
    /// SMS keyword processes answer theirs first, the channel's compliance keywords the rest
    /// (`keyword_process::resolve`). The HELP hand-off is decided here too, since it answers a
    /// keyword.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn keywords_and_consent(
        &self,
        who: &Identified,
        event: &InboundEvent,
        processes: &mut HashMap<String, Vec<SmsProcess>>,
        now: Timestamp,
    ) -> Result<ConsentPlan, StageError> {
        let rules = &who.rules;
        let number = &rules.channel.address;
        let processes = if might_be_process_keyword(&rules.profile, &event.text) {
            self.processes_of(number, processes).await?
        } else {
            &[]
        };
        let matched: Option<KeywordMatch> = resolve_keyword(
            processes,
            number,
            &event.text,
            &rules.keywords,
            &rules.profile,
        )
        .map(|h| h.into_keyword_match(&rules.keywords.default_language));
        let locale = who.customer.locale.as_deref().map(Language::new);
        let decision = decide_inbound(&InboundConsent {
            current: who.customer.consent,
            required_level: rules.channel.consent_level,
            keyword: matched.as_ref(),
            keywords: &rules.keywords,
            locale: locale.as_ref(),
        });
        // A conversation a bot holds is not with a person: HELP there hands over like anywhere
        // else (CMP-14), so the rule sees no open session.
        let handoff = decide_handoff(
            who.customer
                .open
                .as_ref()
                .filter(|s| s.owner_kind != Some(OwnerKind::Bot))
                .map(|s| s.status),
            rules.behaviour.case_handoff.as_ref(),
            matched.as_ref(),
            &decision,
            now,
            &rules.behaviour.session_policy,
        );
        let kind = InboundKind::classify(&decision, handoff.as_ref());
        Ok(ConsentPlan {
            decision,
            handoff,
            kind,
            entry_id: new_id(),
        })
    }

    /// Stage: the session the message lands in: the open one reused, or replaced, or a new one
    /// in the customer's conversation, as the session rules decide.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn session(
        &self,
        who: &mut Identified,
        consent: &ConsentPlan,
        context: SessionContext,
        now: Timestamp,
    ) -> Result<SessionPlan, StageError> {
        let rules = &who.rules;
        let customer = &mut who.customer;
        let open_state = customer.open.as_ref().map(state_of);
        let owner_available = match customer.open.as_ref() {
            Some(s) => self.owner_available(s).await?,
            None => false,
        };
        let plan = plan_inbound(
            open_state.as_ref(),
            &InboundMessage {
                at: now,
                kind: consent.kind,
                context,
                owner_available,
            },
            &rules.behaviour.session_policy,
        )
        .map_err(|e| {
            StageError::Permanent(
                DeadLetterReason::Other,
                format!("session rules refused the message: {e}"),
            )
        })?;
        let conversation_id = *customer.conversation_id.get_or_insert_with(new_id);
        let of = SessionOf {
            channel_id: rules.channel.id,
            messaging_user_id: customer.user_id,
            conversation_id,
        };
        let new_row = |state| new_session_row(state, of);
        let (ended, landed) = match (&plan, customer.open.take()) {
            (InboundPlan::Reuse(t), Some(open)) => (None, row_of(&open, &t.state)),
            (InboundPlan::Replace { ended, opened }, Some(open)) => {
                (Some(row_of(&open, &ended.state)), new_row(opened))
            }
            (InboundPlan::Open(opened), _) | (InboundPlan::Replace { opened, .. }, None) => {
                (None, new_row(opened))
            }
            (InboundPlan::Reuse(t), None) => (None, new_row(&t.state)),
        };
        Ok(SessionPlan {
            ended,
            landed,
            is_new: !matches!(plan, InboundPlan::Reuse(_)),
            needs_routing: plan.needs_routing(),
        })
    }

    /// Stage: flows and bots, before routing. A reply in a conversation a flow holds goes to
    /// the flow; a new conversation may be taken by one (a marketing keyword, the after-hours
    /// flow, the marketing journey, the channel's bot, in that order), which then owns it; one
    /// left for people gets the acknowledgment (or the after-hours reply), CO-20.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn flows_and_replies(
        &self,
        who: &mut Identified,
        consent: &ConsentPlan,
        event: &InboundEvent,
        mut session: SessionPlan,
        now: Timestamp,
    ) -> Result<SessionPlan, StageError> {
        if consent.kind == InboundKind::Handoff
            && !session.is_new
            && session.landed.status == SessionStatus::Active
            && session.landed.owner_kind == Some(OwnerKind::Bot)
        {
            return self.help_takes_over(who, session, now).await;
        }
        if consent.kind != InboundKind::Inquiry {
            return Ok(session);
        }
        let landed = &session.landed;
        if !session.is_new
            && landed.status == SessionStatus::Active
            && landed.owner_kind == Some(OwnerKind::Bot)
        {
            who.rows.jobs.push(jobs::flow_job(
                &jobs::FlowJob {
                    session_id: landed.id,
                    event: jobs::FlowJobEvent::Reply {
                        entry_id: consent.entry_id,
                        text: event.text.clone(),
                        choice: event.choice.clone(),
                    },
                },
                now,
            ));
            return Ok(session);
        }
        if !session.needs_routing {
            return Ok(session);
        }
        let rules = who.rules.clone();
        let behaviour = &rules.behaviour;
        let flows = &behaviour.flows;
        let open = behaviour
            .business_hours
            .as_ref()
            .is_none_or(|h| h.is_open(now));
        let triggers = parley_core::flow::ChannelFlows {
            keywords: &flows.keywords,
            allow_reserved_keywords: flows.allow_reserved_keywords,
            default_context: behaviour.default_context,
            after_hours: flows.after_hours.as_deref(),
            journey: flows.journey.as_deref(),
            bot: flows.bot.as_deref(),
        };
        let keyword = triggers.keyword(&event.text);
        // A reply to a campaign with a reply flow (a journey) is the journey's (one indexed read,
        // for new conversations only).
        let campaign = match keyword {
            Some(_) => None,
            None => {
                self.store
                    .campaign_reply_flow(
                        who.customer.user_id,
                        now.minus(crate::campaigns::ATTRIBUTION_WINDOW),
                    )
                    .await?
            }
        };
        let chosen = triggers.choose(keyword, campaign.as_deref(), open, landed.context);
        if let Some((name, trigger)) = chosen {
            match self.flows.current(&self.store, name).await {
                Ok((flow, definition)) => {
                    if let Some(mut held) = held_by_flow(landed, flow.id, now) {
                        held.context = flow.context;
                        // The widget's pre-chat values are the run's first fields (WEB-12).
                        let fields = event
                            .web
                            .as_ref()
                            .map(|w| w.prechat.clone())
                            .unwrap_or_default();
                        let start = start_run(&flow, &definition, held.id, trigger, fields, now);
                        who.rows.flow_runs.push(start.run);
                        who.rows.jobs.push(start.job);
                        session.landed = held;
                        session.needs_routing = false;
                        return Ok(session);
                    }
                }
                Err(FlowUseError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    // A person answers rather than nobody; the channel's settings name a flow
                    // that cannot run, which the log says.
                    tracing::warn!(channel_id = %rules.channel.id, error = %e, "the channel's flow cannot start");
                }
            }
        }
        let reply = if open {
            &behaviour.auto_replies.acknowledgment
        } else {
            &behaviour.auto_replies.after_hours
        };
        if let Some(text) = behaviour.auto_reply(reply, who.customer.locale.as_deref()) {
            let (text, note) = match &self.sensitive {
                Some(s) => {
                    let snapshot = s.current(&self.store).await?;
                    masked_reply(&snapshot, rules.channel.id, landed.id, text.to_owned(), now)
                }
                None => (text.to_owned(), None),
            };
            who.rows.entries.extend(note);
            let entry = jobs::auto_response_entry(landed.id, text, now);
            let session_opt_in = parley_core::session::session_opt_in_valid(
                &state_of(landed),
                now,
                &behaviour.session_policy,
            );
            // After the consent answers of the same message (their priorities are above).
            who.rows.jobs.push(jobs::send_job(
                entry.id,
                SendPurpose::Conversation { session_opt_in },
                jobs::REPLY_PRIORITY - 16,
                now,
            ));
            who.rows.entries.push(entry);
        }
        Ok(session)
    }

    /// HELP in a conversation a flow holds, on a channel that hands HELP to people: people take
    /// it over, in service (CMP-14), and the flow's run ends with these rows.
    async fn help_takes_over(
        &self,
        who: &mut Identified,
        mut session: SessionPlan,
        now: Timestamp,
    ) -> Result<SessionPlan, StageError> {
        let moved = parley_core::session::apply(
            &state_of(&session.landed),
            &parley_core::session::SessionEvent::Transferred { at: now, to: None },
            &who.rules.behaviour.session_policy,
        );
        let Ok(moved) = moved else {
            return Ok(session);
        };
        if let Some(run) = self.store.current_flow_run(session.landed.id).await?
            && let Ok(mut state) = serde_json::from_str::<parley_core::flow::RunState>(&run.state)
        {
            state.status = parley_core::flow::RunStatus::Ended {
                how: parley_core::flow::RunEnd::Stopped,
            };
            let row = crate::flow_runs::run_row(&run, &state, "help".to_owned(), now);
            who.rows.flow_runs.push(parley_store::FlowRunWrite {
                run: row,
                expect_seq: Some(run.seq),
            });
        }
        let mut row = row_of(&session.landed, &moved.state);
        row.context = SessionContext::Service;
        session.landed = row;
        session.needs_routing = true;
        Ok(session)
    }

    /// Stage: routing. A session that needs an agent goes in front of the channel's queue (the
    /// routing engine picks the agent); the HELP hand-off also opens a case on the customer's
    /// contact.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn route(
        &self,
        who: &mut Identified,
        consent: &ConsentPlan,
        mut session: SessionPlan,
    ) -> Result<SessionPlan, StageError> {
        if session.needs_routing {
            enqueue(&mut session.landed, &who.rules.channel);
        }
        if consent.handoff.is_some() {
            let Identified {
                rules,
                key,
                customer,
                rows,
            } = who;
            self.open_case(rules, customer, key, &mut session.landed, rows)
                .await?;
        }
        Ok(session)
    }

    /// A message the pipeline cannot process is kept in an Error session with the reason, so an
    /// agent can see it; a repeat of the same failure for the same customer touches the existing
    /// Error session instead of adding another (SE-08). `None` when the sender cannot be identified
    /// at all (no channel, no usable address): the job is dead-lettered with the reason.
    async fn record_failure(
        &self,
        event: &InboundEvent,
        reason: &str,
        cache: &mut BatchCache,
    ) -> Result<Option<InboundWrite>, StoreError> {
        let Some(rules) = cache.rules.get(&event.channel_id).cloned() else {
            return Ok(None);
        };
        let Ok(key) = platform_key(rules.channel.kind, &event.from) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let mut write = InboundWrite::default();
        let mut customer = match cache.customers.get(&(rules.channel.id, key.clone())) {
            Some(c) => c.clone(),
            None => match self
                .find_or_create_user(&rules, &key, event, &mut write, cache)
                .await
            {
                Ok(c) => c,
                Err(StageError::Store(e)) => return Err(e),
                Err(_) => return Ok(None),
            },
        };
        let mut previous = if write.user.is_some() {
            Vec::new()
        } else {
            self.store
                .list_sessions(
                    parley_store::SessionFilter {
                        messaging_user_id: Some(customer.user_id),
                        ..Default::default()
                    },
                    parley_store::PageRequest::new(None, parley_store::PageRequest::MAX_LIMIT),
                )
                .await?
                .items
        };
        if let Some(recorded) = cache.failed.get(&customer.user_id) {
            previous.extend(recorded.iter().cloned());
        }
        let prior: Vec<PriorSession<'_, Uuid>> = previous
            .iter()
            .map(|s| PriorSession {
                key: s.id,
                status: s.status,
                error_reason: s.error_reason.as_deref(),
                started_at: s.started_at,
            })
            .collect();
        let open_state = customer.open.as_ref().map(state_of);
        let policy = &rules.behaviour.session_policy;
        let context = rules.behaviour.default_context;
        let Ok(plan) = plan_failure(open_state.as_ref(), &prior, reason, now, context, policy)
        else {
            return Ok(None);
        };
        let conversation_id = *customer.conversation_id.get_or_insert_with(new_id);
        let session = match (plan, customer.open.take()) {
            (FailurePlan::Fail(t), Some(open)) => row_of(&open, &t.state),
            (FailurePlan::Touch(id), _) => match previous.into_iter().find(|s| s.id == id) {
                Some(s) => s,
                None => return Ok(None),
            },
            (FailurePlan::Open(state), _) => {
                let of = SessionOf {
                    channel_id: rules.channel.id,
                    messaging_user_id: customer.user_id,
                    conversation_id,
                };
                new_session_row(&state, of)
            }
            (FailurePlan::Fail(_), None) => return Ok(None),
        };
        write.entries.push(inbound_entry(
            event,
            new_id(),
            session.id,
            Some(reason.to_owned()),
            now,
        ));
        cache
            .failed
            .entry(customer.user_id)
            .or_default()
            .push(session.clone());
        write.sessions.push(session);
        customer.open = None;
        cache.customers.insert((rules.channel.id, key), customer);
        Ok(Some(write))
    }

    /// The SMS keyword processes of a number, read once per batch.
    async fn processes_of<'c>(
        &self,
        number: &str,
        cache: &'c mut HashMap<String, Vec<SmsProcess>>,
    ) -> Result<&'c [SmsProcess], StageError> {
        if !cache.contains_key(number) {
            let found = self.store.sms_processes(Some(number)).await?;
            cache.insert(
                number.to_owned(),
                found.into_iter().map(|p| p.process).collect(),
            );
        }
        Ok(cache.get(number).map_or(&[], Vec::as_slice))
    }

    /// Stage: on a shared short code the first word picks the program (its channel); elsewhere
    /// the webhook's channel is the channel.
    async fn resolve_program(
        &self,
        event: &InboundEvent,
        cache: &mut HashMap<Uuid, Arc<ChannelRules>>,
    ) -> Result<Arc<ChannelRules>, StageError> {
        let rules = self.rules(event.channel_id, cache).await?;
        if rules.channel.number_type != Some(NumberType::SharedShortCode) {
            return Ok(rules);
        }
        let siblings = self
            .store
            .channels_at_address(rules.channel.kind, &rules.channel.address)
            .await?;
        let keywords: Vec<&str> = siblings
            .iter()
            .filter_map(|c| c.provider_keyword.as_deref())
            .collect();
        let Some(program) =
            parley_core::keywords::program_of(&event.text, keywords.iter().copied())
        else {
            // CO-10: a bare HELP still gets an answer, from the channel it arrived on.
            if bare_help(&rules.keywords, &rules.profile, &event.text).is_some() {
                return Ok(rules);
            }
            return Err(StageError::Permanent(
                DeadLetterReason::ChannelUnavailable,
                format!(
                    "message to shared short code {} names no known program",
                    rules.channel.address
                ),
            ));
        };
        let channel = siblings
            .iter()
            .find(|c| c.provider_keyword.as_deref() == Some(program))
            .ok_or_else(|| {
                StageError::Permanent(
                    DeadLetterReason::ChannelUnavailable,
                    format!("no channel for program '{program}'"),
                )
            })?;
        self.rules(channel.id, cache).await
    }

    async fn rules(
        &self,
        channel_id: Uuid,
        cache: &mut HashMap<Uuid, Arc<ChannelRules>>,
    ) -> Result<Arc<ChannelRules>, StageError> {
        if let Some(r) = cache.get(&channel_id) {
            return Ok(r.clone());
        }
        let channel = match self.store.channel(channel_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound { .. }) => {
                return Err(StageError::Permanent(
                    DeadLetterReason::ChannelUnavailable,
                    format!("channel {channel_id} no longer exists"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let rules = Arc::new(ChannelRules::load(&self.store, channel).await?);
        cache.insert(channel_id, rules.clone());
        Ok(rules)
    }

    /// The messaging user of this person on this channel, found or created (MU-01). The batch's
    /// prefetch has usually answered already; a key it did not see is read here.
    async fn find_or_create_user(
        &self,
        rules: &ChannelRules,
        key: &str,
        event: &InboundEvent,
        write: &mut InboundWrite,
        cache: &BatchCache,
    ) -> Result<Customer, StageError> {
        let channel = &rules.channel;
        if !cache.unknown.contains(&(channel.id, key.to_owned()))
            && let Some(user) = self.store.messaging_user_by_key(channel.id, key).await?
        {
            let open = self.store.open_sessions(user.id).await?.into_iter().next();
            let conversation_id = match &open {
                Some(s) => Some(s.conversation_id),
                None => self.store.conversation_of(user.id).await?,
            };
            return Ok(Customer {
                user_id: user.id,
                consent: user.consent_status,
                locale: user.locale,
                contact_id: user.contact_id,
                conversation_id,
                open,
                link_checked: false,
            });
        }
        let id = new_id();
        write.user = Some(UserInsert {
            id,
            channel_id: channel.id,
            platform_key: key.to_owned(),
            name: event.profile_name.clone().unwrap_or_default(),
            locale: None,
            consent_status: None,
            contact_id: None,
        });
        Ok(Customer {
            user_id: id,
            consent: None,
            locale: None,
            contact_id: None,
            conversation_id: None,
            open: None,
            link_checked: false,
        })
    }

    /// Reads what the batch's messages need to know about their customers, a few queries per
    /// channel: messaging users by key, their open sessions and conversations, and contacts
    /// matching their numbers.
    async fn prefetch(
        &self,
        events: &[(Uuid, InboundEvent)],
        cache: &mut BatchCache,
    ) -> Result<(), StoreError> {
        let mut by_channel: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (_, event) in events {
            let rules = match self.resolve_program(event, &mut cache.rules).await {
                Ok(r) => r,
                Err(StageError::Store(e)) => return Err(e),
                // Decided (and refused) message by message later.
                Err(_) => continue,
            };
            if let Ok(key) = platform_key(rules.channel.kind, &event.from) {
                by_channel.entry(rules.channel.id).or_default().push(key);
            }
        }
        for (channel_id, mut keys) in by_channel {
            keys.sort_unstable();
            keys.dedup();
            let Some(rules) = cache.rules.get(&channel_id).cloned() else {
                continue;
            };
            let users = self
                .store
                .messaging_users_by_keys(channel_id, &keys)
                .await?;
            let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
            let (open, conversations) = self.store.sessions_of_users(&ids).await?;
            if rules.behaviour.contact_linking.by_phone {
                let linked: std::collections::HashSet<&str> = users
                    .iter()
                    .filter(|u| u.contact_id.is_some())
                    .map(|u| u.platform_key.as_str())
                    .collect();
                let phones: Vec<String> = keys
                    .iter()
                    .filter(|k| !linked.contains(k.as_str()))
                    .filter_map(|k| phone_of(rules.channel.kind, k).map(E164::into_string))
                    .collect();
                for p in &phones {
                    cache.contacts.entry(p.clone()).or_insert(None);
                }
                for c in self.store.contacts_by_phones(&phones).await? {
                    if let Some(p) = c.phone
                        && let Some(slot) = cache.contacts.get_mut(&p)
                        && slot.is_none()
                    {
                        *slot = Some(c.id);
                    }
                }
            }
            // A closed latest conversation (SE-20) is continued by nobody: the next session
            // starts a new one.
            let mut latest: HashMap<Uuid, Option<Uuid>> = HashMap::new();
            for c in conversations {
                latest.insert(
                    c.messaging_user_id,
                    (!c.closed).then_some(c.conversation_id),
                );
            }
            let found: std::collections::HashSet<String> =
                users.iter().map(|u| u.platform_key.clone()).collect();
            for user in users {
                let open = open
                    .iter()
                    .find(|s| s.messaging_user_id == user.id)
                    .cloned();
                let conversation_id = open
                    .as_ref()
                    .map(|s| s.conversation_id)
                    .or_else(|| latest.get(&user.id).copied().flatten());
                cache.customers.insert(
                    (channel_id, user.platform_key.clone()),
                    Customer {
                        user_id: user.id,
                        consent: user.consent_status,
                        locale: user.locale,
                        contact_id: user.contact_id,
                        conversation_id,
                        open,
                        link_checked: false,
                    },
                );
            }
            for k in keys.into_iter().filter(|k| !found.contains(k)) {
                cache.unknown.insert((channel_id, k));
            }
        }
        Ok(())
    }

    /// The contact to link a new or unlinked messaging user to, creating it if the rule says so.
    async fn link(
        &self,
        rules: &ChannelRules,
        key: &str,
        write: &mut InboundWrite,
        cache: &mut BatchCache,
    ) -> Result<Option<Uuid>, StageError> {
        let rule = rules.behaviour.contact_linking;
        if rule.is_off() {
            return Ok(None);
        }
        // A customer's message carries no e-mail address: only the phone can match here.
        let phone = phone_of(rules.channel.kind, key);
        let found = match rule.lookups(phone.as_ref(), None).0 {
            None => None,
            Some(p) => match cache.contacts.get(p.as_str()).copied() {
                Some(cached) => cached,
                None => self.store.find_contact(Some(p), None).await?.map(|c| c.id),
            },
        };
        match rule.decide(found) {
            MatchDecision::Link(id) => Ok(Some(id)),
            MatchDecision::Create => {
                let id = create_contact(write, phone.clone());
                if let Some(p) = phone {
                    cache.contacts.insert(p.into_string(), Some(id));
                }
                Ok(Some(id))
            }
            MatchDecision::Leave => Ok(None),
        }
    }

    /// Stage: the HELP hand-off opens a case on the customer's contact, matched by phone or
    /// created (CMP-01), and puts the session in front of the channel's queue.
    async fn open_case(
        &self,
        rules: &ChannelRules,
        customer: &mut Customer,
        key: &str,
        session: &mut Session,
        write: &mut InboundWrite,
    ) -> Result<(), StageError> {
        let channel = &rules.channel;
        let contact_id = match customer.contact_id {
            Some(c) => c,
            None => {
                let phone = phone_of(channel.kind, key);
                let found = self.store.find_contact(phone.as_ref(), None).await?;
                let id = match found {
                    Some(c) => c.id,
                    None => create_contact(write, phone),
                };
                if write.user.is_some() {
                    if let Some(u) = write.user.as_mut() {
                        u.contact_id = Some(id);
                    }
                } else {
                    write.link = Some(ContactLink {
                        messaging_user_id: customer.user_id,
                        contact_id: id,
                    });
                }
                customer.contact_id = Some(id);
                id
            }
        };
        if session.case_id.is_none() {
            let case_id = new_id();
            write.case = Some(CaseInsert {
                id: case_id,
                contact_id,
                channel_id: channel.id,
                // Written by Parley for the agents: in the channel's default language.
                subject: parley_core::i18n::format(
                    rules
                        .keywords
                        .default_language
                        .primary()
                        .parse()
                        .unwrap_or(parley_core::i18n::Locale::En),
                    "auto.case_subject",
                    &[("channel", channel.name.as_str())],
                ),
            });
            session.case_id = Some(case_id);
        }
        if session.status == parley_core::model::SessionStatus::Waiting
            && session.queue_id.is_none()
        {
            enqueue(session, channel);
        }
        Ok(())
    }

    /// Whether the owner of a business-initiated session can take the customer's reply now.
    async fn owner_available(&self, session: &Session) -> Result<bool, StageError> {
        match (session.owner_kind, session.owner_id) {
            (Some(OwnerKind::Bot), Some(_)) => Ok(true),
            // SE-16: the agent who started it takes the reply if their console is online.
            (Some(OwnerKind::Agent), Some(id)) => match self.store.agent(id).await {
                Ok(a) => {
                    let connected = self.store.agent_connected_until(id).await?;
                    let online =
                        parley_core::routing::console_connected(connected, self.clock.now());
                    Ok(parley_core::routing::owner_available_for_reply(
                        a.presence, online,
                    ))
                }
                Err(StoreError::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
            _ => Ok(false),
        }
    }
}

/// A decided message: its job, its rows and its events.
type Decided = (Uuid, InboundWrite, Vec<DomainEvent>);

/// What becomes of a batch's jobs besides being written: the runner's outcomes, and the dead
/// letters (with the channel, for the log) the pipeline writes itself.
#[derive(Default)]
struct Fate {
    outcomes: Vec<(Uuid, JobOutcome)>,
    dead: Vec<(DeadLetterWrite, Option<Uuid>)>,
    /// Jobs on their last attempt: a failure that would be retried is a dead letter instead.
    last: std::collections::HashSet<Uuid>,
}

impl Fate {
    fn bury(&mut self, id: Uuid, reason: DeadLetterReason, detail: String, channel: Option<Uuid>) {
        self.dead
            .push((DeadLetterWrite { id, reason, detail }, channel));
    }

    /// The database failed: every job is retried, except those out of attempts, which become
    /// dead letters saying so.
    fn retry_all(
        &mut self,
        ids: impl IntoIterator<Item = Uuid>,
        error: &str,
        channels: &HashMap<Uuid, Uuid>,
    ) {
        for id in ids {
            if self.last.contains(&id) {
                let channel = channels.get(&id).copied();
                self.bury(
                    id,
                    DeadLetterReason::DatabaseUnavailable,
                    error.to_owned(),
                    channel,
                );
            } else {
                self.outcomes
                    .push((id, JobOutcome::Retry(error.to_owned())));
            }
        }
    }
}

/// The customer's message as an entry of `session_id`; `problem` says why it could not be
/// processed, when it could not.
fn inbound_entry(
    event: &InboundEvent,
    id: Uuid,
    session_id: Uuid,
    problem: Option<String>,
    now: Timestamp,
) -> Entry {
    Entry {
        id,
        session_id,
        direction: Direction::Inbound,
        actor: Actor::Customer,
        actor_id: None,
        body: event.text.clone(),
        media: event.media.clone(),
        provider_message_id: Some(event.provider_message_id.clone()),
        status: EntryStatus::Received,
        error_code: None,
        provider_error: problem,
        created_at: now,
        updated_at: now,
        template: None,
        component: None,
    }
}

fn create_contact(write: &mut InboundWrite, phone: Option<E164>) -> Uuid {
    if let Some(c) = &write.contact {
        return c.id;
    }
    let id = new_id();
    write.contact = Some(ContactInsert {
        id,
        phone,
        first_name: String::new(),
    });
    id
}

/// Puts a session in front of the channel's queue (the routing engine picks an agent from it).
fn enqueue(session: &mut Session, channel: &Channel) {
    session.queue_id = channel.queue_id;
}

/// The platform key of the sender, as the provider delivered it.
fn platform_key(kind: ChannelKind, from: &str) -> Result<String, StageError> {
    parley_core::channel::platform_key(kind, from, parley_core::channel::KeySource::Network)
        .map_err(|e| StageError::Permanent(DeadLetterReason::InvalidSender, format!("sender: {e}")))
}

fn phone_of(kind: ChannelKind, key: &str) -> Option<E164> {
    matches!(kind, ChannelKind::Sms | ChannelKind::Whatsapp)
        .then(|| E164::from_network(key).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_database_retries_except_on_the_last_attempt() {
        let (early, last) = (new_id(), new_id());
        let channel = new_id();
        let mut fate = Fate::default();
        fate.last.insert(last);
        let channels = HashMap::from([(last, channel)]);
        fate.retry_all([early, last], "pool timed out", &channels);
        assert_eq!(
            fate.outcomes,
            [(early, JobOutcome::Retry("pool timed out".to_owned()))]
        );
        assert_eq!(
            fate.dead,
            [(
                DeadLetterWrite {
                    id: last,
                    reason: DeadLetterReason::DatabaseUnavailable,
                    detail: "pool timed out".to_owned(),
                },
                Some(channel)
            )]
        );
    }
}
