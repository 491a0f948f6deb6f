package access

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
)

// Executor is what carrying out requests changes in the store.
type Executor interface {
	Erase(ctx context.Context, request, profile uuid.UUID, now time.Time) (dsr.ErasureReport, error)
	Restrict(ctx context.Context, request, profile uuid.UUID, lift bool) error
}

// ExportValidity is how long an access or portability export can be
// downloaded after its request completed.
const ExportValidity = 30 * 24 * time.Hour

// jobActor is who carries out approved requests.
const jobActor = "system:jobs"

// Execute carries out an approved request, step by step, each step
// idempotent: run again after a crash, it finishes what is left. It is
// what a request's durable job runs.
func (s *Service) Execute(ctx context.Context, store RequestStore, ex Executor, consents ConsentStore, id uuid.UUID) error {
	r, err := store.Request(ctx, id)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if r.State == dsr.Approved {
		if err := store.Transition(ctx, id, dsr.Approved, dsr.InProgress, dsr.Change{},
			dsr.StoredEvent{Event: dsr.Event{Actor: jobActor, At: now}}); err != nil {
			return err
		}
		r.State = dsr.InProgress
	}
	if r.State != dsr.InProgress {
		return nil // decided, done or not approved: nothing to do
	}
	var outcome any
	switch r.Type {
	case dsr.Erasure:
		rep, err := ex.Erase(ctx, r.ID, r.Profile, now)
		if err != nil {
			return err
		}
		s.Forget() // nothing cached may outlive the person
		outcome = rep
	case dsr.Restriction:
		if err := ex.Restrict(ctx, r.ID, r.Profile, false); err != nil {
			return err
		}
		outcome = map[string]string{"restricted": r.Profile.String()}
	case dsr.Objection:
		n, err := s.object(ctx, r.Request, consents, now)
		if err != nil {
			return err
		}
		outcome = map[string]int{"objections_recorded": n}
	case dsr.Access, dsr.Portability:
		outcome = map[string]time.Time{"export_until": now.Add(ExportValidity)}
	case dsr.Rectification:
		// The corrected values come from the person through the DPO, who
		// imports them as records of the source "subject" (the highest
		// survivorship priority) before approving; the job records that
		// it was done.
		outcome = map[string]string{"rectified_through": SubjectSource}
	default:
		return fmt.Errorf("request %s: unknown type %q", id, r.Type)
	}
	b, _ := json.Marshal(outcome)
	return store.Transition(ctx, id, dsr.InProgress, dsr.Completed, dsr.Change{Outcome: string(b)},
		dsr.StoredEvent{Event: dsr.Event{Actor: jobActor, At: time.Now().UTC()}})
}

// SubjectSource is the source of values the person gave themselves
// (rectification, Art. 16): it wins survivorship over every department.
const SubjectSource = "subject"

// object records an objection to the purposes of the request, or to every
// purpose that allows one; direct marketing is always covered (Art.
// 21(2)-(3): absolute), consent to it withdrawn. Purposes already refused
// are left alone, so running it twice records nothing new.
func (s *Service) object(ctx context.Context, r dsr.Request, store ConsentStore, now time.Time) (int, error) {
	cat, err := s.catalogue_(ctx)
	if err != nil {
		return 0, err
	}
	cur, recs, events, err := s.store.ProfileRecords(ctx, r.Profile)
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 0, fmt.Errorf("profile %s has no records: %w", cur, ErrNotFound)
	}
	current := consent.Derive(cat.list, events, now)
	var todo []consent.Event
	for _, p := range cat.list {
		named := slices.Contains(r.Details.Purposes, p.ID)
		covered := named || p.ID == "marketing" || (len(r.Details.Purposes) == 0 && p.AllowsObjection)
		if !covered {
			continue
		}
		var st consent.State
		switch c := current[p.ID]; {
		case p.RequiresConsent && c.State == consent.Granted:
			st = consent.Withdrawn
		case !p.RequiresConsent && p.AllowsObjection && c.State != consent.Objected:
			st = consent.Objected
		default:
			continue
		}
		todo = append(todo, consent.Event{ID: uuid.Must(uuid.NewV7()), Record: recs[0].ID, Purpose: p.ID, State: st,
			Method: consent.MethodRequest, Origin: "request:" + r.ID.String(), Actor: jobActor, At: now, RecordedAt: now})
	}
	if len(todo) == 0 {
		return 0, nil
	}
	return len(todo), store.AppendConsent(ctx, todo)
}
