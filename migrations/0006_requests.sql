-- Data-subject requests (GDPR Art. 15-21), erasure and its proofs,
-- restrictions and legal holds. River's own tables (the durable job
-- queue) are created by River's migrator after these, by `cdp migrate`.

-- A request and its deadline. Free text (the verification evidence, the
-- reasons of transitions) is sealed under the request's own key; the
-- request itself outlives an erasure as the proof that it was handled,
-- holding nothing but ids.
CREATE TABLE dsr_requests (
    id               uuid        PRIMARY KEY,
    type             text        NOT NULL CHECK (type IN ('access', 'portability', 'rectification', 'erasure', 'restriction', 'objection')),
    state            text        NOT NULL CHECK (state IN ('received', 'verified', 'approved', 'rejected', 'in_progress', 'completed', 'failed')),
    profile_id       uuid        NOT NULL,
    customer         uuid,
    channel          text        NOT NULL CHECK (channel IN ('self_service', 'dpo')),
    purposes         text[]      NOT NULL DEFAULT '{}',
    received_at      timestamptz NOT NULL,
    received_by      text        NOT NULL,
    verified_at      timestamptz,
    due_at           timestamptz NOT NULL,
    extended_months  integer     NOT NULL DEFAULT 0 CHECK (extended_months BETWEEN 0 AND 2),
    duplicate_of     uuid REFERENCES dsr_requests (id),
    outcome          text        NOT NULL DEFAULT '',
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL,
    kek_id           integer     NOT NULL,
    wrapped_key      bytea       NOT NULL,
    evidence         bytea
);
CREATE INDEX dsr_requests_open ON dsr_requests (due_at) WHERE closed_at IS NULL;
CREATE INDEX dsr_requests_profile ON dsr_requests (profile_id, type, received_at);
CREATE INDEX dsr_requests_customer ON dsr_requests (customer, received_at) WHERE customer IS NOT NULL;

-- Every transition, append-only: the request's history for the DPO and
-- the person.
CREATE TABLE dsr_events (
    request_id  uuid        NOT NULL REFERENCES dsr_requests (id),
    seq         integer     NOT NULL,
    from_state  text,
    to_state    text        NOT NULL,
    actor       text        NOT NULL,
    reason      bytea,      -- sealed under the request's key
    at          timestamptz NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- The blind indexes (keyed hashes) of an erased person's strong
-- identifiers: a department re-sending them is answered 'suppressed'
-- instead of silently recreating the person. Lifted explicitly when the
-- person comes back under a new lawful basis.
CREATE TABLE suppressions (
    kind        text        NOT NULL CHECK (kind IN ('email', 'phone', 'national_id')),
    blind_index bytea       NOT NULL,
    request_id  uuid        NOT NULL REFERENCES dsr_requests (id),
    at          timestamptz NOT NULL DEFAULT now(),
    lifted_at   timestamptz,
    lifted_by   text,
    PRIMARY KEY (kind, blind_index)
);

-- Profiles that were erased: the DPO is told 410 Gone instead of 404.
CREATE TABLE erased_profiles (
    profile_id  uuid        PRIMARY KEY,
    request_id  uuid        NOT NULL REFERENCES dsr_requests (id),
    erased_at   timestamptz NOT NULL DEFAULT now()
);

-- Restrictions of processing (Art. 18), on records so that they follow
-- merges and splits: a profile holding a restricted record is restricted.
-- Records kept under a legal hold after an erasure are restricted too.
CREATE TABLE record_restrictions (
    record_id   uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    request_id  uuid        NOT NULL REFERENCES dsr_requests (id),
    reason      text        NOT NULL CHECK (reason IN ('restriction', 'legal_hold')),
    at          timestamptz NOT NULL DEFAULT now(),
    lifted_at   timestamptz,
    PRIMARY KEY (record_id, request_id)
);

-- Legal holds (Art. 17(3)): a source's records are kept under a named
-- legal obligation for a retention period, e.g. invoices for ten years.
CREATE TABLE legal_holds (
    id            uuid        PRIMARY KEY,
    source        text        NOT NULL REFERENCES sources (name),
    obligation    text        NOT NULL CHECK (octet_length(obligation) BETWEEN 3 AND 500),
    retain_days   integer     NOT NULL CHECK (retain_days > 0),
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    lifted_at     timestamptz
);

-- The request history is append-only for the service.
REVOKE UPDATE, DELETE ON dsr_events, erased_profiles FROM cdp_app;

-- An objection made through a data-subject request is a consent event of
-- its own method.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_method_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_method_check
    CHECK (method IN ('self_service', 'department_form', 'call_centre', 'import', 'gpc', 'merge', 'request'));

-- The records whose statements a merge event combined: when a split takes
-- one of them out of the profile, the merge's ground is gone there.
ALTER TABLE consent_events ADD COLUMN basis uuid[] NOT NULL DEFAULT '{}';

-- Consent events are append-only for the service, with one exception: an
-- erasure deletes the events of records whose keys it destroyed (in the
-- same transaction, before this is called). Nothing else can delete them.
CREATE FUNCTION erase_consent_events(erased uuid[]) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH d AS (
        DELETE FROM consent_events e USING records r
        WHERE e.record_id = r.id AND r.id = ANY(erased) AND r.key_destroyed_at IS NOT NULL
        RETURNING 1)
    SELECT count(*) FROM d
$$;
REVOKE ALL ON FUNCTION erase_consent_events(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_consent_events(uuid[]) TO cdp_app;

-- What carrying a request out did (an erasure's report: ids only),
-- written in the transaction that did it.
ALTER TABLE dsr_requests ADD COLUMN result jsonb;

-- Departments and downstream systems that hold or received personal data
-- and must hear of erasures and rectifications (Art. 17(2), 19): each
-- has a webhook URL and an HMAC secret, sealed under its own key.
CREATE TABLE recipients (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    department   text        NOT NULL,
    url          text        NOT NULL CHECK (url ~ '^https?://'),
    sources      text[]      NOT NULL DEFAULT '{}', -- notified when records of these sources are concerned; '{}': always
    kek_id       integer     NOT NULL,
    wrapped_key  bytea       NOT NULL,
    secret       bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz
);

-- The outbox: one notice per request and recipient, delivered by a job
-- with retries, acknowledged by the recipient, or overridden by the DPO.
CREATE TABLE notifications (
    id               uuid        PRIMARY KEY,
    request_id       uuid        NOT NULL REFERENCES dsr_requests (id),
    recipient_id     uuid        NOT NULL REFERENCES recipients (id),
    kind             text        NOT NULL CHECK (kind IN ('erasure', 'rectification')),
    payload          jsonb       NOT NULL, -- ids only
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'acknowledged', 'overridden')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text        NOT NULL DEFAULT '',
    delivered_at     timestamptz,
    acknowledged_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, recipient_id)
);

-- Rectification (Art. 16): the corrected values the person gave, sealed
-- under the request's key until they enter as a record of the source
-- "subject", which wins survivorship over every department.
ALTER TABLE dsr_requests ADD COLUMN corrections bytea;
INSERT INTO sources (name, department, priority, unique_records, legal_basis)
VALUES ('subject', 'subjects', 1000, false, 'legal_obligation')
ON CONFLICT (name) DO NOTHING;

-- Retention: how long a source's records are kept after their last
-- update (NULL: as long as the purposes they were collected for say, or
-- no limit). A scheduled job erases what expired through system requests
-- of their own, with the same proof and audit as an erasure request;
-- scope names the records such a request erases.
ALTER TABLE sources ADD COLUMN retention_days integer CHECK (retention_days > 0);
ALTER TABLE dsr_requests ADD COLUMN scope uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE dsr_requests DROP CONSTRAINT dsr_requests_channel_check;
ALTER TABLE dsr_requests ADD CONSTRAINT dsr_requests_channel_check CHECK (channel IN ('self_service', 'dpo', 'retention'));
