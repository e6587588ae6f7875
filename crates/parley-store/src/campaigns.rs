//! Campaigns and their audiences (issue 11): segments, lists, campaigns, the message each
//! recipient got, short-link clicks and reply attribution. The rules (which member matches, who
//! is excluded, what the message says) are `parley_core::campaign`'s; this module reads and
//! writes, in batches.

use std::collections::HashMap;

use parley_core::Timestamp;
use parley_core::campaign::audience::{Member, SegmentFilter};
use parley_core::campaign::results::Counts;
use parley_core::campaign::{CampaignKind, CampaignSpec, CampaignState};
use uuid::Uuid;

use crate::{Entry, NewJob, Result, Session, Store};

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
/// entries (queued), their send jobs (with the campaign's `group_key`), the recipient rows, the
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

impl Store {
    // Segments.

    pub async fn create_segment(&self, spec: &SegmentSpec, now: Timestamp) -> Result<Segment> {
        let _ = (spec, now);
        todo!()
    }

    pub async fn update_segment(
        &self,
        id: Uuid,
        spec: &SegmentSpec,
        now: Timestamp,
    ) -> Result<Segment> {
        let _ = (id, spec, now);
        todo!()
    }

    pub async fn delete_segment(&self, id: Uuid) -> Result<()> {
        let _ = id;
        todo!()
    }

    pub async fn segment(&self, id: Uuid) -> Result<Segment> {
        let _ = id;
        todo!()
    }

    pub async fn segments(&self) -> Result<Vec<Segment>> {
        todo!()
    }

    // Lists.

    pub async fn create_list(
        &self,
        name: &str,
        description: &str,
        now: Timestamp,
    ) -> Result<AudienceList> {
        let _ = (name, description, now);
        todo!()
    }

    pub async fn audience_list(&self, id: Uuid) -> Result<AudienceList> {
        let _ = id;
        todo!()
    }

    pub async fn audience_lists(&self) -> Result<Vec<AudienceList>> {
        todo!()
    }

    pub async fn delete_list(&self, id: Uuid) -> Result<()> {
        let _ = id;
        todo!()
    }

    /// Adds members (each a phone or a contact); ones already on the list are skipped. Answers
    /// how many were added. One transaction per call; keeps `audience_lists.members` right.
    pub async fn add_list_members(
        &self,
        list_id: Uuid,
        members: &[ListMember],
        now: Timestamp,
    ) -> Result<u64> {
        let _ = (list_id, members, now);
        todo!()
    }

    /// Removes members by id.
    pub async fn remove_list_members(
        &self,
        list_id: Uuid,
        ids: &[Uuid],
        now: Timestamp,
    ) -> Result<u64> {
        let _ = (list_id, ids, now);
        todo!()
    }

    /// A page of a list, by member id.
    pub async fn list_members(
        &self,
        list_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ListMember>> {
        let _ = (list_id, after, limit);
        todo!()
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
        let _ = (channels, after, limit);
        todo!()
    }

    /// The messaging users on `channels` whose platform key is one of `phones` or whose contact
    /// is one of `contacts` (a list page resolved), as [`Store::audience_page`] reads them.
    pub async fn audience_of(
        &self,
        channels: &[Uuid],
        phones: &[String],
        contacts: &[Uuid],
    ) -> Result<Vec<Member>> {
        let _ = (channels, phones, contacts);
        todo!()
    }

    // Campaigns.

    pub async fn create_campaign(
        &self,
        spec: &CampaignSpec,
        created_by: Option<&str>,
        now: Timestamp,
    ) -> Result<StoredCampaign> {
        let _ = (spec, created_by, now);
        todo!()
    }

    /// Replaces a draft's spec (`Conflict` when it is no longer a draft).
    pub async fn update_campaign(
        &self,
        id: Uuid,
        spec: &CampaignSpec,
        now: Timestamp,
    ) -> Result<StoredCampaign> {
        let _ = (id, spec, now);
        todo!()
    }

    /// Deletes a draft (`Conflict` otherwise).
    pub async fn delete_campaign(&self, id: Uuid) -> Result<()> {
        let _ = id;
        todo!()
    }

    pub async fn campaign(&self, id: Uuid) -> Result<StoredCampaign> {
        let _ = id;
        todo!()
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<StoredCampaign>> {
        todo!()
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
        let _ = (id, from, to, links, scheduled_at, now);
        todo!()
    }

    /// Scheduled campaigns whose time has come.
    pub async fn campaigns_due(&self, now: Timestamp) -> Result<Vec<Uuid>> {
        let _ = now;
        todo!()
    }

    /// Campaigns in `sending` (the worker's restart picks them up).
    pub async fn campaigns_in(&self, state: CampaignState) -> Result<Vec<Uuid>> {
        let _ = state;
        todo!()
    }

    /// The states of these campaigns (the dispatcher checks them per batch).
    pub async fn campaign_states(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, CampaignState>> {
        let _ = ids;
        todo!()
    }

    /// Writes one expansion batch (see [`CampaignBatch`]) in one transaction. Recipients whose
    /// address already has this campaign's message are skipped whole (session, entry, job), and
    /// counted in the answer.
    pub async fn write_campaign_batch(&self, batch: &CampaignBatch, now: Timestamp) -> Result<u64> {
        let _ = (batch, now);
        todo!()
    }

    /// Of `addresses`, those that already have this campaign's message.
    pub async fn campaign_addresses_sent(
        &self,
        campaign_id: Uuid,
        addresses: &[String],
    ) -> Result<Vec<String>> {
        let _ = (campaign_id, addresses);
        todo!()
    }

    /// The campaign's send jobs that are ready and due, or running: what the dispatcher has yet
    /// to finish of what the expansion wrote.
    pub async fn campaign_backlog(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let _ = (campaign_id, now);
        todo!()
    }

    /// Whether any of the campaign's send jobs is not finished (ready, held, running).
    pub async fn campaign_unsettled(&self, campaign_id: Uuid) -> Result<bool> {
        let _ = campaign_id;
        todo!()
    }

    /// Pause: the campaign's ready send jobs become `held`. Answers how many.
    pub async fn hold_campaign_jobs(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let _ = (campaign_id, now);
        todo!()
    }

    /// Resume: the campaign's held send jobs are ready again. Answers how many.
    pub async fn release_campaign_jobs(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let _ = (campaign_id, now);
        todo!()
    }

    /// Cancel: the campaign's messages not handed to a provider yet (entry `queued`, job ready or
    /// held) are withdrawn: their jobs, recipient rows and entries deleted, and the sessions made
    /// only for them. Answers how many; adds them to the stored counts' `withdrawn`.
    pub async fn withdraw_campaign(&self, campaign_id: Uuid, now: Timestamp) -> Result<u64> {
        let _ = (campaign_id, now);
        todo!()
    }

    /// The campaign's funnel: the expansion's counts, plus the messages' statuses (from their
    /// entries), clicks, replies, HELP hand-offs and opt-outs.
    pub async fn campaign_counts(&self, campaign_id: Uuid) -> Result<Counts> {
        let _ = campaign_id;
        todo!()
    }

    /// A page of the campaign's messages for the CSV export, by entry id.
    pub async fn campaign_export(
        &self,
        campaign_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ExportRow>> {
        let _ = (campaign_id, after, limit);
        todo!()
    }

    // Links and replies.

    /// Where the short link `code`/`index` goes, if it exists.
    pub async fn link_target(&self, code: &str, index: usize) -> Result<Option<LinkTarget>> {
        let _ = (code, index);
        todo!()
    }

    /// Counts a click on the recipient's code.
    pub async fn record_click(&self, code: &str, at: Timestamp) -> Result<()> {
        let _ = (code, at);
        todo!()
    }

    /// Attributes an inbound message to the latest campaign message its sender got since
    /// `since`: on the same channel by messaging user, else (a wa.me footer reply on WhatsApp)
    /// by address among campaigns whose footer links to `channel_id`. Marks the reply (first one
    /// only), the HELP hand-off or the opt-out. Answers the campaign.
    pub async fn attribute_reply(&self, a: &Attribution<'_>) -> Result<Option<Uuid>> {
        let _ = a;
        todo!()
    }

    /// Stamps `last_inbound_at` of a messaging user.
    pub async fn touch_inbound(&self, messaging_user_id: Uuid, at: Timestamp) -> Result<()> {
        let _ = (messaging_user_id, at);
        todo!()
    }
}
