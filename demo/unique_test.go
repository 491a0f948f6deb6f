package demo

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// No email address, phone number or national identifier is shared by two
// persons, except the values the model shares on purpose. Those are
// recognised by how they are made, not by how often they occur:
//
//   - placeholders: the genericEmails and genericPhone values;
//   - office lines: the per-city lines a fresh generator with the same
//     seed holds in its country tables, shared by unrelated persons;
//   - household values: a household's members are drawn one after the
//     other, so their entity numbers are consecutive, and a household has
//     at most len(generator.group) members. A shared mailbox also has one
//     of the householdMailboxes shapes. A household value must have all
//     its holders within one such run of entity numbers; a collision
//     between unrelated persons would almost never pass, and two
//     unrelated neighbours sharing a personal address would fail the
//     shape test.
//
// Emails are compared lower-cased, so that case variants count as the
// value they vary. Phones are compared as numbers, country and national
// significant number, so that every format of a number counts as one
// value; a digit string written without country code means different
// numbers in different countries (FR and NL 06... mobiles), and records
// carry the country with such numbers. Equal exact values within a country
// are equal numbers, so this covers them. National ids are compared without
// spaces, dots and dashes and in upper case, across all countries.
func TestNoValueIsSharedByAccident(t *testing.T) {
	const seed = 1
	_, rows, st := sample(t, Options{Records: 200000, Seed: seed})
	var g0 generator
	household := len(g0.group) // the largest household

	offices := map[string]bool{}
	for _, ct := range newGenerator(seed, defaultDepartments, nil).countries {
		for _, lines := range ct.offices {
			for _, n := range lines {
				offices[ct.code+" "+strings.ReplaceAll(n, " ", "")] = true
			}
		}
	}
	home := entityCountry(rows)
	byCode := map[string]*country{}
	for _, c := range countries {
		byCode[c.code] = c
	}

	type holders map[int]bool
	values := [3]map[string]holders{{}, {}, {}}
	add := func(kind int, key string, entity int) {
		if values[kind][key] == nil {
			values[kind][key] = holders{}
		}
		values[kind][key][entity] = true
	}
	const (
		email = iota
		phone
		nid
	)
	for _, r := range rows {
		ent, err := strconv.Atoi(r[colEntity][1:])
		if err != nil {
			t.Fatalf("entity id %q", r[colEntity])
		}
		if e := r[colEmail]; e != "" {
			add(email, strings.ToLower(e), ent)
		}
		if raw := r[colPhone]; raw != "" && !isGenericPhone(raw) {
			c := byCode[r[colCountry]]
			if c == nil {
				c = byCode[home[r[colEntity]]]
			}
			if strings.HasPrefix(raw, "+") {
				c = dialCountry(raw)
			}
			if c == nil {
				t.Fatalf("%s: phone %q of unknown country", r[colSourceID], raw)
			}
			add(phone, phoneKey(c, raw), ent)
		}
		if id := r[colNationalID]; id != "" {
			add(nid, strings.ToUpper(strings.NewReplacer(" ", "", ".", "", "-", "").Replace(id)), ent)
		}
	}

	// withinHousehold reports whether all holders fall in one run of
	// household consecutive entity numbers.
	withinHousehold := func(h holders) bool {
		lo, hi := -1, -1
		for e := range h {
			if lo < 0 || e < lo {
				lo = e
			}
			hi = max(hi, e)
		}
		return hi-lo < household
	}
	var sharedHousehold, sharedOffice, sharedGeneric [3]int
	for kind, name := range []string{"email", "phone", "national id"} {
		bad := 0
		for v, h := range values[kind] {
			if len(h) < 2 {
				continue
			}
			switch {
			case kind == email && isGenericEmail(v):
				sharedGeneric[kind]++
				continue
			case kind == email && isHouseholdEmail(v) && withinHousehold(h):
				sharedHousehold[kind]++
				continue
			case kind == phone && offices[v]:
				sharedOffice[kind]++
				continue
			case kind == phone && withinHousehold(h):
				sharedHousehold[kind]++
				continue
			}
			if bad++; bad <= 10 {
				t.Errorf("%s %q is shared by %d unrelated persons: %v", name, v, len(h), h)
			}
		}
		if bad > 10 {
			t.Errorf("... %d %s values shared by unrelated persons in all", bad, name)
		}
	}
	// The deliberate sharing is still there.
	if sharedGeneric[email] == 0 || sharedHousehold[email] < 20 || sharedHousehold[phone] < 100 || sharedOffice[phone] < 20 {
		t.Errorf("deliberately shared values are missing: %d generic and %d household emails, %d household and %d office phones",
			sharedGeneric[email], sharedHousehold[email], sharedHousehold[phone], sharedOffice[phone])
	}
	t.Logf("%d persons, %d emails, %d phones, %d national ids; shared on purpose: %d generic and %d household emails, %d household and %d office phones",
		st.People, len(values[email]), len(values[phone]), len(values[nid]),
		sharedGeneric[email], sharedHousehold[email], sharedHousehold[phone], sharedOffice[phone])
}

// isHouseholdEmail reports whether an address has the shape of a
// household's shared mailbox: before + family token + after + digits.
func isHouseholdEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	if at < 0 {
		return false
	}
	prefix := e[:tagStart(e[:at])]
	if len(prefix) == at {
		return false // no numbered tag
	}
	for _, s := range householdMailboxes {
		if len(prefix) > len(s.before)+len(s.after) && strings.HasPrefix(prefix, s.before) && strings.HasSuffix(prefix, s.after) {
			return true
		}
	}
	return false
}

// phoneKey identifies a number: country and national significant number.
func phoneKey(c *country, raw string) string {
	d := strings.Map(digitsOnly, raw)
	switch {
	case strings.HasPrefix(raw, "+"):
		d = strings.TrimPrefix(d, c.dial)
	case c.trunk != "":
		d = strings.TrimPrefix(d, c.trunk)
	}
	return c.code + " " + d
}

// dialCountry is the country of a number written with its country code.
func dialCountry(raw string) *country {
	d := strings.Map(digitsOnly, raw)
	for _, c := range countries {
		if strings.HasPrefix(d, c.dial) {
			return c
		}
	}
	return nil
}

// Phone numbers are issued per template, so the templates of a country
// must not overlap: two templates that can render the same number would
// let two persons get it.
func TestPhoneTemplatesAreDisjoint(t *testing.T) {
	for _, c := range countries {
		type tmpl struct{ where, t string }
		var all []tmpl
		for _, m := range c.mobiles {
			all = append(all, tmpl{"mobile", m})
		}
		for _, ci := range c.cities {
			for _, l := range strings.Split(ci.land, "|") {
				all = append(all, tmpl{ci.name, l})
			}
		}
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				if templatesOverlap(all[i].t, all[j].t) {
					t.Errorf("%s: %s template %q overlaps %s template %q", c.code, all[i].where, all[i].t, all[j].where, all[j].t)
				}
			}
		}
	}
}

// templatesOverlap reports whether two templates can render the same
// digits.
func templatesOverlap(a, b string) bool {
	a, b = strings.ReplaceAll(a, " ", ""), strings.ReplaceAll(b, " ", "")
	if len(a) != len(b) {
		return false
	}
	span := func(c byte) (lo, hi byte) {
		switch c {
		case 'x':
			return '0', '9'
		case 'n':
			return '2', '9'
		}
		return c, c
	}
	for i := 0; i < len(a); i++ {
		alo, ahi := span(a[i])
		blo, bhi := span(b[i])
		if ahi < blo || bhi < alo {
			return false
		}
	}
	return true
}

// The counters that keep values apart run out only far beyond any
// realistic run: every phone template and identifier scheme lasts for at
// least 100 million persons in all (about 240 million records), given how
// often persons draw from it. Email tags never run out; they grow longer.
func TestCounterCapacity(t *testing.T) {
	const landlines = 0.4 // an upper bound of landlines issued per person
	worst, where := 1e30, ""
	check := func(capacity float64, what string) {
		if capacity < worst {
			worst, where = capacity, what
		}
	}
	for _, c := range countries {
		share := c.weight / 100
		cityTotal := 0.0
		for _, ci := range c.cities {
			cityTotal += ci.weight
		}
		ok := 1.0
		if c.phoneOK != nil {
			ok = 0.98 // 555 and N11 exchanges
		}
		for _, m := range c.mobiles {
			check(float64(templateSize(m))*ok/(share/float64(len(c.mobiles))), c.code+" mobile "+m)
		}
		for _, ci := range c.cities {
			alts := strings.Split(ci.land, "|")
			perPerson := landlines
			if len(c.mobiles) == 0 {
				perPerson++
			}
			for _, l := range alts {
				rate := share * ci.weight / cityTotal * perPerson / float64(len(alts))
				check(float64(templateSize(l))*ok/rate, c.code+" "+ci.name+" "+l)
			}
		}
		valid := 1.0
		switch c.code {
		case "NL", "US":
			valid = 10.0 / 11 // elfproef
		case "FR":
			valid = 95 // départements, each with its own counter
		}
		check(float64(c.nidSpace)*valid/share, c.code+" national ids")
	}
	t.Logf("the first counter to run out: %s, after about %.0f million persons", where, worst/1e6)
	if worst < 100e6 {
		t.Errorf("%s runs out after %.0f million persons, want at least 100 million", where, worst/1e6)
	}
}

// A mailbox space gives every issue a distinct (domain, tag) pair.
func TestMailboxSpaceIsInjective(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := newMailSpaces(r).numbered
	block := s.start[len(s.start)-1]
	seen := make(map[string]bool, 3*block)
	for i := uint64(0); i < 3*block+17; i++ {
		d, tag := s.issue()
		k := d + " " + strconv.FormatUint(tag, 10)
		if seen[k] {
			t.Fatalf("issue %d repeats domain %s tag %d", i, d, tag)
		}
		seen[k] = true
	}
	letters := map[string]bool{}
	for n := uint64(1); n <= 20000; n++ {
		l := string(appendLetters(nil, n))
		if letters[l] || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("letter tag %d = %q repeats or has other characters", n, l)
		}
		letters[l] = true
	}
	for _, c := range []struct {
		local string
		start int
	}{{"anna.schmidt4821", 12}, {"a.schmidt84qx", 11}, {"the.schmidts7", 12}, {"anna", 0}, {"", 0}} {
		if got := tagStart(c.local); got != c.start {
			t.Errorf("tagStart(%q) = %d, want %d", c.local, got, c.start)
		}
	}
	// Provider and employer domains are distinct, so work addresses live
	// in a space of their own.
	providers := map[string]bool{}
	for _, p := range emailProviders {
		if providers[p.domain] {
			t.Errorf("provider %s listed twice", p.domain)
		}
		providers[p.domain] = true
	}
	for _, e := range employers {
		if providers[e.domain] {
			t.Errorf("employer domain %s is also a provider", e.domain)
		}
		providers[e.domain] = true
	}
}
