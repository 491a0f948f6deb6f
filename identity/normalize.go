package identity

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// Flags mark values that were kept as given because they could not be
// normalised. They are stored in plaintext beside the sealed record, so they
// say what is wrong, never what the value is.
type Flags uint16

// The normalisation flags. Stored as a bit set: never renumber.
const (
	FlagBirthDateInvalid Flags = 1 << iota // not a date in a known form, or an impossible one
	FlagEmailInvalid                       // not of the form local@domain.tld
	FlagPhoneInvalid                       // not a possible number for its region
	FlagCountryUnknown                     // not an ISO 3166 code or a known country name

	flagEnd
)

var flagNames = []string{"birth_date_invalid", "email_invalid", "phone_invalid", "country_unknown"}

// Names returns the names of the set flags, e.g. ["birth_date_invalid"].
func (f Flags) Names() []string {
	var names []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return names
}

// Normalized holds the match keys of one record: the values matching and
// blind indexes work on, kept apart from the original values. Empty strings
// mean "absent or unusable".
type Normalized struct {
	GivenName  string // NameKey of given_name (or the first word of full_name)
	FamilyName string // NameKey of family_name (or the last word of full_name)
	FullName   string // NameKey of full_name, or given and family joined
	BirthDate  Date   // parts kept even when impossible
	Gender     string // "m", "f", or the folded value as given
	Email      string // trimmed, lower-cased; "" when invalid
	Phone      string // E.164; "" when not a possible number
	PhoneDigit string // the digits as written, for fuzzy comparison
	Street     string // folded, common abbreviations unified
	Line2      string // address_line2 folded (often a locality)
	Postcode   string // folded, without spaces
	City       string // folded
	Region     string // folded
	Country    string // ISO 3166-1 alpha-2, or the folded value when unknown
	NationalID string // upper case letters and digits only
	// FullNameGiven says full_name was in the record (not derived from the
	// given and family names).
	FullNameGiven bool
	// NamesDerived says the given and family names were derived from
	// full_name (the record had neither).
	NamesDerived bool
	// Extra holds the extra attributes with folded values.
	Extra []Extra
	Flags Flags
}

// LogValue redacts normalised values: only the flags reach a log line.
func (n Normalized) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("flags", n.Flags.Names()), slog.Bool("redacted", true))
}

// Normalizer turns record attributes into match keys. The zero value reads
// ambiguous dates day first and has no default phone region.
type Normalizer struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region used to read phone
	// numbers of records without a recognisable country, e.g. "GB".
	DefaultRegion string
	// DateOrder decides how DD/MM/YYYY-shaped dates are read.
	DateOrder DateOrder
}

// NewNormalizer validates the configuration and returns a Normalizer.
func NewNormalizer(defaultRegion string, order DateOrder) (Normalizer, error) {
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return Normalizer{}, fmt.Errorf("default region %q: not an ISO 3166-1 alpha-2 region with a phone plan: %w", defaultRegion, ErrInvalid)
	}
	return Normalizer{DefaultRegion: region, DateOrder: order}, nil
}

// Normalize computes the match keys of a record's attributes.
func (nz Normalizer) Normalize(a *Attributes) Normalized {
	var n Normalized
	n.GivenName = NameKey(a.Get(GivenName))
	n.FamilyName = NameKey(a.Get(FamilyName))
	n.FullName = NameKey(a.Get(FullName))
	n.FullNameGiven = n.FullName != ""
	if n.FullName != "" && n.GivenName == "" && n.FamilyName == "" {
		n.GivenName, n.FamilyName = splitFullName(a.Get(FullName))
		n.NamesDerived = true
	}
	if n.FullName == "" && (n.GivenName != "" || n.FamilyName != "") {
		n.FullName = strings.TrimSpace(n.GivenName + " " + n.FamilyName)
	}

	if raw := strings.TrimSpace(a.Get(BirthDate)); raw != "" {
		d, ok := ParseDate(raw, nz.DateOrder)
		n.BirthDate = d
		if !ok || !d.Valid {
			n.Flags |= FlagBirthDateInvalid
		}
	}
	n.Gender = normalizeGender(a.Get(Gender))

	if raw := a.Get(Email); strings.TrimSpace(raw) != "" {
		if e, ok := NormalizeEmail(raw); ok {
			n.Email = e
		} else {
			n.Flags |= FlagEmailInvalid
		}
	}

	if raw := strings.TrimSpace(a.Get(Country)); raw != "" {
		if code, ok := CountryCode(raw); ok {
			n.Country = code
		} else {
			n.Country = Fold(raw)
			n.Flags |= FlagCountryUnknown
		}
	}
	if raw := a.Get(Phone); strings.TrimSpace(raw) != "" {
		n.PhoneDigit = digitsOnly(raw)
		region := nz.DefaultRegion
		if len(n.Country) == 2 && n.Flags&FlagCountryUnknown == 0 {
			region = n.Country
		}
		if e, ok := NormalizePhone(raw, region); ok {
			n.Phone = e
		} else {
			n.Flags |= FlagPhoneInvalid
		}
	}

	n.Street = StreetKey(a.Get(Street))
	n.Line2 = NameKey(a.Get(AddressLine2))
	n.Postcode = strings.ReplaceAll(Fold(a.Get(Postcode)), " ", "")
	n.City = NameKey(a.Get(City))
	n.Region = NameKey(a.Get(Region))
	n.NationalID = NormalizeNationalID(a.Get(NationalID))
	for _, e := range a.Extra() {
		if v := NameKey(e.Value); v != "" {
			n.Extra = append(n.Extra, Extra{Name: strings.ToLower(e.Name), Value: v})
		}
	}
	return n
}

// splitFullName derives given and family names from a full name: "Schmidt,
// Anna" gives (anna, schmidt); "Anna Maria Schmidt" gives (anna, schmidt).
func splitFullName(full string) (given, family string) {
	if i := strings.IndexByte(full, ','); i >= 0 {
		return firstWord(NameKey(full[i+1:])), NameKey(full[:i])
	}
	words := strings.Fields(NameKey(full))
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return "", words[0]
	}
	return words[0], words[len(words)-1]
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// NormalizeEmail trims and lower-cases an address and checks its shape
// (one @, a non-empty local part, a domain with a dot, no spaces).
func NormalizeEmail(raw string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(raw))
	at := strings.IndexByte(e, '@')
	if at <= 0 || at != strings.LastIndexByte(e, '@') {
		return "", false
	}
	domain := e[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || dot == len(domain)-1 || strings.Contains(domain, "..") {
		return "", false
	}
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", false
		}
	}
	return e, true
}

// NormalizePhone returns the E.164 form of a phone number, reading numbers
// without an international prefix in the given region. ok is false when the
// number is not a possible number.
func NormalizePhone(raw, region string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if len(raw) > 64 {
		return "", false
	}
	if e164, ok, handled := fastE164(raw, region); handled {
		return e164, ok
	}
	return parsePhone(raw, region)
}

// parsePhone is NormalizePhone by phonenumbers.Parse alone.
func parsePhone(raw, region string) (string, bool) {
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

func digitsOnly(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// NormalizeNationalID keeps the letters and digits of a national id, upper
// cased: "qq 12-34-56 c" gives "QQ123456C".
func NormalizeNationalID(raw string) string {
	var b strings.Builder
	for _, r := range Fold(raw) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

func normalizeGender(raw string) string {
	g := Fold(raw)
	switch g {
	case "m", "male", "man", "mann", "männlich", "mannlich", "homme", "h", "masculin":
		return "m"
	case "f", "female", "woman", "w", "weiblich", "frau", "femme", "feminin", "v", "vrouw":
		return "f"
	}
	return g
}

// streetWords unifies the spellings of common street words in match keys.
var streetWords = map[string]string{
	"street": "st", "str": "st", "strasse": "st", "straat": "st", "st.": "st",
	"road": "rd", "avenue": "ave", "av": "ave", "drive": "dr", "lane": "ln",
	"place": "pl", "court": "ct", "crescent": "cres", "boulevard": "blvd",
	"square": "sq", "terrace": "tce", "close": "cl", "highway": "hwy",
	"north": "n", "south": "s", "east": "e", "west": "w",
	"weg": "wg", "platz": "pl", "allee": "al", "laan": "ln", "plein": "pl",
	"rue": "r", "chemin": "ch",
}

// StreetKey returns the match form of a street line: NameKey with common
// street words unified ("High Street" and "high st." give "high st"), and a
// German compound ending in -strasse split off ("Hauptstraße" gives
// "haupt st").
func StreetKey(raw string) string {
	words := strings.Fields(NameKey(raw))
	for i, w := range words {
		if rep, ok := streetWords[w]; ok {
			words[i] = rep
			continue
		}
		for _, suffix := range [...]string{"strasse", "str"} {
			if len(w) > len(suffix)+2 && strings.HasSuffix(w, suffix) {
				words[i] = w[:len(w)-len(suffix)] + " st"
				break
			}
		}
	}
	return strings.Join(words, " ")
}
