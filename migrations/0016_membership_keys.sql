-- The memberships' two foreign keys, kept once per statement.
--
-- A row-by-row key locks the row it references: a full resolution that
-- writes a million memberships locked a million records and the profiles
-- FOR KEY SHARE, one query each. Measured on 1,000,000 memberships copied
-- into an empty table: 31.9 s with the keys, 9.8 s without (the queue
-- trigger disabled in both). Migration 0015 kept the records' key to their
-- source per statement but still locked each row it referenced; here no
-- row is locked. Instead, writers of memberships and deleters of what they
-- reference exclude each other by a table lock:
--
-- * inserting or updating memberships takes ROW EXCLUSIVE on
--   profile_members (every write does); after the statement, its new rows
--   are checked against records and profiles with a snapshot taken after
--   that lock;
-- * deleting records or profiles first takes SHARE ROW EXCLUSIVE on
--   profile_members, which waits for every transaction that wrote
--   memberships to end, and keeps new writers waiting until it ends;
-- * after deleting records, their memberships are deleted (the cascade the
--   key had), with a snapshot that sees what the writers committed;
-- * after deleting profiles, any membership still naming one raises
--   foreign_key_violation (23503) under the key's name, as the key did;
-- * a profile's id never changes (a record's already does not: 0015).
--
-- The check relies on a snapshot taken after the lock, which READ
-- COMMITTED gives every statement: memberships are written only there.
-- Readers are never blocked: they take ACCESS SHARE.

ALTER TABLE profile_members DROP CONSTRAINT profile_members_record_id_fkey;
ALTER TABLE profile_members DROP CONSTRAINT profile_members_profile_id_fkey;

CREATE TRIGGER profiles_key_immutable BEFORE UPDATE OF id ON profiles FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION key_is_immutable();

CREATE FUNCTION members_check_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'memberships are written in READ COMMITTED transactions only, not %',
            current_setting('transaction_isolation') USING ERRCODE = 'feature_not_supported';
    END IF;
    SELECT n.record_id INTO missing FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = n.record_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "profile_members" violates foreign key constraint "profile_members_record_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'profile_members', CONSTRAINT = 'profile_members_record_id_fkey',
                  DETAIL = format('Key (record_id)=(%s) is not present in table "records".', missing);
    END IF;
    SELECT n.profile_id INTO missing FROM (SELECT DISTINCT profile_id FROM new_rows) n
        WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = n.profile_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "profile_members" violates foreign key constraint "profile_members_profile_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'profile_members', CONSTRAINT = 'profile_members_profile_id_fkey',
                  DETAIL = format('Key (profile_id)=(%s) is not present in table "profiles".', missing);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER members_check_keys_insert AFTER INSERT ON profile_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_check_keys();
CREATE TRIGGER members_check_keys_update AFTER UPDATE ON profile_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_check_keys();

CREATE FUNCTION members_lock_writers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE profile_members IN SHARE ROW EXCLUSIVE MODE;
    RETURN NULL;
END $$;
CREATE TRIGGER records_lock_members BEFORE DELETE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION members_lock_writers();
CREATE TRIGGER profiles_lock_members BEFORE DELETE ON profiles
    FOR EACH STATEMENT EXECUTE FUNCTION members_lock_writers();

CREATE FUNCTION records_delete_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM profile_members WHERE record_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER records_delete_members AFTER DELETE ON records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION records_delete_members();

CREATE FUNCTION profiles_keep_members() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kept uuid;
BEGIN
    SELECT o.id INTO kept FROM old_rows o WHERE EXISTS (SELECT 1 FROM profile_members m WHERE m.profile_id = o.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'update or delete on table "profiles" violates foreign key constraint "profile_members_profile_id_fkey" on table "profile_members"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'profile_members', CONSTRAINT = 'profile_members_profile_id_fkey',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "profile_members".', kept);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER profiles_keep_members AFTER DELETE ON profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION profiles_keep_members();

-- A record's memberships used to go with it through the key's cascade; a
-- TRUNCATE of records or profiles would now leave them behind, so it is
-- refused (nothing truncates them; a restore would go through DELETE).
CREATE FUNCTION members_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table "%" is not truncated: profile_members refers to it', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END $$;
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION members_refuse_truncate();
CREATE TRIGGER profiles_no_truncate BEFORE TRUNCATE ON profiles
    FOR EACH STATEMENT EXECUTE FUNCTION members_refuse_truncate();
