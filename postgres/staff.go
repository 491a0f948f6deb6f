package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/auth"
)

// GrantStaff gives a staff account its department and roles (replacing
// what it had, lifting a revocation).
func (db *DB) GrantStaff(ctx context.Context, identity uuid.UUID, department string, roles []auth.Role, by string, at time.Time) error {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO staff (kratos_identity, department, roles, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kratos_identity) DO UPDATE SET department = $2, roles = $3, granted_by = $4, granted_at = $5, revoked_at = NULL`,
		[16]byte(identity), department, names, by, at)
	if err != nil {
		return fmt.Errorf("grant staff: %w", err)
	}
	return nil
}

// RevokeStaff ends a staff account's grant; ErrNotFound when it has none.
func (db *DB) RevokeStaff(ctx context.Context, identity uuid.UUID, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE staff SET revoked_at = $2 WHERE kratos_identity = $1 AND revoked_at IS NULL`, [16]byte(identity), at)
	if err != nil {
		return fmt.Errorf("revoke staff: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("no grant to revoke: %w", ErrNotFound)
	}
	return nil
}

// StaffGrant is what a staff account may do: ErrNotFound when nothing (no
// grant, or revoked).
func (db *DB) StaffGrant(ctx context.Context, identity uuid.UUID) (auth.StaffGrant, error) {
	var g auth.StaffGrant
	var roles []string
	err := db.pool.QueryRow(ctx, `SELECT department, roles, granted_by, granted_at FROM staff WHERE kratos_identity = $1 AND revoked_at IS NULL`,
		[16]byte(identity)).Scan(&g.Department, &roles, &g.GrantedBy, &g.GrantedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("no staff grant: %w", ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("staff grant: %w", err)
	}
	g.Identity = identity
	for _, r := range roles {
		g.Roles = append(g.Roles, auth.Role(r))
	}
	return g, nil
}

// StaffGrants lists the standing grants.
func (db *DB) StaffGrants(ctx context.Context) ([]auth.StaffGrant, error) {
	rows, err := db.pool.Query(ctx, `SELECT kratos_identity, department, roles, granted_by, granted_at FROM staff
		WHERE revoked_at IS NULL ORDER BY department, granted_at`)
	if err != nil {
		return nil, fmt.Errorf("staff grants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.StaffGrant, error) {
		var g auth.StaffGrant
		var id [16]byte
		var roles []string
		err := r.Scan(&id, &g.Department, &roles, &g.GrantedBy, &g.GrantedAt)
		g.Identity = id
		for _, x := range roles {
			g.Roles = append(g.Roles, auth.Role(x))
		}
		return g, err
	})
}
