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

	postcode func(r *rand.Rand, c *city) string
	// nationalID issues a person's identifier. Identifiers are numbered
	// 0 to nidSpace-1 and issued through t.nextID, so no two persons get
	// the same one (see unique.go).
	nationalID func(t *countryTables, r *rand.Rand, p *person) string
	nidSpace   uint64
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

	mobileT  []phoneTemplate   // the country's mobile templates
	landT    [][]phoneTemplate // per city: its landline templates
	ids      sequence          // national identifiers, over [0, nidSpace)
	deptNext []uint64          // FR: identifiers issued per département
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
	t.mobileT = newPhoneTemplates(c.mobiles, r)
	t.landT = make([][]phoneTemplate, len(c.cities))
	for i := range c.cities {
		t.landT[i] = newPhoneTemplates(strings.Split(c.cities[i].land, "|"), r)
	}
	t.ids = newSequence(c.nidSpace, r)
	if c.code == "FR" {
		t.deptNext = make([]uint64, 100)
	}
	t.offices = make([][]string, len(c.cities))
	for i := range c.cities {
		t.offices[i] = []string{t.landline(r, i), t.landline(r, i)}
	}
	return t
}

func (t *countryTables) remember(n nameRef) {
	t.recent[t.recentN%len(t.recent)] = n
	t.recentN++
}

// landline issues a new fixed-line number of the city (by index), grouped
// with spaces.
func (t *countryTables) landline(r *rand.Rand, cityIdx int) string {
	return t.issuePhone(r, t.landT[cityIdx])
}

// mobile issues a new mobile number, grouped with spaces. In the NANP
// mobiles have the city's area codes.
func (t *countryTables) mobile(r *rand.Rand, cityIdx int) string {
	if len(t.mobileT) == 0 {
		return t.landline(r, cityIdx)
	}
	return t.issuePhone(r, t.mobileT)
}

// issuePhone issues the next unused number of a template picked at
// random among alts, moving on to the other templates when it is used up.
// Every number is issued once, so persons never share a number unless the
// model gives one to several on purpose. Only when every template is used
// up, which takes hundreds of millions of persons (see
// TestCounterCapacity), are numbers drawn freely again.
func (t *countryTables) issuePhone(r *rand.Rand, alts []phoneTemplate) string {
	k := r.IntN(len(alts))
	for j := range alts {
		pt := &alts[(k+j)%len(alts)]
		for {
			v, ok := pt.seq.take()
			if !ok {
				break
			}
			if s := renderIndex(pt.tmpl, v); t.phoneOK == nil || t.phoneOK(s) {
				return s
			}
		}
	}
	return t.phone(r, alts[k].tmpl)
}

// phone draws a number of a template at random.
func (t *countryTables) phone(r *rand.Rand, tmpl string) string {
	for {
		s := renderPhone(r, tmpl)
		if t.phoneOK == nil || t.phoneOK(s) {
			return s
		}
	}
}

// nextID returns the number of the next national identifier to issue.
// Once all are issued (ten million persons of one country at the least,
// see TestCounterCapacity), numbers are drawn freely.
func (t *countryTables) nextID(r *rand.Rand) uint64 {
	if v, ok := t.ids.take(); ok {
		return v
	}
	return r.Uint64N(t.ids.domain)
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
// one, a correct check digit; none is a real person's identifier. Each
// scheme numbers its identifiers and writes the v-th injectively, so that
// identifiers issued through nextID (a permuted counter) never repeat.

// gbNINOPairs are the allowed two-letter prefixes of a National Insurance
// number.
var gbNINOPairs = func() []string {
	const first = "ABCEGHJKLMNOPRSTWXYZ"
	const second = "ABCEGHJKLMNPRSTWXYZ"
	var out []string
	for i := 0; i < len(first); i++ {
		for j := 0; j < len(second); j++ {
			switch p := string([]byte{first[i], second[j]}); p {
			case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
			default:
				out = append(out, p)
			}
		}
	}
	return out
}()

// gbNINOSpace numbers the prefix and the six digits; the suffix letter
// is drawn apart, so persons differ even without it.
var gbNINOSpace = uint64(len(gbNINOPairs)) * 1_000_000

// gbNINO issues a National Insurance number "AB 12 34 56 C".
func gbNINO(t *countryTables, r *rand.Rand, _ *person) string {
	v := t.nextID(r)
	d := padInt(int(v%1_000_000), 6)
	return gbNINOPairs[v/1_000_000] + " " + d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + string("ABCD"[r.IntN(4)])
}

// usSSNSpace numbers areas 001-899 but 666, groups 01-99, serials 0001-9999.
const usSSNSpace = 898 * 99 * 9999

// usSSN issues a Social Security number "123-45-6789" whose area is never
// 000, 666 or 9xx. Numbers whose nine digits would pass the Dutch
// elfproef are skipped, so that an SSN written without dashes is never
// also a BSN: national identifiers differ across countries too.
func usSSN(t *countryTables, r *rand.Rand, _ *person) string {
	for {
		v := t.nextID(r)
		area := 1 + int(v/(99*9999))
		if area >= 666 {
			area++
		}
		v %= 99 * 9999
		s := padInt(area, 3) + "-" + padInt(1+int(v/9999), 2) + "-" + padInt(1+int(v%9999), 4)
		if d := stripDashes(s); elfproef(d[:8]) != int(d[8]-'0') {
			return s
		}
	}
}

// elfproef returns the check digit the Dutch eleven test gives eight
// digits: their weighted sum (weights 9 to 2) modulo 11; 10 means no
// valid ninth digit.
func elfproef(d string) int {
	sum := 0
	for i := 0; i < 8; i++ {
		sum += (9 - i) * int(d[i]-'0')
	}
	return sum % 11
}

// deTaxIDSpace numbers the first ten digits, the first never 0.
const deTaxIDSpace = 9_000_000_000

// deTaxID issues an 11-digit Steuer-Identifikationsnummer with its
// ISO 7064 MOD 11,10 check digit.
func deTaxID(t *countryTables, r *rand.Rand, _ *person) string {
	var b [11]byte
	copy(b[:], padInt(int(1_000_000_000+t.nextID(r)), 10))
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

// frNIRSpace numbers the commune (001-990) and order (001-999) parts,
// which are issued per département.
const frNIRSpace = 990 * 999

// frNIR issues a 15-digit numéro de sécurité sociale: sex, year and month
// of birth, département (often the one the person lives in), commune,
// order number and the 97-complement key. Commune and order come from the
// département's own counter, so (département, commune, order) is never
// repeated, whatever the sex and birth date.
func frNIR(t *countryTables, r *rand.Rand, p *person) string {
	sex := 1
	switch p.gender {
	case 'f':
		sex = 2
	case 0:
		sex = 1 + r.IntN(2)
	}
	dept := randomDept(r)
	if r.IntN(2) == 0 && len(p.home.postcode) == 5 {
		dept, _ = strconv.Atoi(p.home.postcode[:2])
	}
	var v uint64
	for tries := 0; ; tries++ {
		if n := t.deptNext[dept]; n < t.ids.domain {
			t.deptNext[dept]++
			v = t.ids.permute(n)
			break
		}
		if tries == 1000 { // every département used up: draw freely
			v = r.Uint64N(t.ids.domain)
			break
		}
		dept = randomDept(r)
	}
	s := strconv.Itoa(sex) + padInt(p.birth.y%100, 2) + padInt(p.birth.m, 2) + padInt(dept, 2) +
		padInt(1+int(v/999), 3) + padInt(1+int(v%999), 3)
	n, _ := strconv.ParseInt(s, 10, 64)
	return s + padInt(int(97-n%97), 2)
}

// randomDept draws a metropolitan département number, Corsica (20) aside.
func randomDept(r *rand.Rand) int {
	if d := 1 + r.IntN(95); d != 20 {
		return d
	}
	return 21
}

// frNIRSpaced writes a NIR the way it is printed on the carte Vitale.
func frNIRSpaced(id string) string {
	if len(id) != 15 {
		return id
	}
	return id[0:1] + " " + id[1:3] + " " + id[3:5] + " " + id[5:7] + " " + id[7:10] + " " + id[10:13] + " " + id[13:15]
}

// nlBSNSpace numbers the first eight digits, the first never 0.
const nlBSNSpace = 90_000_000

// nlBSN issues a 9-digit burgerservicenummer that passes the elfproef;
// the one in eleven numbers whose check would be 10 is skipped.
func nlBSN(t *countryTables, r *rand.Rand, _ *person) string {
	for {
		d := padInt(int(10_000_000+t.nextID(r)), 8)
		if c := elfproef(d); c < 10 {
			return d + string(byte('0'+c))
		}
	}
}

// iePPSSpace numbers the seven digits.
const iePPSSpace = 10_000_000

// iePPS issues a Personal Public Service number: seven digits and the
// MOD 23 check letter ("1234567T").
func iePPS(t *countryTables, r *rand.Rand, _ *person) string {
	var b [8]byte
	copy(b[:], padInt(int(t.nextID(r)), 7))
	sum := 0
	for i := 0; i < 7; i++ {
		sum += (8 - i) * int(b[i]-'0')
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
