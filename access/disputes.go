package access

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
)

// ActionDispute is a customer's "this isn't me" about a record.
const ActionDispute = "dispute"

// ErrSettled reports a dispute a steward settled already.
var ErrSettled = derrors.New(derrors.ErrConflict, "dispute settled")

// DisputeStore keeps customers' disputes of records (postgres.DB).
type DisputeStore interface {
	CreateDispute(ctx context.Context, d identity.Dispute) (identity.Dispute, error)
	CustomerDisputes(ctx context.Context, customer uuid.UUID) ([]identity.Dispute, error)
	OpenDisputes(ctx context.Context, limit int) ([]identity.Dispute, error)
	Dispute(ctx context.Context, id uuid.UUID) (identity.Dispute, error)
	SettleDispute(ctx context.Context, id uuid.UUID, state, by string, at time.Time) error
}

// Dispute records a customer's word that a record shown as theirs is not:
// one of the records they are shown (see scope), not their own account's.
// It opens a case the stewards see beside their review queue; disputing a
// record twice returns the open case.
func (s *Service) Dispute(ctx context.Context, req Request, record uuid.UUID) (identity.Dispute, error) {
	var d identity.Dispute
	if req.Principal.Kind != auth.Customer {
		return d, fmt.Errorf("a dispute is the person's own word: %w", ErrForbidden)
	}
	_, err := s.Guard(ctx, &req, Act{Action: ActionDispute, Profiles: []uuid.UUID{req.Subject}, Reason: "disputed record " + record.String()},
		func(a *Allowed) error {
			for _, r := range a.Records() {
				if r.ID != record {
					continue
				}
				if r.Source == SelfServiceSource || r.ID == req.SubjectRecord {
					// The record the account stands on (its own, or the
					// one holding its verified address) is theirs by
					// that very evidence.
					return fmt.Errorf("this record is the one your account is linked to: %w", ErrInvalid)
				}
				id, err := uuid.Parse(req.Principal.ID)
				if err != nil {
					return fmt.Errorf("customer %q: %w", req.Principal.ID, ErrInvalid)
				}
				d, err = s.store.CreateDispute(ctx, identity.Dispute{ID: uuid.Must(uuid.NewV7()), Record: record, Profile: a.Profiles[0],
					Customer: id, State: identity.DisputeOpen, CreatedAt: time.Now().UTC()})
				return err
			}
			return fmt.Errorf("record %s: %w", record, ErrNotFound)
		})
	return d, err
}

// MyDisputes lists a customer's own disputes with their outcomes (ids
// and states only).
func (s *Service) MyDisputes(ctx context.Context, customer uuid.UUID) ([]identity.Dispute, error) {
	ds, err := s.store.CustomerDisputes(ctx, customer)
	if ds == nil && err == nil {
		ds = []identity.Dispute{}
	}
	return ds, err
}

// Disputes lists the open disputes for the stewards, oldest first
// (authorised and audited like the review queue).
func (s *Service) Disputes(ctx context.Context, req Request, limit int) ([]identity.Dispute, Grant, error) {
	stewardPurpose(&req)
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	ds := []identity.Dispute{}
	g, err := s.Guard(ctx, &req, Act{Action: ActionReview, Reason: "disputes"}, func(a *Allowed) error {
		got, err := s.store.OpenDisputes(ctx, limit)
		if err != nil {
			return err
		}
		for _, d := range got {
			ds = append(ds, d)
			a.Named = append(a.Named, d.Profile.String())
		}
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	return ds, g, nil
}

// SettleDispute settles a dispute: split moves the record out of the
// profile (a steward's split, a cannot-link constraint every later run
// respects); otherwise the record stays and the dispute is kept. The
// customer sees the outcome.
func (s *Service) SettleDispute(ctx context.Context, req Request, id uuid.UUID, split bool, note string) (identity.Dispute, error) {
	if err := checkNote(note); err != nil {
		return identity.Dispute{}, err
	}
	if err := s.stewardFirst(ctx, &req, ActionSplit, "settle", "dispute", id); err != nil {
		return identity.Dispute{}, err
	}
	d, err := s.store.Dispute(ctx, id)
	if err != nil {
		return d, err
	}
	if d.State != identity.DisputeOpen {
		return d, fmt.Errorf("dispute %s was settled (%s): %w", id, d.State, ErrSettled)
	}
	current, err := s.steward(ctx, &req, ActionSplit, []uuid.UUID{d.Profile})
	if err != nil {
		return d, err
	}
	state := identity.DisputeKept
	if split {
		state = identity.DisputeSplit
		if _, err := s.resolver.Split(ctx, req.Principal.Actor(), current[0], []uuid.UUID{d.Record}, note, false); err != nil {
			return d, err
		}
	}
	if err := s.store.SettleDispute(ctx, id, state, req.Principal.Actor(), time.Now().UTC()); err != nil {
		return d, err
	}
	return s.store.Dispute(ctx, id)
}
