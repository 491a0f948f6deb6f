-- A person's refusals (an objection, a withdrawal) outlive a
-- retention that erases all their records. Such an erasure suppresses
-- nothing: records expiring is not the person leaving, and a department
-- may send them again as a customer. Without this table their objection to
-- marketing went with the last record it was written on, and the person
-- who came back was marketed to and profiled again (Art. 21(3): once a
-- person objects to direct marketing, their data is no longer processed
-- for it; supervisory authorities expect a suppression list to keep that
-- promise after the data is gone).
--
-- So the erasure keeps, for each blind index of the erased records'
-- strong identifiers, the statement that decided each refused purpose (as
-- consent.Outlive finds it: the person's own words, when they were said
-- and recorded): keyed hashes and a purpose, nothing that names the
-- person. An import that creates a record holding one of those
-- identifiers re-states the refusal on it (method 'carried', origin
-- 'retention'), as it was said, so the person's next statement overrides
-- it as before. An erasure the person asks for removes them with the rest
-- (its suppression refuses the person's records from then on, and a
-- person who comes back after it is lifted starts afresh).
CREATE TABLE standing_refusals (
    kind           text        NOT NULL CHECK (kind IN ('email', 'phone', 'national_id')),
    blind_index    bytea       NOT NULL,
    purpose        text        NOT NULL REFERENCES purposes (id),
    state          text        NOT NULL CHECK (state IN ('withdrawn', 'objected')),
    notice_version integer,
    at             timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    request_id     uuid        NOT NULL REFERENCES dsr_requests (id),
    kept_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, blind_index, purpose),
    FOREIGN KEY (purpose, notice_version) REFERENCES notices (purpose, version)
);
CREATE INDEX standing_refusals_request ON standing_refusals (request_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON standing_refusals TO cdp_app;
