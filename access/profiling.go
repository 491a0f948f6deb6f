package access

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/crm"
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
		acts := make([]crm.Activity, len(got))
		for i, x := range got {
			acts[i] = crm.Activity{Type: x.Type, Channel: x.Channel, At: x.OccurredAt}
			if x.Amount != nil {
				acts[i].Amount = *x.Amount
			}
			if x.Cost != nil {
				acts[i].Cost = *x.Cost
			}
			if x.Satisfaction != nil {
				acts[i].Satisfaction = *x.Satisfaction
			}
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
			if c, err := crm.Compile(m.Segment.Condition); err == nil {
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

// Deliverable opens, for one member of a segment being activated, the
// contact fields the segment's purpose may see: the policy decides at
// send time (consent, objections, restriction), and each person's entry
// is audited. A refusal is ErrNotFound, audited too.
func (s *Service) Deliverable(ctx context.Context, req Request, id uuid.UUID, segment string) (map[string]string, error) {
	out := map[string]string{}
	_, err := s.Guard(ctx, &req, Act{Action: ActionActivate, Profiles: []uuid.UUID{id}, StaffOnly: true,
		Reason: "activate segment " + segment}, func(a *Allowed) error {
		p, _, err := s.golden(a.cat, a.res, a.Decision)
		if err != nil {
			return err
		}
		var fields []string
		for _, f := range ActivationFields {
			if v, ok := p.Attributes[f]; ok {
				out[f] = v.Value
				fields = append(fields, f)
			}
		}
		slices.Sort(fields)
		a.Fields = fields
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
