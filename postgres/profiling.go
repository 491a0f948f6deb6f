package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
)

// The profiler's store (crm.ProfileStore): who may be profiled, the
// figures of interactions, traits, stages and segments. A nil profile
// list means every profile.

// ProfilingFacts reads the profiles, the consent statements of those
// that made any and the restricted ones.
func (db *DB) ProfilingFacts(ctx context.Context, profiles []uuid.UUID) (*crm.Facts, error) {
	f := &crm.Facts{Events: map[uuid.UUID][]consent.Event{}, Restricted: map[uuid.UUID]bool{}}
	// The snapshot before any fact is read: a stop it cannot see may
	// have come too late for the reads below, and is applied when what
	// was computed is written (stoppedSince).
	if err := db.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&f.Since); err != nil {
		return nil, fmt.Errorf("profiling snapshot: %w", err)
	}
	var err error
	if f.Purposes, err = db.Purposes(ctx); err != nil {
		return nil, err
	}
	ids := uuidsOrNil(profiles)
	rows, err := db.pool.Query(ctx, `SELECT id FROM profiles WHERE `+anyOf("id", "$1", profiles), ids)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	if f.Profiles, err = pgx.CollectRows(rows, scanID); err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT m.profile_id, e.purpose, e.state, e.at, e.recorded_at, e.expires_at
		FROM consent_events e JOIN profile_members m ON m.record_id = e.record_id
		WHERE `+anyOf("m.profile_id", "$1", profiles), ids)
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
		WHERE r.lifted_at IS NULL AND `+anyOf("m.profile_id", "$1", profiles), ids)
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
	if profiles == nil {
		return db.allActivities(ctx, each)
	}
	rows, err := db.pool.Query(ctx, `SELECT m.profile_id, `+activityColumns+`
		FROM interactions i JOIN profile_members m ON m.record_id = i.record_id
		WHERE m.profile_id = ANY($1) AND `+servesProfiling, uuids(profiles))
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	var p [16]byte
	r := newActivityRow()
	_, err = pgx.ForEachRow(rows, append([]any{&p}, r.fields...), func() error {
		each(r.activity(p))
		return nil
	})
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	return nil
}

// allActivities reads every interaction without joining it to its
// profile: the memberships are read first and the join is a map lookup
// here. At 10,000,000 interactions of 2,300,000 records PostgreSQL took
// 8.2 s to join them (a nested loop over a memoized index scan; 5.9 s as
// a hash join) and 2.9 s to only scan them. Both reads see one snapshot.
func (db *DB) allActivities(ctx context.Context, each func(crm.Activity)) error {
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Sized by the planner's estimate: counting would read the table
		// once more.
		var n float64
		if err := tx.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'profile_members'::regclass").Scan(&n); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		profileOf := make(map[[16]byte][16]byte, int(max(n, 0)))
		rows, err := tx.Query(ctx, "SELECT record_id, profile_id FROM profile_members")
		if err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		var rec, p [16]byte
		if _, err := pgx.ForEachRow(rows, []any{&rec, &p}, func() error {
			profileOf[rec] = p
			return nil
		}); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT record_id, `+activityColumns+` FROM interactions i WHERE `+servesProfiling)
		if err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		r := newActivityRow()
		if _, err := pgx.ForEachRow(rows, append([]any{&rec}, r.fields...), func() error {
			// An interaction of a record in no profile has no one to
			// count for, as in a join.
			if p, ok := profileOf[rec]; ok {
				each(r.activity(p))
			}
			return nil
		}); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		return nil
	})
}

// servesProfiling keeps the interactions (alias i) of the sources whose
// records may serve profiling (crm.ServesProfiling): those that name no
// purposes, and those that name it. A source collected for named purposes (the newsletter, under
// consent, for marketing) is left out of every person's figures, as the
// policy leaves it out of a read for another purpose: support read what
// the newsletter holds of people who never consented through their
// traits' counts. Whether a person may be profiled at all is decided
// apart (crm.Facts).
const servesProfiling = `i.source IN (SELECT name FROM sources WHERE purposes = '{}' OR '` + crm.ProfilingPurpose + `' = ANY (purposes))`

// activityColumns are an interaction's figures, in the order activityRow
// scans them.
const activityColumns = `type, channel, occurred_at,
	coalesce(amount, 0)::float8, coalesce(cost, 0)::float8, coalesce(satisfaction, 0)::int`

// activityRow scans an interaction's figures. Types and channels are a
// few words repeated millions of times: they are read from the driver's
// buffer and shared, not copied into a new string for every row.
type activityRow struct {
	a            crm.Activity
	typ, channel pgtype.DriverBytes
	sat          int32
	fields       []any
	words        map[string]string
}

func newActivityRow() *activityRow {
	r := &activityRow{words: map[string]string{}}
	r.fields = []any{&r.typ, &r.channel, &r.a.At, &r.a.Amount, &r.a.Cost, &r.sat}
	return r
}

func (r *activityRow) word(b []byte) string {
	if s, ok := r.words[string(b)]; ok {
		return s
	}
	s := string(b)
	r.words[s] = s
	return s
}

func (r *activityRow) activity(profile [16]byte) crm.Activity {
	a := r.a
	a.Profile, a.Type, a.Channel, a.Satisfaction = profile, r.word(r.typ), r.word(r.channel), int(r.sat)
	return a
}

// Stages reads the lifecycle stages of profiled profiles.
func (db *DB) Stages(ctx context.Context, profiles []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT profile_id, lifecycle FROM profile_traits WHERE `+anyOf("profile_id", "$1", profiles), uuidsOrNil(profiles))
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
// replaces every profile's traits (those it did not compute are deleted),
// an incremental one those it computed and forgets those no longer
// allowed.
func (db *DB) SaveProfiling(ctx context.Context, run *crm.Run) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// One computation writes at a time: a refresh and a full run
		// never interleave their deletes and inserts.
		if err := profilingLock(ctx, tx, profilingLockCall); err != nil {
			return err
		}
		// Notes of stops are needed while a computation that began before
		// them may still write: a day, dropped once per computation.
		if _, err := tx.Exec(ctx, "DELETE FROM profiling_stops WHERE at < now() - interval '1 day'"); err != nil {
			return fmt.Errorf("profiling stops: %w", err)
		}
		stopped, err := stoppedSince(ctx, tx, run.Since, "")
		if err != nil {
			return err
		}
		if len(stopped) > 0 {
			run.Traits = slices.DeleteFunc(run.Traits, func(t crm.Traits) bool { return stopped[t.Profile] })
			run.Changes = slices.DeleteFunc(run.Changes, func(c crm.StageChange) bool { return stopped[c.Profile] })
			for id := range stopped {
				run.Forget[id] = "stopped during the computation"
			}
		}
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
		}
		// The new traits are staged and merged: a row that exists is
		// updated in place (a heap-only update: the table keeps room on
		// its pages, migration 0019, and neither its indexes nor its
		// foreign key to profiles are touched, unless the lifecycle stage,
		// which is indexed, changed), a new one inserted. A full
		// run of a million profiles used to delete every row and copy
		// them all in again, 35 of its 59 s, and left a million dead rows.
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE traits_next (LIKE profile_traits) ON COMMIT DROP`); err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"traits_next"},
			[]string{"profile_id", "computed_at", "as_of", "model_id", "interactions", "lifecycle", "tier", "revenue", "traits"},
			pgx.CopyFromSlice(len(run.Traits), func(i int) ([]any, error) {
				t := &run.Traits[i]
				body, err := json.Marshal(t)
				if err != nil {
					return nil, err
				}
				return []any{[16]byte(t.Profile), run.At, run.AsOf, model, t.Interactions, t.Lifecycle, t.Tier, t.Revenue, body}, nil
			}))
		if err != nil {
			return fmt.Errorf("write traits: %w", err)
		}
		// Profiles merged away or erased since the facts were read: their
		// rows would break the key to profiles and fail the whole write.
		rows, err := tx.Query(ctx, `DELETE FROM traits_next n WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = n.profile_id)
			RETURNING n.profile_id`)
		if err != nil {
			return fmt.Errorf("write traits: %w", err)
		}
		gone, err := pgx.CollectRows(rows, scanID)
		if err != nil {
			return fmt.Errorf("write traits: %w", err)
		}
		if len(gone) > 0 {
			run.Changes = slices.DeleteFunc(run.Changes, func(c crm.StageChange) bool { return slices.Contains(gone, c.Profile) })
		}
		if _, err := tx.Exec(ctx, "ANALYZE traits_next"); err != nil { // the merge's plan needs its size
			return err
		}
		forget := make([]uuid.UUID, 0, len(run.Forget))
		for id := range run.Forget {
			forget = append(forget, id)
		}
		b := &pgx.Batch{}
		if run.Full {
			// Everyone the run did not compute, whether forgotten or gone;
			// and the queue it claimed before it read (ClaimQueue).
			b.Queue("DELETE FROM profile_traits t WHERE NOT EXISTS (SELECT 1 FROM traits_next n WHERE n.profile_id = t.profile_id)")
			b.Queue("DELETE FROM trait_queue WHERE claimed")
		} else {
			b.Queue("DELETE FROM profile_traits WHERE profile_id = ANY($1)", uuids(forget))
		}
		b.Queue(`MERGE INTO profile_traits t USING traits_next n ON t.profile_id = n.profile_id
			WHEN MATCHED THEN UPDATE SET computed_at = n.computed_at, as_of = n.as_of, model_id = n.model_id,
				interactions = n.interactions, lifecycle = n.lifecycle, tier = n.tier, revenue = n.revenue, traits = n.traits
			WHEN NOT MATCHED THEN INSERT (profile_id, computed_at, as_of, model_id, interactions, lifecycle, tier, revenue, traits)
				VALUES (n.profile_id, n.computed_at, n.as_of, n.model_id, n.interactions, n.lifecycle, n.tier, n.revenue, n.traits)`)
		b.Queue("DELETE FROM lifecycle_changes WHERE profile_id = ANY($1)", uuids(forget))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
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

// The profiling lock (migration 0021): a profiling write (SaveProfiling,
// ApplySegment) holds it; a stop of profiling takes it shared, and so
// does a transaction that changes profiles' rows and may then stop
// someone's profiling, before any of those rows, so that it never holds
// rows a profiling write waits for while it waits for that write. The
// calls name the key forget_profiling uses.
const (
	profilingLockCall       = "pg_advisory_xact_lock(hashtext('cdp.profiling'))"
	profilingLockSharedCall = "pg_advisory_xact_lock_shared(hashtext('cdp.profiling'))"
)

// profilingLock takes the profiling lock with call (one of the two above).
func profilingLock(ctx context.Context, tx pgx.Tx, call string) error {
	if _, err := tx.Exec(ctx, "SELECT "+call); err != nil {
		return fmt.Errorf("profiling lock: %w", err)
	}
	return nil
}

// stoppedSince returns the people who stopped being profiled (for all
// profiling, or for purpose too when given) in transactions the snapshot
// since could not see: committed after it, or running then (migration
// 0021). The caller holds the profiling lock, so no stop is still running
// now.
func stoppedSince(ctx context.Context, tx pgx.Tx, since, purpose string) (map[uuid.UUID]bool, error) {
	if since == "" {
		return nil, fmt.Errorf("profiling write: %w: the facts' snapshot is missing", ErrInvalid)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT profile_id FROM profiling_stops
		WHERE NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)
		AND (purpose IS NULL OR purpose = 'profiling' OR purpose = $2)`, since, purpose)
	if err != nil {
		return nil, fmt.Errorf("profiling stops: %w", err)
	}
	ids, err := pgx.CollectRows(rows, scanID)
	if err != nil {
		return nil, fmt.Errorf("profiling stops: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// ClaimQueue marks every queued profile claimed by the full computation
// about to read (crm.ProfileStore; migration 0024): its save deletes the
// claimed rows, and a profile queued after this gets a row of its own.
// It then waits, at most claimWait, for the transactions that had written
// to the queue and were still running as it claimed, so that the
// computation's reads see what they wrote: one that found its profile
// already queued added no row of its own. (Every writer of the queue
// holds a lock on the table until it ends, found in pg_locks with its
// transaction id.)
func (db *DB) ClaimQueue(ctx context.Context) error {
	var writers []string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE trait_queue SET claimed = true WHERE NOT claimed"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT x.transactionid::text), '{}') FROM pg_locks q
			JOIN pg_locks x ON x.pid = q.pid AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock'
			WHERE q.locktype = 'relation' AND q.relation = 'public.trait_queue'::regclass
				AND q.database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND q.pid <> pg_backend_pid()`).Scan(&writers)
	})
	if err != nil {
		return fmt.Errorf("claim the trait queue: %w", err)
	}
	if len(writers) == 0 {
		return nil
	}
	for deadline := time.Now().Add(claimWait); ; {
		var running bool
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'transactionid' AND transactionid::text = ANY($1))`, writers).Scan(&running); err != nil {
			return fmt.Errorf("claim the trait queue: %w", err)
		}
		if !running || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// claimWait bounds ClaimQueue's wait for the transactions running as it
// claims: writes of profiles take well under it. One that runs longer and
// found its profile already queued is left to the next full computation.
const claimWait = 30 * time.Second

// Requeue queues profiles again after a computation that took them
// failed.
func (db *DB) Requeue(ctx context.Context, profiles []uuid.UUID) error {
	if _, err := db.pool.Exec(ctx, "INSERT INTO trait_queue (profile_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING",
		uuids(profiles)); err != nil {
		return fmt.Errorf("trait queue: %w", err)
	}
	return nil
}

// TakeQueued takes up to limit stale profiles off the queue. When the
// queue holds the nil id (every profile is stale, migration 0017), it
// takes nothing and says so: the full computation that follows claims the
// whole queue. The caller holds the refresh lock (HoldRefresh), so no full
// computation runs: rows still claimed are those of one that died, and
// are taken back first.
func (db *DB) TakeQueued(ctx context.Context, limit int) ([]uuid.UUID, int, bool, error) {
	var total int
	var every bool
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM trait_queue c WHERE c.claimed
		AND EXISTS (SELECT 1 FROM trait_queue w WHERE NOT w.claimed AND w.profile_id = c.profile_id)`)
	b.Queue(`UPDATE trait_queue c SET claimed = false WHERE c.claimed
		AND NOT EXISTS (SELECT 1 FROM trait_queue w WHERE NOT w.claimed AND w.profile_id = c.profile_id)`)
	b.Queue("SELECT count(*), coalesce(bool_or(profile_id = $1), false) FROM trait_queue", [16]byte(uuid.Nil)).
		QueryRow(func(row pgx.Row) error { return row.Scan(&total, &every) })
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, false, fmt.Errorf("trait queue: %w", err)
	}
	if every {
		return nil, total, true, nil
	}
	rows, err := db.pool.Query(ctx, `DELETE FROM trait_queue WHERE NOT claimed AND profile_id IN (
		SELECT profile_id FROM trait_queue WHERE NOT claimed LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING profile_id`, limit)
	if err != nil {
		return nil, 0, false, fmt.Errorf("trait queue: %w", err)
	}
	ids, err := pgx.CollectRows(rows, scanID)
	if err != nil {
		return nil, 0, false, fmt.Errorf("trait queue: %w", err)
	}
	return ids, total, false, nil
}

// The computation locks (session advisory locks, held on a connection of
// their own for a whole computation, across its transactions): a full
// computation holds it exclusively, a refresh shared, so that neither
// saves what the other computed from older facts over what it saved, in
// this process or any other.
const computationLockKey = "hashtext('cdp.profiling.computation')"

// HoldFull waits for the computation lock, exclusively, and returns its
// release.
func (db *DB) HoldFull(ctx context.Context) (func(), error) {
	release, _, err := db.holdLock(ctx, "SELECT pg_advisory_lock("+computationLockKey+"), true")
	return release, err
}

// HoldRefresh takes the computation lock shared if no full computation
// holds it, and says whether it did.
func (db *DB) HoldRefresh(ctx context.Context) (func(), bool, error) {
	return db.holdLock(ctx, "SELECT NULL, pg_try_advisory_lock_shared("+computationLockKey+")")
}

func (db *DB) holdLock(ctx context.Context, query string) (func(), bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("computation lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, query).Scan(nil, &got); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("computation lock: %w", err)
	}
	if !got {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
			conn.Hijack().Close(ctx) // the session ends, and its locks with it
			return
		}
		conn.Release()
	}, true, nil
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
var ErrNoSegment = derrors.New(derrors.ErrNotFound, "no such segment")

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
var ErrSegmentExists = derrors.New(derrors.ErrConflict, "a segment of that name exists")

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
		AND `+anyOf("profile_id", "$2", profiles), [16]byte(segment), uuidsOrNil(profiles))
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
// Entries of people who stopped being profiled for the segment's
// purpose after since are left out (see SaveProfiling).
func (db *DB) ApplySegment(ctx context.Context, segment uuid.UUID, changes []crm.Change, at time.Time, full bool, since string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		seg := [16]byte(segment)
		if err := profilingLock(ctx, tx, profilingLockCall); err != nil {
			return err
		}
		var purpose string
		if err := tx.QueryRow(ctx, "SELECT purpose FROM segments WHERE id = $1", seg).Scan(&purpose); err != nil {
			return fmt.Errorf("segment %s: %w", segment, err)
		}
		stopped, err := stoppedSince(ctx, tx, since, purpose)
		if err != nil {
			return err
		}
		var in, out [][16]byte
		var inWhy, outWhy []string
		for _, c := range changes {
			switch {
			case c.Entered && stopped[c.Profile]:
			case c.Entered:
				in, inWhy = append(in, c.Profile), append(inWhy, c.Reason)
			default:
				out, outWhy = append(out, c.Profile), append(outWhy, c.Reason)
			}
		}
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

// ProfiledTraits streams stored traits; with names, only those (read
// out of the document in SQL, so that a segment over a million profiles
// decodes a few values each, not whole documents). Each is its own
// column, set here without a document around it: PostgreSQL took 2.1 s
// to build a million small documents of two values and 1.1 s to only
// take the values out, and decoding the documents was half of a
// segment's refresh here.
func (db *DB) ProfiledTraits(ctx context.Context, profiles []uuid.UUID, names []string, each func(*crm.Traits)) error {
	// Either the whole document or the named traits that are stored, each
	// a column of its own.
	var cols []string
	exprs := []string{"profile_id", "traits"}
	if names != nil {
		exprs = exprs[:1]
		for _, n := range names {
			if !slices.ContainsFunc(crm.Variables, func(v crm.Variable) bool { return v.Name == n }) {
				continue // not a trait (previous_stage): nothing stored
			}
			cols = append(cols, n)
			exprs = append(exprs, "traits->'"+n+"'")
		}
	}
	sel := strings.Join(exprs, ", ")
	rows, err := db.pool.Query(ctx, `SELECT `+sel+` FROM profile_traits WHERE `+anyOf("profile_id", "$1", profiles),
		uuidsOrNil(profiles))
	if err != nil {
		return fmt.Errorf("traits: %w", err)
	}
	var p [16]byte
	values := make([]pgtype.DriverBytes, len(exprs)-1)
	targets := []any{&p}
	for i := range values {
		targets = append(targets, &values[i])
	}
	// The traits of a million profiles are kept by the caller: they are
	// allocated a block at a time, not one by one.
	var block []crm.Traits
	size := 1024
	if profiles != nil {
		size = max(min(size, len(profiles)), 1)
	}
	_, err = pgx.ForEachRow(rows, targets, func() error {
		if len(block) == 0 {
			block = make([]crm.Traits, size)
		}
		t := &block[0]
		block = block[1:]
		if names == nil {
			if err := json.Unmarshal(values[0], t); err != nil {
				return err
			}
		}
		for i, n := range cols {
			if values[i] != nil { // NULL: not stored for this profile
				if err := t.SetTrait(n, values[i]); err != nil {
					return err
				}
			}
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

// ProfileTraits reads a profile's traits, stage history and memberships
// (nil: not profiled).
func (db *DB) ProfileTraits(ctx context.Context, profile uuid.UUID) (*crm.Profiled, error) {
	var p crm.Profiled
	var body []byte
	err := db.pool.QueryRow(ctx, "SELECT computed_at, as_of, traits FROM profile_traits WHERE profile_id = $1", [16]byte(profile)).
		Scan(&p.ComputedAt, &p.AsOf, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("traits: %w", err)
	}
	if err := json.Unmarshal(body, &p.Traits); err != nil {
		return nil, fmt.Errorf("traits: %w", err)
	}
	p.Traits.Profile = profile
	rows, err := db.pool.Query(ctx, `SELECT at, coalesce(from_stage, ''), to_stage, rule, evidence FROM lifecycle_changes
		WHERE profile_id = $1 ORDER BY at`, [16]byte(profile))
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	if p.Stages, err = pgx.CollectRows(rows, pgx.RowToStructByPos[crm.StageRecord]); err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT `+segmentColumns+`, m.entered_at, coalesce(m.review, '')
		FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE m.profile_id = $1 ORDER BY s.name`, [16]byte(profile))
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	p.Segments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (crm.Membership, error) {
		var m crm.Membership
		var id [16]byte
		s := &m.Segment
		err := r.Scan(&id, &s.Name, &s.Purpose, &s.Condition, &s.Description, &s.Significant, &s.CreatedBy, &s.CreatedAt,
			&s.RefreshedAt, &s.Members, &m.EnteredAt, &m.Review)
		s.ID = id
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	return &p, nil
}

// MemberCount is the number of records a profile holds.
func (db *DB) MemberCount(ctx context.Context, profile uuid.UUID) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, "SELECT count(*) FROM profile_members WHERE profile_id = $1", [16]byte(profile)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("records of profile: %w", err)
	}
	return n, nil
}

// SegmentMemberList pages through a segment's members by profile id.
func (db *DB) SegmentMemberList(ctx context.Context, segment, after uuid.UUID, limit int) ([]crm.Member, error) {
	rows, err := db.pool.Query(ctx, `SELECT profile_id, entered_at, coalesce(review, ''), coalesce(reviewed_by, ''), reviewed_at
		FROM segment_members WHERE segment_id = $1 AND profile_id > $2 ORDER BY profile_id LIMIT $3`, [16]byte(segment), [16]byte(after), limit)
	if err != nil {
		return nil, fmt.Errorf("segment members: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (crm.Member, error) {
		var m crm.Member
		var id [16]byte
		err := r.Scan(&id, &m.EnteredAt, &m.Review, &m.ReviewedBy, &m.ReviewedAt)
		m.Profile = id
		return m, err
	})
}

// ReviewMember records a person's review of one decision of a segment;
// ErrNotFound when the profile is not a member.
func (db *DB) ReviewMember(ctx context.Context, segment, profile uuid.UUID, verdict, by string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE segment_members SET review = $3, reviewed_by = $4, reviewed_at = now()
		WHERE segment_id = $1 AND profile_id = $2`, [16]byte(segment), [16]byte(profile), verdict, by)
	if err != nil {
		return fmt.Errorf("review: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("member %s: %w", profile, ErrNotFound)
	}
	return nil
}

// SegmentHistory reads a segment's entries and exits, newest first.
func (db *DB) SegmentHistory(ctx context.Context, segment uuid.UUID, limit int) ([]crm.HistoryEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT profile_id, change, at, reason, activated_at, coalesce(activation, '')
		FROM segment_changes WHERE segment_id = $1 ORDER BY id DESC LIMIT $2`, [16]byte(segment), limit)
	if err != nil {
		return nil, fmt.Errorf("segment history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (crm.HistoryEntry, error) {
		var h crm.HistoryEntry
		var id [16]byte
		err := r.Scan(&id, &h.Change, &h.At, &h.Reason, &h.ActivatedAt, &h.Activation)
		h.Profile = id
		return h, err
	})
}

// SegmentOverlaps counts the members a segment shares with each other.
func (db *DB) SegmentOverlaps(ctx context.Context, segment uuid.UUID) (map[string]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT s.name, count(*) FROM segment_members a
		JOIN segment_members b ON b.profile_id = a.profile_id AND b.segment_id <> a.segment_id
		JOIN segments s ON s.id = b.segment_id WHERE a.segment_id = $1 GROUP BY s.name`, [16]byte(segment))
	if err != nil {
		return nil, fmt.Errorf("overlaps: %w", err)
	}
	return countsByName(rows)
}

// countsByName collects rows of (name, count).
func countsByName(rows pgx.Rows) (map[string]int, error) {
	out := map[string]int{}
	var name string
	var n int
	_, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	})
	return out, err
}

// PendingChanges reads a segment's changes not yet activated, oldest
// first, with the profile's membership now.
func (db *DB) PendingChanges(ctx context.Context, segment uuid.UUID, limit int) ([]crm.Pending, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.id, c.profile_id, c.change, c.at, c.reason, m.profile_id IS NOT NULL, coalesce(m.review, '')
		FROM segment_changes c LEFT JOIN segment_members m ON m.segment_id = c.segment_id AND m.profile_id = c.profile_id
		WHERE c.segment_id = $1 AND c.activated_at IS NULL ORDER BY c.id LIMIT $2`, [16]byte(segment), limit)
	if err != nil {
		return nil, fmt.Errorf("pending changes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (crm.Pending, error) {
		var p crm.Pending
		var id [16]byte
		err := r.Scan(&p.ID, &id, &p.Change, &p.At, &p.Reason, &p.Member, &p.Review)
		p.Profile = id
		return p, err
	})
}

// PendingCount counts a segment's changes not yet activated.
func (db *DB) PendingCount(ctx context.Context, segment uuid.UUID) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, "SELECT count(*) FROM segment_changes WHERE segment_id = $1 AND activated_at IS NULL", [16]byte(segment)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pending changes: %w", err)
	}
	return n, nil
}

// MarkActivated records what activation did with changes.
func (db *DB) MarkActivated(ctx context.Context, ids []int64, outcomes []string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE segment_changes c SET activated_at = $3, activation = o.outcome
		FROM unnest($1::bigint[], $2::text[]) AS o(id, outcome) WHERE c.id = o.id`, ids, outcomes, at)
	if err != nil {
		return fmt.Errorf("mark activated: %w", err)
	}
	return nil
}

// ParetoCurve reads the share of revenue the top customers bring, at
// each percent of the profiled customers with revenue.
func (db *DB) ParetoCurve(ctx context.Context) ([]crm.ParetoPoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT b, sum(revenue)::float8 FROM (
			SELECT revenue, ntile(100) OVER (ORDER BY revenue DESC) AS b FROM profile_traits WHERE revenue > 0) x
		GROUP BY b ORDER BY b`)
	if err != nil {
		return nil, fmt.Errorf("pareto: %w", err)
	}
	var bs []int
	var sums []float64
	var b int
	var sum float64
	if _, err := pgx.ForEachRow(rows, []any{&b, &sum}, func() error {
		bs, sums = append(bs, b), append(sums, sum)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pareto: %w", err)
	}
	total := 0.0
	for _, s := range sums {
		total += s
	}
	out := []crm.ParetoPoint{{}}
	acc := 0.0
	for i := range bs {
		acc += sums[i]
		out = append(out, crm.ParetoPoint{Customers: float64(bs[i]) / float64(len(bs)), Revenue: acc / total})
	}
	return out, nil
}

// LifecycleCounts counts profiled customers per lifecycle stage.
func (db *DB) LifecycleCounts(ctx context.Context) (map[string]int, error) {
	rows, err := db.pool.Query(ctx, "SELECT lifecycle, count(*) FROM profile_traits GROUP BY lifecycle")
	if err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	return countsByName(rows)
}

// TierCounts counts profiled customers and their revenue per tier.
func (db *DB) TierCounts(ctx context.Context) (map[string]int, map[string]float64, error) {
	rows, err := db.pool.Query(ctx, "SELECT tier, count(*), sum(revenue)::float8 FROM profile_traits GROUP BY tier")
	if err != nil {
		return nil, nil, fmt.Errorf("tiers: %w", err)
	}
	n, rev := map[string]int{}, map[string]float64{}
	var s string
	var c int
	var r float64
	_, err = pgx.ForEachRow(rows, []any{&s, &c, &r}, func() error {
		n[s], rev[s] = c, r
		return nil
	})
	return n, rev, err
}

// Cohorts reads monthly retention cohorts of profiled customers who
// first ordered since a month, up to twelve months after.
func (db *DB) Cohorts(ctx context.Context, since time.Time) ([]crm.Cohort, error) {
	rows, err := db.pool.Query(ctx, `WITH o AS (
			SELECT m.profile_id, date_trunc('month', i.occurred_at AT TIME ZONE 'UTC') AS mon
			FROM interactions i JOIN profile_members m ON m.record_id = i.record_id
			JOIN profile_traits t ON t.profile_id = m.profile_id
			WHERE i.type = 'order' AND `+servesProfiling+` GROUP BY 1, 2),
		f AS (SELECT profile_id, min(mon) AS first FROM o GROUP BY 1),
		k AS (SELECT f.first, ((extract(year FROM o.mon) - extract(year FROM f.first)) * 12
			+ extract(month FROM o.mon) - extract(month FROM f.first))::int AS k
			FROM o JOIN f USING (profile_id) WHERE f.first >= $1)
		SELECT first, k, count(*) FROM k WHERE k <= 12 GROUP BY 1, 2 ORDER BY 1, 2`, since)
	if err != nil {
		return nil, fmt.Errorf("cohorts: %w", err)
	}
	var out []crm.Cohort
	var first time.Time
	var k, n int
	_, err = pgx.ForEachRow(rows, []any{&first, &k, &n}, func() error {
		first = time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		if len(out) == 0 || !out[len(out)-1].Month.Equal(first) {
			out = append(out, crm.Cohort{Month: first})
		}
		c := &out[len(out)-1]
		if k == 0 {
			c.Customers = n
		}
		for len(c.Retained) <= k {
			c.Retained = append(c.Retained, 0)
		}
		if c.Customers > 0 {
			c.Retained[k] = float64(n) / float64(c.Customers)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cohorts: %w", err)
	}
	return out, nil
}

// SegmentDestination reads a recipient for activation; ErrNotFound when
// there is none of that name.
func (db *DB) SegmentDestination(ctx context.Context, name string) (crm.Destination, error) {
	var d crm.Destination
	var id [16]byte
	err := db.pool.QueryRow(ctx, `SELECT id, name, url, purposes, kek_id, wrapped_key, secret,
			CASE WHEN previous_until > now() THEN previous_secret END, disabled_at IS NOT NULL
		FROM recipients WHERE name = $1`, name).Scan(&id, &d.Name, &d.URL, &d.Purposes, &d.KEK, &d.Wrapped, &d.Secret, &d.Previous, &d.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("recipient %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("recipient: %w", err)
	}
	d.ID = id
	return d, nil
}

// SetRecipientPurposes maps the purposes for which a recipient may
// receive segments.
func (db *DB) SetRecipientPurposes(ctx context.Context, name string, purposes []string) error {
	if purposes == nil {
		purposes = []string{}
	}
	tag, err := db.pool.Exec(ctx, "UPDATE recipients SET purposes = $2 WHERE name = $1", name, purposes)
	if err != nil {
		return fmt.Errorf("recipient purposes: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("recipient %s: %w", name, ErrNotFound)
	}
	return nil
}

// SaveChartFigures keeps the chart figures computed after the full
// computation of model (migration 0026); a second save of the same
// model's figures keeps the first.
func (db *DB) SaveChartFigures(ctx context.Context, model uuid.UUID, figures []byte) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO chart_figures (model_id, figures) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		[16]byte(model), figures); err != nil {
		return fmt.Errorf("chart figures: %w", err)
	}
	return nil
}

// ChartFigures reads the chart figures kept for model, if any.
func (db *DB) ChartFigures(ctx context.Context, model uuid.UUID) ([]byte, bool, error) {
	var figures []byte
	err := db.pool.QueryRow(ctx, "SELECT figures FROM chart_figures WHERE model_id = $1", [16]byte(model)).Scan(&figures)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("chart figures: %w", err)
	}
	return figures, true, nil
}
