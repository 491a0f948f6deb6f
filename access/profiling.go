package access

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/policy"
)

// The actions of profiling: reading a person's traits and segments,
// working with segments (no person's data), activating a segment (per
// person) and computing everyone's traits.
const (
	ActionTraits     = "traits"
	ActionSegments   = "segments"
	ActionActivate   = "activate"
	ActionProfileAll = "profile_all"
)

// ProfilingStore reads what profiling kept (postgres.DB).
type ProfilingStore interface {
	// ProfileTraits reads a profile's traits, stage history and
	// memberships; nil when it is not profiled.
	ProfileTraits(ctx context.Context, profile uuid.UUID) (*crm.Profiled, error)
	LatestModel(ctx context.Context) (*crm.Model, error)
	// MemberCount is the number of records a profile holds.
	MemberCount(ctx context.Context, profile uuid.UUID) (int, error)
}

// SegmentReason is a segment a person is in, and why in plain words.
type SegmentReason struct {
	Name        string         `json:"name"`
	Purpose     string         `json:"purpose"`
	Description string         `json:"description"`
	Condition   string         `json:"condition"`
	Significant bool           `json:"significant"`
	EnteredAt   time.Time      `json:"entered_at"`
	Values      map[string]any `json:"values"`
}

// ProfileTraits is what profiling says of one person, as one reader may
// see it.
type ProfileTraits struct {
	ProfileID uuid.UUID `json:"profile_id"`
	// Profiled is false when nothing is computed about the person (an
	// objection, a restriction, a missing consent, or no run yet).
	Profiled   bool              `json:"profiled"`
	ComputedAt *time.Time        `json:"computed_at,omitempty"`
	AsOf       *time.Time        `json:"as_of,omitempty"`
	Traits     *crm.Traits       `json:"traits,omitempty"`
	Lifecycle  []crm.StageRecord `json:"lifecycle,omitempty"`
	Segments   []SegmentReason   `json:"segments,omitempty"`
	// OwnRecordsOnly: a customer whose profile holds records not provably
	// theirs sees figures of their own records only.
	OwnRecordsOnly bool     `json:"own_records_only,omitempty"`
	Logic          []string `json:"logic"`
	Access         Grant    `json:"access"`
}

// Traits reads a person's computed traits and segments: the policy
// decides which purposes see them (never after an objection to
// profiling); audited like every read.
func (s *Service) Traits(ctx context.Context, req Request, id uuid.UUID) (*ProfileTraits, error) {
	var out *ProfileTraits
	g, err := s.Guard(ctx, &req, Act{Action: ActionTraits, Profiles: []uuid.UUID{id}}, func(a *Allowed) (err error) {
		out, err = s.traits(ctx, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

func (s *Service) traits(ctx context.Context, a *Allowed) (*ProfileTraits, error) {
	out, fields, err := s.traitsOf(ctx, a.res, a.Decision.AllowsField("traits"), a.Decision.AllowsField("segments"))
	a.Fields = fields
	return out, err
}

// traitsOf reads what profiling keeps of a loaded profile, as much as
// shown: figures of the loaded records only when they are not all of the
// profile's (a customer's narrowed view, a request's scope).
func (s *Service) traitsOf(ctx context.Context, res *resource, showTraits, showSegments bool) (*ProfileTraits, []string, error) {
	out := &ProfileTraits{ProfileID: res.id, Logic: crm.Logic}
	p, err := s.store.ProfileTraits(ctx, res.id)
	if err != nil || p == nil {
		return out, nil, err
	}
	t := p.Traits
	n, err := s.store.MemberCount(ctx, res.id)
	if err != nil {
		return nil, nil, err
	}
	if n != len(res.records) {
		// A customer sees figures of the records that are theirs only,
		// never a namesake's orders folded into the same profile.
		ids := make([]uuid.UUID, len(res.records))
		for i, r := range res.records {
			ids[i] = r.ID
		}
		got, err := s.store.Interactions(ctx, ids, nil, 1<<20)
		if err != nil {
			return nil, nil, err
		}
		cat, err := s.loadCatalogue(ctx)
		if err != nil {
			return nil, nil, err
		}
		// The stored figures' rule: only the sources that serve profiling.
		acts := make([]crm.Activity, 0, len(got))
		for _, x := range got {
			if src, ok := cat.sources[x.Source]; !ok || !crm.ServesProfiling(src.Purposes) {
				continue
			}
			a := crm.Activity{Type: x.Type, Channel: x.Channel, At: x.OccurredAt}
			if x.Amount != nil {
				a.Amount = *x.Amount
			}
			if x.Cost != nil {
				a.Cost = *x.Cost
			}
			if x.Satisfaction != nil {
				a.Satisfaction = *x.Satisfaction
			}
			acts = append(acts, a)
		}
		m, err := s.store.LatestModel(ctx)
		if err != nil {
			return nil, nil, err
		}
		t = crm.OwnFigures(res.id, acts, m, p.AsOf)
		out.OwnRecordsOnly = true
	}
	out.Profiled, out.ComputedAt, out.AsOf = true, &p.ComputedAt, &p.AsOf
	var fields []string
	if showTraits {
		out.Traits = &t
		if !out.OwnRecordsOnly {
			out.Lifecycle = p.Stages
		}
		fields = append(fields, "traits")
	}
	if showSegments {
		for _, m := range p.Segments {
			r := SegmentReason{Name: m.Segment.Name, Purpose: m.Segment.Purpose, Description: m.Segment.Description,
				Condition: m.Segment.Condition, Significant: m.Segment.Significant, EnteredAt: m.EnteredAt}
			c, err := crm.Compile(m.Segment.Condition)
			if out.OwnRecordsOnly && (err != nil || !c.Holds(&t)) {
				// The profile is in it for what records that are not
				// theirs by evidence hold: it says nothing of them, and
				// showing it would tell them of those records.
				continue
			}
			if err == nil {
				r.Values = c.Values(&t, "")
			}
			out.Segments = append(out.Segments, r)
		}
		fields = append(fields, "segments")
	}
	return out, fields, nil
}

// ActivationFields are the contact fields a segment's activation may
// send, when the segment's purpose sees them.
var ActivationFields = []string{"email", "given_name", "family_name"}

// Deliverables opens, for members of a segment being activated, the
// contact fields the segment's purpose may see: the policy decides each
// person at send time (consent, objections, restriction) and each has an
// audit entry of their own, allowed with the fields or denied. The
// profiles are read a few at a time and the entries are committed
// together, before any field is returned: one activation of thousands
// of people waits for one commit, not one each. A person the policy
// refuses, or whose profile is gone, is absent from the answer.
func (s *Service) Deliverables(ctx context.Context, req Request, ids []uuid.UUID, segment string) (map[uuid.UUID]map[string]string, error) {
	cat, err := s.checkPurpose(ctx, &req)
	if err != nil {
		return nil, err
	}
	reason := "activate segment " + segment
	if req.Principal.Kind != auth.Staff {
		return nil, s.gate(ctx, cat, &req, Act{Action: ActionActivate, StaffOnly: true, Reason: reason}, &Allowed{})
	}
	type one struct {
		fields map[string]string
		entry  audit.Entry
	}
	got := make([]one, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deliverableReads)
	for i, id := range ids {
		g.Go(func() error {
			cur, recs, events, err := s.store.ProfileRecords(gctx, id)
			if errors.Is(err, derrors.ErrNotFound) {
				got[i].entry = s.entry(&req, ActionActivate, []string{id.String()}, policy.Decision{}, audit.NotFound, nil)
				return nil
			}
			if err != nil {
				return err
			}
			res := &resource{id: cur, asked: id, records: recs, events: events}
			named := []string{cur.String()}
			d, err := s.ask(gctx, cat, &req, ActionActivate, res)
			if err != nil || !d.Allow {
				got[i].entry = s.entry(&req, ActionActivate, named, d, audit.Denied, nil)
				return err
			}
			p, _, err := s.golden(cat, res, d)
			if err != nil {
				return err
			}
			out := map[string]string{}
			var fields []string
			for _, f := range ActivationFields {
				if v, ok := p.Attributes[f]; ok {
					out[f] = v.Value
					fields = append(fields, f)
				}
			}
			slices.Sort(fields)
			e := s.entry(&req, ActionActivate, named, d, audit.Allowed, fields)
			e.Reason = reason
			got[i] = one{fields: out, entry: e}
			return nil
		})
	}
	werr := g.Wait()
	es := make([]audit.Entry, 0, len(got))
	for _, o := range got {
		if o.entry.Action != "" {
			es = append(es, o.entry)
		}
	}
	// What was decided is audited even when the activation fails: no
	// field leaves unless every entry is committed.
	if err := s.record(ctx, es...); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	out := make(map[uuid.UUID]map[string]string, len(ids))
	for i, o := range got {
		if o.fields != nil {
			out[ids[i]] = o.fields
		}
	}
	return out, nil
}

// deliverableReads is how many profiles an activation reads at once.
const deliverableReads = 4
