package identity

import "time"

// SourceDay is what arrived from a source on one day: records created and
// records changed (counts only).
type SourceDay struct {
	Source  string    `json:"source"`
	Day     time.Time `json:"day"`
	Created int       `json:"created"`
	Updated int       `json:"updated"`
}
