-- Audit queries by department too (a breach question "what did the
-- support department read"), in the database rather than by filtering
-- pages of entries afterwards. One function for every filter (instead of
-- audit_entries and audit_entries_of, dropped below); the
-- profile filter takes every id a profile ever had (NULL: any).
CREATE FUNCTION audit_search(p_profiles uuid[], p_principal text, p_department text, p_purpose text,
        p_from timestamptz, p_to timestamptz, p_after bigint, p_limit integer)
    RETURNS SETOF audit_log
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS
$$
    SELECT * FROM audit_log
    WHERE (p_profiles IS NULL OR profiles && p_profiles)
      AND (p_principal IS NULL OR principal = p_principal)
      AND (p_department IS NULL OR department = p_department)
      AND (p_purpose IS NULL OR purpose = p_purpose)
      AND (p_from IS NULL OR at >= p_from)
      AND (p_to IS NULL OR at < p_to)
      AND seq > p_after
    ORDER BY seq
    LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION audit_search(uuid[], text, text, text, timestamptz, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_search(uuid[], text, text, text, timestamptz, timestamptz, bigint, integer) TO cdp_app;

-- The two functions it replaces; nothing calls them any more.
DROP FUNCTION audit_entries(uuid, text, text, timestamptz, timestamptz, bigint, integer);
DROP FUNCTION audit_entries_of(uuid[], text, text, timestamptz, timestamptz, bigint, integer);
