package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/cdp-project/cdp/migrations"
)

// Migration is one embedded schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum []byte
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: want NNNN_description.sql", e.Name())
		}
		data, err := fs.ReadFile(migrations.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(data)
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(data), Checksum: sum[:]})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3... without gaps", m.Name)
		}
	}
	return ms, nil
}

// MigrationStatus says how the database's schema relates to this binary's.
type MigrationStatus struct {
	Applied int      // the highest applied version
	Latest  int      // the highest embedded version
	Pending []string // embedded migrations not yet applied
}

// Current reports whether every embedded migration is applied.
func (s MigrationStatus) Current() bool { return len(s.Pending) == 0 && s.Applied == s.Latest }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    bytea       NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies the pending migrations, each in its own transaction,
// holding an advisory lock so that concurrent processes apply each once. It
// fails with ErrSchema when an applied migration differs from the embedded
// one or the database is newer than this binary. It returns the names of the
// migrations it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, 0)", lockMigrate); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, 0)", lockMigrate)
	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	st, err := checkApplied(ctx, conn.Conn(), ms)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms[st.Applied:] {
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				m.Version, m.Name, m.Checksum)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		applied = append(applied, m.Name)
	}
	// River's tables, the durable job queue, after ours.
	res, err := riverMigrator(db).Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return applied, fmt.Errorf("migrate River's job tables: %w", err)
	}
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river %03d_%s", v.Version, v.Name))
	}
	return applied, nil
}

func riverMigrator(db *DB) *rivermigrate.Migrator[pgx.Tx] {
	m, err := rivermigrate.New(riverpgxv5.New(db.pool), &rivermigrate.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err) // only on an invalid configuration
	}
	return m
}

// MigrationStatus compares the applied migrations with the embedded ones.
func (db *DB) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	ms, err := Migrations()
	if err != nil {
		return MigrationStatus{}, err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("migration status: %w", err)
	}
	defer conn.Release()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return MigrationStatus{}, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		st := MigrationStatus{Latest: len(ms)}
		for _, m := range ms {
			st.Pending = append(st.Pending, m.Name)
		}
		return st, nil
	}
	st, err := checkApplied(ctx, conn.Conn(), ms)
	if err != nil {
		return st, err
	}
	v, err := riverMigrator(db).Validate(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("migration status: River: %w", err)
	}
	if !v.OK {
		st.Pending = append(st.Pending, "river ("+strings.Join(v.Messages, "; ")+")")
	}
	return st, nil
}

func checkApplied(ctx context.Context, conn *pgx.Conn, ms []Migration) (MigrationStatus, error) {
	rows, err := conn.Query(ctx, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("read applied migrations: %w", err)
	}
	type applied struct {
		version  int
		name     string
		checksum []byte
	}
	done, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applied, error) {
		var a applied
		err := r.Scan(&a.version, &a.name, &a.checksum)
		return a, err
	})
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("read applied migrations: %w", err)
	}
	st := MigrationStatus{Latest: len(ms)}
	for i, a := range done {
		if a.version != i+1 || a.version > len(ms) {
			return st, fmt.Errorf("database has migration %d (%s), which this binary does not know: %w", a.version, a.name, ErrSchema)
		}
		if !bytes.Equal(a.checksum, ms[i].Checksum) {
			return st, fmt.Errorf("migration %s was changed after it was applied: %w", ms[i].Name, ErrSchema)
		}
		st.Applied = a.version
	}
	for _, m := range ms[st.Applied:] {
		st.Pending = append(st.Pending, m.Name)
	}
	return st, nil
}
