-- Consent: versioned notices, append-only consent events, and the links
-- between customers' Kratos identities and their records.

-- A purpose that sells or shares data with third parties: a Global Privacy
-- Control signal objects to it.
ALTER TABLE purposes ADD COLUMN sharing boolean NOT NULL DEFAULT false;

INSERT INTO purposes (id, legal_basis, requires_consent, allows_objection, default_state, retention_days, sharing, description) VALUES
    ('partner_sharing', 'consent', true, false, 'denied', 730, true,
     'Sharing name and email with selected partners for their own offers, only with the customer''s consent.'),
    ('consent_management', 'legal_obligation', false, false, 'granted', 2190, false,
     'Recording and proving what people consented or objected to, when, on which notice and how (Art. 7(1)).');

-- The records customers create by signing up when no profile holds their
-- verified email: their own account data, given under the contract of
-- the account, one record per Kratos identity.
INSERT INTO sources (name, department, priority, unique_records, legal_basis)
VALUES ('self_service', 'customers', 80, true, 'contract')
ON CONFLICT (name) DO NOTHING;

-- Privacy-notice texts, one row per published version, never edited: the
-- service may insert and read them, not change them.
CREATE TABLE notices (
    purpose       text        NOT NULL REFERENCES purposes (id),
    version       integer     NOT NULL CHECK (version > 0),
    text          text        NOT NULL CHECK (octet_length(text) BETWEEN 1 AND 65536),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    effective_at  timestamptz NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    published_by  text        NOT NULL,
    PRIMARY KEY (purpose, version)
);

INSERT INTO notices (purpose, version, text, sha256, effective_at, published_by)
SELECT p.id, 1, t.text, encode(sha256(convert_to(t.text, 'UTF8')), 'hex'), '2018-05-25 00:00:00+00', 'system:migration'
FROM purposes p JOIN (VALUES
    ('marketing', 'We would like to send you our newsletter and offers by email, about once a month. '
        'We use your name and email address for this and nothing else. You can withdraw your consent at any '
        'time, as easily as you gave it, in your account or by replying to any of our emails.'),
    ('partner_sharing', 'We would like to share your name and email address with a small number of selected '
        'partners so that they can send you their own offers. We never sell your data. You can withdraw your '
        'consent at any time in your account; partners are told within a day.')
) AS t (purpose, text) ON t.purpose = p.id;

-- Statements of people about purposes, append-only: the current state is
-- derived from them (package consent) and history is never rewritten. An
-- event is attached to a source record (the department's, or the
-- customer's self-service record) and follows it through merges and
-- splits. Evidence (client address, user agent, Kratos session, a
-- department's reference) is sealed under that record's key.
CREATE TABLE consent_events (
    id              uuid        PRIMARY KEY,
    record_id       uuid        NOT NULL,
    purpose         text        NOT NULL REFERENCES purposes (id),
    state           text        NOT NULL CHECK (state IN ('granted', 'denied', 'withdrawn', 'objected')),
    notice_version  integer,
    method          text        NOT NULL CHECK (method IN ('self_service', 'department_form', 'call_centre', 'import', 'gpc', 'merge')),
    origin          text        NOT NULL,
    actor           text        NOT NULL,
    at              timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    conflict        boolean     NOT NULL DEFAULT false,
    evidence        bytea,
    FOREIGN KEY (purpose, notice_version) REFERENCES notices (purpose, version)
);
CREATE INDEX consent_events_record ON consent_events (record_id);
CREATE INDEX consent_events_conflict ON consent_events (recorded_at) WHERE conflict;

-- A customer's Kratos identity and the record that stands for them: the
-- record holding their verified email, or a self-service record created
-- from their Kratos traits. The record leads to the profile, wherever
-- resolution puts it.
CREATE TABLE customer_links (
    kratos_identity  uuid        PRIMARY KEY,
    record_id        uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    email_index      bytea       NOT NULL,
    linked_at        timestamptz NOT NULL DEFAULT now(),
    how              text        NOT NULL CHECK (how IN ('verified_email', 'new_profile'))
);

-- The lineage shows customers' identity links too.
ALTER TABLE profile_events DROP CONSTRAINT profile_events_kind_check;
ALTER TABLE profile_events ADD CONSTRAINT profile_events_kind_check CHECK (kind IN ('created', 'record_added',
    'record_removed', 'merged_into', 'absorbed', 'split_from', 'dissolved', 'identity_linked'));

REVOKE ALL ON notices, consent_events FROM cdp_app;
GRANT SELECT, INSERT ON notices, consent_events TO cdp_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_links TO cdp_app;
