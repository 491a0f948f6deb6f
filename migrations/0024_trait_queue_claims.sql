-- A full computation of traits claims the queue of stale profiles before
-- it reads anything, instead of emptying it when it saves.
--
-- Emptying it at the save dropped the profiles queued while it computed
-- (an order imported during the 40 s a million profiles take), whose
-- changes it had not seen. Deleting the queue at the start instead (a
-- first fix, never landed) lost it to a crash between the start and the
-- save, and a writer that found its profile already queued (ON CONFLICT
-- DO NOTHING) and committed during the computation was lost all the same.
--
-- So the queue's rows are marked claimed at the start, in a short
-- transaction, and deleted in the save's transaction. The uniqueness of a
-- profile holds among the rows not claimed only: a writer that queues a
-- claimed profile adds a row of its own, which the running computation
-- leaves for the next refresh. A computation that dies leaves its claimed
-- rows, which the next full computation claims again and deletes.
ALTER TABLE trait_queue ADD COLUMN claimed boolean NOT NULL DEFAULT false;
ALTER TABLE trait_queue DROP CONSTRAINT trait_queue_pkey;
CREATE UNIQUE INDEX trait_queue_waiting ON trait_queue (profile_id) WHERE NOT claimed;
-- Claimed rows are found by their own index: a refresh that finds some
-- while no full computation runs takes them back (a computation that
-- died), which must cost nothing when there are none.
CREATE INDEX trait_queue_claimed ON trait_queue (profile_id) WHERE claimed;
