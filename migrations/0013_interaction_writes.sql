-- Interactions are written by the million: the foreign key to records
-- checked every row with a trigger call of its own (a quarter of the
-- write). The insert now joins the live records itself, locking each
-- like the key did (FOR KEY SHARE), so an erasure still cannot leave an
-- interaction behind; the erasure deletes its records' interactions in
-- its own transaction, before the records.
ALTER TABLE interactions DROP CONSTRAINT interactions_record_id_fkey;
ALTER TABLE interactions DROP CONSTRAINT interactions_source_fkey;
