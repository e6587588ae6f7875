//! One message a program sends to one person outside a conversation: a triggered notification
//! (issue 13, TM-06..10) or a message through the Twilio-compatible API. Both take this path,
//! so both follow the same rules:
//!
//! ```text
//! idempotency key -> recipient (messaging user, or an address: created where the channel's
//!   level is implicit) -> exclusions (parley_core::notification) -> session (the open one, or
//!   a new one holding the transcript, SE-19) -> compose (template, length, media)
//!   -> outbox (user, session, entry, send job, key and the caller's origin record in one
//!      transaction)
//! ```
//!
//! Nothing is written for a message that cannot go: an excluded recipient or a refused message
//! is an error the caller reports (the notification error log keeps it). The dispatcher checks
//! consent and the window again at send time with [`SendPurpose::Notification`].
//!
//! AMB-35: a person with an open session gets the message in that session, so the agent sees it;
//! anyone else gets a session of their own, already ended, holding the transcript (SE-19), in
//! their conversation. A reply then opens a new session as every reply after an ended one does.

use parley_core::campaign::eligibility::{Exclusion, Recipient as Facts, Sender};
use parley_core::consent::SendPurpose;
use parley_core::model::{ChannelKind, ConsentSource, ConsentStatus, SessionContext};
use parley_core::notification::{UnknownRecipient, exclusion, unknown_recipient};
use parley_core::{E164, ErrorCode, Timestamp, new_id};
use parley_store::{
    Channel, ConsentWrite, Entry, IdempotencyKey, InboundWrite, MessagingUser, OutreachTarget,
    OutreachWritten, SendOrigin, Session, Store, StoreError, UserInsert,
};
use uuid::Uuid;

use crate::channel_rules::behaviour_of;
use crate::compose::{Author, Compose, ComposeError, OutgoingMessage};
use crate::events::{DomainEvent, EventBus};
use crate::jobs::{REPLY_PRIORITY, send_job};
use crate::session_rows::{SessionOf, transcript_session};

/// Who the message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A messaging user of the channel.
    MessagingUser(Uuid),
    /// A phone number (any written form with its country code; stored as E.164) on SMS and
    /// WhatsApp, or the platform key on other channels.
    Address(String),
}

/// One send.
#[derive(Debug, Clone)]
pub struct OutreachRequest {
    pub channel_id: Uuid,
    pub recipient: Recipient,
    pub message: OutgoingMessage,
    pub author: Author,
    /// The caller's name for this send; the same key never sends twice.
    pub idempotency: Option<IdempotencyKey>,
    /// The contact a messaging user created for this send is linked to.
    pub contact_id: Option<Uuid>,
}

/// A send that was queued (or, `replayed`, an earlier send with the same idempotency key).
#[derive(Debug, Clone)]
pub struct Reached {
    pub entry: Entry,
    pub session: Session,
    pub user: MessagingUser,
    /// Joined the person's open session (otherwise a new transcript session holds it).
    pub appended: bool,
    /// The messaging user was created for this send.
    pub created_user: bool,
    pub replayed: bool,
}

/// Why nothing was sent. Nothing was written either.
#[derive(Debug, thiserror::Error)]
pub enum OutreachError {
    /// The recipient may not receive it (TM-09, TM-10, the windows).
    #[error("recipient excluded ({}): {reason}", exclusion.as_str())]
    Excluded {
        exclusion: Exclusion,
        code: ErrorCode,
        reason: String,
    },
    /// The message as composed cannot go (template, length, files).
    #[error("not sent ({}): {reason}", code.code())]
    Refused { code: ErrorCode, reason: String },
    /// A request that does not make sense (nothing to send, a user of another channel).
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key was used for a different request.
    #[error("the idempotency key was already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OutreachError {
    /// The catalogue code, for what has one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Excluded { code, .. } | Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn excluded(exclusion: Exclusion, reason: impl Into<String>) -> Self {
        Self::Excluded {
            exclusion,
            code: exclusion.error_code(),
            reason: reason.into(),
        }
    }
}

/// The send path's handle (see [`crate::Engine::outreach`]).
#[derive(Clone)]
pub struct Outreach {
    store: Store,
    events: EventBus,
    compose: Compose,
}

impl std::fmt::Debug for Outreach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outreach").finish_non_exhaustive()
    }
}

/// How often a send is tried again when another request created the same messaging user or
/// opened a session for them between our read and our write.
const RACE_RETRIES: usize = 3;

impl Outreach {
    pub fn new(store: Store, events: EventBus, compose: Compose) -> Self {
        Self {
            store,
            events,
            compose,
        }
    }

    /// Sends `request` at `now`, as a notification.
    pub async fn send(
        &self,
        request: &OutreachRequest,
        now: Timestamp,
    ) -> Result<Reached, OutreachError> {
        self.send_with(request, SendPurpose::Notification, None, now)
            .await
    }

    /// Sends `request` at `now` under the consent rule of `purpose`: a broadcast-type
    /// notification (TM-06 "Triggered Outbound Type") needs explicit opt-in whatever the
    /// channel's level, here and again when the dispatcher sends it.
    pub async fn send_as(
        &self,
        request: &OutreachRequest,
        purpose: SendPurpose,
        now: Timestamp,
    ) -> Result<Reached, OutreachError> {
        self.send_with(request, purpose, None, now).await
    }

    /// Sends `request` at `now` and writes the caller's `origin` record in the same transaction
    /// (a replayed send writes nothing: the first one did).
    pub async fn send_recorded(
        &self,
        request: &OutreachRequest,
        origin: Option<&SendOrigin>,
        now: Timestamp,
    ) -> Result<Reached, OutreachError> {
        self.send_with(request, SendPurpose::Notification, origin, now)
            .await
    }

    /// Sends `request` at `now` under `purpose`, writing `origin` in the send's transaction.
    pub async fn send_with(
        &self,
        request: &OutreachRequest,
        purpose: SendPurpose,
        origin: Option<&SendOrigin>,
        now: Timestamp,
    ) -> Result<Reached, OutreachError> {
        if let Some(key) = &request.idempotency
            && let Some(earlier) = self.store.earlier_send(&key.scope, &key.key, now).await?
        {
            return self.replay(key, earlier).await;
        }
        let channel = self.store.channel(request.channel_id).await?;
        let mut tries = 0;
        loop {
            match self.try_send(&channel, request, purpose, origin, now).await {
                Err(OutreachError::Store(StoreError::Conflict(why))) if tries < RACE_RETRIES => {
                    tracing::debug!(%why, "outreach raced another writer; trying again");
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn replay(
        &self,
        key: &IdempotencyKey,
        earlier: parley_store::EarlierSend,
    ) -> Result<Reached, OutreachError> {
        if earlier.fingerprint != key.fingerprint {
            return Err(OutreachError::KeyReused);
        }
        let entry = self.store.entry(earlier.entry_id).await?;
        let session = self.store.session(entry.session_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        Ok(Reached {
            entry,
            session,
            user,
            appended: false,
            created_user: false,
            replayed: true,
        })
    }

    async fn try_send(
        &self,
        channel: &Channel,
        request: &OutreachRequest,
        purpose: SendPurpose,
        origin: Option<&SendOrigin>,
        now: Timestamp,
    ) -> Result<Reached, OutreachError> {
        let (target, new_user) = self.target(channel, request).await?;
        let last_customer_at = target
            .open_session
            .as_ref()
            .and_then(|s| s.last_customer_at)
            .or(target.last_inbound_at);
        let sender = Sender {
            kind: channel.kind,
            consent_level: channel.consent_level,
            address: &channel.address,
        };
        let facts = Facts {
            consent: target.user.consent_status,
            address: &target.user.platform_key,
            last_customer_at,
        };
        let template = request.message.template.is_some();
        let excluded = match purpose {
            SendPurpose::Notification => exclusion(template, &sender, &facts, now),
            other => parley_core::campaign::eligibility::exclusion_for(
                other, template, &sender, &facts, now,
            ),
        };
        if let Some(out) = excluded {
            return Err(OutreachError::excluded(
                out,
                exclusion_reason(out, channel, &target.user.platform_key),
            ));
        }
        let (session, appended) = match &target.open_session {
            Some(open) => (open.clone(), true),
            None => {
                let conversation = match new_user {
                    Some(_) => None,
                    None => self.store.conversation_of(target.user.id).await?,
                };
                let context = behaviour_of(&channel.settings)
                    .map(|b| b.default_context)
                    .unwrap_or(SessionContext::Service);
                let of = SessionOf {
                    channel_id: channel.id,
                    messaging_user_id: target.user.id,
                    conversation_id: conversation.unwrap_or_else(new_id),
                };
                (transcript_session(of, context, now), false)
            }
        };
        // The compose stages judge the window by the session; a new transcript session has not
        // heard from the customer, but the channel has.
        let mut judged = session.clone();
        judged.last_customer_at = last_customer_at;
        let prepared = self
            .compose
            .prepare_for(
                channel,
                &judged,
                &target.user,
                &request.message,
                request.author,
                now,
            )
            .await
            .map_err(|e| match e {
                ComposeError::Store(e) => OutreachError::Store(e),
                ComposeError::Refused { code, reason, .. } => {
                    OutreachError::Refused { code, reason }
                }
                other => OutreachError::Invalid(other.to_string()),
            })?;
        if let Some(refusal) = prepared.refusal {
            return Err(OutreachError::Refused {
                code: refusal.code,
                reason: refusal.reason,
            });
        }
        let entry = prepared.entry;
        let note = prepared.sensitive_note;
        let job = send_job(entry.id, purpose, REPLY_PRIORITY, now);
        let effects = InboundWrite {
            user: new_user,
            sessions: if appended {
                Vec::new()
            } else {
                vec![session.clone()]
            },
            entries: note.into_iter().chain([entry.clone()]).collect(),
            jobs: vec![job],
            ..InboundWrite::default()
        };
        let created_user = effects.user.is_some();
        let mut effects = effects;
        if let Some(new) = &effects.user {
            // Every consent status has its origin in the history (MU-04).
            effects.consent = Some(ConsentWrite {
                messaging_user_id: new.id,
                from: None,
                to: new
                    .consent_status
                    .unwrap_or(ConsentStatus::ImplicitlyOptedIn),
                source: ConsentSource::Api,
                reason: format!(
                    "first message to a new recipient on '{}', whose consent level is implicit",
                    channel.name
                ),
                entry_id: Some(entry.id),
            });
        }
        match self
            .store
            .write_outreach(
                &effects,
                request.idempotency.as_ref(),
                entry.id,
                origin,
                now,
            )
            .await?
        {
            OutreachWritten::Written => {}
            OutreachWritten::KeyTaken(earlier) => {
                let key = request
                    .idempotency
                    .as_ref()
                    .ok_or_else(|| OutreachError::Invalid("no idempotency key".to_owned()))?;
                return self.replay(key, earlier).await;
            }
        }
        if created_user {
            self.events.publish(DomainEvent::ConsentChanged {
                messaging_user_id: target.user.id,
            });
        }
        if !appended {
            self.events.publish(DomainEvent::SessionOpened {
                session_id: session.id,
            });
        }
        self.events.publish(DomainEvent::MessageStatusChanged {
            session_id: session.id,
            entry_id: entry.id,
        });
        self.compose.wake_outbound();
        metrics::counter!("parley_outreach_queued_total", "kind" => channel.kind.as_str())
            .increment(1);
        Ok(Reached {
            entry,
            session,
            user: target.user,
            appended,
            created_user,
            replayed: false,
        })
    }

    /// The recipient's messaging user (read, or made to be created with the send).
    async fn target(
        &self,
        channel: &Channel,
        request: &OutreachRequest,
    ) -> Result<(OutreachTarget, Option<UserInsert>), OutreachError> {
        match &request.recipient {
            Recipient::MessagingUser(id) => {
                let target = self.store.outreach_target(*id).await?;
                if target.user.channel_id != channel.id {
                    return Err(OutreachError::Invalid(format!(
                        "messaging user {id} belongs to another channel than '{}'",
                        channel.name
                    )));
                }
                Ok((target, None))
            }
            Recipient::Address(raw) => {
                let key = platform_key(channel.kind, raw)?;
                if let Some(found) = self.store.outreach_target_by_key(channel.id, &key).await? {
                    return Ok((found, None));
                }
                match unknown_recipient(channel.consent_level) {
                    UnknownRecipient::Exclude(out) => Err(OutreachError::excluded(
                        out,
                        format!(
                            "{key} has no messaging user on '{}', whose {} consent level needs \
                             an opt-in before anything is sent",
                            channel.name, channel.consent_level
                        ),
                    )),
                    UnknownRecipient::Create(consent) => {
                        let insert = UserInsert {
                            id: new_id(),
                            channel_id: channel.id,
                            platform_key: key,
                            name: String::new(),
                            locale: None,
                            consent_status: Some(consent),
                            contact_id: request.contact_id,
                        };
                        let now = Timestamp::from_millis(0);
                        let user = MessagingUser {
                            id: insert.id,
                            channel_id: channel.id,
                            platform_key: insert.platform_key.clone(),
                            name: String::new(),
                            locale: None,
                            consent_status: Some(consent),
                            contact_id: request.contact_id,
                            created_at: now,
                            updated_at: now,
                            restricted_at: None,
                        };
                        let target = OutreachTarget {
                            user,
                            last_inbound_at: None,
                            open_session: None,
                        };
                        Ok((target, Some(insert)))
                    }
                }
            }
        }
    }
}

/// The platform key for `raw` on a channel of `kind`: E.164 where the channel reaches phone
/// numbers.
fn platform_key(kind: ChannelKind, raw: &str) -> Result<String, OutreachError> {
    match kind {
        ChannelKind::Sms | ChannelKind::Whatsapp => {
            E164::parse(raw).map(E164::into_string).map_err(|e| {
                OutreachError::excluded(Exclusion::InvalidNumber, format!("'{raw}': {e}"))
            })
        }
        _ => {
            let key = raw.trim();
            if key.is_empty() {
                return Err(OutreachError::Invalid("the recipient is empty".to_owned()));
            }
            Ok(key.to_owned())
        }
    }
}

/// Why `out` left the recipient out, for people.
fn exclusion_reason(out: Exclusion, channel: &Channel, address: &str) -> String {
    match out {
        Exclusion::OutOfCountry => format!(
            "'{}' ({}) sends SMS only to numbers of its own country; {address} is not one (TM-10)",
            channel.name, channel.address
        ),
        Exclusion::OptedOut => format!("{address} opted out on '{}'", channel.name),
        Exclusion::NotExplicitlyOptedIn => format!(
            "{address} has not explicitly opted in on '{}': a broadcast needs explicit opt-in, \
             implicit consent is not enough",
            channel.name
        ),
        Exclusion::NoConsent | Exclusion::ConsentTooLow => {
            format!(
                "{address} is not opted in at the {} level '{}' requires",
                channel.consent_level, channel.name
            )
        }
        Exclusion::OutsideCareWindow => format!(
            "{address} last wrote more than 24 hours ago: on {} only an approved template may be \
             sent now",
            channel.kind
        ),
        other => format!("{address}: {}", other.as_str()),
    }
}
