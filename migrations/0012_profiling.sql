-- Profiling (Art. 4(4)): customer value, lifecycle and segments computed
-- from interactions, only for the people whose legal basis allows it.
-- Everything here is tied to a profile by id only and is deleted with
-- the profile; an objection or a withdrawal deletes it at once (the
-- triggers below), whatever path recorded the statement.

INSERT INTO purposes (id, legal_basis, requires_consent, allows_objection, default_state, retention_days, description) VALUES
    ('profiling', 'legitimate_interests', false, true, 'granted', 730,
     'Working out each customer''s value, lifecycle stage and segments from their orders and contacts, to serve them better (profiling); the customer may object, and is then not profiled at all.');

-- The figures of the last full computation that incremental ones reuse:
-- the fitted BG/NBD and Gamma-Gamma parameters, the RFM quintile bounds,
-- the revenue a VIP needs, and how many people were left out and why.
CREATE TABLE trait_models (
    id           uuid         PRIMARY KEY,
    computed_at  timestamptz  NOT NULL,
    as_of        timestamptz  NOT NULL,
    profiled     integer      NOT NULL,
    excluded     integer      NOT NULL,
    params       jsonb        NOT NULL
);

-- One row of traits per profiled profile: when and from what it was
-- computed, and the traits themselves.
CREATE TABLE profile_traits (
    profile_id    uuid         PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    computed_at   timestamptz  NOT NULL,
    as_of         timestamptz  NOT NULL,
    model_id      uuid         REFERENCES trait_models (id) ON DELETE SET NULL,
    interactions  integer      NOT NULL,
    lifecycle     text         NOT NULL,
    tier          text         NOT NULL CHECK (tier IN ('vip', 'regular', 'none')),
    revenue       numeric(16,2) NOT NULL,
    traits        jsonb        NOT NULL
);
CREATE INDEX profile_traits_lifecycle ON profile_traits (lifecycle);

-- Every change of lifecycle stage with the rule and the values that
-- caused it.
CREATE TABLE lifecycle_changes (
    profile_id  uuid         NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    at          timestamptz  NOT NULL,
    from_stage  text,
    to_stage    text         NOT NULL,
    rule        text         NOT NULL,
    evidence    jsonb        NOT NULL
);
CREATE INDEX lifecycle_changes_profile ON lifecycle_changes (profile_id, at);

-- Segments: a condition over traits (CEL) for a declared purpose.
-- Significant: its decisions have legal or similarly significant effects
-- (Art. 22), so a person reviews each before it is activated.
CREATE TABLE segments (
    id           uuid         PRIMARY KEY,
    name         text         NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_-]{1,62}$'),
    purpose      text         NOT NULL REFERENCES purposes (id),
    condition    text         NOT NULL CHECK (octet_length(condition) BETWEEN 1 AND 4000),
    description  text         NOT NULL CHECK (octet_length(description) BETWEEN 1 AND 2000),
    significant  boolean      NOT NULL DEFAULT false,
    created_by   text         NOT NULL,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    refreshed_at timestamptz
);

CREATE TABLE segment_members (
    segment_id   uuid         NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    profile_id   uuid         NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    entered_at   timestamptz  NOT NULL,
    review       text         CHECK (review IN ('approved', 'rejected')),
    reviewed_by  text,
    reviewed_at  timestamptz,
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_members_profile ON segment_members (profile_id);

-- Entering and leaving, with why; activation delivers them in order.
CREATE TABLE segment_changes (
    id            bigserial    PRIMARY KEY,
    segment_id    uuid         NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    profile_id    uuid         NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    at            timestamptz  NOT NULL,
    change        text         NOT NULL CHECK (change IN ('entered', 'left')),
    reason        text         NOT NULL,
    activated_at  timestamptz,
    activation    text         -- sent to a destination, or withheld and why
);
CREATE INDEX segment_changes_segment ON segment_changes (segment_id, id);
CREATE INDEX segment_changes_profile ON segment_changes (profile_id);

-- The purposes for which a recipient may receive segments: a recipient
-- with none mapped receives none (activation fails closed).
ALTER TABLE recipients ADD COLUMN purposes text[] NOT NULL DEFAULT '{}';

-- Profiles whose traits are stale: new interactions, or records that
-- joined or left them. The profiler drains it.
CREATE TABLE trait_queue (
    profile_id  uuid  PRIMARY KEY
);

CREATE FUNCTION queue_interaction_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trait_queue (profile_id)
    SELECT DISTINCT m.profile_id FROM new_rows n JOIN profile_members m ON m.record_id = n.record_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER interactions_queue AFTER INSERT ON interactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_interaction_profiles();

CREATE FUNCTION queue_member_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trait_queue (profile_id)
    SELECT DISTINCT profile_id FROM new_rows ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER profile_members_queue AFTER INSERT ON profile_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_member_profiles();
CREATE TRIGGER profile_members_queue_update AFTER UPDATE ON profile_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_member_profiles();

-- Stop profiling people at once: a statement refusing the profiling
-- purpose removes their traits, stage history and every membership; one
-- refusing another purpose removes them from that purpose's segments. A
-- restriction (Art. 18) stops all profiling. The next computation
-- decides again from the whole history of statements.
CREATE FUNCTION forget_profiling(of_profiles uuid[], for_purpose text, why text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF for_purpose IS NULL OR for_purpose = 'profiling' THEN
        DELETE FROM profile_traits WHERE profile_id = ANY(of_profiles);
        DELETE FROM lifecycle_changes WHERE profile_id = ANY(of_profiles);
    END IF;
    WITH gone AS (
        DELETE FROM segment_members m USING segments s
        WHERE m.segment_id = s.id AND m.profile_id = ANY(of_profiles)
          AND (for_purpose IS NULL OR for_purpose = 'profiling' OR s.purpose = for_purpose)
        RETURNING m.segment_id, m.profile_id)
    INSERT INTO segment_changes (segment_id, profile_id, at, change, reason)
    SELECT segment_id, profile_id, clock_timestamp(), 'left', why FROM gone;
END $$;

CREATE FUNCTION consent_stops_profiling() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT n.purpose, n.state, array_agg(DISTINCT m.profile_id) AS profiles
             FROM new_rows n JOIN profile_members m ON m.record_id = n.record_id
             WHERE n.state IN ('denied', 'withdrawn', 'objected')
             GROUP BY n.purpose, n.state LOOP
        PERFORM forget_profiling(r.profiles, r.purpose,
            CASE r.state WHEN 'objected' THEN 'objection to ' ELSE 'no consent for ' END || r.purpose);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER consent_events_stop_profiling AFTER INSERT ON consent_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION consent_stops_profiling();

CREATE FUNCTION restriction_stops_profiling() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ps uuid[];
BEGIN
    SELECT array_agg(DISTINCT m.profile_id) INTO ps
    FROM new_rows n JOIN profile_members m ON m.record_id = n.record_id WHERE n.lifted_at IS NULL;
    IF ps IS NOT NULL THEN
        PERFORM forget_profiling(ps, NULL, 'processing restricted');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER record_restrictions_stop_profiling AFTER INSERT ON record_restrictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION restriction_stops_profiling();

GRANT SELECT, INSERT, UPDATE, DELETE ON trait_models, profile_traits, lifecycle_changes, segments,
    segment_members, segment_changes, trait_queue TO cdp_app;
GRANT USAGE ON SEQUENCE segment_changes_id_seq TO cdp_app;
