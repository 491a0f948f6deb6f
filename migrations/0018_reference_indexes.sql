-- Lookups by a column no index leads with read the whole table.
--
-- Deleting a record (an erasure, the retention sweep) makes PostgreSQL
-- find the rows that refer to it: one lookup per deleted record and
-- foreign key. customer_links and disputes had no index leading with
-- record_id (disputes only one for open disputes), so each lookup read the
-- whole table: an erasure of fifty records read every customer account
-- link and every dispute ever stored a hundred times, and the erasure's
-- own search for the person's login accounts (record_id = ANY) read
-- customer_links once more.
--
-- review_pairs is searched by record_b beside record_a (an erasure, and
-- every incremental resolution, which replaces the open pairs of the
-- records it resolved), and profile_redirects by new_id (an erasure, a
-- profile's history): neither had an index for it.
CREATE INDEX customer_links_record ON customer_links (record_id);
CREATE INDEX disputes_record ON disputes (record_id);
CREATE INDEX review_pairs_b ON review_pairs (record_b);
CREATE INDEX profile_redirects_new ON profile_redirects (new_id);
