package access

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/policy"
)

// Act is one action through the gate (see Guard).
type Act struct {
	// Action names it, for the policy and the audit log.
	Action string
	// Profiles are the profiles it acts on: each is loaded (a customer's
	// narrowed to what is theirs) and decided, and a denial of any one
	// stops it, answered as an unknown profile. None: the action concerns
	// no profile (the catalogue, the review queue, the audit log, the
	// request desk) and the policy decides it alone.
	Profiles []uuid.UUID
	// Named are the ids an action on no profile concerns, audited with
	// it (the work may change them, see Allowed).
	Named []string
	// Reason says what was done, in the audit entry; a denial's entry
	// says what was refused.
	Reason string
	// StaffOnly refuses customers whatever the policy says.
	StaffOnly bool
	// Refused is the error a denial of an action on no profile answers
	// (default: ErrForbidden with the policy's reason).
	Refused func(d policy.Decision) error

	// loaded is a profile the caller loaded already (a consent statement
	// chooses its record first); it stands for Profiles.
	loaded *resource
}

// Allowed is what the work of an allowed action sees, and what it says
// about itself for the audit entry.
type Allowed struct {
	// Decision is the policy's (for several profiles, the last one's).
	Decision policy.Decision
	// Profiles are the current ids of the profiles acted on (merges
	// followed), in the order asked.
	Profiles []uuid.UUID
	// Fields are the fields the work disclosed.
	Fields []string
	// Named and Reason are what the entry names and says; the work may
	// set them (the profile of a request it loaded, say).
	Named  []string
	Reason string
	// Outcome, when the work sets it, is audited even when the work
	// fails (NotFound for a profile it did not find).
	Outcome string

	cat  *catalogue
	res  *resource
	more []audit.Entry
}

// Records are the first profile's records the principal may be shown (a
// customer's: only theirs).
func (a *Allowed) Records() []StoredRecord {
	if a.res == nil {
		return nil
	}
	return a.res.records
}

// Guard runs one action through the gate, the same way for every action:
//
//	the purpose checked -> each profile loaded and decided (or the action
//	  alone) -> a denial audited and refused -> the work -> its audit entry
//	  committed -> the grant returned
//
// Nothing the work produced may leave before Guard returns without an
// error: when the entry cannot be committed the action fails
// (ErrUnavailable). Work that changes something after the action is
// audited (a merge, a transition) runs after Guard, under its grant.
func (s *Service) Guard(ctx context.Context, req *Request, a Act, work func(*Allowed) error) (Grant, error) {
	cat, err := s.checkPurpose(ctx, req)
	if err != nil {
		return Grant{}, err
	}
	g := &Allowed{cat: cat, Named: a.Named, Reason: a.Reason}
	switch {
	case a.loaded != nil:
		res, d, err := s.authorizeLoaded(ctx, cat, req, a.Action, a.loaded.asked, a.loaded)
		if err != nil {
			return Grant{}, err
		}
		g.res, g.Decision, g.Profiles = res, d, []uuid.UUID{res.id}
	case len(a.Profiles) > 0:
		for _, p := range a.Profiles {
			res, d, err := s.authorize(ctx, cat, req, a.Action, p)
			if err != nil {
				return Grant{}, err
			}
			if g.res == nil {
				g.res = res
			}
			g.Decision = d
			g.Profiles = append(g.Profiles, res.id)
		}
	default:
		if err := s.gate(ctx, cat, req, a, g); err != nil {
			return Grant{}, err
		}
	}
	if work != nil {
		if err := work(g); err != nil {
			if g.Outcome != "" {
				if aerr := s.commitOne(ctx, req, a.Action, g, g.Outcome); aerr != nil {
					return Grant{}, aerr
				}
			}
			return Grant{}, err
		}
	}
	outcome := g.Outcome
	if outcome == "" {
		outcome = audit.Allowed
	}
	es, err := s.commit(ctx, append([]audit.Entry{s.actEntry(req, a.Action, g, outcome)}, g.more...)...)
	if err != nil {
		return Grant{}, err
	}
	return grant(req, g.Decision, g.Fields, es[0]), nil
}

// gate decides an action on no profile; a denial is audited with the ids
// it named and what it would have done.
func (s *Service) gate(ctx context.Context, cat *catalogue, req *Request, a Act, g *Allowed) error {
	d, err := s.ask(ctx, cat, req, a.Action, nil)
	g.Decision = d
	customer := a.StaffOnly && req.Principal.Kind != auth.Staff
	if err == nil && d.Allow && !customer {
		return nil
	}
	e := s.entry(req, a.Action, a.Named, d, audit.Denied, nil)
	if customer {
		e.Reason = a.Action + " is for staff"
	}
	if a.Reason != "" {
		e.Reason += "; refused: " + a.Reason
	}
	if aerr := s.record(ctx, e); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if a.Refused != nil {
		return a.Refused(d)
	}
	return fmt.Errorf("%s: %w", e.Reason, ErrForbidden)
}

// actEntry is the audit entry of an action: the profiles it acted on, or
// the ids it named.
func (s *Service) actEntry(req *Request, action string, g *Allowed, outcome string) audit.Entry {
	named := g.Named
	if len(g.Profiles) > 0 {
		named = idStrings(g.Profiles)
	}
	e := s.entry(req, action, named, g.Decision, outcome, g.Fields)
	if g.Reason != "" {
		e.Reason = g.Reason
	}
	return e
}

func (s *Service) commitOne(ctx context.Context, req *Request, action string, g *Allowed, outcome string) error {
	return s.record(ctx, s.actEntry(req, action, g, outcome))
}

// commit makes entries durable, in one transaction; when it cannot, the
// caller gets nothing (ErrUnavailable): no result leaves unaudited. It is
// the one place the audit log is written from the read path.
func (s *Service) commit(ctx context.Context, es ...audit.Entry) ([]audit.Entry, error) {
	out, err := s.audit.RecordAll(ctx, es)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// record commits entries whose sequence numbers nobody needs.
func (s *Service) record(ctx context.Context, es ...audit.Entry) error {
	_, err := s.commit(ctx, es...)
	return err
}

// Note audits something that is not a policy decision: a refusal the
// code makes by rule (someone else's request), an acknowledgement.
type Note struct {
	Action   string
	Outcome  string // audit.Allowed, audit.Denied, audit.NotFound
	Profiles []string
	Reason   string
}

// Record commits notes to the audit log; an error means they may not
// be recorded, and what they record must not happen (ErrUnavailable).
func (s *Service) Record(ctx context.Context, req Request, ns ...Note) error {
	es := make([]audit.Entry, len(ns))
	for i, n := range ns {
		es[i] = s.entry(&req, n.Action, n.Profiles, policy.Decision{}, n.Outcome, nil)
		if n.Reason != "" {
			es[i].Reason = n.Reason
		}
	}
	return s.record(ctx, es...)
}
