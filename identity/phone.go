package identity

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The E.164 form of a plainly written phone number, without phonenumbers.Parse.
//
// Parsing costs about 8 µs a number, half of it a regular expression looking for
// an extension ("ext. 12", "#12", ";ext=12") that a number written only with
// digits, spaces and ( ) - . / cannot hold. Most numbers an import meets are
// written that way, so fastE164 reads them with the library's own metadata,
// following the library's steps for that case one for one: the country code
// after a "+", the national prefix stripped when what is left is still a
// possible length, the possible-length check. Everything else, and every
// branch of those steps that is not plain (an international dialling prefix,
// a number starting with its own region's country code, a non-geographic
// code), it leaves to phonenumbers.Parse: handled reports whether it decided.
// TestPhoneFastPathAgrees compares the two on every region and
// FuzzPhoneFastPath on any input.

// phoneRegion is what fastE164 needs of a region's metadata, compiled once.
type phoneRegion struct {
	code       int
	codeText   string
	general    *phonenumbers.PhoneNumberDesc
	national   *regexp.Regexp // ^(?:national number pattern)$; nil when the metadata has none
	prefix     *regexp.Regexp // ^(?:national prefix for parsing); nil when the region has none
	transform  string
	idd        *regexp.Regexp // ^(?:international prefix); an empty prefix matches every number, as in the library
	nonGeneral bool           // the general description has no pattern: lengths 2 to 17 are possible
}

var phoneRegions struct {
	once     sync.Once
	byRegion map[string]*phoneRegion
	byCode   map[int]*phoneRegion // the main region of each geographic country code
}

func loadPhoneRegions() {
	phoneRegions.byRegion = map[string]*phoneRegion{}
	phoneRegions.byCode = map[int]*phoneRegion{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return // every number goes to phonenumbers.Parse
	}
	for _, m := range coll.GetMetadata() {
		id := m.GetId()
		if id == "001" || !phonenumbers.GetSupportedRegions()[id] {
			continue
		}
		r := &phoneRegion{
			code:      int(m.GetCountryCode()),
			general:   m.GetGeneralDesc(),
			transform: m.GetNationalPrefixTransformRule(),
		}
		r.codeText = strconv.Itoa(r.code)
		if p := r.general.GetNationalNumberPattern(); p != "" {
			r.national = regexp.MustCompile("^(?:" + p + ")$")
		} else {
			r.nonGeneral = true
		}
		if p := m.GetNationalPrefixForParsing(); p != "" {
			r.prefix = regexp.MustCompile("^(?:" + p + ")")
		}
		r.idd = regexp.MustCompile("^(?:" + m.GetInternationalPrefix() + ")")
		if len(r.general.GetPossibleLength()) == 0 {
			continue // the library's length test would fail on it: leave it to the library
		}
		phoneRegions.byRegion[id] = r
	}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		if r, ok := phoneRegions.byRegion[phonenumbers.GetRegionCodeForCountryCode(code)]; ok {
			phoneRegions.byCode[code] = r
		}
	}
}

// Length verdicts of phonenumbers' testNumberLength for the general description.
const (
	lengthPossible = iota
	lengthLocalOnly
	lengthTooShort
	lengthTooLong
	lengthInvalid
)

func (r *phoneRegion) testLength(n int) int {
	lengths := r.general.GetPossibleLength()
	if lengths[0] == -1 {
		return lengthInvalid
	}
	for _, l := range r.general.GetPossibleLengthLocalOnly() {
		if int(l) == n {
			return lengthLocalOnly
		}
	}
	switch {
	case int(lengths[0]) == n:
		return lengthPossible
	case int(lengths[0]) > n:
		return lengthTooShort
	case int(lengths[len(lengths)-1]) < n:
		return lengthTooLong
	}
	for _, l := range lengths[1:] {
		if int(l) == n {
			return lengthPossible
		}
	}
	return lengthInvalid
}

// stripNationalPrefix is phonenumbers' maybeStripNationalPrefixAndCarrierCode
// without the carrier code.
func (r *phoneRegion) stripNationalPrefix(n string) string {
	if n == "" || r.prefix == nil {
		return n
	}
	groups := r.prefix.FindStringSubmatchIndex(n)
	if groups == nil {
		return n
	}
	viable := r.national != nil && r.national.MatchString(n)
	last := len(groups)/2 - 1
	if r.transform == "" || groups[last*2] < 0 {
		if viable && !r.national.MatchString(n[groups[1]:]) {
			return n
		}
		return n[groups[1]:]
	}
	transformed := r.prefix.ReplaceAllString(n, r.transform)
	if viable && !r.national.MatchString(transformed) {
		return n
	}
	return transformed
}

// fastE164 returns the E.164 form of raw (already trimmed) read in region, and
// whether it is a possible number, when raw is plainly written; handled is
// false when phonenumbers.Parse must decide.
func fastE164(raw, region string) (e164 string, ok, handled bool) {
	phoneRegions.once.Do(loadPhoneRegions)
	home := phoneRegions.byRegion[region]
	if home == nil {
		return "", false, false
	}
	var digits [24]byte
	n, plus := 0, false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return "", false, false
			}
			digits[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", false, false
		}
	}
	// Three digits at least: the library's reading of shorter strings is
	// not plain. (A "+" anywhere but first was refused above.)
	if n < 3 {
		return "", false, false
	}
	d := string(digits[:n])
	var meta *phoneRegion // whose national prefix is stripped
	var code *phoneRegion // the country code's main region, which decides the length
	var national string
	if plus {
		if d[0] == '0' {
			return "", false, false
		}
		for i := 1; i <= 3 && i <= len(d); i++ {
			c, _ := strconv.Atoi(d[:i])
			if phonenumbers.GetSupportedCallingCodes()[c] {
				code = phoneRegions.byCode[c]
				if code == nil {
					return "", false, false // a non-geographic code
				}
				national = d[i:]
				break
			}
		}
		if code == nil {
			return "", false, false
		}
		meta = code
	} else {
		if home.idd.MatchString(d) {
			return "", false, false
		}
		if len(d) >= len(home.codeText) && d[:len(home.codeText)] == home.codeText {
			return "", false, false
		}
		national, meta = d, home
		code = phoneRegions.byCode[home.code]
		if code == nil {
			return "", false, false
		}
	}
	if len(national) < 2 {
		return "", false, false
	}
	if stripped := meta.stripNationalPrefix(national); stripped != national {
		switch meta.testLength(len(stripped)) {
		case lengthTooShort, lengthLocalOnly, lengthInvalid:
		default:
			national = stripped
		}
	}
	if len(national) < 2 || len(national) > 17 {
		return "", false, false
	}
	// phonenumbers keeps the national number as an integer and its leading
	// zeros as a count, which give back these digits.
	if code.nonGeneral {
		return "+" + code.codeText + national, true, true
	}
	switch code.testLength(len(national)) {
	case lengthPossible, lengthLocalOnly:
		return "+" + code.codeText + national, true, true
	}
	return "", false, true
}
