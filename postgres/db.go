package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors of the store.
var (
	// ErrNotFound reports a row that does not exist.
	ErrNotFound = derrors.ErrNotFound
	// ErrConflict reports a write that conflicts with stored data.
	ErrConflict = derrors.ErrConflict
	// ErrInvalid reports a value the schema does not accept.
	ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid value")
	// ErrSchema reports a database whose migrations do not match this binary.
	ErrSchema = derrors.New(derrors.ErrUnavailable, "database schema mismatch")
)

// DB is a PostgreSQL database holding the cdp schema.
type DB struct {
	pool *pgxpool.Pool
}

// Options tune the connection pool.
type Options struct {
	MaxConns int32 // 0: pgxpool's default (the larger of 4 and the number of CPUs)
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "cdp"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return &DB{pool: pool}, nil
}

// Dedicated opens a second pool of at most n connections to the same
// database, for work that must not queue behind the main pool's: the
// audit writer, whose commit every read waits for, would otherwise wait
// for a connection behind the very reads that wait for it. Close it
// apart from db.
func (db *DB) Dedicated(ctx context.Context, n int32) (*DB, error) {
	cfg := db.pool.Config()
	cfg.MaxConns, cfg.MinConns = n, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Pool is the connection pool, for River's driver (package jobs).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes every connection.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// PoolStats reports the connection pool's state, for metrics.
func (db *DB) PoolStats() *pgxpool.Stat { return db.pool.Stat() }

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isCheckViolation reports a check constraint violation.
func isCheckViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

// isForeignKeyViolation reports a foreign key violation.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// isUniqueViolation reports a unique constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Advisory lock namespaces (the first key of two-key advisory locks).
const (
	lockMigrate    int32 = 7301
	lockVault      int32 = 7302
	lockRecords    int32 = 7303
	lockResolution int32 = 7304
	lockAudit      int32 = 7305
)
