-- An objection, a withdrawal of consent or a restriction removes the
-- person from profiling at once (forget_profiling, by trigger). A
-- computation that read who may be profiled before such a stop, and
-- writes after it, used to write the person's traits and segment
-- memberships again, until the next computation removed them.
--
-- Now every stop is noted with the transaction that made it, and a
-- computation's write (postgres.SaveProfiling, ApplySegment) leaves out
-- the people stopped in a transaction its facts could not see: one that
-- committed after the facts' snapshot, or was still running. The write
-- holds the profiling lock; a stop takes it shared, so a stop still
-- running when the write begins finishes first (the write then sees it),
-- and one that begins during the write waits for it (its deletes then
-- see what the write wrote). The notes are kept a day: no computation
-- runs that long.
CREATE TABLE profiling_stops (
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    profile_id  uuid        NOT NULL,
    purpose     text,       -- NULL: all profiling (a restriction)
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profiling_stops_at ON profiling_stops (at);
GRANT SELECT, INSERT, DELETE ON profiling_stops TO cdp_app;

CREATE OR REPLACE FUNCTION forget_profiling(of_profiles uuid[], for_purpose text, why text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('cdp.profiling'));
    INSERT INTO profiling_stops (profile_id, purpose) SELECT unnest(of_profiles), for_purpose;
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
