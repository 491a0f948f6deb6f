-- The four keys to records that cascaded row by row (record_versions,
-- customer_links, disputes, record_restrictions), kept once per statement
-- like the records' key to their source (0015). Deleting a record ran
-- each key's cascade trigger for each record, a query each: for an
-- erasure's 50 records, 200 queries, 1.3 of the 2.6 ms its DELETE took
-- (psql, 50 records of 6,000 with their memberships, rolled back; 0.6 ms
-- of the rest is the memberships' trigger, the rows themselves 0.6 ms).
-- Now:
--
-- * deleting records deletes their versions, customer links, disputes
--   and restrictions after the statement, one statement per table, with
--   the memberships (records_delete_dependents replaces
--   records_delete_members; the memberships keep their table lock, 0016);
-- * inserting into those tables locks the records named FOR KEY SHARE, as
--   the keys' checks did (finding and locking them in one statement), so a record's concurrent delete waits for the
--   insert to commit and then deletes its rows too, and an insert that
--   waited for a delete finds the record gone; a missing record raises
--   foreign_key_violation (23503) under the key's name;
-- * the record a row of those tables names never changes.
--
-- An import's changed records keep their versions with one check per
-- batch, not one per version.

ALTER TABLE record_versions DROP CONSTRAINT record_versions_record_id_fkey;
ALTER TABLE customer_links DROP CONSTRAINT customer_links_record_id_fkey;
ALTER TABLE disputes DROP CONSTRAINT disputes_record_id_fkey;
ALTER TABLE record_restrictions DROP CONSTRAINT record_restrictions_record_id_fkey;

-- The records named are found and locked by one statement: a record
-- found in a later snapshot than its lock's would not be kept from a
-- delete. One deleted meanwhile (the lock waited for its delete to
-- commit) is skipped by the lock, and so missing.
CREATE FUNCTION record_dependents_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    SELECT n.record_id INTO missing FROM (SELECT DISTINCT record_id FROM new_rows) n
        WHERE n.record_id NOT IN (SELECT r.id FROM records r WHERE r.id IN (SELECT record_id FROM new_rows) FOR KEY SHARE)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_TABLE_NAME || '_record_id_fkey'
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_record_id_fkey',
                  DETAIL = format('Key (record_id)=(%s) is not present in table "records".', missing);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER record_versions_check_record AFTER INSERT ON record_versions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_dependents_check();
CREATE TRIGGER customer_links_check_record AFTER INSERT ON customer_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_dependents_check();
CREATE TRIGGER disputes_check_record AFTER INSERT ON disputes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_dependents_check();
CREATE TRIGGER record_restrictions_check_record AFTER INSERT ON record_restrictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_dependents_check();

CREATE TRIGGER record_versions_key_immutable BEFORE UPDATE OF record_id ON record_versions FOR EACH ROW
    WHEN (OLD.record_id IS DISTINCT FROM NEW.record_id) EXECUTE FUNCTION key_is_immutable();
CREATE TRIGGER customer_links_key_immutable BEFORE UPDATE OF record_id ON customer_links FOR EACH ROW
    WHEN (OLD.record_id IS DISTINCT FROM NEW.record_id) EXECUTE FUNCTION key_is_immutable();
CREATE TRIGGER disputes_key_immutable BEFORE UPDATE OF record_id ON disputes FOR EACH ROW
    WHEN (OLD.record_id IS DISTINCT FROM NEW.record_id) EXECUTE FUNCTION key_is_immutable();
CREATE TRIGGER record_restrictions_key_immutable BEFORE UPDATE OF record_id ON record_restrictions FOR EACH ROW
    WHEN (OLD.record_id IS DISTINCT FROM NEW.record_id) EXECUTE FUNCTION key_is_immutable();

-- The service may not delete disputes (0008); a record's go with it, as
-- the key's cascade (which ran as the table's owner) took them: hence
-- SECURITY DEFINER, and nothing else is deleted. Records are deleted in
-- READ COMMITTED transactions only: these deletes must see the rows an
-- insert that the delete waited for committed, which a REPEATABLE READ
-- snapshot taken before would not (the keys' cascade failed there).
CREATE FUNCTION records_delete_dependents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'records are deleted in READ COMMITTED transactions only, not %',
            current_setting('transaction_isolation') USING ERRCODE = 'feature_not_supported';
    END IF;
    DELETE FROM public.profile_members WHERE record_id IN (SELECT id FROM old_rows);
    DELETE FROM public.record_versions WHERE record_id IN (SELECT id FROM old_rows);
    DELETE FROM public.customer_links WHERE record_id IN (SELECT id FROM old_rows);
    DELETE FROM public.disputes WHERE record_id IN (SELECT id FROM old_rows);
    DELETE FROM public.record_restrictions WHERE record_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION records_delete_dependents() FROM PUBLIC;
DROP TRIGGER records_delete_members ON records;
DROP FUNCTION records_delete_members();
CREATE TRIGGER records_delete_dependents AFTER DELETE ON records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION records_delete_dependents();
