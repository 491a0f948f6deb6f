package identity

import (
	"hash/maphash"
	"strconv"
	"strings"
	"unicode/utf8"
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

// The values a rec keeps at hand, as substrings of its one string, so that
// comparing two records reads the two records' own data.
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

var valueSeed = maphash.MakeSeed()

// hashOf is a value's hash, 0 for "".
func hashOf(s string) uint64 {
	if s == "" {
		return 0
	}
	return maphash.String(valueSeed, s) | 1
}

// The strings a rec keeps besides its values, stored after them.
const (
	sGivenSx  = numValues + iota // soundex of the given name
	sFamilySx                    // soundex of the family name
	sFullSx                      // sound of the first two words of the full name
	sYear                        // the year of the birth date
	sExtra                       // the values of the extra comparisons, in their order

	numStrings = sExtra + maxExtras
)

// maxExtras is how many extra attributes fit beside the core comparisons.
const maxExtras = maxComparisons - (cRegion + 1)

// rec is a record prepared for comparison and blocking.
//
// It is compact and holds no pointer but its one string, so that a run of
// millions of records costs the garbage collector little and does not keep
// the entries' normalised values alive: every value and derived string is
// one substring of data, found by its end offset.
type rec struct {
	data         string
	end          [numStrings]uint16
	source       int32
	date         shortDate
	ascii        bool // every value is ASCII: similarity works on bytes
	namesDerived bool
	fullGiven    bool
}

// shortDate is a birth date's parts as compared.
type shortDate struct {
	year       int32
	month, day int16
}

// s returns the k-th string of the record: a value (vGiven...) or a
// derived string (sGivenSx...).
func (r *rec) s(k int) string {
	lo := uint16(0)
	if k > 0 {
		lo = r.end[k-1]
	}
	return r.data[lo:r.end[k]]
}

func (r *rec) givenSx() string  { return r.s(sGivenSx) }
func (r *rec) familySx() string { return r.s(sFamilySx) }
func (r *rec) fullSx() string   { return r.s(sFullSx) }
func (r *rec) year() string     { return r.s(sYear) }

// has reports whether the record has its k-th string.
func (r *rec) has(k int) bool {
	if k == 0 {
		return r.end[0] > 0
	}
	return r.end[k] > r.end[k-1]
}

// same reports equal, non-empty values. The values are compared as they
// are: a record kept a 64-bit hash of each (136 bytes) to compare instead,
// which at ten million records was 1.3 GB, and comparing the strings costs
// little more (most differ in length, or early).
func same(a, b *rec, k int) bool { return a.has(k) && a.s(k) == b.s(k) }

// missing reports a value absent on either side.
func missing(a, b *rec, k int) bool { return !a.has(k) || !b.has(k) }

// maxRecData is the most bytes of strings one prepared record holds; a
// longer value is cut (at a character boundary), which only matters for
// values no person's name or address reaches.
const maxRecData = 1<<16 - 1

func prepare(n *Normalized, source int32) rec {
	r := rec{source: source, namesDerived: n.NamesDerived, fullGiven: n.FullNameGiven}
	var dob, year string
	if d := n.BirthDate; !d.IsZero() {
		r.date = shortDate{year: int32(d.Year), month: int16(d.Month), day: int16(d.Day)}
		dob = strconv.Itoa(d.Year*10000 + d.Month*100 + d.Day)
		if d.Year > 0 {
			year = strconv.Itoa(d.Year)
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
	var fullSx string
	if n.FullName != "" {
		words := strings.Fields(n.FullName)
		fullSx = Soundex(words[0])
		if len(words) > 1 {
			fullSx += Soundex(words[1])
		}
	}
	strs := [numStrings]string{
		vGiven: n.GivenName, vFamily: n.FamilyName, vFull: n.FullName, vDob: dob, vGender: n.Gender,
		vEmail: n.Email, vEmailLocal: local, vPhone: phone, vNationalID: n.NationalID, vStreet: n.Street,
		vLine2: n.Line2, vPostcode: n.Postcode, vCity: n.City, vRegion: n.Region,
		sGivenSx: Soundex(n.GivenName), sFamilySx: Soundex(n.FamilyName), sFullSx: fullSx, sYear: year,
	}
	r.setStrings(strs[:sExtra])
	return r
}

// setStrings stores the record's strings, from its first value on.
func (r *rec) setStrings(strs []string) {
	size := 0
	for k := range strs {
		size += len(strs[k])
	}
	var b strings.Builder
	b.Grow(min(size, maxRecData))
	r.ascii = true
	for k := range numStrings {
		var s string
		if k < len(strs) {
			s = strs[k]
		}
		if b.Len()+len(s) > maxRecData {
			s = cutAt(s, maxRecData-b.Len())
		}
		b.WriteString(s)
		r.end[k] = uint16(b.Len())
		if k < numValues && !isASCII(s) {
			r.ascii = false
		}
	}
	r.data = b.String()
}

// setExtras stores the record's values of the extra comparisons (nil:
// none) after its other strings.
func (r *rec) setExtras(extras []string) {
	if len(extras) == 0 && r.end[sExtra-1] == r.end[numStrings-1] {
		return // nothing to add or take away
	}
	strs := make([]string, sExtra+len(extras))
	for k := range sExtra {
		strs[k] = r.s(k)
	}
	copy(strs[sExtra:], extras)
	r.setStrings(strs)
}

// cutAt returns the longest prefix of s of at most n bytes that ends at a
// character boundary.
func cutAt(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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
// (its values are the rec's strings from sExtra on).
func extraComparison(name string, i int) comparison {
	return comparison{
		name:   "extra:" + name,
		levels: []string{"exact", "similar", "different"},
		compare: func(a, b *rec, _ pairContext) uint8 {
			x, y := a.s(sExtra+i), b.s(sExtra+i)
			switch {
			case x == "" || y == "":
				return 0
			case x == y:
				return 1
			case similarValues(x, y, 0.9):
				return 2
			}
			return 3
		},
		tf: func(r *rec) string { return r.s(sExtra + i) },
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
	ga, fa, gb, fb := a.has(vGiven), a.has(vFamily), b.has(vGiven), b.has(vFamily)
	cross := func(ka, kb int) bool { return a.s(ka) == b.s(kb) }
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
	x, y := a.s(ka), b.s(kb)
	if x == "" || y == "" {
		return 0
	}
	if x == y {
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
	if da.year == db.year && da.month == db.day && da.day == db.month {
		return 2
	}
	if len(a.s(vDob)) == len(b.s(vDob)) && editDistanceASCII(a.s(vDob), b.s(vDob), 1) <= 1 {
		return 2
	}
	if da.year == db.year || da.month == db.month && da.day == db.day && abs(int(da.year)-int(db.year)) <= 1 {
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

// wordsOf is the word similarity of two values (see TokenSimilarity). The
// words are split here, into buffers on the stack, rather than kept with
// every record: few pairs get this far.
func wordsOf(a, b *rec, k int) float64 {
	var ba, bb [16]string
	return wordSimilarity(splitWords(ba[:0], a.s(k)), splitWords(bb[:0], b.s(k)))
}

// splitWords appends the words of s (strings.Fields) to buf; a value
// without a space is one word.
func splitWords(buf []string, s string) []string {
	if strings.IndexByte(s, ' ') < 0 {
		return append(buf, s)
	}
	for w := range strings.FieldsSeq(s) {
		buf = append(buf, w)
	}
	return buf
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
