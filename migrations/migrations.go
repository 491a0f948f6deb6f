// Package migrations holds the database schema as numbered SQL files,
// embedded in the binary and applied in order by package postgres.
//
// Files are named NNNN_description.sql. A migration that has landed is never
// edited: the migrator stores each file's checksum and refuses to run against
// a database whose applied migrations differ from the embedded ones. Change
// the schema with a new file.
//
// migrations imports only the standard library.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
