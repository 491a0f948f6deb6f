-- Lookups that read a whole table once it holds a million rows, found by
-- running the API against the bench database of 1,000,000 records
-- (437,000 profiles, 1.5 million interactions) with every statement over
-- 20 ms logged.
--
-- The DPO's audit queries. audit_search was one statement with every
-- filter written `(p IS NULL OR col = p)`; as a SECURITY DEFINER SQL
-- function it is never inlined, so PostgreSQL planned it once for any
-- filters: a walk of the whole log in seq order, the GIN index of
-- profiles and the index of principals unused. On a copy of 2,000,000
-- entries: 961 ms for a profile's entries against 0.15 ms for a statement
-- that names only the filters given, 583 against 130 ms for a principal's
-- since a date. It now builds that statement (plpgsql EXECUTE ... USING:
-- the values stay parameters, never text).
CREATE OR REPLACE FUNCTION audit_search(p_profiles uuid[], p_principal text, p_department text, p_purpose text,
        p_from timestamptz, p_to timestamptz, p_after bigint, p_limit integer)
    RETURNS SETOF audit_log
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS
$$
DECLARE
    q text := 'SELECT * FROM public.audit_log WHERE seq > $7';
BEGIN
    IF p_profiles IS NOT NULL THEN q := q || ' AND profiles && $1'; END IF;
    IF p_principal IS NOT NULL THEN q := q || ' AND principal = $2'; END IF;
    IF p_department IS NOT NULL THEN q := q || ' AND department = $3'; END IF;
    IF p_purpose IS NOT NULL THEN q := q || ' AND purpose = $4'; END IF;
    IF p_from IS NOT NULL THEN q := q || ' AND at >= $5'; END IF;
    IF p_to IS NOT NULL THEN q := q || ' AND at < $6'; END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY seq LIMIT $8'
        USING p_profiles, p_principal, p_department, p_purpose, p_from, p_to, p_after, p_limit;
END
$$;

-- The stewards' review queue, most likely first: 886 pairs tied at
-- probability 1 were all read and sorted for a page of 50 (23-140 ms);
-- with the id in the index a page reads its own rows.
CREATE INDEX review_pairs_queue ON review_pairs (probability DESC, id DESC) WHERE decided_at IS NULL;
DROP INDEX review_pairs_open;

-- Whether a purpose was ever consented to (a change of its legal basis
-- asks): a scan of every consent event when none was.
CREATE INDEX consent_events_purpose ON consent_events (purpose);

-- The notices still to deliver, oldest first, for the sweep each minute.
CREATE INDEX notifications_pending ON notifications (created_at) WHERE status = 'pending';
