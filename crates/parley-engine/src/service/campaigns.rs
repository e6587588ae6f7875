//! Campaigns, segments and lists (issue 11): the service functions the API, the console and the
//! CLI share. Rules are `parley_core::campaign`'s; the expansion and the dispatch hooks are
//! [`crate::campaigns`].

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::campaign::audience::SegmentFilter;
use parley_core::campaign::content::Fit;
use parley_core::campaign::results::{Counts, Rates};
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{Audience, CampaignSpec};
use parley_store::{AudienceList, ListMember, Segment, Store, StoredCampaign};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;
use crate::campaigns::Campaigns;

/// A segment as the API takes it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `{"all": [conditions]}`; see `parley_core::campaign::audience::Condition`.
    #[schema(value_type = Object)]
    pub filter: SegmentFilter,
}

/// How many an audience holds, and how many of them the campaign could reach now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AudienceCount {
    /// Members of the audience on the senders (list entries for a list).
    pub members: u64,
    /// Of them, those who would get the message now.
    pub eligible: u64,
    /// The others, by reason (`opted_out`, `no_consent`, ...).
    pub excluded: BTreeMap<String, u64>,
}

/// A list import's report: what was added, and each bad row with its line number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListImportReport {
    pub rows: u64,
    pub added: u64,
    /// Already on the list (or twice in the file).
    pub duplicates: u64,
    pub errors: Vec<RowError>,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// Import progress: rows done of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// The live preview of a campaign's message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Preview {
    /// The message as the sample recipient reads it, footer included.
    pub body: String,
    /// Who it was rendered for (a messaging user's name or number), when the audience has one.
    pub sample: Option<String>,
    /// Encoding, segments and the length rule on the senders' kind.
    #[schema(value_type = Object)]
    pub fit: Fit,
    /// The merge fields the content uses.
    pub fields: Vec<String>,
    /// Fields the sample had no value for (their fallback was used).
    pub fell_back: Vec<String>,
    /// Links that will be shortened (empty when no short-link base is configured).
    pub links: Vec<String>,
}

/// A campaign's results.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignResults {
    pub id: Uuid,
    pub name: String,
    pub state: String,
    #[schema(value_type = Object)]
    pub counts: Counts,
    #[schema(value_type = Object)]
    pub rates: Rates,
}

// Segments.

pub async fn create_segment(
    store: &Store,
    input: &SegmentInput,
    now: Timestamp,
) -> Result<Segment, ServiceError> {
    let _ = (store, input, now);
    todo!()
}

pub async fn update_segment(
    store: &Store,
    id: Uuid,
    input: &SegmentInput,
    now: Timestamp,
) -> Result<Segment, ServiceError> {
    let _ = (store, id, input, now);
    todo!()
}

/// Refused (`Invalid`) while a campaign that is not finished uses it.
pub async fn delete_segment(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let _ = (store, id);
    todo!()
}

/// How many `audience` holds on `senders`, and how many a campaign of `spec`'s kind and content
/// would reach now.
pub async fn count_audience(
    store: &Store,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<AudienceCount, ServiceError> {
    let _ = (store, spec, now);
    todo!()
}

// Lists.

pub async fn create_list(
    store: &Store,
    name: &str,
    description: &str,
    now: Timestamp,
) -> Result<AudienceList, ServiceError> {
    let _ = (store, name, description, now);
    todo!()
}

/// Imports a CSV table (header row first) into a list: a `phone` column (E.164, or national
/// with a `country` column) or a `contact_id` column. Bad rows are reported with their line
/// numbers; the good ones are added all the same, in batches.
pub async fn import_list(
    store: &Store,
    list_id: Uuid,
    rows: &[Vec<String>],
    now: Timestamp,
    progress: impl FnMut(Progress),
) -> Result<ListImportReport, ServiceError> {
    let _ = (store, list_id, rows, now, progress);
    todo!()
}

/// Adds people picked in the console (messaging users' numbers or contacts).
pub async fn add_to_list(
    store: &Store,
    list_id: Uuid,
    phones: &[String],
    contacts: &[Uuid],
    now: Timestamp,
) -> Result<u64, ServiceError> {
    let _ = (store, list_id, phones, contacts, now);
    todo!()
}

pub async fn list_members(
    store: &Store,
    list_id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ListMember>, ServiceError> {
    let _ = (store, list_id, after, limit);
    todo!()
}

/// Refused while a campaign that is not finished uses it.
pub async fn delete_list(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let _ = (store, id);
    todo!()
}

// Campaigns.

/// Checks a spec against the rules and the database: senders exist and are of one kind that
/// carries campaigns; a broadcast is SMS from a short code or toll-free number with an approved
/// template (BC-01, BC-02, BC-04); a WhatsApp text... the content compiles and every field
/// exists; the audience exists; the footer's WhatsApp channel exists; the schedule is valid.
pub async fn validate(
    store: &Store,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let _ = (store, spec, now);
    todo!()
}

pub async fn create_campaign(
    store: &Store,
    spec: &CampaignSpec,
    created_by: Option<&str>,
    now: Timestamp,
) -> Result<StoredCampaign, ServiceError> {
    let _ = (store, spec, created_by, now);
    todo!()
}

/// A draft only.
pub async fn update_campaign(
    store: &Store,
    id: Uuid,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<StoredCampaign, ServiceError> {
    let _ = (store, id, spec, now);
    todo!()
}

/// A draft only.
pub async fn delete_campaign(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let _ = (store, id);
    todo!()
}

/// The message for the audience's first member (or a made-up recipient when it is empty).
pub async fn preview(campaigns: &Campaigns, spec: &CampaignSpec) -> Result<Preview, ServiceError> {
    let _ = (campaigns, spec);
    todo!()
}

/// Start, schedule, unschedule, pause, resume or cancel.
pub async fn act(
    campaigns: &Campaigns,
    id: Uuid,
    action: CampaignAction,
) -> Result<StoredCampaign, ServiceError> {
    let _ = (campaigns, id, action);
    todo!()
}

pub async fn results(store: &Store, id: Uuid) -> Result<CampaignResults, ServiceError> {
    let _ = (store, id);
    todo!()
}

/// The CSV export, a page at a time: header first, then one line per message.
pub async fn export_csv(
    store: &Store,
    id: Uuid,
    mut write: impl FnMut(&str),
) -> Result<(), ServiceError> {
    let _ = (store, id, &mut write);
    todo!()
}

/// A short link was followed: where it goes, counting the click unless a preview bot asked.
pub async fn follow_link(
    store: &Store,
    segment: &str,
    user_agent: Option<&str>,
    head: bool,
    now: Timestamp,
) -> Result<Option<String>, ServiceError> {
    let _ = (store, segment, user_agent, head, now);
    todo!()
}

/// Which audience a campaign names, for the console's pickers.
pub fn audience_label(audience: &Audience) -> &'static str {
    match audience {
        Audience::Segment { .. } => "segment",
        Audience::List { .. } => "list",
    }
}
