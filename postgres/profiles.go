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
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/resolver"
)

// currentProfile follows a merged profile's redirect to the profile that
// holds its records now.
func currentProfile(ctx context.Context, q pgx.Tx, id uuid.UUID) (uuid.UUID, error) {
	var cur [16]byte
	err := q.QueryRow(ctx, `SELECT id FROM profiles WHERE id = $1
		UNION ALL
		SELECT r.new_id FROM profile_redirects r JOIN profiles p ON p.id = r.new_id
		WHERE r.old_id = $1 AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = $1)`, [16]byte(id)).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("profile %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("profile %s: %w", id, err)
	}
	return cur, nil
}

// currentCTE finds the profile $1 is, or was merged into.
const currentCTE = `WITH cur AS (
		SELECT id FROM profiles WHERE id = $1
		UNION ALL
		SELECT r.new_id FROM profile_redirects r JOIN profiles p ON p.id = r.new_id
		WHERE r.old_id = $1 AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = $1)
		LIMIT 1)`

// ProfileRecords returns the current id of a profile, its records, sealed,
// and the consent events of those records (see access.Store). Records
// whose key was destroyed are left out. Two statements in one pipelined
// round trip: this is the read path's hot query.
func (db *DB) ProfileRecords(ctx context.Context, id uuid.UUID) (uuid.UUID, []identity.StoredRecord, []consent.Event, error) {
	cur, recs, events, _, err := db.profileRead(ctx, id, 0)
	return cur, recs, events, err
}

// ProfileTimeline is ProfileRecords with the newest interactions (at most
// limit) of the records it returns, read in the same round trip: a
// timeline read's one query instead of two.
func (db *DB) ProfileTimeline(ctx context.Context, id uuid.UUID, limit int) (uuid.UUID, []identity.StoredRecord, []consent.Event, []crm.Stored, error) {
	return db.profileRead(ctx, id, max(limit, 1))
}

// profileRead reads a profile's records and consent events and, when
// limit > 0, its newest interactions, in one pipelined batch. The batch
// is one implicit transaction, but each statement takes its own snapshot
// (read committed): a merge committed between them can add rows of a
// record the first statement did not return, which the timeline leaves
// out (access.Service.contacts).
func (db *DB) profileRead(ctx context.Context, id uuid.UUID, limit int) (uuid.UUID, []identity.StoredRecord, []consent.Event, []crm.Stored, error) {
	b := &pgx.Batch{}
	b.Queue(currentCTE+`
		SELECT cur.id, r.id, r.source, r.kek_id, r.wrapped_key, r.attrs, r.version, r.created_at, r.updated_at,
			(SELECT min(x.reason) FROM record_restrictions x WHERE x.record_id = r.id AND x.lifted_at IS NULL)
		FROM cur LEFT JOIN profile_members m ON m.profile_id = cur.id
		LEFT JOIN records r ON r.id = m.record_id AND r.wrapped_key IS NOT NULL
		ORDER BY r.id`, [16]byte(id))
	b.Queue(currentCTE+`
		SELECT `+consentColumns+` FROM cur JOIN profile_members m ON m.profile_id = cur.id
		JOIN consent_events e ON e.record_id = m.record_id`, [16]byte(id))
	if limit > 0 {
		// The records are those of the first statement: a record whose key
		// was destroyed has no interactions to show.
		b.Queue(currentCTE+`
		SELECT `+interactionColumns("i")+` FROM cur JOIN profile_members m ON m.profile_id = cur.id
		JOIN records r ON r.id = m.record_id AND r.wrapped_key IS NOT NULL
		JOIN interactions i ON i.record_id = m.record_id
		ORDER BY i.occurred_at DESC, i.id LIMIT $2`, [16]byte(id), limit)
	}
	br := db.pool.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read profile: %w", err)
	}
	var (
		cur   uuid.UUID
		found bool
		recs  []identity.StoredRecord
	)
	for rows.Next() {
		var (
			pid       [16]byte
			rid       *[16]byte
			r         identity.StoredRecord
			source    *string
			kek       *int32
			version   *int
			createdAt *time.Time
			updatedAt *time.Time
			restrict  *string
		)
		if err := rows.Scan(&pid, &rid, &source, &kek, &r.Wrapped, &r.Attrs, &version, &createdAt, &updatedAt, &restrict); err != nil {
			rows.Close()
			return uuid.Nil, nil, nil, nil, fmt.Errorf("read profile: %w", err)
		}
		cur, found = pid, true
		if rid == nil {
			continue // a profile whose records are all erased
		}
		r.ID, r.Source, r.KEK, r.Version, r.CreatedAt, r.UpdatedAt = *rid, *source, *kek, *version, *createdAt, *updatedAt
		if restrict != nil {
			r.Restriction = *restrict
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read profile: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read consent: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanConsent)
	if err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read consent: %w", err)
	}
	if !found {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("profile %s: %w", id, ErrNotFound)
	}
	if limit <= 0 {
		return cur, recs, events, nil, nil
	}
	rows, err = br.Query()
	if err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read interactions: %w", err)
	}
	contacts, err := pgx.CollectRows(rows, scanInteraction)
	if err != nil {
		return uuid.Nil, nil, nil, nil, fmt.Errorf("read interactions: %w", err)
	}
	return cur, recs, events, contacts, nil
}

// readTx runs fn in a read-only transaction with a consistent snapshot.
func (db *DB) readTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ProfilesByIndex returns the profiles holding a record with the given
// blind index of an email address or phone number, and for each the
// sources of the records that hold it.
func (db *DB) ProfilesByIndex(ctx context.Context, kind string, sum []byte, limit int) ([]uuid.UUID, [][]string, error) {
	var column string
	switch kind {
	case "email":
		column = "email_index"
	case "phone":
		column = "phone_index"
	case "name_key", "birth_key", "place_key": // blocking keys (identity.CandidateRules)
		column = kind
	default:
		return nil, nil, fmt.Errorf("lookup by %q: %w", kind, ErrInvalid)
	}
	rows, err := db.pool.Query(ctx, `SELECT m.profile_id, array_agg(DISTINCT r.source) FROM records r JOIN profile_members m ON m.record_id = r.id
		WHERE r.`+column+` = $1 AND r.wrapped_key IS NOT NULL GROUP BY m.profile_id ORDER BY m.profile_id LIMIT $2`, sum, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("lookup: %w", err)
	}
	var ids []uuid.UUID
	var sources [][]string
	var id [16]byte
	var from []string
	_, err = pgx.ForEachRow(rows, []any{&id, &from}, func() error {
		ids, sources = append(ids, id), append(sources, from)
		from = nil
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lookup: %w", err)
	}
	return ids, sources, nil
}

// ProfileLineage returns how a profile came to be (see resolver.Lineage).
func (db *DB) ProfileLineage(ctx context.Context, id uuid.UUID) (*resolver.Lineage, error) {
	l := &resolver.Lineage{ProfileID: id}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		cur, err := currentProfile(ctx, tx, id)
		if err != nil {
			return err
		}
		l.ProfileID = cur
		p := [16]byte(cur)
		rows, err := tx.Query(ctx, `SELECT r.id, r.source, r.version, r.created_at, r.created_by, r.updated_at
			FROM profile_members m JOIN records r ON r.id = m.record_id WHERE m.profile_id = $1 ORDER BY r.created_at, r.id`, p)
		if err != nil {
			return err
		}
		if l.Records, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolver.LineageRecord, error) {
			var r resolver.LineageRecord
			var rid [16]byte
			err := row.Scan(&rid, &r.Source, &r.Version, &r.CreatedAt, &r.CreatedBy, &r.UpdatedAt)
			r.ID = rid
			return r, err
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT l.record_a, l.record_b, l.probability, l.rule, l.model_version, l.created_at
			FROM identity_links l JOIN profile_members m ON m.record_id = l.record_a
			WHERE m.profile_id = $1 ORDER BY l.record_a, l.record_b`, p)
		if err != nil {
			return err
		}
		if l.Links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolver.LineageLink, error) {
			var k resolver.LineageLink
			var a, b [16]byte
			err := row.Scan(&a, &b, &k.Probability, &k.Rule, &k.ModelVersion, &k.CreatedAt)
			k.A, k.B = a, b
			return k, err
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT d.id, d.kind, d.actor, d.at, d.profiles, d.records, d.kek_id, d.wrapped_key, d.note, d.reverses
			FROM steward_decisions d
			WHERE d.profiles @> ARRAY[$1::uuid]
			   OR d.records && (SELECT array_agg(record_id) FROM profile_members WHERE profile_id = $1)
			ORDER BY d.at, d.id`, p)
		if err != nil {
			return err
		}
		if l.Decisions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolver.LineageDecision, error) {
			var d resolver.LineageDecision
			var did [16]byte
			var profiles, records [][16]byte
			err := row.Scan(&did, &d.Kind, &d.Actor, &d.At, &profiles, &records, &d.Sealed.KEK, &d.Sealed.Wrapped, &d.Sealed.Sealed, &d.Reverses)
			d.ID, d.Profiles, d.Records = did, fromUUIDs(profiles), fromUUIDs(records)
			return d, err
		}); err != nil {
			return err
		}
		// One array of ids, not an OR: PostgreSQL reads the events by
		// their index then, where the OR read all of them (188 ms at a
		// million records, 0.25 ms this way).
		rows, err = tx.Query(ctx, `SELECT kind, record_id, other_id, run_id, decision_id, at FROM profile_events
			WHERE profile_id = ANY(ARRAY(SELECT $1::uuid UNION ALL SELECT old_id FROM profile_redirects WHERE new_id = $1))
			ORDER BY id`, p)
		if err != nil {
			return err
		}
		if l.Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolver.LineageEvent, error) {
			var e resolver.LineageEvent
			var rec, other, decision *[16]byte
			var run [16]byte
			err := row.Scan(&e.Kind, &rec, &other, &run, &decision, &e.At)
			e.RecordID, e.OtherID, e.DecisionID, e.RunID = optUUID(rec), optUUID(other), optUUID(decision), run
			return e, err
		}); err != nil {
			return err
		}
		// The pairs found from the profile's records by each side's index:
		// the OR over both sides' memberships joined every open pair to
		// every membership, twice (about a second at a million records).
		l.Review, err = reviews(ctx, tx, `WHERE rp.decided_at IS NULL AND rp.id IN (
				SELECT r.id FROM profile_members m JOIN review_pairs r ON r.record_a = m.record_id WHERE m.profile_id = $1
				UNION ALL
				SELECT r.id FROM profile_members m JOIN review_pairs r ON r.record_b = m.record_id WHERE m.profile_id = $1)
			ORDER BY rp.probability DESC, rp.id`, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("profile lineage: %w", err)
	}
	return l, nil
}

const reviewSelect = `SELECT rp.id, rp.record_a, rp.record_b, ma.profile_id, mb.profile_id, rp.probability, rp.levels, rp.reason,
	rp.model_version, rp.created_at
	FROM review_pairs rp JOIN profile_members ma ON ma.record_id = rp.record_a JOIN profile_members mb ON mb.record_id = rp.record_b `

func reviews(ctx context.Context, q querier, where string, args ...any) ([]resolver.Review, error) {
	rows, err := q.Query(ctx, reviewSelect+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolver.Review, error) {
		var r resolver.Review
		var id, a, b, pa, pb [16]byte
		var levels []byte
		err := row.Scan(&id, &a, &b, &pa, &pb, &r.Probability, &levels, &r.Reason, &r.ModelVersion, &r.CreatedAt)
		if err != nil {
			return r, err
		}
		r.ID, r.A, r.B, r.ProfileA, r.ProfileB = id, a, b, pa, pb
		return r, json.Unmarshal(levels, &r.Levels)
	})
}

// OpenReviews returns undecided review pairs, most likely first, after the
// pair after (uuid.Nil: from the start).
func (db *DB) OpenReviews(ctx context.Context, after uuid.UUID, limit int) ([]resolver.Review, error) {
	var out []resolver.Review
	var err error
	if after == uuid.Nil {
		out, err = reviews(ctx, db.pool, `WHERE rp.decided_at IS NULL ORDER BY rp.probability DESC, rp.id DESC LIMIT $1`, limit)
	} else {
		out, err = reviews(ctx, db.pool, `WHERE rp.decided_at IS NULL
			AND (rp.probability, rp.id) < (SELECT probability, id FROM review_pairs WHERE id = $2)
			ORDER BY rp.probability DESC, rp.id DESC LIMIT $1`, limit, [16]byte(after))
	}
	if err != nil {
		return nil, fmt.Errorf("review pairs: %w", err)
	}
	return out, nil
}

// Review returns one review pair with the profiles of its records.
func (db *DB) Review(ctx context.Context, id uuid.UUID) (resolver.Review, error) {
	rs, err := reviews(ctx, db.pool, `WHERE rp.id = $1`, [16]byte(id))
	if err != nil {
		return resolver.Review{}, fmt.Errorf("review pair: %w", err)
	}
	if len(rs) == 0 {
		return resolver.Review{}, fmt.Errorf("review pair %s: %w", id, ErrNotFound)
	}
	return rs[0], nil
}
