//! The web chat widget's work (issue 14): visitors and their tokens, the conversation a visitor
//! sees, and what the visitor does (write, upload, type, read, end, log out). The HTTP layer
//! (`parley_server::widget`) checks origins, limits and shapes; the rules are here and in
//! `parley_core::web`.
//!
//! Visitors. An anonymous visitor gets a messaging user of their own (platform key
//! `anon:<uuid>`) and a token that lives 6 hours (SE-14: the history is gone 6 hours after the
//! visitor was created; activity does not extend it). A verified visitor (a JWT of the site,
//! checked by [`crate::web_identity`]) gets the messaging user of their `sub` (`uid:<sub>`), the
//! same on every device, so the history follows them (WEB-19), and a token that lives 30 days or
//! until logout (WEB-20). Tokens are `pv_` and 43 characters of URL-safe base64 (32 random
//! bytes); only their SHA-256 is stored.
//!
//! Messages go in like any provider's: an [`InboundEvent`] through [`crate::ingest::Ingest`],
//! with `provider_message_id = web:<visitor>:<client_message_id>` so a retried POST is one
//! message, and the widget's context ([`WebInbound`]: pre-chat values, page, identity).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use parley_core::model::{Actor, Direction, EntryStatus};
use parley_core::web::WebDeployment;
use parley_core::{Timestamp, new_id};
use parley_store::{
    ConsentOrigin, Entry, MessagingUser, NewMessagingUser, NewWebVisitor, Session, Store,
    StoreError, WebEntryQuery, WebVisitor,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::Engine;
use crate::events::DomainEvent;
use crate::jobs::{InboundEvent, WebInbound};
use crate::media::MediaError;

/// SE-14: an anonymous visitor's history (and token) lasts this long after their creation.
pub const ANONYMOUS_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// A verified visitor's token lasts this long (or until logout).
pub const VERIFIED_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// The largest file a visitor uploads (WEB-22: 5 MB).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Entries the conversation view and a replay return at most.
pub const MAX_ENTRIES: i64 = 1_000;
/// Longest `client_message_id`.
pub const MAX_CLIENT_ID: usize = 64;
const TOKEN_PREFIX: &str = "pv_";

/// Why a widget request cannot be done. The HTTP layer maps each to a stable code.
#[derive(Debug, thiserror::Error)]
pub enum WebChatError {
    /// Unknown, revoked or expired token (401 `visitor_token_invalid`).
    #[error("the visitor token is unknown, expired or revoked")]
    TokenInvalid,
    /// The deployment verifies its users and no identity token came (401).
    #[error("this deployment requires a verified user: send identity_token")]
    IdentityRequired,
    #[error("identity token refused: {0}")]
    Identity(String),
    /// Bad input (422), naming the field.
    #[error("{0}")]
    Invalid(String),
    /// The pre-chat values do not fit the form (422), one message per field.
    #[error("pre-chat: {}", .0.join("; "))]
    Prechat(Vec<String>),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Nothing to act on (409): no open session to end.
    #[error("{0}")]
    Conflict(String),
    #[error("the message could not be taken: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("media: {0}")]
    Media(String),
    /// A dependency is down (503): retrying later may succeed.
    #[error("not available now: {0}")]
    Unavailable(String),
}

impl From<MediaError> for WebChatError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Store(s) => Self::Store(s),
            MediaError::TooLarge { limit } => {
                Self::Invalid(format!("file: larger than {limit} bytes"))
            }
            other => Self::Media(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, WebChatError>;

/// A fresh visitor token and the hash to store for it.
pub fn new_visitor_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_visitor_token(&token);
    (token, hash)
}

pub fn hash_visitor_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A visitor just created, with the token shown to the widget once.
#[derive(Debug, Clone)]
pub struct NewVisitor {
    pub visitor: WebVisitor,
    pub token: String,
}

/// What the widget sends as a message.
#[derive(Debug, Clone, Default)]
pub struct VisitorMessage {
    pub client_message_id: String,
    pub text: String,
    pub media_ids: Vec<Uuid>,
    pub choice: Option<String>,
    pub prechat: Option<BTreeMap<String, String>>,
    pub page_url: Option<String>,
    pub user_agent: Option<String>,
}

/// The conversation as the widget shows it.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The open session, else the latest one in the window.
    pub session: Option<Session>,
    pub agent_name: Option<String>,
    pub entries: Vec<Entry>,
    /// Agents' names by id, for the entries' authors.
    pub names: BTreeMap<Uuid, String>,
    pub estimated_wait_minutes: Option<u32>,
    /// The open session has its pre-chat (or the deployment asks none): the widget shows no form.
    pub prechat_done: bool,
}

/// Whether the web channel's business hours are open now, and the after-hours reply if not.
#[derive(Debug, Clone)]
pub struct Hours {
    pub open: bool,
    pub message: Option<String>,
}

/// Where the visitor's history starts (SE-14): verified, all of it; anonymous, since they were
/// created and at most [`ANONYMOUS_LIFETIME`] ago.
pub fn history_since(visitor: &WebVisitor, now: Timestamp) -> Timestamp {
    if visitor.verified {
        Timestamp::from_millis(0)
    } else {
        Timestamp::from_millis(
            visitor
                .created_at
                .millis()
                .max(now.minus(ANONYMOUS_LIFETIME).millis()),
        )
    }
}

/// A visitor for `deployment`: verified with `identity_token`, anonymous without.
pub async fn create_visitor(
    engine: &Engine,
    deployment: &WebDeployment,
    identity_token: Option<&str>,
) -> Result<NewVisitor> {
    let now = engine.clock.now();
    let (key, verified, lifetime) = match identity_token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(jwt) => {
            let sub = verified_sub(engine, deployment, jwt, now).await?;
            let sub = sub.trim();
            if sub.is_empty() || sub.chars().count() > parley_core::channel::MAX_USER_ID_CHARS - 4 {
                return Err(WebChatError::Identity(format!(
                    "sub must be 1 to {} characters",
                    parley_core::channel::MAX_USER_ID_CHARS - 4
                )));
            }
            (format!("uid:{sub}"), true, VERIFIED_LIFETIME)
        }
        None if deployment.keyset_id.is_some() => return Err(WebChatError::IdentityRequired),
        None => (format!("anon:{}", new_id()), false, ANONYMOUS_LIFETIME),
    };
    let user = messaging_user(engine, deployment, &key).await?;
    let (token, hash) = new_visitor_token();
    let visitor = engine
        .store
        .create_web_visitor(
            &NewWebVisitor {
                deployment_id: deployment.id,
                messaging_user_id: user.id,
                token_hash: &hash,
                verified,
                expires_at: now.plus(lifetime),
            },
            now,
        )
        .await?;
    Ok(NewVisitor { visitor, token })
}

/// The `sub` of a valid identity token of the deployment's keyset (WEB-19).
async fn verified_sub(
    engine: &Engine,
    deployment: &WebDeployment,
    jwt: &str,
    now: Timestamp,
) -> Result<String> {
    crate::web_identity::verify_identity_token(engine, deployment, jwt, now)
        .await
        .map(|identity| identity.sub)
        .map_err(|e| match e {
            // Not the token's fault (the database or the site's JWKS endpoint is down).
            crate::web_identity::IdentityError::Unavailable(why) => WebChatError::Unavailable(why),
            other => WebChatError::Identity(other.to_string()),
        })
}

/// The messaging user of `key` on the deployment's channel, found or created; two devices of a
/// verified user racing end with the same one.
async fn messaging_user(
    engine: &Engine,
    deployment: &WebDeployment,
    key: &str,
) -> Result<MessagingUser> {
    let store = &engine.store;
    if let Some(u) = store
        .messaging_user_by_key(deployment.channel_id, key)
        .await?
    {
        return Ok(u);
    }
    let new = NewMessagingUser {
        channel_id: deployment.channel_id,
        platform_key: key.to_owned(),
        name: String::new(),
        locale: Some(deployment.language.clone()),
        consent_status: None,
        contact_id: None,
    };
    let origin = ConsentOrigin {
        source: parley_core::model::ConsentSource::Inbound,
        reason: "web chat visitor".to_owned(),
        entry_id: None,
    };
    match store
        .create_messaging_user(&new, &origin, engine.clock.now())
        .await
    {
        Ok(u) => Ok(u),
        Err(e) => match store
            .messaging_user_by_key(deployment.channel_id, key)
            .await?
        {
            Some(u) => Ok(u),
            None => Err(e.into()),
        },
    }
}

/// The live visitor holding `token`.
pub async fn resolve(engine: &Engine, token: &str) -> Result<WebVisitor> {
    let token = token.trim();
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(WebChatError::TokenInvalid);
    }
    let now = engine.clock.now();
    let visitor = engine
        .store
        .web_visitor_by_hash(&hash_visitor_token(token))
        .await?
        .filter(|v| v.live_at(now))
        .ok_or(WebChatError::TokenInvalid)?;
    if visitor
        .last_seen_at
        .is_none_or(|at| now.millis() - at.millis() >= parley_store::LAST_SEEN_GRANULARITY_MS)
    {
        engine.store.touch_web_visitor(visitor.id, now).await?;
    }
    Ok(visitor)
}

/// The visitor's sessions in their history window, newest first.
pub async fn sessions(engine: &Engine, visitor: &WebVisitor) -> Result<Vec<Session>> {
    sessions_at(&engine.store, visitor, engine.clock.now()).await
}

/// [`sessions`] with the store and time given (an event stream keeps no engine).
pub async fn sessions_at(
    store: &Store,
    visitor: &WebVisitor,
    now: Timestamp,
) -> Result<Vec<Session>> {
    let since = history_since(visitor, now);
    Ok(store.web_sessions(visitor.messaging_user_id, since).await?)
}

/// Entries of the visitor's sessions in the window: all of them, or (a stream's replay) those
/// after `after` plus the outbound ones changed since it was written.
pub async fn entries(
    engine: &Engine,
    visitor: &WebVisitor,
    sessions: &[Session],
    after: Option<Uuid>,
) -> Result<Vec<Entry>> {
    entries_at(&engine.store, visitor, sessions, after, engine.clock.now()).await
}

/// [`entries`] with the store and time given.
pub async fn entries_at(
    store: &Store,
    visitor: &WebVisitor,
    sessions: &[Session],
    after: Option<Uuid>,
    now: Timestamp,
) -> Result<Vec<Entry>> {
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    let changed_since = after.and_then(uuid_time);
    let mut found = store
        .web_entries(&WebEntryQuery {
            session_ids: &ids,
            since: history_since(visitor, now),
            after,
            changed_since,
            limit: MAX_ENTRIES,
        })
        .await?;
    // Transcript events (a close's reason) are the business's notes, not the visitor's to read.
    found.retain(|e| e.direction != Direction::Event);
    Ok(found)
}

/// How long an expired visitor row is kept (its token answers 401 meanwhile, like a revoked one).
pub const EXPIRED_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Deletes visitor rows long expired, hourly (their sessions and entries stay).
pub async fn run_sweep(
    store: Store,
    clock: std::sync::Arc<dyn parley_core::Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let before = clock.now().minus(EXPIRED_KEPT);
                if let Err(e) = store.delete_expired_web_visitors(before).await {
                    tracing::warn!(error = %e, "web visitor sweep failed");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

/// The creation time a UUID v7 carries.
fn uuid_time(id: Uuid) -> Option<Timestamp> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    let ms = i64::try_from(secs).ok()? * 1000 + i64::from(nanos / 1_000_000);
    Some(Timestamp::from_millis(ms))
}

/// What the widget shows when it opens.
pub async fn conversation(
    engine: &Engine,
    deployment: &WebDeployment,
    visitor: &WebVisitor,
) -> Result<Conversation> {
    let sessions = sessions(engine, visitor).await?;
    let entries = entries(engine, visitor, &sessions, None).await?;
    let session = sessions
        .iter()
        .find(|s| s.status.is_open())
        .or_else(|| sessions.first())
        .cloned();
    let mut names = BTreeMap::new();
    let agent_ids = entries
        .iter()
        .filter(|e| e.actor == Actor::Agent)
        .filter_map(|e| e.actor_id)
        .chain(session.as_ref().and_then(agent_of));
    for id in agent_ids {
        if let std::collections::btree_map::Entry::Vacant(v) = names.entry(id)
            && let Ok(agent) = engine.store.agent(id).await
        {
            v.insert(agent.name);
        }
    }
    let agent_name = session
        .as_ref()
        .and_then(agent_of)
        .and_then(|id| names.get(&id).cloned());
    let open = session.as_ref().filter(|s| s.status.is_open());
    let estimated_wait_minutes = match open {
        Some(s) if s.status == parley_core::model::SessionStatus::Waiting => match s.queue_id {
            Some(q) => engine.desk.estimated_wait(q).await.unwrap_or(None),
            None => None,
        },
        _ => None,
    };
    let prechat_done = !deployment.prechat.enabled
        || match open {
            Some(s) => engine.store.web_session_data(s.id).await?.is_some(),
            None => false,
        };
    Ok(Conversation {
        session,
        agent_name,
        entries,
        names,
        estimated_wait_minutes,
        prechat_done,
    })
}

fn agent_of(s: &Session) -> Option<Uuid> {
    (s.owner_kind == Some(parley_core::model::OwnerKind::Agent))
        .then_some(s.owner_id)
        .flatten()
}

/// The web channel's business hours now (routing's `BusinessHours`).
pub async fn hours(engine: &Engine, deployment: &WebDeployment) -> Result<Hours> {
    let channel = engine.store.channel(deployment.channel_id).await?;
    let behaviour = crate::channel_rules::translated_behaviour(&engine.store, &channel)
        .await
        .unwrap_or_default();
    let open = behaviour
        .business_hours
        .as_ref()
        .is_none_or(|h| h.is_open(engine.clock.now()));
    let message = if open {
        None
    } else {
        behaviour
            .auto_reply(
                &behaviour.auto_replies.after_hours,
                Some(deployment.language.as_str()),
            )
            .map(str::to_owned)
    };
    Ok(Hours { open, message })
}

fn check_client_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(WebChatError::Invalid(format!(
            "client_message_id: 1 to {MAX_CLIENT_ID} letters, digits, '-' or '_'"
        )))
    }
}

/// Takes a visitor's message into the inbound pipeline.
pub async fn send(
    engine: &Engine,
    deployment: &WebDeployment,
    visitor: &WebVisitor,
    msg: VisitorMessage,
) -> Result<()> {
    check_client_id(&msg.client_message_id)?;
    let text = msg.text.trim().to_owned();
    if text.is_empty() && msg.media_ids.is_empty() && msg.choice.is_none() {
        return Err(WebChatError::Invalid(
            "text: a message needs text, a file or a choice".to_owned(),
        ));
    }
    if let Err(e) = parley_core::sms::check_length(parley_core::model::ChannelKind::Web, &text) {
        return Err(WebChatError::Invalid(format!("text: {e}")));
    }
    if msg.media_ids.len() > parley_core::media::MAX_FILES {
        return Err(WebChatError::Invalid(format!(
            "media_ids: at most {} file per message",
            parley_core::media::MAX_FILES
        )));
    }
    if msg.choice.as_ref().is_some_and(|c| c.len() > 256) {
        return Err(WebChatError::Invalid(
            "choice: at most 256 characters".to_owned(),
        ));
    }
    let page_url = match msg.page_url {
        Some(u) if u.len() > 2048 => {
            return Err(WebChatError::Invalid(
                "page_url: at most 2048 characters".to_owned(),
            ));
        }
        other => other,
    };
    let prechat = match msg.prechat {
        Some(values) if !values.is_empty() || deployment.prechat.enabled => {
            parley_core::web::check_prechat(&deployment.prechat, &values).map_err(|errs| {
                WebChatError::Prechat(errs.iter().map(ToString::to_string).collect())
            })?
        }
        _ => BTreeMap::new(),
    };
    let mut media = Vec::with_capacity(msg.media_ids.len());
    for id in &msg.media_ids {
        if engine.store.web_upload_visitor(*id).await? != Some(visitor.id) {
            return Err(WebChatError::Invalid(format!(
                "media_ids: {id} is not a file this visitor uploaded"
            )));
        }
        let stored = engine.store.media(*id).await?;
        media.push(parley_store::Media {
            url: format!("parley:media/{id}"),
            content_type: stored.content_type,
            size: u64::try_from(stored.size).ok(),
            id: Some(*id),
            error: None,
        });
    }
    let user = engine
        .store
        .messaging_user(visitor.messaging_user_id)
        .await?;
    let channel = engine.store.channel(deployment.channel_id).await?;
    let profile_name = [prechat.get("first_name"), prechat.get("last_name")]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // The pre-chat's name is the customer's name in the console, unless they have one.
    if !profile_name.is_empty() && user.name.is_empty() {
        engine
            .store
            .update_user_profile(user.id, Some(&profile_name), None, engine.clock.now())
            .await?;
    }
    let identity = visitor
        .verified
        .then(|| user.platform_key.strip_prefix("uid:").map(str::to_owned))
        .flatten();
    let event = InboundEvent {
        channel_id: channel.id,
        provider_message_id: format!("web:{}:{}", visitor.id, msg.client_message_id),
        from: user.platform_key.clone(),
        to: channel.address.clone(),
        text,
        media,
        profile_name: (!profile_name.is_empty()).then_some(profile_name),
        received_at: engine.clock.now(),
        choice: msg.choice,
        web: Some(WebInbound {
            deployment_id: deployment.id,
            visitor_id: visitor.id,
            prechat,
            page_url,
            identity,
            user_agent: msg.user_agent.map(|u| u.chars().take(512).collect()),
        }),
    };
    engine.ingest.submit(&event).await?;
    Ok(())
}

/// The visitor's open session, if any.
async fn open_session(engine: &Engine, visitor: &WebVisitor) -> Result<Option<Session>> {
    Ok(engine.store.open_session(visitor.messaging_user_id).await?)
}

/// The visitor is typing (or stopped): the console of the session's agent hears it.
pub async fn typing(engine: &Engine, visitor: &WebVisitor, typing: bool) -> Result<()> {
    if let Some(s) = open_session(engine, visitor).await? {
        engine.events.publish(DomainEvent::CustomerTyping {
            session_id: s.id,
            typing,
        });
    }
    Ok(())
}

/// The visitor read the conversation up to `up_to`: the business's messages up to it are read,
/// and the console hears each.
pub async fn read(engine: &Engine, visitor: &WebVisitor, up_to: Uuid) -> Result<usize> {
    let entry = match engine.store.entry(up_to).await {
        Ok(e) => e,
        Err(StoreError::NotFound { .. }) => return Err(WebChatError::NotFound("entry")),
        Err(e) => return Err(e.into()),
    };
    let session = engine.store.session(entry.session_id).await?;
    if session.messaging_user_id != visitor.messaging_user_id
        || entry.created_at < history_since(visitor, engine.clock.now())
    {
        return Err(WebChatError::NotFound("entry"));
    }
    let changed = engine
        .store
        .set_web_entries_read(session.id, up_to, engine.clock.now())
        .await?;
    for entry_id in &changed {
        engine.events.publish(DomainEvent::MessageStatusChanged {
            session_id: session.id,
            entry_id: *entry_id,
        });
    }
    Ok(changed.len())
}

/// The customer's End Chat: the open session ends, with the channel's end reply.
pub async fn end(engine: &Engine, visitor: &WebVisitor) -> Result<Session> {
    let Some(s) = open_session(engine, visitor).await? else {
        return Err(WebChatError::Conflict(
            "there is no open conversation to end".to_owned(),
        ));
    };
    let ended = engine
        .desk
        .end_by_customer(s.id)
        .await
        .map_err(|e| WebChatError::Conflict(e.to_string()))?;
    engine
        .events
        .publish(DomainEvent::SessionChanged { session_id: s.id });
    Ok(ended)
}

/// Logout (WEB-20): the token is revoked; the widget forgets it.
pub async fn logout(engine: &Engine, visitor: &WebVisitor) -> Result<()> {
    engine
        .store
        .revoke_web_visitor(visitor.id, engine.clock.now())
        .await?;
    // Its open streams on this node end now; on other nodes at their next reconnect (401).
    engine.web.disconnect_visitor(visitor.id);
    Ok(())
}

/// Stores a visitor's upload (the HTTP layer has checked its type by its first bytes).
pub async fn upload(
    engine: &Engine,
    visitor: &WebVisitor,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<parley_store::StoredMedia> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(WebChatError::Invalid(format!(
            "file: larger than {MAX_UPLOAD_BYTES} bytes"
        )));
    }
    let stored = engine.media.save(None, content_type, bytes).await?;
    engine
        .store
        .create_web_upload(stored.id, visitor.id, engine.clock.now())
        .await?;
    Ok(stored)
}

/// Whether the visitor may read a stored file: they uploaded it, or it is a file of their
/// conversation in the window.
pub async fn may_read_media(engine: &Engine, visitor: &WebVisitor, media_id: Uuid) -> Result<bool> {
    if engine.store.web_upload_visitor(media_id).await? == Some(visitor.id) {
        return Ok(true);
    }
    let sessions = sessions(engine, visitor).await?;
    let entries = entries(engine, visitor, &sessions, None).await?;
    Ok(entries
        .iter()
        .any(|e| e.media.iter().any(|m| m.id == Some(media_id))))
}

/// Who wrote an entry, as the widget says it.
pub fn author(entry: &Entry) -> &'static str {
    match (entry.direction, entry.actor) {
        (Direction::Inbound, _) | (_, Actor::Customer) => "customer",
        (_, Actor::Agent) => "agent",
        (_, Actor::Bot) => "bot",
        (_, Actor::System) => "system",
    }
}

/// The conversation as plain text, oldest first (the widget's transcript download).
pub fn transcript(conversation: &Conversation, title: &str) -> String {
    let mut out = format!("{title}\n\n");
    for e in &conversation.entries {
        if e.direction == Direction::Outbound && e.status == EntryStatus::Failed {
            continue;
        }
        let who = match author(e) {
            "customer" => "You".to_owned(),
            "agent" => e
                .actor_id
                .and_then(|id| conversation.names.get(&id).cloned())
                .unwrap_or_else(|| "Agent".to_owned()),
            "bot" => "Bot".to_owned(),
            _ => "System".to_owned(),
        };
        let at = e.created_at.to_rfc3339();
        let mut text = e.body.clone();
        for m in &e.media {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!("[file: {}]", m.content_type));
        }
        out.push_str(&format!("[{at}] {who}: {text}\n"));
    }
    out
}
