package identity

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// A golden profile holds, for each attribute, the one value that survives
// among the records of a person, chosen by a survivorship rule, with its
// provenance: the record it came from, the rule that chose it, and when the
// source recorded it.

// SurvivorshipRule chooses one value among the records of a profile.
type SurvivorshipRule string

// The survivorship rules.
const (
	// SourcePriority: the value of the source with the highest priority
	// (ties: the most recent).
	SourcePriority SurvivorshipRule = "source_priority"
	// MostRecent: the value of the most recently updated record.
	MostRecent SurvivorshipRule = "most_recent"
	// MostFrequent: the value most records agree on, compared in its match
	// form (ties: source priority, then the most recent).
	MostFrequent SurvivorshipRule = "most_frequent"
	// Longest: the longest value (ties: source priority).
	Longest SurvivorshipRule = "longest"
)

// AddressGroup names the address attributes, which survive together from
// one record: a street from one source and a postcode from another would
// make an address nobody lives at.
const AddressGroup = "address"

var addressFields = []Field{Street, AddressLine2, Postcode, City, Region, Country}

// Survivorship maps attributes (canonical names, "address" for the address
// group, "extra" for extra attributes) to rules.
type Survivorship map[string]SurvivorshipRule

// DefaultSurvivorship is the configuration used unless one is given.
func DefaultSurvivorship() Survivorship {
	return Survivorship{
		"given_name": MostFrequent, "family_name": MostFrequent, "full_name": Longest,
		"birth_date": MostFrequent, "gender": MostFrequent,
		"email": MostRecent, "phone": MostRecent,
		AddressGroup:  MostRecent,
		"national_id": SourcePriority,
		"extra":       MostRecent,
	}
}

// ParseSurvivorship reads a JSON object of attribute to rule, applied over
// the defaults.
func ParseSurvivorship(data []byte) (Survivorship, error) {
	var in map[string]string
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("survivorship: %w: %w", ErrInvalid, err)
	}
	s := DefaultSurvivorship()
	for attr, rule := range in {
		if _, known := s[attr]; !known {
			return nil, fmt.Errorf("survivorship: unknown attribute %q (want a canonical attribute outside the address, %q or %q): %w", attr, AddressGroup, "extra", ErrInvalid)
		}
		switch r := SurvivorshipRule(rule); r {
		case SourcePriority, MostRecent, MostFrequent, Longest:
			s[attr] = r
		default:
			return nil, fmt.Errorf("survivorship: attribute %s: unknown rule %q (want source_priority, most_recent, most_frequent or longest): %w", attr, rule, ErrInvalid)
		}
	}
	return s, nil
}

// GoldenInput is one record of a profile, opened (only the attributes the
// reader may see).
type GoldenInput struct {
	RecordID  string
	Source    string
	Priority  int
	UpdatedAt time.Time
	Record    Record
}

// GoldenValue is a surviving value with its provenance.
type GoldenValue struct {
	Value      string           `json:"value"`
	RecordID   string           `json:"record_id"`
	Source     string           `json:"source"`
	Rule       SurvivorshipRule `json:"rule"`
	RecordedAt time.Time        `json:"recorded_at"`
}

// Golden computes the golden attributes of a profile's records: canonical
// attributes by name, extra attributes as "extra:<name>".
func (s Survivorship) Golden(inputs []GoldenInput) map[string]GoldenValue {
	out := map[string]GoldenValue{}
	for _, f := range Fields() {
		if isAddress(f) {
			continue
		}
		var cands []candidate
		for i := range inputs {
			if v := inputs[i].Record.Get(f); strings.TrimSpace(v) != "" {
				cands = append(cands, candidate{in: &inputs[i], value: v})
			}
		}
		if c, ok := choose(cands, s.rule(f.String())); ok {
			out[f.String()] = c.golden(s.rule(f.String()))
		}
	}
	// The address survives as a unit from the record the rule picks among
	// those with the most complete address: a fragment (a country, a city
	// alone) never beats a whole address, however recent it is.
	var addr []candidate
	best := 0
	for i := range inputs {
		var parts []string
		for _, f := range addressFields {
			parts = append(parts, inputs[i].Record.Get(f))
		}
		joined := strings.TrimSpace(strings.Join(parts, " "))
		if joined == "" {
			continue
		}
		level := addressCompleteness(&inputs[i].Record)
		if level > best {
			best, addr = level, addr[:0]
		}
		if level == best {
			addr = append(addr, candidate{in: &inputs[i], value: joined})
		}
	}
	if c, ok := choose(addr, s.rule(AddressGroup)); ok {
		for _, f := range addressFields {
			if v := c.in.Record.Get(f); v != "" {
				out[f.String()] = GoldenValue{Value: v, RecordID: c.in.RecordID, Source: c.in.Source, Rule: s.rule(AddressGroup), RecordedAt: c.in.UpdatedAt}
			}
		}
	}
	extras := map[string][]candidate{}
	for i := range inputs {
		for _, e := range inputs[i].Record.Extra() {
			if e.Value != "" {
				extras[e.Name] = append(extras[e.Name], candidate{in: &inputs[i], value: e.Value})
			}
		}
	}
	for name, cands := range extras {
		if c, ok := choose(cands, s.rule("extra")); ok {
			out["extra:"+name] = c.golden(s.rule("extra"))
		}
	}
	return out
}

// addressCompleteness ranks how much of an address a record holds: 3 a
// street with a postcode or city, 2 a street or a postcode or city, 1 a
// region or country alone.
func addressCompleteness(r *Record) int {
	has := func(f Field) bool { return strings.TrimSpace(r.Get(f)) != "" }
	street := has(Street) || has(AddressLine2)
	place := has(Postcode) || has(City)
	switch {
	case street && place:
		return 3
	case street || place:
		return 2
	}
	return 1
}

func isAddress(f Field) bool {
	for _, a := range addressFields {
		if a == f {
			return true
		}
	}
	return false
}

func (s Survivorship) rule(attr string) SurvivorshipRule {
	if r, ok := s[attr]; ok {
		return r
	}
	return MostRecent
}

type candidate struct {
	in    *GoldenInput
	value string
}

func (c candidate) golden(r SurvivorshipRule) GoldenValue {
	return GoldenValue{Value: c.value, RecordID: c.in.RecordID, Source: c.in.Source, Rule: r, RecordedAt: c.in.UpdatedAt}
}

// choose applies a rule; ties always fall to source priority, then the most
// recent record, then the smallest record id, so that the outcome never
// depends on the order of the records.
func choose(cands []candidate, r SurvivorshipRule) (candidate, bool) {
	if len(cands) == 0 {
		return candidate{}, false
	}
	freq := map[string]int{}
	if r == MostFrequent {
		for _, c := range cands {
			freq[NameKey(c.value)]++
		}
	}
	better := func(a, b candidate) bool {
		switch r {
		case MostFrequent:
			if fa, fb := freq[NameKey(a.value)], freq[NameKey(b.value)]; fa != fb {
				return fa > fb
			}
		case Longest:
			if la, lb := len([]rune(a.value)), len([]rune(b.value)); la != lb {
				return la > lb
			}
		case MostRecent:
			if !a.in.UpdatedAt.Equal(b.in.UpdatedAt) {
				return a.in.UpdatedAt.After(b.in.UpdatedAt)
			}
		}
		if a.in.Priority != b.in.Priority {
			return a.in.Priority > b.in.Priority
		}
		if !a.in.UpdatedAt.Equal(b.in.UpdatedAt) {
			return a.in.UpdatedAt.After(b.in.UpdatedAt)
		}
		return a.in.RecordID < b.in.RecordID
	}
	sort.SliceStable(cands, func(i, j int) bool { return better(cands[i], cands[j]) })
	return cands[0], true
}
