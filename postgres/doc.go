// Package postgres is the only package that speaks SQL. It stores what the
// domain packages define (sealed records, vault keys, sources, tokens) in
// PostgreSQL through pgx, one file per aggregate, and applies the embedded
// migrations.
//
// Nothing here sees plaintext personal data: it is handed sealed envelopes
// and blind indexes and hands them back.
//
// postgres imports pgx and the domain packages (identity, ingest, vault,
// auth); no domain package imports it.
package postgres
