package postgres

import "context"

// ExecForTest runs a statement, for tests that simulate damage.
func (db *DB) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := db.pool.Exec(ctx, sql, args...)
	return err
}

// CountForTest runs a count query.
func (db *DB) CountForTest(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

// BytesForTest runs a query returning one bytea.
func (db *DB) BytesForTest(ctx context.Context, sql string, args ...any) ([]byte, error) {
	var b []byte
	err := db.pool.QueryRow(ctx, sql, args...).Scan(&b)
	return b, err
}
