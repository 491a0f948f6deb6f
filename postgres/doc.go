// Package postgres is the only package that speaks SQL (but for River's
// own, run by package jobs over the pool DB.Pool hands it). DB stores in
// PostgreSQL, through pgx, what the domain packages define, and
// implements the store interfaces declared by them and by access and
// jobs:
//
//   - records.go: sealed records, their versions and the records no
//     profile holds yet (ingest);
//   - identity.go, resolution.go, profiles.go: what resolution reads
//     (match keys, models, steward constraints, the resolution lock) and
//     the outcome of a run, written in one transaction; profiles, their
//     records and lineage, review pairs (resolver);
//   - consent.go: purposes, notices and consent events, and the record
//     lookups and customer links of the customer routes (consent);
//   - requests.go: data-subject requests, their events and retention;
//     erasure.go: erasure in one transaction, restriction, suppressions,
//     legal holds; notifications.go: webhook recipients and the notices
//     of requests owed to them (dsr);
//   - audit.go: the hash-chained audit log, its signed checkpoints, and
//     the service role that may only append to it (audit);
//   - vaultkeys.go, sources.go, tokens.go: vault keys, sources, API
//     tokens (vault, auth);
//   - migrate.go: the embedded migrations (package migrations), applied
//     each in its own transaction, and the schema's status.
//
// db.go opens the pool and holds the store's errors, its transaction
// helper (inTx) and the namespaces of its advisory locks; uuids.go the
// conversions between uuid.UUID and the [16]byte pgx is handed.
//
// Nothing here sees plaintext personal data: it is handed sealed envelopes
// and blind indexes and hands them back.
//
// postgres imports pgx and the domain packages it stores for (audit,
// auth, consent, dsr, identity, ingest, resolver, vault); none of them
// imports it: cmd/cdp wires it in. Its tests, and those of the packages
// using it, get a database of their own from package pgtest.
package postgres
