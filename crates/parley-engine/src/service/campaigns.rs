//! Campaigns, segments and lists (issue 11): the service functions the API, the console and the
//! CLI share. Rules are `parley_core::campaign`'s; the expansion and the dispatch hooks are
//! [`crate::campaigns`].

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::campaign::audience::{Member, SegmentFilter};
use parley_core::campaign::content::{self, Compiled, Fit, FooterLines, LinkBase, RenderError};
use parley_core::campaign::eligibility::{self, Exclusion, Recipient, Sender};
use parley_core::campaign::results::{Counts, Rates};
use parley_core::campaign::state::{self, CampaignAction};
use parley_core::campaign::{Audience, CampaignKind, CampaignSpec, CampaignState, links, schedule};
use parley_core::model::{ChannelKind, NumberType, TemplateStatus};
use parley_store::{
    AudienceList, Channel, ListMember, Segment, SegmentSpec, Store, StoredCampaign,
};
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
    #[schema(value_type = SegmentFilterDoc)]
    pub filter: SegmentFilter,
}

/// A segment's filter (`parley_core::campaign::audience::SegmentFilter`, same wire form), for
/// the document: the core crate has no OpenAPI derive.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SegmentFilterDoc {
    /// Conditions that must all hold, each an object with a `field`; see
    /// `parley_core::campaign::audience::Condition`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub all: Vec<serde_json::Value>,
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

fn segment_spec(input: &SegmentInput) -> Result<SegmentSpec, ServiceError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::Invalid(
            "name: 1 to 200 characters".to_owned(),
        ));
    }
    input
        .filter
        .validate()
        .map_err(|e| ServiceError::Invalid(format!("filter: {e}")))?;
    Ok(SegmentSpec {
        name: name.to_owned(),
        description: input.description.trim().to_owned(),
        filter: input.filter.clone(),
    })
}

pub async fn create_segment(
    store: &Store,
    input: &SegmentInput,
    now: Timestamp,
) -> Result<Segment, ServiceError> {
    Ok(store.create_segment(&segment_spec(input)?, now).await?)
}

pub async fn update_segment(
    store: &Store,
    id: Uuid,
    input: &SegmentInput,
    now: Timestamp,
) -> Result<Segment, ServiceError> {
    Ok(store.update_segment(id, &segment_spec(input)?, now).await?)
}

/// The name of a campaign not finished yet that uses `audience`, if any.
async fn used_by(store: &Store, audience: &Audience) -> Result<Option<String>, ServiceError> {
    Ok(store
        .campaigns()
        .await?
        .into_iter()
        .find(|c| {
            !matches!(c.state, CampaignState::Completed | CampaignState::Cancelled)
                && &c.spec.audience == audience
        })
        .map(|c| c.spec.name))
}

/// Refused (`Invalid`) while a campaign that is not finished uses it.
pub async fn delete_segment(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    if let Some(name) = used_by(store, &Audience::Segment { segment_id: id }).await? {
        return Err(ServiceError::Invalid(format!(
            "campaign '{name}' uses this segment; finish, cancel or change it first"
        )));
    }
    Ok(store.delete_segment(id).await?)
}

/// How many `audience` holds on `senders`, and how many a campaign of `spec`'s kind and content
/// would reach now. Reads the whole audience (a few seconds for a million people).
pub async fn count_audience(
    store: &Store,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<AudienceCount, ServiceError> {
    let senders = sender_channels(store, &spec.senders).await?;
    let template = spec.content.template.is_some();
    let mut count = AudienceCount::default();
    let mut seen = std::collections::HashSet::new();
    let mut judge = |m: &Member, count: &mut AudienceCount| {
        let Some(channel) = senders.iter().find(|c| c.id == m.channel_id) else {
            return;
        };
        if !seen.insert(m.platform_key.clone()) {
            *count
                .excluded
                .entry(Exclusion::Duplicate.as_str().to_owned())
                .or_insert(0) += 1;
            return;
        }
        let sender = Sender {
            kind: channel.kind,
            consent_level: channel.consent_level,
            address: &channel.address,
        };
        let recipient = Recipient {
            consent: m.consent,
            address: &m.platform_key,
            last_customer_at: m.last_inbound_at,
        };
        match eligibility::exclusion(spec.kind, template, &sender, &recipient, now) {
            Some(reason) => {
                *count
                    .excluded
                    .entry(reason.as_str().to_owned())
                    .or_insert(0) += 1;
            }
            None => count.eligible += 1,
        }
    };
    let ids: Vec<Uuid> = senders.iter().map(|c| c.id).collect();
    match &spec.audience {
        Audience::Segment { segment_id } => {
            let filter = super::referenced(store.segment(*segment_id).await, "the segment")?.filter;
            let mut after = None;
            loop {
                let page = store
                    .audience_page(&ids, after, crate::campaigns::BATCH)
                    .await?;
                after = page.last().map(|m| m.messaging_user_id);
                for m in page.iter().filter(|m| filter.matches(m, now)) {
                    count.members += 1;
                    judge(m, &mut count);
                }
                if page.len() < crate::campaigns::BATCH as usize {
                    break;
                }
            }
        }
        Audience::List { list_id } => {
            super::referenced(store.audience_list(*list_id).await, "the list")?;
            let mut after = None;
            loop {
                let entries = store
                    .list_members(*list_id, after, crate::campaigns::BATCH)
                    .await?;
                after = entries.last().map(|e| e.id);
                count.members += entries.len() as u64;
                let phones: Vec<String> = entries.iter().filter_map(|e| e.phone.clone()).collect();
                let contacts: Vec<Uuid> = entries.iter().filter_map(|e| e.contact_id).collect();
                let found = store.audience_of(&ids, &phones, &contacts).await?;
                let reached: std::collections::HashSet<&str> =
                    found.iter().map(|m| m.platform_key.as_str()).collect();
                let reached_contacts: std::collections::HashSet<Uuid> =
                    found.iter().filter_map(|m| m.contact_id).collect();
                for e in &entries {
                    let hit = e.phone.as_deref().is_some_and(|p| reached.contains(p))
                        || e.contact_id.is_some_and(|c| reached_contacts.contains(&c));
                    if !hit {
                        *count
                            .excluded
                            .entry(Exclusion::NotOnSender.as_str().to_owned())
                            .or_insert(0) += 1;
                    }
                }
                for m in &found {
                    judge(m, &mut count);
                }
                if entries.len() < crate::campaigns::BATCH as usize {
                    break;
                }
            }
        }
    }
    Ok(count)
}

// Lists.

fn list_name(name: &str) -> Result<&str, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::Invalid(
            "name: 1 to 200 characters".to_owned(),
        ));
    }
    Ok(name)
}

pub async fn create_list(
    store: &Store,
    name: &str,
    description: &str,
    now: Timestamp,
) -> Result<AudienceList, ServiceError> {
    Ok(store
        .create_list(list_name(name)?, description.trim(), now)
        .await?)
}

/// Rows added per transaction by an import.
const IMPORT_BATCH: usize = 1_000;

/// Imports a CSV table (header row first) into a list: a `phone` column (E.164, or national
/// with a `country` column) or a `contact_id` column. Bad rows are reported with their line
/// numbers; the good ones are added all the same, in batches.
pub async fn import_list(
    store: &Store,
    list_id: Uuid,
    rows: &[Vec<String>],
    now: Timestamp,
    mut progress: impl FnMut(Progress),
) -> Result<ListImportReport, ServiceError> {
    store.audience_list(list_id).await?;
    let Some((header, body)) = rows.split_first() else {
        return Err(ServiceError::Invalid(
            "the file is empty: a header row (phone or contact_id) comes first".to_owned(),
        ));
    };
    let column = |names: &[&str]| {
        header.iter().position(|h| {
            let h: String = h
                .trim()
                .chars()
                .filter(|c| !matches!(c, ' ' | '_' | '-'))
                .flat_map(char::to_lowercase)
                .collect();
            names.contains(&h.as_str())
        })
    };
    let phone_col = column(&["phone", "phonenumber", "mobile", "number", "platformkey"]);
    let contact_col = column(&["contactid", "contact"]);
    let country_col = column(&["country", "region"]);
    if phone_col.is_none() && contact_col.is_none() {
        return Err(ServiceError::Invalid(
            "the header names no phone or contact_id column".to_owned(),
        ));
    }
    let mut report = ListImportReport {
        rows: body.len() as u64,
        ..ListImportReport::default()
    };
    let total = body.len() as u64;
    let mut seen = std::collections::HashSet::new();
    let mut pending: Vec<ListMember> = Vec::with_capacity(IMPORT_BATCH);
    let mut done = 0u64;
    for (i, row) in body.iter().enumerate() {
        let line = i as u64 + 2;
        let cell = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let member = match (cell(phone_col), cell(contact_col)) {
            (Some(raw), _) => {
                let region = cell(country_col);
                match crate::campaigns::expand::list_phone(raw, region) {
                    Some(phone) => ListMember {
                        id: parley_core::new_id(),
                        phone: Some(phone),
                        contact_id: None,
                    },
                    None => {
                        report.errors.push(RowError {
                            line,
                            reason: format!(
                                "'{raw}' is not a valid phone number{}",
                                if region.is_none() {
                                    " (write it in international form, +44..., or add a country column)"
                                } else {
                                    ""
                                }
                            ),
                        });
                        continue;
                    }
                }
            }
            (None, Some(raw)) => match raw.parse::<Uuid>() {
                Ok(id) => ListMember {
                    id: parley_core::new_id(),
                    phone: None,
                    contact_id: Some(id),
                },
                Err(_) => {
                    report.errors.push(RowError {
                        line,
                        reason: format!("'{raw}' is not a contact id"),
                    });
                    continue;
                }
            },
            (None, None) => {
                report.errors.push(RowError {
                    line,
                    reason: "no phone and no contact_id".to_owned(),
                });
                continue;
            }
        };
        let key = member
            .phone
            .clone()
            .or_else(|| member.contact_id.map(|c| c.to_string()))
            .unwrap_or_default();
        if !seen.insert(key) {
            report.duplicates += 1;
            continue;
        }
        pending.push(member);
        if pending.len() >= IMPORT_BATCH {
            let n = pending.len() as u64;
            let added = store.add_list_members(list_id, &pending, now).await?;
            report.added += added;
            report.duplicates += n - added;
            pending.clear();
            done = line - 1;
            progress(Progress { done, total });
        }
    }
    if !pending.is_empty() {
        let n = pending.len() as u64;
        let added = store.add_list_members(list_id, &pending, now).await?;
        report.added += added;
        report.duplicates += n - added;
    }
    if done < total {
        progress(Progress { done: total, total });
    }
    Ok(report)
}

/// Adds people picked in the console (messaging users' numbers or contacts).
pub async fn add_to_list(
    store: &Store,
    list_id: Uuid,
    phones: &[String],
    contacts: &[Uuid],
    now: Timestamp,
) -> Result<u64, ServiceError> {
    let mut members = Vec::with_capacity(phones.len() + contacts.len());
    for p in phones {
        let phone = crate::campaigns::expand::list_phone(p, None).ok_or_else(|| {
            ServiceError::Invalid(format!("phones: '{p}' is not a valid phone number"))
        })?;
        members.push(ListMember {
            id: parley_core::new_id(),
            phone: Some(phone),
            contact_id: None,
        });
    }
    members.extend(contacts.iter().map(|c| ListMember {
        id: parley_core::new_id(),
        phone: None,
        contact_id: Some(*c),
    }));
    Ok(store.add_list_members(list_id, &members, now).await?)
}

pub async fn list_members(
    store: &Store,
    list_id: Uuid,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ListMember>, ServiceError> {
    store.audience_list(list_id).await?;
    Ok(store
        .list_members(list_id, after, limit.clamp(1, 500))
        .await?)
}

/// Refused while a campaign that is not finished uses it.
pub async fn delete_list(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    if let Some(name) = used_by(store, &Audience::List { list_id: id }).await? {
        return Err(ServiceError::Invalid(format!(
            "campaign '{name}' uses this list; finish, cancel or change it first"
        )));
    }
    Ok(store.delete_list(id).await?)
}

// Campaigns.

async fn sender_channels(store: &Store, ids: &[Uuid]) -> Result<Vec<Channel>, ServiceError> {
    if ids.is_empty() {
        return Err(ServiceError::Invalid(
            "senders: pick at least one channel".to_owned(),
        ));
    }
    let mut channels: Vec<Channel> = Vec::with_capacity(ids.len());
    for id in ids {
        if channels.iter().any(|c| c.id == *id) {
            return Err(ServiceError::Invalid(
                "senders: a channel is named twice".to_owned(),
            ));
        }
        channels.push(super::referenced(
            store.channel(*id).await,
            "a sender channel",
        )?);
    }
    Ok(channels)
}

/// Checks a spec against the rules and the database: senders exist and are of one kind that
/// carries campaigns (SMS or WhatsApp); a broadcast is SMS from a short code or toll-free number
/// with an approved template (BC-01, BC-02, BC-04); a template exists and is approved on every
/// sender; the content compiles and every field exists; the audience exists; the footer's
/// WhatsApp channel exists; the schedule is valid.
pub async fn validate(
    store: &Store,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<(), ServiceError> {
    compile(store, spec, None, now).await.map(|_| ())
}

/// [`validate`], answering each sender's compiled content.
async fn compile(
    store: &Store,
    spec: &CampaignSpec,
    link_base: Option<&str>,
    now: Timestamp,
) -> Result<Vec<(Channel, Compiled)>, ServiceError> {
    let invalid = |m: String| Err(ServiceError::Invalid(m));
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return invalid("name: 1 to 200 characters".to_owned());
    }
    if let Some(flow) = &spec.reply_flow
        && store.flow_by_name(flow).await?.is_none()
    {
        return invalid(format!("reply_flow: no flow is named '{flow}'"));
    }
    let senders = sender_channels(store, &spec.senders).await?;
    let kind = senders.first().map(|c| c.kind).unwrap_or(ChannelKind::Sms);
    if senders.iter().any(|c| c.kind != kind) {
        return invalid(
            "senders: every sender must be of one kind (all SMS or all WhatsApp)".to_owned(),
        );
    }
    if !matches!(kind, ChannelKind::Sms | ChannelKind::Whatsapp) {
        return invalid(format!(
            "senders: campaigns go out on SMS or WhatsApp channels, not {kind}"
        ));
    }
    if spec.kind == CampaignKind::Broadcast {
        if kind != ChannelKind::Sms {
            return invalid("kind: a broadcast goes out on SMS only (BC-01)".to_owned());
        }
        if let Some(c) = senders.iter().find(|c| {
            !matches!(
                c.number_type,
                Some(NumberType::ShortCode | NumberType::TollFree | NumberType::SharedShortCode)
            )
        }) {
            return invalid(format!(
                "senders: '{}' is not a short code or toll-free number; carriers limit bulk traffic from long numbers (BC-02)",
                c.name
            ));
        }
        if spec.content.template.is_none() {
            return invalid("content: a broadcast sends an approved template (BC-04)".to_owned());
        }
    }
    match &spec.audience {
        Audience::Segment { segment_id } => {
            super::referenced(store.segment(*segment_id).await, "the audience's segment")?;
        }
        Audience::List { list_id } => {
            super::referenced(store.audience_list(*list_id).await, "the audience's list")?;
        }
    }
    let whatsapp_number = match spec.footer.whatsapp_channel_id {
        Some(id) => {
            let c = super::referenced(store.channel(id).await, "the footer's WhatsApp channel")?;
            if c.kind != ChannelKind::Whatsapp {
                return invalid(format!(
                    "footer.whatsapp_channel_id: '{}' is not a WhatsApp channel",
                    c.name
                ));
            }
            Some(c.address)
        }
        None => None,
    };
    schedule::validate(&spec.schedule, now)
        .map_err(|e| ServiceError::Invalid(format!("schedule: {e}")))?;
    let mut compiled = Vec::with_capacity(senders.len());
    for channel in senders {
        let body = match &spec.content.template {
            Some(t) => {
                let Some(found) = store.template(channel.id, &t.name, &t.language).await? else {
                    return invalid(format!(
                        "content.template: channel '{}' has no template '{}' in language '{}'",
                        channel.name, t.name, t.language
                    ));
                };
                if found.status != TemplateStatus::Approved {
                    return invalid(format!(
                        "content.template: template '{}' ({}) is {} on '{}'; only approved templates are sent",
                        found.name, found.language, found.status, channel.name
                    ));
                }
                Some(found.body)
            }
            None => None,
        };
        let c = Compiled::compile(
            &spec.content,
            body.as_deref(),
            FooterLines::new(&spec.footer, whatsapp_number.as_deref()),
            link_base.map(|b| LinkBase(b.to_owned())),
        )
        .map_err(|e| ServiceError::Invalid(format!("content: {e}")))?;
        compiled.push((channel, c));
    }
    Ok(compiled)
}

pub async fn create_campaign(
    store: &Store,
    spec: &CampaignSpec,
    created_by: Option<&str>,
    now: Timestamp,
) -> Result<StoredCampaign, ServiceError> {
    validate(store, spec, now).await?;
    Ok(store.create_campaign(spec, created_by, now).await?)
}

fn not_draft(c: &StoredCampaign) -> ServiceError {
    ServiceError::Invalid(format!(
        "campaign '{}' is {}: only a draft changes",
        c.spec.name, c.state
    ))
}

/// A draft only.
pub async fn update_campaign(
    store: &Store,
    id: Uuid,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<StoredCampaign, ServiceError> {
    let current = store.campaign(id).await?;
    if !state::editable(current.state) {
        return Err(not_draft(&current));
    }
    validate(store, spec, now).await?;
    Ok(store.update_campaign(id, spec, now).await?)
}

/// A draft only.
pub async fn delete_campaign(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let current = store.campaign(id).await?;
    if !state::editable(current.state) {
        return Err(not_draft(&current));
    }
    Ok(store.delete_campaign(id).await?)
}

/// A made-up recipient for a preview when the audience is empty.
fn sample_member() -> Member {
    Member {
        platform_key: "+14155550100".to_owned(),
        name: "Alex Morgan".to_owned(),
        first_name: Some("Alex".to_owned()),
        last_name: Some("Morgan".to_owned()),
        ..Member::default()
    }
}

/// The first member of the audience (for the preview), if any.
async fn first_member(
    store: &Store,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<Option<Member>, ServiceError> {
    Ok(match &spec.audience {
        Audience::Segment { segment_id } => {
            let filter = store.segment(*segment_id).await?.filter;
            let page = store.audience_page(&spec.senders, None, 200).await?;
            page.into_iter().find(|m| filter.matches(m, now))
        }
        Audience::List { list_id } => {
            let entries = store.list_members(*list_id, None, 50).await?;
            let phones: Vec<String> = entries.iter().filter_map(|e| e.phone.clone()).collect();
            let contacts: Vec<Uuid> = entries.iter().filter_map(|e| e.contact_id).collect();
            store
                .audience_of(&spec.senders, &phones, &contacts)
                .await?
                .into_iter()
                .next()
        }
    })
}

/// The code short links carry in a preview.
const PREVIEW_CODE: &str = "Xy7Pq2Rs9";

/// The message for the audience's first member (or a made-up recipient when it is empty).
pub async fn preview(campaigns: &Campaigns, spec: &CampaignSpec) -> Result<Preview, ServiceError> {
    let store = campaigns.store();
    let now = campaigns.clock().now();
    let compiled = compile(store, spec, campaigns.link_base(), now).await?;
    let Some((channel, content)) = compiled.first() else {
        return Err(ServiceError::Invalid(
            "senders: pick at least one channel".to_owned(),
        ));
    };
    let found = first_member(store, spec, now).await?;
    let sample = found.as_ref().map(|m| {
        if m.name.trim().is_empty() {
            m.platform_key.clone()
        } else {
            m.name.clone()
        }
    });
    let member = found.unwrap_or_else(sample_member);
    let rendered = match content.render(&member, &channel.name, Some(PREVIEW_CODE)) {
        Ok(r) => r,
        Err(RenderError::Missing(field)) => {
            return Err(ServiceError::Invalid(format!(
                "{} has no value for {field}, and the campaign excludes such recipients",
                sample.as_deref().unwrap_or("the sample recipient")
            )));
        }
        Err(RenderError::Failed(e)) => return Err(ServiceError::Invalid(format!("content: {e}"))),
    };
    Ok(Preview {
        fit: content::fit(channel.kind, &rendered.body),
        body: rendered.body,
        sample,
        fields: content.fields().to_vec(),
        fell_back: rendered.fell_back,
        links: if campaigns.link_base().is_some() {
            content.links().to_vec()
        } else {
            Vec::new()
        },
    })
}

/// The targets of the campaign's short links, checked and fixed when it starts or is scheduled
/// (none without a short-link base: links then stay as written).
async fn short_link_targets(
    campaigns: &Campaigns,
    spec: &CampaignSpec,
    now: Timestamp,
) -> Result<Vec<String>, ServiceError> {
    let compiled = compile(campaigns.store(), spec, campaigns.link_base(), now).await?;
    Ok(match (campaigns.link_base(), compiled.first()) {
        (Some(_), Some((_, c))) => c.links().to_vec(),
        _ => Vec::new(),
    })
}

/// Start, schedule, unschedule, pause, resume or cancel.
pub async fn act(
    campaigns: &Campaigns,
    id: Uuid,
    action: CampaignAction,
) -> Result<StoredCampaign, ServiceError> {
    let store = campaigns.store();
    let now = campaigns.clock().now();
    let current = store.campaign(id).await?;
    let target = state::apply(current.state, action)
        .map_err(|e| ServiceError::Invalid(format!("campaign '{}': {e}", current.spec.name)))?;
    let from = [current.state];
    let changed = match action {
        CampaignAction::Start => {
            let links = short_link_targets(campaigns, &current.spec, now).await?;
            let c = store
                .set_campaign_state(id, &from, target, Some(&links), None, now)
                .await?;
            campaigns.wake();
            c
        }
        CampaignAction::Schedule => {
            let Some(at) = current.spec.schedule.start_at else {
                return Err(ServiceError::Invalid(
                    "schedule.start_at: give the time to start, or start it now".to_owned(),
                ));
            };
            if at <= now {
                return Err(ServiceError::Invalid(
                    "schedule.start_at is in the past: start it now instead".to_owned(),
                ));
            }
            let links = short_link_targets(campaigns, &current.spec, now).await?;
            store
                .set_campaign_state(id, &from, target, Some(&links), Some(at), now)
                .await?
        }
        CampaignAction::Pause => {
            let c = store
                .set_campaign_state(id, &from, target, None, None, now)
                .await?;
            store.hold_campaign_jobs(id, now).await?;
            c
        }
        CampaignAction::Resume => {
            let c = store
                .set_campaign_state(id, &from, target, None, None, now)
                .await?;
            store.release_campaign_jobs(id, now).await?;
            store.delete_campaign_pause(id).await?;
            campaigns.wake();
            campaigns.wake_outbound();
            c
        }
        CampaignAction::Cancel => {
            store
                .set_campaign_state(id, &from, target, None, None, now)
                .await?;
            store.hold_campaign_jobs(id, now).await?;
            store.withdraw_campaign(id, now).await?;
            store.campaign(id).await?
        }
        CampaignAction::Unschedule | CampaignAction::Complete => {
            store
                .set_campaign_state(id, &from, target, None, None, now)
                .await?
        }
    };
    tracing::info!(campaign = %id, action = %action, state = %changed.state, "campaign action");
    Ok(changed)
}

pub async fn results(store: &Store, id: Uuid) -> Result<CampaignResults, ServiceError> {
    let campaign = store.campaign(id).await?;
    let counts = store.campaign_counts(id).await?;
    Ok(CampaignResults {
        id,
        name: campaign.spec.name,
        state: campaign.state.as_str().to_owned(),
        rates: counts.rates(),
        counts,
    })
}

/// A CSV field, quoted when it needs to be.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// Messages per page of the CSV export.
const EXPORT_PAGE: u32 = 1_000;

/// A campaign's CSV export, read a page at a time as the reader asks for it, so a slow download
/// never holds more than a page (a million recipients are not gathered in memory).
#[derive(Debug)]
pub struct CsvExport {
    store: Store,
    id: Uuid,
    senders: std::collections::HashMap<Uuid, String>,
    after: Option<Uuid>,
    header_sent: bool,
    done: bool,
}

impl CsvExport {
    /// The export of campaign `id` (`NotFound` when there is none).
    pub async fn new(store: &Store, id: Uuid) -> Result<Self, ServiceError> {
        let c = store.campaign(id).await?;
        let mut senders = std::collections::HashMap::new();
        for s in c.spec.senders {
            if let Ok(ch) = store.channel(s).await {
                senders.insert(s, ch.name);
            }
        }
        Ok(Self {
            store: store.clone(),
            id,
            senders,
            after: None,
            header_sent: false,
            done: false,
        })
    }

    /// The next part of the file: the header first, then a page of lines; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, ServiceError> {
        if !self.header_sent {
            self.header_sent = true;
            return Ok(Some(
                "message_id,recipient,sender,status,error_code,clicks,replied_at,help_at,opted_out_at,queued_at\n"
                    .to_owned(),
            ));
        }
        if self.done {
            return Ok(None);
        }
        let rows = self
            .store
            .campaign_export(self.id, self.after, EXPORT_PAGE)
            .await?;
        self.after = rows.last().map(|r| r.entry_id);
        self.done = rows.len() < EXPORT_PAGE as usize;
        if rows.is_empty() {
            return Ok(None);
        }
        let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339).unwrap_or_default();
        let mut chunk = String::with_capacity(rows.len() * 140);
        for r in &rows {
            let sender = self.senders.get(&r.channel_id).map_or("", String::as_str);
            chunk.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                r.entry_id,
                csv_field(&r.address),
                csv_field(sender),
                r.status,
                r.error_code.as_deref().unwrap_or(""),
                r.clicks,
                time(r.replied_at),
                time(r.help_at),
                time(r.opted_out_at),
                r.created_at.to_rfc3339(),
            ));
        }
        Ok(Some(chunk))
    }
}

/// A short link was followed: where it goes, counting the click unless a preview bot asked.
pub async fn follow_link(
    store: &Store,
    segment: &str,
    user_agent: Option<&str>,
    head: bool,
    now: Timestamp,
) -> Result<Option<String>, ServiceError> {
    let Some((code, index)) = links::parse(segment) else {
        return Ok(None);
    };
    let Some(target) = store.link_target(code, index).await? else {
        return Ok(None);
    };
    if !links::is_preview(user_agent, head) {
        store.record_click(code, now).await?;
        metrics::counter!("parley_campaign_clicks_total").increment(1);
    }
    Ok(Some(target.url))
}

/// Which audience a campaign names, for the console's pickers.
pub fn audience_label(audience: &Audience) -> &'static str {
    match audience {
        Audience::Segment { .. } => "segment",
        Audience::List { .. } => "list",
    }
}
