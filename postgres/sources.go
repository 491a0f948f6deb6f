package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
)

// AddSource registers a source. It fails with ErrConflict when the name is
// taken.
func (db *DB) AddSource(ctx context.Context, s identity.Source) (identity.Source, error) {
	if err := auth.ValidateDepartment(s.Department); err != nil {
		return s, fmt.Errorf("source %q: %w", s.Name, err)
	}
	if s.UniqueIdentifiers == nil {
		s.UniqueIdentifiers = []string{}
	}
	if s.LegalBasis == "" {
		s.LegalBasis = "contract"
	}
	if s.Purposes == nil {
		s.Purposes = []string{}
	}
	err := db.pool.QueryRow(ctx, `INSERT INTO sources (name, department, priority, unique_records, unique_identifiers, legal_basis, purposes, link_by_identifier_only)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8
		WHERE NOT EXISTS (SELECT 1 FROM unnest($7::text[]) p WHERE p NOT IN (SELECT id FROM purposes))
		RETURNING created_at`,
		s.Name, s.Department, s.Priority, s.UniqueRecords, s.UniqueIdentifiers, s.LegalBasis, s.Purposes, s.LinkByIdentifierOnly).Scan(&s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("source %q: purposes %v: not all are in the purpose catalogue: %w", s.Name, s.Purposes, ErrInvalid)
	}
	if isCheckViolation(err) {
		return s, fmt.Errorf("source %q: legal basis %q: %w", s.Name, s.LegalBasis, ErrInvalid)
	}
	if isUniqueViolation(err) {
		return s, fmt.Errorf("source %q: %w", s.Name, ErrConflict)
	}
	if err != nil {
		return s, fmt.Errorf("add source %q: %w", s.Name, err)
	}
	return s, nil
}

// Sources returns every registered source, by name.
func (db *DB) Sources(ctx context.Context) ([]identity.Source, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, department, priority, unique_records, unique_identifiers, legal_basis, purposes, link_by_identifier_only, created_at
		FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.Source, error) {
		var s identity.Source
		err := r.Scan(&s.Name, &s.Department, &s.Priority, &s.UniqueRecords, &s.UniqueIdentifiers, &s.LegalBasis, &s.Purposes, &s.LinkByIdentifierOnly, &s.CreatedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return out, nil
}
