package identity

import (
	"slices"
	"strings"

	"github.com/cdp-project/cdp/internal/parallel"
)

// Deterministic rules link two records that share a strong identifier
// (email, phone, national id) unless the identifier is generic or shared,
// or something that tells two people apart disagrees: the given or family
// name, the birth date, the gender. Guards learned from production CDPs keep generic
// values (test@test.com, 0000000000) and shared ones (an office line, a
// family address) from welding people together.

// genericLocalParts are email local parts that name a role or nobody.
var genericLocalParts = map[string]bool{
	"test": true, "testing": true, "noemail": true, "no-email": true, "no_email": true, "nomail": true,
	"none": true, "noreply": true, "no-reply": true, "na": true, "n.a": true, "null": true, "nil": true,
	"unknown": true, "email": true, "mail": true, "info": true, "office": true, "admin": true,
	"contact": true, "sales": true, "support": true, "hello": true, "user": true, "customer": true,
	"example": true, "abc": true, "xxx": true, "asdf": true, "a": true, "x": true,
}

// GenericIdentifier reports whether a normalised identifier value names no
// one in particular: placeholder emails and role mailboxes, phone numbers
// and ids of one repeated digit or a counting sequence.
func GenericIdentifier(kind, v string) bool {
	switch kind {
	case "email":
		local, domain, ok := strings.Cut(v, "@")
		if !ok {
			return true
		}
		return genericLocalParts[local] || strings.HasPrefix(domain, "test.") || domain == "example.invalid"
	case "phone", "national_id":
		digits := strings.TrimLeft(v, "+")
		if len(digits) < 5 {
			return true
		}
		same, ascending, descending := true, true, true
		for i := 1; i < len(digits); i++ {
			if digits[i] != digits[0] {
				same = false
			}
			if digits[i] != digits[i-1]+1 && !(digits[i-1] == '9' && digits[i] == '0') {
				ascending = false
			}
			if digits[i]+1 != digits[i-1] {
				descending = false
			}
		}
		// The trailing digits carry the number: +440000000000 is generic.
		tail := digits[max(0, len(digits)-8):]
		return same || ascending || descending || strings.Count(tail, tail[:1]) == len(tail)
	}
	return false
}

// sharedIdentifiers finds identifier values that are generic or shared by
// several people: held by records with at least three different family
// names, or two different given names that are not variants of each other
// among records whose birth dates differ. Such values neither block nor
// link deterministically (they still count, weakly, in scores).
func sharedIdentifiers(recs []rec) map[string]map[string]bool {
	sets := make([]map[string]bool, len(identKinds))
	parallel.Ranges(len(identKinds), len(identKinds), func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			sets[k] = sharedValues(recs, identKinds[k], identValues[k])
		}
	})
	out := make(map[string]map[string]bool, len(identKinds))
	for k, kind := range identKinds {
		out[kind] = sets[k]
	}
	return out
}

// sharedValues returns the generic or shared values of one identifier.
// Only a value held by two records or more can be shared: they are found
// by counting the values' hashes first, so that the many values held once
// cost a counter, not a record of their holders.
func sharedValues(recs []rec, kind string, value int) map[string]bool {
	out := map[string]bool{}
	counts := make(map[uint64]int32)
	for i := range recs {
		if h := hashOf(recs[i].s(value)); h != 0 {
			counts[h]++
		}
	}
	type holders struct {
		names  [3]string // distinct family names, up to three
		n      int
		people []int32
	}
	byValue := map[string]*holders{}
	for i := range recs {
		r := &recs[i]
		v := r.s(value)
		if v == "" {
			continue
		}
		if GenericIdentifier(kind, v) {
			out[v] = true
			continue
		}
		if counts[hashOf(v)] < 2 {
			continue
		}
		h := byValue[v]
		if h == nil {
			h = &holders{}
			byValue[v] = h
		}
		if k := r.familySx(); k != "" && h.n < len(h.names) && !slices.Contains(h.names[:h.n], k) {
			h.names[h.n] = k
			h.n++
		}
		if len(h.people) < 16 {
			h.people = append(h.people, int32(i))
		}
	}
	for v, h := range byValue {
		if h.n >= 3 || distinctPeople(recs, h.people, kind != "national_id") {
			out[v] = true
		}
	}
	return out
}

// distinctPeople reports records that are clearly different people. For
// contact identifiers (phones and emails, which households share) clearly
// different given names suffice; for national ids the birth dates must
// disagree too.
func distinctPeople(recs []rec, ids []int32, household bool) bool {
	for i := 0; i < len(ids); i++ {
		for j := i + 1; j < len(ids); j++ {
			a, b := &recs[ids[i]], &recs[ids[j]]
			if compareGiven(a, b, contextOf(a, b)) == 4 && (household || compareBirthDate(a, b) == 4) {
				return true
			}
		}
	}
	return false
}

// givenNamesReliable reports whether the model learnt that records of one
// person rarely carry clearly different given names (less than one pair in
// ten): only then does a disagreement on them veto a link. In data where
// given names are often replaced (FEBRL's corruption, historical aliases)
// the disagreement weighs only what the model says it weighs.
func givenNamesReliable(m *Model) bool {
	c, ok := m.comparison("given_name")
	if !ok || len(c.Levels) == 0 {
		return false
	}
	return c.Levels[len(c.Levels)-1].M < 0.1
}

// personEvidence reports whether a pair may link without review: its
// given names do not clearly differ, or it shares a personal identifier (a
// national id or email, exactly or but for a typo; a phone exactly) that is
// not shared by a household. A household (same family name, address and
// landline, different given names, twins even with one birth date)
// otherwise scores like one person.
func personEvidence(recs []rec, p pair, sc *scorer, idents []int, shared map[string]map[string]bool) bool {
	a := &recs[p.a]
	if p.level(cGiven) != 4 {
		return true
	}
	for _, ci := range idents {
		kind := sc.comps[ci].name
		switch l := p.level(ci); {
		case l == 1:
			if v := identifierValue(a, kind); v != "" && !shared[kind][v] {
				return true
			}
		case l == 2 && kind != "phone":
			return true
		}
	}
	return false
}

// household reports a pair that looks like two members of one household:
// given names that clearly differ, no personal identifier in common, but
// the same family name and the same address or phone.
func household(recs []rec, p pair, sc *scorer, idents []int, shared map[string]map[string]bool) bool {
	if personEvidence(recs, p, sc, idents, shared) {
		return false
	}
	if f := p.level(cFamily); f == 0 || f > 2 {
		return false
	}
	return p.level(cStreet) == 1 || p.level(cPostcode) == 1 && p.level(cStreet) == 0 || p.level(cPhone) == 1
}

func identifierValue(r *rec, kind string) string {
	if k := slices.Index(identKinds[:], kind); k >= 0 {
		return r.s(identValues[k])
	}
	return ""
}

// deterministicRule returns the index of the identifier comparison that
// links a pair by rule, or -1: an exact, unshared identifier and no
// disagreement on what tells people apart.
func deterministicRule(recs []rec, p pair, sc *scorer, idents []int, shared map[string]map[string]bool) int {
	a := &recs[p.a]
	if p.level(cGiven) == 4 || p.level(cFamily) == 4 || p.level(cBirthDate) == 4 || p.level(cGender) == 2 {
		return -1
	}
	for _, ci := range idents {
		if p.level(ci) != 1 {
			continue
		}
		kind := sc.comps[ci].name
		v := identifierValue(a, kind)
		if v == "" || shared[kind][v] {
			continue
		}
		return ci
	}
	return -1
}
