package identity

import "strings"

// GivenNamesDiffer reports two given names that clearly belong to
// different people: not equal once folded, not forms of one name
// ("william" and "bill"), not a typo apart, not an initial of the other
// and not a part of a compound name. Either name missing tells nothing
// (false).
func GivenNamesDiffer(a, b string) bool {
	x, y := NameKey(a), NameKey(b)
	if x == "" || y == "" || x == y {
		return false
	}
	if nicknames(x, y) || JaroWinkler(x, y) >= 0.92 {
		return false
	}
	if len(x) == 1 && strings.HasPrefix(y, x) || len(y) == 1 && strings.HasPrefix(x, y) {
		return false
	}
	if len(x) >= 4 && len(y) >= 4 && (strings.Contains(x, y) || strings.Contains(y, x)) {
		return false
	}
	return true
}

// Contradict reports two records that say they are different people: their
// given names clearly differ, or both hold a national id or a birth date
// and those differ. It is the test for disclosure, not for matching: a
// typo in a birth date counts as a contradiction, since showing one
// person's data to another is worse than showing a person too little.
func Contradict(a, b *Record) bool {
	if GivenNamesDiffer(a.Get(GivenName), b.Get(GivenName)) {
		return true
	}
	if x, y := NormalizeNationalID(a.Get(NationalID)), NormalizeNationalID(b.Get(NationalID)); x != "" && y != "" && x != y {
		return true
	}
	x, y := a.Get(BirthDate), b.Get(BirthDate)
	return x != "" && y != "" && x != y
}
