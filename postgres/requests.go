package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/dsr"
)

const requestColumns = `id, type, state, profile_id, customer, channel, purposes, received_at, received_by, verified_at, due_at,
	extended_months, duplicate_of, outcome, closed_at, updated_at, kek_id, wrapped_key, evidence, result, corrections, scope`

func scanRequest(r pgx.CollectableRow) (dsr.Stored, error) {
	var s dsr.Stored
	var id, profile [16]byte
	var customer, dup *[16]byte
	var scope [][16]byte
	err := r.Scan(&id, &s.Type, &s.State, &profile, &customer, &s.Channel, &s.Details.Purposes, &s.ReceivedAt, &s.ReceivedBy,
		&s.VerifiedAt, &s.Due, &s.ExtendedBy, &dup, &s.Outcome, &s.ClosedAt, &s.UpdatedAt, &s.KEK, &s.Wrapped, &s.Evidence, &s.Result, &s.Corrections, &scope)
	s.Scope = fromUUIDsOrNil(scope)
	s.ID, s.Profile = id, profile
	s.Customer, s.DuplicateOf = optUUID(customer), optUUID(dup)
	return s, err
}

// CreateRequest stores a new request and its first event.
func (db *DB) CreateRequest(ctx context.Context, r dsr.Stored, first dsr.StoredEvent) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		purposes := r.Details.Purposes
		if purposes == nil {
			purposes = []string{}
		}
		_, err := tx.Exec(ctx, `INSERT INTO dsr_requests (`+requestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			[16]byte(r.ID), r.Type, r.State, [16]byte(r.Profile), nullUUID(r.Customer), r.Channel, purposes, r.ReceivedAt, r.ReceivedBy,
			r.VerifiedAt, r.Due, r.ExtendedBy, nullUUID(r.DuplicateOf), r.Outcome, r.ClosedAt, r.UpdatedAt, r.KEK, r.Wrapped, r.Evidence, r.Result, r.Corrections, uuids(r.Scope))
		if err != nil {
			return fmt.Errorf("create request: %w", err)
		}
		return insertRequestEvent(ctx, tx, r.ID, first)
	})
}

func insertRequestEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID, e dsr.StoredEvent) error {
	var from any
	if e.From != "" {
		from = string(e.From)
	}
	_, err := tx.Exec(ctx, `INSERT INTO dsr_events (request_id, seq, from_state, to_state, actor, reason, at)
		SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6 FROM dsr_events WHERE request_id = $1`,
		[16]byte(id), from, string(e.To), e.Actor, e.Reason, e.At)
	if err != nil {
		return fmt.Errorf("request event: %w", err)
	}
	return nil
}

// Request reads one request.
func (db *DB) Request(ctx context.Context, id uuid.UUID) (dsr.Stored, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests WHERE id = $1`, [16]byte(id))
	if err != nil {
		return dsr.Stored{}, fmt.Errorf("request: %w", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRequest)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("request %s: %w", id, dsr.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("request: %w", err)
	}
	return r, nil
}

// Requests lists requests, the nearest deadline first.
func (db *DB) Requests(ctx context.Context, f dsr.Filter) ([]dsr.Stored, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var state, typ any
	if f.State != "" {
		state = string(f.State)
	}
	if f.Type != "" {
		typ = string(f.Type)
	}
	var dueBefore any
	if !f.DueBefore.IsZero() {
		dueBefore = f.DueBefore
	}
	rows, err := db.pool.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests
		WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR type = $2)
		AND (NOT $3 OR (closed_at IS NULL AND state <> 'received' AND due_at < $4)) AND ($5::timestamptz IS NULL OR due_at < $5)
		AND ($6::uuid IS NULL OR profile_id = $6) AND ($7::uuid IS NULL OR customer = $7)
		ORDER BY due_at, id LIMIT $8`,
		state, typ, f.Overdue, f.Now, dueBefore, nullID(f.Profile), nullID(f.Customer), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	return out, nil
}

// RequestEvents returns a request's transitions in order.
func (db *DB) RequestEvents(ctx context.Context, id uuid.UUID) ([]dsr.StoredEvent, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, coalesce(from_state, ''), to_state, actor, reason, at FROM dsr_events
		WHERE request_id = $1 ORDER BY seq`, [16]byte(id))
	if err != nil {
		return nil, fmt.Errorf("request events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dsr.StoredEvent, error) {
		e := dsr.StoredEvent{Event: dsr.Event{Request: id}}
		err := r.Scan(&e.Seq, &e.From, &e.To, &e.Actor, &e.Reason, &e.At)
		return e, err
	})
}

// EarlierRequest returns the latest request of the same profile or
// customer and type received since, if any: a new one is its duplicate.
func (db *DB) EarlierRequest(ctx context.Context, profile uuid.UUID, customer *uuid.UUID, typ dsr.Type, since time.Time) (uuid.UUID, bool, error) {
	var id [16]byte
	err := db.pool.QueryRow(ctx, `SELECT id FROM dsr_requests WHERE type = $1 AND received_at >= $2
		AND (profile_id = $3 OR ($4::uuid IS NOT NULL AND customer = $4)) AND state NOT IN ('rejected', 'withdrawn')
		ORDER BY received_at DESC LIMIT 1`, string(typ), since, [16]byte(profile), nullUUID(customer)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("earlier request: %w", err)
	}
	return id, true, nil
}

// Transition moves a request from one state to another (from == to: an
// event without a state change, e.g. an extension) and records the event,
// in one transaction and one round trip (migration 0027). A change marked
// Redoable is committed without waiting for the disk. A request no longer in state from is
// dsr.ErrTransition: someone else moved it first.
func (db *DB) Transition(ctx context.Context, id uuid.UUID, from, to dsr.State, c dsr.Change, e dsr.StoredEvent) error {
	var closed any
	if to.Final() {
		closed = e.At
	}
	var moved bool
	err := db.pool.QueryRow(ctx, `SELECT dsr_transition($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		[16]byte(id), string(from), string(to), e.At, c.VerifiedAt, c.Due, c.Extend, c.Outcome, c.Evidence, closed,
		e.Actor, e.Reason, c.Redoable).Scan(&moved)
	if err != nil {
		return fmt.Errorf("request transition: %w", err)
	}
	if !moved {
		return fmt.Errorf("request %s is not %s any more: %w", id, from, dsr.ErrTransition)
	}
	return nil
}

// RequestCounts counts open requests for the metrics: open, due within
// soon of now, overdue.
func (db *DB) RequestCounts(ctx context.Context, now time.Time, soon time.Duration) (open, dueSoon, overdue int64, err error) {
	err = db.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at >= $1 AND due_at < $2),
		count(*) FILTER (WHERE due_at < $1 AND state <> 'received') FROM dsr_requests WHERE closed_at IS NULL`, now, now.Add(soon)).Scan(&open, &dueSoon, &overdue)
	if err != nil {
		err = fmt.Errorf("request counts: %w", err)
	}
	return open, dueSoon, overdue, err
}

// RequestsAwaitingDecision counts the requests waiting for the DPO:
// received (to verify) or verified (to approve or reject).
func (db *DB) RequestsAwaitingDecision(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM dsr_requests WHERE state IN ('received', 'verified')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("requests awaiting a decision: %w", err)
	}
	return n, nil
}

// OpenRequestIDs lists the requests that should have a job: approved or
// in progress.
func (db *DB) OpenRequestIDs(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM dsr_requests WHERE state IN ('approved', 'in_progress') ORDER BY due_at LIMIT 10000`)
	if err != nil {
		return nil, fmt.Errorf("open requests: %w", err)
	}
	return pgx.CollectRows(rows, scanID)
}

// ExpiredRecords finds records whose retention expired, by profile: the
// source's own retention, else the longest retention of the purposes it
// collected them for, counted from the record's last update. Records
// under a legal hold, records an open request already covers, and the
// records of a restricted profile (Art. 18: a person may ask for their
// data to be kept, restricted, instead of erased) are left out.
func (db *DB) ExpiredRecords(ctx context.Context, now time.Time, limit int) (map[uuid.UUID][]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT m.profile_id, r.id FROM records r
		JOIN sources s ON s.name = r.source JOIN profile_members m ON m.record_id = r.id
		CROSS JOIN LATERAL (SELECT coalesce(s.retention_days,
			(SELECT max(p.retention_days) FROM purposes p WHERE p.id = ANY(s.purposes))) AS days) k
		WHERE r.wrapped_key IS NOT NULL AND k.days IS NOT NULL AND r.updated_at + make_interval(days => k.days) < $1
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.source = r.source AND h.lifted_at IS NULL
			AND r.created_at + make_interval(days => h.retain_days) > $1)
		AND NOT EXISTS (SELECT 1 FROM dsr_requests q WHERE q.closed_at IS NULL AND r.id = ANY(q.scope))
		AND NOT EXISTS (SELECT 1 FROM profile_members o JOIN record_restrictions x ON x.record_id = o.record_id
			WHERE o.profile_id = m.profile_id AND x.reason = 'restriction' AND x.lifted_at IS NULL)
		ORDER BY m.profile_id, r.id LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("expired records: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID][]uuid.UUID{}
	for rows.Next() {
		var p, r [16]byte
		if err := rows.Scan(&p, &r); err != nil {
			return nil, fmt.Errorf("expired records: %w", err)
		}
		out[p] = append(out[p], r)
	}
	return out, rows.Err()
}

// SetRetention sets a source's retention (days <= 0: none of its own).
func (db *DB) SetRetention(ctx context.Context, source string, days int) error {
	var v any
	if days > 0 {
		v = days
	}
	tag, err := db.pool.Exec(ctx, "UPDATE sources SET retention_days = $2 WHERE name = $1", source, v)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("source %q: %w", source, ErrNotFound)
	}
	return nil
}
