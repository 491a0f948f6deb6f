package crm

import (
	"encoding/json"
	"time"
)

// Computation is a full computation of traits as a job (jobs.Runner):
// asked for, running, or done with what it did.
type Computation struct {
	ID int64 `json:"id"`
	// State is queued, running, completed or failed.
	State string `json:"state"`
	// By is the staff member who asked for it; none for the schedule.
	By         string     `json:"requested_by,omitempty"`
	QueuedAt   time.Time  `json:"queued_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Report is what a completed computation did.
	Report json.RawMessage `json:"report,omitempty"`
	// Joined says the computation was already waiting to start when it
	// was asked for: the answer is that one.
	Joined bool `json:"joined,omitempty"`
}
