-- Close Conversation (SE-20, issue 18): a closed conversation takes no more sessions; the
-- customer's next message opens a new one. The row is what the inbound pipeline checks (by primary
-- key) when it continues a customer's latest conversation, and what makes a second close a 409.
CREATE TABLE conversation_closures (
    conversation_id   BLOB PRIMARY KEY NOT NULL,
    channel_id        BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    messaging_user_id BLOB NOT NULL REFERENCES messaging_users(id) ON DELETE CASCADE,
    reason            TEXT NOT NULL,
    closed_by_agent   BLOB REFERENCES agents(id) ON DELETE SET NULL,
    closed_by_token   BLOB,
    closed_at         INTEGER NOT NULL
);
CREATE INDEX conversation_closures_user ON conversation_closures (messaging_user_id);
