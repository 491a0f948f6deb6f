-- Identity resolution: profiles, the links that form them, the model that
-- scored the links, the review queue and the decisions of data stewards.
-- Nothing here holds plaintext personal data: records are referred to by id,
-- comparisons by level names, steward notes are sealed.

-- A profile is the set of records linked as one person. Its id derives from
-- its anchor, its oldest record (identity.ProfileID), so unrelated records
-- never change it and re-resolving the same data keeps it.
CREATE TABLE profiles (
    id          uuid        PRIMARY KEY,
    anchor      uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Which profile each record belongs to: narrow, so that a full run rewrites
-- a million memberships in seconds.
CREATE TABLE profile_members (
    record_id   uuid PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
    profile_id  uuid NOT NULL REFERENCES profiles (id)
);
CREATE INDEX profile_members_profile ON profile_members (profile_id);

-- A profile merged into another leaves its id behind, pointing on.
CREATE TABLE profile_redirects (
    old_id  uuid        PRIMARY KEY,
    new_id  uuid        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);

-- Trained models, versioned; exactly one is active.
CREATE TABLE identity_models (
    version     integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trained_at  timestamptz NOT NULL,
    records     integer     NOT NULL,
    model       jsonb       NOT NULL,
    active      boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX identity_models_one_active ON identity_models (active) WHERE active;

-- The links that joined records into profiles: the evidence of a profile.
CREATE TABLE identity_links (
    record_a       uuid             NOT NULL,
    record_b       uuid             NOT NULL,
    probability    double precision NOT NULL,
    rule           text             NOT NULL, -- '' scored; email, phone, national_id: rule; steward
    model_version  integer,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (record_a, record_b),
    CHECK (record_a < record_b)
);
CREATE INDEX identity_links_b ON identity_links (record_b);

-- Steward decisions, append-only. A note is sealed under its own key
-- (stewards may write anything in it).
CREATE TABLE steward_decisions (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('merge', 'split', 'match', 'distinct')),
    actor        text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    profiles     uuid[]      NOT NULL,
    records      uuid[]      NOT NULL,
    kek_id       integer     NOT NULL,
    wrapped_key  bytea       NOT NULL,
    note         bytea       NOT NULL
);

-- The constraints every run respects, from the decisions.
CREATE TABLE identity_constraints (
    record_a     uuid    NOT NULL,
    record_b     uuid    NOT NULL,
    same         boolean NOT NULL,
    decision_id  uuid    NOT NULL REFERENCES steward_decisions (id),
    PRIMARY KEY (record_a, record_b),
    CHECK (record_a < record_b)
);
CREATE INDEX identity_constraints_b ON identity_constraints (record_b);

-- Pairs a steward should decide: scored between the review and the link
-- thresholds, or scored to link but vetoed by a guard.
CREATE TABLE review_pairs (
    id             uuid             PRIMARY KEY,
    record_a       uuid             NOT NULL,
    record_b       uuid             NOT NULL,
    probability    double precision NOT NULL,
    levels         jsonb            NOT NULL, -- comparison name -> level name
    reason         text             NOT NULL,
    model_version  integer,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    decided_at     timestamptz,
    decision_id    uuid REFERENCES steward_decisions (id),
    UNIQUE (record_a, record_b),
    CHECK (record_a < record_b)
);
CREATE INDEX review_pairs_open ON review_pairs (probability DESC) WHERE decided_at IS NULL;

-- Resolution runs and what they changed.
CREATE TABLE resolution_runs (
    id             uuid        PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('full', 'incremental', 'decision')),
    actor          text        NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    model_version  integer,
    stats          jsonb       NOT NULL
);

-- The history of each profile: records joining and leaving, merges, splits.
CREATE TABLE profile_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id  uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('created', 'record_added', 'record_removed', 'merged_into', 'absorbed', 'split_from', 'dissolved')),
    record_id   uuid,
    other_id    uuid,        -- the other profile of a merge or split
    run_id      uuid        NOT NULL,
    decision_id uuid,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profile_events_profile ON profile_events (profile_id, id);

-- Identifiers a source has verified: a profile may not hold two different
-- values of one of them from such sources.
ALTER TABLE sources ADD COLUMN unique_identifiers text[] NOT NULL DEFAULT '{}'
    CHECK (unique_identifiers <@ ARRAY['email', 'phone', 'national_id']);
