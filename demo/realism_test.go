package demo

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Every phone that is not the shared placeholder must be a valid number of
// the person's country for libphonenumber, so E.164 normalisation works.
func TestPhonesAreValid(t *testing.T) {
	rows := standard(t)
	country := entityCountry(rows)
	total, invalid := 0, 0
	for _, r := range rows {
		raw := r[colPhone]
		if raw == "" || isGenericPhone(raw) {
			continue
		}
		cc := country[r[colEntity]]
		if cc == "" && !strings.HasPrefix(raw, "+") {
			t.Errorf("%s: phone %q of a person whose country is unknown", r[colSourceID], raw)
			continue
		}
		total++
		num, err := phonenumbers.Parse(raw, cc)
		if err != nil || !phonenumbers.IsValidNumber(num) {
			invalid++
			if invalid <= 20 {
				t.Logf("invalid %s phone %q (%v)", cc, raw, err)
			}
		}
	}
	if total == 0 || invalid*100 > total {
		t.Errorf("%d of %d phones invalid; want at most 1%%", invalid, total)
	}
	t.Logf("%d of %d phones invalid", invalid, total)
}

// Phones of one person are the same number however the department writes
// them: their E.164 forms agree with one of the person's numbers.
func TestPhoneFormatsNormaliseAlike(t *testing.T) {
	rows := standard(t)
	country := entityCountry(rows)
	perEntity := map[string]map[string]bool{}
	for _, r := range rows {
		raw := r[colPhone]
		if raw == "" || isGenericPhone(raw) {
			continue
		}
		num, err := phonenumbers.Parse(raw, country[r[colEntity]])
		if err != nil {
			continue
		}
		e := phonenumbers.Format(num, phonenumbers.E164)
		if perEntity[r[colEntity]] == nil {
			perEntity[r[colEntity]] = map[string]bool{}
		}
		perEntity[r[colEntity]][e] = true
	}
	for ent, nums := range perEntity {
		if len(nums) > 3 { // mobile, landline, office
			t.Errorf("%s has %d distinct numbers: %v", ent, len(nums), nums)
		}
	}
}

var reservedDomain = regexp.MustCompile(`^([a-z0-9-]+\.)*example\.(com|net|org)$`)

func TestEmailsUseReservedDomains(t *testing.T) {
	for _, r := range standard(t) {
		e := r[colEmail]
		if e == "" {
			continue
		}
		at := strings.LastIndexByte(e, '@')
		if at <= 0 {
			t.Errorf("%s: email %q has no local part", r[colSourceID], e)
			continue
		}
		if d := strings.ToLower(e[at+1:]); !reservedDomain.MatchString(d) {
			t.Errorf("%s: email %q uses domain %q, not a reserved example domain", r[colSourceID], e, d)
		}
	}
}

// Birth dates are in the department's format, except the rare deliberate
// impossible dates (31/02/1980), which stay rare.
func TestBirthDatesFollowDepartmentFormat(t *testing.T) {
	layouts := map[string]dateLayout{"sales": layoutDMY, "billing": layoutCompact, "support": layoutISO, "marketing": layoutISO}
	total, impossible := 0, 0
	for _, r := range standard(t) {
		s := r[colBirth]
		if s == "" {
			continue
		}
		total++
		l := layouts[r[colSource]]
		tm, err := time.Parse(l.goLayout(), s)
		if err == nil {
			if age := 2025 - tm.Year(); age < 17 || age > 92 { // 18-90, a year off at most
				t.Errorf("%s: birth date %q gives age %d", r[colSourceID], s, age)
			}
			continue
		}
		y, m, d, ok := splitDate(l, s)
		if !ok {
			t.Errorf("%s: birth date %q is not in %s's format %q", r[colSourceID], s, r[colSource], l.goLayout())
			continue
		}
		if !(m == 2 && (d == 30 || d == 31)) && !(d == 31 && (m == 4 || m == 6 || m == 9 || m == 11)) {
			t.Errorf("%s: birth date %q (%d-%d-%d) is invalid but not a deliberate impossible date", r[colSourceID], s, y, m, d)
		}
		impossible++
	}
	if impossible*200 > total {
		t.Errorf("%d of %d birth dates impossible; want at most 0.5%%", impossible, total)
	}
	if impossible == 0 {
		t.Errorf("no impossible birth dates in %d; the variation model has some", total)
	}
}

// splitDate reads the numbers of a date written in a layout without
// checking that the date exists.
func splitDate(l dateLayout, s string) (y, m, d int, ok bool) {
	var parts []string
	switch l {
	case layoutDMY:
		p := strings.Split(s, "/")
		if len(p) != 3 {
			return 0, 0, 0, false
		}
		parts = []string{p[2], p[1], p[0]}
	case layoutCompact:
		if len(s) != 8 {
			return 0, 0, 0, false
		}
		parts = []string{s[:4], s[4:6], s[6:]}
	default:
		parts = strings.Split(s, "-")
		if len(parts) != 3 {
			return 0, 0, 0, false
		}
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return 0, 0, 0, false
		}
		n[i] = v
	}
	return n[0], n[1], n[2], n[1] >= 1 && n[1] <= 12 && n[2] >= 1 && n[2] <= 31
}

var postcodeShapes = map[string]*regexp.Regexp{
	"GB": regexp.MustCompile(`^(?i)[A-Z]{1,2}[0-9]{1,2}[A-Z]? ?[0-9][A-Z]{2}$`),
	"DE": regexp.MustCompile(`^[0-9]{5}$`),
	"FR": regexp.MustCompile(`^[0-9]{5}$`),
	"NL": regexp.MustCompile(`^[1-9][0-9]{3} ?[A-Z]{2}$`),
	"IE": regexp.MustCompile(`^[ACDEFHKNPRTVWXY][0-9][0-9W] ?[0-9ACDEFHKNPRTVWXY]{4}$`),
	"US": regexp.MustCompile(`^[0-9]{5}(-[0-9]{4})?$`),
}

func TestPostcodesHaveTheirCountrysShape(t *testing.T) {
	for _, r := range standard(t) {
		pc := r[colPostcode]
		if pc == "" {
			continue
		}
		if re := postcodeShapes[r[colCountry]]; re == nil || !re.MatchString(pc) {
			t.Errorf("%s: %s postcode %q has the wrong shape", r[colSourceID], r[colCountry], pc)
		}
	}
}

// A record's region is the region of its city.
func TestCitiesAreInTheirRegion(t *testing.T) {
	// Upper-case city spellings -> upper-case region spellings, with and
	// without diacritics, as the departments write them.
	regions := map[string]map[string]bool{}
	spellings := func(s string) []string {
		return []string{strings.ToUpper(s), strings.ToUpper(fold(s, false)), strings.ToUpper(fold(s, true))}
	}
	add := func(cityName, region string) {
		for _, c := range spellings(cityName) {
			if regions[c] == nil {
				regions[c] = map[string]bool{}
			}
			for _, r := range spellings(region) {
				regions[c][r] = true
			}
		}
	}
	for _, c := range countries {
		for _, ci := range c.cities {
			add(ci.name, ci.region)
			if ci.alias != "" {
				add(ci.alias, ci.region)
			}
		}
	}
	for _, r := range standard(t) {
		if r[colCity] == "" || r[colRegion] == "" {
			continue
		}
		if !regions[strings.ToUpper(r[colCity])][strings.ToUpper(r[colRegion])] {
			t.Errorf("%s: city %q is not in region %q", r[colSourceID], r[colCity], r[colRegion])
		}
	}
}

var nationalIDShapes = map[string]*regexp.Regexp{
	"GB": regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]$`),
	"US": regexp.MustCompile(`^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$`),
	"DE": regexp.MustCompile(`^[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}$`),
	"FR": regexp.MustCompile(`^[12] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}$`),
	"NL": regexp.MustCompile(`^[1-9][0-9]{3}\.?[0-9]{2}\.?[0-9]{3}$`),
	"IE": regexp.MustCompile(`^[0-9]{7}[A-Wa-w]$`),
}

// National ids have their country's shape and check digit, except the
// rare deliberate digit typo.
func TestNationalIDsAreWellFormed(t *testing.T) {
	rows := standard(t)
	country := entityCountry(rows)
	total, bad := 0, 0
	for _, r := range rows {
		id, cc := r[colNationalID], country[r[colEntity]]
		if id == "" || cc == "" {
			continue
		}
		total++
		if re := nationalIDShapes[cc]; re == nil || !re.MatchString(id) {
			t.Errorf("%s: %s national id %q has the wrong shape", r[colSourceID], cc, id)
			continue
		}
		if !nationalIDChecks(cc, id) {
			bad++
		}
	}
	if total == 0 || bad*100 > total*2 {
		t.Errorf("%d of %d national ids fail their check; want at most 2%%", bad, total)
	}
}

func nationalIDChecks(cc, id string) bool {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, id)
	switch cc {
	case "US":
		area := digits[:3]
		return area != "000" && area != "666" && area[0] != '9' && digits[3:5] != "00" && digits[5:] != "0000"
	case "DE":
		return checkDETaxID(digits)
	case "FR":
		n, _ := strconv.ParseInt(digits[:13], 10, 64)
		key, _ := strconv.Atoi(digits[13:])
		return int(97-n%97) == key
	case "NL":
		sum := 0
		for i := 0; i < 8; i++ {
			sum += (9 - i) * int(digits[i]-'0')
		}
		return sum%11 == int(digits[8]-'0')
	case "IE":
		sum := 0
		for i := 0; i < 7; i++ {
			sum += (8 - i) * int(digits[i]-'0')
		}
		return "WABCDEFGHIJKLMNOPQRSTUV"[sum%23] == strings.ToUpper(id)[7]
	}
	return true
}

func checkDETaxID(d string) bool {
	product := 10
	for i := 0; i < 10; i++ {
		sum := (int(d[i]-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = (sum * 2) % 11
	}
	check := (11 - product) % 10
	return check == int(d[10]-'0')
}

// Every phone template of every city and country renders numbers that
// libphonenumber accepts as valid, in every style the departments use.
func TestPhoneTemplatesAreValid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range countries {
		ct := newCountryTables(c, r)
		check := func(where, tmpl string) {
			for i := 0; i < 30; i++ {
				grouped := ct.phone(r, tmpl)
				for style := phoneStyle(0); style < numPhoneStyles; style++ {
					raw := formatPhone(c, grouped, style)
					n, err := phonenumbers.Parse(raw, c.code)
					if err != nil || !phonenumbers.IsValidNumber(n) {
						t.Errorf("%s %s template %q: %q is not a valid number (%v)", c.code, where, tmpl, raw, err)
						return
					}
				}
			}
		}
		for _, ci := range c.cities {
			for _, tmpl := range strings.Split(ci.land, "|") {
				check(ci.name, tmpl)
			}
		}
		for _, tmpl := range c.mobiles {
			check("mobile", tmpl)
		}
	}
}

// Name frequencies are skewed as in real life: in each country the most
// common family name is far more frequent than the typical one.
func TestNameFrequenciesAreSkewed(t *testing.T) {
	_, rows, _ := sample(t, Options{Records: 100000, Seed: 5})
	perCountry := map[string]map[string]map[string]bool{} // country -> family -> entities
	for _, r := range rows {
		cc, fam := r[colCountry], r[colFamily]
		if cc == "" || fam == "" {
			continue
		}
		if perCountry[cc] == nil {
			perCountry[cc] = map[string]map[string]bool{}
		}
		if perCountry[cc][fam] == nil {
			perCountry[cc][fam] = map[string]bool{}
		}
		perCountry[cc][fam][r[colEntity]] = true
	}
	for cc, fams := range perCountry {
		var counts []int
		for _, ents := range fams {
			counts = append(counts, len(ents))
		}
		slices.Sort(counts)
		top, median := counts[len(counts)-1], counts[len(counts)/2]
		if top < 8*median {
			t.Errorf("%s: most common family name has %d persons, the median %d; want a skewed distribution", cc, top, median)
		}
	}
}

// Records of one person differ as the variation model says: often, but
// not so often that they cannot be matched.
func TestRecordsOfAPersonVary(t *testing.T) {
	type seen struct{ given, email string }
	first := map[string]seen{}
	pairs, givenDiffers, emailDiffers := 0, 0, 0
	for _, r := range standard(t) {
		cur := seen{r[colGiven], r[colEmail]}
		prev, ok := first[r[colEntity]]
		if !ok {
			first[r[colEntity]] = cur
			continue
		}
		if prev.given == "" || cur.given == "" || prev.email == "" || cur.email == "" {
			continue
		}
		pairs++
		if !strings.EqualFold(prev.given, cur.given) {
			givenDiffers++
		}
		if !strings.EqualFold(prev.email, cur.email) {
			emailDiffers++
		}
	}
	for what, n := range map[string]int{"given name": givenDiffers, "email": emailDiffers} {
		if share := float64(n) / float64(pairs); share < 0.05 || share > 0.5 {
			t.Errorf("%s differs in %.1f%% of same-person pairs, want 5%%..50%%", what, 100*share)
		} else {
			t.Logf("%s differs in %.1f%% of %d same-person pairs", what, 100*share, pairs)
		}
	}
}
