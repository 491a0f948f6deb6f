package access

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/vault"
)

// ActionTimeline reads a person's interactions.
const ActionTimeline = "timeline"

// TimelineStore reads interactions (postgres.DB).
type TimelineStore interface {
	// Interactions reads the interactions of records, of the types
	// named (nil: every type), newest first, at most limit.
	Interactions(ctx context.Context, records []uuid.UUID, types []string, limit int) ([]crm.Stored, error)
}

// ProfileTimelineStore reads a profile as ReadStore.ProfileRecords does
// and, in the same round trip, the newest interactions (at most limit)
// of the records it returns (postgres.DB). A store without it is read in
// two steps.
type ProfileTimelineStore interface {
	ProfileTimeline(ctx context.Context, id uuid.UUID, limit int) (uuid.UUID, []StoredRecord, []consent.Event, []crm.Stored, error)
}

// Contact is one interaction as one reader may see it.
type Contact struct {
	ID           uuid.UUID         `json:"id"`
	Source       string            `json:"source"`
	Department   string            `json:"department"`
	Type         string            `json:"type"`
	Channel      string            `json:"channel"`
	OccurredAt   time.Time         `json:"occurred_at"`
	Amount       *float64          `json:"amount,omitempty"`
	Currency     string            `json:"currency,omitempty"`
	Quantity     *int              `json:"quantity,omitempty"`
	Satisfaction *int              `json:"satisfaction,omitempty"`
	Cost         *float64          `json:"cost,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// Timeline is a person's interactions across every channel, newest first.
type Timeline struct {
	ProfileID uuid.UUID `json:"profile_id"`
	Contacts  []Contact `json:"contacts"`
	Access    Grant     `json:"access"`
}

// MaxTimeline bounds the contacts one read returns.
const MaxTimeline = 1000

// Timeline reads a person's interactions: the policy decides which types
// the purpose sees and whether their free text is opened; a customer sees
// those of their own records. Audited like every read.
func (s *Service) Timeline(ctx context.Context, req Request, id uuid.UUID, limit int) (*Timeline, error) {
	if limit <= 0 || limit > MaxTimeline {
		limit = 200
	}
	out := &Timeline{Contacts: []Contact{}}
	act := Act{Action: ActionTimeline, Profiles: []uuid.UUID{id}}
	// A customer is shown the records their evidence covers, fewer than
	// the profile's: their interactions are read once those are known.
	if ts, ok := s.store.(ProfileTimelineStore); ok && req.Principal.Kind != auth.Customer {
		// One round trip reads the records and their interactions; the
		// policy still decides before anything of them is opened.
		if _, err := s.checkPurpose(ctx, &req); err != nil {
			return nil, err
		}
		var contacts []crm.Stored
		res, err := s.loadFrom(ctx, &req, ActionTimeline, id,
			func(ctx context.Context, id uuid.UUID) (uuid.UUID, []StoredRecord, []consent.Event, error) {
				cur, recs, events, got, err := ts.ProfileTimeline(ctx, id, limit)
				contacts = got
				return cur, recs, events, err
			})
		if err != nil {
			return nil, err
		}
		res.timeline, res.timelineRead = contacts, true
		act = Act{Action: ActionTimeline, loaded: res}
	}
	g, err := s.Guard(ctx, &req, act, func(a *Allowed) error {
		out.ProfileID = a.Profiles[0]
		var err error
		out.Contacts, a.Fields, err = s.contacts(ctx, a.cat, a.res, a.Decision.Fields, a.Decision.AllowsSource, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

// contacts reads the interactions of a loaded profile's records that the
// fields allow ("interaction:<type>", "interaction:*"; their text with
// "interaction_attributes"), of the records of the sources the decision
// allows (nil: every source, for the person's own export), newest first,
// and names the fields it showed. An interaction is the source's record
// of a contact: a source the reader may not see (one collected under a
// consent the person did not give) shows none of its interactions.
func (s *Service) contacts(ctx context.Context, cat *catalogue, res *resource, allowed []string, source func(string) bool, limit int) ([]Contact, []string, error) {
	ids := make([]uuid.UUID, 0, len(res.records))
	byID := map[uuid.UUID]*StoredRecord{}
	for i := range res.records {
		r := &res.records[i]
		if source != nil && !source(r.Source) {
			continue
		}
		ids = append(ids, r.ID)
		byID[r.ID] = r
	}
	all := slices.Contains(allowed, "interaction:*")
	text := slices.Contains(allowed, "interaction_attributes")
	var types []string // the types the purpose sees; nil: every type
	if !all {
		types = []string{}
		for _, f := range allowed {
			if t, ok := strings.CutPrefix(f, "interaction:"); ok {
				types = append(types, t)
			}
		}
	}
	visible := func(x crm.Stored) bool {
		return byID[x.Record] != nil && (all || slices.Contains(types, x.Type))
	}
	var (
		got []crm.Stored
		err error
	)
	read := !res.timelineRead
	if !read {
		got = res.timeline
		// Read before the decision, they are the newest of every type
		// and record: when the limit cut them and some are not for this
		// reader, more of what is may lie beyond the cut.
		read = len(got) >= limit && slices.ContainsFunc(got, func(x crm.Stored) bool { return !visible(x) })
	}
	if read {
		// The limit counts only what the reader sees: the types the
		// purpose sees, of the records decided on (a customer sees the
		// records their evidence covers).
		if got, err = s.store.Interactions(ctx, ids, types, limit); err != nil {
			return nil, nil, err
		}
	}
	out := []Contact{}
	seen := map[string]bool{}
	keys := map[uuid.UUID]*vault.SubjectKey{} // each record's key opened once, not once per interaction
	for _, x := range got {
		if !visible(x) {
			// Not for this purpose; or read with the records but in a
			// statement of its own, of a record merged into the profile in
			// between, which was not decided on.
			continue
		}
		rec := byID[x.Record]
		c := Contact{ID: x.ID, Source: x.Source, Department: cat.sources[x.Source].Department, Type: x.Type, Channel: x.Channel,
			OccurredAt: x.OccurredAt, Amount: x.Amount, Currency: x.Currency, Quantity: x.Quantity, Satisfaction: x.Satisfaction, Cost: x.Cost}
		seen["interaction:"+x.Type] = true
		if text && len(x.Sealed) > 0 {
			key := keys[x.Record]
			if key == nil {
				if key, err = s.vault.OpenSubjectKey(rec.ID, rec.KEK, rec.Wrapped); err != nil {
					return nil, nil, err
				}
				keys[x.Record] = key
			}
			if c.Attributes, err = crm.Open(key, x.Sealed); err != nil {
				return nil, nil, err
			}
			seen["interaction_attributes"] = true
		}
		out = append(out, c)
	}
	fields := []string{}
	for f := range seen {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	return out, fields, nil
}
