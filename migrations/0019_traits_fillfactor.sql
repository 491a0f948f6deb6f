-- Profiling merges its new traits into profile_traits (postgres.SaveProfiling)
-- instead of deleting every row and inserting them again. Room left on each
-- page lets a row's new version stay on its page (a heap-only update): its
-- indexes are not touched, its old version is pruned as the page is next
-- read, and the table does not grow by a million dead rows each full run.
-- Existing pages take the setting when they are next rewritten.
ALTER TABLE profile_traits SET (fillfactor = 50);
