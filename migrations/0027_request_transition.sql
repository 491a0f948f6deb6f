-- A request's transition in one round trip. Transition was a transaction
-- of four (BEGIN, the state's UPDATE, the event's INSERT, COMMIT); an
-- erasure made two of them around its own, about a tenth of its time on
-- this machine. As one function called in one statement it is still
-- atomic, and its INSERT still reads the events after the UPDATE has
-- locked the request (each statement of a PL/pgSQL function takes a
-- snapshot of its own), so two transitions of one request cannot take
-- the same seq.
--
-- p_lazy commits without waiting for the write-ahead log to reach the
-- disk: only for a change that the job making it makes again when it is
-- lost in a crash (a request going in progress, or completed by its job).
-- Any later durable commit, such as the erasure's own or River's
-- completion of the job, flushes it too.
--
-- Returns false when the request is not in state p_from (someone else
-- moved it first). Runs with the caller's privileges.
CREATE FUNCTION dsr_transition(p_id uuid, p_from text, p_to text, p_at timestamptz,
        p_verified timestamptz, p_due timestamptz, p_extend integer, p_outcome text, p_evidence bytea,
        p_closed timestamptz, p_actor text, p_reason bytea, p_lazy boolean) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS
$$
BEGIN
    UPDATE dsr_requests SET state = p_to, updated_at = p_at,
        verified_at = coalesce(p_verified, verified_at), due_at = coalesce(p_due, due_at),
        extended_months = extended_months + p_extend,
        outcome = CASE WHEN p_outcome = '' THEN outcome ELSE p_outcome END, evidence = coalesce(p_evidence, evidence),
        closed_at = coalesce(closed_at, p_closed)
        WHERE id = p_id AND state = p_from;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO dsr_events (request_id, seq, from_state, to_state, actor, reason, at)
        SELECT p_id, coalesce(max(seq), 0) + 1, p_from, p_to, p_actor, p_reason, p_at FROM dsr_events WHERE request_id = p_id;
    IF p_lazy THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION dsr_transition(uuid, text, text, timestamptz, timestamptz, timestamptz, integer, text, bytea,
    timestamptz, text, bytea, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsr_transition(uuid, text, text, timestamptz, timestamptz, timestamptz, integer, text, bytea,
    timestamptz, text, bytea, boolean) TO cdp_app;
