-- Interactions: every contact of a customer with a department, on one
-- timeline. Personal data: the free-text columns are sealed under the key
-- of the customer record (erasing the person shreds them, and deleting
-- the record deletes its interactions); type, channel, time and amounts
-- stay readable for the CRM's figures, tied to the record by id only.
-- Idempotent by the source and the blind index of the interaction's id.
CREATE TABLE interactions (
    id            uuid          PRIMARY KEY,
    source        text          NOT NULL REFERENCES sources (name),
    source_key    bytea         NOT NULL,
    record_id     uuid          NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    type          text          NOT NULL CHECK (type ~ '^[a-z][a-z0-9_-]{0,62}$'),
    channel       text          NOT NULL CHECK (channel ~ '^[a-z][a-z0-9_-]{0,62}$'),
    occurred_at   timestamptz   NOT NULL,
    amount        numeric(14,2),
    currency      char(3),
    quantity      integer,
    satisfaction  smallint      CHECK (satisfaction BETWEEN 1 AND 5),
    cost          numeric(14,2),
    attrs         bytea,
    created_at    timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (source, source_key)
);
CREATE INDEX interactions_record ON interactions (record_id, occurred_at);
REVOKE UPDATE ON interactions FROM cdp_app;
