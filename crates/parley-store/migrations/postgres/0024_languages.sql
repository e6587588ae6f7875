-- Languages (issue 18, WEB-06 / CO-18), PostgreSQL dialect.

-- The console language each agent chose; the catalogue has every key in every language it lists.
ALTER TABLE agents ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';

-- What a translator wrote for one per-language text of the configuration: `kind` says which
-- (keyword_response, auto_reply, widget_label), `owner_id` whose (the channel or the web
-- deployment), `key` which text of it, `locale` the language. The configuration keeps its own
-- source text; readers lay translations over it, so translating never needs configuration rights
-- and never rewrites a configuration row. Read by (kind, owner_id): the primary key's prefix.
CREATE TABLE translations (
    kind       TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    key        TEXT NOT NULL,
    locale     TEXT NOT NULL,
    text       TEXT NOT NULL,
    updated_by UUID,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, owner_id, key, locale)
);
