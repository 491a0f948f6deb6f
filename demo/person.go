package demo

import (
	"math/rand/v2"
	"strconv"
)

// person is the true data of one synthetic person. Records are renderings
// of a person through a department's habits (vary.go).
type person struct {
	entity string // ground truth: "P0000001"
	t      *countryTables

	given, family string
	gender        byte // 'm', 'f' or 0 (unknown)
	birth         date

	personal string // always set
	work     string // set for some persons
	shared   string // a household's shared address, for some households

	mobile   string // grouped national significant numbers
	landline string // household landline, for some persons
	office   string // an office line shared with unrelated persons, rarely

	home address
	old  address // a previous address; old.city == nil when none

	nid   string // national identifier, canonical form
	since date   // first became a customer
}

// address is a postal address in its country's conventions.
type address struct {
	number   string
	street   string
	line2    string
	postcode string
	city     *city
	cityIdx  int
}

// member describes what a household imposes on one of its persons; zero
// fields are drawn freely.
type member struct {
	sex           byte
	given, family string
	birth         date
	home, old     *address
	landline      string
}

// householdKind is the shape of the next group of persons.
type householdKind uint8

const (
	single householdKind = iota // one person
	couple                      // two adults, same address and landline
	family                      // a parent and one or two adult children
	twins                       // same birth date, family name and address
)

// household fills g.group with the next household (at most limit persons)
// and returns it. Households are the hard negatives of the data: different
// persons sharing a family name, an address, a landline, sometimes a birth
// date or even a given name.
func (g *generator) household(limit int) []person {
	r := g.r
	t := g.countries[g.countryPick.pick(r)]
	kind := single
	switch u := r.Float64(); {
	case limit < 2 || u < 0.95:
	case u < 0.98:
		kind = couple
	case u < 0.992:
		kind = family
	default:
		kind = twins
	}
	group := g.group[:0]
	first := member{sex: g.sex()}
	if kind == single && t.recentN > 0 && r.Float64() < 0.01 {
		// A name twin: an unrelated person with a recent person's name.
		ref := t.recent[r.IntN(min(t.recentN, len(t.recent)))]
		first.sex, first.given, first.family = ref.gender, ref.given, ref.family
	}
	if kind == family {
		first.birth = g.birthAged(48, 85)
	}
	group = append(group, person{})
	g.fill(&group[0], t, first)
	head := &group[0]
	if kind != single && head.landline == "" && r.Float64() < 0.8 {
		head.landline = t.landline(r, head.home.cityIdx)
	}
	switch kind {
	case couple:
		m := member{sex: opposite(head.gender), home: &head.home, old: &head.old, landline: head.landline}
		if r.Float64() < 0.1 {
			m.sex = head.gender
		}
		if r.Float64() < 0.7 {
			m.family = head.family
		}
		m.birth = g.adultNear(head.birth, 6*365)
		group = append(group, person{})
		g.fill(&group[1], t, m)
	case family:
		n := 1 + r.IntN(2)
		if n+1 > limit {
			n = limit - 1
		}
		var firstChild date
		for i := 0; i < n; i++ {
			m := member{sex: g.sex()}
			if r.Float64() < 0.9 {
				m.family = head.family
			}
			if r.Float64() < 0.7 {
				m.home, m.old, m.landline = &head.home, &head.old, head.landline
			}
			if i == 0 {
				m.birth = g.childOf(head.birth)
				firstChild = m.birth
			} else {
				m.birth = g.adultNear(firstChild, 4*365)
			}
			if m.sex == head.gender && m.sex == 'm' && (t.code == "US" || t.code == "GB" || t.code == "IE") && r.Float64() < 0.15 {
				m.given = head.given // "John Smith" and his son "John Smith"
			}
			group = append(group, person{})
			g.fill(&group[len(group)-1], t, m)
		}
	case twins:
		m := member{sex: g.sex(), family: head.family, birth: head.birth, home: &head.home, old: &head.old, landline: head.landline}
		for m.given == "" || m.given == head.given {
			m.given = g.given(t, m.sex)
		}
		group = append(group, person{})
		g.fill(&group[1], t, m)
	}
	if len(group) > 1 && r.Float64() < 0.25 {
		shared := g.sharedEmail(head)
		for i := range group {
			if group[i].home.city == head.home.city && group[i].home.street == head.home.street {
				group[i].shared = shared
			}
		}
	}
	if kind == single {
		t.remember(nameRef{head.given, head.family, head.gender})
	}
	return group
}

// fill draws one person, honouring what the household imposes.
func (g *generator) fill(p *person, t *countryTables, m member) {
	r := g.r
	g.seq++
	*p = person{entity: entityID(g.seq), t: t, gender: m.sex, given: m.given, family: m.family, birth: m.birth}
	if p.given == "" {
		p.given = g.given(t, p.gender)
	}
	if p.family == "" {
		p.family = t.family[t.familyW.pick(r)]
		if (t.code == "GB" || t.code == "US") && r.Float64() < 0.015 {
			p.family += "-" + t.family[t.familyW.pick(r)] // double-barrelled
		}
	}
	if p.birth == (date{}) {
		p.birth = g.birthAged(18, 90)
	}
	if m.home != nil {
		p.home = *m.home
		p.old = *m.old
	} else {
		p.home = g.address(t, -1)
		if r.Float64() < 0.12 { // moved: some records keep the old address
			same := -1
			if r.Float64() < 0.5 {
				same = p.home.cityIdx
			}
			p.old = g.address(t, same)
		}
	}
	p.mobile = t.mobile(r, p.home.cityIdx)
	p.landline = m.landline
	if m.home == nil && r.Float64() < 0.25 {
		p.landline = t.landline(r, p.home.cityIdx)
	}
	if r.Float64() < 0.01 {
		p.office = t.offices[p.home.cityIdx][r.IntN(len(t.offices[p.home.cityIdx]))]
	}
	g.emails(p)
	p.nid = t.nationalID(t, r, p)
	p.since = g.customerSince(p.birth)
}

func (g *generator) given(t *countryTables, sex byte) string {
	r := g.r
	if sex == 0 {
		sex = "mf"[r.IntN(2)]
	}
	if sex == 'm' {
		return t.male[t.maleW.pick(r)]
	}
	return t.female[t.femaleW.pick(r)]
}

// sex draws m or f, and rarely leaves it unknown.
func (g *generator) sex() byte {
	switch u := g.r.Float64(); {
	case u < 0.49:
		return 'm'
	case u < 0.98:
		return 'f'
	default:
		return 0
	}
}

func opposite(s byte) byte {
	switch s {
	case 'm':
		return 'f'
	case 'f':
		return 'm'
	}
	return 0
}

// ageBands weight adult ages: more people in mid-life than at the ends.
var ageBands = [...]struct{ lo, hi, weight int }{
	{18, 29, 20}, {30, 44, 28}, {45, 59, 27}, {60, 74, 18}, {75, 90, 7},
}

// birthAged draws a birth date for an age in [lo, hi] on asOf.
func (g *generator) birthAged(lo, hi int) date {
	r := g.r
	total := 0
	for _, b := range ageBands {
		if b.hi >= lo && b.lo <= hi {
			total += b.weight
		}
	}
	x := r.IntN(total)
	age := lo
	for _, b := range ageBands {
		if b.hi < lo || b.lo > hi {
			continue
		}
		if x < b.weight {
			a, z := max(b.lo, lo), min(b.hi, hi)
			age = a + r.IntN(z-a+1)
			break
		}
		x -= b.weight
	}
	return asOf.addDays(-(age*365 + age/4 + r.IntN(365)))
}

// adultNear draws a birth date within spread days of b, of an adult no
// older than 90.
func (g *generator) adultNear(b date, spread int) date {
	d := b.addDays(g.r.IntN(2*spread+1) - spread)
	if oldest := asOf.addDays(-(90*365 + 22 + 364)); d.days() < oldest.days() {
		d = b.addDays(g.r.IntN(spread + 1))
	}
	return clampAdult(d, g.r.IntN(365))
}

// childOf draws the birth date of an adult child of someone born on b.
func (g *generator) childOf(b date) date {
	d := b.addDays((20 + g.r.IntN(19)) * 365)
	return clampAdult(d, g.r.IntN(3*365))
}

func clampAdult(d date, jitter int) date {
	if youngest := asOf.addDays(-18*365 - 5); d.days() > youngest.days() {
		return youngest.addDays(-jitter)
	}
	return d
}

// customerSince draws the day a person became a customer: after their
// 18th birthday and after 2008, before asOf.
func (g *generator) customerSince(birth date) date {
	lo := max(birth.days()+18*365+5, date{2008, 1, 1}.days())
	hi := asOf.days()
	if lo >= hi {
		return asOf
	}
	return dateFromDays(lo + g.r.IntN(hi-lo))
}

// address draws an address in the country; cityIdx < 0 draws the city too.
func (g *generator) address(t *countryTables, cityIdx int) address {
	r := g.r
	if cityIdx < 0 {
		cityIdx = t.cityW.pick(r)
	}
	c := &t.cities[cityIdx]
	a := address{city: c, cityIdx: cityIdx, street: t.streets[t.streetW.pick(r)]}
	a.number = g.houseNumber(t.country)
	if r.Float64() < t.pFlat {
		a.line2 = t.flats[r.IntN(len(t.flats))] + strconv.Itoa(1+r.IntN(40))
		if t.code == "US" && r.IntN(3) == 0 {
			a.line2 += string(byte('A' + r.IntN(6)))
		}
	}
	a.postcode = t.postcode(r, c)
	return a
}

// houseNumber draws a house number, skewed to small numbers, with the
// suffixes each country uses (12a, 12-2, 12 bis).
func (g *generator) houseNumber(c *country) string {
	r := g.r
	// The product of two uniforms favours small numbers.
	n := 1 + int(float64(c.maxHouse)*r.Float64()*r.Float64())
	if c.code == "US" {
		n = 100 + int(float64(c.maxHouse)*r.Float64()*r.Float64())
	}
	s := strconv.Itoa(n)
	switch c.code {
	case "DE":
		if r.Float64() < 0.06 {
			s += string(byte('a' + r.IntN(3)))
		}
	case "NL":
		switch u := r.Float64(); {
		case u < 0.06:
			s += string(byte('A' + r.IntN(3)))
		case u < 0.10:
			s += "-" + strconv.Itoa(1+r.IntN(3))
		case u < 0.12:
			s += " hs"
		}
	case "FR":
		if r.Float64() < 0.04 {
			s += " bis"
		}
	}
	return s
}

// weightedDomain is an email domain and its relative share of addresses.
type weightedDomain struct {
	domain string
	weight int
}

// emailProviders are the mail providers persons have their personal and
// household addresses at: the reserved example domains (RFC 2606) and
// subdomains of them, never a real provider.
var emailProviders = []weightedDomain{
	{"example.com", 30}, {"example.net", 22}, {"example.org", 14},
	{"mail.example.com", 4}, {"mail.example.net", 3}, {"mail.example.org", 4},
	{"post.example.com", 2}, {"post.example.net", 4}, {"post.example.org", 2},
	{"web.example.com", 4}, {"web.example.net", 2}, {"web.example.org", 3},
	{"inbox.example.com", 3}, {"inbox.example.net", 2}, {"inbox.example.org", 1},
	{"online.example.com", 2}, {"online.example.net", 2}, {"home.example.com", 2},
	{"home.example.net", 2}, {"home.example.org", 1}, {"my.example.com", 2},
	{"my.example.net", 1}, {"box.example.org", 2}, {"mx.example.net", 1},
	{"live.example.com", 2}, {"email.example.com", 2}, {"email.example.org", 1},
	{"mailbox.example.net", 2}, {"freemail.example.net", 2}, {"webmail.example.org", 1},
	{"cloud.example.com", 2}, {"me.example.org", 1}, {"mailhub.example.org", 1},
	{"net.example.org", 1}, {"connect.example.com", 1}, {"letterbox.example.net", 1},
}

// employers are made-up companies, each with its domain under a reserved
// one ("globex.example.net"); work addresses live there. The weights are
// relative company sizes. No employer domain is a provider's.
var employers = []weightedDomain{
	{"acme.example.com", 12}, {"globex.example.net", 12}, {"initech.example.com", 10},
	{"umbrella.example.org", 10}, {"hooli.example.com", 9}, {"soylent.example.net", 9},
	{"contoso.example.com", 8}, {"northwind.example.org", 8}, {"fabrikam.example.com", 7},
	{"wayne.example.net", 7}, {"stark.example.com", 6}, {"tyrell.example.org", 6},
	{"cyberdyne.example.net", 5}, {"wonka.example.com", 5}, {"aperture.example.org", 5},
	{"vandelay.example.com", 4}, {"oscorp.example.net", 4}, {"dunder-mifflin.example.com", 4},
	{"massive-dynamic.example.org", 4}, {"gringotts.example.net", 3}, {"monarch.example.com", 3},
	{"gekko.example.net", 3}, {"bluth.example.org", 3}, {"prestige.example.com", 3},
	{"sterling-cooper.example.net", 3}, {"pied-piper.example.com", 2}, {"krusty.example.org", 2},
	{"blue-sun.example.net", 2}, {"weyland.example.com", 2}, {"nakatomi.example.org", 2},
	{"ollivanders.example.net", 2}, {"spacely.example.com", 2}, {"cogswell.example.org", 2},
	{"mooby.example.net", 1}, {"duff.example.com", 1}, {"lacuna.example.org", 1},
	{"virtucon.example.net", 1}, {"zorg.example.com", 1}, {"rekall.example.org", 1},
	{"dharma.example.net", 1},
}

// genericEmails and genericPhone are placeholder values that several
// unrelated persons share, as they do in real systems. No issued address
// equals one: an issued local part ends with a tag that follows the digits
// of a birth year or is itself digits.
var genericEmails = []string{"test@example.com", "noemail@example.com", "none@example.org"}

const genericPhone = "0000000000"

// mailSpaces are the three address spaces of a run (see unique.go).
type mailSpaces struct {
	numbered, lettered, work *mailboxSpace
}

func newMailSpaces(r *rand.Rand) mailSpaces {
	return mailSpaces{
		numbered: newMailboxSpace(emailProviders, r),
		lettered: newMailboxSpace(emailProviders, r),
		work:     newMailboxSpace(employers, r),
	}
}

// emails issues the personal and sometimes a work address of a person.
// Every address carries a tag from its space's counter, so no two persons
// get the same address, however common their name: anna.schmidt4821@,
// a.schmidt84qx@, schmidt.anna17@ (see unique.go).
func (g *generator) emails(p *person) {
	r := g.r
	german := p.t.code == "DE" && r.Float64() < 0.7
	gt, ft := emailToken(p.given, german), emailToken(p.family, german)
	if gt == "" {
		gt = "user"
	}
	if ft == "" {
		ft = "mail"
	}
	yy := padInt(p.birth.y%100, 2)
	switch u := r.IntN(100); {
	case u < 28:
		p.personal = g.mail.numbered.numbered(gt + "." + ft)
	case u < 38:
		p.personal = g.mail.lettered.lettered(initial(gt) + "." + ft + yy)
	case u < 52:
		p.personal = g.mail.numbered.numbered(gt + ft)
	case u < 59:
		p.personal = g.mail.numbered.numbered(ft + "." + gt)
	case u < 63:
		p.personal = g.mail.numbered.numbered(gt + "_" + ft)
	case u < 67:
		p.personal = g.mail.numbered.numbered(gt + "." + ft + ".")
	case u < 73:
		p.personal = g.mail.lettered.lettered(gt + "." + ft + yy)
	case u < 79:
		p.personal = g.mail.lettered.lettered(gt + yy)
	case u < 83:
		p.personal = g.mail.numbered.numbered(ft + initial(gt))
	case u < 87:
		p.personal = g.mail.numbered.numbered(gt + "." + initial(ft))
	default:
		p.personal = g.mail.numbered.numbered(initial(gt) + ft)
	}
	p.work = ""
	if r.Float64() < 0.3 {
		var local string
		switch u := r.IntN(10); {
		case u < 6:
			local = gt + "." + ft
		case u < 9:
			local = initial(gt) + "." + ft
		default:
			local = gt + "." + initial(ft)
		}
		p.work = g.mail.work.numbered(local)
	}
}

// householdMailboxes are the shapes of a household's shared address: the
// family token goes between before and after, and a numbered tag follows
// ("schmidt.family12@", "the.schmidts12@", "schmidtfamily12@").
var householdMailboxes = [...]struct{ before, after string }{
	{"", ".family"}, {"the.", "s"}, {"", "family"},
}

// sharedEmail issues a household's common address. It is an issue of the
// numbered space like any personal address, so it is the household's
// alone; the household's members all hold it, on purpose.
func (g *generator) sharedEmail(head *person) string {
	ft := emailToken(head.family, head.t.code == "DE")
	if ft == "" {
		ft = "home"
	}
	s := householdMailboxes[g.r.IntN(len(householdMailboxes))]
	return g.mail.numbered.numbered(s.before + ft + s.after)
}

// entityID formats the ground-truth id of the n-th person: P0000001.
func entityID(n int) string {
	var buf [16]byte
	b := append(buf[:0], 'P')
	return string(appendPadded(b, n, 7))
}
