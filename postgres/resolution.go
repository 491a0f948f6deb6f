package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/resolver"
)

// Apply writes the outcome of a resolution run in one transaction:
// memberships, profiles (created, re-anchored, merged away with a
// redirect), links, open review pairs, the profile history, the steward
// decision it applies, and the run itself.
func (db *DB) Apply(ctx context.Context, a *resolver.Apply) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now().UTC()
		// The profiling lock, shared, before any profile's row: merging
		// consent may stop someone's profiling (forget_profiling takes
		// this lock), and a profiling write that holds it may be waiting
		// for the rows this run changes.
		if err := profilingLock(ctx, tx, profilingLockSharedCall); err != nil {
			return err
		}
		if err := writeDecision(ctx, tx, a.Decision); err != nil {
			return err
		}
		existed, err := existingProfiles(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := writeMembers(ctx, tx, a, now); err != nil {
			return err
		}
		vanished, err := dropVanished(ctx, tx, a, existed)
		if err != nil {
			return err
		}
		if err := writeLinks(ctx, tx, a, now); err != nil {
			return err
		}
		if err := writeReview(ctx, tx, a, now); err != nil {
			return err
		}
		if err := writeEvents(ctx, tx, a, existed, vanished, now); err != nil {
			return err
		}
		if err := reconcileConsent(ctx, tx, a, now); err != nil {
			return err
		}
		// The run's figures. Which profiles it touched is in the profile
		// history under its id; the list of every profile of a full run
		// would be megabytes here (17 MB at a million records).
		report := a.Report
		report.ProfilesTouched = nil
		stats, err := json.Marshal(report)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO resolution_runs (id, kind, actor, started_at, finished_at, model_version, stats)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			[16]byte(a.RunID), a.Kind, a.Actor, a.Started, now, nullVersion(a.ModelVersion), stats)
		if err != nil {
			return fmt.Errorf("record resolution run: %w", err)
		}
		return nil
	})
}

func nullVersion(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

func writeDecision(ctx context.Context, tx pgx.Tx, d *resolver.Decision) error {
	if d == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO steward_decisions (id, kind, actor, at, profiles, records, kek_id, wrapped_key, note, reverses)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		[16]byte(d.ID), d.Kind, d.Actor, d.At, uuids(d.Profiles), uuids(d.Records), d.Note.KEK, d.Note.Wrapped, d.Note.Sealed, d.Reverses)
	if err != nil {
		return fmt.Errorf("record decision: %w", err)
	}
	for _, c := range d.Constraints {
		_, err := tx.Exec(ctx, `INSERT INTO identity_constraints (record_a, record_b, same, decision_id)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (record_a, record_b) DO UPDATE SET same = EXCLUDED.same, decision_id = EXCLUDED.decision_id`,
			c.A, c.B, c.Same, [16]byte(d.ID))
		if err != nil {
			return fmt.Errorf("record constraint: %w", err)
		}
	}
	if d.ReviewPair != nil {
		_, err := tx.Exec(ctx, "UPDATE review_pairs SET decided_at = $2, decision_id = $3 WHERE id = $1",
			[16]byte(*d.ReviewPair), d.At, [16]byte(d.ID))
		if err != nil {
			return fmt.Errorf("decide review pair: %w", err)
		}
	}
	return nil
}

// existingProfiles returns which of the run's profiles (new and previous)
// exist before it writes.
// (A full run concerns every profile: all of them are read, without
// sending a million ids to look up.)
func existingProfiles(ctx context.Context, tx pgx.Tx, a *resolver.Apply) (map[uuid.UUID]bool, error) {
	var rows pgx.Rows
	var err error
	if a.Full {
		rows, err = tx.Query(ctx, "SELECT id FROM profiles")
	} else {
		ids := make([][16]byte, 0, len(a.Anchors))
		for p := range a.Anchors {
			ids = append(ids, p)
		}
		for _, p := range a.Previous {
			ids = append(ids, p)
		}
		rows, err = tx.Query(ctx, "SELECT id FROM profiles WHERE id = ANY($1)", ids)
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	defer rows.Close()
	existed := map[uuid.UUID]bool{}
	for rows.Next() {
		var id [16]byte
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		existed[id] = true
	}
	return existed, rows.Err()
}

func writeMembers(ctx context.Context, tx pgx.Tx, a *resolver.Apply, now time.Time) error {
	if a.Full {
		if _, err := tx.Exec(ctx, "DELETE FROM profile_members"); err != nil {
			return fmt.Errorf("clear memberships: %w", err)
		}
		// Every profile is stale: one entry in the profiler's queue says
		// so (migration 0017), not one per profile.
		if _, err := tx.Exec(ctx, "SET LOCAL cdp.queue_every_profile = 'on'"); err != nil {
			return fmt.Errorf("queue profiles: %w", err)
		}
	}
	// An incremental run writes only the memberships that changed: a
	// write of 500 records rewrote its whole neighbourhood (20,000 records
	// at a million), and queued every profile in it for the profiler.
	moved := movedRecords(a)
	if !a.Full {
		if err := checkPrevious(ctx, tx, a); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM profile_members WHERE record_id = ANY($1)", uuids(moved)); err != nil {
			return fmt.Errorf("clear memberships: %w", err)
		}
		// The profiles that lost a record and remain are stale too (the
		// insert's trigger queues those that gained one).
		var left [][16]byte
		seen := map[uuid.UUID]bool{}
		for _, r := range moved {
			if old, ok := a.Previous[r]; ok && !seen[old] {
				if _, remains := a.Anchors[old]; remains {
					left = append(left, old)
				}
				seen[old] = true
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO trait_queue (profile_id) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING", left); err != nil {
			return fmt.Errorf("queue profiles: %w", err)
		}
	}
	profiles := make([]uuid.UUID, 0, len(a.Anchors))
	for p := range a.Anchors {
		profiles = append(profiles, p)
	}
	slices.SortFunc(profiles, compareIDs)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE run_profiles (id uuid, anchor uuid) ON COMMIT DROP"); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"run_profiles"}, []string{"id", "anchor"},
		pgx.CopyFromSlice(len(profiles), func(i int) ([]any, error) {
			return []any{[16]byte(profiles[i]), [16]byte(a.Anchors[profiles[i]])}, nil
		}))
	if err != nil {
		return fmt.Errorf("stage profiles: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO profiles (id, anchor, created_at, updated_at)
		SELECT id, anchor, $1, $1 FROM run_profiles
		ON CONFLICT (id) DO UPDATE SET anchor = EXCLUDED.anchor, updated_at = EXCLUDED.updated_at
		WHERE profiles.anchor <> EXCLUDED.anchor`, now)
	if err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	// A profile id that comes back (a split undone) is no longer a redirect.
	if _, err := tx.Exec(ctx, "DELETE FROM profile_redirects WHERE old_id IN (SELECT id FROM run_profiles)"); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	// In key order: each row then lands beside the one before it in the
	// primary key's index (and the check of the records it names reads
	// their index in order too). Measured on 1,000,000 memberships copied
	// into an empty table: 16.6 s unsorted, 9.4 s sorted.
	records := moved
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"profile_members"}, []string{"record_id", "profile_id"},
		pgx.CopyFromSlice(len(records), func(i int) ([]any, error) {
			return []any{[16]byte(records[i]), [16]byte(a.Members[records[i]])}, nil
		}))
	if err != nil {
		return fmt.Errorf("write memberships: %w", err)
	}
	return nil
}

// checkPrevious makes sure the memberships an incremental run read are
// still those stored: only the run writes what is unchanged, so a record
// deleted since its neighbourhood was read (an erasure, which does not
// take the resolution lock) would otherwise leave its profile, anchor
// and links to be written back. Deleters of records lock the memberships
// against writers (migration 0016): once this run holds its writer's
// lock, none is running and none can start until it commits.
func checkPrevious(ctx context.Context, tx pgx.Tx, a *resolver.Apply) error {
	if _, err := tx.Exec(ctx, "LOCK TABLE profile_members IN ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock memberships: %w", err)
	}
	scope := uuids(a.Scope)
	var records int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM records WHERE id = ANY($1)", scope).Scan(&records); err != nil {
		return fmt.Errorf("check records: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT record_id, profile_id FROM profile_members WHERE record_id = ANY($1)", scope)
	if err != nil {
		return fmt.Errorf("check memberships: %w", err)
	}
	stored := 0
	changed := records != len(a.Scope)
	var rec, p [16]byte
	if _, err := pgx.ForEachRow(rows, []any{&rec, &p}, func() error {
		stored++
		if old, ok := a.Previous[rec]; !ok || old != p {
			changed = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("check memberships: %w", err)
	}
	if changed || stored != len(a.Previous) {
		return fmt.Errorf("records of the run changed since they were read: %w", resolver.ErrStale)
	}
	return nil
}

// movedRecords are the records whose membership a run writes, in key
// order: every record for a full run, which replaces them all; for an
// incremental one those that were in no profile or in another.
func movedRecords(a *resolver.Apply) []uuid.UUID {
	records := make([]uuid.UUID, 0, len(a.Members))
	for r, p := range a.Members {
		if old, ok := a.Previous[r]; a.Full || !ok || old != p {
			records = append(records, r)
		}
	}
	slices.SortFunc(records, compareIDs)
	return records
}

// dropVanished deletes the previous profiles that no longer have records
// and leaves a redirect to the profile that took most of them. It returns
// each vanished profile with that target.
func dropVanished(ctx context.Context, tx pgx.Tx, a *resolver.Apply, existed map[uuid.UUID]bool) (map[uuid.UUID]uuid.UUID, error) {
	moved := map[uuid.UUID]map[uuid.UUID]int{} // old profile -> new profile -> records
	for rec, old := range a.Previous {
		if _, still := a.Anchors[old]; still {
			continue
		}
		if moved[old] == nil {
			moved[old] = map[uuid.UUID]int{}
		}
		moved[old][a.Members[rec]]++
	}
	vanished := map[uuid.UUID]uuid.UUID{}
	for old, targets := range moved {
		if !existed[old] {
			continue
		}
		var best uuid.UUID
		n := -1
		for t, k := range targets {
			if k > n || k == n && compareIDs(t, best) < 0 {
				best, n = t, k
			}
		}
		vanished[old] = best
	}
	if a.Full {
		// Profiles of records that no longer exist go too: every profile
		// that is not this run's (the run's are all it wrote memberships
		// of, and the smaller table to look in).
		if _, err := tx.Exec(ctx, `DELETE FROM profiles p WHERE NOT EXISTS (SELECT 1 FROM run_profiles rp WHERE rp.id = p.id)`); err != nil {
			return nil, fmt.Errorf("drop empty profiles: %w", err)
		}
	}
	// Three statements for all of them, not three per profile: a full run
	// after a model change may merge tens of thousands away.
	olds := make([]uuid.UUID, 0, len(vanished))
	for old := range vanished {
		olds = append(olds, old)
	}
	slices.SortFunc(olds, compareIDs)
	targets := make([]uuid.UUID, len(olds))
	for i, old := range olds {
		targets[i] = vanished[old]
	}
	if len(olds) > 0 {
		olds, targets := uuids(olds), uuids(targets)
		if _, err := tx.Exec(ctx, "DELETE FROM profiles WHERE id = ANY($1)", olds); err != nil {
			return nil, fmt.Errorf("drop profiles: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO profile_redirects (old_id, new_id)
			SELECT * FROM unnest($1::uuid[], $2::uuid[])
			ON CONFLICT (old_id) DO UPDATE SET new_id = EXCLUDED.new_id, at = now()`, olds, targets); err != nil {
			return nil, fmt.Errorf("redirect profiles: %w", err)
		}
		// Redirects to a profile merged away now lead to where it went
		// (never to another profile merged away: targets are this run's).
		if _, err := tx.Exec(ctx, `UPDATE profile_redirects r SET new_id = t.new_id
			FROM unnest($1::uuid[], $2::uuid[]) AS t(old_id, new_id) WHERE r.new_id = t.old_id`, olds, targets); err != nil {
			return nil, fmt.Errorf("redirect profiles: %w", err)
		}
	}
	return vanished, nil
}

func writeLinks(ctx context.Context, tx pgx.Tx, a *resolver.Apply, now time.Time) error {
	version := nullVersion(a.ModelVersion)
	// In key order, as memberships are (a copy: the run's links are the
	// caller's).
	links := slices.Clone(a.Links)
	slices.SortFunc(links, func(x, y resolver.Link) int { return comparePairs(x.A, x.B, y.A, y.B) })
	if a.Full {
		if _, err := tx.Exec(ctx, "DELETE FROM identity_links"); err != nil {
			return fmt.Errorf("clear links: %w", err)
		}
	} else {
		// An incremental run writes the links that changed only, and
		// those that did not keep when they were made.
		type stored struct {
			p       float64
			rule    string
			version int // 0: none
		}
		rows, err := tx.Query(ctx, `SELECT record_a, record_b, probability, rule, coalesce(model_version, 0) FROM identity_links
			WHERE record_a = ANY($1) OR record_b = ANY($1)`, uuids(a.Scope))
		if err != nil {
			return fmt.Errorf("read links: %w", err)
		}
		had := map[[2]uuid.UUID]stored{}
		var x, y [16]byte
		var st stored
		if _, err := pgx.ForEachRow(rows, []any{&x, &y, &st.p, &st.rule, &st.version}, func() error {
			had[[2]uuid.UUID{x, y}] = st
			return nil
		}); err != nil {
			return fmt.Errorf("read links: %w", err)
		}
		fresh := links[:0]
		for _, l := range links {
			k := [2]uuid.UUID{l.A, l.B}
			if h, ok := had[k]; ok && h.p == l.Probability && h.rule == l.Rule && h.version == a.ModelVersion {
				delete(had, k) // unchanged: kept
				continue
			}
			fresh = append(fresh, l)
		}
		links = fresh
		var gone [][2][16]byte
		for k := range had {
			gone = append(gone, [2][16]byte{k[0], k[1]})
		}
		if err := deletePairs(ctx, tx, "identity_links", "", gone); err != nil {
			return fmt.Errorf("clear links: %w", err)
		}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"identity_links"}, []string{"record_a", "record_b", "probability", "rule", "model_version", "created_at"},
		pgx.CopyFromSlice(len(links), func(i int) ([]any, error) {
			l := links[i]
			return []any{[16]byte(l.A), [16]byte(l.B), l.Probability, l.Rule, version, now}, nil
		}))
	if err != nil {
		return fmt.Errorf("write links: %w", err)
	}
	return nil
}

// deletePairs deletes the rows of a table keyed by (record_a, record_b)
// for the given pairs, those matching the extra condition only.
func deletePairs(ctx context.Context, tx pgx.Tx, table, and string, pairs [][2][16]byte) error {
	if len(pairs) == 0 {
		return nil
	}
	as, bs := make([][16]byte, len(pairs)), make([][16]byte, len(pairs))
	for i, p := range pairs {
		as[i], bs[i] = p[0], p[1]
	}
	_, err := tx.Exec(ctx, `DELETE FROM `+table+` t USING unnest($1::uuid[], $2::uuid[]) AS g(a, b)
		WHERE t.record_a = g.a AND t.record_b = g.b`+and, as, bs)
	return err
}

// comparePairs orders record pairs (a1, b1) and (a2, b2) as their table's
// key (record_a, record_b) does.
func comparePairs(a1, b1, a2, b2 uuid.UUID) int {
	if c := compareIDs(a1, a2); c != 0 {
		return c
	}
	return compareIDs(b1, b2)
}

func writeReview(ctx context.Context, tx pgx.Tx, a *resolver.Apply, now time.Time) error {
	version := nullVersion(a.ModelVersion)
	// The pairs a steward decided stay, and are not asked again. A full
	// run replaces every open pair; an incremental one keeps the open
	// pairs it finds again with their ids (a steward may have one open in
	// the console), updated when their score changed, deletes those it no
	// longer finds and adds the new ones. The pairs are read,
	// so that the rest is copied straight in, instead of through a
	// staging table and an insert that skips conflicts (2.2 s -> 1 s for
	// 191,891 pairs at a million records).
	type stored struct {
		decided bool
		p       float64
		reason  string
		version int // 0: none
	}
	var rows pgx.Rows
	var err error
	if a.Full {
		if _, err := tx.Exec(ctx, "DELETE FROM review_pairs WHERE decided_at IS NULL"); err != nil {
			return fmt.Errorf("clear review pairs: %w", err)
		}
		rows, err = tx.Query(ctx, "SELECT record_a, record_b, true, 0::float8, '', 0 FROM review_pairs")
	} else {
		rows, err = tx.Query(ctx, `SELECT record_a, record_b, decided_at IS NOT NULL, probability, reason, coalesce(model_version, 0) FROM review_pairs
			WHERE record_a = ANY($1) OR record_b = ANY($1)`, uuids(a.Scope))
	}
	if err != nil {
		return fmt.Errorf("read review pairs: %w", err)
	}
	had := map[[2]uuid.UUID]stored{}
	var x, y [16]byte
	var st stored
	if _, err := pgx.ForEachRow(rows, []any{&x, &y, &st.decided, &st.p, &st.reason, &st.version}, func() error {
		had[[2]uuid.UUID{x, y}] = st
		return nil
	}); err != nil {
		return fmt.Errorf("read review pairs: %w", err)
	}
	skip := map[[2]uuid.UUID]bool{} // decided, or open and unchanged
	for k, h := range had {
		if h.decided {
			skip[k] = true
			delete(had, k)
		}
	}
	// An open pair the run scores anew keeps its id: its score, reason
	// and explanation are updated in place.
	var ua, ub [][16]byte
	var up []float64
	var ulevels, ureason []string
	for _, r := range a.Review {
		k := [2]uuid.UUID{r.A, r.B}
		h, ok := had[k]
		if !ok {
			continue
		}
		skip[k] = true
		delete(had, k)
		if h.p == r.Probability && h.reason == r.Reason && h.version == a.ModelVersion {
			continue
		}
		levels, err := json.Marshal(r.Levels)
		if err != nil {
			return err
		}
		ua, ub, up = append(ua, r.A), append(ub, r.B), append(up, r.Probability)
		ulevels, ureason = append(ulevels, string(levels)), append(ureason, r.Reason)
	}
	if len(ua) > 0 {
		_, err := tx.Exec(ctx, `UPDATE review_pairs t SET probability = u.p, levels = u.levels::jsonb, reason = u.reason, model_version = $6
			FROM unnest($1::uuid[], $2::uuid[], $3::float8[], $4::text[], $5::text[]) AS u(a, b, p, levels, reason)
			WHERE t.record_a = u.a AND t.record_b = u.b AND t.decided_at IS NULL`, ua, ub, up, ulevels, ureason, version)
		if err != nil {
			return fmt.Errorf("update review pairs: %w", err)
		}
	}
	var gone [][2][16]byte
	for k := range had {
		gone = append(gone, [2][16]byte{k[0], k[1]})
	}
	if err := deletePairs(ctx, tx, "review_pairs", " AND t.decided_at IS NULL", gone); err != nil {
		return fmt.Errorf("clear review pairs: %w", err)
	}
	// In key order, each pair once, as memberships are.
	pairs := make([]resolver.ReviewPair, 0, len(a.Review))
	for _, r := range a.Review {
		if !skip[[2]uuid.UUID{r.A, r.B}] {
			pairs = append(pairs, r)
		}
	}
	slices.SortFunc(pairs, func(x, y resolver.ReviewPair) int { return comparePairs(x.A, x.B, y.A, y.B) })
	pairs = slices.CompactFunc(pairs, func(x, y resolver.ReviewPair) bool { return x.A == y.A && x.B == y.B })
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"review_pairs"},
		[]string{"id", "record_a", "record_b", "probability", "levels", "reason", "model_version", "created_at"},
		pgx.CopyFromSlice(len(pairs), func(i int) ([]any, error) {
			r := &pairs[i]
			levels, err := json.Marshal(r.Levels)
			if err != nil {
				return nil, err
			}
			return []any{[16]byte(uuid.Must(uuid.NewV7())), [16]byte(r.A), [16]byte(r.B), r.Probability, levels, r.Reason, version, now}, nil
		}))
	if err != nil {
		return fmt.Errorf("write review pairs: %w", err)
	}
	return nil
}

// writeEvents records each profile's history: created, records added and
// removed, merged into another, split from another.
func writeEvents(ctx context.Context, tx pgx.Tx, a *resolver.Apply, existed map[uuid.UUID]bool, vanished map[uuid.UUID]uuid.UUID, now time.Time) error {
	type event struct {
		profile, record, other uuid.UUID
		kind                   string
	}
	var evs []event
	created := map[uuid.UUID]bool{}
	for p, anchor := range a.Anchors {
		if !existed[p] {
			created[p] = true
			evs = append(evs, event{profile: p, record: anchor, kind: "created"})
		}
	}
	splitFrom := map[uuid.UUID]uuid.UUID{}
	for rec, p := range a.Members {
		old, had := a.Previous[rec]
		if had && old == p {
			continue
		}
		if !created[p] {
			evs = append(evs, event{profile: p, record: rec, kind: "record_added"})
		}
		if had {
			if _, gone := vanished[old]; !gone {
				evs = append(evs, event{profile: old, record: rec, kind: "record_removed"})
				if created[p] {
					splitFrom[p] = old
				}
			}
		}
	}
	for p, old := range splitFrom {
		evs = append(evs, event{profile: p, other: old, kind: "split_from"})
	}
	for old, target := range vanished {
		evs = append(evs, event{profile: old, other: target, kind: "merged_into"}, event{profile: target, other: old, kind: "absorbed"})
	}
	var decision any
	if a.Decision != nil {
		decision = [16]byte(a.Decision.ID)
	}
	nullable := func(id uuid.UUID) any {
		if id == uuid.Nil {
			return nil
		}
		return [16]byte(id)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"profile_events"}, []string{"profile_id", "kind", "record_id", "other_id", "run_id", "decision_id", "at"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := evs[i]
			return []any{[16]byte(e.profile), e.kind, nullable(e.record), nullable(e.other), [16]byte(a.RunID), decision, now}, nil
		}))
	if err != nil {
		return fmt.Errorf("write profile history: %w", err)
	}
	return nil
}

// reconcileConsent combines the consent of profiles that merged. Events
// stay attached to their records, so a merged profile holds the events of
// every part; taken alone, the latest would win. Instead, for each purpose
// on which two parts had said different things, the most restrictive state
// wins: it is written as a new event on the profile's anchor record,
// flagged as a conflict for the DPO, and the events of both sides stay as
// they were, evidence included. A later statement of the person overrides
// it as usual. A split needs nothing: each part keeps its records' events.
func reconcileConsent(ctx context.Context, tx pgx.Tx, a *resolver.Apply, now time.Time) error {
	// Only the profiles of this run that hold consent events: usually few.
	rows, err := tx.Query(ctx, `SELECT `+consentColumns+`, m.profile_id FROM consent_events e
		JOIN profile_members m ON m.record_id = e.record_id JOIN run_profiles rp ON rp.id = m.profile_id`)
	if err != nil {
		return fmt.Errorf("reconcile consent: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanConflict)
	if err != nil {
		return fmt.Errorf("reconcile consent: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	rows, err = tx.Query(ctx, `SELECT `+purposeColumns+` FROM purposes ORDER BY id`)
	if err != nil {
		return fmt.Errorf("reconcile consent: %w", err)
	}
	purposes, err := pgx.CollectRows(rows, scanPurpose)
	if err != nil {
		return fmt.Errorf("reconcile consent: %w", err)
	}
	// The parts of each profile: the profile each record was in before the
	// run (records the run did not touch stayed where they were).
	parts := map[uuid.UUID]map[uuid.UUID][]consent.Event{}
	for _, h := range events {
		part := h.ProfileID
		if _, inScope := a.Members[h.Record]; inScope {
			part = h.Record // new to any profile: a part of its own
			if prev, ok := a.Previous[h.Record]; ok {
				part = prev
			}
		}
		if parts[h.ProfileID] == nil {
			parts[h.ProfileID] = map[uuid.UUID][]consent.Event{}
		}
		parts[h.ProfileID][part] = append(parts[h.ProfileID][part], h.Event)
	}
	var out []consent.Event
	var joined []joinedRefusal
	for profile, ps := range parts {
		var written []consent.Event
		if len(ps) >= 2 {
			written = consent.Reconcile(purposes, ps, a.Anchors[profile], a.Actor, now)
		} else {
			// One part: perhaps what a split left of a merged profile.
			var all []consent.Event
			for _, es := range ps {
				all = append(all, es...)
			}
			left := func(r uuid.UUID) bool { p, moved := a.Members[r]; return moved && p != profile }
			written = consent.Unmerge(purposes, all, left, a.Anchors[profile], a.Actor, now)
		}
		out = append(out, written...)
		joined = append(joined, refusalsJoined(purposes, profile, ps, written, now)...)
	}
	if len(joined) > 0 {
		// A profile new in this run has no traits or memberships to stop.
		existed := map[uuid.UUID]bool{}
		for _, p := range a.Previous {
			existed[p] = true
		}
		joined = slices.DeleteFunc(joined, func(j joinedRefusal) bool { return !existed[j.profile] })
	}
	if err := stopJoinedProfiling(ctx, tx, joined); err != nil {
		return err
	}
	if len(out) == 0 {
		return nil
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"consent_events"}, consentCopyColumns, consentCopy(out))
	if err != nil {
		return fmt.Errorf("reconcile consent: %w", err)
	}
	return nil
}

// joinedRefusal is a refusal that a merge brought into a profile from
// another of its parts.
type joinedRefusal struct {
	profile        uuid.UUID
	purpose, state string
}

// refusalsJoined lists the purposes a merged profile refuses by a
// statement of a part other than the profile's own (the records that
// were in it before): a record that joined with an objection, or a
// profile merged into it. Reconciled purposes are left out: their new
// statement stops the profiling by trigger.
func refusalsJoined(purposes []consent.Purpose, profile uuid.UUID, parts map[uuid.UUID][]consent.Event, reconciled []consent.Event, now time.Time) []joinedRefusal {
	var all []consent.Event
	from := map[uuid.UUID]uuid.UUID{} // event -> part
	for part, es := range parts {
		for _, e := range es {
			all = append(all, e)
			from[e.ID] = part
		}
	}
	var out []joinedRefusal
	for p, c := range consent.Derive(purposes, all, now) {
		if c.Event == nil || !(c.State.Refuses() || c.State == consent.Denied) || from[c.Event.ID] == profile ||
			slices.ContainsFunc(reconciled, func(e consent.Event) bool { return e.Purpose == p }) {
			continue
		}
		out = append(out, joinedRefusal{profile: profile, purpose: p, state: string(c.State)})
	}
	return out
}

// stopJoinedProfiling stops the profiling of the profiles a merge brought
// a refusal into, at once, as the statement itself did when it was made
// (forget_profiling, which consent_stops_profiling calls): without it the
// profile kept the traits and segment memberships computed before, until
// the next computation.
func stopJoinedProfiling(ctx context.Context, tx pgx.Tx, joined []joinedRefusal) error {
	if len(joined) == 0 {
		return nil
	}
	type group struct{ purpose, state string }
	groups := map[group][][16]byte{}
	for _, j := range joined {
		g := group{j.purpose, j.state}
		groups[g] = append(groups[g], j.profile)
	}
	b := &pgx.Batch{}
	for g, profiles := range groups {
		why := "no consent for " + g.purpose
		if g.state == string(consent.Objected) {
			why = "objection to " + g.purpose
		}
		b.Queue(`SELECT forget_profiling($1::uuid[], $2, $3)`, profiles, g.purpose, why)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("stop the profiling of merged profiles: %w", err)
	}
	return nil
}
