package profiling_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/profiling"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/webhook"
)

type fixture struct {
	app      *app.App
	owner    string
	profiles map[string]uuid.UUID
	records  map[string]uuid.UUID
}

var people = []struct{ id, given, family, email string }{
	{"ann", "Annabel", "Okonkwo-Reyes", "annabel.or@example.org"},
	{"ben", "Bertrand", "Vasquez-Lindqvist", "b.vasquez@example.org"},
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, _, owner := pgtest.NewAppStore(t)
	v := pgtest.NewVault(t, db)
	pgtest.AddSources(t, db, identity.Source{Name: "shop", Department: "sales", Priority: 70, LegalBasis: "contract"})
	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	a, err := app.New(app.Config{DB: db, Vault: v, Policy: pol, AuditKey: key, Normalizer: identity.Normalizer{DefaultRegion: "GB"},
		Sender: webhook.NewClient(webhook.Options{AllowLocal: true})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	f := &fixture{app: a, owner: owner, profiles: map[string]uuid.UUID{}, records: map[string]uuid.UUID{}}
	var csv strings.Builder
	csv.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n")
	for i, p := range people {
		f.profiles[p.id] = pgtest.Keep(t, db, v, pgtest.Person("shop", p.id, p.given, p.family, p.email))[0]
		f.records[p.id] = uuid.MustParse(pgtest.Query(t, owner, "SELECT record_id::text FROM profile_members WHERE profile_id = $1", [16]byte(f.profiles[p.id])))
		for k := 0; k < 3; k++ {
			fmt.Fprintf(&csv, "shop,%s-o%d,%s,order,web,%s,%d,EUR\n", p.id, k, p.id, time.Now().AddDate(0, -k, -5).Format(time.DateOnly), 50*(i+1))
		}
	}
	im := crm.Importer{Vault: v, Store: db}
	if sum, err := im.Import(ctx, func(fn func(crm.Input) error) error { return crm.ReadCSV(strings.NewReader(csv.String()), fn) }, nil); err != nil || sum.Created != 6 {
		t.Fatalf("interactions: %+v %v", sum, err)
	}
	for _, p := range people {
		f.say(t, p.id, "marketing", consent.Granted)
	}
	return f
}

func (f *fixture) say(t *testing.T, who, purpose string, st consent.State) {
	t.Helper()
	now := time.Now()
	ev := consent.Event{ID: uuid.New(), Record: f.records[who], Purpose: purpose, State: st, Method: consent.MethodDepartmentForm,
		Origin: "sales", Actor: "staff:test", At: now, RecordedAt: now}
	if purpose == "marketing" {
		ev.NoticeVersion = 1
	}
	if err := f.app.DB.AppendConsent(context.Background(), []consent.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

func dpo() access.Request {
	return access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dana", Department: "compliance", Roles: []auth.Role{auth.RoleDPO}}}
}

func marketer() access.Request {
	return access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "mo", Department: "marketing", Roles: []auth.Role{auth.RoleReader}}}
}

// TestActivationDecidesEachPersonAtSendTime: a withdrawal takes a person
// out of the next activation, what is sent is audited per person, and a
// destination without the segment's purpose receives nothing.
func TestActivationDecidesEachPersonAtSendTime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Profiling
	if _, err := svc.Compute(ctx, marketer()); !errors.Is(err, derrors.ErrForbidden) {
		t.Errorf("a reader computed everyone's traits: %v", err)
	}
	rep, err := svc.Compute(ctx, dpo())
	if err != nil || rep.Profiled != 2 {
		t.Fatalf("compute: %+v %v", rep, err)
	}
	if _, err := svc.Save(ctx, marketer(), profiling.Draft{Name: "bad", Purpose: "marketing", Condition: `orders + "x"`, Description: "x"}); !errors.Is(err, derrors.ErrInvalid) {
		t.Errorf("a condition that does not type-check was saved: %v", err)
	}
	pre, err := svc.Preview(ctx, marketer(), profiling.Draft{Purpose: "marketing", Condition: "orders >= 3"})
	if err != nil || pre.Size != 2 {
		t.Fatalf("preview: %+v %v", pre, err)
	}
	seg, err := svc.Save(ctx, marketer(), profiling.Draft{Name: "newsletter", Purpose: "marketing", Condition: "orders >= 3",
		Description: "Customers with three orders or more"})
	if err != nil || seg.Members != 2 {
		t.Fatalf("save: %+v %v", seg, err)
	}
	// Ben withdraws his consent to marketing before the first activation.
	f.say(t, "ben", "marketing", consent.Withdrawn)

	act, err := svc.Activate(ctx, marketer(), "newsletter", profiling.CSVDestination)
	if err != nil {
		t.Fatal(err)
	}
	out := string(act.CSV)
	if !strings.Contains(out, "annabel.or@example.org") || strings.Contains(out, "b.vasquez@example.org") {
		t.Errorf("the activation sent:\n%s", out)
	}
	if !strings.Contains(out, f.profiles["ben"].String()+",left,") {
		t.Errorf("Ben's exit was not sent:\n%s", out)
	}
	if act.Withheld != 1 {
		t.Errorf("withheld %d, want Ben's entry", act.Withheld)
	}
	n := pgtest.Count(t, f.owner, `SELECT count(*) FROM audit_log WHERE action = 'activate' AND outcome = 'allowed' AND $1::uuid = ANY(profiles)`, f.profiles["ann"].String())
	if n != 1 {
		t.Errorf("%d audit entries of Ann's activation, want 1", n)
	}
	// Nothing twice: the next activation has nothing to send.
	if again, err := svc.Activate(ctx, marketer(), "newsletter", profiling.CSVDestination); err != nil || again.Sent+again.Withheld != 0 {
		t.Errorf("second activation: %+v %v", again, err)
	}

	// A recipient with no purpose mapped receives nothing.
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	r := postgres.SealedRecipient{Recipient: dsr.Recipient{ID: uuid.New(), Name: "mailer", Department: "marketing", URL: hook.URL}}
	if r.KEK, r.Wrapped, r.Secret, err = requests.SealSecret(f.app.Vault, r.ID, []byte(webhook.NewSecret())); err != nil {
		t.Fatal(err)
	}
	if err := f.app.DB.AddRecipient(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.say(t, "ben", "marketing", consent.Granted)
	if _, err := svc.RefreshSegment(ctx, marketer(), "newsletter"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Activate(ctx, marketer(), "newsletter", "mailer"); !errors.Is(err, profiling.ErrNoPurpose) {
		t.Errorf("activation to a recipient without the purpose: %v", err)
	}
	if err := f.app.DB.SetRecipientPurposes(ctx, "mailer", []string{"marketing"}); err != nil {
		t.Fatal(err)
	}
	act, err = svc.Activate(ctx, marketer(), "newsletter", "mailer")
	if err != nil || act.Sent != 1 {
		t.Fatalf("activation to the mailer: %+v %v", act, err)
	}
	if len(got) != 1 || !strings.Contains(got[0], "b.vasquez@example.org") || !strings.Contains(got[0], `"segment.changes"`) {
		t.Errorf("the mailer received %q", got)
	}
}

// TestSignificantSegmentsNeedAReviewOfEachDecision (Art. 22): nothing is
// activated before a person approved it.
func TestSignificantSegmentsNeedAReviewOfEachDecision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Profiling
	if _, err := svc.Compute(ctx, dpo()); err != nil {
		t.Fatal(err)
	}
	// A reviewer weighs why each person is in the segment: a purpose that
	// does not see traits, whose pages withhold the reasons, cannot hold
	// one.
	if _, err := svc.Save(ctx, dpo(), profiling.Draft{Name: "dunning", Purpose: "billing", Condition: "revenue >= 100.0",
		Description: "Customers sent to collection", Significant: true}); !errors.Is(err, profiling.ErrInvalid) {
		t.Errorf("a significant segment of billing: %v, want ErrInvalid", err)
	}
	if _, err := svc.Save(ctx, dpo(), profiling.Draft{Name: "credit-limit", Purpose: "fraud_prevention", Condition: "revenue >= 100.0",
		Description: "Customers whose spending allows a higher credit limit", Significant: true}); err != nil {
		t.Fatal(err)
	}
	act, err := svc.Activate(ctx, dpo(), "credit-limit", profiling.CSVDestination)
	if err != nil || act.Sent != 0 || act.AwaitingReview != 2 {
		t.Fatalf("before review: %+v %v", act, err)
	}
	if err := svc.Review(ctx, dpo(), "credit-limit", f.profiles["ann"], true); err != nil {
		t.Fatal(err)
	}
	if err := svc.Review(ctx, dpo(), "credit-limit", f.profiles["ben"], false); err != nil {
		t.Fatal(err)
	}
	act, err = svc.Activate(ctx, dpo(), "credit-limit", profiling.CSVDestination)
	if err != nil || act.Sent != 1 || act.Withheld != 1 || act.Changes[0].Profile != f.profiles["ann"] {
		t.Fatalf("after review: %+v %v", act, err)
	}
	if err := svc.Review(ctx, dpo(), "newsletter-none", f.profiles["ann"], true); !errors.Is(err, derrors.ErrNotFound) {
		t.Errorf("review in an unknown segment: %v", err)
	}
}

// TestObjectionAndErasureLeaveNothingDerived: an objection to profiling
// stops every read of what was derived at once; an erasure deletes it.
func TestObjectionAndErasureLeaveNothingDerived(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Profiling
	if _, err := svc.Compute(ctx, dpo()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Save(ctx, dpo(), profiling.Draft{Name: "buyers", Purpose: "support", Condition: "orders >= 1", Description: "Buyers"}); err != nil {
		t.Fatal(err)
	}
	read := func(who string) (*access.ProfileTraits, error) {
		req := marketer()
		req.Purpose = "profiling"
		return f.app.Access.Traits(ctx, req, f.profiles[who])
	}
	tr, err := read("ann")
	if err != nil || !tr.Profiled || tr.Traits.Orders != 3 || len(tr.Segments) != 1 || tr.Segments[0].Values["orders"] != int64(3) {
		body, _ := json.Marshal(tr)
		t.Fatalf("Ann's traits: %s %v", body, err)
	}
	f.say(t, "ann", crm.ProfilingPurpose, consent.Objected)
	if _, err := read("ann"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("Ann's traits read after her objection: %v", err)
	}
	for _, table := range []string{"profile_traits", "lifecycle_changes", "segment_members"} {
		if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM "+table+" WHERE profile_id = $1", [16]byte(f.profiles["ann"])); n != 0 {
			t.Errorf("%s keeps %d rows of Ann after her objection", table, n)
		}
	}

	// Ben is erased: his traits, stages, memberships and interactions go.
	req, err := f.app.Requests.NewRequest(ctx, dpo(), requests.Intake{Type: dsr.Erasure, Profile: f.profiles["ben"],
		Verification: map[string]string{"method": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Requests.Take(ctx, dpo(), req.ID, requests.Step{Action: "approve"}); err != nil {
		t.Fatal(err)
	}
	if err := f.app.Requests.Execute(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"profile_traits", "lifecycle_changes", "segment_members", "segment_changes"} {
		if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM "+table+" WHERE profile_id = $1", [16]byte(f.profiles["ben"])); n != 0 {
			t.Errorf("%s keeps %d rows of Ben after his erasure", table, n)
		}
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM interactions WHERE source_key IS NOT NULL AND record_id = $1", [16]byte(f.records["ben"])); n != 0 {
		t.Errorf("%d interactions of Ben after his erasure", n)
	}
}

// TestChartsShowTheFiguresOfTheLastFullComputation: the figures of the
// charts are read live before any full computation, then kept by each
// full computation with its model and read from there (they took 4.5 to
// 9 s at a million profiles, on every load), so they stay as of that
// model until the next, whatever refreshes do meanwhile.
func TestChartsShowTheFiguresOfTheLastFullComputation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Profiling
	ch, err := svc.Charts(ctx, dpo())
	if err != nil || ch.Model != nil || len(ch.Lifecycle) != 0 {
		t.Fatalf("before any computation: %+v %v", ch, err)
	}
	rep, err := svc.Compute(ctx, dpo())
	if err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM chart_figures WHERE model_id = $1", [16]byte(rep.Model.ID)); n != 1 {
		t.Fatalf("%d kept figures for the model", n)
	}
	ch, err = svc.Charts(ctx, dpo())
	if err != nil || ch.Model == nil || ch.Model.ID != rep.Model.ID || total(ch.Lifecycle) != 2 || len(ch.Pareto) == 0 {
		t.Fatalf("after the computation: %+v %v", ch, err)
	}
	// A customer objects to profiling: the refresh forgets their traits;
	// the charts keep the full computation's figures.
	f.say(t, "ann", crm.ProfilingPurpose, consent.Objected)
	if _, err := svc.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_traits"); n != 1 {
		t.Fatalf("%d profiles with traits after the objection, want 1", n)
	}
	if ch, err = svc.Charts(ctx, dpo()); err != nil || total(ch.Lifecycle) != 2 {
		t.Errorf("charts after a refresh: %v %v, want the full computation's 2 customers", ch.Lifecycle, err)
	}
	rep, err = svc.Full(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch, err = svc.Charts(ctx, dpo()); err != nil || ch.Model.ID != rep.Model.ID || total(ch.Lifecycle) != 1 {
		t.Errorf("charts after the next full computation: %v %v, want 1 customer", ch.Lifecycle, err)
	}
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// TestAComputationAskedForIsQueuedOnceAndShown: the DPO's computation
// is a job; asking again while it waits joins it; the charts say it is
// coming; only the DPO may ask, and learns who asked.
func TestAComputationAskedForIsQueuedOnceAndShown(t *testing.T) {
	f := newFixture(t) // its jobs are not started: what is queued waits
	ctx := context.Background()
	svc := f.app.Profiling
	if _, err := svc.Ask(ctx, marketer()); !errors.Is(err, derrors.ErrForbidden) {
		t.Errorf("a reader asked for everyone's traits: %v", err)
	}
	first, err := svc.Ask(ctx, dpo())
	if err != nil || first.State != "queued" || first.Joined || first.By != "dana" {
		t.Fatalf("asked: %+v %v", first, err)
	}
	again, err := svc.Ask(ctx, dpo())
	if err != nil || !again.Joined || again.ID != first.ID {
		t.Errorf("asked again while it waits: %+v %v, want job %d joined", again, err, first.ID)
	}
	if c, err := svc.Computation(ctx, marketer(), first.ID); err != nil || c.State != "queued" || c.By != "" {
		t.Errorf("a reader reads the computation: %+v %v, want its state without who asked", c, err)
	}
	if c, err := svc.Computation(ctx, dpo(), first.ID); err != nil || c.By != "dana" {
		t.Errorf("the DPO reads the computation: %+v %v, want who asked", c, err)
	}
	if _, err := svc.Computation(ctx, dpo(), first.ID+1000); !errors.Is(err, derrors.ErrNotFound) {
		t.Errorf("an unknown computation: %v", err)
	}
	ch, err := svc.Charts(ctx, marketer())
	if err != nil || ch.Computing == nil || ch.Computing.ID != first.ID || ch.Computing.By != "" {
		t.Errorf("the charts do not say a computation is coming, or say who asked: %+v %v", ch, err)
	}
	n := pgtest.Count(t, f.owner, `SELECT count(*) FROM audit_log WHERE action = 'profile_all' AND principal = 'dana' AND outcome = 'allowed'`)
	if n != 2 {
		t.Errorf("%d audit entries of the DPO's asking, want 2", n)
	}
}

// TestAnExitCarriesNoFields: a person who left a segment and entered it
// again before one activation has both changes delivered; the exit
// carries none of their data, as an exit never does.
func TestAnExitCarriesNoFields(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Profiling
	if _, err := svc.Compute(ctx, dpo()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Save(ctx, marketer(), profiling.Draft{Name: "newsletter", Purpose: "marketing", Condition: "orders >= 3",
		Description: "Customers with three orders or more"}); err != nil {
		t.Fatal(err)
	}
	f.say(t, "ben", "marketing", consent.Withdrawn) // Ben leaves
	f.say(t, "ben", "marketing", consent.Granted)
	if _, err := svc.RefreshSegment(ctx, marketer(), "newsletter"); err != nil { // and enters again
		t.Fatal(err)
	}
	act, err := svc.Activate(ctx, marketer(), "newsletter", profiling.CSVDestination)
	if err != nil {
		t.Fatal(err)
	}
	exits := 0
	for _, c := range act.Changes {
		if c.Change == "left" {
			exits++
			if len(c.Fields) > 0 {
				t.Errorf("the exit of %s carries %v", c.Profile, c.Fields)
			}
		}
	}
	if exits == 0 {
		t.Fatalf("no exit delivered: the test proves nothing:\n%s", act.CSV)
	}
}

// TestAComputationLeftRunningByADeadProcessBlocksNoOther: the next
// process computes at start, and the DPO's asking queues a computation
// instead of joining the dead one.
func TestAComputationLeftRunningByADeadProcessBlocksNoOther(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.app.Profiling.Ask(ctx, dpo())
	if err != nil {
		t.Fatal(err)
	}
	// The process that took it dies.
	pgtest.Exec(t, f.owner, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = ARRAY['dead'] WHERE id = $1`, first.ID)
	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	next, err := app.New(app.Config{DB: f.app.DB, Vault: f.app.Vault, Policy: pol, AuditKey: key,
		Normalizer: identity.Normalizer{DefaultRegion: "GB"}, Jobs: jobs.Options{ProfilingEvery: time.Hour, SweepEvery: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(next.Close)
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := next.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); pgtest.Count(t, f.owner, "SELECT count(*) FROM trait_models") == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the next process computed nothing at start")
		}
	}
	again, err := next.Profiling.Ask(ctx, dpo())
	if err != nil || again.ID == first.ID {
		t.Errorf("asked again: %+v %v, joined the dead process's job %d", again, err, first.ID)
	}
}
