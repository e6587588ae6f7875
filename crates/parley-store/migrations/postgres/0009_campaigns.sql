-- Campaigns and broadcasts (issue 11): audiences (segments and lists), campaigns, the message
-- each recipient got, and the short links that count clicks.

-- What a segment can filter on, kept on the messaging user: custom attributes (a JSON object),
-- tags (a JSON array of strings) and the time of the last message each way.
ALTER TABLE messaging_users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messaging_users ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messaging_users ADD COLUMN last_inbound_at BIGINT;
ALTER TABLE messaging_users ADD COLUMN last_outbound_at BIGINT;
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- A saved filter (parley_core::campaign::audience::SegmentFilter as JSON).
CREATE TABLE segments (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    filter      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A static list: phone numbers or contacts, imported from CSV or picked in the console.
CREATE TABLE audience_lists (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    members     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One row per list entry; the id orders the list and pages it. A phone number is E.164.
CREATE TABLE audience_list_members (
    list_id    UUID NOT NULL REFERENCES audience_lists(id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    phone      TEXT,
    contact_id UUID,
    PRIMARY KEY (list_id, id)
);
CREATE UNIQUE INDEX audience_list_phone ON audience_list_members (list_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX audience_list_contact ON audience_list_members (list_id, contact_id) WHERE contact_id IS NOT NULL;

-- A campaign: what the marketer decided (spec, JSON of parley_core::campaign::CampaignSpec), its
-- state, and the expansion's progress: the cursor (the last audience row looked at), the counts
-- so far (JSON of parley_core::campaign::results::Counts, the parts the expansion adds up) and
-- the short links' targets (JSON array, index n is link n of every recipient's code).
CREATE TABLE campaigns (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL,
    spec         TEXT NOT NULL,
    -- The wa.me footer's WhatsApp channel: replies there are attributed by phone number.
    whatsapp_channel_id UUID,
    links        TEXT NOT NULL DEFAULT '[]',
    expansion    TEXT NOT NULL DEFAULT '{}',
    expand_cursor UUID,
    expanded     BIGINT NOT NULL DEFAULT 0,
    created_by   TEXT,
    scheduled_at BIGINT,
    started_at   BIGINT,
    finished_at  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX campaigns_state ON campaigns (state, scheduled_at);

-- The message a recipient got from a campaign: its entry (status and error code live there), the
-- recipient, and what they did with it. One per recipient (address) per campaign.
CREATE TABLE campaign_messages (
    entry_id          UUID PRIMARY KEY,
    campaign_id       UUID NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    messaging_user_id UUID NOT NULL,
    channel_id        UUID NOT NULL,
    address           TEXT NOT NULL,
    code              TEXT,
    clicks            BIGINT NOT NULL DEFAULT 0,
    first_click_at    BIGINT,
    replied_at        BIGINT,
    help_at           BIGINT,
    opted_out_at      BIGINT,
    created_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX campaign_messages_recipient ON campaign_messages (campaign_id, address);
CREATE UNIQUE INDEX campaign_messages_code ON campaign_messages (code) WHERE code IS NOT NULL;
-- A reply is attributed to the latest campaign message its sender got: on the same channel by
-- messaging user, on the wa.me footer's WhatsApp channel by phone number.
CREATE INDEX campaign_messages_user ON campaign_messages (messaging_user_id, created_at);
CREATE INDEX campaign_messages_address ON campaign_messages (address, created_at);
-- A campaign's messages in entry order: its export pages through them, its funnel reads them.
CREATE INDEX campaign_messages_campaign ON campaign_messages (campaign_id, entry_id);

-- A campaign's send jobs carry its id, so pausing holds them and the expansion sees how many
-- wait (it stays only a little ahead of the dispatcher). `held` is a job state of its own.
ALTER TABLE jobs ADD COLUMN group_key TEXT;
-- With the due time, so a campaign's backlog (ready and due) is read from this index alone.
CREATE INDEX jobs_group ON jobs (group_key, state, due_at) WHERE group_key IS NOT NULL;
