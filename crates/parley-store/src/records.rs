//! What the store holds, as typed records. Enums are decoded from their wire names; a name this
//! version does not know is a `Corrupt` error, never a panic.

use parley_core::Timestamp;
use parley_core::i18n::Locale;
use parley_core::model::{
    Actor, AgentRole, CaseStatus, ChannelKind, ConsentLevel, ConsentSource, ConsentStatus,
    Direction, EntryStatus, JobState, NumberType, OwnerKind, Presence, Provider, QueueAssignment,
    RoutingModel, SessionContext, SessionStatus, TemplateCategory, TemplateStatus, TokenRole,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use uuid::Uuid;

/// One page of a list, with the cursor for the next page when there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}

/// Where a page starts (strictly after `after`) and how long it is.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 500;

    pub fn new(after: Option<Uuid>, limit: u32) -> Self {
        Self {
            after,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    /// One more than asked, so the store can tell whether a next page exists.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

pub(crate) trait HasId {
    fn id(&self) -> Uuid;
}

pub(crate) fn paginate<T: HasId>(mut rows: Vec<T>, page: PageRequest) -> Paged<T> {
    let limit = page.limit as usize;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(HasId::id)
    } else {
        None
    };
    Paged { items: rows, next }
}

macro_rules! has_id {
    ($($t:ty),+) => { $(impl HasId for $t { fn id(&self) -> Uuid { self.id } })+ };
}
has_id!(
    Channel,
    KeywordSet,
    Queue,
    Skill,
    Agent,
    Contact,
    Case,
    MessagingUser,
    Session,
    Entry,
    SimulatorMessage
);

/// A nullable consent column, decoded through `#[sqlx(try_from)]`.
pub struct OptConsent(Option<String>);

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for OptConsent
where
    Option<String>: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<Option<String> as sqlx::Decode<DB>>::decode(value)?))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for OptConsent
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl TryFrom<OptConsent> for Option<ConsentStatus> {
    type Error = parley_core::model::UnknownVariant;
    fn try_from(v: OptConsent) -> Result<Self, Self::Error> {
        v.0.map(|s| s.parse()).transpose()
    }
}

/// A nullable millisecond column, decoded through `#[sqlx(try_from)]`.
pub struct OptMillis(Option<i64>);

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for OptMillis
where
    Option<i64>: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<Option<i64> as sqlx::Decode<DB>>::decode(value)?))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for OptMillis
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl From<OptMillis> for Option<Timestamp> {
    fn from(v: OptMillis) -> Self {
        v.0.map(Timestamp::from_millis)
    }
}

/// Decodes an enum column in a hand-written `FromRow`.
pub(crate) fn req_enum<T: std::str::FromStr<Err = parley_core::model::UnknownVariant>>(
    column: &str,
    raw: String,
) -> Result<T, sqlx::Error> {
    raw.parse::<T>().map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

/// Decodes an optional enum column; sqlx's `try_from` attribute cannot express `Option<Enum>`.
pub(crate) fn opt_enum<T: std::str::FromStr<Err = parley_core::model::UnknownVariant>>(
    column: &str,
    raw: Option<String>,
) -> Result<Option<T>, sqlx::Error> {
    raw.map(|s| s.parse::<T>())
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        })
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: Uuid,
    pub name: String,
    pub kind: ChannelKind,
    pub provider: Provider,
    pub address: String,
    pub number_type: Option<NumberType>,
    /// The program's keyword on a shared short code.
    pub provider_keyword: Option<String>,
    pub country: Option<String>,
    pub consent_level: ConsentLevel,
    pub queue_id: Option<Uuid>,
    pub throughput_mps: Option<i64>,
    pub settings: Value,
    /// Provider credentials. Never shown by the API; present here for the adapters.
    #[serde(skip)]
    pub secrets: Value,
    /// Its sender limits' configuration (`parley_core::sender_limits::LimitConfig` as JSON;
    /// `{}`: the defaults of its kind and number type).
    #[serde(default)]
    pub sender_limits: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<'r, R: Row> FromRow<'r, R> for Channel
where
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Json<Value>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: req_enum("kind", row.try_get("kind")?)?,
            provider: req_enum("provider", row.try_get("provider")?)?,
            address: row.try_get("address")?,
            number_type: opt_enum("number_type", row.try_get("number_type")?)?,
            provider_keyword: row.try_get("provider_keyword")?,
            country: row.try_get("country")?,
            consent_level: req_enum("consent_level", row.try_get("consent_level")?)?,
            queue_id: row.try_get("queue_id")?,
            throughput_mps: row.try_get("throughput_mps")?,
            settings: row.try_get::<Json<Value>, _>("settings")?.0,
            secrets: row.try_get::<Json<Value>, _>("secrets")?.0,
            // Absent from a select that names its columns: the defaults.
            sender_limits: row
                .try_get::<Json<Value>, _>("sender_limits")
                .map_or(Value::Null, |j| j.0),
            created_at: Timestamp(row.try_get("created_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
        })
    }
}

/// A channel as written by the API or `parley apply`; the store fills ids and times.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: ChannelKind,
    pub provider: Provider,
    pub address: String,
    pub number_type: Option<NumberType>,
    pub provider_keyword: Option<String>,
    pub country: Option<String>,
    pub consent_level: ConsentLevel,
    pub queue_id: Option<Uuid>,
    pub throughput_mps: Option<i64>,
    pub settings: Value,
    pub secrets: Value,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Queue {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub routing_model: RoutingModel,
    pub priority: i64,
    #[sqlx(try_from = "String")]
    pub assignment: QueueAssignment,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub name: String,
    pub routing_model: RoutingModel,
    pub priority: i64,
    pub assignment: QueueAssignment,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Skill {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SkillSpec {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: AgentRole,
    pub capacity: i64,
    #[sqlx(try_from = "String")]
    pub presence: Presence,
    /// The console language the agent chose.
    #[sqlx(try_from = "String")]
    pub locale: Locale,
    /// The agent's IANA time zone (`America/Toronto`); `None` until first chosen.
    pub time_zone: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// Filled by the store from the membership tables.
    #[sqlx(skip)]
    pub queue_ids: Vec<Uuid>,
    #[sqlx(skip)]
    pub skills: Vec<AgentSkill>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, FromRow)]
pub struct AgentSkill {
    pub skill_id: Uuid,
    pub level: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub name: String,
    pub email: String,
    pub role: AgentRole,
    pub capacity: i64,
    pub queue_ids: Vec<Uuid>,
    pub skills: Vec<AgentSkill>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Contact {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// A contact as written. `phone` is E.164, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSpec {
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<parley_core::E164>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Case {
    pub id: Uuid,
    /// The number people use for it (1001, 1002...), given in creation order.
    pub number: Option<i64>,
    pub contact_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub status: CaseStatus,
    /// The agent responsible for it, if any.
    pub owner_agent_id: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// Set when the case is closed, cleared when it is reopened.
    #[sqlx(try_from = "OptMillis")]
    pub closed_at: Option<Timestamp>,
}

/// A case as written by [`crate::Store::create_case_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub contact_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub subject: String,
    pub owner_agent_id: Option<Uuid>,
    /// Sessions linked to the case in the same transaction.
    pub session_ids: Vec<Uuid>,
}

/// A case's editable fields, written whole by [`crate::Store::update_case`].
#[derive(Debug, Clone, PartialEq)]
pub struct CaseWrite {
    pub subject: String,
    pub status: CaseStatus,
    pub owner_agent_id: Option<Uuid>,
    pub closed_at: Option<Timestamp>,
}

/// What a case search looks for; `None` filters nothing.
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    /// A case number: an exact match.
    pub number: Option<i64>,
    /// Text that the subject contains, in any case.
    pub text: Option<String>,
    pub status: Option<CaseStatus>,
    pub contact_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct MessagingUser {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub platform_key: String,
    pub name: String,
    pub locale: Option<String>,
    /// `None`: never consented on this channel, which is not an opt-out.
    #[sqlx(try_from = "OptConsent")]
    pub consent_status: Option<ConsentStatus>,
    pub contact_id: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// Restriction of processing (PRIV-02): set, nothing is sent to this user and no flow runs
    /// for it; its data stays.
    #[sqlx(try_from = "OptMillis")]
    pub restricted_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMessagingUser {
    pub channel_id: Uuid,
    pub platform_key: String,
    pub name: String,
    pub locale: Option<String>,
    pub consent_status: Option<ConsentStatus>,
    pub contact_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentEvent {
    pub id: Uuid,
    pub messaging_user_id: Uuid,
    pub from_status: Option<ConsentStatus>,
    pub to_status: ConsentStatus,
    pub source: ConsentSource,
    pub reason: String,
    pub entry_id: Option<Uuid>,
    pub at: Timestamp,
}

impl<'r, R: Row> FromRow<'r, R> for ConsentEvent
where
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            messaging_user_id: row.try_get("messaging_user_id")?,
            from_status: opt_enum("from_status", row.try_get("from_status")?)?,
            to_status: req_enum("to_status", row.try_get("to_status")?)?,
            source: req_enum("source", row.try_get("source")?)?,
            reason: row.try_get("reason")?,
            entry_id: row.try_get("entry_id")?,
            at: Timestamp(row.try_get("at")?),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewConsentEvent {
    pub messaging_user_id: Uuid,
    pub from_status: Option<ConsentStatus>,
    pub to_status: ConsentStatus,
    pub source: ConsentSource,
    pub reason: String,
    pub entry_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    pub status: SessionStatus,
    pub context: SessionContext,
    pub owner_kind: Option<OwnerKind>,
    pub owner_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub error_reason: Option<String>,
    pub agent_messages: i64,
    pub customer_messages: i64,
    pub started_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub last_customer_at: Option<Timestamp>,
    pub last_agent_at: Option<Timestamp>,
    pub initiated_by: Actor,
    pub status_since: Timestamp,
    pub pending_inquiry: bool,
    pub session_opt_in: bool,
    pub end_reason: Option<String>,
    pub ended_by: Option<Actor>,
    pub updated_at: Timestamp,
}

impl<'r, R: Row> FromRow<'r, R> for Session
where
    &'r str: sqlx::ColumnIndex<R>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let ts = |v: Option<i64>| v.map(Timestamp);
        Ok(Self {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            channel_id: row.try_get("channel_id")?,
            messaging_user_id: row.try_get("messaging_user_id")?,
            status: req_enum("status", row.try_get("status")?)?,
            context: req_enum("context", row.try_get("context")?)?,
            owner_kind: opt_enum("owner_kind", row.try_get("owner_kind")?)?,
            owner_id: row.try_get("owner_id")?,
            queue_id: row.try_get("queue_id")?,
            case_id: row.try_get("case_id")?,
            error_reason: row.try_get("error_reason")?,
            agent_messages: row.try_get("agent_messages")?,
            customer_messages: row.try_get("customer_messages")?,
            started_at: Timestamp(row.try_get("started_at")?),
            accepted_at: ts(row.try_get("accepted_at")?),
            ended_at: ts(row.try_get("ended_at")?),
            last_customer_at: ts(row.try_get("last_customer_at")?),
            last_agent_at: ts(row.try_get("last_agent_at")?),
            initiated_by: req_enum("initiated_by", row.try_get("initiated_by")?)?,
            status_since: Timestamp(row.try_get("status_since")?),
            pending_inquiry: row.try_get("pending_inquiry")?,
            session_opt_in: row.try_get("session_opt_in")?,
            end_reason: row.try_get("end_reason")?,
            ended_by: opt_enum("ended_by", row.try_get("ended_by")?)?,
            updated_at: Timestamp(row.try_get("updated_at")?),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    pub status: SessionStatus,
    pub context: SessionContext,
    pub queue_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub session_id: Uuid,
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    #[sqlx(try_from = "String")]
    pub actor: Actor,
    pub actor_id: Option<Uuid>,
    pub body: String,
    #[sqlx(json)]
    pub media: Vec<Media>,
    pub provider_message_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: EntryStatus,
    pub error_code: Option<String>,
    pub provider_error: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// The WhatsApp template this outbound entry is sent as, when it is one (the body then holds
    /// the rendered text, for people to read).
    #[sqlx(json(nullable))]
    pub template: Option<EntryTemplate>,
    /// The component this outbound entry is sent as, when it is one (the body then holds its
    /// text fallback: what SMS sends and what people read in lists).
    #[sqlx(json(nullable))]
    pub component: Option<parley_core::component::Component>,
}

/// Which approved template an entry is sent as, and the values of its placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EntryTemplate {
    pub template_id: Uuid,
    pub name: String,
    pub language: String,
    /// Values of `{{1}}`, `{{2}}`... in order.
    pub parameters: Vec<String>,
}

/// One attachment of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Media {
    /// Where the file is: a public link for outbound files; for inbound ones the provider's
    /// reference (Twilio's media URL, WhatsApp's media id, Messenger's attachment URL).
    pub url: String,
    pub content_type: String,
    /// Bytes, when known (declared by the sender, or measured once Parley stored the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Parley's copy of an inbound file (`GET /api/v1/media/{id}`), once fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Why Parley could not keep a copy of an inbound file, when it gave up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Media {
    /// An attachment known only by its location and type.
    pub fn new(url: impl Into<String>, content_type: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            content_type: content_type.into(),
            size: None,
            id: None,
            error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub session_id: Uuid,
    pub direction: Direction,
    pub actor: Actor,
    pub actor_id: Option<Uuid>,
    pub body: String,
    pub media: Vec<Media>,
    pub provider_message_id: Option<String>,
    pub status: EntryStatus,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Template {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub name: String,
    pub language: String,
    #[sqlx(try_from = "String")]
    pub category: TemplateCategory,
    #[sqlx(try_from = "String")]
    pub status: TemplateStatus,
    pub body: String,
    #[sqlx(json)]
    pub components: Value,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    /// The merge field of each placeholder in order, a JSON array of names (issue 13); `None`
    /// when none were declared.
    #[sqlx(default)]
    pub merge_fields: Option<String>,
    /// Each placeholder's name and example, a JSON array of `{"name", "example"}` in order
    /// (issue 15); `None` when none were given.
    #[sqlx(default)]
    pub variables: Option<String>,
    /// Why the reviewer refused it, kept until it is submitted again.
    #[sqlx(default)]
    pub rejection_reason: Option<String>,
    /// Milliseconds: when it was last submitted for review.
    #[sqlx(default)]
    pub submitted_at: Option<i64>,
    /// Milliseconds: when it was last approved or refused.
    #[sqlx(default)]
    pub reviewed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub channel_id: Uuid,
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub status: TemplateStatus,
    pub body: String,
    pub components: Value,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct KeywordSet {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub language: String,
    #[sqlx(json)]
    pub config: Value,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeywordSetSpec {
    pub channel_id: Uuid,
    pub language: String,
    pub config: Value,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Job {
    pub id: Uuid,
    pub queue: String,
    pub kind: String,
    pub payload: String,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub priority: i64,
    #[sqlx(try_from = "i64")]
    pub due_at: Timestamp,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_until: Option<i64>,
    pub leased_by: Option<String>,
    pub dedupe_key: Option<String>,
    pub last_error: Option<String>,
    /// The group the job belongs to (`campaign:{id}` for a campaign's sends).
    pub group_key: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub payload: String,
    pub priority: i64,
    pub due_at: Timestamp,
    pub max_attempts: i64,
    pub dedupe_key: Option<String>,
    /// Jobs of one group (a campaign's sends) are held, released and counted together.
    pub group_key: Option<String>,
}

impl NewJob {
    /// A job due now on `queue`, with ten attempts and no dedupe key.
    pub fn new(
        queue: impl Into<String>,
        kind: impl Into<String>,
        payload: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        Self {
            queue: queue.into(),
            kind: kind.into(),
            payload: payload.into(),
            priority: 0,
            due_at: now,
            max_attempts: 10,
            dedupe_key: None,
            group_key: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: TokenRole,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Past this the token is refused; none lasts until revoked.
    pub expires_at: Option<i64>,
    /// The agent an agent-role token acts as.
    pub agent_id: Option<Uuid>,
    /// The permission set the token is limited to, if it names one (issue 18).
    pub permission_set_id: Option<Uuid>,
}

impl ApiToken {
    /// Whether the token may still be used at `now`.
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now.millis() < e)
    }
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SimulatorMessage {
    pub id: Uuid,
    pub channel_id: Uuid,
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    pub from_addr: String,
    pub to_addr: String,
    pub body: String,
    pub status: String,
    pub entry_id: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}
