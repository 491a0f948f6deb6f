package identity

import (
	"hash/maphash"
	"strconv"
	"strings"
)

// A comparison judges how two records agree on one aspect (the given name,
// the birth date...) and answers a level: 0 when it cannot tell (a value is
// missing), 1 for the strongest agreement, then weaker ones, the last level
// being disagreement. Each level has its own match weight in the model.
type comparison struct {
	name   string
	levels []string // names of levels 1..n
	// compare returns the level of a pair.
	compare func(a, b *rec, x pairContext) uint8
	// tf, when set, gives a record's value whose frequency adjusts the
	// weight of level 1 (exact agreement): agreeing on a rare surname says
	// more than agreeing on a common one.
	tf func(r *rec) string
}

// The values a rec keeps at hand, each with a hash, so that comparing two
// records mostly compares integers in the records themselves instead of
// chasing string data across memory.
const (
	vGiven = iota
	vFamily
	vFull
	vDob // YYYYMMDD of a valid or impossible date
	vGender
	vEmail
	vEmailLocal
	vPhone // E.164, else the digits as written (at least 6)
	vNationalID
	vStreet
	vLine2
	vPostcode
	vCity
	vRegion

	numValues
)

type value struct {
	s string
	h uint64 // 0 for ""
}

var valueSeed = maphash.MakeSeed()

func newValue(s string) value {
	if s == "" {
		return value{}
	}
	return value{s: s, h: maphash.String(valueSeed, s) | 1}
}

// rec is a record prepared for comparison and blocking.
type rec struct {
	n            *Normalized
	source       int32
	ascii        bool // every value is ASCII: similarity works on bytes
	namesDerived bool
	fullGiven    bool
	v            [numValues]value
	date         Date
	year         string // the year of the birth date
	givenSx      string
	familySx     string
	fullSx       string      // sound of the first two words of the full name
	nameKey      string      // soundex of the family name
	extra        []value     // the values of the extra comparisons, in their order
	words        [3][]string // words of the full name, street and line 2 (nil: one word)
}

func (r *rec) s(k int) string { return r.v[k].s }

// same reports equal, non-empty values. Equal 64-bit hashes stand for
// equal values: across the comparisons of ten million pairs a collision has
// odds of about one in a hundred billion.
func same(a, b *rec, k int) bool { return a.v[k].h != 0 && a.v[k].h == b.v[k].h }

// missing reports a value absent on either side.
func missing(a, b *rec, k int) bool { return a.v[k].h == 0 || b.v[k].h == 0 }

func prepare(n *Normalized, source int32) rec {
	r := rec{n: n, source: source, namesDerived: n.NamesDerived, fullGiven: n.FullNameGiven, date: n.BirthDate}
	var dob string
	if d := n.BirthDate; !d.IsZero() {
		dob = strconv.Itoa(d.Year*10000 + d.Month*100 + d.Day)
		if d.Year > 0 {
			r.year = strconv.Itoa(d.Year)
		}
	}
	var local string
	if i := strings.IndexByte(n.Email, '@'); i > 0 {
		local = n.Email[:i]
	}
	phone := n.Phone
	if phone == "" && len(n.PhoneDigit) >= 6 {
		phone = n.PhoneDigit
	}
	for k, s := range [numValues]string{
		vGiven: n.GivenName, vFamily: n.FamilyName, vFull: n.FullName, vDob: dob, vGender: n.Gender,
		vEmail: n.Email, vEmailLocal: local, vPhone: phone, vNationalID: n.NationalID, vStreet: n.Street,
		vLine2: n.Line2, vPostcode: n.Postcode, vCity: n.City, vRegion: n.Region,
	} {
		r.v[k] = newValue(s)
	}
	for i, k := range wordValues {
		if strings.IndexByte(r.v[k].s, ' ') >= 0 {
			r.words[i] = strings.Fields(r.v[k].s)
		}
	}
	r.ascii = true
	for k := range r.v {
		if !isASCII(r.v[k].s) {
			r.ascii = false
		}
	}
	r.givenSx = Soundex(n.GivenName)
	r.familySx = Soundex(n.FamilyName)
	if n.FullName != "" {
		words := strings.Fields(n.FullName)
		r.fullSx = Soundex(words[0])
		if len(words) > 1 {
			r.fullSx += Soundex(words[1])
		}
	}
	r.nameKey = r.familySx
	return r
}

// pairContext is what the comparisons of one pair share, worked out once:
// whether names compare by full name, and whether given and family names
// are crossed.
type pairContext struct {
	byFullName bool
	swapped    bool
}

func contextOf(a, b *rec) pairContext {
	x := pairContext{byFullName: (a.namesDerived || b.namesDerived) && a.fullGiven && b.fullGiven}
	if !x.byFullName {
		x.swapped = swapped(a, b)
	}
	return x
}

// The comparisons of the default model, by position.
const (
	cGiven = iota
	cFamily
	cFull
	cBirthDate
	cGender
	cEmail
	cPhone
	cNationalID
	cStreet
	cLine2
	cPostcode
	cCity
	cRegion
)

// coreComparisons are the comparisons of the default model, in the order of
// the constants above. Their names are stored with trained models: never
// rename one.
func coreComparisons() []comparison {
	return []comparison{
		cGiven: {
			name:    "given_name",
			levels:  []string{"exact", "similar", "related", "different"},
			compare: compareGiven,
			tf:      func(r *rec) string { return r.s(vGiven) },
		},
		cFamily: {
			name:    "family_name",
			levels:  []string{"exact", "similar", "related", "different"},
			compare: compareFamily,
			tf:      func(r *rec) string { return r.s(vFamily) },
		},
		cFull: {
			name:   "full_name",
			levels: []string{"exact", "most words", "some words", "different"},
			compare: func(a, b *rec, x pairContext) uint8 {
				// Full names speak only where given and family names
				// cannot: counting both would count one name twice.
				if !x.byFullName {
					return 0
				}
				return compareWords(a, b, vFull)
			},
			tf: func(r *rec) string {
				if !r.fullGiven {
					return ""
				}
				return r.s(vFull)
			},
		},
		cBirthDate: {
			name:    "birth_date",
			levels:  []string{"exact", "typo or swapped", "same year", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareBirthDate(a, b) },
			tf:      func(r *rec) string { return r.s(vDob) },
		},
		cGender: {
			name:    "gender",
			levels:  []string{"same", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return exactLevel(a, b, vGender) },
		},
		cEmail: {
			name:    "email",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareEmail(a, b) },
			tf:      func(r *rec) string { return r.s(vEmail) },
		},
		cPhone: {
			name:    "phone",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareCode(a, b, vPhone) },
			tf:      func(r *rec) string { return r.s(vPhone) },
		},
		cNationalID: {
			name:    "national_id",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareCode(a, b, vNationalID) },
		},
		cStreet: {
			name:    "street",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareAddress(a, b, vStreet) },
			tf:      func(r *rec) string { return r.s(vStreet) },
		},
		cLine2: {
			name:    "address_line2",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareAddress(a, b, vLine2) },
		},
		cPostcode: {
			name:    "postcode",
			levels:  []string{"exact", "typo", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareCode(a, b, vPostcode) },
			tf:      func(r *rec) string { return r.s(vPostcode) },
		},
		cCity: {
			name:    "city",
			levels:  []string{"exact", "similar", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return compareShort(a, b, vCity) },
			tf:      func(r *rec) string { return r.s(vCity) },
		},
		cRegion: {
			name:    "region",
			levels:  []string{"same", "different"},
			compare: func(a, b *rec, _ pairContext) uint8 { return exactLevel(a, b, vRegion) },
		},
	}
}

// extraComparison compares the i-th extra attribute chosen for comparison
// (its values are in rec.extra).
func extraComparison(name string, i int) comparison {
	return comparison{
		name:   "extra:" + name,
		levels: []string{"exact", "similar", "different"},
		compare: func(a, b *rec, _ pairContext) uint8 {
			x, y := a.extra[i], b.extra[i]
			switch {
			case x.h == 0 || y.h == 0:
				return 0
			case x.h == y.h:
				return 1
			case similarValues(x.s, y.s, 0.9):
				return 2
			}
			return 3
		},
		tf: func(r *rec) string { return r.extra[i].s },
	}
}

// setExtras fills each record's values of the extra comparisons.
func setExtras(recs []rec, names []string) {
	for i := range recs {
		r := &recs[i]
		r.extra = make([]value, len(names))
		for k, name := range names {
			for _, e := range r.n.Extra {
				if e.Name == name {
					r.extra[k] = newValue(e.Value)
					break
				}
			}
		}
	}
}

func exactLevel(a, b *rec, k int) uint8 {
	switch {
	case missing(a, b, k):
		return 0
	case same(a, b, k):
		return 1
	}
	return 2
}

// similarValues reports a Jaro-Winkler similarity of at least min.
func similarValues(x, y string, min float64) bool {
	if len(x) <= 64 && len(y) <= 64 && isASCII(x) && isASCII(y) {
		return jaroWinklerBytes(x, y) >= min
	}
	return JaroWinkler(x, y) >= min
}

// jw is the Jaro-Winkler similarity of two values of two records.
func jw(a, b *rec, ka, kb int) float64 {
	x, y := a.s(ka), b.s(kb)
	if a.ascii && b.ascii && len(x) <= 64 && len(y) <= 64 {
		if x == "" || y == "" {
			return 0
		}
		if len(x) == len(y) && x == y {
			return 1
		}
		return jaroWinklerBytes(x, y)
	}
	return JaroWinkler(x, y)
}

// edits is the edit distance of two values of two records, up to limit+1.
func edits(a, b *rec, k, limit int) int {
	if a.ascii && b.ascii {
		return editDistanceASCII(a.s(k), b.s(k), limit)
	}
	return EditDistance(a.s(k), b.s(k), limit)
}

// compareGiven compares given names: exact, similar (Jaro-Winkler of at
// least 0.92, or a known nickname), related (0.8, or an initial against a
// name that starts with it, or one name contained in the other), different.
// Names written the other way round (given in family and the reverse) are
// compared crosswise.
func compareGiven(a, b *rec, x pairContext) uint8 {
	if x.byFullName {
		return 0
	}
	if x.swapped {
		return compareName(a, b, vGiven, vFamily, true)
	}
	return compareName(a, b, vGiven, vGiven, true)
}

func compareFamily(a, b *rec, x pairContext) uint8 {
	if x.byFullName {
		return 0
	}
	if x.swapped {
		return compareName(a, b, vFamily, vGiven, false)
	}
	return compareName(a, b, vFamily, vFamily, false)
}

// swapped reports records whose given and family names are crossed: the
// given name of one is the family name of the other and the reverse (with
// at most a typo), or exactly so on one side with the other name missing.
func swapped(a, b *rec) bool {
	if same(a, b, vGiven) || same(a, b, vFamily) {
		return false
	}
	ga, fa, gb, fb := a.v[vGiven].h != 0, a.v[vFamily].h != 0, b.v[vGiven].h != 0, b.v[vFamily].h != 0
	cross := func(ka, kb int) bool { return a.v[ka].h == b.v[kb].h }
	// A name crossed with a typo still starts alike: the cheap test first.
	close := func(ka, kb int) bool {
		return cross(ka, kb) || a.s(ka)[0] == b.s(kb)[0] && jw(a, b, ka, kb) >= 0.92
	}
	if ga && fb && fa && gb {
		return close(vGiven, vFamily) && close(vFamily, vGiven)
	}
	return ga && fb && cross(vGiven, vFamily) && (!fa || !gb) || fa && gb && cross(vFamily, vGiven) && (!ga || !fb)
}

func compareName(a, b *rec, ka, kb int, given bool) uint8 {
	if a.v[ka].h == 0 || b.v[kb].h == 0 {
		return 0
	}
	x, y := a.s(ka), b.s(kb)
	if a.v[ka].h == b.v[kb].h {
		return 1
	}
	if given && nicknames(x, y) {
		return 2
	}
	s := jw(a, b, ka, kb)
	switch {
	case s >= 0.92:
		return 2
	case s >= 0.8:
		return 3
	case len(x) == 1 && strings.HasPrefix(y, x) || len(y) == 1 && strings.HasPrefix(x, y):
		return 3 // an initial
	case len(x) >= 4 && len(y) >= 4 && (strings.Contains(x, y) || strings.Contains(y, x)):
		return 3 // a double-barrelled or compound name and one of its parts
	}
	return 4
}

// compareWords compares multi-word names (businesses, full names): exact,
// most words close, some words close, different.
func compareWords(a, b *rec, k int) uint8 {
	switch {
	case missing(a, b, k):
		return 0
	case same(a, b, k):
		return 1
	}
	s := wordsOf(a, b, k)
	switch {
	case s >= 0.8:
		return 2
	case s >= 0.5:
		return 3
	}
	return 4
}

// compareBirthDate: exact; a typo (one digit) or day and month swapped;
// the same year (or a year apart with the same day and month); different.
func compareBirthDate(a, b *rec) uint8 {
	if missing(a, b, vDob) {
		return 0
	}
	if same(a, b, vDob) {
		return 1
	}
	da, db := a.date, b.date
	if da.Year == db.Year && da.Month == db.Day && da.Day == db.Month {
		return 2
	}
	if len(a.s(vDob)) == len(b.s(vDob)) && editDistanceASCII(a.s(vDob), b.s(vDob), 1) <= 1 {
		return 2
	}
	if da.Year == db.Year || da.Month == db.Month && da.Day == db.Day && abs(da.Year-db.Year) <= 1 {
		return 3
	}
	return 4
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// compareEmail: exact; the same local part or at most two edits apart;
// different.
func compareEmail(a, b *rec) uint8 {
	switch {
	case missing(a, b, vEmail):
		return 0
	case same(a, b, vEmail):
		return 1
	case same(a, b, vEmailLocal) && len(a.s(vEmailLocal)) >= 4:
		return 2
	case edits(a, b, vEmail, 2) <= 2:
		return 2
	}
	return 3
}

// compareCode compares identifiers and codes (phones, national ids,
// postcodes): exact, a typing error apart (two for codes of eight
// characters or more), different.
func compareCode(a, b *rec, k int) uint8 {
	switch {
	case missing(a, b, k):
		return 0
	case same(a, b, k):
		return 1
	}
	typos := 1
	if min(len(a.s(k)), len(b.s(k))) >= 8 {
		typos = 2
	}
	if edits(a, b, k, typos) <= typos {
		return 2
	}
	return 3
}

// compareAddress: exact, similar (Jaro-Winkler 0.9, or most words close),
// different.
func compareAddress(a, b *rec, k int) uint8 {
	switch {
	case missing(a, b, k):
		return 0
	case same(a, b, k):
		return 1
	case jw(a, b, k, k) >= 0.9 || wordsOf(a, b, k) >= 0.75:
		return 2
	}
	return 3
}

// wordValues are the values kept split into words.
var wordValues = [3]int{vFull, vStreet, vLine2}

// wordsOf is the word similarity of two values (see TokenSimilarity).
func wordsOf(a, b *rec, k int) float64 {
	i := 0
	for i < len(wordValues) && wordValues[i] != k {
		i++
	}
	wa, wb := a.words[i], b.words[i]
	if wa == nil {
		wa = []string{a.s(k)}
	}
	if wb == nil {
		wb = []string{b.s(k)}
	}
	return wordSimilarity(wa, wb)
}

// compareShort: exact, similar (Jaro-Winkler 0.9), different.
func compareShort(a, b *rec, k int) uint8 {
	switch {
	case missing(a, b, k):
		return 0
	case same(a, b, k):
		return 1
	case jw(a, b, k, k) >= 0.9:
		return 2
	}
	return 3
}

// ComparisonInfo names a comparison and its levels, strongest agreement
// first: the vocabulary of explanations (review pairs, lineage).
type ComparisonInfo struct {
	Name   string   `json:"name"`
	Levels []string `json:"levels"`
}

// Comparisons describes the comparisons of the default model (extra
// attributes add comparisons named "extra:<attribute>" with the levels
// exact, similar, different).
func Comparisons() []ComparisonInfo {
	var out []ComparisonInfo
	for _, c := range coreComparisons() {
		out = append(out, ComparisonInfo{Name: c.name, Levels: append([]string(nil), c.levels...)})
	}
	return out
}
