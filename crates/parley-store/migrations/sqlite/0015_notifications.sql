-- Triggered notifications (issue 13, TM-06..11): one message a program asks Parley to send to a
-- person from a template, the log of the ones that failed (TM-08), and a delivery error per
-- failure for reports (issue 15).

-- A template may name the merge field that fills each placeholder, in order ({{1}} first), as a
-- JSON array of names such as ["contact.first_name", "case.number"]. NULL: none named.
ALTER TABLE templates ADD COLUMN merge_fields TEXT;

CREATE TABLE notifications (
    id                BLOB PRIMARY KEY NOT NULL,
    channel_id        BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    template_name     TEXT NOT NULL,
    template_language TEXT NOT NULL,
    recipient         TEXT NOT NULL,
    entry_id          BLOB NOT NULL,
    session_id        BLOB NOT NULL,
    messaging_user_id BLOB NOT NULL,
    -- accepted | failed: the entry's own status says sent or delivered.
    status            TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
-- A dispatcher's status change looks up whether the entry is a notification's.
CREATE INDEX notifications_entry ON notifications (entry_id);

CREATE TABLE notification_errors (
    id              BLOB PRIMARY KEY NOT NULL,
    at              INTEGER NOT NULL,
    channel_id      BLOB,
    template        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    -- The request as received (JSON), so an operator sees what the caller sent.
    inputs          TEXT NOT NULL,
    -- validation | exclusion | provider
    stage           TEXT NOT NULL,
    -- The error catalogue's code (parley_core::ErrorCode).
    code            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    notification_id BLOB,
    entry_id        BLOB
);
-- Listing newest first and the retention sweep both read by time.
CREATE INDEX notification_errors_at ON notification_errors (at);

CREATE TABLE delivery_errors (
    id            BLOB PRIMARY KEY NOT NULL,
    at            INTEGER NOT NULL,
    entry_id      BLOB,
    channel_id    BLOB,
    code          TEXT NOT NULL,
    provider_code TEXT,
    -- What sent the message: "notification" today.
    source        TEXT NOT NULL
);
CREATE INDEX delivery_errors_at ON delivery_errors (at);
CREATE INDEX delivery_errors_channel ON delivery_errors (channel_id, at);
