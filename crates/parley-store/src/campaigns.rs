//! Campaigns and their audiences (issue 11): segments, lists, campaigns, the message each
//! recipient got, short-link clicks and reply attribution. The rules (which member matches, who
//! is excluded, what the message says) are `parley_core::campaign`'s; this module reads and
//! writes, in batches.

use std::collections::{HashMap, HashSet};

use parley_core::campaign::audience::{Member, OpenSession, SegmentFilter};
use parley_core::campaign::results::Counts;
use parley_core::campaign::{CampaignKind, CampaignSpec, CampaignState};
use parley_core::model::ConsentStatus;
use parley_core::{Timestamp, new_id};
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{EntryTemplate, Media, OptConsent};
use crate::{BackendKind, Entry, NewJob, Result, Session, Store, StoreError, on_backend};

/// The latest campaign message a messaging user got since a time (`$1` user, `$2` since): the
/// one their reply answers. Uses `campaign_messages_user`.
pub(crate) const LATEST_FOR_USER: &str = "SELECT entry_id FROM campaign_messages \
     WHERE messaging_user_id = $1 AND created_at >= $2 ORDER BY created_at DESC LIMIT 1";

/// The latest campaign message sent to a number (`$1`) since `$2` by a campaign whose wa.me
/// footer links to the WhatsApp channel `$3` (CMP-05). Uses `campaign_messages_address`.
pub(crate) const LATEST_FOR_WHATSAPP_FOOTER: &str = "SELECT cm.entry_id FROM campaign_messages cm \
     JOIN campaigns c ON c.id = cm.campaign_id \
     WHERE cm.address = $1 AND cm.created_at >= $2 AND c.whatsapp_channel_id = $3 \
     ORDER BY cm.created_at DESC LIMIT 1";

/// Marks a campaign message answered (`$1` entry, `$2` at, `$3` a HELP hand-off, `$4` an
/// opt-out); the first reply's time stays.
pub(crate) const MARK_REPLY: &str = "UPDATE campaign_messages SET \
     replied_at = COALESCE(replied_at, $2), \
     help_at = CASE WHEN $3 THEN COALESCE(help_at, $2) ELSE help_at END, \
     opted_out_at = CASE WHEN $4 THEN COALESCE(opted_out_at, $2) ELSE opted_out_at END \
     WHERE entry_id = $1";

/// A saved segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub filter: SegmentFilter,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a segment is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSpec {
    pub name: String,
    pub description: String,
    pub filter: SegmentFilter,
}

/// A static list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceList {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub members: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One entry of a list: a phone number (E.164) or a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMember {
    pub id: Uuid,
    pub phone: Option<String>,
    pub contact_id: Option<Uuid>,
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCampaign {
    pub id: Uuid,
    pub spec: CampaignSpec,
    pub state: CampaignState,
    /// The short links' targets: link `n` of every recipient's code goes to `links[n]`.
    pub links: Vec<String>,
    /// What the expansion added up so far (audience looked at, excluded by reason).
    pub expansion: Counts,
    /// The last audience row (messaging user or list member id) the expansion looked at.
    pub expand_cursor: Option<Uuid>,
    /// The whole audience has been looked at.
    pub expanded: bool,
    /// Who created it (an agent's email or a token's name).
    pub created_by: Option<String>,
    pub scheduled_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl StoredCampaign {
    pub fn kind(&self) -> CampaignKind {
        self.spec.kind
    }
}

/// A campaign message's recipient row, written with its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignMessage {
    pub entry_id: Uuid,
    pub messaging_user_id: Uuid,
    pub channel_id: Uuid,
    /// The recipient's platform key (E.164 on SMS and WhatsApp): one message per address per
    /// campaign.
    pub address: String,
    /// The recipient's short-link code, when the content has links.
    pub code: Option<String>,
}

/// One expansion batch, written in one transaction: the new sessions (a recipient with no open
/// session on the sender gets a marketing session, already ended, in their conversation), the
/// entries (queued), their send jobs (chunks of entries, with the campaign's `group_key`; a
/// chunk naming a recipient left out below finds no entry for them and skips it), the recipient rows, the
/// campaign's cursor and counts, and the recipients' `last_outbound_at`.
#[derive(Debug, Clone, Default)]
pub struct CampaignBatch {
    pub campaign_id: Uuid,
    pub sessions: Vec<Session>,
    pub entries: Vec<Entry>,
    pub jobs: Vec<NewJob>,
    pub messages: Vec<CampaignMessage>,
    /// The cursor after this batch.
    pub cursor: Option<Uuid>,
    /// The expansion's counts after this batch (replaces the stored ones).
    pub expansion: Counts,
    /// The audience is exhausted.
    pub expanded: bool,
}

/// What a reply did, for attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// Any message from the recipient (counted once per recipient).
    Reply,
    /// A HELP hand-off (also a reply).
    Help,
    /// An opt-out (also a reply).
    OptOut,
}

/// An inbound message to attribute to the campaign it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution<'a> {
    pub messaging_user_id: Uuid,
    pub channel_id: Uuid,
    /// The sender's platform key (E.164 on SMS and WhatsApp).
    pub address: &'a str,
    pub kind: ReplyKind,
    pub at: Timestamp,
    /// Only campaign messages sent after this count (the attribution window).
    pub since: Timestamp,
}

/// A row of a campaign's CSV export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub entry_id: Uuid,
    pub address: String,
    pub channel_id: Uuid,
    pub status: String,
    pub error_code: Option<String>,
    pub clicks: i64,
    pub replied_at: Option<Timestamp>,
    pub help_at: Option<Timestamp>,
    pub opted_out_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Where a short link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub campaign_id: Uuid,
    pub entry_id: Uuid,
    pub url: String,
}

/// Most rows one multi-row statement carries: enough that a statement's own cost is small beside
/// its rows', few enough that PostgreSQL plans it quickly.
const MAX_ROWS: usize = 1000;

/// The most parameters one statement may bind on each database.
fn max_params(kind: BackendKind) -> usize {
    match kind {
        // SQLITE_MAX_VARIABLE_NUMBER.
        BackendKind::Sqlite => 32_766,
        // The protocol counts them in 16 bits.
        BackendKind::Postgres => 65_535,
    }
}

/// Rows of `cols` parameters one statement takes beside `shared` ones.
fn rows_per_statement(kind: BackendKind, cols: usize, shared: usize) -> usize {
    (max_params(kind).saturating_sub(shared) / cols.max(1)).clamp(1, MAX_ROWS)
}

/// `sql`, written with `?` for each parameter in binding order, as the backend takes it. SQLite
/// keeps the `?`s: an anonymous parameter is bound by position, while a numbered one is found by
/// its name with a linear search, so a statement of thousands of `$N` binds in quadratic time.
/// PostgreSQL only knows `$N`, numbered here in order.
pub(crate) fn dialect(kind: BackendKind, sql: &str) -> String {
    match kind {
        BackendKind::Sqlite => sql.to_owned(),
        BackendKind::Postgres => {
            let mut out = String::with_capacity(sql.len() + sql.len() / 2);
            let mut n = 0_usize;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

/// `n` copies of `row`, comma-separated (`(?, ?), (?, ?)`, or `?, ?` for an `IN` list).
pub(crate) fn repeat(row: &str, n: usize) -> String {
    let mut s = String::with_capacity((row.len() + 2) * n);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(row);
    }
    s
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The send job's dedupe key of an entry (the engine's `send_job`): how a batch's and a
/// campaign's jobs are matched to their entries.
fn send_key(entry_id: Uuid) -> String {
    format!("send:{entry_id}")
}

/// The group key of a campaign's send jobs (the engine sets it on each job it writes).
pub fn campaign_group(campaign_id: Uuid) -> String {
    format!("campaign:{campaign_id}")
}

#[derive(sqlx::FromRow)]
struct SegmentRow {
    id: Uuid,
    name: String,
    description: String,
    filter: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SegmentRow> for Segment {
    type Error = StoreError;
    fn try_from(r: SegmentRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            name: r.name,
            description: r.description,
            filter: from_json("segment filter", &r.filter)?,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

const SEGMENT_COLS: &str = "id, name, description, filter, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ListRow {
    id: Uuid,
    name: String,
    description: String,
    members: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ListRow> for AudienceList {
    fn from(r: ListRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            members: r.members,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

const LIST_COLS: &str = "id, name, description, members, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ListMemberRow {
    id: Uuid,
    phone: Option<String>,
    contact_id: Option<Uuid>,
}

/// One audience member as read, before its JSON columns are parsed.
#[derive(sqlx::FromRow)]
struct MemberRow {
    id: Uuid,
    channel_id: Uuid,
    platform_key: String,
    name: String,
    #[sqlx(try_from = "OptConsent")]
    consent_status: Option<ConsentStatus>,
    locale: Option<String>,
    contact_id: Option<Uuid>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    attributes: String,
    contact_attributes: Option<String>,
    tags: String,
    last_inbound_at: Option<i64>,
    last_outbound_at: Option<i64>,
    session_id: Option<Uuid>,
    last_customer_at: Option<i64>,
    conversation_id: Option<Uuid>,
}

/// A contact's text field: the schema keeps names as `''` when unknown, which a merge field
/// must see as missing.
fn present(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

impl Store {
    fn open_member_row(&self, mut r: MemberRow) -> Result<MemberRow> {
        r.platform_key = self.open_text(&r.platform_key)?;
        r.name = self.open_text(&r.name)?;
        r.first_name = self.open_opt(r.first_name)?;
        r.last_name = self.open_opt(r.last_name)?;
        r.email = self.open_opt(r.email)?;
        r.phone = self.open_opt(r.phone)?;
        Ok(r)
    }
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> Result<Self> {
        // The contact's attributes first, the user's over them: the user's are about this
        // channel, so they are the more specific.
        let mut attributes = match &r.contact_attributes {
            Some(text) => {
                from_json::<serde_json::Map<String, serde_json::Value>>("contact attributes", text)?
            }
            None => serde_json::Map::new(),
        };
        let own: serde_json::Map<String, serde_json::Value> =
            from_json("messaging user attributes", &r.attributes)?;
        attributes.extend(own);
        Ok(Self {
            messaging_user_id: r.id,
            channel_id: r.channel_id,
            platform_key: r.platform_key,
            name: r.name,
            consent: r.consent_status,
            locale: r.locale,
            contact_id: r.contact_id,
            first_name: present(r.first_name),
            last_name: present(r.last_name),
            email: present(r.email),
            phone: present(r.phone),
            attributes,
            tags: from_json("messaging user tags", &r.tags)?,
            last_inbound_at: ts(r.last_inbound_at),
            last_outbound_at: ts(r.last_outbound_at),
            open_session: r.session_id.map(|session_id| OpenSession {
                session_id,
                last_customer_at: ts(r.last_customer_at),
            }),
            conversation_id: r.conversation_id,
        })
    }
}

/// What an audience read selects, and from where: the user, its contact (by primary key), its
/// open session (the partial unique index `sessions_one_open`) and its latest session's
/// conversation (`sessions_user`) unless it was closed (SE-20), each a lookup per user.
const MEMBER_SELECT: &str = "SELECT u.id, u.channel_id, u.platform_key, u.name, u.consent_status, \
    u.locale, u.contact_id, c.first_name, c.last_name, c.email, c.phone, u.attributes, \
    c.attributes AS contact_attributes, u.tags, u.last_inbound_at, u.last_outbound_at, \
    s.id AS session_id, s.last_customer_at, \
    (SELECT CASE WHEN EXISTS (SELECT 1 FROM conversation_closures x \
     WHERE x.conversation_id = l.conversation_id) THEN NULL ELSE l.conversation_id END \
     FROM sessions l WHERE l.messaging_user_id = u.id ORDER BY l.id DESC LIMIT 1) AS conversation_id \
    FROM messaging_users u LEFT JOIN contacts c ON c.id = u.contact_id \
    LEFT JOIN sessions s ON s.messaging_user_id = u.id AND s.status NOT IN ('ended', 'error')";

/// The channel condition of an audience read, restricted messaging users left out. When another
/// index must lead (`by` is not the channel's), SQLite gets the column written `+u.channel_id`,
/// which keeps its planner from reading by the `(channel_id, platform_key)` index: a page must be
/// read by the key it is ordered and bounded by, or each page costs a sort of the whole channel. PostgreSQL has no
/// unary plus for a uuid, and its statistics choose right.
fn channel_term(kind: BackendKind, n: usize, by: Lead) -> String {
    let column = match (kind, by) {
        (BackendKind::Sqlite, Lead::Other) => "+u.channel_id",
        _ => "u.channel_id",
    };
    // A restricted person (PRIV-02) is no one's audience while the restriction holds.
    format!(
        "{column} IN ({}) AND u.restricted_at IS NULL",
        repeat("?", n)
    )
}

/// Which index an audience read is meant to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// `(channel_id, platform_key)`.
    Channel,
    /// The primary key or the contact's index.
    Other,
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: Uuid,
    state: String,
    spec: String,
    links: String,
    expansion: String,
    expand_cursor: Option<Uuid>,
    expanded: i64,
    created_by: Option<String>,
    scheduled_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<CampaignRow> for StoredCampaign {
    type Error = StoreError;
    fn try_from(r: CampaignRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            spec: from_json("campaign spec", &r.spec)?,
            state: r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("campaign state: {e}")))?,
            links: from_json("campaign links", &r.links)?,
            expansion: from_json("campaign counts", &r.expansion)?,
            expand_cursor: r.expand_cursor,
            expanded: r.expanded != 0,
            created_by: r.created_by,
            scheduled_at: ts(r.scheduled_at),
            started_at: ts(r.started_at),
            finished_at: ts(r.finished_at),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

const CAMPAIGN_COLS: &str = "id, state, spec, links, expansion, expand_cursor, expanded, \
    created_by, scheduled_at, started_at, finished_at, created_at, updated_at";

/// What of a batch is written: recipients whose address already has the campaign's message (or
/// comes twice in the batch) are left out whole.
struct Kept<'a> {
    sessions: Vec<&'a Session>,
    entries: Vec<&'a Entry>,
    jobs: Vec<&'a NewJob>,
    messages: Vec<&'a CampaignMessage>,
    users: Vec<Uuid>,
    dropped: u64,
}

impl<'a> Kept<'a> {
    fn of(batch: &'a CampaignBatch, taken: &HashSet<String>) -> Self {
        let mut seen: HashSet<&str> = HashSet::with_capacity(batch.messages.len());
        let mut messages = Vec::with_capacity(batch.messages.len());
        let mut dropped_entries: HashSet<Uuid> = HashSet::new();
        for m in &batch.messages {
            if taken.contains(&m.address) || !seen.insert(m.address.as_str()) {
                dropped_entries.insert(m.entry_id);
            } else {
                messages.push(m);
            }
        }
        if dropped_entries.is_empty() {
            let mut users: Vec<Uuid> = messages.iter().map(|m| m.messaging_user_id).collect();
            users.sort_unstable();
            users.dedup();
            return Self {
                sessions: batch.sessions.iter().collect(),
                entries: batch.entries.iter().collect(),
                jobs: batch.jobs.iter().collect(),
                messages,
                users,
                dropped: 0,
            };
        }
        let entries: Vec<&Entry> = batch
            .entries
            .iter()
            .filter(|e| !dropped_entries.contains(&e.id))
            .collect();
        // A session made for dropped recipients only goes with them; one no entry names (or a
        // kept entry names) stays.
        let kept_sessions: HashSet<Uuid> = entries.iter().map(|e| e.session_id).collect();
        let dropped_sessions: HashSet<Uuid> = batch
            .entries
            .iter()
            .filter(|e| dropped_entries.contains(&e.id) && !kept_sessions.contains(&e.session_id))
            .map(|e| e.session_id)
            .collect();
        let dropped_keys: HashSet<String> =
            dropped_entries.iter().map(|id| send_key(*id)).collect();
        let mut users: Vec<Uuid> = messages.iter().map(|m| m.messaging_user_id).collect();
        users.sort_unstable();
        users.dedup();
        Self {
            sessions: batch
                .sessions
                .iter()
                .filter(|s| !dropped_sessions.contains(&s.id))
                .collect(),
            entries,
            jobs: batch
                .jobs
                .iter()
                .filter(|j| {
                    j.dedupe_key
                        .as_ref()
                        .is_none_or(|k| !dropped_keys.contains(k))
                })
                .collect(),
            dropped: dropped_entries.len() as u64,
            messages,
            users,
        }
    }
}

/// Multi-row inserts of a campaign batch, one statement text per row count (see [`dialect`]).
fn insert_sessions_sql(kind: BackendKind, rows: usize) -> String {
    dialect(
        kind,
        &format!(
            "INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, status, \
             context, owner_kind, owner_id, queue_id, case_id, error_reason, agent_messages, \
             customer_messages, started_at, accepted_at, ended_at, last_customer_at, \
             last_agent_at, initiated_by, status_since, pending_inquiry, session_opt_in, \
             end_reason, ended_by, updated_at) VALUES {}",
            repeat(
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows
            )
        ),
    )
}
const SESSION_COLS: usize = 25;

fn insert_entries_sql(kind: BackendKind, rows: usize) -> String {
    dialect(
        kind,
        &format!(
            "INSERT INTO entries (id, session_id, direction, actor, actor_id, body, media, \
             provider_message_id, status, error_code, provider_error, created_at, updated_at, \
             template) VALUES {}",
            repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        ),
    )
}
const ENTRY_COLS: usize = 14;

fn insert_jobs_sql(kind: BackendKind, rows: usize) -> String {
    dialect(
        kind,
        &format!(
            "INSERT INTO jobs (id, queue, kind, payload, state, priority, due_at, attempts, \
             max_attempts, dedupe_key, created_at, updated_at, group_key) VALUES {} \
             ON CONFLICT (dedupe_key) DO NOTHING",
            repeat("(?, ?, ?, ?, 'ready', ?, ?, 0, ?, ?, ?, ?, ?)", rows)
        ),
    )
}
const JOB_COLS: usize = 11;

fn insert_messages_sql(kind: BackendKind, rows: usize) -> String {
    dialect(
        kind,
        &format!(
            "INSERT INTO campaign_messages (entry_id, campaign_id, messaging_user_id, channel_id, \
             address, code, created_at) VALUES {}",
            repeat("(?, ?, ?, ?, ?, ?, ?)", rows)
        ),
    )
}
const MESSAGE_COLS: usize = 7;

/// Which of `n` addresses (bound first) already have the campaign's message (bound last). One
/// lookup per address in the unique `(campaign_id, address)` index, written as a correlated
/// subquery so that no planner can do otherwise: PostgreSQL, given `address IN (...)`, chose
/// to read every message of the campaign by `campaign_messages_campaign` and filter them (a
/// plan cached while the table was small), which made each batch cost more than the last.
fn addresses_sent_sql(kind: BackendKind, n: usize) -> String {
    dialect(
        kind,
        &format!(
            "SELECT v.column1 FROM (VALUES {}) AS v WHERE (SELECT 1 FROM campaign_messages m \
             WHERE m.campaign_id = ? AND m.address = v.column1 LIMIT 1) IS NOT NULL",
            repeat("(?)", n)
        ),
    )
}

fn touch_outbound_sql(kind: BackendKind, n: usize) -> String {
    dialect(
        kind,
        &format!(
            "UPDATE messaging_users SET last_outbound_at = ? WHERE id IN ({})",
            repeat("?", n)
        ),
    )
}

/// The campaign's send jobs that no worker holds: withdrawn with their messages.
const WITHDRAW_JOBS: &str = "DELETE FROM jobs WHERE group_key = $1 AND state IN ('ready', 'held')";

/// The campaign's send jobs a worker holds: their messages are on their way.
const RUNNING_PAYLOADS: &str =
    "SELECT payload FROM jobs WHERE group_key = $1 AND state = 'running'";

/// The entries a running send job of a campaign carries: a chunk's `entries`, a single send's
/// `entry_id` (the engine's `CampaignChunk` and `SendRequest`).
fn entries_in_payload(payload: &str) -> Vec<Uuid> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(payload) else {
        return Vec::new();
    };
    let ids = match (value.get("entries"), value.get("entry_id")) {
        (Some(serde_json::Value::Array(ids)), _) => ids.iter().collect(),
        (_, Some(id)) => vec![id],
        _ => Vec::new(),
    };
    ids.into_iter()
        .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// The withdrawn messages' recipient rows, then their entries (still queued).
fn withdraw_messages_sql(kind: BackendKind, n: usize) -> [String; 2] {
    let marks = repeat("?", n);
    [
        dialect(
            kind,
            &format!("DELETE FROM campaign_messages WHERE entry_id IN ({marks})"),
        ),
        dialect(
            kind,
            &format!("DELETE FROM entries WHERE id IN ({marks}) AND status = 'queued'"),
        ),
    ]
}

/// Of the withdrawn messages' sessions, those the expansion made (ended marketing sessions the
/// system opened) that hold nothing else now.
fn withdraw_sessions_sql(kind: BackendKind, n: usize) -> String {
    dialect(
        kind,
        &format!(
            "DELETE FROM sessions WHERE id IN ({}) AND status = 'ended' \
             AND context = 'marketing' AND initiated_by = 'system' \
             AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.session_id = sessions.id)",
            repeat("?", n)
        ),
    )
}

/// Runs `$sql` (built for `$rows` rows of `$per` parameters) with `$bind` adding each row's
/// values: kept among the connection's prepared statements when the chunk is full (every batch
/// reuses it), planned once otherwise (a remainder's row count rarely comes again).
macro_rules! run_rows {
    ($tx:ident, $kind:expr, $items:expr, $per:expr, $sql:path, |$q:ident, $it:ident| $bind:expr) => {{
        let per_statement = rows_per_statement($kind, $per, 0);
        let mut affected = 0_u64;
        for chunk in $items.chunks(per_statement) {
            let sql = $sql($kind, chunk.len());
            let mut $q =
                sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == per_statement);
            for $it in chunk {
                $q = $bind;
            }
            affected += $q.execute(&mut *$tx).await?.rows_affected();
        }
        affected
    }};
}

/// Statements whose plans the conformance suite checks: each hot path's SQL for a batch of `n`
/// rows, as the store sends it.
#[cfg(feature = "testing")]
pub(crate) fn hot_statements(kind: BackendKind, n: usize) -> Vec<String> {
    let page = format!(
        "{MEMBER_SELECT} WHERE {} AND u.id > ? ORDER BY u.id LIMIT ?",
        channel_term(kind, 1, Lead::Other)
    );
    let by_phone = format!(
        "{MEMBER_SELECT} WHERE {} AND u.platform_key IN ({})",
        channel_term(kind, 1, Lead::Channel),
        repeat("?", n)
    );
    let by_contact = format!(
        "{MEMBER_SELECT} WHERE {} AND u.contact_id IN ({})",
        channel_term(kind, 1, Lead::Other),
        repeat("?", n)
    );
    vec![
        dialect(kind, &page),
        dialect(kind, &by_phone),
        dialect(kind, &by_contact),
        addresses_sent_sql(kind, n),
        insert_sessions_sql(kind, n),
        insert_entries_sql(kind, n),
        insert_jobs_sql(kind, n),
        insert_messages_sql(kind, n),
        touch_outbound_sql(kind, n),
        UPDATE_CURSOR.to_owned(),
        BACKLOG.to_owned(),
        UNSETTLED.to_owned(),
        HOLD.to_owned(),
        RELEASE.to_owned(),
        COUNTS.to_owned(),
        EXPORT_AFTER.to_owned(),
        LINK_TARGET.to_owned(),
        RECORD_CLICK.to_owned(),
        REPLY_BY_USER.to_owned(),
        REPLY_BY_ADDRESS.to_owned(),
        TOUCH_INBOUND.to_owned(),
        WITHDRAWABLE.to_owned(),
        WITHDRAW_JOBS.to_owned(),
        RUNNING_PAYLOADS.to_owned(),
        withdraw_sessions_sql(kind, n),
    ]
    .into_iter()
    .chain(withdraw_messages_sql(kind, n))
    .collect()
}

/// The campaign's progress after a batch; refused once the campaign is over.
const UPDATE_CURSOR: &str = "UPDATE campaigns SET expand_cursor = $2, expansion = $3, expanded = $4, \
    updated_at = $5 WHERE id = $1 AND state NOT IN ('cancelled', 'completed')";

/// A campaign's send jobs still to go through the dispatcher: ready and due, or running (through
/// `jobs_group`, by group and state).
const BACKLOG: &str = "SELECT (SELECT COUNT(*) FROM jobs WHERE group_key = $1 AND state = 'ready' \
    AND due_at <= $2) + (SELECT COUNT(*) FROM jobs WHERE group_key = $1 AND state = 'running')";

const UNSETTLED: &str = "SELECT EXISTS (SELECT 1 FROM jobs WHERE group_key = $1 \
    AND state IN ('ready', 'held', 'running'))";

const HOLD: &str = "UPDATE jobs SET state = 'held', updated_at = $2 \
    WHERE group_key = $1 AND state = 'ready'";

const RELEASE: &str = "UPDATE jobs SET state = 'ready', updated_at = $2 \
    WHERE group_key = $1 AND state = 'held'";

/// The funnel of a campaign's messages, grouped by their entries' status and error code.
/// A message the provider took (it has the provider's id) but reports as still queued on its side
/// (Twilio answers `queued`) counts as sent: it left Parley.
const COUNTS: &str = "SELECT CASE WHEN e.status = 'queued' AND e.provider_message_id IS NOT NULL \
    THEN 'accepted' ELSE e.status END AS status, e.error_code, COUNT(*) AS messages, \
    CAST(SUM(m.clicks) AS BIGINT) AS clicks, \
    CAST(SUM(CASE WHEN m.clicks > 0 THEN 1 ELSE 0 END) AS BIGINT) AS clicked, \
    COUNT(m.replied_at) AS replied, COUNT(m.help_at) AS help, COUNT(m.opted_out_at) AS opted_out \
    FROM campaign_messages m JOIN entries e ON e.id = m.entry_id \
    WHERE m.campaign_id = $1 GROUP BY 1, e.error_code";

const EXPORT_COLS: &str = "SELECT m.entry_id, m.address, m.channel_id, e.status, e.error_code, \
    m.clicks, m.replied_at, m.help_at, m.opted_out_at, m.created_at \
    FROM campaign_messages m JOIN entries e ON e.id = m.entry_id";
const EXPORT_AFTER: &str = "SELECT m.entry_id, m.address, m.channel_id, e.status, e.error_code, \
    m.clicks, m.replied_at, m.help_at, m.opted_out_at, m.created_at \
    FROM campaign_messages m JOIN entries e ON e.id = m.entry_id \
    WHERE m.campaign_id = $1 AND m.entry_id > $2 ORDER BY m.entry_id LIMIT $3";

const LINK_TARGET: &str = "SELECT m.campaign_id, m.entry_id, c.links FROM campaign_messages m \
    JOIN campaigns c ON c.id = m.campaign_id WHERE m.code = $1";

const RECORD_CLICK: &str = "UPDATE campaign_messages SET clicks = clicks + 1, \
    first_click_at = COALESCE(first_click_at, $2) WHERE code = $1";

const REPLY_BY_USER: &str = "SELECT entry_id, campaign_id FROM campaign_messages \
    WHERE messaging_user_id = $1 AND created_at >= $2 ORDER BY created_at DESC LIMIT 1";

const REPLY_BY_ADDRESS: &str = "SELECT m.entry_id, m.campaign_id FROM campaign_messages m \
    JOIN campaigns c ON c.id = m.campaign_id \
    WHERE m.address = $1 AND m.created_at >= $2 AND c.whatsapp_channel_id = $3 \
    ORDER BY m.created_at DESC LIMIT 1";

const TOUCH_INBOUND: &str = "UPDATE messaging_users SET last_inbound_at = $2 WHERE id = $1";

/// A campaign's messages not handed to a provider yet.
const WITHDRAWABLE: &str = "SELECT m.entry_id, e.session_id FROM campaign_messages m \
    JOIN entries e ON e.id = m.entry_id WHERE m.campaign_id = $1 AND e.status = 'queued'";

impl Store {
    // Segments.

    pub async fn create_segment(&self, spec: &SegmentSpec, now: Timestamp) -> Result<Segment> {
        let id = new_id();
        let filter = to_json(&spec.filter)?;
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO segments (id, name, description, filter, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(id).bind(&spec.name).bind(&spec.description).bind(&filter).bind(now.millis())
            .execute(c).await.map(|_| ()))?;
        self.segment(id).await
    }

    pub async fn update_segment(
        &self,
        id: Uuid,
        spec: &SegmentSpec,
        now: Timestamp,
    ) -> Result<Segment> {
        let filter = to_json(&spec.filter)?;
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE segments SET name = $2, description = $3, filter = $4, updated_at = $5 WHERE id = $1")
            .bind(id).bind(&spec.name).bind(&spec.description).bind(&filter).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("segment"));
        }
        self.segment(id).await
    }

    pub async fn delete_segment(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "segments", "segment", id).await
    }

    pub async fn segment(&self, id: Uuid) -> Result<Segment> {
        let sql = format!("SELECT {SEGMENT_COLS} FROM segments WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, SegmentRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("segment"))?
        .try_into()
    }

    pub async fn segments(&self) -> Result<Vec<Segment>> {
        let sql = format!("SELECT {SEGMENT_COLS} FROM segments ORDER BY name, id");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, SegmentRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(c).await)?;
        rows.into_iter().map(Segment::try_from).collect()
    }

    // Lists.

    pub async fn create_list(
        &self,
        name: &str,
        description: &str,
        now: Timestamp,
    ) -> Result<AudienceList> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO audience_lists (id, name, description, members, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4)")
            .bind(id).bind(name).bind(description).bind(now.millis())
            .execute(c).await.map(|_| ()))?;
        self.audience_list(id).await
    }

    pub async fn audience_list(&self, id: Uuid) -> Result<AudienceList> {
        let sql = format!("SELECT {LIST_COLS} FROM audience_lists WHERE id = $1");
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, ListRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(c).await)?
            .ok_or(StoreError::not_found("list"))?
            .into(),
        )
    }

    pub async fn audience_lists(&self) -> Result<Vec<AudienceList>> {
        let sql = format!("SELECT {LIST_COLS} FROM audience_lists ORDER BY name, id");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, ListRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(c).await)?;
        Ok(rows.into_iter().map(AudienceList::from).collect())
    }

    pub async fn delete_list(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "audience_lists", "list", id).await
    }

    /// Adds members (each a phone or a contact); ones already on the list are skipped. Answers
    /// how many were added. One transaction per call; keeps `audience_lists.members` right.
    pub async fn add_list_members(
        &self,
        list_id: Uuid,
        members: &[ListMember],
        now: Timestamp,
    ) -> Result<u64> {
        let kind = self.kind();
        let at = now.millis();
        let per_statement = rows_per_statement(kind, 4, 0);
        let added = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            // First, so a missing list is told apart from a refused member.
            let found = sqlx::query("UPDATE audience_lists SET updated_at = $2 WHERE id = $1")
                .bind(list_id).bind(at).execute(&mut *tx).await?.rows_affected();
            if found == 0 {
                return Err(StoreError::not_found("list"));
            }
            let mut added = 0_u64;
            for chunk in members.chunks(per_statement) {
                // Any unique rule (the id, the phone, the contact) skips the row.
                let sql = dialect(kind, &format!(
                    "INSERT INTO audience_list_members (list_id, id, phone, contact_id) VALUES {} \
                     ON CONFLICT DO NOTHING",
                    repeat("(?, ?, ?, ?)", chunk.len())));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for m in chunk {
                    q = q.bind(list_id).bind(m.id).bind(self.seal_lookup_opt(m.phone.as_deref())).bind(m.contact_id);
                }
                added += q.execute(&mut *tx).await?.rows_affected();
            }
            sqlx::query("UPDATE audience_lists SET members = members + $2 WHERE id = $1")
                .bind(list_id).bind(i64::try_from(added).unwrap_or(i64::MAX))
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<u64, StoreError>(added)
        })?;
        Ok(added)
    }

    /// Removes members by id.
    pub async fn remove_list_members(
        &self,
        list_id: Uuid,
        ids: &[Uuid],
        now: Timestamp,
    ) -> Result<u64> {
        let kind = self.kind();
        let at = now.millis();
        let per_statement = rows_per_statement(kind, 1, 1);
        let removed = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut removed = 0_u64;
            for chunk in ids.chunks(per_statement) {
                let sql = dialect(kind, &format!(
                    "DELETE FROM audience_list_members WHERE list_id = ? AND id IN ({})",
                    repeat("?", chunk.len())));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false).bind(list_id);
                for id in chunk {
                    q = q.bind(id);
                }
                removed += q.execute(&mut *tx).await?.rows_affected();
            }
            let found = sqlx::query(
                "UPDATE audience_lists SET members = members - $2, updated_at = $3 WHERE id = $1")
                .bind(list_id).bind(i64::try_from(removed).unwrap_or(i64::MAX)).bind(at)
                .execute(&mut *tx).await?.rows_affected();
            if found == 0 {
                return Err(StoreError::not_found("list"));
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(removed)
        })?;
        Ok(removed)
    }

    /// A page of a list, by member id.
    pub async fn list_members(
        &self,
        list_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ListMember>> {
        let limit = i64::from(limit.max(1));
        let rows = match after {
            None => on_backend!(self, read c => sqlx::query_as::<_, ListMemberRow>(
                "SELECT id, phone, contact_id FROM audience_list_members WHERE list_id = $1 \
                 ORDER BY id LIMIT $2")
                .bind(list_id).bind(limit).fetch_all(c).await)?,
            Some(after) => on_backend!(self, read c => sqlx::query_as::<_, ListMemberRow>(
                "SELECT id, phone, contact_id FROM audience_list_members WHERE list_id = $1 \
                 AND id > $2 ORDER BY id LIMIT $3")
                .bind(list_id).bind(after).bind(limit).fetch_all(c).await)?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(ListMember {
                    id: r.id,
                    phone: self.open_opt(r.phone)?,
                    contact_id: r.contact_id,
                })
            })
            .collect()
    }

    // Audiences.

    /// Messaging users on `channels` with id after `after`, in id order, at most `limit`, each
    /// with its contact's fields, attributes, tags, open session and conversation.
    pub async fn audience_page(
        &self,
        channels: &[Uuid],
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Member>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let kind = self.kind();
        let bound = if after.is_some() { " AND u.id > ?" } else { "" };
        let sql = dialect(
            kind,
            &format!(
                "{MEMBER_SELECT} WHERE {}{bound} ORDER BY u.id LIMIT ?",
                channel_term(kind, channels.len(), Lead::Other)
            ),
        );
        let rows = on_backend!(self, read c => {
            let mut q = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql));
            for ch in channels {
                q = q.bind(ch);
            }
            if let Some(after) = after {
                q = q.bind(after);
            }
            q.bind(i64::from(limit.max(1))).fetch_all(c).await
        })?;
        rows.into_iter()
            .map(|r| self.open_member_row(r).and_then(Member::try_from))
            .collect()
    }

    /// The messaging users on `channels` whose platform key is one of `phones` or whose contact
    /// is one of `contacts` (a list page resolved), as [`Store::audience_page`] reads them.
    pub async fn audience_of(
        &self,
        channels: &[Uuid],
        phones: &[String],
        contacts: &[Uuid],
    ) -> Result<Vec<Member>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let kind = self.kind();
        let per_statement = rows_per_statement(kind, 1, channels.len());
        let mut found: Vec<MemberRow> = Vec::new();
        // Each number in every form it may be stored in (see `Store::lookup_forms`).
        let mut forms: Vec<String> = phones.iter().flat_map(|p| self.lookup_forms(p)).collect();
        forms.sort_unstable();
        forms.dedup();
        for chunk in forms.chunks(per_statement) {
            let sql = dialect(
                kind,
                &format!(
                    "{MEMBER_SELECT} WHERE {} AND u.platform_key IN ({})",
                    channel_term(kind, channels.len(), Lead::Channel),
                    repeat("?", chunk.len())
                ),
            );
            let mut rows = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql)).persistent(false);
                for ch in channels {
                    q = q.bind(ch);
                }
                for p in chunk {
                    q = q.bind(p);
                }
                q.fetch_all(c).await
            })?;
            found.append(&mut rows);
        }
        for chunk in contacts.chunks(per_statement) {
            let sql = dialect(
                kind,
                &format!(
                    "{MEMBER_SELECT} WHERE {} AND u.contact_id IN ({})",
                    channel_term(kind, channels.len(), Lead::Other),
                    repeat("?", chunk.len())
                ),
            );
            let mut rows = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql)).persistent(false);
                for ch in channels {
                    q = q.bind(ch);
                }
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            found.append(&mut rows);
        }
        // A user named both by phone and by contact is one member.
        found.sort_by_key(|r| r.id);
        found.dedup_by_key(|r| r.id);
        found
            .into_iter()
            .map(|r| self.open_member_row(r).and_then(Member::try_from))
            .collect()
    }

    // Campaigns.

    pub async fn create_campaign(
        &self,
        spec: &CampaignSpec,
        created_by: Option<&str>,
        now: Timestamp,
    ) -> Result<StoredCampaign> {
        let id = new_id();
        let text = to_json(spec)?;
        let counts = to_json(&Counts::default())?;
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO campaigns (id, name, kind, state, spec, whatsapp_channel_id, links, \
             expansion, expand_cursor, expanded, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, NULL, 0, $8, $9, $9)")
            .bind(id).bind(&spec.name).bind(spec.kind.as_str()).bind(CampaignState::Draft.as_str())
            .bind(&text).bind(spec.footer.whatsapp_channel_id).bind(&counts).bind(created_by)
            .bind(now.millis())
            .execute(c).await.map(|_| ()))?;
        self.campaign(id).await
    }

    /// Replaces a draft's spec (`Conflict` when it is no longer a draft).
    pub async fn update_campaign(
        &self,
        id: Uuid,
        spec: &CampaignSpec,
        now: Timestamp,
    ) -> Result<StoredCampaign> {
        let text = to_json(spec)?;
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE campaigns SET name = $2, kind = $3, spec = $4, whatsapp_channel_id = $5, \
             updated_at = $6 WHERE id = $1 AND state = 'draft'")
            .bind(id).bind(&spec.name).bind(spec.kind.as_str()).bind(&text)
            .bind(spec.footer.whatsapp_channel_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(self.not_in_state(id, "edited").await);
        }
        self.campaign(id).await
    }

    /// Deletes a draft (`Conflict` otherwise).
    pub async fn delete_campaign(&self, id: Uuid) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "DELETE FROM campaigns WHERE id = $1 AND state = 'draft'")
            .bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(self.not_in_state(id, "deleted").await);
        }
        Ok(())
    }

    /// Why a change that needed a draft (or another state) touched no row: the campaign is
    /// missing, or in the state named.
    async fn not_in_state(&self, id: Uuid, what: &str) -> StoreError {
        match self.campaign_state(id).await {
            Ok(Some(state)) => StoreError::Conflict(format!("a {state} campaign cannot be {what}")),
            Ok(None) => StoreError::not_found("campaign"),
            Err(e) => e,
        }
    }

    async fn campaign_state(&self, id: Uuid) -> Result<Option<CampaignState>> {
        let state: Option<String> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT state FROM campaigns WHERE id = $1").bind(id).fetch_optional(c).await)?;
        state
            .map(|s| {
                s.parse::<CampaignState>()
                    .map_err(|e| StoreError::Corrupt(format!("campaign state: {e}")))
            })
            .transpose()
    }

    /// The reply flow of the campaign whose message `user` got last since `since`, if that
    /// campaign has one (a journey that takes its replies). Uses `campaign_messages_user`.
    pub async fn campaign_reply_flow(
        &self,
        user: Uuid,
        since: Timestamp,
    ) -> Result<Option<String>> {
        let spec: Option<String> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT c.spec FROM campaign_messages cm JOIN campaigns c ON c.id = cm.campaign_id \
             WHERE cm.messaging_user_id = $1 AND cm.created_at >= $2 \
             ORDER BY cm.created_at DESC LIMIT 1")
            .bind(user).bind(since.millis()).fetch_optional(c).await)?;
        Ok(spec
            .and_then(|s| serde_json::from_str::<parley_core::campaign::CampaignSpec>(&s).ok())
            .and_then(|s| s.reply_flow))
    }

    pub async fn campaign(&self, id: Uuid) -> Result<StoredCampaign> {
        let sql = format!("SELECT {CAMPAIGN_COLS} FROM campaigns WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("campaign"))?
        .try_into()
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<StoredCampaign>> {
        let sql =
            format!("SELECT {CAMPAIGN_COLS} FROM campaigns ORDER BY created_at DESC, id DESC");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(c).await)?;
        rows.into_iter().map(StoredCampaign::try_from).collect()
    }

    /// Moves a campaign from one of `from` to `to` (`Conflict` naming its state when it is in
    /// none of them), setting `links` when given, `scheduled_at` when given, `started_at` on the
    /// first `sending` and `finished_at` on `completed` and `cancelled`.
    pub async fn set_campaign_state(
        &self,
        id: Uuid,
        from: &[CampaignState],
        to: CampaignState,
        links: Option<&[String]>,
        scheduled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<StoredCampaign> {
        if from.is_empty() {
            return Err(self.not_in_state(id, &format!("made {to}")).await);
        }
        let kind = self.kind();
        let links = links.map(to_json).transpose()?;
        let started = (to == CampaignState::Sending).then_some(now.millis());
        let finished = matches!(to, CampaignState::Completed | CampaignState::Cancelled)
            .then_some(now.millis());
        let sql = dialect(
            kind,
            &format!(
                "UPDATE campaigns SET state = ?, links = COALESCE(?, links), \
                 scheduled_at = COALESCE(?, scheduled_at), started_at = COALESCE(started_at, ?), \
                 finished_at = COALESCE(?, finished_at), updated_at = ? \
                 WHERE id = ? AND state IN ({})",
                repeat("?", from.len())
            ),
        );
        let done = on_backend!(self, write c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to.as_str()).bind(&links).bind(scheduled_at.map(Timestamp::millis))
                .bind(started).bind(finished).bind(now.millis()).bind(id);
            for s in from {
                q = q.bind(s.as_str());
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(self.not_in_state(id, &format!("made {to}")).await);
        }
        self.campaign(id).await
    }

    /// Scheduled campaigns whose time has come.
    pub async fn campaigns_due(&self, now: Timestamp) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE state = 'scheduled' AND scheduled_at <= $1 \
             ORDER BY scheduled_at, id")
            .bind(now.millis()).fetch_all(c).await)?)
    }

    /// Campaigns in `sending` (the worker's restart picks them up).
    pub async fn campaigns_in(&self, state: CampaignState) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE state = $1 ORDER BY id")
            .bind(state.as_str()).fetch_all(c).await)?)
    }

    /// The states of these campaigns (the dispatcher checks them per batch).
    pub async fn campaign_states(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, CampaignState>> {
        let kind = self.kind();
        let mut states = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(rows_per_statement(kind, 1, 0)) {
            let sql = dialect(
                kind,
                &format!(
                    "SELECT id, state FROM campaigns WHERE id IN ({})",
                    repeat("?", chunk.len())
                ),
            );
            let rows: Vec<(Uuid, String)> = on_backend!(self, read c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            for (id, state) in rows {
                let state = state
                    .parse::<CampaignState>()
                    .map_err(|e| StoreError::Corrupt(format!("campaign state: {e}")))?;
                states.insert(id, state);
            }
        }
        Ok(states)
    }

    /// Writes one expansion batch (see [`CampaignBatch`]) in one transaction. Recipients whose
    /// address already has this campaign's message are skipped whole (session, entry, job), and
    /// counted in the answer. A campaign cancelled or completed meanwhile takes no more: the
    /// batch is refused with a `Conflict` and nothing is written.
    pub async fn write_campaign_batch(&self, batch: &CampaignBatch, now: Timestamp) -> Result<u64> {
        let kind = self.kind();
        let at = now.millis();
        let expansion = to_json(&batch.expansion)?;
        let addresses: Vec<&str> = batch.messages.iter().map(|m| m.address.as_str()).collect();
        let per_lookup = rows_per_statement(kind, 1, 1);
        let dropped = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            // The campaign first: it is the batch's guard, and on SQLite it makes the
            // transaction a writer from its first statement.
            let open = sqlx::query(UPDATE_CURSOR)
                .bind(batch.campaign_id).bind(batch.cursor).bind(&expansion)
                .bind(i64::from(batch.expanded)).bind(at)
                .execute(&mut *tx).await?.rows_affected();
            if open == 0 {
                drop(tx);
                return Err(self.not_in_state(batch.campaign_id, "expanded").await);
            }
            let mut taken: HashSet<String> = HashSet::new();
            for chunk in addresses.chunks(per_lookup) {
                let sql = addresses_sent_sql(kind, chunk.len());
                let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .persistent(chunk.len() == per_lookup);
                for a in chunk {
                    q = q.bind(*a);
                }
                taken.extend(q.bind(batch.campaign_id).fetch_all(&mut *tx).await?);
            }
            let kept = Kept::of(batch, &taken);
            run_rows!(tx, kind, kept.sessions, SESSION_COLS, insert_sessions_sql, |q, s| q
                .bind(s.id).bind(s.conversation_id).bind(s.channel_id).bind(s.messaging_user_id)
                .bind(s.status.as_str()).bind(s.context.as_str()).bind(s.owner_kind.map(|k| k.as_str()))
                .bind(s.owner_id).bind(s.queue_id).bind(s.case_id).bind(&s.error_reason)
                .bind(s.agent_messages).bind(s.customer_messages).bind(s.started_at.millis())
                .bind(s.accepted_at.map(Timestamp::millis)).bind(s.ended_at.map(Timestamp::millis))
                .bind(s.last_customer_at.map(Timestamp::millis)).bind(s.last_agent_at.map(Timestamp::millis))
                .bind(s.initiated_by.as_str()).bind(s.status_since.millis()).bind(s.pending_inquiry)
                .bind(s.session_opt_in).bind(&s.end_reason).bind(s.ended_by.map(|a| a.as_str()))
                .bind(at));
            run_rows!(tx, kind, kept.entries, ENTRY_COLS, insert_entries_sql, |q, e| q
                .bind(e.id).bind(e.session_id).bind(e.direction.as_str()).bind(e.actor.as_str())
                .bind(e.actor_id).bind(self.seal_text(&e.body)).bind(Json::<&Vec<Media>>(&e.media))
                .bind(&e.provider_message_id).bind(e.status.as_str()).bind(&e.error_code)
                .bind(&e.provider_error).bind(e.created_at.millis()).bind(e.created_at.millis())
                .bind(e.template.as_ref().map(Json::<&EntryTemplate>)));
            run_rows!(tx, kind, kept.jobs, JOB_COLS, insert_jobs_sql, |q, j| q
                .bind(new_id()).bind(&j.queue).bind(&j.kind).bind(self.seal_text(&j.payload)).bind(j.priority)
                .bind(j.due_at.millis()).bind(j.max_attempts).bind(&j.dedupe_key).bind(at).bind(at)
                .bind(&j.group_key));
            run_rows!(tx, kind, kept.messages, MESSAGE_COLS, insert_messages_sql, |q, m| q
                .bind(m.entry_id).bind(batch.campaign_id).bind(m.messaging_user_id)
                .bind(m.channel_id).bind(&m.address).bind(&m.code).bind(at));
            let per_touch = rows_per_statement(kind, 1, 1);
            for chunk in kept.users.chunks(per_touch) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(touch_outbound_sql(kind, chunk.len())))
                    .persistent(chunk.len() == per_touch)
                    .bind(at);
                for u in chunk {
                    q = q.bind(u);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(kept.dropped)
        })?;
        Ok(dropped)
    }

    /// Of `addresses`, those that already have this campaign's message.
    pub async fn campaign_addresses_sent(
        &self,
        campaign_id: Uuid,
        addresses: &[String],
    ) -> Result<Vec<String>> {
        let kind = self.kind();
        let per_statement = rows_per_statement(kind, 1, 1);
        let mut found = Vec::new();
        for chunk in addresses.chunks(per_statement) {
            let sql = addresses_sent_sql(kind, chunk.len());
            let mut rows: Vec<String> = on_backend!(self, read c => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .persistent(chunk.len() == per_statement);
                for a in chunk {
                    q = q.bind(a);
                }
                q.bind(campaign_id).fetch_all(c).await
            })?;
            found.append(&mut rows);
        }
        Ok(found)
    }

    /// The campaign's send jobs that are ready and due, or running: what the dispatcher has yet
    /// to finish of what the expansion wrote.
    pub async fn campaign_backlog(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let n: i64 = on_backend!(self, read c => sqlx::query_scalar(BACKLOG)
            .bind(campaign_group(campaign_id)).bind(now.millis()).fetch_one(c).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether any of the campaign's send jobs is not finished (ready, held, running).
    pub async fn campaign_unsettled(&self, campaign_id: Uuid) -> Result<bool> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(UNSETTLED)
            .bind(campaign_group(campaign_id)).fetch_one(c).await)?)
    }

    /// Pause: the campaign's ready send jobs become `held`. Answers how many.
    pub async fn hold_campaign_jobs(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(HOLD)
            .bind(campaign_group(campaign_id)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Resume: the campaign's held send jobs are ready again. Answers how many.
    pub async fn release_campaign_jobs(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(RELEASE)
            .bind(campaign_group(campaign_id)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Cancel: the campaign's messages not handed to a provider yet (entry `queued`, job ready or
    /// held) are withdrawn: their jobs, recipient rows and entries deleted, and the sessions made
    /// only for them. Answers how many; adds them to the stored counts' `withdrawn`.
    ///
    /// A message whose job is running is left to the dispatcher, which settles it; one whose job
    /// is gone or finished while the entry still says `queued` is withdrawn too, as nothing will
    /// ever send it.
    pub async fn withdraw_campaign(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let kind = self.kind();
        let at = now.millis();
        let per_statement = rows_per_statement(kind, 1, 1);
        let withdrawn = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let expansion: Option<String> = sqlx::query_scalar(
                "UPDATE campaigns SET updated_at = $2 WHERE id = $1 RETURNING expansion")
                .bind(campaign_id).bind(at).fetch_optional(&mut *tx).await?;
            let Some(expansion) = expansion else {
                return Err(StoreError::not_found("campaign"));
            };
            sqlx::query(WITHDRAW_JOBS).bind(campaign_group(campaign_id)).execute(&mut *tx).await?;
            // What is left is on its way (running) or was settled by a worker already.
            let running: Vec<String> = sqlx::query_scalar(RUNNING_PAYLOADS)
                .bind(campaign_group(campaign_id)).fetch_all(&mut *tx).await?;
            let running = running.iter().map(|p| self.open_text(p)).collect::<Result<Vec<_>>>()?;
            let in_flight: HashSet<Uuid> = running.iter().flat_map(|p| entries_in_payload(p)).collect();
            let queued: Vec<(Uuid, Uuid)> = sqlx::query_as(WITHDRAWABLE)
                .bind(campaign_id).fetch_all(&mut *tx).await?;
            let queued: Vec<(Uuid, Uuid)> =
                queued.into_iter().filter(|(e, _)| !in_flight.contains(e)).collect();
            let mut withdrawn = 0_u64;
            for gone in queued.chunks(per_statement) {
                for sql in withdraw_messages_sql(kind, gone.len()) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                    for (e, _) in gone {
                        q = q.bind(e);
                    }
                    q.execute(&mut *tx).await?;
                }
                let mut sessions: Vec<Uuid> = gone.iter().map(|(_, s)| *s).collect();
                sessions.sort_unstable();
                sessions.dedup();
                let mut q = sqlx::query(sqlx::AssertSqlSafe(withdraw_sessions_sql(kind, sessions.len())))
                    .persistent(false);
                for s in &sessions {
                    q = q.bind(s);
                }
                q.execute(&mut *tx).await?;
                withdrawn += gone.len() as u64;
            }
            let mut counts: Counts = from_json("campaign counts", &expansion)?;
            counts.withdrawn += withdrawn;
            sqlx::query("UPDATE campaigns SET expansion = $2 WHERE id = $1")
                .bind(campaign_id).bind(to_json(&counts)?).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<u64, StoreError>(withdrawn)
        })?;
        Ok(withdrawn)
    }

    /// The campaign's funnel: the expansion's counts, plus the messages' statuses (from their
    /// entries), clicks, replies, HELP hand-offs and opt-outs.
    pub async fn campaign_counts(&self, campaign_id: Uuid) -> Result<Counts> {
        let stored = self.campaign(campaign_id).await?.expansion;
        // What the expansion adds up (the audience, exclusions, withdrawals) is kept; what the
        // messages say is read from them, whatever a stored copy says.
        let mut counts = Counts {
            audience: stored.audience,
            excluded: stored.excluded,
            withdrawn: stored.withdrawn,
            ..Counts::default()
        };
        let rows: Vec<FunnelRow> = on_backend!(self, read c => sqlx::query_as::<_, FunnelRow>(COUNTS)
            .bind(campaign_id).fetch_all(c).await)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        for r in rows {
            let messages = n(r.messages);
            counts.queued += messages;
            match r.status.as_str() {
                "sent" | "accepted" => counts.sent += messages,
                "delivered" | "read" => {
                    counts.sent += messages;
                    counts.delivered += messages;
                }
                "failed" | "undelivered" => {
                    let code = r.error_code.unwrap_or_else(|| "unknown".to_owned());
                    *counts.failed.entry(code).or_default() += messages;
                }
                "unknown" => counts.unknown += messages,
                _ => {}
            }
            counts.clicks_total += n(r.clicks.unwrap_or(0));
            counts.clicks_unique += n(r.clicked.unwrap_or(0));
            counts.replied += n(r.replied);
            counts.help_handoffs += n(r.help);
            counts.opt_outs += n(r.opted_out);
        }
        Ok(counts)
    }

    /// A page of the campaign's messages for the CSV export, by entry id.
    pub async fn campaign_export(
        &self,
        campaign_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ExportRow>> {
        let limit = i64::from(limit.max(1));
        let rows: Vec<ExportDbRow> = match after {
            Some(after) => on_backend!(self, read c => sqlx::query_as(EXPORT_AFTER)
                .bind(campaign_id).bind(after).bind(limit).fetch_all(c).await)?,
            None => {
                let sql =
                    format!("{EXPORT_COLS} WHERE m.campaign_id = $1 ORDER BY m.entry_id LIMIT $2");
                on_backend!(self, read c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(campaign_id).bind(limit).fetch_all(c).await)?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| ExportRow {
                entry_id: r.entry_id,
                address: r.address,
                channel_id: r.channel_id,
                status: r.status,
                error_code: r.error_code,
                clicks: r.clicks,
                replied_at: ts(r.replied_at),
                help_at: ts(r.help_at),
                opted_out_at: ts(r.opted_out_at),
                created_at: Timestamp(r.created_at),
            })
            .collect())
    }

    // Links and replies.

    /// Where the short link `code`/`index` goes, if it exists.
    pub async fn link_target(&self, code: &str, index: usize) -> Result<Option<LinkTarget>> {
        let row: Option<(Uuid, Uuid, String)> = on_backend!(self, read c => sqlx::query_as(LINK_TARGET)
            .bind(code).fetch_optional(c).await)?;
        let Some((campaign_id, entry_id, links)) = row else {
            return Ok(None);
        };
        let links: Vec<String> = from_json("campaign links", &links)?;
        Ok(links.into_iter().nth(index).map(|url| LinkTarget {
            campaign_id,
            entry_id,
            url,
        }))
    }

    /// Counts a click on the recipient's code.
    pub async fn record_click(&self, code: &str, at: Timestamp) -> Result<()> {
        on_backend!(self, write c => sqlx::query(RECORD_CLICK)
            .bind(code).bind(at.millis()).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Attributes an inbound message to the latest campaign message its sender got since
    /// `since`: on the same channel by messaging user, else (a wa.me footer reply on WhatsApp)
    /// by address among campaigns whose footer links to `channel_id`. Marks the reply (first one
    /// only), the HELP hand-off or the opt-out. Answers the campaign.
    pub async fn attribute_reply(&self, a: &Attribution<'_>) -> Result<Option<Uuid>> {
        let stamp = match a.kind {
            ReplyKind::Reply => {
                "UPDATE campaign_messages SET replied_at = COALESCE(replied_at, $2) \
                WHERE entry_id = $1"
            }
            ReplyKind::Help => {
                "UPDATE campaign_messages SET replied_at = COALESCE(replied_at, $2), \
                help_at = COALESCE(help_at, $2) WHERE entry_id = $1"
            }
            ReplyKind::OptOut => {
                "UPDATE campaign_messages SET replied_at = COALESCE(replied_at, $2), \
                opted_out_at = COALESCE(opted_out_at, $2) WHERE entry_id = $1"
            }
        };
        let campaign = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut found: Option<(Uuid, Uuid)> = sqlx::query_as(REPLY_BY_USER)
                .bind(a.messaging_user_id).bind(a.since.millis())
                .fetch_optional(&mut *tx).await?;
            if found.is_none() {
                found = sqlx::query_as(REPLY_BY_ADDRESS)
                    .bind(a.address).bind(a.since.millis()).bind(a.channel_id)
                    .fetch_optional(&mut *tx).await?;
            }
            if let Some((entry_id, _)) = found {
                sqlx::query(stamp).bind(entry_id).bind(a.at.millis()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<Option<Uuid>, StoreError>(found.map(|(_, campaign)| campaign))
        })?;
        Ok(campaign)
    }

    /// Replaces a messaging user's custom attributes (a JSON object) and tags, what segments
    /// filter on and merge fields read.
    pub async fn set_user_profile(
        &self,
        messaging_user_id: Uuid,
        attributes: &serde_json::Map<String, serde_json::Value>,
        tags: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let (attributes, tags) = (to_json(attributes)?, to_json(tags)?);
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE messaging_users SET attributes = $2, tags = $3, updated_at = $4 WHERE id = $1")
            .bind(messaging_user_id).bind(&attributes).bind(&tags).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging user"));
        }
        Ok(())
    }

    /// Replaces a contact's custom attributes (a JSON object); a messaging user's own win over
    /// them.
    pub async fn set_contact_attributes(
        &self,
        contact_id: Uuid,
        attributes: &serde_json::Map<String, serde_json::Value>,
        now: Timestamp,
    ) -> Result<()> {
        let attributes = to_json(attributes)?;
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE contacts SET attributes = $2, updated_at = $3 WHERE id = $1")
            .bind(contact_id).bind(&attributes).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("contact"));
        }
        Ok(())
    }

    /// Stamps `last_inbound_at` of a messaging user.
    pub async fn touch_inbound(&self, messaging_user_id: Uuid, at: Timestamp) -> Result<()> {
        // `updated_at` stays: it is the import's check that a user did not change under it,
        // and a customer writing in is no such change.
        on_backend!(self, write c => sqlx::query(TOUCH_INBOUND)
            .bind(messaging_user_id).bind(at.millis()).execute(c).await.map(|_| ()))?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct FunnelRow {
    status: String,
    error_code: Option<String>,
    messages: i64,
    clicks: Option<i64>,
    clicked: Option<i64>,
    replied: i64,
    help: i64,
    opted_out: i64,
}

#[derive(sqlx::FromRow)]
struct ExportDbRow {
    entry_id: Uuid,
    address: String,
    channel_id: Uuid,
    status: String,
    error_code: Option<String>,
    clicks: i64,
    replied_at: Option<i64>,
    help_at: Option<i64>,
    opted_out_at: Option<i64>,
    created_at: i64,
}
