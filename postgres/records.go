package postgres

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
)

// UpsertRecords writes a batch of sealed records in one transaction (see
// ingest.Store). Writers of the same (source, lane) are serialised by an
// advisory lock, so that looking up the stored records and writing the
// batch see a consistent state for every record the batch holds.
func (db *DB) UpsertRecords(ctx context.Context, actor string, batch []*ingest.Sealed, reseal func(*ingest.Sealed, ingest.Existing) error) ([]ingest.Outcome, error) {
	outcomes := make([]ingest.Outcome, len(batch))
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLanes(ctx, tx, batch); err != nil {
			return err
		}
		existing, err := lookupExisting(ctx, tx, batch)
		if err != nil {
			return err
		}
		suppressed, err := suppressedRecords(ctx, tx, batch, existing)
		if err != nil {
			return err
		}
		var created, updated []*ingest.Sealed
		for i, s := range batch {
			ex, ok := existing[recordKey(s.Source, s.SourceKey)]
			switch {
			case !ok && suppressed[i]:
				outcomes[i] = ingest.Outcome{Status: ingest.StatusSuppressed}
			case !ok:
				created = append(created, s)
				outcomes[i] = ingest.Outcome{ID: s.ID, Status: ingest.StatusCreated}
			case bytes.Equal(ex.Fingerprint, s.Fingerprint):
				outcomes[i] = ingest.Outcome{ID: ex.ID, Status: ingest.StatusUnchanged}
			default:
				if err := reseal(s, ex); err != nil {
					return err
				}
				updated = append(updated, s)
				outcomes[i] = ingest.Outcome{ID: ex.ID, Status: ingest.StatusUpdated}
			}
		}
		now := time.Now().UTC()
		if err := insertRecords(ctx, tx, actor, now, created); err != nil {
			return err
		}
		if err := restateStandingRefusals(ctx, tx, created); err != nil {
			return err
		}
		return updateRecords(ctx, tx, actor, now, updated)
	})
	if err != nil {
		return nil, err
	}
	return outcomes, nil
}

// suppressedRecords marks the new records of the batch that hold a
// suppressed identifier: a person who was erased is not silently
// recreated. One query per batch, on the suppressions' primary key.
func suppressedRecords(ctx context.Context, tx pgx.Tx, batch []*ingest.Sealed, existing map[string]ingest.Existing) (map[int]bool, error) {
	var kinds []string
	var sums [][]byte
	for _, s := range batch {
		if _, ok := existing[recordKey(s.Source, s.SourceKey)]; ok {
			continue
		}
		for _, k := range strongSums(s) {
			if len(k.sum) > 0 {
				kinds, sums = append(kinds, k.kind), append(sums, k.sum)
			}
		}
	}
	if len(sums) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT s.kind, s.blind_index FROM suppressions s
		JOIN unnest($1::text[], $2::bytea[]) AS b (kind, sum) ON s.kind = b.kind AND s.blind_index = b.sum
		WHERE s.lifted_at IS NULL`, kinds, sums)
	if err != nil {
		return nil, fmt.Errorf("check suppressions: %w", err)
	}
	hit := map[string]bool{}
	for rows.Next() {
		var kind string
		var sum []byte
		if err := rows.Scan(&kind, &sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("check suppressions: %w", err)
		}
		hit[kind+"\x00"+string(sum)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hit) == 0 {
		return nil, err
	}
	out := map[int]bool{}
	for i, s := range batch {
		for _, k := range strongSums(s) {
			if len(k.sum) > 0 && hit[k.kind+"\x00"+string(k.sum)] {
				out[i] = true
			}
		}
	}
	return out, nil
}

// restateStandingRefusals re-states on each new record the refusals kept
// by one of its strong identifiers when a retention erased every record
// of the person (migration 0030, standRefusals): for each purpose the
// latest of them, as it was said and recorded, so that the person's next
// statement overrides it as before. The record's profile is not profiled
// for what they refused, from its first computation on.
func restateStandingRefusals(ctx context.Context, tx pgx.Tx, created []*ingest.Sealed) error {
	var ids [][16]byte
	var kinds []string
	var sums [][]byte
	for _, s := range created {
		for _, k := range strongSums(s) {
			if len(k.sum) > 0 {
				ids, kinds, sums = append(ids, s.ID), append(kinds, k.kind), append(sums, k.sum)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (b.record, s.purpose) b.record, s.purpose, s.state, coalesce(s.notice_version, 0), s.at, s.recorded_at,
			s.request_id
		FROM unnest($1::uuid[], $2::text[], $3::bytea[]) AS b (record, kind, sum)
		JOIN standing_refusals s ON s.kind = b.kind AND s.blind_index = b.sum
		ORDER BY b.record, s.purpose, s.at DESC, s.recorded_at DESC`, ids, kinds, sums)
	if err != nil {
		return fmt.Errorf("standing refusals: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (consent.Event, error) {
		var e consent.Event
		var rec, request [16]byte
		err := r.Scan(&rec, &e.Purpose, &e.State, &e.NoticeVersion, &e.At, &e.RecordedAt, &request)
		e.ID, e.Record, e.Method, e.Origin, e.Actor = uuid.Must(uuid.NewV7()), rec, consent.MethodCarried, standingOrigin, "system:retention"
		e.Basis = []uuid.UUID{request}
		return e, err
	})
	if err != nil {
		return fmt.Errorf("standing refusals: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	// As they were recorded: recorded_at is written, not left to now().
	// Its basis is the retention that kept it: the person's standing
	// refusals are found by it when their records go again.
	columns := []string{"id", "record_id", "purpose", "state", "notice_version", "method", "origin", "actor", "at", "recorded_at", "basis"}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"consent_events"}, columns, pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
		e := &events[i]
		return []any{[16]byte(e.ID), [16]byte(e.Record), e.Purpose, string(e.State), noticeVersion(e), string(e.Method), e.Origin,
			e.Actor, e.At, e.RecordedAt, uuids(e.Basis)}, nil
	}))
	if err != nil {
		return fmt.Errorf("restate standing refusals: %w", err)
	}
	return nil
}

// kindSum is the blind index of one strong identifier, with its kind.
type kindSum struct {
	kind string
	sum  []byte
}

// strongSums are a record's blind indexes of its strong identifiers (nil
// when it has none of a kind), by the kinds suppressions and standing
// refusals key them by.
func strongSums(s *ingest.Sealed) [3]kindSum {
	return [3]kindSum{{"email", s.Email}, {"phone", s.Phone}, {"national_id", s.NationalID}}
}

func recordKey(source string, sourceKey []byte) string { return source + "\x00" + string(sourceKey) }

// lockLanes takes the write lock of every (source, lane) in the batch
// (ingest.Lane): writers of the same record take turns, writers of other
// lanes do not wait. One statement, in the order of the locks' keys, so
// that concurrent batches cannot deadlock.
func lockLanes(ctx context.Context, tx pgx.Tx, batch []*ingest.Sealed) error {
	seen := map[string]bool{}
	var keys []string
	for _, s := range batch {
		k := s.Source + "/" + strconv.Itoa(s.Lane)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, h) FROM (
		SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY 1) AS locks`, lockRecords, keys)
	if err != nil {
		return fmt.Errorf("lock lanes: %w", err)
	}
	return nil
}

func lookupExisting(ctx context.Context, tx pgx.Tx, batch []*ingest.Sealed) (map[string]ingest.Existing, error) {
	sources := make([]string, len(batch))
	keys := make([][]byte, len(batch))
	for i, s := range batch {
		sources[i], keys[i] = s.Source, s.SourceKey
	}
	rows, err := tx.Query(ctx, `
		SELECT r.source, r.source_key, r.id, r.fingerprint, r.kek_id, r.wrapped_key
		FROM unnest($1::text[], $2::bytea[]) AS b(source, source_key)
		JOIN records r ON r.source = b.source AND r.source_key = b.source_key
		WHERE r.wrapped_key IS NOT NULL`, sources, keys)
	if err != nil {
		return nil, fmt.Errorf("look up stored records: %w", err)
	}
	defer rows.Close()
	existing := make(map[string]ingest.Existing)
	for rows.Next() {
		var source string
		var sourceKey []byte
		var ex ingest.Existing
		if err := rows.Scan(&source, &sourceKey, &ex.ID, &ex.Fingerprint, &ex.KEK, &ex.Wrapped); err != nil {
			return nil, fmt.Errorf("look up stored records: %w", err)
		}
		existing[recordKey(source, sourceKey)] = ex
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up stored records: %w", err)
	}
	return existing, nil
}

var recordColumns = []string{
	"id", "source", "source_key", "kek_id", "wrapped_key", "attrs", "match", "fingerprint",
	"email_index", "phone_index", "national_id_index", "name_key", "birth_key", "place_key", "flags",
	"version", "created_at", "created_by", "updated_at", "updated_by",
}

func insertRecords(ctx context.Context, tx pgx.Tx, actor string, now time.Time, recs []*ingest.Sealed) error {
	if len(recs) == 0 {
		return nil
	}
	// uuid.UUID is passed as [16]byte: as a driver.Valuer pgx would encode
	// it through its text form, several times slower.
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"records"}, recordColumns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			s := recs[i]
			return []any{
				[16]byte(s.ID), s.Source, s.SourceKey, s.Key.KEK, s.Key.Wrapped, s.Attrs, s.Match, s.Fingerprint,
				nilIfEmpty(s.Email), nilIfEmpty(s.Phone), nilIfEmpty(s.NationalID),
				nilIfEmpty(s.Candidate[0]), nilIfEmpty(s.Candidate[1]), nilIfEmpty(s.Candidate[2]), int16(s.Flags),
				int32(1), now, actor, now, actor,
			}, nil
		}))
	if err != nil {
		return fmt.Errorf("store records: %w", err)
	}
	return nil
}

// updateRecords keeps the current version of each record in its history,
// then writes the new one.
func updateRecords(ctx context.Context, tx pgx.Tx, actor string, now time.Time, recs []*ingest.Sealed) error {
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	ids := make([][16]byte, n)
	attrs, match, fps := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	emails, phones, nids := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	names, births, places := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	flags := make([]int16, n)
	for i, s := range recs {
		ids[i], attrs[i], match[i], fps[i] = s.ID, s.Attrs, s.Match, s.Fingerprint
		emails[i], phones[i], nids[i] = nilIfEmpty(s.Email), nilIfEmpty(s.Phone), nilIfEmpty(s.NationalID)
		names[i], births[i], places[i] = nilIfEmpty(s.Candidate[0]), nilIfEmpty(s.Candidate[1]), nilIfEmpty(s.Candidate[2])
		flags[i] = int16(s.Flags)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO record_versions (record_id, version, attrs, fingerprint, flags, written_at, written_by, superseded_at, superseded_by)
		SELECT id, version, attrs, fingerprint, flags, updated_at, updated_by, $2, $3
		FROM records WHERE id = ANY($1)`, ids, now, actor)
	if err != nil {
		return fmt.Errorf("keep record versions: %w", err)
	}
	_, err = tx.Exec(ctx, `
		UPDATE records r SET
			attrs = u.attrs, match = u.match, fingerprint = u.fingerprint,
			email_index = u.email_index, phone_index = u.phone_index, national_id_index = u.national_id_index,
			name_key = u.name_key, birth_key = u.birth_key, place_key = u.place_key, flags = u.flags,
			version = r.version + 1, updated_at = $12, updated_by = $13
		FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[], $7::bytea[],
			$8::bytea[], $9::bytea[], $10::bytea[], $11::smallint[])
			AS u(id, attrs, match, fingerprint, email_index, phone_index, national_id_index, name_key, birth_key, place_key, flags)
		WHERE r.id = u.id`,
		ids, attrs, match, fps, emails, phones, nids, names, births, places, flags, now, actor)
	if err != nil {
		return fmt.Errorf("update records: %w", err)
	}
	return nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// RecordCount returns the number of stored source records: counted up to
// 100,000, PostgreSQL's estimate above, where a count reads them all (a
// second at ten million, on every write of more than a thousand records;
// its callers compare it with thresholds).
func (db *DB) RecordCount(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT CASE WHEN e.n >= 100000 THEN e.n ELSE (SELECT count(*) FROM records) END
		FROM (SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'records'::regclass) e`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// UnlinkedRecords returns the records among ids that belong to no
// profile, at most limit, in id order (every record: UnlinkedFrom).
func (db *DB) UnlinkedRecords(ctx context.Context, ids []uuid.UUID, limit int) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.id FROM records r
		WHERE r.wrapped_key IS NOT NULL AND r.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM profile_members m WHERE m.record_id = r.id)
		ORDER BY r.id LIMIT $2`, uuids(ids), limit)
	if err != nil {
		return nil, fmt.Errorf("unlinked records: %w", err)
	}
	return pgx.CollectRows(rows, scanID)
}

// UnlinkedFrom returns records that belong to no profile whose id is at
// least from, at most limit, in id order. Record ids are UUIDv7, ordered by
// the time they were made, so a recent from reads the primary key's last
// pages only; uuid.Nil reads every record (about a second a million).
func (db *DB) UnlinkedFrom(ctx context.Context, from uuid.UUID, limit int) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.id FROM records r
		WHERE r.id >= $1 AND r.wrapped_key IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM profile_members m WHERE m.record_id = r.id)
		ORDER BY r.id LIMIT $2`, [16]byte(from), limit)
	if err != nil {
		return nil, fmt.Errorf("unlinked records: %w", err)
	}
	return pgx.CollectRows(rows, scanID)
}

// UnlinkedNear returns records that belong to no profile and share an
// identifier's blind index or a candidate key with a record of profile
// (or the profile it was merged into): the records resolution could link
// to it, found through the keys' indexes, not by reading every record. A
// key shared by more than maxShared records is skipped, as resolution
// skips it (resolver.Store.Neighbourhood).
func (db *DB) UnlinkedNear(ctx context.Context, profile uuid.UUID, maxShared, limit int) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, unlinkedNearSQL, [16]byte(profile), maxShared+1, limit)
	if err != nil {
		return nil, fmt.Errorf("unlinked records near profile %s: %w", profile, err)
	}
	return pgx.CollectRows(rows, scanID)
}

// unlinkedNearSQL is UnlinkedNear's statement: per candidate column, the
// records sharing each of the profile's keys, unless more than maxShared
// do ($2 is maxShared+1).
var unlinkedNearSQL = func() string {
	var near []string
	for _, col := range candidateColumns {
		near = append(near, `SELECT unnest(c.ids) AS id FROM (SELECT DISTINCT `+col+` AS k FROM mine) d
			CROSS JOIN LATERAL (SELECT array_agg(id) AS ids FROM (SELECT id FROM records WHERE `+col+` = d.k LIMIT $2) l) c
			WHERE cardinality(c.ids) < $2`)
	}
	return currentCTE + `, mine AS MATERIALIZED (
			SELECT r.` + strings.Join(candidateColumns, ", r.") + `
			FROM cur JOIN profile_members m ON m.profile_id = cur.id JOIN records r ON r.id = m.record_id),
		near AS (` + strings.Join(near, "\n\t\tUNION ") + `)
		SELECT r.id FROM near JOIN records r ON r.id = near.id
		WHERE r.wrapped_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profile_members m WHERE m.record_id = r.id)
		ORDER BY r.id LIMIT $3`
}()

// SourceDays counts, per source and day since, the records created and
// those changed (counts only: a department's import history).
func (db *DB) SourceDays(ctx context.Context, sources []string, since time.Time) ([]identity.SourceDay, error) {
	rows, err := db.pool.Query(ctx, `SELECT source, day, sum(created)::int, sum(updated)::int FROM (
			SELECT source, date_trunc('day', created_at) AS day, 1 AS created, 0 AS updated FROM records
			WHERE source = ANY($1) AND created_at >= $2
			UNION ALL
			SELECT source, date_trunc('day', updated_at), 0, 1 FROM records
			WHERE source = ANY($1) AND updated_at >= $2 AND updated_at > created_at) d
		GROUP BY source, day ORDER BY day DESC, source`, sources, since)
	if err != nil {
		return nil, fmt.Errorf("source days: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.SourceDay, error) {
		var d identity.SourceDay
		err := r.Scan(&d.Source, &d.Day, &d.Created, &d.Updated)
		return d, err
	})
}
