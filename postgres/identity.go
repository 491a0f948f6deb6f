package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/resolver"
)

// LockResolution takes the resolution lock on a connection of its own and
// returns the function that releases it.
func (db *DB) LockResolution(ctx context.Context) (func(), error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolution lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, 0)", lockResolution); err != nil {
		conn.Release()
		return nil, fmt.Errorf("resolution lock: %w", err)
	}
	return func() {
		conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, 0)", lockResolution)
		conn.Release()
	}, nil
}

const matchColumns = `r.id, r.source, coalesce(m.profile_id, '00000000-0000-0000-0000-000000000000'), r.kek_id, r.wrapped_key, r.match`

// scanMatches reads rows of matchColumns, handing them to each in batches
// of up to batch rows (each batch a slice of its own, for the callee to
// keep); expect is a guess at their number, passed along.
func scanMatches(rows pgx.Rows, batch, expect int, each func([]resolver.StoredMatch, int) error) error {
	defer rows.Close()
	out := make([]resolver.StoredMatch, 0, min(batch, max(expect, 16)))
	sources := map[string]string{} // one string per source name, not per row
	for rows.Next() {
		var s resolver.StoredMatch
		var id, profile [16]byte
		var source pgtype.DriverBytes
		if err := rows.Scan(&id, &source, &profile, &s.KEK, &s.Wrapped, &s.Match); err != nil {
			return fmt.Errorf("read match keys: %w", err)
		}
		name, ok := sources[string(source)]
		if !ok {
			name = string(source)
			sources[name] = name
		}
		s.ID, s.Source, s.Profile = id, name, profile
		out = append(out, s)
		if len(out) == batch {
			if err := each(out, expect); err != nil {
				return err
			}
			out = make([]resolver.StoredMatch, 0, batch)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read match keys: %w", err)
	}
	if len(out) > 0 {
		return each(out, expect)
	}
	return nil
}

// collectMatches reads rows of matchColumns into one slice.
func collectMatches(rows pgx.Rows) ([]resolver.StoredMatch, error) {
	var all []resolver.StoredMatch
	err := scanMatches(rows, math.MaxInt, 0, func(b []resolver.StoredMatch, _ int) error {
		all = b
		return nil
	})
	return all, err
}

// EachMatches streams every record's sealed match keys, oldest id first,
// in batches (see resolver.Store).
func (db *DB) EachMatches(ctx context.Context, batch int, each func(batch []resolver.StoredMatch, expect int) error) error {
	// The planner's estimate of the records, for the caller to size what
	// it builds.
	var estimate float64
	if err := db.pool.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass").Scan(&estimate); err != nil {
		return fmt.Errorf("read match keys: %w", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+matchColumns+`
		FROM records r LEFT JOIN profile_members m ON m.record_id = r.id
		WHERE r.wrapped_key IS NOT NULL ORDER BY r.id`)
	if err != nil {
		return fmt.Errorf("read match keys: %w", err)
	}
	return scanMatches(rows, max(batch, 1), int(min(max(estimate*1.05, 0), 1<<27)), each)
}

// ProfileMatches returns the records of the given profiles.
func (db *DB) ProfileMatches(ctx context.Context, profiles []uuid.UUID) ([]resolver.StoredMatch, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+matchColumns+`
		FROM profile_members m JOIN records r ON r.id = m.record_id
		WHERE m.profile_id = ANY($1) AND r.wrapped_key IS NOT NULL ORDER BY r.id`, uuids(profiles))
	if err != nil {
		return nil, fmt.Errorf("read profile records: %w", err)
	}
	return collectMatches(rows)
}

// candidateColumns are the indexed columns a new record finds its
// candidates by.
var candidateColumns = []string{"email_index", "phone_index", "national_id_index", "name_key", "birth_key", "place_key"}

// Neighbourhood returns the records concerned by resolving ids (see
// resolver.Store).
func (db *DB) Neighbourhood(ctx context.Context, ids []uuid.UUID, maxShared int) ([]resolver.StoredMatch, error) {
	scope := map[[16]byte]bool{}
	for _, id := range ids {
		scope[id] = true
	}
	for _, col := range candidateColumns {
		// For each key of the given records, the records that share it;
		// a key shared by more than maxShared is too common and skipped.
		rows, err := db.pool.Query(ctx, `
			SELECT s.k, c.ids FROM (
				SELECT DISTINCT `+col+` AS k FROM records WHERE id = ANY($1) AND `+col+` IS NOT NULL
			) s CROSS JOIN LATERAL (
				SELECT array_agg(id) AS ids FROM (SELECT id FROM records WHERE `+col+` = s.k LIMIT $2) l
			) c`, uuids(ids), maxShared+1)
		if err != nil {
			return nil, fmt.Errorf("find candidates by %s: %w", col, err)
		}
		for rows.Next() {
			var k []byte
			var found [][16]byte
			if err := rows.Scan(&k, &found); err != nil {
				rows.Close()
				return nil, fmt.Errorf("find candidates by %s: %w", col, err)
			}
			if len(found) > maxShared {
				continue
			}
			for _, id := range found {
				scope[id] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find candidates by %s: %w", col, err)
		}
	}
	all := make([][16]byte, 0, len(scope))
	for id := range scope {
		all = append(all, id)
	}
	// Whole profiles: every record of every profile a scope record is in,
	// each with its profile as the lookup found it. Joining the
	// memberships again for that made PostgreSQL hash both whole tables:
	// 1.9 s for a write of 500 records at a million, 0.5 s this way.
	rows, err := db.pool.Query(ctx, `
		WITH s AS (SELECT unnest($1::uuid[]) AS id),
		sm AS MATERIALIZED (SELECT s.id, m.profile_id FROM s LEFT JOIN profile_members m ON m.record_id = s.id),
		m AS (SELECT x.record_id AS id, x.profile_id
				FROM (SELECT DISTINCT profile_id FROM sm WHERE profile_id IS NOT NULL) p JOIN profile_members x USING (profile_id)
			UNION SELECT id, profile_id FROM sm WHERE profile_id IS NULL)
		SELECT `+matchColumns+` FROM m JOIN records r USING (id)
		WHERE r.wrapped_key IS NOT NULL ORDER BY r.id`, all)
	if err != nil {
		return nil, fmt.Errorf("read neighbourhood: %w", err)
	}
	return collectMatches(rows)
}

// Constraints returns the steward constraints among the given records (all
// of them when ids is nil).
func (db *DB) Constraints(ctx context.Context, ids []uuid.UUID) ([]identity.Constraint, error) {
	var rows pgx.Rows
	var err error
	if ids == nil {
		rows, err = db.pool.Query(ctx, "SELECT record_a, record_b, same FROM identity_constraints")
	} else {
		rows, err = db.pool.Query(ctx, `SELECT record_a, record_b, same FROM identity_constraints
			WHERE record_a = ANY($1) AND record_b = ANY($1)`, uuids(ids))
	}
	if err != nil {
		return nil, fmt.Errorf("read constraints: %w", err)
	}
	defer rows.Close()
	var out []identity.Constraint
	for rows.Next() {
		var a, b [16]byte
		var c identity.Constraint
		if err := rows.Scan(&a, &b, &c.Same); err != nil {
			return nil, fmt.Errorf("read constraints: %w", err)
		}
		c.A, c.B = uuid.UUID(a).String(), uuid.UUID(b).String()
		out = append(out, c)
	}
	return out, rows.Err()
}

// ActiveModel returns the active model and its version.
func (db *DB) ActiveModel(ctx context.Context) (*identity.Model, int, error) {
	var data []byte
	var version int
	err := db.pool.QueryRow(ctx, "SELECT version, model FROM identity_models WHERE active").Scan(&version, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, fmt.Errorf("no trained model: %w", ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read model: %w", err)
	}
	m, err := identity.ParseModel(data)
	if err != nil {
		return nil, 0, fmt.Errorf("model version %d: %w", version, err)
	}
	m.Version = version
	return m, version, nil
}

// SaveModel stores a model as the new active version.
func (db *DB) SaveModel(ctx context.Context, m *identity.Model) (int, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode model: %w", err)
	}
	var version int
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE identity_models SET active = false WHERE active"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO identity_models (trained_at, records, model, active)
			VALUES ($1, $2, $3, true) RETURNING version`, m.TrainedAt, m.Records, data).Scan(&version)
	})
	if err != nil {
		return 0, fmt.Errorf("save model: %w", err)
	}
	return version, nil
}

// Models lists the stored model versions, newest first.
func (db *DB) Models(ctx context.Context) ([]ModelInfo, error) {
	rows, err := db.pool.Query(ctx, "SELECT version, trained_at, records, active FROM identity_models ORDER BY version DESC")
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ModelInfo, error) {
		var m ModelInfo
		err := r.Scan(&m.Version, &m.TrainedAt, &m.Records, &m.Active)
		return m, err
	})
}

// ModelInfo describes a stored model version.
type ModelInfo struct {
	Version   int
	TrainedAt time.Time
	Records   int
	Active    bool
}

// ReviewPair returns a review pair.
func (db *DB) ReviewPair(ctx context.Context, id uuid.UUID) (resolver.OpenReview, error) {
	var rp resolver.OpenReview
	var a, b [16]byte
	err := db.pool.QueryRow(ctx, "SELECT id, record_a, record_b, decided_at IS NOT NULL FROM review_pairs WHERE id = $1", [16]byte(id)).
		Scan(&rp.ID, &a, &b, &rp.Decided)
	if errors.Is(err, pgx.ErrNoRows) {
		return rp, fmt.Errorf("review pair %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return rp, fmt.Errorf("review pair: %w", err)
	}
	rp.A, rp.B = a, b
	return rp, nil
}

// IdentityCounts summarises the identity store.
type IdentityCounts struct {
	Records, Resolved, Profiles, OpenReview, Decisions int64
}

// IdentityCounts counts records, profiles, open review pairs and decisions.
func (db *DB) IdentityCounts(ctx context.Context) (IdentityCounts, error) {
	var c IdentityCounts
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM records),
		(SELECT count(*) FROM profile_members),
		(SELECT count(*) FROM profiles),
		(SELECT count(*) FROM review_pairs WHERE decided_at IS NULL),
		(SELECT count(*) FROM steward_decisions)`).Scan(&c.Records, &c.Resolved, &c.Profiles, &c.OpenReview, &c.Decisions)
	if err != nil {
		return c, fmt.Errorf("identity counts: %w", err)
	}
	return c, nil
}
