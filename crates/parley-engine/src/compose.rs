//! The compose path: a message an agent, a bot or a program sends into a session, through the
//! named stages of the outbound pipeline (DESIGN.md section 3) up to the outbox:
//!
//! ```text
//! compose -> authorize (consent, care window, template) -> render -> fit (length, media)
//!   -> outbox (entry + send job, reply priority)
//! ```
//!
//! The dispatcher checks consent, length and the window again at send time (they may change
//! while the message waits); refusing here as well tells the sender at once, with the reason.
//!
//! Refusals are never silent (issue 4): a message refused by a rule is recorded as an entry with
//! status `failed`, the catalogue code and the reason, and [`ComposeError::Refused`] carries that
//! entry. Not recorded, because there is no message to keep: a request that names no session
//! (404), a session that is over (Ended and Error are final; a new message opens a new session,
//! which is the console's "start a conversation"), and a malformed request (nothing to send, a
//! template together with files, a media link that is not http(s)).
//!
//! Decisions where the issue is silent:
//!
//! - A template must exist on the session's channel in that language and be `approved`, on every
//!   channel; a missing, pending or rejected one is refused with 3001 (the message as composed
//!   cannot go). On WhatsApp outside the 24-hour window only a template goes (0004 otherwise).
//!   Elsewhere a template is simply its rendered text.
//! - The entry's body is the rendered template (what the customer reads); the entry also keeps
//!   which template and values were chosen, so the dispatcher sends a WhatsApp template message.
//! - A template message carries no files (media headers are not supported yet).

use std::sync::Arc;

use parley_core::consent::{SendPurpose, may_send};
use parley_core::media::{MediaChannel, OutboundFile, check_outbound, normalize_content_type};
use parley_core::model::{Actor, Direction, EntryStatus, TemplateStatus};
use parley_core::session::session_opt_in_valid;
use parley_core::window::{Composer, MessageForm, WindowQuery};
use parley_core::{Clock, ErrorCode, Timestamp, new_id};
use parley_store::{
    Channel, Entry, EntryTemplate, Media, MessagingUser, NewJob, Session, Store, StoreError,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::channel_rules::behaviour_of;
use crate::events::{DomainEvent, EventBus};
use crate::jobs::{self, send_job};
use crate::sensitive_data::{SensitiveRules, author_of, blocked_entry, mask_with};
use crate::session_rows::state_of;
use parley_core::privacy::rules::RuleAuthor;

/// A file to send, by public link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub url: String,
    pub content_type: String,
    /// Bytes, when the sender knows (checked against the channel's limit).
    pub size: Option<u64>,
    /// Parley's copy, for a file an agent uploaded (`url` is then its public link).
    pub id: Option<Uuid>,
}

/// An approved template and the values of its `{{1}}`, `{{2}}`... placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

/// What the sender wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub body: String,
    pub media: Vec<MediaRef>,
    pub template: Option<TemplateSend>,
    /// A component (buttons, a list, a link card); `body` is then its text fallback, what SMS
    /// sends and people read in lists.
    pub component: Option<parley_core::component::Component>,
}

/// Who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author {
    pub actor: Actor,
    /// The agent or bot, when known (an API token is neither).
    pub actor_id: Option<Uuid>,
}

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A rule refused it; `entry` is the failed entry that records it.
    #[error("not sent ({code}): {reason}")]
    Refused {
        entry: Box<Entry>,
        code: ErrorCode,
        reason: String,
        /// The times the reason speaks of, by name (`window_closed_at`), for clients that show
        /// them in their reader's zone.
        times: Vec<(&'static str, Timestamp)>,
    },
    /// The session is Ended or Error: nothing more goes into it.
    #[error("the session is {0}; a new message needs a new session")]
    SessionClosed(parley_core::model::SessionStatus),
    /// Nothing to send, or a request that does not make sense.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A composed message, not yet written.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub entry: Entry,
    /// The send job; `None` when the message was refused.
    pub job: Option<NewJob>,
    pub refusal: Option<Refusal>,
    /// The transcript's note that a sensitive-data rule changed the text (PRIV-03), to be written
    /// with the entry.
    pub sensitive_note: Option<Entry>,
}

/// The compose path's handle (see [`crate::Engine::compose`]).
#[derive(Clone)]
pub struct Compose {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    outbound_wake: Option<Arc<Notify>>,
    sensitive: SensitiveRules,
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compose").finish_non_exhaustive()
    }
}

/// A refusal on its way to becoming a failed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub reason: String,
    /// See [`ComposeError::Refused`]'s `times`.
    pub times: Vec<(&'static str, Timestamp)>,
}

impl Refusal {
    fn new(code: ErrorCode, reason: impl std::fmt::Display) -> Self {
        Self {
            code,
            reason: format!("not sent: {reason}"),
            times: Vec::new(),
        }
    }

    fn with_time(mut self, name: &'static str, at: Timestamp) -> Self {
        self.times.push((name, at));
        self
    }
}

/// What the authorize and render stages settled.
struct Composed {
    body: String,
    template: Option<EntryTemplate>,
    purpose: SendPurpose,
}

impl Compose {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            sensitive: SensitiveRules::new(clock.clone()),
            store,
            clock,
            events,
            outbound_wake: None,
        }
    }

    /// Shares the node's sensitive-data rules (otherwise this compose path keeps its own copy).
    pub fn with_sensitive(mut self, rules: SensitiveRules) -> Self {
        self.sensitive = rules;
        self
    }

    /// The node's sensitive-data rules, for the automatic replies written beside the compose path.
    pub fn sensitive(&self) -> &SensitiveRules {
        &self.sensitive
    }

    /// Whose text `author`'s is, for the rules: an agent by their role (supervisor and admin
    /// count as supervisors).
    async fn rule_author(&self, author: Author) -> Result<RuleAuthor, StoreError> {
        let role = match (author.actor, author.actor_id) {
            (Actor::Agent, Some(id)) => match self.store.agent(id).await {
                Ok(a) => Some(a.role),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            _ => None,
        };
        Ok(author_of(author.actor, role))
    }

    /// Wakes the dispatcher as soon as a message is queued.
    pub fn with_outbound_wake(mut self, wake: Arc<Notify>) -> Self {
        self.outbound_wake = Some(wake);
        self
    }

    /// Tells the dispatcher a message was queued by a caller that wrote it itself.
    pub fn wake_outbound(&self) {
        if let Some(w) = &self.outbound_wake {
            w.notify_one();
        }
    }

    /// Sends `message` into session `session_id` as `author`: the queued entry, or why not.
    pub async fn send_to_session(
        &self,
        session_id: Uuid,
        message: OutgoingMessage,
        author: Author,
    ) -> Result<Entry, ComposeError> {
        let now = self.clock.now();
        let session = self.store.session(session_id).await?;
        if !session.status.is_open() {
            return Err(ComposeError::SessionClosed(session.status));
        }
        let channel = self.store.channel(session.channel_id).await?;
        let prepared = self
            .prepare(&channel, &session, &message, author, now)
            .await?;
        if let Some(note) = &prepared.sensitive_note {
            self.store.record_outgoing(note, None, now).await?;
        }
        let entry = self
            .store
            .record_outgoing(&prepared.entry, prepared.job.as_ref(), now)
            .await?;
        self.events.publish(DomainEvent::MessageStatusChanged {
            session_id,
            entry_id: entry.id,
        });
        match prepared.refusal {
            None => {
                if let Some(w) = &self.outbound_wake {
                    w.notify_one();
                }
                Ok(entry)
            }
            Some(refusal) => {
                metrics::counter!("parley_compose_refused_total", "code" => refusal.code.code())
                    .increment(1);
                Err(ComposeError::Refused {
                    entry: Box::new(entry),
                    code: refusal.code,
                    reason: refusal.reason,
                    times: refusal.times,
                })
            }
        }
    }

    /// Composes `message` for `session` without writing anything: the entry with its send job,
    /// or the failed entry that records a refusal (`refusal` set, no job). The caller writes both,
    /// possibly with other changes in the same transaction (a conversation an agent starts).
    pub async fn prepare(
        &self,
        channel: &Channel,
        session: &Session,
        message: &OutgoingMessage,
        author: Author,
        now: Timestamp,
    ) -> Result<Prepared, ComposeError> {
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        self.prepare_for(channel, session, &user, message, author, now)
            .await
    }

    /// [`Compose::prepare`] for a messaging user the caller holds (one it is about to create
    /// with the message, say).
    pub async fn prepare_for(
        &self,
        channel: &Channel,
        session: &Session,
        user: &MessagingUser,
        message: &OutgoingMessage,
        author: Author,
        now: Timestamp,
    ) -> Result<Prepared, ComposeError> {
        let filled;
        let message = match &message.component {
            Some(c) if message.body.trim().is_empty() => {
                filled = OutgoingMessage {
                    body: c.text_fallback(),
                    ..message.clone()
                };
                &filled
            }
            _ => message,
        };
        check_request(message)?;
        let media: Vec<Media> = message
            .media
            .iter()
            .map(|m| Media {
                size: m.size,
                id: m.id,
                ..Media::new(m.url.trim(), normalize_content_type(&m.content_type))
            })
            .collect();
        let decided = self
            .authorize_and_render(channel, session, user, message, author.actor, now)
            .await?;
        // Mask (PRIV-03) before the length check, so what is fitted is what goes.
        let rules = self.sensitive.current(&self.store).await?;
        let who = if rules.is_empty() {
            RuleAuthor::Bot
        } else {
            self.rule_author(author).await?
        };
        let mut blocked = false;
        let mut mask = |text: String| {
            let m = mask_with(&rules, channel.id, who, &text);
            if m.blocked.is_empty() {
                text
            } else {
                blocked = true;
                m.text
            }
        };
        let (body, template, verdict) = match decided {
            Ok(c) => {
                let body = mask(c.body);
                let template = c.template.map(|mut t| {
                    t.parameters = t.parameters.into_iter().map(&mut mask).collect();
                    t
                });
                let fitted = fit(channel, &body, &media);
                (body, template, fitted.map(|()| c.purpose))
            }
            Err(r) => (mask(message.body.clone()), None, Err(r)),
        };
        let sensitive_note = blocked.then(|| blocked_entry(session.id, who, now));
        let mut entry = Entry {
            id: new_id(),
            session_id: session.id,
            direction: Direction::Outbound,
            actor: author.actor,
            actor_id: author.actor_id,
            body,
            media,
            provider_message_id: None,
            status: EntryStatus::Queued,
            error_code: None,
            provider_error: None,
            created_at: now,
            updated_at: now,
            template,
            component: message.component.clone(),
        };
        Ok(match verdict {
            Ok(purpose) => Prepared {
                job: Some(send_job(entry.id, purpose, jobs::REPLY_PRIORITY, now)),
                entry,
                refusal: None,
                sensitive_note,
            },
            Err(refusal) => {
                entry.status = EntryStatus::Failed;
                entry.error_code = Some(refusal.code.code().to_owned());
                entry.provider_error = Some(refusal.reason.clone());
                Prepared {
                    entry,
                    job: None,
                    refusal: Some(refusal),
                    sensitive_note,
                }
            }
        })
    }

    /// Authorize (consent, template, window) and render. The outer error is the store's; the
    /// inner one a refusal to record.
    async fn authorize_and_render(
        &self,
        channel: &Channel,
        session: &Session,
        user: &MessagingUser,
        message: &OutgoingMessage,
        actor: Actor,
        now: Timestamp,
    ) -> Result<Result<Composed, Refusal>, StoreError> {
        let policy = behaviour_of(&channel.settings)
            .map(|b| b.session_policy)
            .unwrap_or_default();
        let purpose = SendPurpose::Conversation {
            session_opt_in: session_opt_in_valid(&state_of(session), now, &policy),
        };
        if let Err(refused) = may_send(user.consent_status, channel.consent_level, purpose) {
            return Ok(Err(Refusal::new(ErrorCode::RecipientBlockedUs, refused)));
        }

        let (body, template) = match &message.template {
            None => (message.body.clone(), None),
            Some(t) => {
                let Some(found) = self
                    .store
                    .template(channel.id, &t.name, &t.language)
                    .await?
                else {
                    return Ok(Err(Refusal::new(
                        ErrorCode::ContentRejected,
                        format!(
                            "channel '{}' has no template '{}' in language '{}'",
                            channel.name, t.name, t.language
                        ),
                    )));
                };
                if found.status != TemplateStatus::Approved {
                    return Ok(Err(Refusal::new(
                        ErrorCode::ContentRejected,
                        format!(
                            "template '{}' ({}) is {}; only approved templates may be sent",
                            found.name, found.language, found.status
                        ),
                    )));
                }
                // Render: the values into the text, as the customer will read it.
                let body = match parley_core::template::render(&found.body, &t.parameters) {
                    Ok(b) => b,
                    Err(e) => {
                        return Ok(Err(Refusal::new(
                            e.error_code(),
                            format!("template '{}': {e}", found.name),
                        )));
                    }
                };
                let chosen = EntryTemplate {
                    template_id: found.id,
                    name: found.name,
                    language: found.language,
                    parameters: t.parameters.clone(),
                };
                (body, Some(chosen))
            }
        };

        // The care windows: on WhatsApp outside 24 hours only a template goes.
        let window = parley_core::window::decide(WindowQuery {
            kind: channel.kind,
            last_customer_message_at: session.last_customer_at,
            now,
            composer: Composer::from_actor(actor),
            form: if template.is_some() {
                MessageForm::ApprovedTemplate
            } else {
                MessageForm::FreeForm
            },
        });
        if let Err(closed) = window {
            let refusal = Refusal::new(closed.error_code(), closed);
            return Ok(Err(match closed {
                parley_core::window::WindowClosed::Expired { closed_at, .. } => {
                    refusal.with_time("window_closed_at", closed_at)
                }
                parley_core::window::WindowClosed::NeverOpened { .. } => refusal,
            }));
        }
        Ok(Ok(Composed {
            body,
            template,
            purpose,
        }))
    }
}

/// Refuses requests that are not a message at all (not recorded: see the module docs).
fn check_request(message: &OutgoingMessage) -> Result<(), ComposeError> {
    if let Some(component) = &message.component {
        if message.template.is_some() || !message.media.is_empty() {
            return Err(ComposeError::Invalid(
                "a component is a message of its own: send templates and files apart".to_owned(),
            ));
        }
        if let parley_core::component::Component::Question {
            options_from: Some(_),
            ..
        } = component
        {
            return Err(ComposeError::Invalid(
                "component: options_from is for flows, which fill it in; give the options".into(),
            ));
        }
        if let Err(problems) = component.validate() {
            return Err(ComposeError::Invalid(format!(
                "component: {}",
                problems.join("; ")
            )));
        }
    }
    if message.template.is_some() && !message.media.is_empty() {
        return Err(ComposeError::Invalid(
            "a template message carries no files; send the files in a message of their own"
                .to_owned(),
        ));
    }
    if message.template.is_some() && !message.body.trim().is_empty() {
        return Err(ComposeError::Invalid(
            "give either a body or a template: a template's text is its own".to_owned(),
        ));
    }
    // PostgreSQL refuses NUL in text and SQLite keeps it: refused here on both, naming the
    // field, rather than changed (a business's own words are not rewritten; inbound text is
    // cleaned instead, see `parley_core::dead_letter`).
    if let Some(at) = parley_core::dead_letter::unstorable_at(&message.body) {
        return Err(ComposeError::Invalid(format!(
            "body: character {} is a NUL (U+0000), which Parley does not store",
            at + 1
        )));
    }
    let parameters = message.template.iter().flat_map(|t| t.parameters.iter());
    for (i, p) in parameters.enumerate() {
        if parley_core::dead_letter::unstorable_at(p).is_some() {
            return Err(ComposeError::Invalid(format!(
                "template.parameters[{i}] holds a NUL (U+0000), which Parley does not store"
            )));
        }
    }
    if message.template.is_none() && message.body.trim().is_empty() && message.media.is_empty() {
        return Err(ComposeError::Invalid(
            "nothing to send: give a body, media or a template".to_owned(),
        ));
    }
    for m in &message.media {
        let url = m.url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
            || !url.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ComposeError::Invalid(format!(
                "media url '{url}' is not a public http(s) link"
            )));
        }
        if m.content_type.trim().is_empty() {
            return Err(ComposeError::Invalid(
                "every media item needs its content_type".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Fit: the channel's length rule (3004) and its media rules (3002, 3005, 3006, 3001).
fn fit(channel: &Channel, body: &str, media: &[Media]) -> Result<(), Refusal> {
    let files: Vec<OutboundFile<'_>> = media
        .iter()
        .map(|m| OutboundFile {
            content_type: &m.content_type,
            size: m.size,
        })
        .collect();
    if !media.is_empty() && !provider_carries_files(&channel.provider) {
        return Err(Refusal::new(
            ErrorCode::AttachmentTypeUnsupported,
            format!("the {} provider carries no files", channel.provider),
        ));
    }
    check_outbound(media_channel(channel), body, &files)
        .map_err(|e| Refusal::new(e.error_code(), e))?;
    parley_core::sms::check_length(channel.kind, body)
        .map(|_| ())
        .map_err(|e| Refusal::new(e.error_code(), e))
}

/// Whether Parley sends files through this provider, as its adapter declares (SMPP carries no
/// MMS, and the simulator records text only, so a file would be lost there).
pub fn provider_carries_files(provider: &parley_core::model::Provider) -> bool {
    parley_channels::providers()
        .get(provider)
        .is_some_and(|a| a.capabilities().files)
}

/// The channel as the media rules see it.
pub fn media_channel(channel: &Channel) -> MediaChannel<'_> {
    MediaChannel {
        kind: channel.kind,
        number_type: channel.number_type,
        country: channel.country.as_deref(),
    }
}
