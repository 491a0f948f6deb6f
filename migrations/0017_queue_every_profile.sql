-- A full resolution rewrites every membership. Queueing each of its
-- profiles for the profiler took 4.4 s of a million-record run (a DISTINCT
-- over the million new rows, then 437,892 inserts into trait_queue's key),
-- and the profiler then recomputes them all anyway. A transaction that
-- sets cdp.queue_every_profile to 'on' queues the nil id instead, which
-- stands for every profile: the next refresh runs the full computation.
-- The setting only changes how staleness is recorded, never whether: with
-- it, a membership write still queues (everything).
CREATE OR REPLACE FUNCTION queue_member_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('cdp.queue_every_profile', true) = 'on' THEN
        INSERT INTO trait_queue (profile_id) VALUES ('00000000-0000-0000-0000-000000000000') ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    INSERT INTO trait_queue (profile_id)
    SELECT DISTINCT profile_id FROM new_rows ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
