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
	// UniqueIdentifiers lists the identifiers ("email", "phone",
	// "national_id") the source has verified: a profile may not hold two
	// different values of one of them from such sources.
	UniqueIdentifiers []string
	// LinkByIdentifierOnly says the source's records join a profile only
	// through an identifier they share exactly (or a steward's decision):
	// a probabilistic match goes to the stewards' review queue instead.
	// For records whose values anyone could type, such as customers' own
	// sign-ups: a name is no evidence of being that person.
	LinkByIdentifierOnly bool
	// LegalBasis is the GDPR Art. 6(1) basis under which the source
	// collected its records (consent.LegalBasis names; "contract" unless
	// said otherwise), and Purposes the purposes it collected them for
	// (none: any purpose its basis supports). The access policy reads both.
	LegalBasis string
	Purposes   []string
	CreatedAt  time.Time
}

// Rules returns what resolution needs to know of the source.
func (s Source) Rules() SourceRules {
	return SourceRules{UniqueRecords: s.UniqueRecords, UniqueIdentifiers: s.UniqueIdentifiers, LinkByIdentifierOnly: s.LinkByIdentifierOnly}
}
