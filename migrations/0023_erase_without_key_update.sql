-- An erasure destroyed each record's key with an UPDATE and deleted the
-- record in the same transaction. The UPDATE wrote a second version of
-- every row (a new heap tuple and an entry in each of the table's eight
-- indexes, since a page filled by COPY has no room for a heap-only
-- update), which the DELETE then removed: a third of the erasure's time in
-- PostgreSQL (1.8 of 5.3 ms for a person with 50 records). It changed
-- nothing a commit keeps: the DELETE takes the wrapped key with the row,
-- and the old tuple stays in the heap until vacuum either way.
--
-- The UPDATE was there only so that erase_consent_events could tell an
-- erasure from any other caller: it deleted the events of records whose
-- key was destroyed. Its successor deletes the events of records that were
-- deleted (erased_records, below), and the erasure calls it after deleting
-- the records.
-- consent_events has no foreign key to records (events outlive a record
-- only in this window), so the order is free.
--
-- What the service's role can do must not grow. It may delete records (an
-- erasure does), so deleting a record's consent events must leave a
-- trace it cannot take back: every deleted record's id is kept in
-- erased_records (by a trigger, in a table the role can read but not
-- write), a record with an erased id cannot be inserted again, and only
-- the events of erased ids can be deleted. Before, a destroyed key could
-- not be restored (records_key_stays_destroyed, 0007) and the record's
-- row stayed; now the id cannot come back. Either way, the events of a
-- record go only with the record, for good.
CREATE TABLE erased_records (
    id         uuid        PRIMARY KEY,
    erased_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON erased_records FROM cdp_app;
GRANT SELECT ON erased_records TO cdp_app;

CREATE FUNCTION records_keep_erased_ids() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO public.erased_records (id) SELECT id FROM old_rows ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION records_keep_erased_ids() FROM PUBLIC;
CREATE TRIGGER records_keep_erased_ids AFTER DELETE ON records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION records_keep_erased_ids();

-- One lookup per inserted record in erased_records' primary key, once per
-- statement (an import's batch), not a trigger per row.
CREATE FUNCTION records_refuse_erased_ids() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    erased uuid;
BEGIN
    SELECT n.id INTO erased FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM public.erased_records e WHERE e.id = n.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'record % was erased: its id cannot be used again', erased
            USING ERRCODE = 'check_violation', TABLE = 'records';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER records_refuse_erased_ids AFTER INSERT ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION records_refuse_erased_ids();

CREATE FUNCTION erase_deleted_records_consent(erased uuid[]) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH d AS (
        DELETE FROM public.consent_events e
        WHERE e.record_id = ANY(erased)
          AND EXISTS (SELECT 1 FROM public.erased_records x WHERE x.id = e.record_id)
        RETURNING 1)
    SELECT count(*) FROM d
$$;
REVOKE ALL ON FUNCTION erase_deleted_records_consent(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_deleted_records_consent(uuid[]) TO cdp_app;

-- The old function goes: two ways in are one more to keep safe. A service
-- of the version before that still runs an erasure fails to call it, and
-- its job tries again until the new version has replaced it.
DROP FUNCTION erase_consent_events(uuid[]);
