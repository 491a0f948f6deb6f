-- The audit log and the role the service runs as.
--
-- The service connects as a member of cdp_app. That role reads and writes
-- the data tables, but may only insert into the audit log and its
-- checkpoints: it cannot change, delete or even read audit rows directly.
-- Reads go through the SECURITY DEFINER functions below, which only select.
-- Migrations run as the owner of the schema, which cdp_app is not.

DO $$
BEGIN
    CREATE ROLE cdp_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- roles are per cluster: another database created it
END
$$;

-- Every audited access. No personal data: profile ids, field names,
-- principals, purposes, a pseudonymised client address.
CREATE TABLE audit_log (
    seq              bigint      PRIMARY KEY,
    at               timestamptz NOT NULL,
    principal_kind   text        NOT NULL,
    principal        text        NOT NULL,
    department       text        NOT NULL,
    action           text        NOT NULL,
    purpose          text        NOT NULL,
    profiles         uuid[]      NOT NULL,
    fields           text[]      NOT NULL,
    decision_id      text        NOT NULL,
    policy_revision  text        NOT NULL,
    request_id       text        NOT NULL,
    client           text        NOT NULL,
    outcome          text        NOT NULL,
    reason           text        NOT NULL,
    prev_hash        bytea       NOT NULL,
    hash             bytea       NOT NULL
);
-- Indexes for the DPO's questions, chosen to cost little per insert: every
-- read of personal data inserts a row. The GIN index updates at once
-- (fastupdate off) rather than letting an unlucky insert flush a pending
-- list; time is nearly ordered with seq, so a BRIN index serves ranges.
CREATE INDEX audit_log_profiles ON audit_log USING gin (profiles) WITH (fastupdate = off);
CREATE INDEX audit_log_principal ON audit_log (principal, seq);
CREATE INDEX audit_log_at ON audit_log USING brin (at);

-- Signed statements of the chain's head (see package audit).
CREATE TABLE audit_checkpoints (
    seq        bigint      PRIMARY KEY,
    hash       bytea       NOT NULL,
    at         timestamptz NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL
);

CREATE FUNCTION audit_head() RETURNS TABLE (seq bigint, hash bytea)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS
$$ SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1 $$;

-- Entries matching a DPO's question, after a sequence number (paging).
CREATE FUNCTION audit_entries(p_profile uuid, p_principal text, p_purpose text,
        p_from timestamptz, p_to timestamptz, p_after bigint, p_limit integer)
    RETURNS SETOF audit_log
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS
$$
    SELECT * FROM audit_log
    WHERE (p_profile IS NULL OR profiles @> ARRAY[p_profile])
      AND (p_principal IS NULL OR principal = p_principal)
      AND (p_purpose IS NULL OR purpose = p_purpose)
      AND (p_from IS NULL OR at >= p_from)
      AND (p_to IS NULL OR at < p_to)
      AND seq > p_after
    ORDER BY seq
    LIMIT p_limit
$$;

CREATE FUNCTION audit_checkpoint_list() RETURNS SETOF audit_checkpoints
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS
$$ SELECT * FROM audit_checkpoints ORDER BY seq $$;

REVOKE ALL ON FUNCTION audit_head(), audit_entries(uuid, text, text, timestamptz, timestamptz, bigint, integer),
    audit_checkpoint_list() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_head(), audit_entries(uuid, text, text, timestamptz, timestamptz, bigint, integer),
    audit_checkpoint_list() TO cdp_app;

-- The service's privileges: data tables in full, the migration record read
-- only, the audit tables insert only.
GRANT USAGE ON SCHEMA public TO cdp_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cdp_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cdp_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cdp_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO cdp_app;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM cdp_app;
REVOKE ALL ON audit_log, audit_checkpoints FROM cdp_app;
GRANT INSERT ON audit_log, audit_checkpoints TO cdp_app;
