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
-- key was destroyed. Its successor deletes the events of records that no
-- longer exist, and the erasure calls it after deleting the records.
-- consent_events has no foreign key to records (events outlive a record
-- only in this window), so the order is free.
--
-- What the service's role can do is unchanged. Before, it could destroy a
-- key, delete the events, and insert the same data as a record with a new
-- id (only the old id could not come back: records_key_stays_destroyed).
-- Now it can delete a record, delete the events, and insert the data
-- again under any id. Either way, deleting consent events takes deleting
-- the person's record first, which only an erasure does.
CREATE FUNCTION erase_deleted_records_consent(erased uuid[]) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH d AS (
        DELETE FROM public.consent_events e
        WHERE e.record_id = ANY(erased)
          AND NOT EXISTS (SELECT 1 FROM public.records r WHERE r.id = e.record_id)
        RETURNING 1)
    SELECT count(*) FROM d
$$;
REVOKE ALL ON FUNCTION erase_deleted_records_consent(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_deleted_records_consent(uuid[]) TO cdp_app;

-- The old function goes: two ways in are one more to keep safe. A service
-- of the version before that still runs an erasure fails to call it, and
-- its job tries again until the new version has replaced it.
DROP FUNCTION erase_consent_events(uuid[]);
