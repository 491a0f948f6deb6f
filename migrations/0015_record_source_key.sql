-- A foreign key checks every row with a trigger call and a query of its
-- own: the key from records to their source cost about a fifth of the
-- database's work in an import (200,000 records: 5.9 s with it, 4.4 s
-- without, one COPY). It is now kept once per statement, over the
-- statement's transition table:
--
-- * the insert locks the sources it names FOR KEY SHARE, as the key's
--   check did, so a source's concurrent delete waits for it and then
--   finds its records;
-- * a record naming a missing source raises foreign_key_violation
--   (23503), naming the constraint the key had;
-- * deleting a source that has records is refused after the statement,
--   as the key did;
-- * a record's id and source, and a source's name, never change.
--
-- The memberships' keys stay row by row: done per statement they cost as
-- much (locking each record is most of either), measured on the 200,000
-- memberships a full resolution writes.

ALTER TABLE records DROP CONSTRAINT records_source_fkey;

CREATE FUNCTION key_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key of table "%" does not change', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END $$;
CREATE TRIGGER records_key_immutable BEFORE UPDATE OF id, source ON records FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.source IS DISTINCT FROM NEW.source) EXECUTE FUNCTION key_is_immutable();
CREATE TRIGGER sources_key_immutable BEFORE UPDATE OF name ON sources FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION key_is_immutable();

CREATE FUNCTION records_check_source() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM 1 FROM sources WHERE name IN (SELECT source FROM new_rows) FOR KEY SHARE;
    SELECT n.source INTO missing FROM (SELECT DISTINCT source FROM new_rows) n
        WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.name = n.source) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "records" violates foreign key constraint "records_source_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'records', CONSTRAINT = 'records_source_fkey',
                  DETAIL = format('Key (source)=(%s) is not present in table "sources".', missing);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER records_source_insert AFTER INSERT ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION records_check_source();

CREATE FUNCTION sources_keep_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN records r ON r.source = o.name) THEN
        RAISE EXCEPTION 'update or delete on table "sources" violates foreign key constraint "records_source_fkey" on table "records"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'records', CONSTRAINT = 'records_source_fkey',
                  DETAIL = 'A source is still referenced from table "records".';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sources_keep_records AFTER DELETE ON sources
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sources_keep_records();
