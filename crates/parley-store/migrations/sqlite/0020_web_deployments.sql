-- Web chat deployments and the keysets that verify visitors (issue 14: WEB-03..19), SQLite dialect.

-- Keys that sign visitors' identity tokens: uploaded one by one (web_keyset_keys) or fetched from
-- a JWKS endpoint, whose last answer is kept here so a restart does not fetch again at once.
CREATE TABLE web_keysets (
    id              BLOB PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    issuer          TEXT NOT NULL,
    jwks_url        TEXT,
    jwks_cache      TEXT,
    jwks_fetched_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- One uploaded public key (a JWK object, checked by parley_core::web::check_jwk).
CREATE TABLE web_keyset_keys (
    keyset_id   BLOB NOT NULL REFERENCES web_keysets(id) ON DELETE CASCADE,
    kid         TEXT NOT NULL,
    alg         TEXT NOT NULL,
    jwk         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (keyset_id, kid)
);

-- An embeddable chat window on a web channel. The channel and a keyset in use cannot be deleted
-- from under it (no cascade): the website would silently lose its chat.
CREATE TABLE web_deployments (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    channel_id  BLOB NOT NULL REFERENCES channels(id),
    origins     TEXT NOT NULL DEFAULT '[]',
    language    TEXT NOT NULL,
    branding    TEXT NOT NULL,
    settings    TEXT NOT NULL,
    prechat     TEXT NOT NULL,
    keyset_id   BLOB REFERENCES web_keysets(id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX web_deployments_channel ON web_deployments (channel_id);
CREATE INDEX web_deployments_keyset ON web_deployments (keyset_id);
