package access

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/resolver"
)

// Lineage is how a profile came to be (resolver.Lineage), with the
// decision that let the caller see it.
type Lineage struct {
	*resolver.Lineage
	Access Grant `json:"access"`
}

// Review is a pair of records a steward should decide.
type Review = resolver.Review

// Lineage reads how a profile came to be.
func (s *Service) Lineage(ctx context.Context, req Request, id uuid.UUID) (*Lineage, error) {
	stewardPurpose(&req)
	var l *Lineage
	g, err := s.Guard(ctx, &req, Act{Action: ActionLineage, Profiles: []uuid.UUID{id}}, func(a *Allowed) error {
		rl, err := s.store.ProfileLineage(ctx, a.res.id)
		if err != nil {
			return err
		}
		l = &Lineage{Lineage: rl}
		if !a.Decision.AllowsField("note") {
			return nil
		}
		for i := range l.Decisions {
			note, err := s.resolver.OpenNote(l.Decisions[i].ID, l.Decisions[i].Sealed)
			if err != nil {
				return err
			}
			l.Decisions[i].Note = note
			a.Fields = []string{"note"}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.Access = g
	return l, nil
}

// Reviews lists undecided review pairs, most likely first.
//
// With values, each pair carries the two records' values as the purpose
// allows them (the policy decides per profile, as for a records read, and
// each profile shown is audited with its fields).
func (s *Service) Reviews(ctx context.Context, req Request, after uuid.UUID, limit int, values bool) ([]Review, Grant, error) {
	stewardPurpose(&req)
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rs := []Review{}
	g, err := s.Guard(ctx, &req, Act{Action: ActionReview, Reason: "review queue"}, func(a *Allowed) error {
		page, err := s.store.OpenReviews(ctx, after, limit)
		if err != nil {
			return err
		}
		if page != nil {
			rs = page
		}
		a.Reason = ""
		seen := map[uuid.UUID]bool{}
		for _, r := range rs {
			for _, p := range []uuid.UUID{r.ProfileA, r.ProfileB} {
				if !seen[p] {
					seen[p] = true
					a.Named = append(a.Named, p.String())
				}
			}
		}
		if values {
			if a.more, err = s.reviewValues(ctx, a.cat, &req, rs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	return rs, g, nil
}

// reviewValues fills the pairs' values as the purpose allows, deciding
// each profile once like a records read; it returns the audit entries of
// what it opened (one per profile, with its fields), which the caller
// commits before anything leaves.
func (s *Service) reviewValues(ctx context.Context, cat *catalogue, req *Request, rs []Review) ([]audit.Entry, error) {
	type shown struct {
		res    *resource
		d      policy.Decision
		fields map[string]bool
	}
	byProfile := map[uuid.UUID]*shown{}
	open := func(profile, record uuid.UUID) (map[string]string, error) {
		sh, ok := byProfile[profile]
		if !ok {
			cur, recs, events, err := s.store.ProfileRecords(ctx, profile)
			if err != nil {
				byProfile[profile] = nil
				return nil, nil // resolved away meanwhile: no values
			}
			res := &resource{id: cur, records: recs, events: events}
			d, err := s.ask(ctx, cat, req, ActionRecords, res)
			if err != nil {
				return nil, err
			}
			sh = &shown{res: res, d: d, fields: map[string]bool{}}
			byProfile[profile] = sh
		}
		if sh == nil || !sh.d.Allow {
			return nil, nil
		}
		one := &resource{id: sh.res.id, records: sh.res.records, events: sh.res.events}
		one.only([]uuid.UUID{record})
		o, err := s.open(cat, one, sh.d)
		if err != nil || len(o.records) == 0 {
			return nil, err
		}
		for f := range o.fields() {
			sh.fields[f] = true
		}
		return o.records[0].Attributes, nil
	}
	for i := range rs {
		var err error
		if rs[i].ValuesA, err = open(rs[i].ProfileA, rs[i].A); err != nil {
			return nil, err
		}
		if rs[i].ValuesB, err = open(rs[i].ProfileB, rs[i].B); err != nil {
			return nil, err
		}
	}
	var es []audit.Entry
	for _, sh := range byProfile {
		if sh == nil {
			continue
		}
		outcome := audit.Allowed
		if !sh.d.Allow {
			outcome = audit.Denied
		}
		e := s.entry(req, ActionRecords, []string{sh.res.id.String()}, sh.d, outcome, sortedKeys(sh.fields))
		e.Reason = "review queue values"
		es = append(es, e)
	}
	return es, nil
}

// steward authorises a steward action on profiles: every one must be
// allowed, and the action is audited before it happens. It returns the
// profiles' current ids.
func (s *Service) steward(ctx context.Context, req *Request, action string, profiles []uuid.UUID) ([]uuid.UUID, error) {
	stewardPurpose(req)
	var current []uuid.UUID
	_, err := s.Guard(ctx, req, Act{Action: action, Profiles: profiles}, func(a *Allowed) error {
		current = a.Profiles
		return nil
	})
	return current, err
}

// stewardFirst decides, and audits, whether the principal may take a
// steward's action at all, before the thing it names (a dispute, a
// review pair) is looked up: otherwise any token told an unknown one from
// a settled one and an open one, unaudited, and the refusal of an open
// one named its profile. A refusal answers as an unknown one.
func (s *Service) stewardFirst(ctx context.Context, req *Request, action, doing, what string, id uuid.UUID) error {
	stewardPurpose(req)
	_, err := s.Guard(ctx, req, Act{Action: action, StaffOnly: true, Named: []string{id.String()},
		Reason:  doing + " " + what + " " + id.String(),
		Refused: func(policy.Decision) error { return fmt.Errorf("%s %s: %w", what, id, ErrNotFound) }}, nil)
	return err
}

// checkNote refuses a steward decision without a usable reason before
// anything is decided or audited.
func checkNote(note string) error {
	note = strings.TrimSpace(note)
	if note == "" {
		return fmt.Errorf("reason: a steward decision needs a reason: %w", ErrInvalid)
	}
	if len(note) > resolver.MaxNoteBytes {
		return fmt.Errorf("reason: at most %d bytes: %w", resolver.MaxNoteBytes, ErrInvalid)
	}
	return nil
}

// stewardPurpose declares data_quality for steward work that declared no
// purpose: lineage, review, merge, split and decisions show no attribute.
func stewardPurpose(req *Request) {
	if req.Purpose == "" && req.Principal.Kind == auth.Staff {
		req.Purpose = "data_quality"
	}
}

// Merge makes profiles one (see resolver.Merge); reverse overturns an
// earlier steward decision that said otherwise.
func (s *Service) Merge(ctx context.Context, req Request, profiles []uuid.UUID, note string, reverse bool) (*resolver.Report, error) {
	if len(profiles) < 2 || len(profiles) > 50 {
		return nil, fmt.Errorf("merge takes 2 to 50 profiles: %w", ErrInvalid)
	}
	if err := checkNote(note); err != nil {
		return nil, err
	}
	current, err := s.steward(ctx, &req, ActionMerge, profiles)
	if err != nil {
		return nil, err
	}
	return s.resolver.Merge(ctx, req.Principal.Actor(), current, note, reverse)
}

// Split moves records out of a profile (see resolver.Split); reverse
// overturns an earlier steward decision that said otherwise.
func (s *Service) Split(ctx context.Context, req Request, profile uuid.UUID, records []uuid.UUID, note string, reverse bool) (*resolver.Report, error) {
	if len(records) == 0 || len(records) > 1000 {
		return nil, fmt.Errorf("split takes 1 to 1000 records: %w", ErrInvalid)
	}
	if err := checkNote(note); err != nil {
		return nil, err
	}
	current, err := s.steward(ctx, &req, ActionSplit, []uuid.UUID{profile})
	if err != nil {
		return nil, err
	}
	return s.resolver.Split(ctx, req.Principal.Actor(), current[0], records, note, reverse)
}

// ReviewStore is what deciding a review pair reads.
type ReviewStore interface {
	resolver.ReviewStore
	Review(ctx context.Context, id uuid.UUID) (Review, error)
}

// Settle settles a review pair (see resolver.Decide).
func (s *Service) Settle(ctx context.Context, req Request, pair uuid.UUID, same bool, note string) (*resolver.Report, error) {
	if err := checkNote(note); err != nil {
		return nil, err
	}
	if err := s.stewardFirst(ctx, &req, ActionDecide, "decide", "review pair", pair); err != nil {
		return nil, err
	}
	r, err := s.store.Review(ctx, pair)
	if err != nil {
		return nil, err
	}
	profiles := []uuid.UUID{r.ProfileA}
	if r.ProfileB != r.ProfileA {
		profiles = append(profiles, r.ProfileB)
	}
	if _, err := s.steward(ctx, &req, ActionDecide, profiles); err != nil {
		return nil, err
	}
	return s.resolver.Decide(ctx, req.Principal.Actor(), s.store, pair, same, note)
}

// AuditLog answers a DPO's question about the audit log ("who read this
// person's data", "what did this principal read between T1 and T2"). It
// is itself audited, under the purpose compliance.
func (s *Service) AuditLog(ctx context.Context, req Request, q audit.Query) ([]audit.Entry, Grant, error) {
	req.Purpose = "compliance"
	var named []string
	if q.Profile != "" {
		if _, err := uuid.Parse(q.Profile); err != nil {
			return nil, Grant{}, fmt.Errorf("profile: not a profile id: %w", ErrInvalid)
		}
		named = []string{q.Profile}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, Grant{}, fmt.Errorf("from must be before to: %w", ErrInvalid)
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	// Audited before it is answered: the DPO's question is itself
	// something the log must show.
	g, err := s.Guard(ctx, &req, Act{Action: ActionAudit, Named: named, Reason: auditQueryReason(q), StaffOnly: true}, nil)
	if err != nil {
		return nil, g, err
	}
	out, err := s.store.AuditEntries(ctx, q)
	if err != nil {
		return nil, Grant{}, err
	}
	if out == nil {
		out = []audit.Entry{}
	}
	return out, g, nil
}

// auditQueryReason describes a DPO's query in its own audit entry: which
// principal, purpose and period it asked about (no personal data).
func auditQueryReason(q audit.Query) string {
	r := "audit query"
	if q.Principal != "" {
		r += " principal=" + clip(q.Principal)
	}
	if q.Purpose != "" {
		r += " purpose=" + clip(q.Purpose)
	}
	if !q.From.IsZero() {
		r += " from=" + q.From.UTC().Format(time.RFC3339)
	}
	if !q.To.IsZero() {
		r += " to=" + q.To.UTC().Format(time.RFC3339)
	}
	return r
}

// Explain breaks a review pair's score into the weight of the prior and
// of each comparison (a waterfall, as Splink draws it): ids and weights,
// no values.
func (s *Service) Explain(ctx context.Context, r Review) (prior float64, cs []identity.Contribution, err error) {
	m, err := s.resolver.ActiveModel(ctx)
	if err != nil {
		return 0, nil, err
	}
	prior, cs = m.Explain(r.Levels)
	return prior, cs, nil
}
