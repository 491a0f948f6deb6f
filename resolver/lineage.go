package resolver

import (
	"time"

	"github.com/google/uuid"
)

// Lineage is how a profile came to be: its records, the links that joined
// them with their scores or rules, the stewards' decisions, the history of
// records joining and leaving, and the pairs waiting for review. It holds
// ids, scores and level names; no attribute.
type Lineage struct {
	ProfileID uuid.UUID         `json:"profile_id"`
	Records   []LineageRecord   `json:"records"`
	Links     []LineageLink     `json:"links"`
	Decisions []LineageDecision `json:"decisions"`
	Events    []LineageEvent    `json:"events"`
	Review    []Review          `json:"review"`
}

// LineageRecord is a record of the profile, without its attributes.
type LineageRecord struct {
	ID        uuid.UUID `json:"id"`
	Source    string    `json:"source"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LineageLink is a link between two records of the profile.
type LineageLink struct {
	A            uuid.UUID `json:"record_a"`
	B            uuid.UUID `json:"record_b"`
	Probability  float64   `json:"probability"`
	Rule         string    `json:"rule"` // "" scored; email, phone, national_id; steward
	ModelVersion *int      `json:"model_version,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// LineageDecision is a steward's decision about records of the profile.
type LineageDecision struct {
	ID       uuid.UUID   `json:"id"`
	Kind     string      `json:"kind"`
	Actor    string      `json:"actor"`
	At       time.Time   `json:"at"`
	Profiles []uuid.UUID `json:"profiles"`
	Records  []uuid.UUID `json:"records"`
	Note     string      `json:"note,omitempty"`
	Reverses bool        `json:"reverses,omitempty"` // it overturned an earlier decision
	Sealed   SealedNote  `json:"-"`
}

// LineageEvent is one step of the profile's history.
type LineageEvent struct {
	Kind       string     `json:"kind"`
	RecordID   *uuid.UUID `json:"record_id,omitempty"`
	OtherID    *uuid.UUID `json:"other_profile_id,omitempty"`
	RunID      uuid.UUID  `json:"run_id"`
	DecisionID *uuid.UUID `json:"decision_id,omitempty"`
	At         time.Time  `json:"at"`
}

// Review is a pair of records a steward should decide.
type Review struct {
	ID           uuid.UUID         `json:"id"`
	A            uuid.UUID         `json:"record_a"`
	B            uuid.UUID         `json:"record_b"`
	ProfileA     uuid.UUID         `json:"profile_a"`
	ProfileB     uuid.UUID         `json:"profile_b"`
	Probability  float64           `json:"probability"`
	Levels       map[string]string `json:"levels"`
	Reason       string            `json:"reason"`
	ModelVersion *int              `json:"model_version,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	// ValuesA and ValuesB are the two records' values, as the reader's
	// purpose allows them (filled by the read path, on request), so a
	// steward can judge the pair without two more reads.
	ValuesA map[string]string `json:"values_a,omitempty"`
	ValuesB map[string]string `json:"values_b,omitempty"`
}

// Only narrows the lineage to the records in keeps: their records, the
// links and review pairs between two of them, the steps that name one of
// them and the steward's decisions about them (with only those records).
// A customer's export is of the records their evidence covers, not of
// records that joined their profile by matching alone.
func (l *Lineage) Only(keeps func(uuid.UUID) bool) *Lineage {
	out := &Lineage{ProfileID: l.ProfileID, Records: []LineageRecord{}, Links: []LineageLink{}, Decisions: []LineageDecision{},
		Events: []LineageEvent{}, Review: []Review{}}
	for _, r := range l.Records {
		if keeps(r.ID) {
			out.Records = append(out.Records, r)
		}
	}
	for _, k := range l.Links {
		if keeps(k.A) && keeps(k.B) {
			out.Links = append(out.Links, k)
		}
	}
	for _, d := range l.Decisions {
		var records []uuid.UUID
		for _, r := range d.Records {
			if keeps(r) {
				records = append(records, r)
			}
		}
		if len(records) > 0 {
			d.Records, d.Profiles = records, []uuid.UUID{l.ProfileID}
			out.Decisions = append(out.Decisions, d)
		}
	}
	for _, e := range l.Events {
		if e.RecordID != nil && keeps(*e.RecordID) {
			e.OtherID = nil
			out.Events = append(out.Events, e)
		}
	}
	for _, r := range l.Review {
		if keeps(r.A) && keeps(r.B) {
			out.Review = append(out.Review, r)
		}
	}
	return out
}
