package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// country is everything the generator knows about one country. The values
// live in package-level variables (names_*.go) that are never written after
// package initialisation; per-run state lives in countryTables.
type country struct {
	code   string  // ISO 3166-1 alpha-2, written to the country column
	dial   string  // country calling code, without "+"
	trunk  string  // national trunk prefix: "0", or "" for NANP
	weight float64 // relative share of persons living in the country

	male, female []string // given names, most common first
	family       []string // family names, most common first
	nicknames    map[string][]string

	streets     []string
	numberFirst bool     // "12 High Street" rather than "Hauptstraße 12"
	maxHouse    int      // house numbers are 1..maxHouse, skewed low
	flats       []string // address_line2 prefixes ("Flat ", "Apt ")
	pFlat       float64  // share of addresses with an address_line2
	cities      []city

	// mobiles are phone templates (see renderPhone). Empty means mobiles
	// use the city's landline templates, as in the NANP.
	mobiles []string

	postcode   func(r *rand.Rand, c *city) string
	nationalID func(r *rand.Rand, p *person) string
	altID      func(id string) string // another common way of writing an id
	// phoneOK rejects rendered numbers the numbering plan does not allow;
	// nil accepts every rendering.
	phoneOK func(grouped string) bool
}

// city is a place where persons live. Its region is the region of that
// city; postcodes and landline numbers are drawn so that they fit it.
type city struct {
	name   string
	region string
	weight float64
	alias  string   // another spelling some systems use ("Munich", "NYC")
	post   []string // postcode areas or explicit postcodes, per country
	lo, hi int      // postcode (or district) range, per country
	land   string   // landline templates separated by "|"
}

// countries is the table of supported countries with their weights:
// GB 25, DE 25, FR 15, NL 10, IE 5, US 20.
var countries = []*country{&countryGB, &countryDE, &countryFR, &countryNL, &countryIE, &countryUS}

// sampler draws an index with probability proportional to a weight.
type sampler struct{ cum []float64 }

func newSampler(weights []float64) sampler {
	cum := make([]float64, len(weights))
	total := 0.0
	for i, w := range weights {
		total += w
		cum[i] = total
	}
	return sampler{cum: cum}
}

// newZipf weights n ranked items by 1/(rank+q)^s: the first items are
// common, the tail is rare, as with real names.
func newZipf(n int, s, q float64) sampler {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1)+q, s)
	}
	return newSampler(w)
}

func (s sampler) pick(r *rand.Rand) int {
	x := r.Float64() * s.cum[len(s.cum)-1]
	i, j := 0, len(s.cum)-1
	for i < j {
		h := int(uint(i+j) >> 1)
		if s.cum[h] <= x {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// countryTables holds the per-run samplers of one country and the few
// pieces of state the generator keeps about it.
type countryTables struct {
	*country
	maleW, femaleW, familyW, cityW, streetW sampler
	offices                                 [][]string // per city: shared office landlines
	recent                                  [32]nameRef
	recentN                                 int
}

// nameRef remembers a recent person's name, so that an unrelated person
// can be given the same name (a "name twin").
type nameRef struct {
	given, family string
	gender        byte
}

func newCountryTables(c *country, r *rand.Rand) *countryTables {
	t := &countryTables{
		country: c,
		maleW:   newZipf(len(c.male), 1.0, 3),
		femaleW: newZipf(len(c.female), 1.0, 3),
		familyW: newZipf(len(c.family), 0.9, 4),
		streetW: newZipf(len(c.streets), 0.6, 2),
	}
	w := make([]float64, len(c.cities))
	for i := range c.cities {
		w[i] = c.cities[i].weight
	}
	t.cityW = newSampler(w)
	t.offices = make([][]string, len(c.cities))
	for i := range c.cities {
		t.offices[i] = []string{t.landline(r, &c.cities[i]), t.landline(r, &c.cities[i])}
	}
	return t
}

func (t *countryTables) remember(n nameRef) {
	t.recent[t.recentN%len(t.recent)] = n
	t.recentN++
}

// landline draws a fixed-line number of the city, grouped with spaces.
func (t *countryTables) landline(r *rand.Rand, c *city) string {
	return t.phone(r, pickTemplate(r, c.land))
}

// mobile draws a mobile number, grouped with spaces.
func (t *countryTables) mobile(r *rand.Rand, c *city) string {
	if len(t.mobiles) == 0 {
		return t.landline(r, c)
	}
	return t.phone(r, t.mobiles[r.IntN(len(t.mobiles))])
}

func (t *countryTables) phone(r *rand.Rand, tmpl string) string {
	for {
		s := renderPhone(r, tmpl)
		if t.phoneOK == nil || t.phoneOK(s) {
			return s
		}
	}
}

func pickTemplate(r *rand.Rand, alternatives string) string {
	n := strings.Count(alternatives, "|")
	if n == 0 {
		return alternatives
	}
	k := r.IntN(n + 1)
	for ; k > 0; k-- {
		alternatives = alternatives[strings.IndexByte(alternatives, '|')+1:]
	}
	if i := strings.IndexByte(alternatives, '|'); i >= 0 {
		return alternatives[:i]
	}
	return alternatives
}

// renderPhone fills a template: 'x' is any digit, 'n' a digit 2-9, other
// characters (digits and the spaces between groups) are copied. The result
// is the national significant number, grouped as the country writes it.
func renderPhone(r *rand.Rand, tmpl string) string {
	b := make([]byte, len(tmpl))
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; c {
		case 'x':
			b[i] = '0' + byte(r.IntN(10))
		case 'n':
			b[i] = '2' + byte(r.IntN(8))
		default:
			b[i] = c
		}
	}
	return string(b)
}

// phoneStyle is how a department writes phone numbers.
type phoneStyle uint8

const (
	phoneIntl     phoneStyle = iota // +44 7911 123456, +1 212-555-0100
	phoneNational                   // 07911 123456, (212) 555-0100
	phoneDigits                     // 07911123456, 2125550100
	phoneE164                       // +447911123456
	phoneDashed                     // 07911-123456, 212-555-0100
	numPhoneStyles
)

// formatPhone writes a grouped national significant number in a style.
func formatPhone(c *country, grouped string, style phoneStyle) string {
	if c.trunk == "" && len(grouped) == 12 { // NANP: "212 345 6789"
		a, e, s := grouped[0:3], grouped[4:7], grouped[8:12]
		switch style {
		case phoneIntl:
			return "+1 " + a + "-" + e + "-" + s
		case phoneNational:
			return "(" + a + ") " + e + "-" + s
		case phoneDigits:
			return a + e + s
		case phoneE164:
			return "+1" + a + e + s
		default:
			return a + "-" + e + "-" + s
		}
	}
	switch style {
	case phoneIntl:
		return "+" + c.dial + " " + grouped
	case phoneNational:
		return c.trunk + grouped
	case phoneDigits:
		return c.trunk + strings.ReplaceAll(grouped, " ", "")
	case phoneE164:
		return "+" + c.dial + strings.ReplaceAll(grouped, " ", "")
	default:
		return c.trunk + strings.ReplaceAll(grouped, " ", "-")
	}
}

// Postcodes.

const gbInwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

// gbPostcode draws "SW1A 1AA"-shaped codes: an area of the city, a district
// in [lo, hi], a space, a digit and two letters.
func gbPostcode(r *rand.Rand, c *city) string {
	area := c.post[r.IntN(len(c.post))]
	d := c.lo + r.IntN(c.hi-c.lo+1)
	out := area + strconv.Itoa(d)
	if c.name == "London" && d == 1 && r.IntN(2) == 0 {
		out += string("ABEHPVWXY"[r.IntN(9)])
	}
	return out + " " + string(byte('0'+r.IntN(10))) +
		string(gbInwardLetters[r.IntN(len(gbInwardLetters))]) +
		string(gbInwardLetters[r.IntN(len(gbInwardLetters))])
}

// numericPostcode draws one of the explicit codes of the city, or a
// zero-padded number in [lo, hi] (DE, FR, US).
func numericPostcode(r *rand.Rand, c *city) string {
	if len(c.post) > 0 {
		return c.post[r.IntN(len(c.post))]
	}
	return padInt(c.lo+r.IntN(c.hi-c.lo+1), 5)
}

// nlPostcode draws "1234 AB": four digits in the city's range and two
// letters, never SA, SD or SS.
func nlPostcode(r *rand.Rand, c *city) string {
	const letters = "ABCDEGHJKLMNPRSTVWXZ"
	for {
		a, b := letters[r.IntN(len(letters))], letters[r.IntN(len(letters))]
		if a == 'S' && (b == 'A' || b == 'D' || b == 'S') {
			continue
		}
		return strconv.Itoa(c.lo+r.IntN(c.hi-c.lo+1)) + " " + string([]byte{a, b})
	}
}

// iePostcode draws an Eircode: the city's routing key, a space and a
// four-character unique identifier ("D02 X285").
func iePostcode(r *rand.Rand, c *city) string {
	const letters = "ACDEFHKNPRTVWXY"
	const chars = "0123456789ACDEFHKNPRTVWXY"
	b := []byte(c.post[r.IntN(len(c.post))] + " ....")
	b[4] = letters[r.IntN(len(letters))]
	for i := 5; i < 8; i++ {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// National identifiers. Each has a valid shape and, where the scheme has
// one, a correct check digit; none is a real person's identifier.

// gbNINO draws a National Insurance number "AB 12 34 56 C".
func gbNINO(r *rand.Rand, _ *person) string {
	const first = "ABCEGHJKLMNOPRSTWXYZ"
	const second = "ABCEGHJKLMNPRSTWXYZ"
	for {
		a, b := first[r.IntN(len(first))], second[r.IntN(len(second))]
		switch string([]byte{a, b}) {
		case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
			continue
		}
		d := padInt(r.IntN(1000000), 6)
		return string([]byte{a, b}) + " " + d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + string("ABCD"[r.IntN(4)])
	}
}

// usSSN draws a Social Security number "123-45-6789" whose area is never
// 000, 666 or 9xx.
func usSSN(r *rand.Rand, _ *person) string {
	area := 1 + r.IntN(899)
	if area == 666 {
		area = 665
	}
	return padInt(area, 3) + "-" + padInt(1+r.IntN(99), 2) + "-" + padInt(1+r.IntN(9999), 4)
}

// deTaxID draws an 11-digit Steuer-Identifikationsnummer with its
// ISO 7064 MOD 11,10 check digit.
func deTaxID(r *rand.Rand, _ *person) string {
	var b [11]byte
	b[0] = '1' + byte(r.IntN(9))
	for i := 1; i < 10; i++ {
		b[i] = '0' + byte(r.IntN(10))
	}
	product := 10
	for i := 0; i < 10; i++ {
		sum := (int(b[i]-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = (sum * 2) % 11
	}
	check := 11 - product
	if check == 10 {
		check = 0
	}
	b[10] = '0' + byte(check)
	return string(b[:])
}

// frNIR draws a 15-digit numéro de sécurité sociale: sex, year and month of
// birth, département (often the one the person lives in), commune, order
// number and the 97-complement key.
func frNIR(r *rand.Rand, p *person) string {
	sex := 1
	switch p.gender {
	case 'f':
		sex = 2
	case 0:
		sex = 1 + r.IntN(2)
	}
	dept := 1 + r.IntN(95)
	if dept == 20 {
		dept = 21
	}
	if r.IntN(2) == 0 && len(p.home.postcode) == 5 {
		dept, _ = strconv.Atoi(p.home.postcode[:2])
	}
	s := strconv.Itoa(sex) + padInt(p.birth.y%100, 2) + padInt(p.birth.m, 2) + padInt(dept, 2) +
		padInt(1+r.IntN(990), 3) + padInt(1+r.IntN(999), 3)
	n, _ := strconv.ParseInt(s, 10, 64)
	return s + padInt(int(97-n%97), 2)
}

// frNIRSpaced writes a NIR the way it is printed on the carte Vitale.
func frNIRSpaced(id string) string {
	if len(id) != 15 {
		return id
	}
	return id[0:1] + " " + id[1:3] + " " + id[3:5] + " " + id[5:7] + " " + id[7:10] + " " + id[10:13] + " " + id[13:15]
}

// nlBSN draws a 9-digit burgerservicenummer that passes the elfproef.
func nlBSN(r *rand.Rand, _ *person) string {
	for {
		var b [9]byte
		sum := 0
		for i := 0; i < 8; i++ {
			d := r.IntN(10)
			if i == 0 {
				d = 1 + r.IntN(9)
			}
			b[i] = '0' + byte(d)
			sum += (9 - i) * d
		}
		if c := sum % 11; c < 10 {
			b[8] = '0' + byte(c)
			return string(b[:])
		}
	}
}

// iePPS draws a Personal Public Service number: seven digits and the
// MOD 23 check letter ("1234567T").
func iePPS(r *rand.Rand, _ *person) string {
	var b [8]byte
	sum := 0
	for i := 0; i < 7; i++ {
		d := r.IntN(10)
		b[i] = '0' + byte(d)
		sum += (8 - i) * d
	}
	b[7] = "WABCDEFGHIJKLMNOPQRSTUV"[sum%23]
	return string(b[:])
}

// usExchangeOK rejects NANP numbers with a 555 or N11 exchange.
func usExchangeOK(grouped string) bool {
	e := grouped[4:7]
	return e != "555" && e[1:] != "11"
}

func stripSpaces(id string) string { return strings.ReplaceAll(id, " ", "") }
func stripDashes(id string) string { return strings.ReplaceAll(id, "-", "") }
func lowerID(id string) string     { return strings.ToLower(id) }
func deTaxIDSpaced(id string) string {
	if len(id) != 11 {
		return id
	}
	return id[0:2] + " " + id[2:5] + " " + id[5:8] + " " + id[8:11]
}
func nlBSNDotted(id string) string {
	if len(id) != 9 {
		return id
	}
	return id[0:4] + "." + id[4:6] + "." + id[6:9]
}

// padInt formats v in decimal with at least width digits.
func padInt(v, width int) string {
	var buf [20]byte
	return string(appendPadded(buf[:0], v, width))
}

func appendPadded(b []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
