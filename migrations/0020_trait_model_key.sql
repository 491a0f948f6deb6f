-- A profile's traits name the model they were scored with (model_id), and
-- every full run writes a new model and updates every row's model_id.
-- The foreign key checked each updated row against trait_models, one query
-- per row: in a full run over 1,000,000 profiles the merge of the new
-- traits took 19.3 s with the key and 9.2 s without it (psql, rolled back,
-- the same rows). The key is dropped; what it guarded is kept otherwise:
--
-- * a model is written in the same transaction as the traits that name it
--   (postgres.SaveProfiling), and an incremental run names the latest
--   model, which exists;
-- * models are never changed or deleted: the service's role may no longer
--   update or delete them, so an id once valid stays valid. A model holds
--   the fitted parameters of the population, no one's personal data, so
--   erasure has nothing to remove there.

ALTER TABLE profile_traits DROP CONSTRAINT profile_traits_model_id_fkey;
REVOKE UPDATE, DELETE ON trait_models FROM cdp_app;
