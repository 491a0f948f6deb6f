-- Security review fixes (issue 10).

-- A source whose records anyone could type (customers' own sign-ups)
-- joins profiles only through an identifier shared exactly or a steward's
-- decision; its probabilistic matches go to review.
ALTER TABLE sources ADD COLUMN link_by_identifier_only boolean NOT NULL DEFAULT false;
UPDATE sources SET link_by_identifier_only = true WHERE name = 'self_service';

-- SECURITY DEFINER functions resolve names with the caller's temporary
-- schema last, never first: a temporary table named like one of ours
-- (records, audit_log...) must not stand in for it. PostgreSQL searches
-- pg_temp first unless the path names it.
ALTER FUNCTION audit_head() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION audit_entries(uuid, text, text, timestamptz, timestamptz, bigint, integer)
    SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION audit_checkpoint_list() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION erase_consent_events(uuid[]) SET search_path = pg_catalog, public, pg_temp;

-- A destroyed key stays destroyed: nulling a record's wrapped key (which
-- lets erase_consent_events delete its consent events) and then restoring
-- it would turn the append-only consent log into an editable one.
CREATE FUNCTION records_key_stays_destroyed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF OLD.key_destroyed_at IS NOT NULL AND (NEW.wrapped_key IS NOT NULL OR NEW.key_destroyed_at IS NULL) THEN
        RAISE EXCEPTION 'the key of record % was destroyed on %: it cannot be restored', OLD.id, OLD.key_destroyed_at
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER records_key_stays_destroyed BEFORE UPDATE OF wrapped_key, key_destroyed_at ON records
    FOR EACH ROW EXECUTE FUNCTION records_key_stays_destroyed();

-- A recipient's signing secret can be rotated: the previous one keeps
-- signing beside the new one (two signatures, the Standard Webhooks way)
-- until previous_until, so the recipient can switch without a gap.
ALTER TABLE recipients ADD COLUMN previous_secret bytea, ADD COLUMN previous_until timestamptz;

-- Who read a person's data, under every id their profile ever had: the
-- entries naming any of the given profiles (the DPO's question, once the
-- caller has followed the merges).
CREATE FUNCTION audit_entries_of(p_profiles uuid[], p_principal text, p_purpose text,
        p_from timestamptz, p_to timestamptz, p_after bigint, p_limit integer)
    RETURNS SETOF audit_log
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS
$$
    SELECT * FROM audit_log
    WHERE profiles && p_profiles
      AND (p_principal IS NULL OR principal = p_principal)
      AND (p_purpose IS NULL OR purpose = p_purpose)
      AND (p_from IS NULL OR at >= p_from)
      AND (p_to IS NULL OR at < p_to)
      AND seq > p_after
    ORDER BY seq
    LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION audit_entries_of(uuid[], text, text, timestamptz, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_entries_of(uuid[], text, text, timestamptz, timestamptz, bigint, integer) TO cdp_app;

-- A steward decision that reverses an earlier one says so: without it a
-- contradicting decision is refused (409) and changes nothing.
ALTER TABLE steward_decisions ADD COLUMN reverses boolean NOT NULL DEFAULT false;

-- A recipient chooses the events it hears of: erasure and rectification
-- notices (Art. 17(2), 19), and, for the DPO's desk, request_filed: a
-- customer filed a request through their account.
ALTER TABLE recipients ADD COLUMN events text[] NOT NULL DEFAULT '{erasure,rectification}'
    CHECK (events <@ ARRAY['erasure', 'rectification', 'request_filed']);
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('erasure', 'rectification', 'request_filed'));
ALTER TABLE notifications DROP CONSTRAINT notifications_request_id_recipient_id_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_request_recipient_kind UNIQUE (request_id, recipient_id, kind);
