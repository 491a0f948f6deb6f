package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
)

// The profiler's store (crm.ProfileStore): who may be profiled, the
// figures of interactions, traits, stages and segments. A nil profile
// list means every profile.

// ProfilingFacts reads the profiles, the consent statements of those
// that made any and the restricted ones.
func (db *DB) ProfilingFacts(ctx context.Context, profiles []uuid.UUID) (*crm.Facts, error) {
	f := &crm.Facts{Events: map[uuid.UUID][]consent.Event{}, Restricted: map[uuid.UUID]bool{}}
	var err error
	if f.Purposes, err = db.Purposes(ctx); err != nil {
		return nil, err
	}
	ids := uuidsOrNil(profiles)
	rows, err := db.pool.Query(ctx, `SELECT id FROM profiles WHERE $1::uuid[] IS NULL OR id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	if f.Profiles, err = pgx.CollectRows(rows, scanID); err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT m.profile_id, e.purpose, e.state, e.at, e.recorded_at, e.expires_at
		FROM consent_events e JOIN profile_members m ON m.record_id = e.record_id
		WHERE $1::uuid[] IS NULL OR m.profile_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("consent of profiles: %w", err)
	}
	var p [16]byte
	var e consent.Event
	_, err = pgx.ForEachRow(rows, []any{&p, &e.Purpose, &e.State, &e.At, &e.RecordedAt, &e.ExpiresAt}, func() error {
		f.Events[p] = append(f.Events[p], e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent of profiles: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT DISTINCT m.profile_id FROM record_restrictions r
		JOIN profile_members m ON m.record_id = r.record_id
		WHERE r.lifted_at IS NULL AND ($1::uuid[] IS NULL OR m.profile_id = ANY($1))`, ids)
	if err != nil {
		return nil, fmt.Errorf("restricted profiles: %w", err)
	}
	_, err = pgx.ForEachRow(rows, []any{&p}, func() error {
		f.Restricted[p] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restricted profiles: %w", err)
	}
	return f, nil
}

// Activities streams the figures of the interactions of profiles.
func (db *DB) Activities(ctx context.Context, profiles []uuid.UUID, each func(crm.Activity)) error {
	rows, err := db.pool.Query(ctx, `SELECT m.profile_id, i.type, i.channel, i.occurred_at,
			coalesce(i.amount, 0)::float8, coalesce(i.cost, 0)::float8, coalesce(i.satisfaction, 0)::int
		FROM interactions i JOIN profile_members m ON m.record_id = i.record_id
		WHERE $1::uuid[] IS NULL OR m.profile_id = ANY($1)`, uuidsOrNil(profiles))
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	var a crm.Activity
	var p [16]byte
	var sat int32
	_, err = pgx.ForEachRow(rows, []any{&p, &a.Type, &a.Channel, &a.At, &a.Amount, &a.Cost, &sat}, func() error {
		a.Profile, a.Satisfaction = p, int(sat)
		each(a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	return nil
}

// Stages reads the lifecycle stages of profiled profiles.
func (db *DB) Stages(ctx context.Context, profiles []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT profile_id, lifecycle FROM profile_traits WHERE $1::uuid[] IS NULL OR profile_id = ANY($1)`, uuidsOrNil(profiles))
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	out := map[uuid.UUID]string{}
	var p [16]byte
	var s string
	_, err = pgx.ForEachRow(rows, []any{&p, &s}, func() error {
		out[p] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	return out, nil
}

// LatestModel reads the last full computation's model (nil: none yet).
func (db *DB) LatestModel(ctx context.Context) (*crm.Model, error) {
	var m crm.Model
	var id [16]byte
	err := db.pool.QueryRow(ctx, `SELECT id, computed_at, as_of, profiled, excluded, params FROM trait_models
		ORDER BY computed_at DESC LIMIT 1`).Scan(&id, &m.ComputedAt, &m.AsOf, &m.Profiled, &m.Excluded, &m.Params)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trait model: %w", err)
	}
	m.ID = id
	return &m, nil
}

// SaveProfiling writes one computation in one transaction: a full run
// replaces every profile's traits, an incremental one those it computed
// and forgets those no longer allowed.
func (db *DB) SaveProfiling(ctx context.Context, run *crm.Run) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var model any
		if run.Model != nil {
			model = [16]byte(run.Model.ID)
		}
		if run.Full {
			if run.Model != nil {
				m := run.Model
				if _, err := tx.Exec(ctx, `INSERT INTO trait_models (id, computed_at, as_of, profiled, excluded, params)
					VALUES ($1, $2, $3, $4, $5, $6)`, [16]byte(m.ID), m.ComputedAt, m.AsOf, m.Profiled, m.Excluded, m.Params); err != nil {
					return err
				}
			}
			// Anything queued before now is covered by this run.
			if _, err := tx.Exec(ctx, "DELETE FROM trait_queue"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM profile_traits"); err != nil {
				return err
			}
		} else {
			ids := make([]uuid.UUID, 0, len(run.Traits)+len(run.Forget))
			for i := range run.Traits {
				ids = append(ids, run.Traits[i].Profile)
			}
			for id := range run.Forget {
				ids = append(ids, id)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM profile_traits WHERE profile_id = ANY($1)", uuids(ids)); err != nil {
				return err
			}
		}
		forget := make([]uuid.UUID, 0, len(run.Forget))
		for id := range run.Forget {
			forget = append(forget, id)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM lifecycle_changes WHERE profile_id = ANY($1)", uuids(forget)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"profile_traits"},
			[]string{"profile_id", "computed_at", "as_of", "model_id", "interactions", "lifecycle", "tier", "revenue", "traits"},
			pgx.CopyFromSlice(len(run.Traits), func(i int) ([]any, error) {
				t := &run.Traits[i]
				body, err := json.Marshal(t)
				if err != nil {
					return nil, err
				}
				asOf := run.At
				if run.Model != nil {
					asOf = run.Model.AsOf
				}
				return []any{[16]byte(t.Profile), run.At, asOf, model, t.Interactions, t.Lifecycle, t.Tier, t.Revenue, body}, nil
			}))
		if err != nil {
			return fmt.Errorf("write traits: %w", err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"lifecycle_changes"}, []string{"profile_id", "at", "from_stage", "to_stage", "rule", "evidence"},
			pgx.CopyFromSlice(len(run.Changes), func(i int) ([]any, error) {
				c := &run.Changes[i]
				var from *string
				if c.From != "" {
					from = &c.From
				}
				return []any{c.Profile, run.At, from, c.To, c.Rule, c.Evidence}, nil
			}))
		if err != nil {
			return fmt.Errorf("write stage changes: %w", err)
		}
		return nil
	})
}

// TakeQueued takes up to limit stale profiles off the queue.
func (db *DB) TakeQueued(ctx context.Context, limit int) ([]uuid.UUID, int, error) {
	var total int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM trait_queue").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("trait queue: %w", err)
	}
	rows, err := db.pool.Query(ctx, `DELETE FROM trait_queue WHERE profile_id IN (
		SELECT profile_id FROM trait_queue LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING profile_id`, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("trait queue: %w", err)
	}
	ids, err := pgx.CollectRows(rows, scanID)
	if err != nil {
		return nil, 0, fmt.Errorf("trait queue: %w", err)
	}
	return ids, total, nil
}

const segmentColumns = `s.id, s.name, s.purpose, s.condition, s.description, s.significant, s.created_by, s.created_at, s.refreshed_at,
	(SELECT count(*) FROM segment_members m WHERE m.segment_id = s.id)`

func scanSegment(r pgx.CollectableRow) (crm.Segment, error) {
	var s crm.Segment
	var id [16]byte
	err := r.Scan(&id, &s.Name, &s.Purpose, &s.Condition, &s.Description, &s.Significant, &s.CreatedBy, &s.CreatedAt, &s.RefreshedAt, &s.Members)
	s.ID = id
	return s, err
}

// Segments lists the segments by name.
func (db *DB) Segments(ctx context.Context) ([]crm.Segment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+segmentColumns+` FROM segments s ORDER BY s.name`)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSegment)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	return out, nil
}

// ErrNoSegment reports a segment that does not exist.
var ErrNoSegment = errors.New("no such segment")

// Segment reads one segment by name.
func (db *DB) Segment(ctx context.Context, name string) (crm.Segment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+segmentColumns+` FROM segments s WHERE s.name = $1`, name)
	if err != nil {
		return crm.Segment{}, fmt.Errorf("segment: %w", err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSegment)
	if errors.Is(err, pgx.ErrNoRows) {
		return crm.Segment{}, ErrNoSegment
	}
	return s, err
}

// ErrSegmentExists reports a segment name already taken.
var ErrSegmentExists = errors.New("a segment of that name exists")

// CreateSegment saves a new segment.
func (db *DB) CreateSegment(ctx context.Context, s crm.Segment) (crm.Segment, error) {
	s.ID = uuid.New()
	err := db.pool.QueryRow(ctx, `INSERT INTO segments (id, name, purpose, condition, description, significant, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING created_at`,
		[16]byte(s.ID), s.Name, s.Purpose, s.Condition, s.Description, s.Significant, s.CreatedBy).Scan(&s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return crm.Segment{}, ErrSegmentExists
	}
	if err != nil {
		return crm.Segment{}, fmt.Errorf("create segment: %w", err)
	}
	return s, nil
}

// DeleteSegment deletes a segment with its memberships and history.
func (db *DB) DeleteSegment(ctx context.Context, name string) error {
	tag, err := db.pool.Exec(ctx, "DELETE FROM segments WHERE name = $1", name)
	if err != nil {
		return fmt.Errorf("delete segment: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSegment
	}
	return nil
}

// SegmentMembers reads the members of a segment among profiles.
func (db *DB) SegmentMembers(ctx context.Context, segment uuid.UUID, profiles []uuid.UUID) (map[uuid.UUID]bool, error) {
	rows, err := db.pool.Query(ctx, `SELECT profile_id FROM segment_members WHERE segment_id = $1
		AND ($2::uuid[] IS NULL OR profile_id = ANY($2))`, [16]byte(segment), uuidsOrNil(profiles))
	if err != nil {
		return nil, fmt.Errorf("segment members: %w", err)
	}
	out := map[uuid.UUID]bool{}
	var p [16]byte
	_, err = pgx.ForEachRow(rows, []any{&p}, func() error {
		out[p] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("segment members: %w", err)
	}
	return out, nil
}

// ApplySegment writes who entered and left a segment, with the history.
func (db *DB) ApplySegment(ctx context.Context, segment uuid.UUID, changes []crm.Change, at time.Time, full bool) error {
	var in, out [][16]byte
	var inWhy, outWhy []string
	for _, c := range changes {
		if c.Entered {
			in, inWhy = append(in, c.Profile), append(inWhy, c.Reason)
		} else {
			out, outWhy = append(out, c.Profile), append(outWhy, c.Reason)
		}
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		seg := [16]byte(segment)
		if _, err := tx.Exec(ctx, `DELETE FROM segment_members WHERE segment_id = $1 AND profile_id = ANY($2)`, seg, out); err != nil {
			return err
		}
		// A profile erased or merged away since it was read is skipped.
		if _, err := tx.Exec(ctx, `INSERT INTO segment_members (segment_id, profile_id, entered_at)
			SELECT $1, p.id, $3 FROM unnest($2::uuid[]) AS n(id) JOIN profiles p ON p.id = n.id
			ON CONFLICT DO NOTHING`, seg, in, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO segment_changes (segment_id, profile_id, at, change, reason)
			SELECT $1, c.id, $2, c.change, c.reason FROM (
				SELECT id, 'entered' AS change, reason FROM unnest($3::uuid[], $4::text[]) AS t(id, reason)
				UNION ALL SELECT id, 'left', reason FROM unnest($5::uuid[], $6::text[]) AS t(id, reason)) c
			JOIN profiles p ON p.id = c.id`, seg, at, in, inWhy, out, outWhy); err != nil {
			return err
		}
		if full {
			if _, err := tx.Exec(ctx, "UPDATE segments SET refreshed_at = $2 WHERE id = $1", seg, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// ProfiledTraits streams stored traits.
func (db *DB) ProfiledTraits(ctx context.Context, profiles []uuid.UUID, each func(*crm.Traits)) error {
	rows, err := db.pool.Query(ctx, `SELECT profile_id, traits FROM profile_traits WHERE $1::uuid[] IS NULL OR profile_id = ANY($1)`,
		uuidsOrNil(profiles))
	if err != nil {
		return fmt.Errorf("traits: %w", err)
	}
	var p [16]byte
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&p, &body}, func() error {
		t := &crm.Traits{}
		if err := json.Unmarshal(body, t); err != nil {
			return err
		}
		t.Profile = p
		each(t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("traits: %w", err)
	}
	return nil
}
