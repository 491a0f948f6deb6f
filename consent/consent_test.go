package consent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/consent"
)

var catalogue = []consent.Purpose{
	{ID: "marketing", LegalBasis: consent.BasisConsent, RequiresConsent: true, DefaultState: consent.Denied},
	{ID: "analytics", LegalBasis: consent.BasisLegitimateInterests, AllowsObjection: true, DefaultState: consent.Granted},
	{ID: "billing", LegalBasis: consent.BasisContract, DefaultState: consent.Granted},
}

func event(purpose string, st consent.State, at time.Time) consent.Event {
	return consent.Event{ID: uuid.New(), Purpose: purpose, State: st, At: at, RecordedAt: at}
}

// said sets when a statement claims it was made (recorded when event said).
func said(e consent.Event, at time.Time) consent.Event {
	e.At = at
	return e
}

func TestDeriveLatestStatementStands(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := t0.Add(48 * time.Hour)
	grant := event("marketing", consent.Granted, t0)
	grant.ExpiresAt = &expires
	cases := []struct {
		name   string
		events []consent.Event
		now    time.Time
		want   map[string]consent.State
	}{
		{"defaults", nil, t0, map[string]consent.State{"marketing": consent.Denied, "analytics": consent.Granted, "billing": consent.Granted}},
		{"granted", []consent.Event{grant}, t0.Add(time.Hour), map[string]consent.State{"marketing": consent.Granted}},
		{"expired", []consent.Event{grant}, expires, map[string]consent.State{"marketing": consent.Expired}},
		{"withdrawn after", []consent.Event{grant, event("marketing", consent.Withdrawn, t0.Add(time.Hour))}, t0.Add(2 * time.Hour),
			map[string]consent.State{"marketing": consent.Withdrawn}},
		{"order of arrival does not matter", []consent.Event{event("marketing", consent.Withdrawn, t0.Add(time.Hour)), grant}, t0.Add(2 * time.Hour),
			map[string]consent.State{"marketing": consent.Withdrawn}},
		{"objection, then lifted", []consent.Event{event("analytics", consent.Objected, t0), event("analytics", consent.Granted, t0.Add(time.Hour))}, t0.Add(2 * time.Hour),
			map[string]consent.State{"analytics": consent.Granted}},
		{"a grant dated ahead does not outlast a withdrawal recorded after it", []consent.Event{
			said(event("marketing", consent.Granted, t0), t0.Add(4*time.Minute)), event("marketing", consent.Withdrawn, t0.Add(time.Minute))},
			t0.Add(2 * time.Minute), map[string]consent.State{"marketing": consent.Withdrawn}},
		{"a refusal recorded after the grant wins over its older date", []consent.Event{
			event("marketing", consent.Granted, t0.Add(time.Hour)), said(event("marketing", consent.Withdrawn, t0.Add(2*time.Hour)), t0)},
			t0.Add(3 * time.Hour), map[string]consent.State{"marketing": consent.Withdrawn}},
		{"granted again after a withdrawal", []consent.Event{
			said(event("marketing", consent.Granted, t0), t0.Add(4*time.Minute)), event("marketing", consent.Withdrawn, t0.Add(time.Minute)),
			event("marketing", consent.Granted, t0.Add(2*time.Minute))},
			t0.Add(3 * time.Minute), map[string]consent.State{"marketing": consent.Granted}},
		{"unknown purposes ignored", []consent.Event{event("astrology", consent.Granted, t0)}, t0, map[string]consent.State{"marketing": consent.Denied}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := consent.Derive(catalogue, tc.events, tc.now)
			if len(got) != len(catalogue) {
				t.Fatalf("%d purposes derived, want %d", len(got), len(catalogue))
			}
			for p, want := range tc.want {
				if got[p].State != want {
					t.Errorf("%s: %s, want %s", p, got[p].State, want)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	m, a, b := catalogue[0], catalogue[1], catalogue[2]
	ok := []struct {
		p  consent.Purpose
		st consent.State
		v  int
	}{{m, consent.Granted, 1}, {m, consent.Denied, 1}, {m, consent.Withdrawn, 0}, {a, consent.Objected, 0}, {a, consent.Granted, 0}}
	for _, c := range ok {
		if err := consent.Check(c.p, c.st, c.v); err != nil {
			t.Errorf("%s %s: %v", c.p.ID, c.st, err)
		}
	}
	bad := []struct {
		p    consent.Purpose
		st   consent.State
		v    int
		want error
	}{
		{m, consent.Granted, 0, consent.ErrInvalid},        // no notice shown
		{b, consent.Granted, 1, consent.ErrNotApplicable},  // contract: nothing to consent to
		{b, consent.Objected, 0, consent.ErrNotApplicable}, // contract: no objection
		{m, consent.Objected, 0, consent.ErrNotApplicable}, // consent is withdrawn, not objected to
		{m, consent.Expired, 1, consent.ErrInvalid},        // a derived state, not a statement
	}
	for _, c := range bad {
		if err := consent.Check(c.p, c.st, c.v); !errors.Is(err, c.want) {
			t.Errorf("%s %s: got %v, want %v", c.p.ID, c.st, err, c.want)
		}
	}
}

func TestPurposeValidation(t *testing.T) {
	p := consent.Purpose{ID: "loyalty", Description: "Loyalty points", LegalBasis: consent.BasisConsent, RetentionDays: 365, AllowsObjection: true}
	if err := p.Validate(); err != nil || !p.RequiresConsent || p.AllowsObjection || p.DefaultState != consent.Denied {
		t.Errorf("consent purpose: %+v, %v", p, err)
	}
	for _, bad := range []consent.Purpose{
		{ID: "X", Description: "d", LegalBasis: consent.BasisContract, RetentionDays: 1},
		{ID: "self_service", Description: "d", LegalBasis: consent.BasisContract, RetentionDays: 1},
		{ID: "ok_id", Description: "", LegalBasis: consent.BasisContract, RetentionDays: 1},
		{ID: "ok_id", Description: "d", LegalBasis: "whim", RetentionDays: 1},
		{ID: "ok_id", Description: "d", LegalBasis: consent.BasisContract, RetentionDays: 0},
	} {
		if err := bad.Validate(); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("%+v accepted: %v", bad, err)
		}
	}
}

func TestNoticeHash(t *testing.T) {
	n, err := consent.NewNotice("marketing", "We send a newsletter.", time.Now(), "staff:dpo")
	sum := sha256.Sum256([]byte("We send a newsletter."))
	if err != nil || n.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("%+v %v", n, err)
	}
	if _, err := consent.NewNotice("marketing", "  ", time.Now(), "x"); !errors.Is(err, consent.ErrInvalid) {
		t.Error("an empty notice was accepted")
	}
}

func TestReconcileMostRestrictiveWins(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(24 * time.Hour)
	past := t0.Add(time.Hour)
	expiredGrant := event("marketing", consent.Granted, t0)
	expiredGrant.ExpiresAt = &past
	a, b, c, anchor := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	cases := []struct {
		name  string
		parts map[uuid.UUID][]consent.Event
		want  map[string]consent.State // purposes that get a merge event
	}{
		{"agreeing parts", map[uuid.UUID][]consent.Event{
			a: {event("marketing", consent.Granted, t0)}, b: {event("marketing", consent.Granted, t0.Add(time.Hour))}}, nil},
		{"one part silent", map[uuid.UUID][]consent.Event{a: {event("marketing", consent.Granted, t0)}, b: nil}, nil},
		{"withdrawn beats a later grant", map[uuid.UUID][]consent.Event{
			a: {event("marketing", consent.Withdrawn, t0)}, b: {event("marketing", consent.Granted, t0.Add(time.Hour))}},
			map[string]consent.State{"marketing": consent.Withdrawn}},
		{"an expired grant has no say", map[uuid.UUID][]consent.Event{
			a: {expiredGrant}, b: {event("marketing", consent.Granted, t0.Add(2*time.Hour))}}, nil},
		{"objection beats a lifted one, per purpose", map[uuid.UUID][]consent.Event{
			a: {event("analytics", consent.Objected, t0), event("marketing", consent.Denied, t0)},
			b: {event("analytics", consent.Granted, t0)},
			c: {event("marketing", consent.Granted, t0)}},
			map[string]consent.State{"analytics": consent.Objected, "marketing": consent.Denied}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := consent.Reconcile(catalogue, tc.parts, anchor, "system:test", now)
			if len(got) != len(tc.want) {
				t.Fatalf("%d events, want %d: %+v", len(got), len(tc.want), got)
			}
			for _, e := range got {
				if tc.want[e.Purpose] != e.State || !e.Conflict || e.Method != consent.MethodMerge || e.Record != anchor || !e.At.Equal(now) {
					t.Errorf("event %+v, want state %s", e, tc.want[e.Purpose])
				}
			}
		})
	}
}

func TestUnmergeRestoresWhatAPartSaidItself(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mine, theirs, anchor := uuid.New(), uuid.New(), uuid.New()
	grant := event("marketing", consent.Granted, t0)
	grant.Record = mine
	merged := event("marketing", consent.Withdrawn, t0.Add(time.Hour))
	merged.Method, merged.Conflict, merged.Basis, merged.Record = consent.MethodMerge, true, []uuid.UUID{mine, theirs}, anchor
	events := []consent.Event{grant, merged}
	now := t0.Add(2 * time.Hour)
	if got := consent.Unmerge(catalogue, events, func(uuid.UUID) bool { return false }, anchor, "system:test", now); len(got) != 0 {
		t.Fatalf("nothing left the profile, yet %+v", got)
	}
	got := consent.Unmerge(catalogue, events, func(r uuid.UUID) bool { return r == theirs }, anchor, "system:test", now)
	if len(got) != 1 || got[0].State != consent.Granted || got[0].Method != consent.MethodMerge || got[0].Conflict || got[0].Record != anchor {
		t.Fatalf("unmerge: %+v", got)
	}
	// Once restored, running it again adds nothing.
	if again := consent.Unmerge(catalogue, append(events, got...), func(r uuid.UUID) bool { return r == theirs }, anchor, "system:test", now); len(again) != 0 {
		t.Fatalf("unmerge twice: %+v", again)
	}
}

// A refusal written on a record that is erased while the person's other
// records stay is re-stated on one of those, as it was said; grants and
// refusals a later statement overrode are not.
func TestOutliveKeepsTheRefusalsOfErasedRecords(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gone, kept := uuid.New(), uuid.New()
	on := func(r uuid.UUID, e consent.Event) consent.Event { e.Record = r; return e }
	isGone := func(r uuid.UUID) bool { return r == gone }
	now := t0.Add(30 * 24 * time.Hour)

	events := []consent.Event{
		on(kept, event("marketing", consent.Granted, t0)),
		on(gone, event("marketing", consent.Withdrawn, t0.Add(time.Hour))),
		on(gone, event("analytics", consent.Objected, t0.Add(2*time.Hour))),
		on(gone, event("billing", consent.Granted, t0)),
	}
	out := consent.Outlive(catalogue, events, isGone, kept, "system:jobs", now)
	got := map[string]consent.Event{}
	for _, e := range out {
		got[e.Purpose] = e
	}
	if len(out) != 2 || got["marketing"].State != consent.Withdrawn || got["analytics"].State != consent.Objected {
		t.Fatalf("carried %+v; want marketing withdrawn and analytics objected", out)
	}
	for _, e := range out {
		if e.Record != kept || e.Method != consent.MethodCarried || len(e.Basis) != 1 || e.Basis[0] != gone {
			t.Errorf("carried %+v: want it on the kept record, carried, with the erased record as its basis", e)
		}
	}
	if a := got["analytics"]; !a.At.Equal(t0.Add(2*time.Hour)) || !a.RecordedAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("carried at %s, recorded %s; want when it was said and recorded", a.At, a.RecordedAt)
	}
	// The state the records left give, with what was carried, is the
	// state before the erasure.
	var left []consent.Event
	for _, e := range events {
		if !isGone(e.Record) {
			left = append(left, e)
		}
	}
	before, after := consent.Derive(catalogue, events, now), consent.Derive(catalogue, append(left, out...), now)
	for _, p := range catalogue {
		if before[p.ID].State != after[p.ID].State {
			t.Errorf("%s: %s before the erasure, %s after", p.ID, before[p.ID].State, after[p.ID].State)
		}
	}

	// Overridden by a later statement on the kept record: nothing to carry.
	events = append(events, on(kept, event("analytics", consent.Granted, t0.Add(3*time.Hour))),
		on(kept, event("marketing", consent.Withdrawn, t0.Add(3*time.Hour))))
	if out := consent.Outlive(catalogue, events, isGone, kept, "system:jobs", now); len(out) != 0 {
		t.Fatalf("carried %+v; want nothing", out)
	}
	// Nothing erased: nothing to carry.
	if out := consent.Outlive(catalogue, events, func(uuid.UUID) bool { return false }, kept, "system:jobs", now); out != nil {
		t.Fatalf("carried %+v with nothing erased", out)
	}

	// A refusal the kept records agree with is carried all the same: a
	// statement dated between the two must still lose to the later one.
	events = []consent.Event{
		on(kept, event("analytics", consent.Objected, t0)),
		on(gone, event("analytics", consent.Objected, t0.Add(48*time.Hour))),
	}
	out = consent.Outlive(catalogue, events, isGone, kept, "system:jobs", now)
	if len(out) != 1 || !out[0].At.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("carried %+v; want the later objection", out)
	}
	// A grant whose expiry passed decides the state: the kept record's
	// older grant, which the person withdrew, must not stand in for it.
	expired := on(gone, event("marketing", consent.Granted, t0.Add(72*time.Hour)))
	until := t0.Add(96 * time.Hour)
	expired.ExpiresAt = &until
	events = []consent.Event{
		on(kept, event("marketing", consent.Granted, t0)),
		on(gone, event("marketing", consent.Withdrawn, t0.Add(48*time.Hour))),
		expired,
	}
	if st := consent.Derive(catalogue, events, now)["marketing"].State; st != consent.Expired {
		t.Fatalf("marketing %s before; want expired", st)
	}
	out = consent.Outlive(catalogue, events, isGone, kept, "system:jobs", now)
	if len(out) != 1 || out[0].ExpiresAt == nil || !out[0].ExpiresAt.Equal(until) {
		t.Fatalf("carried %+v; want the expired grant with its expiry", out)
	}
	if st := consent.Derive(catalogue, append(events[:1:1], out...), now)["marketing"].State; st != consent.Expired {
		t.Fatalf("marketing %s after; want expired", st)
	}
	// A refusal that stood because it was recorded after the latest grant,
	// one on the erased record, still stands over the kept record's grant,
	// dated after the refusal and recorded later still (an import of an
	// old form): it is re-stated as recorded now.
	grant := on(kept, said(event("analytics", consent.Granted, t0.Add(40*time.Hour)), t0.Add(15*time.Hour)))
	late := on(gone, event("analytics", consent.Granted, t0.Add(20*time.Hour)))
	refusal := on(gone, said(event("analytics", consent.Objected, t0.Add(30*time.Hour)), t0.Add(5*time.Hour)))
	events = []consent.Event{grant, late, refusal}
	if st := consent.Derive(catalogue, events, now)["analytics"].State; st != consent.Objected {
		t.Fatalf("analytics %s before; want objected", st)
	}
	out = consent.Outlive(catalogue, events, isGone, kept, "system:jobs", now)
	if st := consent.Derive(catalogue, append([]consent.Event{grant}, out...), now)["analytics"].State; len(out) != 1 || st != consent.Objected ||
		!out[0].RecordedAt.After(grant.RecordedAt) {
		t.Fatalf("carried %+v, analytics %s after; want objected, re-stated after every statement", out, st)
	}
	// The refusal that decides is on the kept record, and stood because it
	// was recorded after the latest grant, on the erased record: it is
	// re-stated after every statement.
	kgrant := on(kept, said(event("analytics", consent.Granted, t0.Add(40*time.Hour)), t0.Add(10*time.Hour)))
	kobjection := on(kept, said(event("analytics", consent.Objected, t0.Add(30*time.Hour)), t0.Add(5*time.Hour)))
	egrant := on(gone, event("analytics", consent.Granted, t0.Add(20*time.Hour)))
	events = []consent.Event{kgrant, kobjection, egrant}
	checkKept(t, events, isGone, kept, now, now)
	// A grant with an expiry to come on the erased record: the kept
	// record's open-ended grant must not outlast it.
	until = t0.Add(200 * time.Hour)
	expiring := on(gone, event("marketing", consent.Granted, t0.Add(20*time.Hour)))
	expiring.ExpiresAt = &until
	events = []consent.Event{on(kept, event("marketing", consent.Granted, t0.Add(10*time.Hour))), expiring}
	checkKept(t, events, isGone, kept, t0.Add(100*time.Hour), t0.Add(300*time.Hour))
	// A withdrawal on the erased record that stood over a grant there, with
	// a denial on the kept record said between them: withdrawn it stays.
	events = []consent.Event{
		on(gone, event("marketing", consent.Granted, t0.Add(10*time.Hour))),
		on(gone, said(event("marketing", consent.Withdrawn, t0.Add(30*time.Hour)), t0.Add(5*time.Hour))),
		on(kept, event("marketing", consent.Denied, t0.Add(8*time.Hour))),
	}
	checkKept(t, events, isGone, kept, now, now)
}

// checkKept checks that the kept events and what Outlive carries give
// every purpose the state all the events gave, at the erasure and later.
func checkKept(t *testing.T, events []consent.Event, gone func(uuid.UUID) bool, kept uuid.UUID, at, later time.Time) {
	t.Helper()
	out := consent.Outlive(catalogue, events, gone, kept, "system:jobs", at)
	var left []consent.Event
	for _, e := range events {
		if !gone(e.Record) {
			left = append(left, e)
		}
	}
	for _, when := range []time.Time{at, later} {
		before, after := consent.Derive(catalogue, events, when), consent.Derive(catalogue, append(left, out...), when)
		for _, p := range catalogue {
			if before[p.ID].State != after[p.ID].State {
				t.Errorf("%s at %s: %s before the erasure, %s after (carried %+v)", p.ID, when, before[p.ID].State, after[p.ID].State, out)
			}
		}
	}
}
