//! One expansion batch: the next page of the audience, filtered (segment), checked (who may
//! receive it: `parley_core::campaign::eligibility`), rendered (merge fields, short links,
//! footer), and written in one transaction with the cursor and the counts, so a crash between
//! batches loses nothing and repeats nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use parley_core::campaign::audience::{Member, SegmentFilter};
use parley_core::campaign::content::{Compiled, FooterLines, LinkBase, RenderError};
use parley_core::campaign::eligibility::{self, Exclusion, Recipient, Sender};
use parley_core::campaign::results::Counts;
use parley_core::campaign::schedule;
use parley_core::campaign::{Audience, CampaignKind, CampaignSpec};
use parley_core::consent::SendPurpose;
use parley_core::model::{Actor, Direction, EntryStatus, SessionContext};
use parley_core::{E164, Timestamp, new_id};
use parley_store::{
    CampaignBatch, CampaignMessage, Channel, Entry, EntryTemplate, Session, StoreError,
    StoredCampaign,
};
use uuid::Uuid;

use super::{Campaigns, group_key};
use crate::jobs::{self, BULK_PRIORITY};

/// Audience rows looked at per batch (one transaction each).
pub const BATCH: u32 = 2_000;

/// The most of a campaign's messages left waiting for the dispatcher before the expansion waits.
pub const LOOKAHEAD: u64 = 20_000;

/// Entries per campaign chunk job at most (see [`chunk_size`]).
pub const CHUNK: usize = 500;

/// How long a chunk's sends may take at its sender's rate: a quarter of the job lease, so a
/// chunk of a slow sender (a 10 msg/s long code gets 150 entries) is done well before another
/// runner could take its job over.
const CHUNK_SECONDS: u32 = 15;

/// Entries per chunk job on `channel`: at most `limit`, and no more than its sender sends in
/// [`CHUNK_SECONDS`].
fn chunk_size(limit: usize, channel: &Channel) -> usize {
    let rate = crate::outbound::rate::sender_rate(channel);
    let by_rate = usize::try_from(rate.saturating_mul(CHUNK_SECONDS)).unwrap_or(usize::MAX);
    limit.min(by_rate).max(1)
}

/// An exclusion counted by a reason of the expansion's own (not a rule of who may receive it).
const RENDER_FAILED: &str = "render_failed";
const TOO_LONG: &str = "too_long";

/// One sender, ready to render for.
#[derive(Debug)]
pub(crate) struct PreparedSender {
    pub channel: Channel,
    pub compiled: Compiled,
    /// The approved template, for a template campaign.
    pub template: Option<parley_store::Template>,
}

/// A campaign compiled for expansion.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) spec: CampaignSpec,
    pub(crate) senders: HashMap<Uuid, PreparedSender>,
    pub(crate) segment: Option<SegmentFilter>,
}

/// Why a campaign cannot be prepared: the rules say so (a person can fix it).
pub(crate) fn refused(what: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(what.to_string())
}

impl Prepared {
    /// Compiles `campaign` for each of its senders.
    pub(crate) async fn load(
        campaigns: &Campaigns,
        campaign: &StoredCampaign,
    ) -> Result<Self, StoreError> {
        let spec = campaign.spec.clone();
        let store = &campaigns.store;
        let whatsapp_number = match spec.footer.whatsapp_channel_id {
            Some(id) => Some(store.channel(id).await?.address),
            None => None,
        };
        let mut senders = HashMap::new();
        for id in &spec.senders {
            let channel = store.channel(*id).await?;
            let template = match &spec.content.template {
                Some(t) => Some(
                    store
                        .template(channel.id, &t.name, &t.language)
                        .await?
                        .ok_or_else(|| {
                            refused(format!(
                                "channel '{}' has no template '{}' ({})",
                                channel.name, t.name, t.language
                            ))
                        })?,
                ),
                None => None,
            };
            let footer = FooterLines::new(&spec.footer, whatsapp_number.as_deref());
            let compiled = Compiled::compile(
                &spec.content,
                template.as_ref().map(|t| t.body.as_str()),
                footer,
                campaigns.link_base.clone().map(LinkBase),
            )
            .map_err(refused)?;
            senders.insert(
                channel.id,
                PreparedSender {
                    channel,
                    compiled,
                    template,
                },
            );
        }
        let segment = match spec.audience {
            Audience::Segment { segment_id } => Some(store.segment(segment_id).await?.filter),
            Audience::List { .. } => None,
        };
        Ok(Self {
            spec,
            senders,
            segment,
        })
    }

    fn sender_ids(&self) -> Vec<Uuid> {
        self.spec.senders.clone()
    }
}

/// The next page of the audience: members, the cursor after it, and whether it was the last.
/// List entries that reach nobody are counted here.
async fn page(
    campaigns: &Campaigns,
    prepared: &Prepared,
    campaign: &StoredCampaign,
    counts: &mut Counts,
) -> Result<(Vec<Member>, Option<Uuid>, bool), StoreError> {
    let store = &campaigns.store;
    let senders = prepared.sender_ids();
    match prepared.spec.audience {
        Audience::Segment { .. } => {
            let members = store
                .audience_page(&senders, campaign.expand_cursor, BATCH)
                .await?;
            let last = members.len() < BATCH as usize;
            let cursor = members
                .last()
                .map(|m| m.messaging_user_id)
                .or(campaign.expand_cursor);
            counts.audience += members.len() as u64;
            Ok((members, cursor, last))
        }
        Audience::List { list_id } => {
            let entries = store
                .list_members(list_id, campaign.expand_cursor, BATCH)
                .await?;
            let last = entries.len() < BATCH as usize;
            let cursor = entries.last().map(|m| m.id).or(campaign.expand_cursor);
            counts.audience += entries.len() as u64;
            let phones: Vec<String> = entries.iter().filter_map(|e| e.phone.clone()).collect();
            let contacts: Vec<Uuid> = entries.iter().filter_map(|e| e.contact_id).collect();
            let found = store.audience_of(&senders, &phones, &contacts).await?;
            // Every entry either reaches at least one messaging user or is counted as not on
            // the senders.
            let by_phone: HashSet<&str> = found.iter().map(|m| m.platform_key.as_str()).collect();
            let by_contact: HashSet<Uuid> = found.iter().filter_map(|m| m.contact_id).collect();
            for e in &entries {
                let reached = e.phone.as_deref().is_some_and(|p| by_phone.contains(p))
                    || e.contact_id.is_some_and(|c| by_contact.contains(&c));
                if !reached {
                    add(&mut counts.excluded, Exclusion::NotOnSender.as_str());
                }
            }
            Ok((found, cursor, last))
        }
    }
}

fn add(map: &mut std::collections::BTreeMap<String, u64>, reason: &str) {
    *map.entry(reason.to_owned()).or_insert(0) += 1;
}

/// Expands one batch of `campaign`; answers how many messages it queued.
pub(crate) async fn batch(
    campaigns: &Campaigns,
    prepared: &Prepared,
    campaign: &StoredCampaign,
    now: Timestamp,
    rooms: &mut HashMap<Uuid, super::limits::Room>,
) -> Result<u64, StoreError> {
    let mut counts = campaign.expansion.clone();
    let (mut members, cursor, last) = page(campaigns, prepared, campaign, &mut counts).await?;
    if let Some(filter) = &prepared.segment {
        members.retain(|m| filter.matches(m, now));
    }
    spread(&mut members, rooms);
    let kind = prepared.spec.kind;
    let template = prepared.spec.content.template.is_some();
    let purpose = match kind {
        CampaignKind::Marketing => SendPurpose::Campaign,
        CampaignKind::Broadcast => SendPurpose::Broadcast,
    };
    let group = group_key(campaign.id);
    let mut write = CampaignBatch {
        campaign_id: campaign.id,
        cursor,
        expanded: last,
        ..CampaignBatch::default()
    };
    // One message per address per campaign: addresses an earlier batch gave it to (the same
    // person on another sender, a list naming them twice) are duplicates.
    let addresses: Vec<String> = members.iter().map(|m| m.platform_key.clone()).collect();
    let mut seen: HashSet<String> = campaigns
        .store
        .campaign_addresses_sent(campaign.id, &addresses)
        .await?
        .into_iter()
        .collect();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng());
    // The batch's entries by sender and due time, each list cut into chunk jobs.
    let mut chunks: BTreeMap<(Uuid, Timestamp), (usize, Vec<Uuid>)> = BTreeMap::new();
    for m in &members {
        let Some(sender) = prepared.senders.get(&m.channel_id) else {
            continue;
        };
        if !seen.insert(m.platform_key.clone()) {
            add(&mut counts.excluded, Exclusion::Duplicate.as_str());
            continue;
        }
        let channel = &sender.channel;
        let facts = Sender {
            kind: channel.kind,
            consent_level: channel.consent_level,
            address: &channel.address,
        };
        let recipient = Recipient {
            consent: m.consent,
            address: &m.platform_key,
            last_customer_at: m.last_inbound_at,
        };
        if let Some(reason) = eligibility::exclusion(kind, template, &facts, &recipient, now) {
            add(&mut counts.excluded, reason.as_str());
            continue;
        }
        let code = sender
            .compiled
            .needs_code()
            .then(|| parley_core::campaign::links::new_code(&mut rng));
        let rendered = match sender.compiled.render(m, &channel.name, code.as_deref()) {
            Ok(r) => r,
            Err(RenderError::Missing(_)) => {
                add(&mut counts.excluded, Exclusion::MissingField.as_str());
                continue;
            }
            Err(RenderError::Failed(e)) => {
                tracing::warn!(campaign = %campaign.id, error = %e, "campaign message not rendered");
                add(&mut counts.excluded, RENDER_FAILED);
                continue;
            }
        };
        if parley_core::sms::check_length(channel.kind, &rendered.body).is_err() {
            add(&mut counts.excluded, TOO_LONG);
            continue;
        }
        let due = match &prepared.spec.schedule.window {
            Some(window) => {
                let attribute = m.attributes.get("time_zone").and_then(|v| v.as_str());
                let country = parley_core::campaign::audience::country_of(&m.platform_key);
                let zone = schedule::recipient_zone(attribute, country.as_deref(), window);
                schedule::next_opening(window, zone, now).unwrap_or(now)
            }
            None => now,
        };
        let session_id = match m.open_session {
            Some(open) => open.session_id,
            None => {
                let s = campaign_session(m, channel.id, now);
                let id = s.id;
                write.sessions.push(s);
                id
            }
        };
        let entry = Entry {
            id: new_id(),
            session_id,
            direction: Direction::Outbound,
            actor: Actor::System,
            actor_id: None,
            body: rendered.body,
            media: Vec::new(),
            provider_message_id: None,
            status: EntryStatus::Queued,
            error_code: None,
            provider_error: None,
            created_at: now,
            updated_at: now,
            template: sender.template.as_ref().map(|t| EntryTemplate {
                template_id: t.id,
                name: t.name.clone(),
                language: t.language.clone(),
                parameters: rendered.parameters.clone(),
            }),
            component: None,
        };
        chunks
            .entry((channel.id, due))
            .or_insert_with(|| (chunk_size(campaigns.chunk, channel), Vec::new()))
            .1
            .push(entry.id);
        write.messages.push(CampaignMessage {
            entry_id: entry.id,
            messaging_user_id: m.messaging_user_id,
            channel_id: channel.id,
            address: m.platform_key.clone(),
            code,
        });
        write.entries.push(entry);
    }
    for ((_, due), (size, entries)) in chunks {
        for part in entries.chunks(size) {
            let chunk = jobs::CampaignChunk {
                campaign: campaign.id,
                purpose,
                entries: part.to_vec(),
            };
            let mut job = jobs::campaign_chunk_job(&chunk, BULK_PRIORITY, due);
            job.group_key = Some(group.clone());
            write.jobs.push(job);
        }
    }
    // SE-18: a campaign message in an open session shows in the agent's console at once.
    let new_sessions: HashSet<Uuid> = write.sessions.iter().map(|s| s.id).collect();
    let appended: Vec<(Uuid, Uuid)> = write
        .entries
        .iter()
        .filter(|e| !new_sessions.contains(&e.session_id))
        .map(|e| (e.session_id, e.id))
        .collect();
    let planned = write.entries.len() as u64;
    write.expansion = counts;
    let dropped = campaigns.store.write_campaign_batch(&write, now).await?;
    if dropped > 0 {
        // Addresses another writer gave this campaign's message to between our read and our
        // write (two expanders during a lease hand-over): skipped whole by the store.
        tracing::warn!(campaign = %campaign.id, dropped, "campaign recipients already sent");
    }
    for (session_id, entry_id) in appended {
        campaigns
            .events
            .publish(crate::events::DomainEvent::MessageStatusChanged {
                session_id,
                entry_id,
            });
    }
    metrics::counter!("parley_campaign_messages_queued_total").increment(planned - dropped);
    Ok(planned - dropped)
}

/// Sender limits: a recipient known on several senders goes first through one with room left
/// (the others then count as duplicates, as before), and that sender's room shrinks. A
/// recipient with no such sender keeps their first one, whose limit action then applies.
fn spread(members: &mut Vec<Member>, rooms: &mut HashMap<Uuid, super::limits::Room>) {
    if rooms.values().all(|r| r.left.is_none()) {
        return;
    }
    let mut groups: Vec<(String, Vec<Member>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for m in members.drain(..) {
        let at = *index.entry(m.platform_key.clone()).or_insert_with(|| {
            groups.push((m.platform_key.clone(), Vec::new()));
            groups.len() - 1
        });
        if let Some((_, group)) = groups.get_mut(at) {
            group.push(m);
        }
    }
    for (_, mut group) in groups {
        let chosen = group
            .iter()
            .position(|m| rooms.get(&m.channel_id).is_some_and(|r| r.has_room()))
            .unwrap_or(0);
        if chosen > 0 {
            let m = group.remove(chosen);
            group.insert(0, m);
        }
        if let Some(room) = group.first().and_then(|m| rooms.get_mut(&m.channel_id)) {
            room.take();
        }
        members.extend(group);
    }
}

/// A marketing session of its own for a recipient with no open session on the sender: in their
/// conversation, already ended (see the module docs of [`crate::campaigns`]).
fn campaign_session(m: &Member, channel_id: Uuid, now: Timestamp) -> Session {
    let of = crate::session_rows::SessionOf {
        channel_id,
        messaging_user_id: m.messaging_user_id,
        conversation_id: m.conversation_id.unwrap_or_else(new_id),
    };
    crate::session_rows::transcript_session(of, SessionContext::Marketing, now)
}

/// A list entry's phone as E.164, for a list import (`None`: not a number).
pub fn list_phone(raw: &str, region: Option<&str>) -> Option<String> {
    E164::parse_with_region(raw, region)
        .ok()
        .map(E164::into_string)
}
