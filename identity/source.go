package identity

import "time"

// Source is a system a department sends records from.
type Source struct {
	Name       string
	Department string
	// Priority ranks sources for survivorship: when sources disagree on an
	// attribute, the higher priority wins under the source-priority rule.
	Priority int
	// UniqueRecords says the source holds at most one record per person, so
	// two of its records never belong to one profile.
	UniqueRecords bool
	CreatedAt     time.Time
}
