-- Two costs of writing interactions that a profile of PostgreSQL during
-- an import showed (perf, 448,935 interactions of 300,000 records, four
-- writers; 23.5 CPU seconds in PostgreSQL against 4.7 in cdp):
--
-- * The trigger that queues the profiles of new interactions joined the
--   statement's rows to profile_members, which the planner did as a hash
--   join over the whole membership table for every statement: a quarter
--   of PostgreSQL's time, growing with the number of records. It now
--   looks up each distinct record of the statement by the primary key,
--   and so do the triggers that stop profiling on a refusal of consent
--   or a restriction, which were planned the same way for a statement of
--   many rows (a consent import).
-- * The checks on type and channel spelled their length as a bounded
--   repetition ({0,62}), which PostgreSQL's regular expressions expand
--   into a large automaton: 2.9 s per million values in psql, against
--   0.4 s for the same rule as an unbounded class and a length. Twelve
--   per cent of the import's time in PostgreSQL. The rule is unchanged:
--   a lower-case letter, then up to 62 lower-case letters, digits, '_' or
--   '-' (all one byte, so the length in bytes is the length).

CREATE OR REPLACE FUNCTION queue_interaction_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trait_queue (profile_id)
    SELECT DISTINCT m.profile_id FROM (SELECT DISTINCT record_id FROM new_rows) n
    CROSS JOIN LATERAL (SELECT profile_id FROM profile_members WHERE record_id = n.record_id) m
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION consent_stops_profiling() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT n.purpose, n.state, array_agg(DISTINCT m.profile_id) AS profiles
             FROM (SELECT DISTINCT record_id, purpose, state FROM new_rows
                   WHERE state IN ('denied', 'withdrawn', 'objected')) n
             CROSS JOIN LATERAL (SELECT profile_id FROM profile_members WHERE record_id = n.record_id) m
             GROUP BY n.purpose, n.state LOOP
        PERFORM forget_profiling(r.profiles, r.purpose,
            CASE r.state WHEN 'objected' THEN 'objection to ' ELSE 'no consent for ' END || r.purpose);
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION restriction_stops_profiling() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ps uuid[];
BEGIN
    SELECT array_agg(DISTINCT m.profile_id) INTO ps
    FROM (SELECT DISTINCT record_id FROM new_rows WHERE lifted_at IS NULL) n
    CROSS JOIN LATERAL (SELECT profile_id FROM profile_members WHERE record_id = n.record_id) m;
    IF ps IS NOT NULL THEN
        PERFORM forget_profiling(ps, NULL, 'processing restricted');
    END IF;
    RETURN NULL;
END $$;

ALTER TABLE interactions
    DROP CONSTRAINT interactions_type_check,
    DROP CONSTRAINT interactions_channel_check,
    ADD CONSTRAINT interactions_type_check CHECK (type ~ '^[a-z][a-z0-9_-]*$' AND octet_length(type) <= 63),
    ADD CONSTRAINT interactions_channel_check CHECK (channel ~ '^[a-z][a-z0-9_-]*$' AND octet_length(channel) <= 63);
