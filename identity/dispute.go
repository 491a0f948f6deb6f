package identity

import (
	"time"

	"github.com/google/uuid"
)

// Dispute states.
const (
	DisputeOpen  = "open"
	DisputeSplit = "split" // a steward moved the record out of the person's profile
	DisputeKept  = "kept"  // a steward found the record is the person's
)

// Dispute is a customer's word that a record shown as theirs is not
// ("this isn't me"): a split candidate for the stewards, whose outcome the
// customer sees. Ids only.
type Dispute struct {
	ID     uuid.UUID `json:"id"`
	Record uuid.UUID `json:"record_id"`
	// Profile is the profile the record is in now (following merges and
	// splits).
	Profile   uuid.UUID  `json:"profile_id"`
	Customer  uuid.UUID  `json:"-"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}
