package crm_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

type fixture struct {
	db    *postgres.DB
	v     *vault.Vault
	owner string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, _, owner := pgtest.NewAppStore(t)
	v := pgtest.NewVault(t, db)
	pgtest.AddSources(t, db, identity.Source{Name: "shop", Department: "sales", Priority: 70, LegalBasis: "contract"})
	return &fixture{db: db, v: v, owner: owner}
}

// customers keeps one record per id, each unmistakably its own person.
func (f *fixture) customers(t *testing.T, ids []string) map[string]uuid.UUID {
	t.Helper()
	recs := make([]identity.Record, len(ids))
	for i, id := range ids {
		recs[i] = pgtest.Person("shop", id, "Given"+letters(i), "Family"+letters(i*7+3), "c"+id+"@example.org",
			identity.Phone, fmt.Sprintf("+44 20 7946 %04d", i%10000))
	}
	profiles := pgtest.Keep(t, f.db, f.v, recs...)
	out := make(map[string]uuid.UUID, len(ids))
	for i, id := range ids {
		out[id] = profiles[i]
	}
	return out
}

// say records a statement of the person of a one-record profile about a
// purpose, as a department's form would.
func (f *fixture) say(t *testing.T, profile uuid.UUID, purpose string, st consent.State) {
	t.Helper()
	now := time.Now()
	ev := consent.Event{ID: uuid.New(), Record: f.record(t, profile), Purpose: purpose, State: st, Method: consent.Method("department_form"),
		Origin: "sales", Actor: "staff:test", At: now, RecordedAt: now}
	if purpose == "marketing" {
		ev.NoticeVersion = 1
	}
	if err := f.db.AppendConsent(context.Background(), []consent.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

// letters spells n in letters, so that names differ in more than a digit.
func letters(n int) string {
	b := []byte{}
	for k := 0; k < 4; k++ {
		b = append(b, byte('a'+n%26))
		n /= 26
	}
	return string(b)
}

func (f *fixture) interactions(t *testing.T, csvText string) {
	t.Helper()
	im := crm.Importer{Vault: f.v, Store: f.db}
	var problems []crm.Problem
	sum, err := im.Import(context.Background(), func(fn func(crm.Input) error) error {
		return crm.ReadCSV(strings.NewReader(csvText), fn)
	}, func(r crm.Result) { problems = append(problems, r.Problems...) })
	if err != nil || sum.Rejected > 0 {
		t.Fatalf("import: %+v %v %v", sum, err, problems)
	}
}

// orders imports orders placed three days ago, each written
// "id,customer,channel,amount" (in euros).
func (f *fixture) orders(t *testing.T, orders ...string) {
	t.Helper()
	day := time.Now().AddDate(0, 0, -3).Format(time.DateOnly)
	var b strings.Builder
	b.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n")
	for _, o := range orders {
		f := strings.Split(o, ",")
		fmt.Fprintf(&b, "shop,%s,%s,order,%s,%s,%s,EUR\n", f[0], f[1], f[2], day, f[3])
	}
	f.interactions(t, b.String())
}

// orderCount is the number of orders in a profile's stored traits.
func (f *fixture) orderCount(t *testing.T, profile uuid.UUID) string {
	t.Helper()
	return pgtest.Query(t, f.owner, "SELECT traits->>'orders' FROM profile_traits WHERE profile_id = $1", [16]byte(profile))
}

// segments saves segments, made by a member of staff.
func (f *fixture) segments(t *testing.T, ss ...crm.Segment) {
	t.Helper()
	for _, s := range ss {
		s.CreatedBy = "staff:test"
		if _, err := f.db.CreateSegment(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) profiler(t *testing.T, o crm.Options) *crm.Profiler {
	t.Helper()
	stages, err := crm.CompileStages(crm.DefaultStages)
	if err != nil {
		t.Fatal(err)
	}
	return &crm.Profiler{Store: f.db, Stages: stages, Options: o}
}

// TestCDNOWThroughThePipeline imports the CDNOW transactions as
// interactions of customer records, through the importer that seals
// them, and fits the value models from what the store gives back: the
// published parameters, to three significant figures.
func TestCDNOWThroughThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 2,357 customers")
	}
	f := newFixture(t)
	file, err := os.Open("testdata/cdnow_sample_transactions.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	rows, err := csv.NewReader(file).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency,quantity\n")
	seen, order := map[string]bool{}, []string{}
	for i, r := range rows[1:] {
		fmt.Fprintf(&b, "shop,t%d,%s,order,web,%s,%s,USD,%s\n", i, r[0], r[1], r[3], r[2])
		if !seen[r[0]] {
			seen[r[0]] = true
			order = append(order, r[0])
		}
	}
	profiles := f.customers(t, order)
	distinct := map[uuid.UUID]bool{}
	for _, p := range profiles {
		distinct[p] = true
	}
	if len(distinct) != 2357 {
		t.Fatalf("%d profiles for 2,357 customers", len(distinct))
	}
	f.interactions(t, b.String())
	// Calibration ends on 1997-09-30, inclusive.
	p := f.profiler(t, crm.Options{AsOf: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)})
	rep, err := p.Full(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Model.Params
	if m.BGNBD == nil || m.GammaGamma == nil {
		t.Fatalf("models not fitted: %+v", m)
	}
	sig3 := func(v float64) float64 {
		d := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
		return math.Round(v*d) / d
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", m.BGNBD.R, 0.243}, {"alpha", m.BGNBD.Alpha, 4.41}, {"a", m.BGNBD.A, 0.793}, {"b", m.BGNBD.B, 2.43},
		{"p", m.GammaGamma.P, 6.25}, {"q", m.GammaGamma.Q, 3.74}, {"gamma", m.GammaGamma.Gamma, 15.4},
	} {
		if sig3(c.got) != c.want {
			t.Errorf("%s = %.4f, published %.3g", c.name, c.got, c.want)
		}
	}
	if rep.Profiled != 2357 {
		t.Errorf("%d profiled, want 2,357", rep.Profiled)
	}
	// Customer 1 (x = 2, t_x = 30.43, T = 38.86): P(alive) and the
	// expected purchases over 39 weeks, as the formulas of the paper give
	// them with its parameters.
	var palive float64
	row := pgtest.Query(t, f.owner, `SELECT (traits->>'p_alive') || ' ' || (traits->>'frequency') FROM profile_traits WHERE profile_id = $1`, [16]byte(profiles["1"]))
	if _, err := fmt.Sscan(row, &palive, new(int)); err != nil {
		t.Fatalf("traits of customer 1: %q", row)
	}
	ref := crm.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	h := crm.History{X: 2, TX: 30.43, T: 38.86}
	if math.Abs(palive-ref.PAlive(h)) > 0.01 {
		t.Errorf("P(alive) of customer 1 = %.4f, the paper's parameters give %.4f", palive, ref.PAlive(h))
	}
	expected := ref.Expected(h, 39)
	if expected < 0.5 || expected > 1.5 {
		t.Errorf("expected purchases of customer 1 over 39 weeks: %.3f", expected)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits WHERE tier = 'vip'"); n == 0 || n > 1000 {
		t.Errorf("%d VIPs of 2,357", n)
	}
}

// TestProfilingObeysObjectionsConsentAndRestriction: computing traits and
// segments is profiling, so a person who objected, who did not consent
// to a segment's purpose, or whose processing is restricted is not
// profiled at all; an objection takes effect at once.
func TestProfilingObeysObjectionsConsentAndRestriction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ids := []string{"ann", "ben", "cat", "dan"}
	profiles := f.customers(t, ids)
	recent := time.Now().AddDate(0, 0, -10).Format(time.DateOnly)
	var b strings.Builder
	b.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n")
	for i, id := range ids {
		for k := 0; k < 3; k++ {
			fmt.Fprintf(&b, "shop,%s-%d,%s,order,web,%s,%d,EUR\n", id, k, id, time.Now().AddDate(0, -k*2, -10).Format(time.DateOnly), 100*(i+1))
		}
	}
	fmt.Fprintf(&b, "shop,x,ann,ticket,phone,%s,,\n", recent)
	f.interactions(t, b.String())
	record := func(id string) uuid.UUID { return f.record(t, profiles[id]) }
	say := func(id, purpose string, st consent.State) { f.say(t, profiles[id], purpose, st) }
	// Ben objected to profiling; Cat's processing is restricted; only Dan
	// consented to marketing.
	say("ben", crm.ProfilingPurpose, consent.Objected)
	say("dan", "marketing", consent.Granted)
	pgtest.Exec(t, f.owner, pgtest.InsertRequest, [16]byte(uuid.New()), "restriction", "completed", [16]byte(profiles["cat"]), nil)
	pgtest.Exec(t, f.owner, `INSERT INTO record_restrictions (record_id, request_id, reason)
		SELECT $1, id, 'restriction' FROM dsr_requests LIMIT 1`, [16]byte(record("cat")))

	f.segments(t,
		crm.Segment{Name: "buyers", Purpose: "support", Condition: "orders >= 1", Description: "Everyone who ordered"},
		crm.Segment{Name: "newsletter", Purpose: "marketing", Condition: "revenue > 0.0", Description: "Buyers for the newsletter"})
	p := f.profiler(t, crm.Options{})
	rep, err := p.Full(ctx)
	if err != nil {
		t.Fatal(err)
	}
	traits := pgtest.Query(t, f.owner, `SELECT string_agg(profile_id::text, ',' ORDER BY profile_id) FROM profile_traits`)
	for id, prof := range profiles {
		has := strings.Contains(traits, prof.String())
		if want := id == "ann" || id == "dan"; has != want {
			t.Errorf("%s profiled: %v, want %v", id, has, want)
		}
	}
	if rep.Excluded["objection to profiling"] != 1 || rep.Excluded["processing restricted"] != 1 {
		t.Errorf("exclusions: %v", rep.Excluded)
	}
	members := func(segment string) string {
		return pgtest.Query(t, f.owner, `SELECT coalesce(string_agg(m.profile_id::text, ',' ORDER BY m.profile_id), '')
			FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = $1`, segment)
	}
	want := func(names ...string) string {
		var ps []string
		for _, n := range names {
			ps = append(ps, profiles[n].String())
		}
		slices.Sort(ps)
		return strings.Join(ps, ",")
	}
	if got := members("buyers"); got != want("ann", "dan") {
		t.Errorf("buyers: %s, want ann and dan", got)
	}
	if got := members("newsletter"); got != want("dan") {
		t.Errorf("newsletter: %s, want dan only", got)
	}
	// Dan withdraws marketing consent: out of the newsletter at once, not
	// at the next computation; still a buyer.
	say("dan", "marketing", consent.Withdrawn)
	if got := members("newsletter"); got != "" {
		t.Errorf("newsletter after the withdrawal: %s", got)
	}
	// Ann objects to profiling: no traits, no stage history, in no segment.
	say("ann", crm.ProfilingPurpose, consent.Objected)
	if got := members("buyers"); got != want("dan") {
		t.Errorf("buyers after Ann's objection: %s", got)
	}
	for _, table := range []string{"profile_traits", "lifecycle_changes", "segment_members"} {
		if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM "+table+" WHERE profile_id = $1", [16]byte(profiles["ann"])); n != 0 {
			t.Errorf("%d rows of %s left for Ann after her objection", n, table)
		}
	}
	why := pgtest.Query(t, f.owner, `SELECT reason FROM segment_changes WHERE profile_id = $1 AND change = 'left'`, [16]byte(profiles["ann"]))
	if why != "objection to profiling" {
		t.Errorf("Ann left the segment because %q", why)
	}
	// The next computation keeps her out, and Dan out of the newsletter.
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	if got := members("buyers") + "|" + members("newsletter"); got != want("dan")+"|" {
		t.Errorf("after recomputing: %s", got)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits"); n != 1 {
		t.Errorf("%d profiles with traits, want Dan's only", n)
	}
}

// TestARecordThatBringsAnObjectionStopsProfilingAtOnce: a person's
// objection can arrive on a record that joins their profile (a
// department's record with the objection it collected, a standing refusal
// re-stated on a record that came back after a retention). The merge
// stops their profiling at once, as the statement itself would, not at
// the next computation: no traits, in no segment.
func TestARecordThatBringsAnObjectionStopsProfilingAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pgtest.AddSources(t, f.db, identity.Source{Name: "desk", Department: "support", Priority: 60, LegalBasis: "contract"})
	profiles := f.customers(t, []string{"ann", "ben"})
	f.orders(t, "a1,ann,web,40", "b1,ben,web,60")
	f.segments(t, crm.Segment{Name: "buyers", Purpose: "support", Condition: "orders >= 1", Description: "Everyone who ordered"})
	if _, err := f.profiler(t, crm.Options{}).Full(ctx); err != nil {
		t.Fatal(err)
	}
	profiled := func(profile uuid.UUID) (traits, members int64) {
		return pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits WHERE profile_id = $1", [16]byte(profile)),
			pgtest.Count(t, f.owner, "SELECT count(*) FROM segment_members WHERE profile_id = $1", [16]byte(profile))
	}
	if tr, m := profiled(profiles["ann"]); tr != 1 || m != 1 {
		t.Fatalf("Ann before: %d traits, %d memberships", tr, m)
	}

	// The support desk's record of Ann, with her objection to profiling,
	// is written and then linked.
	im := ingest.Importer{Vault: f.v, Store: f.db, Normalizer: identity.Normalizer{DefaultRegion: "GB"}, Actor: "test"}
	var record uuid.UUID
	rec := pgtest.Person("desk", "d-1", "Givenaaaa", "Familydaaa", "cann@example.org")
	if _, err := im.Import(ctx, ingest.NewSliceReader([]ingest.Input{{Line: 1, Record: rec}}), func(r ingest.Result) { record = r.RecordID }); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := f.db.AppendConsent(ctx, []consent.Event{{ID: uuid.New(), Record: record, Purpose: crm.ProfilingPurpose, State: consent.Objected,
		Method: consent.Method("department_form"), Origin: "support", Actor: "staff:test", At: now, RecordedAt: now}}); err != nil {
		t.Fatal(err)
	}
	rep, err := (&resolver.Resolver{Store: f.db, Vault: f.v}).Link(ctx, "test", []uuid.UUID{record}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Members[record] != profiles["ann"] {
		t.Fatalf("the desk's record joined %s; want Ann's profile %s", rep.Members[record], profiles["ann"])
	}
	if tr, m := profiled(profiles["ann"]); tr != 0 || m != 0 {
		t.Errorf("Ann after her objection joined: %d traits, %d memberships; want none", tr, m)
	}
	why := pgtest.Query(t, f.owner, `SELECT coalesce(string_agg(reason, ','), '') FROM segment_changes WHERE profile_id = $1 AND change = 'left'`, [16]byte(profiles["ann"]))
	if why != "objection to profiling" {
		t.Errorf("Ann left the segment because %q", why)
	}
	if tr, m := profiled(profiles["ben"]); tr != 1 || m != 1 {
		t.Errorf("Ben after Ann's objection: %d traits, %d memberships", tr, m)
	}
}

// TestTraitsFollowNewInteractions: an interaction queues its profile by
// trigger, and a refresh recomputes that profile alone with the last full
// run's models.
func TestTraitsFollowNewInteractions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ben"})
	day := time.Now().AddDate(0, 0, -3).Format(time.DateOnly)
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n"+
		"shop,a1,ann,order,web,"+day+",10,EUR\nshop,b1,ben,order,web,"+day+",20,EUR\n")
	p := f.profiler(t, crm.Options{})
	fullAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	p.Now = func() time.Time { return fullAt }
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	p.Now = nil
	orders := func(who string) string {
		return pgtest.Query(t, f.owner, "SELECT traits->>'orders' FROM profile_traits WHERE profile_id = $1", [16]byte(profiles[who]))
	}
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency\nshop,a2,ann,order,store,"+day+",15,EUR\n")
	if q := pgtest.Query(t, f.owner, "SELECT string_agg(profile_id::text, ',') FROM trait_queue"); q != profiles["ann"].String() {
		t.Fatalf("queued after Ann's new order: %q", q)
	}
	rep, err := p.Refresh(ctx, 100)
	if err != nil || rep.Profiled != 1 || rep.Full {
		t.Fatalf("refresh: %+v %v", rep, err)
	}
	if orders("ann") != "2" || orders("ben") != "1" {
		t.Errorf("after the refresh: Ann %s orders, Ben %s", orders("ann"), orders("ben"))
	}
	if tier := pgtest.Query(t, f.owner, "SELECT tier FROM profile_traits WHERE profile_id = $1", [16]byte(profiles["ann"])); tier == "" {
		t.Error("the refresh did not score Ann with the last model")
	}
	// Every row names a model that exists (the key to trait_models was
	// dropped, migration 0020), and the service cannot take one away.
	if n := pgtest.Count(t, f.owner, `SELECT count(*) FROM profile_traits t
		WHERE t.model_id IS NULL OR NOT EXISTS (SELECT 1 FROM trait_models m WHERE m.id = t.model_id)`); n != 0 {
		t.Errorf("%d rows name no stored model", n)
	}
	app := pgtest.AppURL(t, f.owner)
	for _, stmt := range []string{"DELETE FROM trait_models", "UPDATE trait_models SET profiled = 0"} {
		if err := pgtest.TryExec(t, app, stmt); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("the service's %q: %v, want permission denied", stmt, err)
		}
	}
	// Each row says the moment its figures describe: Ann's now, Ben's the
	// full run's, an hour ago.
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits WHERE profile_id = $1 AND as_of > $2",
		[16]byte(profiles["ann"]), fullAt.Add(30*time.Minute)); n != 1 {
		t.Error("the refreshed traits say they describe the full run's moment")
	}
}

// TestAFullComputationWaitsForWritersOfTheQueue: a transaction that
// queued a profile already queued (adding no row of its own) and is
// still open when a full computation claims the queue is waited for, so
// the computation reads what it wrote.
func TestAFullComputationWaitsForWritersOfTheQueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann"})
	f.orders(t, "a1,ann,web,10") // queues Ann
	tx := pgtest.Begin(t, f.owner)
	if _, err := tx.Exec(ctx, `INSERT INTO interactions (id, source, source_key, record_id, type, channel, occurred_at, amount, currency)
		VALUES (gen_random_uuid(), 'shop', '\x01', $1, 'order', 'store', now() - interval '3 days', 30, 'EUR')`,
		[16]byte(f.record(t, profiles["ann"]))); err != nil {
		t.Fatal(err)
	}
	p := f.profiler(t, crm.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Full(ctx)
		done <- err
	}()
	// Once the queue is claimed, the open transaction commits.
	for deadline := time.Now().Add(20 * time.Second); pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_queue WHERE claimed") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the full computation never claimed the queue")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := f.orderCount(t, profiles["ann"])
	queued := pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_queue")
	if got != "2" && queued == 0 {
		t.Errorf("Ann's second order is neither computed (%s orders) nor queued", got)
	}
}

// TestAProfileGoneDuringAFullComputationIsLeftOut: a profile merged away
// or erased while a full computation runs is left out of what it saves.
// Before, its traits broke the key to profiles and the whole save failed,
// every time a merge fell inside a computation.
func TestAProfileGoneDuringAFullComputationIsLeftOut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ben"})
	f.orders(t, "a1,ann,web,10", "b1,ben,web,20")
	p := f.profiler(t, crm.Options{})
	ben := [16]byte(profiles["ben"])
	p.Store = &arriveDuring{DB: f.db, arrive: func() {
		pgtest.Exec(t, f.owner, "DELETE FROM profile_members WHERE profile_id = $1", ben)
		pgtest.Exec(t, f.owner, "DELETE FROM profiles WHERE id = $1", ben)
	}}
	if _, err := p.Full(ctx); err != nil {
		t.Fatalf("a full computation during which a profile went: %v", err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits WHERE profile_id = $1", [16]byte(profiles["ann"])); n != 1 {
		t.Errorf("Ann's traits: %d rows, want 1", n)
	}
}

// TestClaimsOfADeadComputationAreTakenBack: a full computation that died
// after claiming the queue leaves its claims; the next refresh, which runs
// only while no full computation does, takes them back and computes them.
// And a refresh waits while a full computation holds the lock.
func TestClaimsOfADeadComputationAreTakenBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ben"})
	f.orders(t, "a1,ann,web,10")
	p := f.profiler(t, crm.Options{})
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	f.orders(t, "a2,ann,web,15")
	release, err := f.db.HoldFull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.ClaimQueue(ctx); err != nil { // and then the computation dies
		t.Fatal(err)
	}
	if rep, err := p.Refresh(ctx, 100); err != nil || rep.Profiled != 0 {
		t.Fatalf("a refresh while a full computation holds the lock: %+v %v, want nothing done", rep, err)
	}
	release()
	// Ben's new order queues him beside Ann's claimed row.
	f.orders(t, "b1,ben,web,20")
	rep, err := p.Refresh(ctx, 100)
	if err != nil || rep.Profiled != 2 {
		t.Fatalf("the refresh after: %+v %v, want Ann and Ben computed", rep, err)
	}
	if got := f.orderCount(t, profiles["ann"]); got != "2" {
		t.Errorf("Ann's orders after the refresh: %s, want 2", got)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_queue"); n != 0 {
		t.Errorf("%d rows left in the queue", n)
	}
}

// arriveDuring is the store with something happening right after the
// computation read the interactions.
type arriveDuring struct {
	*postgres.DB
	arrive func()
}

func (s *arriveDuring) Activities(ctx context.Context, ids []uuid.UUID, each func(crm.Activity)) error {
	err := s.DB.Activities(ctx, ids, each)
	s.arrive()
	return err
}

// TestAChangeDuringAFullComputationStaysQueued: an interaction that
// arrives while a full computation runs (after it read the interactions) is
// not in what it computed, so the profile stays queued for the next
// refresh. Before, the full run emptied the whole queue as it saved, and
// the new order waited for the next day's full run.
func TestAChangeDuringAFullComputationStaysQueued(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ben"})
	f.orders(t, "a1,ann,web,10", "b1,ben,web,20")
	p := f.profiler(t, crm.Options{})
	p.Store = &arriveDuring{DB: f.db, arrive: func() { f.orders(t, "b2,ben,store,15") }}
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	p.Store = f.db
	if q := pgtest.Query(t, f.owner, "SELECT string_agg(profile_id::text, ',') FROM trait_queue"); q != profiles["ben"].String() {
		t.Fatalf("queued after the full run: %q, want Ben's profile, whose order came during it", q)
	}
	if rep, err := p.Refresh(ctx, 100); err != nil || rep.Profiled != 1 {
		t.Fatalf("refresh: %+v %v", rep, err)
	}
	if ben, ann := f.orderCount(t, profiles["ben"]), f.orderCount(t, profiles["ann"]); ben != "2" || ann != "1" {
		t.Errorf("after the refresh: Ben %s orders (want 2), Ann %s (want 1)", ben, ann)
	}
}

// TestAFullComputationAskedDuringOneSharesIt: at start-up the scheduled
// full computation and the catch-up after a full resolution both ask for
// one; the second shares the first instead of computing everything again
// (40 s at a million profiles).
func TestAFullComputationAskedDuringOneSharesIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(t, []string{"ann", "ben"})
	p := f.profiler(t, crm.Options{})
	reading, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store := &countClaims{arriveDuring: arriveDuring{DB: f.db, arrive: func() {
		once.Do(func() { close(reading) })
		<-release
	}}}
	p.Store = store
	reports := make(chan *crm.Report, 2)
	full := func() {
		rep, err := p.Full(ctx)
		if err != nil {
			t.Error(err)
		}
		reports <- rep
	}
	go full()
	select {
	case <-reading:
	case rep := <-reports:
		t.Fatalf("the first computation ended before it read the interactions: %+v", rep)
	}
	go full()
	// The second waits in the first's computation (or, if it does not,
	// runs its own once the first is released).
	for deadline := time.Now().Add(10 * time.Second); !waitingInSingleflight() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	a, b := <-reports, <-reports
	if store.claims != 1 || a != b {
		t.Errorf("%d full computations for two asked during one (same report: %v), want 1", store.claims, a == b)
	}
}

// countClaims counts the full computations that claimed the queue.
type countClaims struct {
	arriveDuring
	claims int
}

func (s *countClaims) ClaimQueue(ctx context.Context) error {
	s.claims++
	return s.DB.ClaimQueue(ctx)
}

// waitingInSingleflight reports whether a goroutine waits for another's
// call in a singleflight group.
func waitingInSingleflight() bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "singleflight.(*Group).Do") && strings.Contains(g, "WaitGroup).Wait") {
			return true
		}
	}
	return false
}

// TestTraitsFollowMergesAndSplits: a steward's merge queues the surviving
// profile, whose refreshed traits count both people's orders; splitting
// them apart again queues both.
func TestTraitsFollowMergesAndSplits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ann2"})
	day := time.Now().AddDate(0, 0, -3).Format(time.DateOnly)
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n"+
		"shop,a1,ann,order,web,"+day+",10,EUR\nshop,b1,ann2,order,web,"+day+",20,EUR\n")
	p := f.profiler(t, crm.Options{})
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	res := &resolver.Resolver{Store: f.db, Vault: f.v}
	rep, err := res.Merge(ctx, "staff:test", []uuid.UUID{profiles["ann"], profiles["ann2"]}, "the same person", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refresh(ctx, 100); err != nil {
		t.Fatal(err)
	}
	merged := rep.Members[f.record(t, profiles["ann"])]
	if got := pgtest.Query(t, f.owner, "SELECT traits->>'orders' FROM profile_traits WHERE profile_id = $1", [16]byte(merged)); got != "2" {
		t.Errorf("the merged profile's orders: %q, want 2", got)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits"); n != 1 {
		t.Errorf("%d profiles with traits after the merge, want the merged one", n)
	}
	second := uuid.MustParse(pgtest.Query(t, f.owner, "SELECT max(record_id::text) FROM profile_members WHERE profile_id = $1", [16]byte(merged)))
	if _, err := res.Split(ctx, "staff:test", merged, []uuid.UUID{second}, "two people after all", true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refresh(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Query(t, f.owner, "SELECT string_agg(traits->>'orders', ',') FROM profile_traits"); got != "1,1" {
		t.Errorf("orders per profile after the split: %q, want 1,1", got)
	}
}

// record is the one record of a profile.
func (f *fixture) record(t *testing.T, profile uuid.UUID) uuid.UUID {
	t.Helper()
	return uuid.MustParse(pgtest.Query(t, f.owner, "SELECT min(record_id::text) FROM profile_members WHERE profile_id = $1", [16]byte(profile)))
}

// TestFullResolutionQueuesEveryProfile: a full resolution rewrites every
// membership and queues one entry standing for all profiles instead of one
// per profile; the next refresh then computes everything and empties the
// queue.
func TestFullResolutionQueuesEveryProfile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(t, []string{"ann", "ben", "cem"})
	day := time.Now().AddDate(0, 0, -3).Format(time.DateOnly)
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n"+
		"shop,a1,ann,order,web,"+day+",10,EUR\nshop,b1,ben,order,web,"+day+",20,EUR\n")
	p := f.profiler(t, crm.Options{})
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	res := &resolver.Resolver{Store: f.db, Vault: f.v}
	if _, err := res.Full(ctx, "staff:test"); err != nil {
		t.Fatal(err)
	}
	if q := pgtest.Query(t, f.owner, "SELECT string_agg(profile_id::text, ',') FROM trait_queue"); q != uuid.Nil.String() {
		t.Fatalf("queued after a full resolution: %q, want the one entry for every profile", q)
	}
	rep, err := p.Refresh(ctx, 1)
	if err != nil || !rep.Full || rep.Profiled != 3 || rep.Remaining != 0 {
		t.Fatalf("refresh after a full resolution: %+v %v, want a full computation of 3 profiles", rep, err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_queue"); n != 0 {
		t.Errorf("%d entries still queued after the full computation", n)
	}
	if got := pgtest.Query(t, f.owner, "SELECT string_agg(coalesce(traits->>'orders', '0'), ',' ORDER BY traits->>'orders') FROM profile_traits"); got != "0,1,1" {
		t.Errorf("orders per profile: %q, want 0,1,1", got)
	}
	// An incremental write still queues its own profiles.
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency\nshop,c1,cem,order,store,"+day+",15,EUR\n")
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_queue WHERE profile_id <> $1", [16]byte(uuid.Nil)); n != 1 {
		t.Errorf("%d profiles queued after Cem's order, want 1", n)
	}
}

// TestEveryActivityReadsAsTheScopedOnes: a full run reads every
// interaction with its profile found by the store itself, a scoped run
// joins them in PostgreSQL; both must give each profile the same
// activities, figure for figure.
func TestEveryActivityReadsAsTheScopedOnes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"ann", "ben", "cid"})
	f.interactions(t, "source,source_id,record_source_id,type,channel,occurred_at,amount,currency,satisfaction,cost\n"+
		"shop,a1,ann,order,web,2026-01-02,10.50,EUR,,\n"+
		"shop,a2,ann,ticket,phone,2026-01-03T10:00:00Z,,,4,2.25\n"+
		"shop,b1,ben,return,store,2026-02-01,7,EUR,,\n"+
		"shop,b2,ben,order,app,2026-02-02,19.99,EUR,,\n"+
		"shop,c1,cid,campaign_response,email,2026-03-01,,,,\n")
	read := func(ids []uuid.UUID) []string {
		var out []string
		err := f.db.Activities(ctx, ids, func(a crm.Activity) {
			out = append(out, fmt.Sprintf("%s %s %s %s %.2f %.2f %d", a.Profile, a.Type, a.Channel, a.At.UTC().Format(time.RFC3339), a.Amount, a.Cost, a.Satisfaction))
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	all := read(nil)
	scoped := read([]uuid.UUID{profiles["ann"], profiles["ben"], profiles["cid"]})
	if len(all) != 5 || !slices.Equal(all, scoped) {
		t.Fatalf("every activity:\n%s\nscoped:\n%s", strings.Join(all, "\n"), strings.Join(scoped, "\n"))
	}
	want := profiles["ann"].String() + " ticket phone 2026-01-03T10:00:00Z 0.00 2.25 4"
	if !slices.Contains(all, want) {
		t.Errorf("Ann's ticket is not read as %q:\n%s", want, strings.Join(all, "\n"))
	}
	if got := read([]uuid.UUID{profiles["ben"]}); len(got) != 2 || !strings.HasPrefix(got[0], profiles["ben"].String()) {
		t.Errorf("Ben's activities: %q", got)
	}
}

// stopDuring is the store of a computation during which someone stops
// being profiled: stop runs once, right after the facts are read, as if
// the person objected while the traits were being computed.
type stopDuring struct {
	*postgres.DB
	stop func()
}

func (s *stopDuring) ProfilingFacts(ctx context.Context, ids []uuid.UUID) (*crm.Facts, error) {
	f, err := s.DB.ProfilingFacts(ctx, ids)
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	return f, err
}

// TestAStopDuringAComputationHolds: an objection, a withdrawal or a
// restriction that commits while traits are computed (after the facts
// were read) keeps the person out of what the computation writes, and so
// does one whose transaction is still open when the computation writes:
// the write waits for it. Before, the computation wrote the traits and
// segment memberships of people who had objected meanwhile, until the
// next computation removed them.
func TestAStopDuringAComputationHolds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ids := []string{"ann", "ben", "cat", "dan"}
	profiles := f.customers(t, ids)
	var b strings.Builder
	b.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n")
	for i, id := range ids {
		fmt.Fprintf(&b, "shop,%s-1,%s,order,web,%s,%d,EUR\n", id, id, time.Now().AddDate(0, 0, -10).Format(time.DateOnly), 100*(i+1))
	}
	f.interactions(t, b.String())
	record := func(id string) uuid.UUID { return f.record(t, profiles[id]) }
	say := func(id, purpose string, st consent.State) { f.say(t, profiles[id], purpose, st) }
	say("dan", "marketing", consent.Granted)
	f.segments(t,
		crm.Segment{Name: "buyers", Purpose: "support", Condition: "orders >= 1", Description: "Everyone who ordered"},
		crm.Segment{Name: "newsletter", Purpose: "marketing", Condition: "orders >= 1", Description: "Buyers for the newsletter"})
	p := f.profiler(t, crm.Options{})
	// Ann objects to profiling and Dan withdraws his marketing consent
	// while the computation runs.
	store := &stopDuring{DB: f.db, stop: func() {
		say("ann", crm.ProfilingPurpose, consent.Objected)
		say("dan", "marketing", consent.Withdrawn)
	}}
	p.Store = store
	if _, err := p.Full(ctx); err != nil {
		t.Fatal(err)
	}
	rows := func(id string) string {
		var out []string
		for _, table := range []string{"profile_traits", "lifecycle_changes", "segment_members"} {
			if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM "+table+" WHERE profile_id = $1", [16]byte(profiles[id])); n != 0 {
				out = append(out, fmt.Sprintf("%d in %s", n, table))
			}
		}
		return strings.Join(out, ", ")
	}
	if got := rows("ann"); got != "" {
		t.Errorf("Ann objected during the computation, yet it wrote %s", got)
	}
	member := func(segment, id string) bool {
		return pgtest.Count(t, f.owner, `SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id
			WHERE s.name = $1 AND m.profile_id = $2`, segment, [16]byte(profiles[id])) > 0
	}
	if member("newsletter", "dan") || !member("buyers", "dan") {
		t.Errorf("Dan withdrew marketing consent during the computation: newsletter %v (want false), buyers %v (want true)",
			member("newsletter", "dan"), member("buyers", "dan"))
	}

	// Ben's processing is restricted in a transaction still open when the
	// next computation writes: the write waits for it, and leaves him out.
	tx := pgtest.Begin(t, f.owner)
	defer tx.Rollback(ctx)
	request := [16]byte(uuid.New())
	if _, err := tx.Exec(ctx, pgtest.InsertRequest, request, "restriction", "completed", [16]byte(profiles["ben"]), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO record_restrictions (record_id, request_id, reason) VALUES ($1, $2, 'restriction')`,
		[16]byte(record("ben")), request); err != nil {
		t.Fatal(err)
	}
	p.Store = f.db
	done := make(chan error, 1)
	go func() {
		_, err := p.Full(ctx)
		done <- err
	}()
	// Commit the restriction once the computation waits for it, or has
	// finished without waiting (the failure this test looks for).
	var runErr error
	finished := false
	for deadline := time.Now().Add(30 * time.Second); !finished; {
		select {
		case runErr = <-done:
			finished = true
			continue
		case <-time.After(20 * time.Millisecond):
		}
		if pgtest.Count(t, f.owner, "SELECT count(*) FROM pg_locks WHERE NOT granted") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the computation neither waited nor finished")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !finished {
		runErr = <-done
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if got := rows("ben"); got != "" {
		t.Errorf("Ben's processing was restricted while the computation ran, yet it wrote %s", got)
	}
	if got := rows("cat"); got == "" {
		t.Error("Cat, who stopped nothing, has no traits")
	}
}

// TestProfilingLockComesFirst: a transaction that changes a profile's
// rows and may then stop its profiling (here an erasure that keeps a
// record under a legal hold, restricted) takes the profiling lock before
// any of those rows. Otherwise it could hold a row a profiling write
// waits for while it waits for that write's lock: a deadlock.
func TestProfilingLockComesFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	profiles := f.customers(t, []string{"eve"})
	eve := [16]byte(profiles["eve"])
	if _, err := f.db.AddLegalHold(ctx, postgres.LegalHold{ID: uuid.New(), Source: "shop", Obligation: "commercial law retention",
		RetainDays: 3650, CreatedBy: "staff:dpo"}); err != nil {
		t.Fatal(err)
	}
	request := uuid.New()
	pgtest.Exec(t, f.owner, pgtest.InsertRequest, [16]byte(request), "erasure", "in_progress", eve, nil)
	// A profiling write in progress holds the lock.
	tx := pgtest.Begin(t, f.owner)
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('cdp.profiling'))"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.db.Erase(ctx, request, profiles["eve"], time.Now(), nil)
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); pgtest.Count(t, f.owner,
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 0; {
		select {
		case err := <-done:
			t.Fatalf("the erasure finished while a profiling write held the lock (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure never waited for the profiling lock")
		}
	}
	// While it waits, it holds none of the profile's rows.
	other, err := pgx.Connect(ctx, f.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SET lock_timeout = '2s'"); err != nil {
		t.Fatal(err)
	}
	check, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Exec(ctx, "SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE", eve); err != nil {
		t.Errorf("the erasure waits for the profiling lock holding the profile: %v", err)
	}
	check.Rollback(ctx)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM record_restrictions WHERE reason = 'legal_hold'"); n != 1 {
		t.Errorf("%d records kept restricted under the hold, want 1", n)
	}
}
