-- A refusal (withdrawal, objection, denial) is about the person, but it is
-- written on one of their records. When that record was erased while the
-- profile kept others (a retention's expired records, a scoped erasure,
-- records a legal hold keeps), its events went with it, and the person's
-- objection with them: profiling and marketing resumed. An erasure now
-- re-states such a refusal on a record the profile keeps, as it was said
-- (consent.Outlive), with this method.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_method_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_method_check
    CHECK (method IN ('self_service', 'department_form', 'call_centre', 'import', 'gpc', 'merge', 'request', 'carried'));
