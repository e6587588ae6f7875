-- The Twilio-compatible API's list filters (issue 13): `To` and `From` as the API shows them
-- (`whatsapp:` prefix included), kept on the row so a filtered page is read through an index
-- instead of joining every message of the account to its session and channel. They also give a
-- messaging service its sticky sender: the last message of the service to a `To`.
ALTER TABLE twilio_messages ADD COLUMN to_address TEXT;
ALTER TABLE twilio_messages ADD COLUMN from_address TEXT;

UPDATE twilio_messages SET
    to_address = (
        SELECT CASE WHEN c.kind = 'whatsapp' THEN 'whatsapp:' ELSE '' END || u.platform_key
        FROM entries e
        JOIN sessions s ON s.id = e.session_id
        JOIN messaging_users u ON u.id = s.messaging_user_id
        JOIN channels c ON c.id = s.channel_id
        WHERE e.id = twilio_messages.entry_id),
    from_address = (
        SELECT CASE WHEN c.kind = 'whatsapp' THEN 'whatsapp:' ELSE '' END || c.address
        FROM entries e
        JOIN sessions s ON s.id = e.session_id
        JOIN channels c ON c.id = s.channel_id
        WHERE e.id = twilio_messages.entry_id);

CREATE INDEX twilio_messages_to ON twilio_messages (account_sid, to_address, created_at, entry_id);
CREATE INDEX twilio_messages_from ON twilio_messages (account_sid, from_address, created_at, entry_id);
