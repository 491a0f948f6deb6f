-- The departments of a purpose: the DPO names the departments that process
-- personal data for it (Art. 30(1)(d), the recipients of each processing,
-- and Art. 25(2): by default, data is accessible only to those who need
-- it). Staff of another department may not declare the purpose, whatever
-- their role; a purpose that names none stays open to every department
-- whose role allows it, as before. The DPO may declare any purpose.
ALTER TABLE purposes
    ADD COLUMN departments text[] NOT NULL DEFAULT '{}'
        CHECK (array_position(departments, NULL) IS NULL
            AND NOT departments && ARRAY['customers', 'subjects']::text[]);
