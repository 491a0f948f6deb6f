package requests_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"strings"
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
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
)

// fixture is the application as production builds it, on a real database
// (the service's role), with one person held by sales and billing. Its
// jobs are not started: the tests run each step themselves.
type fixture struct {
	app     *app.App
	owner   string
	profile uuid.UUID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, _, owner := pgtest.NewAppStore(t)
	v := pgtest.NewVault(t, db)
	pgtest.AddSources(t, db,
		identity.Source{Name: "sales", Department: "sales", Priority: 70, LegalBasis: "contract"},
		identity.Source{Name: "billing", Department: "billing", Priority: 90, LegalBasis: "contract"})
	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	a, err := app.New(app.Config{DB: db, Vault: v, Policy: pol, AuditKey: key, Normalizer: identity.Normalizer{DefaultRegion: "GB"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	var recs []identity.Record
	for _, src := range []string{"sales", "billing"} {
		recs = append(recs, pgtest.Person(src, "c-1", "Bartholomew", "Quist", "b.quist@example.org", identity.BirthDate, "1971-11-23"))
	}
	profile := pgtest.Keep(t, db, v, recs...)[0]
	return &fixture{app: a, owner: owner, profile: profile}
}

// carryOut files a request of the fixture's person at the DPO's desk,
// verifies and approves it, and runs its job once.
func (f *fixture) carryOut(t *testing.T, typ dsr.Type) dsr.Request {
	t.Helper()
	ctx, svc := context.Background(), f.app.Requests
	v, err := svc.NewRequest(ctx, dpo, requests.Intake{Type: typ, Profile: f.profile})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []requests.Step{{Action: "verify", Verification: map[string]string{"method": "id card seen"}}, {Action: "approve"}} {
		if _, err := svc.Take(ctx, dpo, v.ID, step); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Execute(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	return v.Request
}

// consent derives the state of every purpose of the catalogue for a
// profile from the statements on its records.
func (f *fixture) consent(t *testing.T, profile uuid.UUID) map[string]consent.Current {
	t.Helper()
	ctx := context.Background()
	catalogue, err := f.app.Access.Purposes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, events, err := f.app.DB.ProfileRecords(ctx, profile)
	if err != nil {
		t.Fatal(err)
	}
	return consent.Derive(catalogue, events, time.Now())
}

func principal(dept string, roles ...auth.Role) access.Request {
	return access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "test-" + dept, Department: dept, Roles: roles}}
}

var dpo = principal("legal", auth.RoleDPO)

func (f *fixture) audited(t *testing.T, outcome string) int64 {
	return pgtest.Count(t, f.owner, "SELECT count(*) FROM audit_log WHERE action = 'requests' AND outcome = '"+outcome+"'")
}

// An erasure the DPO takes, verifies and approves is carried out by
// Execute (what its job runs), idempotently: the profile is gone, the
// request completed with its report, and every step of the DPO's is in
// the audit log.
func TestErasureFromIntakeToCompletion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	v, err := svc.NewRequest(ctx, dpo, requests.Intake{Type: dsr.Erasure, Profile: f.profile})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != dsr.Received {
		t.Fatalf("new request %s, want received", v.State)
	}
	if _, err := svc.Take(ctx, dpo, v.ID, requests.Step{Action: "approve"}); !errors.Is(err, dsr.ErrTransition) {
		t.Fatalf("approving an unverified request: %v, want ErrTransition", err)
	}
	if _, err := svc.Take(ctx, dpo, v.ID, requests.Step{Action: "verify", Verification: map[string]string{"method": "id card seen"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Take(ctx, dpo, v.ID, requests.Step{Action: "approve"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a job run twice does no harm
		if err := svc.Execute(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.GetRequest(ctx, dpo, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != dsr.Completed || got.Outcome == "" {
		t.Fatalf("request %s (outcome %q), want completed with a report", got.State, got.Outcome)
	}
	if _, _, _, err := f.app.DB.ProfileRecords(ctx, f.profile); !errors.Is(err, derrors.ErrNotFound) {
		t.Fatalf("erased profile still readable: %v", err)
	}
	// intake, verify, approve (two tries), read: each audited as allowed.
	if n := f.audited(t, "allowed"); n < 5 {
		t.Fatalf("%d allowed request entries, want at least 5", n)
	}
}

// Whoever is not the DPO learns nothing from the request desk, not even
// whether a profile or a request exists, and is audited trying.
func TestRequestDeskIsTheDPOs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	reader := principal("sales", auth.RoleReader)
	if _, err := svc.NewRequest(ctx, reader, requests.Intake{Type: dsr.Erasure, Profile: f.profile}); !errors.Is(err, dsr.ErrNotFound) {
		t.Fatalf("a reader files an erasure: %v, want ErrNotFound", err)
	}
	v, err := svc.NewRequest(ctx, dpo, requests.Intake{Type: dsr.Access, Profile: f.profile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetRequest(ctx, reader, v.ID); !errors.Is(err, dsr.ErrNotFound) {
		t.Fatalf("a reader reads a request: %v, want ErrNotFound", err)
	}
	if _, err := svc.ListRequests(ctx, reader, dsr.Filter{Limit: 10}); !errors.Is(err, access.ErrForbidden) {
		t.Fatalf("a reader lists requests: %v, want ErrForbidden", err)
	}
	if n := f.audited(t, "denied"); n != 3 {
		t.Fatalf("%d refusals audited, want 3", n)
	}
	// A customer asking for someone else's request sees none.
	customer := access.Request{Principal: auth.Principal{Kind: auth.Customer, ID: uuid.NewString()}}
	if _, err := svc.GetMyRequest(ctx, customer, v.ID); !errors.Is(err, dsr.ErrNotFound) {
		t.Fatalf("a customer reads another's request: %v, want ErrNotFound", err)
	}
}

// A rejection tells the person why; an objection names purposes that
// allow one; values belong to a rectification only.
func TestIntakeAndStepsRefuseBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	for name, in := range map[string]requests.Intake{
		"unknown type":           {Type: "forget-me", Profile: f.profile},
		"values on an erasure":   {Type: dsr.Erasure, Profile: f.profile, Values: map[string]string{"email": "x@example.org"}},
		"rectification, empty":   {Type: dsr.Rectification, Profile: f.profile},
		"objection, no such":     {Type: dsr.Objection, Profile: f.profile, Purposes: []string{"astrology"}},
		"objection to contracts": {Type: dsr.Objection, Profile: f.profile, Purposes: []string{"billing"}},
	} {
		if _, err := svc.NewRequest(ctx, dpo, in); !errors.Is(err, dsr.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	v, err := svc.NewRequest(ctx, dpo, requests.Intake{Type: dsr.Erasure, Profile: f.profile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Take(ctx, dpo, v.ID, requests.Step{Action: "reject", Reason: "no"}); !errors.Is(err, dsr.ErrInvalid) {
		t.Fatalf("a rejection without a reason: %v, want ErrInvalid", err)
	}
}

// Interactions are kept as long as their source says, or as long as the
// DPO says for their type; the retention sweep deletes the older ones,
// audited, and never those a legal hold still needs.
func TestInteractionsExpire(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	db := f.app.DB
	old, recent := time.Now().AddDate(-2, 0, 0).Format("2006-01-02"), time.Now().AddDate(0, -1, 0).Format("2006-01-02")
	csv := "source,source_id,record_source_id,type,channel,occurred_at\n" +
		"sales,t-old,c-1,ticket,phone," + old + "\n" +
		"sales,t-new,c-1,ticket,phone," + recent + "\n" +
		"sales,o-old,c-1,order,web," + old + "\n"
	im := crm.Importer{Vault: f.app.Vault, Store: db}
	if sum, err := im.Import(ctx, func(fn func(crm.Input) error) error { return crm.ReadCSV(strings.NewReader(csv), fn) }, nil); err != nil || sum.Created != 3 {
		t.Fatalf("import: %+v %v", sum, err)
	}
	if err := db.SetRetention(ctx, "sales", 365); err != nil {
		t.Fatal(err)
	}
	if err := db.SetInteractionRetention(ctx, "sales", "order", 3650); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Requests.SweepRetention(ctx); err != nil {
		t.Fatal(err)
	}
	left := pgtest.Query(t, f.owner, "SELECT string_agg(type || ':' || to_char(occurred_at, 'YYYY'), ',' ORDER BY type, occurred_at) FROM interactions")
	if want := "order:" + old[:4] + ",ticket:" + recent[:4]; left != want {
		t.Errorf("left after the sweep: %s, want %s", left, want)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM audit_log WHERE action = 'retention' AND reason LIKE 'deleted 1 interactions%'"); n != 1 {
		t.Errorf("%d audit entries of the deletion, want 1", n)
	}
	// Under a legal hold on the source, an old ticket stays.
	if _, err := db.AddLegalHold(ctx, dsr.LegalHold{ID: uuid.New(), Source: "sales", Obligation: "tax records", RetainDays: 3650, CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	held := "source,source_id,record_source_id,type,channel,occurred_at\nsales,t-held,c-1,ticket,phone," + old + "\n"
	if _, err := im.Import(ctx, func(fn func(crm.Input) error) error { return crm.ReadCSV(strings.NewReader(held), fn) }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Requests.SweepRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM interactions WHERE type = 'ticket'"); n != 2 {
		t.Errorf("%d tickets after a sweep under a legal hold, want 2 (the recent and the held)", n)
	}
}

// An objection is written on one of the person's records. That record
// expiring while the person's other records stay must not take the
// objection with it: the retention's erasure re-states it on a record the
// profile keeps, and the person's state is what it was.
func TestAnObjectionOutlivesTheRecordItWasWrittenOn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	f.carryOut(t, dsr.Objection)
	states := func() map[string]consent.State {
		out := map[string]consent.State{}
		for p, c := range f.consent(t, f.profile) {
			out[p] = c.State
		}
		return out
	}
	before := states()
	objected := pgtest.Count(t, f.owner, "SELECT count(*) FROM consent_events WHERE state = 'objected'")
	if objected == 0 {
		t.Fatalf("no objection recorded; states %v", before)
	}

	// The record the objection is on expires: its source keeps records a
	// day, and it was last changed two days ago.
	record := pgtest.Query(t, f.owner, "SELECT record_id FROM consent_events WHERE state = 'objected' LIMIT 1")
	pgtest.Exec(t, f.owner, "UPDATE sources SET retention_days = 1 WHERE name = (SELECT source FROM records WHERE id = $1)", record)
	pgtest.Exec(t, f.owner, "UPDATE records SET updated_at = now() - interval '2 days' WHERE id = $1", record)
	if n, err := svc.SweepRetention(ctx); err != nil || n != 1 {
		t.Fatalf("retention sweep: %d requests, %v; want 1", n, err)
	}
	retention := uuid.MustParse(pgtest.Query(t, f.owner, "SELECT id FROM dsr_requests WHERE channel = 'retention'"))
	if err := svc.Execute(ctx, retention); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM records WHERE id = $1", record); n != 0 {
		t.Fatalf("the expired record is still there")
	}
	if after := states(); len(after) != len(before) {
		t.Fatalf("states after %v, before %v", after, before)
	} else {
		for p, st := range before {
			if after[p] != st {
				t.Errorf("%s: %s before the record expired, %s after", p, st, after[p])
			}
		}
	}
	got, err := svc.GetRequest(ctx, dpo, retention)
	if err != nil {
		t.Fatal(err)
	}
	var rep dsr.ErasureReport
	if err := json.Unmarshal([]byte(got.Outcome), &rep); err != nil || int64(rep.RefusalsKept) != objected {
		t.Fatalf("report %s (%v); want %d refusals kept", got.Outcome, err, objected)
	}
}

// When a retention erases every record of a person who objected, nothing
// is left to carry their objection, and a retention suppresses nothing:
// the person may come back as a customer. Their refusals stand by
// identifier instead (keyed hashes and purposes), and the record that
// brings them back carries them again as they were said: the returning
// customer is not marketed to or profiled for what they refused. An
// erasure they ask for later removes those standing refusals with the
// rest.
func TestAnObjectionOutlivesARetentionOfEveryRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	f.carryOut(t, dsr.Objection)
	refusals := func(profile uuid.UUID) map[string]consent.Current {
		out := map[string]consent.Current{}
		for p, c := range f.consent(t, profile) {
			if c.Event != nil && c.State.Refuses() {
				out[p] = c
			}
		}
		return out
	}
	before := refusals(f.profile)
	if len(before) < 2 {
		t.Fatalf("the objection refused %v; want two purposes or more", before)
	}
	// A third record gives the person a phone number besides the address.
	const phone = "+44 20 7946 0958"
	pgtest.Keep(t, f.app.DB, f.app.Vault, pgtest.Person("sales", "c-3", "Bartholomew", "Quist", "b.quist@example.org", identity.Phone, phone))
	// expire lets every record expire and carries out the retention.
	expire := func() dsr.ErasureReport {
		t.Helper()
		pgtest.Exec(t, f.owner, "UPDATE sources SET retention_days = 1")
		pgtest.Exec(t, f.owner, "UPDATE records SET updated_at = now() - interval '2 days'")
		if n, err := svc.SweepRetention(ctx); err != nil || n != 1 {
			t.Fatalf("retention sweep: %d requests, %v; want 1", n, err)
		}
		retention := uuid.MustParse(pgtest.Query(t, f.owner, "SELECT id FROM dsr_requests WHERE channel = 'retention' AND state <> 'completed' ORDER BY id DESC LIMIT 1"))
		if err := svc.Execute(ctx, retention); err != nil {
			t.Fatal(err)
		}
		if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM records"); n != 0 {
			t.Fatalf("%d records left after the retention", n)
		}
		got, err := svc.GetRequest(ctx, dpo, retention)
		if err != nil {
			t.Fatal(err)
		}
		var rep dsr.ErasureReport
		if err := json.Unmarshal([]byte(got.Outcome), &rep); err != nil {
			t.Fatalf("report %s: %v", got.Outcome, err)
		}
		if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM suppressions"); n != 0 {
			t.Fatalf("a retention suppressed %d identifiers", n)
		}
		return rep
	}
	// carries checks that a profile refuses what the person refused, as
	// they said it.
	carries := func(profile uuid.UUID, want map[string]consent.Current) {
		t.Helper()
		got := refusals(profile)
		if len(got) != len(want) {
			t.Fatalf("the returning person refuses %v; want %v", got, want)
		}
		for p, c := range want {
			a := got[p]
			if a.State != c.State || !a.Event.At.Equal(c.Event.At) || !a.Event.RecordedAt.Equal(c.Event.RecordedAt) ||
				a.Event.Method != consent.MethodCarried || a.Event.Origin != "retention" {
				t.Errorf("%s: %+v on the returning record; want %s as said at %s and recorded at %s, carried", p, a.Event, c.State, c.Event.At, c.Event.RecordedAt)
			}
		}
	}

	// Every record expires: the refusals stand by the address and the
	// phone number.
	if rep := expire(); rep.RefusalsStanding != 2*len(before) {
		t.Errorf("%d refusals standing; want %d (two identifiers, %d purposes)", rep.RefusalsStanding, 2*len(before), len(before))
	}

	// The person comes back through another department with a new
	// address and the same phone, and a stranger arrives beside them.
	back := pgtest.Keep(t, f.app.DB, f.app.Vault,
		pgtest.Person("billing", "c-77", "Bart", "Quist", "bart@quist.example", identity.Phone, phone),
		pgtest.Person("billing", "c-78", "Ottilie", "Brandt", "o.brandt@example.org"))
	carries(back[0], before)
	if stranger := refusals(back[1]); len(stranger) != 0 {
		t.Fatalf("a stranger carries %v", stranger)
	}

	// They lift one objection, and their records expire again: what they
	// still refuse stands, under the first address too; what they granted
	// does not.
	var granted string
	for p := range before {
		granted = p
		break
	}
	record := uuid.MustParse(pgtest.Query(t, f.owner, "SELECT record_id FROM profile_members WHERE profile_id = $1", back[0]))
	now := time.Now()
	if err := f.app.DB.AppendConsent(ctx, []consent.Event{{ID: uuid.Must(uuid.NewV7()), Record: record, Purpose: granted, State: consent.Granted,
		Method: consent.MethodSelfService, Origin: "privacy_center", Actor: "customer", At: now, RecordedAt: now}}); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, f.owner, "DELETE FROM records WHERE id IN (SELECT record_id FROM profile_members WHERE profile_id = $1)", back[1])
	expire()
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM standing_refusals WHERE purpose = $1", granted); n != 0 {
		t.Errorf("%d refusals of %s stand after the person granted it", n, granted)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM standing_refusals"); n != int64(3*(len(before)-1)) {
		t.Errorf("%d refusals standing; want %d (three identifiers, %d purposes)", n, 3*(len(before)-1), len(before)-1)
	}
	still := maps.Clone(before)
	delete(still, granted)
	again := pgtest.Keep(t, f.app.DB, f.app.Vault, pgtest.Person("sales", "c-90", "Bartholomew", "Quist", "b.quist@example.org"))
	carries(again[0], still)

	// They ask to be erased: every standing refusal of theirs goes with
	// the rest, and their suppression stands instead.
	f.profile = again[0]
	f.carryOut(t, dsr.Erasure)
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM standing_refusals"); n != 0 {
		t.Fatalf("%d standing refusals left after the person's erasure", n)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM suppressions"); n != 1 {
		t.Fatalf("%d identifiers suppressed; want the address", n)
	}
}

// A restriction (Art. 18) restricts the records the person has when it is
// carried out; a profile holding a restricted record is restricted. Its
// records do not expire (the person may have asked for them to be kept
// instead of erased). A record that joined later is not restricted
// itself, so when the DPO erases the restricted records, the erasure
// restricts the record the profile keeps under the same request: the
// person stays restricted until the request is lifted.
func TestARestrictionOutlivesTheRecordsItWasWrittenOn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.app.Requests
	v := f.carryOut(t, dsr.Restriction)
	restricted := func() int64 {
		return pgtest.Count(t, f.owner, `SELECT count(*) FROM record_restrictions x JOIN profile_members m ON m.record_id = x.record_id
			WHERE m.profile_id = $1 AND x.lifted_at IS NULL`, f.profile)
	}
	if n := restricted(); n != 2 {
		t.Fatalf("%d records restricted; want both", n)
	}
	joined := pgtest.Keep(t, f.app.DB, f.app.Vault,
		pgtest.Person("sales", "c-2", "Bartholomew", "Quist", "b.quist@example.org", identity.BirthDate, "1971-11-23"))
	if joined[0] != f.profile {
		t.Fatalf("the new record joined %s; want the person's profile %s", joined[0], f.profile)
	}

	// Past their retention, the records of a restricted profile stay.
	pgtest.Exec(t, f.owner, "UPDATE sources SET retention_days = 1")
	pgtest.Exec(t, f.owner, "UPDATE records SET updated_at = now() - interval '2 days'")
	if n, err := svc.SweepRetention(ctx); err != nil || n != 0 {
		t.Fatalf("retention sweep of a restricted profile: %d requests, %v; want none", n, err)
	}

	// The DPO erases the two restricted records; the one that joined stays.
	scope := pgtest.Query(t, f.owner, "SELECT array_agg(record_id)::text FROM record_restrictions")
	erasure := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, f.owner, pgtest.InsertRequest, erasure, "erasure", "approved", f.profile, scope)
	if err := svc.Execute(ctx, erasure); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, f.owner, "SELECT count(*) FROM profile_members WHERE profile_id = $1", f.profile); n != 1 {
		t.Fatalf("the profile has %d records; want the one that joined", n)
	}
	if n := restricted(); n != 1 {
		t.Fatalf("%d records of the profile restricted after its restricted records were erased; want 1", n)
	}
	outcome := pgtest.Query(t, f.owner, "SELECT outcome FROM dsr_requests WHERE id = $1", erasure)
	var rep dsr.ErasureReport
	if err := json.Unmarshal([]byte(outcome), &rep); err != nil || rep.RestrictionsKept != 1 {
		t.Fatalf("report %s (%v); want 1 restriction kept", outcome, err)
	}
	// Lifting the request lifts it there too.
	if _, err := svc.Take(ctx, dpo, v.ID, requests.Step{Action: "lift", Reason: "the dispute is settled"}); err != nil {
		t.Fatal(err)
	}
	if n := restricted(); n != 0 {
		t.Fatalf("%d records restricted after the restriction was lifted", n)
	}
}
