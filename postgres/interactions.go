package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/crm"
)

// RecordsOfSource finds live records by source and the blind index of
// their source ids, in one query.
func (db *DB) RecordsOfSource(ctx context.Context, refs []crm.SourceRef) (map[crm.SourceRef]crm.RecordRef, error) {
	sources, keys := make([]string, len(refs)), make([][]byte, len(refs))
	for i, r := range refs {
		sources[i], keys[i] = r.Source, []byte(r.Key)
	}
	rows, err := db.pool.Query(ctx, `SELECT r.source, r.source_key, r.id, r.kek_id, r.wrapped_key
		FROM unnest($1::text[], $2::bytea[]) AS w(source, source_key)
		JOIN records r ON r.source = w.source AND r.source_key = w.source_key
		WHERE r.wrapped_key IS NOT NULL`, sources, keys)
	if err != nil {
		return nil, fmt.Errorf("records of source: %w", err)
	}
	out := make(map[crm.SourceRef]crm.RecordRef, len(refs))
	var src string
	var key []byte
	var id [16]byte
	var ref crm.RecordRef
	_, err = pgx.ForEachRow(rows, []any{&src, &key, &id, &ref.KEK, &ref.Wrapped}, func() error {
		ref.ID = id
		out[crm.SourceRef{Source: src, Key: string(key)}] = crm.RecordRef{ID: ref.ID, KEK: ref.KEK, Wrapped: append([]byte(nil), ref.Wrapped...)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("records of source: %w", err)
	}
	return out, nil
}

// InsertInteractions writes the interactions new by (source, source key),
// in one statement, and returns the ids it wrote.
func (db *DB) InsertInteractions(ctx context.Context, is []crm.Stored) (map[uuid.UUID]bool, error) {
	n := len(is)
	ids, recs := make([][16]byte, n), make([][16]byte, n)
	sources, types, channels, currencies := make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
	keys, attrs := make([][]byte, n), make([][]byte, n)
	at := make([]any, n)
	amounts, costs := make([]*float64, n), make([]*float64, n)
	quantities, sats := make([]*int32, n), make([]*int32, n)
	for i, x := range is {
		ids[i], recs[i], sources[i], keys[i], types[i], channels[i], at[i] = x.ID, x.Record, x.Source, x.SourceKey, x.Type, x.Channel, x.OccurredAt
		amounts[i], costs[i], attrs[i] = x.Amount, x.Cost, x.Sealed
		if x.Currency != "" {
			c := x.Currency
			currencies[i] = &c
		}
		if x.Quantity != nil {
			q := int32(*x.Quantity)
			quantities[i] = &q
		}
		if x.Satisfaction != nil {
			v := int32(*x.Satisfaction)
			sats[i] = &v
		}
	}
	// Only for records still live, each locked against an erasure until
	// this commits (what a foreign key would do, row by row).
	rows, err := db.pool.Query(ctx, `INSERT INTO interactions (id, source, source_key, record_id, type, channel, occurred_at,
			amount, currency, quantity, satisfaction, cost, attrs)
		SELECT u.id, u.source, u.source_key, u.record_id, u.type, u.channel, u.occurred_at, u.amount::numeric(14,2), u.currency,
			u.quantity, u.satisfaction, u.cost::numeric(14,2), u.attrs
		FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[],
			$8::float8[], $9::text[], $10::int[], $11::smallint[], $12::float8[], $13::bytea[])
			AS u(id, source, source_key, record_id, type, channel, occurred_at, amount, currency, quantity, satisfaction, cost, attrs)
		JOIN records r ON r.id = u.record_id AND r.wrapped_key IS NOT NULL
		FOR KEY SHARE OF r
		ON CONFLICT (source, source_key) DO NOTHING RETURNING id`,
		ids, sources, keys, recs, types, channels, at, amounts, currencies, quantities, sats, costs, attrs)
	if err != nil {
		return nil, fmt.Errorf("insert interactions: %w", err)
	}
	created := map[uuid.UUID]bool{}
	got, err := pgx.CollectRows(rows, scanID)
	if err != nil {
		return nil, fmt.Errorf("insert interactions: %w", err)
	}
	for _, id := range got {
		created[id] = true
	}
	return created, nil
}

// Interactions reads the interactions of records, of the types named (nil:
// of every type), newest first, at most limit.
func (db *DB) Interactions(ctx context.Context, records []uuid.UUID, types []string, limit int) ([]crm.Stored, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+interactionColumns("interactions")+`
		FROM interactions WHERE record_id = ANY($1) AND ($2::text[] IS NULL OR type = ANY($2))
		ORDER BY occurred_at DESC, id LIMIT $3`, uuids(records), types, limit)
	if err != nil {
		return nil, fmt.Errorf("interactions: %w", err)
	}
	return pgx.CollectRows(rows, scanInteraction)
}

// interactionColumns are the columns scanInteraction reads, of table t.
func interactionColumns(t string) string {
	return fmt.Sprintf(`%[1]s.id, %[1]s.source, %[1]s.record_id, %[1]s.type, %[1]s.channel, %[1]s.occurred_at,
		%[1]s.amount::float8, %[1]s.currency, %[1]s.quantity, %[1]s.satisfaction, %[1]s.cost::float8, %[1]s.attrs`, t)
}

func scanInteraction(r pgx.CollectableRow) (crm.Stored, error) {
	var s crm.Stored
	var id, rec [16]byte
	var currency *string
	var q, sat *int32
	err := r.Scan(&id, &s.Source, &rec, &s.Type, &s.Channel, &s.OccurredAt, &s.Amount, &currency, &q, &sat, &s.Cost, &s.Sealed)
	s.ID, s.Record = id, rec
	if currency != nil {
		s.Currency = *currency
	}
	if q != nil {
		v := int(*q)
		s.Quantity = &v
	}
	if sat != nil {
		v := int(*sat)
		s.Satisfaction = &v
	}
	return s, err
}

// SetInteractionRetention sets how long interactions of a source and type
// are kept (days <= 0: the source's retention again).
func (db *DB) SetInteractionRetention(ctx context.Context, source, typ string, days int) error {
	var err error
	if days <= 0 {
		_, err = db.pool.Exec(ctx, "DELETE FROM interaction_retention WHERE source = $1 AND type = $2", source, typ)
	} else {
		_, err = db.pool.Exec(ctx, `INSERT INTO interaction_retention (source, type, retention_days) VALUES ($1, $2, $3)
			ON CONFLICT (source, type) DO UPDATE SET retention_days = $3`, source, typ, days)
	}
	if err != nil {
		return fmt.Errorf("interaction retention: %w", err)
	}
	return nil
}

// DeleteExpiredInteractions deletes the interactions older than their
// retention (per source and type, else the source's), except those a
// legal hold on the source or an open request's records still need; it
// returns how many it deleted.
func (db *DB) DeleteExpiredInteractions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM interactions i USING sources s
		WHERE s.name = i.source
		AND i.occurred_at + make_interval(days => coalesce(
			(SELECT x.retention_days FROM interaction_retention x WHERE x.source = i.source AND x.type = i.type),
			s.retention_days,
			(SELECT max(p.retention_days) FROM purposes p WHERE p.id = ANY(s.purposes)),
			36600)) < $1
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.source = i.source AND h.lifted_at IS NULL
			AND i.occurred_at + make_interval(days => h.retain_days) > $1)
		AND NOT EXISTS (SELECT 1 FROM dsr_requests q WHERE q.closed_at IS NULL AND i.record_id = ANY(q.scope))`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired interactions: %w", err)
	}
	return tag.RowsAffected(), nil
}
