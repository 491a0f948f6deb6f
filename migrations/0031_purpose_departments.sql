-- The departments of a purpose: the DPO names the departments that process
-- personal data for it (Art. 30(1)(d), the recipients of each processing,
-- and Art. 25(2): by default, data is accessible only to those who need
-- it). Staff of another department may not declare the purpose, whatever
-- their role; a purpose that names none stays open to every department
-- whose role allows it, as before. The DPO may declare any purpose.
ALTER TABLE purposes
    ADD COLUMN departments text[] NOT NULL DEFAULT '{}'
        CHECK (array_position(departments, NULL) IS NULL
            AND (departments = '{}'
                OR array_to_string(departments, ' ') ~ '^[a-z0-9][a-z0-9_-]*( [a-z0-9][a-z0-9_-]*)*$')
            AND NOT departments && ARRAY['customers', 'subjects']::text[]);

-- The departments of the built-in sources, customers (their own
-- statements, the self_service source) and subjects (what subjects told
-- the DPO, the subject source), belong to those sources alone: a token, a
-- staff grant or a recipient of theirs would speak for customers or
-- subjects. The service refuses them; these checks hold for whatever
-- writes later (NOT VALID: rows made before are left to the DPO).
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_department_not_reserved
    CHECK (department NOT IN ('customers', 'subjects')) NOT VALID;
ALTER TABLE staff ADD CONSTRAINT staff_department_not_reserved
    CHECK (department NOT IN ('customers', 'subjects')) NOT VALID;
ALTER TABLE recipients ADD CONSTRAINT recipients_department_not_reserved
    CHECK (department NOT IN ('customers', 'subjects')) NOT VALID;
ALTER TABLE sources ADD CONSTRAINT sources_department_not_reserved
    CHECK (department NOT IN ('customers', 'subjects') OR name IN ('self_service', 'subject')) NOT VALID;
