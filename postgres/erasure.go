package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Erase erases a person in one transaction: it keeps the blind indexes of
// their strong identifiers as suppressions, deletes their records with
// their keys (crypto-shredding: nothing sealed under a key, in any copy of
// the database or backup, can be opened again once every copy of the key
// is gone), their versions, consent events, links and review pairs, and
// the profile, leaving a tombstone. Records under a legal hold are kept, restricted.
// It is idempotent: a profile the request erased already reports Done.
//
// The steps are the methods of erasure below, run in the order listed in
// erasure.run.
//
// keep, if not nil, gives the consent events to write on a record the
// profile keeps, from the profile's events and the records erased: the
// person's refusals written on an erased record stand (consent.Outlive).
func (db *DB) Erase(ctx context.Context, request, profile uuid.UUID, now time.Time,
	keep consent.Keep) (dsr.ErasureReport, error) {
	var rep dsr.ErasureReport
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		e := &erasure{tx: tx, request: request, asked: profile, now: now, keep: keep}
		err := e.run(ctx)
		rep = e.rep
		return err
	})
	return rep, err
}

// erasure is the transaction of one erasure and what its steps found.
type erasure struct {
	tx      pgx.Tx
	request uuid.UUID
	asked   uuid.UUID // the profile the request names (perhaps merged into another since)
	now     time.Time

	channel string     // how the request came ("retention": records that expired)
	erased  [][16]byte // rep.Erased, as a statement parameter
	rep     dsr.ErasureReport

	keep    consent.Keep
	members []uuid.UUID     // every record of the profile
	events  []consent.Event // their consent events (read when keep is given)
	// restricted gives, for each record of the profile, the requests
	// whose restriction (Art. 18) it is under.
	restricted map[uuid.UUID][]uuid.UUID
	gone       map[uuid.UUID]bool // rep.Erased, as a set
	kept       *uuid.UUID         // the oldest record the profile keeps, if it keeps any
}

// run runs the steps of the erasure in order, stopping at the first
// error, or at the report of a request done before. The statements that
// need no answer before the next are sent together, in one round trip
// each batch: an erasure was 25 round trips, most of its time; now it is
// three batches between BEGIN and COMMIT.
func (e *erasure) run(ctx context.Context) error {
	e.rep = dsr.ErasureReport{Erased: []uuid.UUID{}, Held: []dsr.HeldRecord{}, Sources: []string{}, RecordSources: map[uuid.UUID]string{}}
	b := &pgx.Batch{}
	var result []byte
	var seen, locked bool
	e.lockRequest(b, &result)
	e.lockProfile(b, &seen, &locked)
	e.sortRecords(b)
	e.readProfile(b)
	if err := e.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("erasure of request %s: %w", e.request, err)
	}
	if result != nil {
		// Done before (a job run again after a crash that followed the
		// commit, or after the recipients acknowledged): the stored report
		// says what was done, and nothing the batch read since goes in it.
		e.rep = dsr.ErasureReport{}
		if err := json.Unmarshal(result, &e.rep); err != nil {
			return fmt.Errorf("erasure report of request %s: %w", e.request, err)
		}
		e.rep.Done = true
		return nil
	}
	if !locked && seen {
		return fmt.Errorf("erasure of request %s: profile %s changed as it was locked; to be run again", e.request, e.asked)
	}
	if !locked {
		return fmt.Errorf("profile %s: %w", e.asked, ErrNotFound)
	}
	e.findKept()
	b = &pgx.Batch{}
	for _, step := range []func(*pgx.Batch){
		e.suppress,
		e.standRefusals,
		e.listAccounts,
		e.deleteRecords,
		e.keepRefusals,
		e.keepRestrictions,
		e.restrictHeld,
	} {
		step(b)
	}
	var left *[16]byte
	e.remaining(b, &left)
	if err := e.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	b = &pgx.Batch{}
	if err := e.saveReport(b); err != nil {
		return err
	}
	e.settleProfile(b, left)
	if err := e.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("erasure report: %w", err)
	}
	return nil
}

// lockRequest locks the request and reads its result (a request that has
// its report was done before) and channel.
//
// It takes the profiling lock shared first: a record kept under a legal
// hold is restricted, which stops the profile's profiling
// (forget_profiling takes this lock), after the profile and its traits
// are locked here; a profiling write holding the lock may be waiting for
// them.
func (e *erasure) lockRequest(b *pgx.Batch, result *[]byte) {
	b.Queue("SELECT " + profilingLockSharedCall)
	b.Queue("SELECT result, channel FROM dsr_requests WHERE id = $1 FOR UPDATE", [16]byte(e.request)).
		QueryRow(func(row pgx.Row) error { return row.Scan(result, &e.channel) })
}

// lockProfile finds the profile the asked one is now (following
// redirects) and locks it. Found, then merged away before the lock was
// taken, it is not locked: seen says it was there, and the erasure fails
// to run again (the job retries it) rather than report it gone.
func (e *erasure) lockProfile(b *pgx.Batch, seen, locked *bool) {
	b.Queue(currentCTE+` SELECT id FROM cur`, [16]byte(e.asked)).Query(func(rows pgx.Rows) error {
		ids, err := pgx.CollectRows(rows, scanID)
		*seen = len(ids) == 1
		return err
	})
	b.Queue(currentCTE+` SELECT p.id FROM profiles p JOIN cur ON p.id = cur.id FOR UPDATE OF p`, [16]byte(e.asked)).
		Query(func(rows pgx.Rows) error {
			ids, err := pgx.CollectRows(rows, scanID)
			if len(ids) == 1 {
				*locked, e.rep.Profile = true, ids[0]
			}
			return err
		})
}

// sortRecords reads the records of the profile lockProfile locked that the
// request reaches, and sorts them into held (a legal hold on their source
// still runs) and erased, noting the sources of the erased ones.
//
// It locks them, before readProfile reads their consent events: a
// statement (AppendConsent) or an interaction (the import) being written
// on one holds it FOR KEY SHARE, and commits before the erasure reads
// it; one that comes later waits, and finds the record gone.
func (e *erasure) sortRecords(b *pgx.Batch) {
	b.Queue(currentCTE+`, q AS (SELECT scope FROM dsr_requests WHERE id = $3)
		SELECT r.id, r.source, r.created_at, h.obligation, h.retain_days
		FROM cur JOIN profile_members m ON m.profile_id = cur.id JOIN records r ON r.id = m.record_id CROSS JOIN q
		LEFT JOIN LATERAL (SELECT obligation, retain_days FROM legal_holds h WHERE h.source = r.source AND h.lifted_at IS NULL
			AND r.created_at + make_interval(days => h.retain_days) > $2 ORDER BY h.retain_days DESC LIMIT 1) h ON true
		WHERE cardinality(q.scope) = 0 OR r.id = ANY(q.scope) ORDER BY r.id FOR UPDATE OF r`, [16]byte(e.asked), e.now, [16]byte(e.request)).
		Query(func(rows pgx.Rows) error {
			sources := map[string]bool{}
			for rows.Next() {
				var id [16]byte
				var source string
				var created time.Time
				var obligation *string
				var days *int
				if err := rows.Scan(&id, &source, &created, &obligation, &days); err != nil {
					return err
				}
				if obligation != nil {
					e.rep.Held = append(e.rep.Held, dsr.HeldRecord{Record: id, Source: source, Obligation: *obligation,
						RetainUntil: created.AddDate(0, 0, *days)})
					continue
				}
				e.rep.Erased = append(e.rep.Erased, id)
				e.rep.RecordSources[id] = source
				if !sources[source] {
					sources[source] = true
					e.rep.Sources = append(e.rep.Sources, source)
				}
			}
			e.erased = uuids(e.rep.Erased)
			return rows.Err()
		})
}

// readProfile reads the records of the profile lockProfile locked, the
// restrictions they are under and, for keepRefusals, their consent
// events: what the erasure keeps of the person is decided on them.
func (e *erasure) readProfile(b *pgx.Batch) {
	b.Queue(currentCTE+` SELECT m.record_id, coalesce(array_agg(x.request_id) FILTER (WHERE x.request_id IS NOT NULL), '{}')
		FROM cur JOIN profile_members m ON m.profile_id = cur.id
		LEFT JOIN record_restrictions x ON x.record_id = m.record_id AND x.reason = 'restriction' AND x.lifted_at IS NULL
		GROUP BY m.record_id`, [16]byte(e.asked)).
		Query(func(rows pgx.Rows) error {
			e.restricted = map[uuid.UUID][]uuid.UUID{}
			for rows.Next() {
				var id [16]byte
				var requests [][16]byte
				if err := rows.Scan(&id, &requests); err != nil {
					return err
				}
				e.members = append(e.members, id)
				for _, r := range requests {
					e.restricted[id] = append(e.restricted[id], r)
				}
			}
			return rows.Err()
		})
	if e.keep == nil {
		return
	}
	b.Queue(currentCTE+` SELECT `+consentColumns+` FROM cur JOIN profile_members m ON m.profile_id = cur.id
		JOIN consent_events e ON e.record_id = m.record_id`, [16]byte(e.asked)).
		Query(func(rows pgx.Rows) error {
			var err error
			e.events, err = pgx.CollectRows(rows, scanConsent)
			return err
		})
}

// findKept finds the oldest record the profile keeps (the least id, as
// remaining finds it), if the erasure leaves it any: where what the
// person said and asked for goes.
func (e *erasure) findKept() {
	e.gone = make(map[uuid.UUID]bool, len(e.rep.Erased))
	for _, id := range e.rep.Erased {
		e.gone[id] = true
	}
	for _, id := range e.members {
		if !e.gone[id] && (e.kept == nil || bytes.Compare(id[:], e.kept[:]) < 0) {
			e.kept = &id
		}
	}
}

// readOnErased counts the consent events readProfile read on the erased
// records.
func (e *erasure) readOnErased() int {
	n := 0
	for _, ev := range e.events {
		if e.gone[ev.Record] {
			n++
		}
	}
	return n
}

// keepRefusals writes the consent events keep gives on the record the
// profile keeps, if it keeps one: the person's refusals written on an
// erased record are re-stated there, as they were said and recorded.
// It runs after the records are deleted, so that the profiling the
// refusals stop was already taken away, in the order every erasure takes
// it.
func (e *erasure) keepRefusals(b *pgx.Batch) {
	if e.keep == nil || e.kept == nil || len(e.erased) == 0 {
		return
	}
	for _, c := range e.keep(e.events, func(id uuid.UUID) bool { return e.gone[id] }, *e.kept) {
		b.Queue(`INSERT INTO consent_events (id, record_id, purpose, state, notice_version, method, origin, actor, at, recorded_at,
			expires_at, conflict, basis) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			[16]byte(c.ID), [16]byte(c.Record), c.Purpose, string(c.State), noticeVersion(&c), string(c.Method), c.Origin, c.Actor,
			c.At, c.RecordedAt, c.ExpiresAt, c.Conflict, uuids(c.Basis))
		e.rep.RefusalsKept++
	}
}

// keepRestrictions restricts the record the profile keeps, if it keeps
// one, under each restriction (Art. 18) an erased record was under
// (readProfile read them: the records' delete takes their restrictions
// with them): a restriction is the person's, and a profile holding a
// restricted record is restricted, so it stays restricted until the
// request is lifted. A legal hold's restriction is the held record's own.
func (e *erasure) keepRestrictions(b *pgx.Batch) {
	if e.kept == nil || len(e.erased) == 0 {
		return
	}
	var requests [][16]byte
	for _, id := range e.rep.Erased {
		for _, r := range e.restricted[id] {
			if !slices.Contains(requests, [16]byte(r)) {
				requests = append(requests, r)
			}
		}
	}
	if len(requests) == 0 {
		return
	}
	b.Queue(`INSERT INTO record_restrictions (record_id, request_id, reason) SELECT $1, unnest($2::uuid[]), 'restriction'
		ON CONFLICT DO NOTHING`, [16]byte(*e.kept), requests).Exec(func(tag pgconn.CommandTag) error {
		e.rep.RestrictionsKept = int(tag.RowsAffected())
		return nil
	})
}

// bySubject reports whether the person asked for the erasure. One they
// asked for suppresses their identifiers and deletes their customer
// accounts; one of retention does not: records expiring is not the
// person leaving, and they may come back as customers.
func (e *erasure) bySubject() bool { return e.channel != "retention" }

// suppress keeps the blind indexes of the erased records' strong
// identifiers as suppressions (for an erasure the person asked for).
func (e *erasure) suppress(b *pgx.Batch) {
	b.Queue(`INSERT INTO suppressions (kind, blind_index, request_id)
		SELECT DISTINCT k.kind, k.sum, $2::uuid `+strongIdentifiers+` AND $3
		ON CONFLICT (kind, blind_index) DO UPDATE SET request_id = EXCLUDED.request_id, at = now(), lifted_at = NULL, lifted_by = NULL`,
		e.erased, [16]byte(e.request), e.bySubject()).Exec(func(tag pgconn.CommandTag) error {
		e.rep.Suppressed = int(tag.RowsAffected())
		return nil
	})
}

// strongIdentifiers lists the blind indexes of the strong identifiers
// of the records $1 as (kind, sum), for the statement it begins.
const strongIdentifiers = `FROM records r,
	LATERAL (VALUES ('email', r.email_index), ('phone', r.phone_index), ('national_id', r.national_id_index)) AS k (kind, sum)
	WHERE r.id = ANY($1) AND k.sum IS NOT NULL`

// standRefusals keeps the person's refusals by identifier when a
// retention erases every record they have (migration 0030): the
// statements that decided each purpose they withdrew from or objected
// to, as keep re-states them, for each blind index of their strong
// identifiers, so that a record that comes back with one of them carries
// them again (UpsertRecords). A person is known by the erased records'
// identifiers and by the retentions whose refusals those records carry
// again (the basis of such a statement): what an earlier retention kept
// under an address they no longer have is theirs too. Every statement
// they made on a purpose since replaces what stood for it (a grant
// leaves nothing standing). An identifier under a suppression keeps none:
// the suppression refuses its records, and its lifting starts afresh.
//
// An erasure the person asked for removes all of theirs instead: they
// asked for everything to go.
func (e *erasure) standRefusals(b *pgx.Batch) {
	if len(e.erased) == 0 {
		return
	}
	earlier := [][16]byte{}
	var decided []string
	for _, ev := range e.events {
		if e.gone[ev.Record] && ev.Method == consent.MethodCarried && ev.Origin == standingOrigin {
			for _, r := range ev.Basis {
				if !slices.Contains(earlier, [16]byte(r)) {
					earlier = append(earlier, r)
				}
			}
		}
		if !slices.Contains(decided, ev.Purpose) {
			decided = append(decided, ev.Purpose)
		}
	}
	if e.bySubject() {
		b.Queue(`DELETE FROM standing_refusals s
			WHERE s.request_id = ANY($2) OR (s.kind, s.blind_index) IN (SELECT k.kind, k.sum `+strongIdentifiers+`)`, e.erased, earlier)
		return
	}
	if e.keep == nil || e.kept != nil {
		return // keepRefusals re-states them on the record the profile keeps
	}
	// What earlier retentions of the person kept is theirs now, under
	// whatever identifiers.
	b.Queue(`UPDATE standing_refusals SET request_id = $2 WHERE request_id = ANY($1)`, earlier, [16]byte(e.request))
	var purposes, states []string
	var notices []*int
	var ats, recorded []time.Time
	for _, c := range e.keep(e.events, func(id uuid.UUID) bool { return e.gone[id] }, uuid.Nil) {
		if !c.State.Refuses() {
			continue
		}
		purposes, states, notices = append(purposes, c.Purpose), append(states, string(c.State)), append(notices, noticeVersion(&c))
		ats, recorded = append(ats, c.At), append(recorded, c.RecordedAt)
	}
	if len(purposes) > 0 {
		b.Queue(`INSERT INTO standing_refusals (kind, blind_index, purpose, state, notice_version, at, recorded_at, request_id)
			SELECT k.kind, k.sum, s.purpose, s.state, s.notice_version, s.at, s.recorded_at, $7::uuid
			FROM (SELECT k.kind, k.sum `+strongIdentifiers+`
				UNION SELECT kind, blind_index FROM standing_refusals WHERE request_id = $7) AS k,
				unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[]) AS s (purpose, state, notice_version, at, recorded_at)
			WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = k.kind AND x.blind_index = k.sum AND x.lifted_at IS NULL)
			ORDER BY 1, 2, 3
			ON CONFLICT (kind, blind_index, purpose) DO UPDATE SET state = EXCLUDED.state, notice_version = EXCLUDED.notice_version,
				at = EXCLUDED.at, recorded_at = EXCLUDED.recorded_at, request_id = EXCLUDED.request_id, kept_at = now()`,
			e.erased, purposes, states, notices, ats, recorded, [16]byte(e.request)).Exec(func(tag pgconn.CommandTag) error {
			e.rep.RefusalsStanding = int(tag.RowsAffected())
			return nil
		})
	}
	// A purpose the person spoke of since and does not refuse now (they
	// granted it) has nothing standing.
	var settled []string
	for _, p := range decided {
		if !slices.Contains(purposes, p) {
			settled = append(settled, p)
		}
	}
	if len(settled) > 0 {
		b.Queue(`DELETE FROM standing_refusals s WHERE s.purpose = ANY($3)
			AND (s.request_id = $2 OR (s.kind, s.blind_index) IN (SELECT k.kind, k.sum `+strongIdentifiers+`))`,
			e.erased, [16]byte(e.request), settled)
	}
}

// standingOrigin is the origin of a standing refusal re-stated on a
// record that came back (UpsertRecords); its basis is the retention that
// kept it.
const standingOrigin = "retention"

// listAccounts puts the customer accounts linked to the erased records in
// the report, to be deleted from Kratos once this commits (for an
// erasure the person asked for).
func (e *erasure) listAccounts(b *pgx.Batch) {
	b.Queue(`SELECT kratos_identity FROM customer_links WHERE record_id = ANY($1) AND $2 ORDER BY kratos_identity`,
		e.erased, e.bySubject()).Query(func(rows pgx.Rows) error {
		var err error
		if e.rep.Accounts, err = pgx.CollectRows(rows, scanID); err != nil {
			return fmt.Errorf("customer accounts: %w", err)
		}
		return nil
	})
}

// deleteRecords deletes the erased records, their keys with them, and
// their versions, customer links, disputes, restrictions, identity links and constraints, review pairs,
// interactions and consent events, and everything profiling derived from
// the profile: its traits, stage history and segment memberships
// (recomputed from what is left, if anything is). It is one transaction:
// nothing is deleted unless everything is.
//
// The keys are not nulled first: that wrote a second version of every
// row for the DELETE to remove (migration 0023).
func (e *erasure) deleteRecords(b *pgx.Batch) {
	for _, q := range []string{
		// The records are locked already (sortRecords).
		`INSERT INTO trait_queue (profile_id) SELECT DISTINCT profile_id FROM profile_members WHERE record_id = ANY($1) ON CONFLICT DO NOTHING`,
		`DELETE FROM profile_traits WHERE profile_id IN (SELECT profile_id FROM profile_members WHERE record_id = ANY($1))`,
		`DELETE FROM lifecycle_changes WHERE profile_id IN (SELECT profile_id FROM profile_members WHERE record_id = ANY($1))`,
		`DELETE FROM segment_changes WHERE profile_id IN (SELECT profile_id FROM profile_members WHERE record_id = ANY($1))`,
		`DELETE FROM segment_members WHERE profile_id IN (SELECT profile_id FROM profile_members WHERE record_id = ANY($1))`,
		`DELETE FROM identity_links WHERE record_a = ANY($1) OR record_b = ANY($1)`,
		`DELETE FROM identity_constraints WHERE record_a = ANY($1) OR record_b = ANY($1)`,
		`DELETE FROM review_pairs WHERE record_a = ANY($1) OR record_b = ANY($1)`,
		`DELETE FROM interactions WHERE record_id = ANY($1)`,
		// Their versions, memberships, customer links, disputes and
		// restrictions go with them (records_delete_dependents, 0028).
		`DELETE FROM records WHERE id = ANY($1)`,
	} {
		b.Queue(q, e.erased)
	}
	// Consent events are append-only: this function deletes only those of
	// records that no longer exist. One more than readProfile read on
	// them was written meanwhile (a department's statement, an objection):
	// keepRefusals did not see it, so the erasure fails, is rolled back,
	// and its job runs it again.
	b.Queue(`SELECT erase_deleted_records_consent($1)`, e.erased).QueryRow(func(row pgx.Row) error {
		var deleted int
		if err := row.Scan(&deleted); err != nil {
			return err
		}
		if read := e.readOnErased(); e.keep != nil && deleted > read {
			return fmt.Errorf("erasure of request %s: %d consent events written on its records meanwhile; to be run again",
				e.request, deleted-read)
		}
		return nil
	})
}

// saveReport stores the report as the request's result: what a run of the
// job again reports (lockRequest).
func (e *erasure) saveReport(b *pgx.Batch) error {
	result, err := json.Marshal(e.rep)
	if err != nil {
		return err
	}
	b.Queue("UPDATE dsr_requests SET result = $2 WHERE id = $1", [16]byte(e.request), result)
	return nil
}

// restrictHeld restricts the records kept under a legal hold.
func (e *erasure) restrictHeld(b *pgx.Batch) {
	for _, h := range e.rep.Held {
		b.Queue(`INSERT INTO record_restrictions (record_id, request_id, reason) VALUES ($1, $2, 'legal_hold')
			ON CONFLICT DO NOTHING`, [16]byte(h.Record), [16]byte(e.request))
	}
}

// remaining reads the oldest record the profile has left, if any.
func (e *erasure) remaining(b *pgx.Batch, left **[16]byte) {
	b.Queue(`SELECT min(record_id::text)::uuid FROM profile_members WHERE profile_id = $1`, [16]byte(e.rep.Profile)).
		QueryRow(func(row pgx.Row) error { return row.Scan(left) })
}

// settleProfile keeps the profile with what is left of it (held records,
// restricted; records outside a retention's scope), its anchor the
// oldest record left, or erases it when nothing is.
func (e *erasure) settleProfile(b *pgx.Batch, left *[16]byte) {
	if left == nil {
		e.eraseProfile(b)
		return
	}
	b.Queue(`UPDATE profiles SET anchor = $2, updated_at = $3 WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM profile_members WHERE record_id = profiles.anchor)`, [16]byte(e.rep.Profile), *left, e.now)
}

// eraseProfile deletes a profile left with no record, its redirects and
// its history, leaving a tombstone for it and every id that led to it:
// they answer Gone to the DPO.
func (e *erasure) eraseProfile(b *pgx.Batch) {
	cur := [16]byte(e.rep.Profile)
	b.Queue(`INSERT INTO erased_profiles (profile_id, request_id, erased_at)
		SELECT $1::uuid, $2::uuid, $3::timestamptz UNION SELECT old_id, $2::uuid, $3::timestamptz FROM profile_redirects WHERE new_id = $1
		ON CONFLICT (profile_id) DO NOTHING`, cur, [16]byte(e.request), e.now)
	for _, q := range []string{
		`DELETE FROM profile_redirects WHERE new_id = $1 OR old_id = $1`,
		`DELETE FROM profile_events WHERE profile_id = $1`,
		`DELETE FROM profiles WHERE id = $1`,
	} {
		b.Queue(q, cur)
	}
}

// ErasedBy reports whether a profile id was erased, and by which request.
func (db *DB) ErasedBy(ctx context.Context, profile uuid.UUID) (uuid.UUID, time.Time, bool, error) {
	var req [16]byte
	var at time.Time
	err := db.pool.QueryRow(ctx, "SELECT request_id, erased_at FROM erased_profiles WHERE profile_id = $1", [16]byte(profile)).Scan(&req, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, at, false, nil
	}
	if err != nil {
		return uuid.Nil, at, false, fmt.Errorf("erased profile: %w", err)
	}
	return req, at, true, nil
}

// Restrict restricts (Art. 18) the records of a profile a request
// reaches (its scope, or every record), or lifts the restrictions of the
// request (lift). Finding the profile and restricting its records is one
// statement: as two, a merge committed between them left the profile
// found without records, and the request restricted nothing.
func (db *DB) Restrict(ctx context.Context, request, profile uuid.UUID, lift bool) error {
	var found bool
	err := db.pool.QueryRow(ctx, currentCTE+`,
		restricted AS (INSERT INTO record_restrictions (record_id, request_id, reason)
			SELECT m.record_id, $2, 'restriction' FROM cur JOIN profile_members m ON m.profile_id = cur.id JOIN dsr_requests q ON q.id = $2
			WHERE NOT $3 AND (cardinality(q.scope) = 0 OR m.record_id = ANY(q.scope)) ON CONFLICT DO NOTHING),
		lifted AS (UPDATE record_restrictions SET lifted_at = now() WHERE $3 AND request_id = $2 AND lifted_at IS NULL
			AND EXISTS (SELECT 1 FROM cur))
		SELECT EXISTS (SELECT 1 FROM cur)`, [16]byte(profile), [16]byte(request), lift).Scan(&found)
	if err != nil {
		return fmt.Errorf("restriction of profile %s: %w", profile, err)
	}
	if !found {
		return fmt.Errorf("profile %s: %w", profile, ErrNotFound)
	}
	return nil
}

// LiftSuppression lifts the suppression of an identifier (a person who
// was erased came back under a new lawful basis, e.g. signed up again).
func (db *DB) LiftSuppression(ctx context.Context, kind string, sum []byte, by string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE suppressions SET lifted_at = now(), lifted_by = $3
		WHERE kind = $1 AND blind_index = $2 AND lifted_at IS NULL`, kind, sum, by)
	if err != nil {
		return false, fmt.Errorf("lift suppression: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// LegalHold is a legal hold on a source (dsr.LegalHold).
type LegalHold = dsr.LegalHold

// AddLegalHold records a legal hold on a source.
func (db *DB) AddLegalHold(ctx context.Context, h LegalHold) (LegalHold, error) {
	err := db.pool.QueryRow(ctx, `INSERT INTO legal_holds (id, source, obligation, retain_days, created_by) VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at`, [16]byte(h.ID), h.Source, h.Obligation, h.RetainDays, h.CreatedBy).Scan(&h.CreatedAt)
	if isForeignKeyViolation(err) {
		return h, fmt.Errorf("source %q: %w", h.Source, ErrNotFound)
	}
	if isCheckViolation(err) {
		return h, fmt.Errorf("legal hold: obligation of 3 to 500 bytes, retain_days above 0: %w", ErrInvalid)
	}
	if err != nil {
		return h, fmt.Errorf("legal hold: %w", err)
	}
	return h, nil
}

// Suppressed says since when an identifier is suppressed, if it is.
func (db *DB) Suppressed(ctx context.Context, kind string, sum []byte) (time.Time, bool, error) {
	var at time.Time
	err := db.pool.QueryRow(ctx, `SELECT at FROM suppressions WHERE kind = $1 AND blind_index = $2 AND lifted_at IS NULL`, kind, sum).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return at, false, nil
	}
	if err != nil {
		return at, false, fmt.Errorf("suppression: %w", err)
	}
	return at, true, nil
}

// LegalHolds lists the holds in force.
func (db *DB) LegalHolds(ctx context.Context) ([]LegalHold, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, source, obligation, retain_days, created_by, created_at, lifted_at FROM legal_holds
		WHERE lifted_at IS NULL ORDER BY source, created_at`)
	if err != nil {
		return nil, fmt.Errorf("legal holds: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LegalHold, error) {
		var h LegalHold
		var id [16]byte
		err := r.Scan(&id, &h.Source, &h.Obligation, &h.RetainDays, &h.CreatedBy, &h.CreatedAt, &h.LiftedAt)
		h.ID = id
		return h, err
	})
}
