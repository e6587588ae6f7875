-- Encryption at rest (issue 16, PRIV-08): whether the data may hold sealed values, the keys that
-- sealed them (by id, with a check value derived from each key so a start with the wrong key is
-- refused before anything is read), and where the background re-encryption pass stands.
CREATE TABLE crypto_state (
    id               BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    -- 1 once a key has been configured: from then on a start without a key is refused.
    encrypted        BIGINT NOT NULL DEFAULT 0,
    -- The re-encryption pass: NULL when idle, 'encrypt' (plaintext to sealed) or 'rotate'.
    task             TEXT,
    task_key_id      TEXT,
    task_table       TEXT,
    task_cursor      TEXT,
    task_done        BIGINT NOT NULL DEFAULT 0,
    task_total       BIGINT NOT NULL DEFAULT 0,
    task_started_at  BIGINT,
    task_finished_at BIGINT,
    updated_at       BIGINT NOT NULL
);
INSERT INTO crypto_state (id, encrypted, updated_at) VALUES (1, 0, 0);

-- One row per key that sealed data. state: 'active' (seals now), 'retiring' (a rotation away from
-- it is under way: still needed to open), 'retired' (nothing sealed with it is left).
CREATE TABLE crypto_keys (
    key_id      TEXT PRIMARY KEY NOT NULL,
    check_value TEXT NOT NULL,
    state       TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    retired_at  BIGINT
);
