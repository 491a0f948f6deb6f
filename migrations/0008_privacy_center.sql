-- The privacy center: a customer may withdraw a request before work on it
-- began, and dispute a record shown as theirs ("this isn't me").

ALTER TABLE dsr_requests DROP CONSTRAINT dsr_requests_state_check;
ALTER TABLE dsr_requests ADD CONSTRAINT dsr_requests_state_check
    CHECK (state IN ('received', 'verified', 'approved', 'rejected', 'in_progress', 'completed', 'failed', 'withdrawn'));

-- "This isn't me": a customer says a record shown as theirs is not. The
-- stewards see it as a split candidate; the customer sees the outcome.
-- Ids only: the record's values stay sealed where they are. A record
-- erased takes its disputes with it.
CREATE TABLE disputes (
    id          uuid        PRIMARY KEY,
    record_id   uuid        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    profile_id  uuid        NOT NULL, -- the profile the record was in when disputed
    customer    uuid        NOT NULL, -- the Kratos identity of the customer
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'split', 'kept')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_by  text,
    decided_at  timestamptz,
    CHECK ((state = 'open') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX disputes_open_once ON disputes (record_id, customer) WHERE state = 'open';
CREATE INDEX disputes_of_customer ON disputes (customer, created_at DESC);
CREATE INDEX disputes_queue ON disputes (created_at) WHERE state = 'open';
REVOKE DELETE ON disputes FROM cdp_app;
