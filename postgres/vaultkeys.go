package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/vault"
)

// VaultKeys returns the stored vault keys, oldest first.
func (db *DB) VaultKeys(ctx context.Context) ([]vault.StoredKey, error) {
	return vaultKeys(ctx, db.pool)
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func vaultKeys(ctx context.Context, q querier) ([]vault.StoredKey, error) {
	rows, err := q.Query(ctx, "SELECT id, kind, sealed, created_at, retired_at IS NOT NULL FROM vault_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("vault keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vault.StoredKey, error) {
		var k vault.StoredKey
		var kind string
		err := r.Scan(&k.ID, &kind, &k.Sealed, &k.CreatedAt, &k.Retired)
		k.Kind = vault.KeyKind(kind)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("vault keys: %w", err)
	}
	return keys, nil
}

// EnsureVaultKeys returns the stored vault keys, first storing the ones
// create makes when there are none. Concurrent callers agree on one set.
func (db *DB) EnsureVaultKeys(ctx context.Context, create func() ([]vault.StoredKey, error)) (keys []vault.StoredKey, created bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", lockVault); err != nil {
			return fmt.Errorf("lock vault keys: %w", err)
		}
		if keys, err = vaultKeys(ctx, tx); err != nil || len(keys) > 0 {
			return err
		}
		fresh, err := create()
		if err != nil {
			return err
		}
		for _, k := range fresh {
			if err := tx.QueryRow(ctx, "INSERT INTO vault_keys (kind, sealed, created_at) VALUES ($1, $2, $3) RETURNING id",
				string(k.Kind), k.Sealed, k.CreatedAt).Scan(&k.ID); err != nil {
				return fmt.Errorf("store vault key: %w", err)
			}
			keys = append(keys, k)
		}
		created = true
		return nil
	})
	return keys, created, err
}

// ResealVaultKeys replaces the sealed form of vault keys after a master key
// rotation. It updates all of them or none.
func (db *DB) ResealVaultKeys(ctx context.Context, keys []vault.StoredKey) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", lockVault); err != nil {
			return fmt.Errorf("lock vault keys: %w", err)
		}
		for _, k := range keys {
			tag, err := tx.Exec(ctx, "UPDATE vault_keys SET sealed = $2 WHERE id = $1", k.ID, k.Sealed)
			if err != nil {
				return fmt.Errorf("reseal vault key %d: %w", k.ID, err)
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("reseal vault key %d: %w", k.ID, ErrNotFound)
			}
		}
		return nil
	})
}
