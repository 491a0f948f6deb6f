-- Foundation: the key hierarchy, sources, sealed source records and API tokens.
-- No column holds plaintext personal data: attributes are sealed envelopes,
-- identifiers are blind indexes (keyed HMACs).

-- Vault keys (KEKs and the index key), each sealed with age to the master
-- recipients. Rotating the master key re-seals these rows only.
CREATE TABLE vault_keys (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('kek', 'index')),
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);
CREATE UNIQUE INDEX vault_keys_one_index_key ON vault_keys (kind) WHERE kind = 'index';

-- Sources: the systems departments send records from.
CREATE TABLE sources (
    name            text        PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 128 AND name !~ '[[:cntrl:]]' AND name = btrim(name)),
    department      text        NOT NULL CHECK (department ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    priority        integer     NOT NULL DEFAULT 100,
    unique_records  boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Source records, sealed. (source, source_key) identifies a record; source_key
-- is the blind index of the source's own id.
--
-- Each record has its own subject key (AES-256), wrapped by the KEK kek_id and
-- kept beside the data it protects. Destroying it (crypto-shredding) clears
-- wrapped_key and sets key_destroyed_at: from then on nothing sealed under it,
-- here, in record_versions or in any backup, can be opened.
CREATE TABLE records (
    id                 uuid        PRIMARY KEY,
    source             text        NOT NULL REFERENCES sources (name),
    source_key         bytea       NOT NULL,
    kek_id             integer     NOT NULL,
    wrapped_key        bytea,
    key_destroyed_at   timestamptz,
    attrs              bytea       NOT NULL,
    match              bytea       NOT NULL,
    fingerprint        bytea       NOT NULL,
    email_index        bytea,
    phone_index        bytea,
    national_id_index  bytea,
    name_key           bytea,
    birth_key          bytea,
    place_key          bytea,
    flags              smallint    NOT NULL DEFAULT 0,
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL,
    created_by         text        NOT NULL,
    updated_at         timestamptz NOT NULL,
    updated_by         text        NOT NULL,
    UNIQUE (source, source_key),
    CHECK ((wrapped_key IS NULL) = (key_destroyed_at IS NOT NULL))
);
CREATE INDEX records_email_index ON records (email_index) WHERE email_index IS NOT NULL;
CREATE INDEX records_phone_index ON records (phone_index) WHERE phone_index IS NOT NULL;
CREATE INDEX records_national_id_index ON records (national_id_index) WHERE national_id_index IS NOT NULL;
-- Blocking keys (identity.CandidateRules) for finding a new record's
-- candidates without a full resolution run.
CREATE INDEX records_name_key ON records (name_key) WHERE name_key IS NOT NULL;
CREATE INDEX records_birth_key ON records (birth_key) WHERE birth_key IS NOT NULL;
CREATE INDEX records_place_key ON records (place_key) WHERE place_key IS NOT NULL;

-- Earlier versions of updated records, sealed under the record's own key.
CREATE TABLE record_versions (
    record_id      uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    version        integer     NOT NULL,
    attrs          bytea       NOT NULL,
    fingerprint    bytea       NOT NULL,
    flags          smallint    NOT NULL,
    written_at     timestamptz NOT NULL,
    written_by     text        NOT NULL,
    superseded_at  timestamptz NOT NULL,
    superseded_by  text        NOT NULL,
    PRIMARY KEY (record_id, version)
);

-- API tokens: only a hash of the secret is stored.
CREATE TABLE api_tokens (
    id           text        PRIMARY KEY,
    secret_hash  bytea       NOT NULL,
    principal    text        NOT NULL,
    department   text        NOT NULL CHECK (department ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    roles        text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);
