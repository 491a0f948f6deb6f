package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/auth"
)

// CreateToken stores a new API token (its secret only as a hash).
func (db *DB) CreateToken(ctx context.Context, t auth.Token) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO api_tokens (id, secret_hash, principal, department, roles, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.SecretHash, t.Principal, t.Department, roleStrings(t.Roles), t.CreatedAt, nullTime(t.ExpiresAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("token %s: %w", t.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenColumns = "id, secret_hash, principal, department, roles, created_at, expires_at, revoked_at"

// Token returns the stored token with the given id.
func (db *DB) Token(ctx context.Context, id string) (auth.Token, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE id = $1", id)
	if err != nil {
		return auth.Token{}, fmt.Errorf("token: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanToken)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Token{}, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens lists the stored tokens, newest first.
func (db *DB) Tokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY created_at DESC")
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	ts, err := pgx.CollectRows(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken revokes a token from time at on.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", id, at)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s (or already revoked): %w", id, ErrNotFound)
	}
	return nil
}

func scanToken(r pgx.CollectableRow) (auth.Token, error) {
	var t auth.Token
	var roles []string
	var expires, revoked *time.Time
	if err := r.Scan(&t.ID, &t.SecretHash, &t.Principal, &t.Department, &roles, &t.CreatedAt, &expires, &revoked); err != nil {
		return t, err
	}
	for _, s := range roles {
		t.Roles = append(t.Roles, auth.Role(s))
	}
	if expires != nil {
		t.ExpiresAt = *expires
	}
	if revoked != nil {
		t.RevokedAt = *revoked
	}
	return t, nil
}

func roleStrings(rs []auth.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
