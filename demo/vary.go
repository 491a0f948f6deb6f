package demo

import (
	"strings"
	"unicode"
)

// Column positions, in Header order.
const (
	colSource = iota
	colSourceID
	colGiven
	colFamily
	colFull
	colBirth
	colGender
	colEmail
	colPhone
	colStreet
	colLine2
	colPostcode
	colCity
	colRegion
	colCountry
	colNationalID
	colCustomerSince
	colEntity
	numCols
)

// row is one output record.
type row [numCols]string

// accent is how a record writes letters with diacritics.
type accent uint8

const (
	accentKeep     accent = iota // Müller
	accentTranslit               // Mueller (German transliteration; others fold)
	accentFold                   // Muller
)

func (a accent) apply(p *person, s string) string {
	switch a {
	case accentTranslit:
		return fold(s, p.t.code == "DE")
	case accentFold:
		return fold(s, false)
	}
	return s
}

// chance reports true with probability p.
func (g *generator) chance(p float64) bool { return p > 0 && g.r.Float64() < p }

// render writes one record of p as department d keeps it. Every field goes
// through the department's habits and the errors people and clerks make;
// see the package documentation for the model.
func (g *generator) render(p *person, d *department, out *row) {
	*out = row{}
	out[colSource] = d.name
	out[colSourceID] = d.nextID()
	out[colEntity] = p.entity

	acc := accentKeep
	switch {
	case g.chance(d.pTranslit):
		acc = accentTranslit
	case g.chance(d.pFold):
		acc = accentFold
	}
	upper := g.chance(d.pUpper)
	g.renderName(p, d, acc, upper, out)

	if g.chance(d.pBirth) {
		out[colBirth] = g.birthDate(p.birth, d.dates)
	}
	if p.gender != 0 && g.chance(d.pGender) {
		gender := p.gender
		if g.chance(0.004) {
			gender = opposite(gender)
		}
		out[colGender] = string(gender)
	}
	if g.chance(d.pEmail) {
		out[colEmail] = g.email(p, d)
	}
	if g.chance(d.pPhone) {
		out[colPhone] = g.phone(p, d)
	}
	if g.chance(d.pAddress) {
		g.renderAddress(p, d, acc, upper, out)
	} else if g.chance(d.pNoAdr) {
		out[colCountry] = p.t.code
	}
	if ph := out[colPhone]; ph != "" && ph[0] != '+' {
		// A number written without its country code comes with the
		// country, so that it can be normalised: hard but fair.
		out[colCountry] = p.t.code
	}
	if g.chance(d.pNID) {
		id := p.nid
		if g.chance(0.25) {
			id = p.t.altID(id)
		}
		if g.chance(0.005) {
			id = digitTypo(g, id)
		}
		out[colNationalID] = id
	}
	switch d.since {
	case sinceFirst:
		out[colCustomerSince] = p.since.format(layoutISO, true)
	case sinceLater:
		s := p.since.addDays(g.r.IntN(120))
		if s.days() > asOf.days() {
			s = asOf
		}
		out[colCustomerSince] = s.format(layoutISO, true)
	}
}

// renderName writes given_name, family_name and full_name.
func (g *generator) renderName(p *person, d *department, acc accent, upper bool, out *row) {
	given, family := p.given, p.family
	if g.chance(d.pNick) {
		if n := p.t.nicknames[given]; len(n) > 0 {
			given = n[g.r.IntN(len(n))]
		}
	}
	given = g.compound(given, 0.25, 0.06)
	family = g.compound(family, 0.10, 0.12)
	family = g.familyVariant(family)
	if g.chance(d.pTypo) {
		given = typo(g.r, given)
		if g.chance(0.15) {
			given = typo(g.r, given)
		}
	}
	if g.chance(d.pTypo) {
		family = typo(g.r, family)
	}
	given, family = acc.apply(p, given), acc.apply(p, family)
	switch {
	case upper:
		given, family = strings.ToUpper(given), strings.ToUpper(family)
	case g.chance(d.pLower):
		given, family = strings.ToLower(given), strings.ToLower(family)
	}
	if g.chance(d.pSwap) {
		given, family = family, given
	}
	var full string
	if g.chance(0.2) {
		full = family + ", " + given
	} else {
		full = given + " " + family
	}
	if g.chance(0.005) {
		given += " "
		full = strings.Replace(full, " ", "  ", 1)
	}
	switch u := g.r.Float64(); {
	case u < d.pParts:
		out[colGiven], out[colFamily] = given, family
	case u < d.pParts+d.pFull:
		out[colFull] = full
	default:
		out[colGiven], out[colFamily], out[colFull] = given, family, full
	}
}

// compound varies hyphenated names: "Jean-Pierre" becomes "Jean Pierre"
// (pSpace) or "Jean" (pFirst).
func (g *generator) compound(s string, pSpace, pFirst float64) string {
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return s
	}
	switch u := g.r.Float64(); {
	case u < pSpace:
		return strings.ReplaceAll(s, "-", " ")
	case u < pSpace+pFirst:
		return s[:i]
	}
	return s
}

// familyVariant applies the spelling habits around particles and
// apostrophes: "van der Meer" / "Van der Meer" / "Meer", "O'Brien" /
// "OBrien" / "O Brien", "McDonald" / "Mcdonald".
func (g *generator) familyVariant(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' && strings.IndexByte(s, ' ') > 0 {
		switch u := g.r.Float64(); {
		case u < 0.25:
			return capitalise(s)
		case u < 0.32:
			rest := s
			for len(rest) > 0 && (rest[0] >= 'a' && rest[0] <= 'z' || rest[0] == '\'') {
				i := strings.IndexByte(rest, ' ')
				if i < 0 {
					return s
				}
				rest = rest[i+1:]
			}
			return rest
		}
		return s
	}
	if strings.IndexByte(s, '\'') >= 0 {
		switch u := g.r.Float64(); {
		case u < 0.10:
			return strings.ReplaceAll(s, "'", "")
		case u < 0.15:
			return strings.ReplaceAll(s, "'", " ")
		}
		return s
	}
	if len(s) > 3 && (strings.HasPrefix(s, "Mc") || strings.HasPrefix(s, "Mac")) && g.chance(0.08) {
		return s[:1] + strings.ToLower(s[1:])
	}
	return s
}

// birthDate writes a birth date with the errors forms let through: day and
// month transposed, a year off by one and, rarely, an impossible date such
// as 31/02/1980 (kept as written, like real systems do).
func (g *generator) birthDate(b date, l dateLayout) string {
	switch u := g.r.Float64(); {
	case u < 0.003:
		if g.r.IntN(2) == 0 {
			b.m, b.d = 2, 30+g.r.IntN(2)
		} else {
			b.m, b.d = [...]int{4, 6, 9, 11}[g.r.IntN(4)], 31
		}
	case u < 0.018:
		if b.d <= 12 && b.d != b.m {
			b.m, b.d = b.d, b.m
		}
	case u < 0.023:
		b.y += 1 - 2*g.r.IntN(2)
		if b.m == 2 && b.d == 29 {
			b.d = 28
		}
	}
	return b.format(l, l != layoutDMY || g.r.Float64() < 0.9)
}

// email picks the address a record carries: usually the personal one,
// sometimes the work or household one, rarely a placeholder.
func (g *generator) email(p *person, d *department) string {
	var e string
	switch u := g.r.Float64(); {
	case u < 0.004:
		return genericEmails[g.r.IntN(len(genericEmails))]
	case p.shared != "" && u < 0.3:
		e = p.shared
	case p.work != "" && g.chance(d.pWork):
		e = p.work
	default:
		e = p.personal
	}
	switch u := g.r.Float64(); {
	case u < 0.02:
		e = titleEmail(e)
	case u < 0.025:
		e = strings.ToUpper(e)
	case u < 0.03:
		// A typo in the name part only: the tag, and with it the owner
		// of the address, stays recognisable (see unique.go), so a
		// mistyped address is never another person's.
		if at := strings.IndexByte(e, '@'); at > 0 {
			k := tagStart(e[:at])
			e = typo(g.r, e[:k]) + e[k:]
		}
	}
	return e
}

// phone picks and formats the number a record carries.
func (g *generator) phone(p *person, d *department) string {
	if g.chance(0.003) {
		return genericPhone
	}
	n := p.mobile
	switch {
	case p.office != "" && g.chance(0.5):
		n = p.office
	case p.landline != "" && g.chance(d.pLandline):
		n = p.landline
	}
	style := d.phone
	if g.chance(0.2) {
		style = phoneStyle(g.r.IntN(int(numPhoneStyles)))
	}
	return formatPhone(p.t.country, n, style)
}

// renderAddress writes the address columns: the current address or,
// for persons who moved, sometimes the old one.
func (g *generator) renderAddress(p *person, d *department, acc accent, upper bool, out *row) {
	a := &p.home
	if p.old.city != nil && g.chance(0.4) {
		a = &p.old
	}
	c := p.t.country
	out[colCountry] = c.code
	if !g.chance(d.pPartial) {
		street := a.street
		if g.chance(d.pAbbrev) {
			street = abbreviate(street)
		}
		if c.code == "FR" && g.chance(0.4) {
			street = capitalise(street)
		}
		var line string
		switch {
		case c.numberFirst && c.code == "FR" && g.chance(0.15):
			line = a.number + ", " + street
		case c.numberFirst:
			line = a.number + " " + street
		default:
			line = street + " " + a.number
		}
		line2 := a.line2
		if line2 != "" {
			switch u := g.r.Float64(); {
			case u < 0.1:
				if c.code == "GB" || c.code == "IE" {
					line = line2 + ", " + line
				} else {
					line = line + ", " + line2
				}
				line2 = ""
			case u < 0.2:
				line2 = ""
			}
		}
		line, line2 = acc.apply(p, line), acc.apply(p, line2)
		if upper {
			line, line2 = strings.ToUpper(line), strings.ToUpper(line2)
		}
		out[colStreet], out[colLine2] = line, line2
	}
	out[colPostcode] = g.postcode(c, a.postcode)
	cityName := a.city.name
	if a.city.alias != "" && g.chance(0.12) {
		cityName = a.city.alias
	}
	cityName = acc.apply(p, cityName)
	if upper || g.chance(0.03) {
		cityName = strings.ToUpper(cityName)
	}
	out[colCity] = cityName
	pRegion := d.pRegion
	if c.code == "US" {
		pRegion = 0.95
	}
	if g.chance(pRegion) {
		out[colRegion] = acc.apply(p, a.city.region)
	}
}

// postcode writes a postcode the way people type it: GB and IE codes
// without the space or in lower case, Dutch ones without the space,
// US ZIP+4.
func (g *generator) postcode(c *country, pc string) string {
	switch c.code {
	case "GB":
		switch u := g.r.Float64(); {
		case u < 0.10:
			return strings.ReplaceAll(pc, " ", "")
		case u < 0.13:
			return strings.ToLower(pc)
		}
	case "NL":
		if g.chance(0.3) {
			return strings.ReplaceAll(pc, " ", "")
		}
	case "IE":
		if g.chance(0.2) {
			return strings.ReplaceAll(pc, " ", "")
		}
	case "US":
		if g.chance(0.08) {
			return pc + "-" + padInt(1+g.r.IntN(9999), 4)
		}
	}
	return pc
}

// digitTypo replaces one digit of an identifier by another.
func digitTypo(g *generator, s string) string {
	b := []byte(s)
	var idx []int
	for i, c := range b {
		if unicode.IsDigit(rune(c)) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return s
	}
	i := idx[g.r.IntN(len(idx))]
	if d := int(b[i] - '0'); i == 0 && d != 0 {
		// A leading digit stays non-zero, so that identifiers which never
		// start with 0 (Steuer-ID, BSN) keep their shape.
		b[i] = '1' + byte((d+g.r.IntN(8))%9)
	} else {
		b[i] = '0' + byte((d+1+g.r.IntN(9))%10)
	}
	return string(b)
}
