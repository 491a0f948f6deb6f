package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/identity"
)

// disputeColumns are read with the record's current profile (the one at
// the time of the dispute when the record is in none).
const disputeColumns = `d.id, d.record_id, coalesce(m.profile_id, d.profile_id), d.customer, d.state, d.created_at, d.decided_at
	FROM disputes d LEFT JOIN profile_members m ON m.record_id = d.record_id`

func scanDispute(row pgx.CollectableRow) (identity.Dispute, error) {
	var d identity.Dispute
	var id, rec, prof, cust [16]byte
	err := row.Scan(&id, &rec, &prof, &cust, &d.State, &d.CreatedAt, &d.DecidedAt)
	d.ID, d.Record, d.Profile, d.Customer = id, rec, prof, cust
	return d, err
}

// CreateDispute records a customer's dispute of a record; when the
// customer has an open dispute of that record already, that one is
// returned (a form sent twice).
func (db *DB) CreateDispute(ctx context.Context, d identity.Dispute) (identity.Dispute, error) {
	_, err := db.pool.Exec(ctx, `INSERT INTO disputes (id, record_id, profile_id, customer, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (record_id, customer) WHERE state = 'open' DO NOTHING`,
		[16]byte(d.ID), [16]byte(d.Record), [16]byte(d.Profile), [16]byte(d.Customer), d.CreatedAt)
	if err != nil {
		return d, fmt.Errorf("create dispute: %w", err)
	}
	rows, err := db.pool.Query(ctx, "SELECT "+disputeColumns+` WHERE d.record_id = $1 AND d.customer = $2 AND d.state = 'open'`,
		[16]byte(d.Record), [16]byte(d.Customer))
	if err != nil {
		return d, fmt.Errorf("create dispute: %w", err)
	}
	return pgx.CollectExactlyOneRow(rows, scanDispute)
}

// CustomerDisputes lists a customer's disputes, newest first.
func (db *DB) CustomerDisputes(ctx context.Context, customer uuid.UUID) ([]identity.Dispute, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+disputeColumns+` WHERE d.customer = $1 ORDER BY d.created_at DESC LIMIT 200`,
		[16]byte(customer))
	if err != nil {
		return nil, fmt.Errorf("customer disputes: %w", err)
	}
	return pgx.CollectRows(rows, scanDispute)
}

// OpenDisputes lists the disputes waiting for a steward, oldest first.
func (db *DB) OpenDisputes(ctx context.Context, limit int) ([]identity.Dispute, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+disputeColumns+` WHERE d.state = 'open' ORDER BY d.created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("open disputes: %w", err)
	}
	return pgx.CollectRows(rows, scanDispute)
}

// Dispute reads one dispute; ErrNotFound when there is none.
func (db *DB) Dispute(ctx context.Context, id uuid.UUID) (identity.Dispute, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+disputeColumns+" WHERE d.id = $1", [16]byte(id))
	if err != nil {
		return identity.Dispute{}, fmt.Errorf("dispute: %w", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDispute)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("dispute %s: %w", id, ErrNotFound)
	}
	return d, err
}

// SettleDispute closes an open dispute with its outcome (split or kept);
// ErrConflict when it was settled already.
func (db *DB) SettleDispute(ctx context.Context, id uuid.UUID, state, by string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE disputes SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1 AND state = 'open'`,
		[16]byte(id), state, by, at)
	if err != nil {
		return fmt.Errorf("settle dispute: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("dispute %s is settled already: %w", id, ErrConflict)
	}
	return nil
}
