package resolver_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
)

type env struct {
	t   *testing.T
	db  *postgres.DB
	im  ingest.Importer
	r   *resolver.Resolver
	ids map[string]uuid.UUID // source/source_id -> record id
	url string               // the database, as its owner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, url := pgtest.NewStore(t)
	ctx := context.Background()
	v := pgtest.NewVault(t, db)
	for _, s := range []identity.Source{
		{Name: "sales", Department: "sales", Priority: 70},
		{Name: "support", Department: "support", Priority: 60},
		{Name: "billing", Department: "billing", Priority: 90, UniqueRecords: true, UniqueIdentifiers: []string{"national_id"}},
	} {
		if _, err := db.AddSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	nz, _ := identity.NewNormalizer("GB", identity.DMY)
	return &env{
		t: t, db: db,
		im:  ingest.Importer{Vault: v, Store: db, Normalizer: nz, Actor: "test"},
		r:   &resolver.Resolver{Store: db, Vault: v},
		ids: map[string]uuid.UUID{},
		url: url,
	}
}

const header = "source,source_id,given_name,family_name,birth_date,email,phone,street,postcode,city,country,national_id\n"

// load imports rows and returns the ids of created or updated records.
func (e *env) load(rows ...string) []uuid.UUID {
	e.t.Helper()
	r, err := ingest.NewCSVReader(strings.NewReader(header+strings.Join(rows, "\n")+"\n"), ingest.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	var changed []uuid.UUID
	_, err = e.im.Import(context.Background(), r, func(res ingest.Result) {
		if res.Status == ingest.StatusRejected {
			e.t.Fatalf("line %d rejected: %v", res.Line, res.Problems)
		}
		if res.Status != ingest.StatusUnchanged {
			changed = append(changed, res.RecordID)
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for i, row := range rows {
		f := strings.Split(row, ",")
		if i < len(changed) {
			e.ids[f[0]+"/"+f[1]] = changed[i]
		}
	}
	return changed
}

// profile returns the profile of a record named source/source_id.
func (e *env) profile(name string) uuid.UUID {
	e.t.Helper()
	p := pgtest.Query(e.t, e.url, `SELECT coalesce(m.profile_id, '00000000-0000-0000-0000-000000000000')::text
		FROM records r LEFT JOIN profile_members m ON m.record_id = r.id WHERE r.id = $1 AND r.wrapped_key IS NOT NULL`,
		[16]byte(e.ids[name]))
	if p == "" {
		e.t.Fatalf("record %s not found", name)
	}
	return uuid.MustParse(p)
}

func (e *env) sameProfile(a, b string) bool { return e.profile(a) == e.profile(b) }

var people = []string{
	"sales,s1,Anna,Schmidt,1980-02-01,anna.schmidt@example.com,07700 900123,12 High Street,SW1A 1AA,London,GB,",
	"support,t1,Ana,Schmidt,01/02/1980,anna.schmidt@example.com,,,,,GB,",
	"billing,b1,Anna,Schmit,1980-02-01,,07700 900123,12 High St.,SW1A1AA,London,GB,QQ123456C",
	"sales,s2,Ben,Jones,1975-07-14,ben.jones@example.org,07700 900456,4 Park Road,M1 1AE,Manchester,GB,",
	"billing,b2,Benjamin,Jones,14/07/1975,ben.jones@example.org,,4 Park Rd,M11AE,Manchester,GB,QQ654321A",
	"support,t3,Carla,Gomez,1990-12-30,carla@example.net,,,,,GB,",
}

func TestFullResolutionIsStable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.load(people...)
	rep, err := e.r.Full(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rep.ProfilesAfter != 3 {
		t.Fatalf("profiles %d, want 3 (Anna, Ben, Carla): %+v", rep.ProfilesAfter, rep)
	}
	if !e.sameProfile("sales/s1", "support/t1") || !e.sameProfile("sales/s1", "billing/b1") || !e.sameProfile("sales/s2", "billing/b2") {
		t.Error("records of one person in different profiles")
	}
	if e.sameProfile("sales/s1", "sales/s2") || e.sameProfile("sales/s1", "support/t3") {
		t.Error("different people in one profile")
	}
	// The profile id derives from the oldest record.
	if want := uuid.MustParse(identity.ProfileID(e.ids["sales/s1"].String())); e.profile("sales/s1") != want {
		t.Errorf("profile id %s, want the one derived from the anchor %s", e.profile("sales/s1"), want)
	}
	before := map[string]uuid.UUID{}
	for name := range e.ids {
		before[name] = e.profile(name)
	}
	rep, err = e.r.Full(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 0 || rep.Merged != 0 || rep.Moved != 0 {
		t.Errorf("re-resolving the same data changed something: %+v", rep)
	}
	// Unrelated records change nothing for existing profiles.
	changed := e.load("sales,s9,Dora,Keller,1966-05-05,dora@example.com,,,,,GB,")
	if rep, err = e.r.Incremental(ctx, "test", changed); err != nil {
		t.Fatal(err)
	}
	if rep.Created != 1 || rep.Moved != 1 {
		t.Errorf("an unrelated record: %+v, want one new profile", rep)
	}
	for name, p := range before {
		if e.profile(name) != p {
			t.Errorf("record %s changed profile after an unrelated import", name)
		}
	}
}

// The first incremental run on a store large enough to train on trains
// the first model and resolves the whole store under it, once.
func TestIncrementalTrainsTheFirstModelAndResolvesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.r.TrainAt = len(people)
	e.load(people...)
	rep, err := e.r.Incremental(ctx, "test", []uuid.UUID{e.ids["support/t3"]})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "full" || !rep.Trained {
		t.Fatalf("report %+v: want a full run under a freshly trained model", rep)
	}
	if _, v, err := e.db.ActiveModel(ctx); err != nil || v != rep.ModelVersion || v == 0 {
		t.Fatalf("active model %d (%v), the run used %d", v, err, rep.ModelVersion)
	}
	if !e.sameProfile("sales/s1", "support/t1") || !e.sameProfile("sales/s2", "billing/b2") || e.sameProfile("sales/s1", "sales/s2") {
		t.Error("the whole store was not resolved")
	}
	if rep, err = e.r.Incremental(ctx, "test", []uuid.UUID{e.ids["support/t3"]}); err != nil || rep.Trained || rep.Kind == "full" {
		t.Errorf("a second run: %+v, %v", rep, err)
	}
}

// resolved loads the people above, resolves them in full, and returns
// Anna's profile.
func (e *env) resolved(ctx context.Context) uuid.UUID {
	e.t.Helper()
	e.load(people...)
	if _, err := e.r.Full(ctx, "test"); err != nil {
		e.t.Fatal(err)
	}
	return e.profile("sales/s1")
}

func TestIncrementalJoinsTheRightProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	anna := e.resolved(ctx)
	// A new support record of Anna, found through her email.
	changed := e.load("support,t7,Anna,Schmidt,,anna.schmidt@example.com,,,,,GB,")
	rep, err := e.r.Incremental(ctx, "test", changed)
	if err != nil {
		t.Fatal(err)
	}
	if e.profile("support/t7") != anna {
		t.Errorf("the new record is in %s, want Anna's profile %s (%+v)", e.profile("support/t7"), anna, rep)
	}
	if rep.Created != 0 || rep.Merged != 0 {
		t.Errorf("report %+v: a record joining a profile creates and merges nothing", rep)
	}
}

func TestMergeAndSplitAreKeptByLaterRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.load(people...)
	if _, err := e.r.Full(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	carla, ben := e.profile("support/t3"), e.profile("sales/s2")

	// Bad requests change nothing.
	for _, tc := range []struct {
		err  error
		call func() error
	}{
		{resolver.ErrInvalid, func() error {
			_, err := e.r.Merge(ctx, "steward", []uuid.UUID{carla, carla}, "same", false)
			return err
		}},
		{resolver.ErrInvalid, func() error { _, err := e.r.Merge(ctx, "steward", []uuid.UUID{carla, ben}, "  ", false); return err }},
		{resolver.ErrNotFound, func() error {
			_, err := e.r.Merge(ctx, "steward", []uuid.UUID{carla, uuid.New()}, "same", false)
			return err
		}},
		{resolver.ErrNotFound, func() error {
			_, err := e.r.Split(ctx, "steward", ben, []uuid.UUID{e.ids["support/t3"]}, "x", false)
			return err
		}},
		{resolver.ErrInvalid, func() error {
			_, err := e.r.Split(ctx, "steward", ben, []uuid.UUID{e.ids["sales/s2"], e.ids["billing/b2"]}, "x", false)
			return err
		}},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("got %v, want %v", err, tc.err)
		}
	}
	if e.profile("support/t3") != carla || e.profile("sales/s2") != ben {
		t.Fatal("a failed request changed profiles")
	}

	// Merge Carla into Ben's profile (a steward knows better).
	if _, err := e.r.Merge(ctx, "steward", []uuid.UUID{carla, ben}, "Confirmed by phone", false); err != nil {
		t.Fatal(err)
	}
	if !e.sameProfile("support/t3", "sales/s2") {
		t.Fatal("merge did not join the profiles")
	}
	if _, err := e.r.Full(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if !e.sameProfile("support/t3", "sales/s2") {
		t.Fatal("a later full run undid the merge")
	}

	// Split Carla out again: it contradicts the merge, so it is refused
	// unless the steward says it reverses it; then she stays apart in
	// later runs.
	merged := e.profile("sales/s2")
	if _, err := e.r.Split(ctx, "steward", merged, []uuid.UUID{e.ids["support/t3"]}, "Merged by mistake", false); !errors.Is(err, resolver.ErrConflict) {
		t.Fatalf("a split contradicting the merge, not said to reverse it: %v, want ErrConflict", err)
	}
	if !e.sameProfile("support/t3", "sales/s2") {
		t.Fatal("a refused split changed profiles")
	}
	if _, err := e.r.Split(ctx, "steward", merged, []uuid.UUID{e.ids["support/t3"]}, "Merged by mistake", true); err != nil {
		t.Fatal(err)
	}
	if e.sameProfile("support/t3", "sales/s2") {
		t.Fatal("split did not separate")
	}
	if _, err := e.r.Full(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if e.sameProfile("support/t3", "sales/s2") || !e.sameProfile("sales/s2", "billing/b2") {
		t.Fatal("a later full run undid the split")
	}
}

func TestConflictingDecisionsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.load(people...)
	if _, err := e.r.Full(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	// Split Anna's support record out: it is another Anna.
	if _, err := e.r.Split(ctx, "steward", e.profile("sales/s1"), []uuid.UUID{e.ids["support/t1"]}, "another Anna", false); err != nil {
		t.Fatal(err)
	}
	// A merge of records the split did not keep apart is allowed...
	if _, err := e.r.Merge(ctx, "steward", []uuid.UUID{e.profile("support/t1"), e.profile("support/t3")}, "same person", false); err != nil {
		t.Fatal(err)
	}
	// ...but a merge that would join records an earlier decision keeps
	// apart, through others, conflicts and changes nothing: Anna's profile
	// with the one holding t1, from Anna's oldest record, leaves the split
	// between t1 and Anna's billing record standing.
	before := e.profile("support/t3")
	_, err := e.r.Merge(ctx, "steward", []uuid.UUID{e.profile("sales/s1"), e.profile("support/t3")}, "same person", false)
	if !errors.Is(err, resolver.ErrConflict) {
		t.Fatalf("contradicting merge: %v, want ErrConflict", err)
	}
	if e.profile("support/t3") != before || e.sameProfile("support/t3", "sales/s1") {
		t.Fatal("a refused decision changed profiles")
	}
}

// A full run reads and opens the store in batches, each opened while the
// next is read: small batches give the outcome one batch gives, and a
// record that cannot be opened in a later batch fails the run cleanly
// (no hang, nothing written).
func TestFullRunInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.load(people...)
	e.r.Batch = 2
	rep, err := e.r.Full(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != len(people) || rep.ProfilesAfter != 3 {
		t.Fatalf("in batches of 2: %d records, %d profiles, want %d and 3", rep.Records, rep.ProfilesAfter, len(people))
	}
	if !e.sameProfile("sales/s1", "billing/b1") || !e.sameProfile("sales/s2", "billing/b2") || e.sameProfile("sales/s1", "support/t3") {
		t.Error("batches changed the outcome")
	}
	e.r.Batch = 1
	if rep, err = e.r.Full(ctx, "test"); err != nil || rep.Moved != 0 || rep.Created != 0 {
		t.Fatalf("in batches of 1: %+v, %v; want the same profiles", rep, err)
	}
	runs := pgtest.Count(t, e.url, "SELECT count(*) FROM resolution_runs")
	// The last record by id cannot be opened: its sealed keys are damaged.
	pgtest.Exec(t, e.url, "UPDATE records SET match = 'damaged' WHERE id = (SELECT id FROM records ORDER BY id DESC LIMIT 1)")
	e.r.Batch = 2
	if _, err := e.r.Full(ctx, "test"); err == nil {
		t.Fatal("a run over a damaged record succeeded")
	}
	if n := pgtest.Count(t, e.url, "SELECT count(*) FROM resolution_runs"); n != runs {
		t.Errorf("the failed run wrote a run: %d, want %d", n, runs)
	}
}

// Records a crash left in no profile are found two ways: before an
// erasure or export, those resolution could link to the person's profile
// (through its keys' indexes, not every record); on a sweep, those made
// since a time (their UUIDv7 ids sort by it).
func TestOrphansAreFoundNearTheirProfileAndBySince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	anna := e.resolved(ctx)
	made := time.Now()
	// Written, never linked: one of Anna's, one of a stranger's.
	e.load("support,t7,Anna,Schmidt,,anna.schmidt@example.com,,,,,GB,",
		"sales,s9,Dora,Quist,1966-03-03,dora.quist@example.com,07700 900777,9 Mill Lane,YO1 7HH,York,GB,")
	if e.profile("support/t7") != uuid.Nil || e.profile("sales/s9") != uuid.Nil {
		t.Fatalf("the new records were linked by their import")
	}
	n, err := e.r.LinkOrphansNear(ctx, "test", anna)
	if err != nil || n != 1 {
		t.Fatalf("near Anna: %d linked, %v; want 1", n, err)
	}
	if e.profile("support/t7") != anna {
		t.Errorf("Anna's orphan is in %s, want her profile %s", e.profile("support/t7"), anna)
	}
	if e.profile("sales/s9") != uuid.Nil {
		t.Errorf("the stranger's orphan was linked by a search near Anna")
	}
	if n, err := e.r.LinkOrphans(ctx, "test", made.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("orphans made after the stranger's: %d linked, %v; want none", n, err)
	}
	if n, err := e.r.LinkOrphans(ctx, "test", made.Add(-time.Second)); err != nil || n != 1 {
		t.Errorf("orphans made since the stranger's import began: %d linked, %v; want 1", n, err)
	}
	if e.profile("sales/s9") == uuid.Nil {
		t.Errorf("the stranger's orphan is still in no profile")
	}
}

// TestAnIncrementalRunWritesOnlyWhatChanged: a run over a neighbourhood
// where nothing changed rewrites no membership, link or open review pair
// (their ids stay, a steward may have one open) and queues no profile for
// the profiler; a record that joins a profile queues that profile only.
// Before, every write rewrote and requeued its whole neighbourhood.
func TestAnIncrementalRunWritesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.load(append(people, "support,t4,Anna,Schmidt,,,,,,,GB,")...)
	if _, err := e.r.Full(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	anna := []uuid.UUID{e.ids["sales/s1"]}
	// The first incremental run may restate what the full run wrote (it
	// scores without term frequencies), but an open pair it finds again
	// keeps its id; the second run has nothing to say.
	pgtest.Exec(t, e.url, "CREATE TABLE pairs_before AS SELECT id, record_a, record_b FROM review_pairs")
	if _, err := e.r.Incremental(ctx, "test", anna); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.url, "SELECT count(*) FROM pairs_before JOIN review_pairs p USING (record_a, record_b)"); n == 0 {
		t.Fatal("no review pair found again: the test would prove nothing about their ids")
	}
	if n := pgtest.Count(t, e.url, "SELECT count(*) FROM pairs_before b JOIN review_pairs p USING (record_a, record_b) WHERE p.id <> b.id"); n != 0 {
		t.Errorf("%d review pairs found again got a new id", n)
	}
	state := func() string {
		return pgtest.Query(t, e.url, `SELECT concat_ws(' | ',
			(SELECT string_agg(record_id::text || ':' || xmin::text, ',' ORDER BY record_id) FROM profile_members),
			(SELECT string_agg(record_a::text || record_b::text || ':' || xmin::text, ',' ORDER BY record_a, record_b) FROM identity_links),
			(SELECT string_agg(id::text || ':' || xmin::text, ',' ORDER BY id) FROM review_pairs))`)
	}
	if n := pgtest.Count(t, e.url, "SELECT count(*) FROM review_pairs WHERE decided_at IS NULL"); n == 0 {
		t.Fatal("the data makes no review pair: the test would prove nothing about them")
	}
	pgtest.Exec(t, e.url, "DELETE FROM trait_queue")
	before := state()
	rep, err := e.r.Incremental(ctx, "test", anna)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records < 3 || rep.Moved != 0 {
		t.Fatalf("the run: %+v, want Anna's neighbourhood and nothing moved", rep)
	}
	if after := state(); after != before {
		t.Errorf("a run where nothing changed rewrote rows:\nbefore %s\nafter  %s", before, after)
	}
	if n := pgtest.Count(t, e.url, "SELECT count(*) FROM trait_queue"); n != 0 {
		t.Errorf("%d profiles queued by a run where nothing changed", n)
	}
	// A record joining Anna's profile queues hers, and nobody else's.
	changed := e.load("sales,s5,Anna,Schmidt,1980-02-01,anna.schmidt@example.com,07700 900123,,,,GB,")
	if _, err := e.r.Incremental(ctx, "test", changed); err != nil {
		t.Fatal(err)
	}
	if !e.sameProfile("sales/s5", "sales/s1") {
		t.Fatal("the new record did not join Anna's profile")
	}
	if q := pgtest.Query(t, e.url, "SELECT string_agg(profile_id::text, ',') FROM trait_queue"); q != e.profile("sales/s1").String() {
		t.Errorf("queued %q, want Anna's profile %s only", q, e.profile("sales/s1"))
	}
	// A record split off: the profile that lost it is queued with the one
	// it went to.
	pgtest.Exec(t, e.url, "DELETE FROM trait_queue")
	annas := e.profile("sales/s1")
	if _, err := e.r.Split(ctx, "steward", annas, []uuid.UUID{e.ids["sales/s5"]}, "not her", false); err != nil {
		t.Fatal(err)
	}
	want := []string{annas.String(), e.profile("sales/s5").String()}
	slices.Sort(want)
	if q := pgtest.Query(t, e.url, "SELECT string_agg(profile_id::text, ',' ORDER BY profile_id) FROM trait_queue"); q != strings.Join(want, ",") {
		t.Errorf("queued %q after a split, want both profiles %q", q, want)
	}
}

// racingStore runs before() once, just before the run's write: what an
// erasure (which does not take the resolution lock) committing between
// the neighbourhood's read and the write looks like.
type racingStore struct {
	*postgres.DB
	before func()
}

func (s *racingStore) Apply(ctx context.Context, a *resolver.Apply) error {
	if s.before != nil {
		f := s.before
		s.before = nil
		f()
	}
	return s.DB.Apply(ctx, a)
}

// TestAnErasureDuringAnIncrementalRunIsNotUndone: an erasure does not
// take the resolution lock, so it can commit between a run's read of its
// neighbourhood and its write. The run, which writes only what changed,
// must not write back the erased profile, its anchor or its links: it
// sees that its records changed and runs again without them. (Found in
// review: the run committed the erased profile's row, anchor and links.)
func TestAnErasureDuringAnIncrementalRunIsNotUndone(t *testing.T) {
	t.Parallel()
	for _, whole := range []bool{true, false} {
		name := "partial"
		if whole {
			name = "whole"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			e.load(people...)
			if _, err := e.r.Full(ctx, "test"); err != nil {
				t.Fatal(err)
			}
			anna := []uuid.UUID{e.ids["sales/s1"]}
			if _, err := e.r.Incremental(ctx, "test", anna); err != nil {
				t.Fatal(err)
			}
			p := e.profile("sales/s1")
			erased := []uuid.UUID{e.ids["sales/s1"], e.ids["support/t1"], e.ids["billing/b1"]}
			scope := [][16]byte{}
			if !whole {
				erased = erased[:1] // the anchor only
				scope = [][16]byte{e.ids["sales/s1"]}
			}
			if n := pgtest.Count(t, e.url, "SELECT count(*) FROM identity_links WHERE record_a = ANY($1) OR record_b = ANY($1)", uuidArray(erased)); n == 0 {
				t.Fatal("no link names the records to erase: the test would prove nothing")
			}
			request := uuid.New()
			pgtest.Exec(t, e.url, pgtest.InsertRequest, [16]byte(request), "erasure", "in_progress", [16]byte(p), scope)
			since := time.Now()
			r := *e.r
			r.Store = &racingStore{DB: e.db, before: func() {
				if _, err := e.db.Erase(ctx, request, p, time.Now(), nil); err != nil {
					t.Fatal(err)
				}
			}}
			if _, err := r.Incremental(ctx, "test", anna); err != nil {
				t.Fatalf("the run after the erasure: %v", err)
			}
			ids := uuidArray(erased)
			if !whole && !e.sameProfile("support/t1", "billing/b1") {
				t.Error("Anna's records the erasure kept are no longer together")
			}
			for what, q := range map[string]string{
				"profiles row of the erased profile":                    "SELECT count(*) FROM profiles WHERE id = $2 AND cardinality($1::uuid[]) = 3",
				"profiles anchored at an erased record":                 "SELECT count(*) FROM profiles WHERE anchor = ANY($1)",
				"identity_links naming an erased record":                "SELECT count(*) FROM identity_links WHERE record_a = ANY($1) OR record_b = ANY($1)",
				"review_pairs naming an erased record":                  "SELECT count(*) FROM review_pairs WHERE record_a = ANY($1) OR record_b = ANY($1)",
				"profile_events naming an erased record, written since": "SELECT count(*) FROM profile_events WHERE record_id = ANY($1) AND at > $3",
			} {
				q = "SELECT count(*) FROM (SELECT $1::uuid[] AS a, $2::uuid AS b, $3::timestamptz AS c) params, LATERAL (" +
					q + ") x WHERE x.count > 0"
				if n := pgtest.Count(t, e.url, "SELECT coalesce(("+q+"), 0)", ids, [16]byte(p), since); n != 0 {
					t.Errorf("after an erasure raced an incremental run: %s", what)
				}
			}
		})
	}
}

func uuidArray(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
