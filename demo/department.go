package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// department is one source system: how it names its records, which fields
// it keeps and how carefully, and how it writes dates and phone numbers.
// Probabilities are per record.
type department struct {
	name string
	ids  idSpace
	next uint64 // records issued so far; the permuted counter is the id

	dates dateLayout
	phone phoneStyle

	// Names: pParts records have given/family only, pFull full_name only,
	// the rest both.
	pParts, pFull            float64
	pNick, pTypo, pSwap      float64
	pUpper, pLower           float64
	pTranslit, pFold         float64 // Müller -> Mueller; Müller -> Muller
	pBirth, pGender          float64
	pEmail, pWork            float64 // pWork: the work address, when the person has one
	pPhone, pLandline        float64
	pAddress, pPartial       float64 // pPartial: postcode, city and country only
	pRegion, pAbbrev, pNoAdr float64 // pNoAdr: country alone when there is no address
	pNID                     float64

	since     sinceMode
	duplicate bool // may hold two records of the same person
}

// sinceMode says what a department writes to customer_since.
type sinceMode uint8

const (
	sinceNone  sinceMode = iota // empty
	sinceFirst                  // the day the person became a customer
	sinceLater                  // the day this department first billed them
)

// newDepartment returns the profile of a department. The four default
// departments have their own; any other name gets a middle-of-the-road one.
func newDepartment(name string, r *rand.Rand) *department {
	d := &department{name: name}
	switch name {
	case "sales":
		d.ids = newIDSpace("S-", idBase32, 8, 40, r)
		d.dates, d.phone = layoutDMY, phoneIntl
		d.pParts, d.pFull = 0.80, 0.05
		d.pNick, d.pTypo, d.pSwap, d.pUpper, d.pLower = 0.10, 0.03, 0.01, 0.03, 0.01
		d.pTranslit, d.pFold = 0.02, 0.08
		d.pBirth, d.pGender = 0.70, 0.60
		d.pEmail, d.pWork = 0.95, 0.45
		d.pPhone, d.pLandline = 0.85, 0.20
		d.pAddress, d.pPartial, d.pRegion, d.pAbbrev, d.pNoAdr = 0.80, 0.10, 0.60, 0.35, 0.5
		d.pNID = 0.10
		d.since, d.duplicate = sinceFirst, true
	case "support":
		d.ids = newIDSpace("TCK-", idDecimal, 9, 30, r)
		d.dates, d.phone = layoutISO, phoneNational
		d.pParts, d.pFull = 0.50, 0.45
		d.pNick, d.pTypo, d.pSwap, d.pUpper, d.pLower = 0.18, 0.05, 0.02, 0.02, 0.06
		d.pTranslit, d.pFold = 0.03, 0.15
		d.pBirth, d.pGender = 0.25, 0.20
		d.pEmail, d.pWork = 0.97, 0.25
		d.pPhone, d.pLandline = 0.80, 0.15
		d.pAddress, d.pPartial, d.pRegion, d.pAbbrev, d.pNoAdr = 0.25, 0.50, 0.30, 0.50, 0.4
		d.since, d.duplicate = sinceNone, true
	case "billing":
		d.ids = newIDSpace("ACC-", idDecimal, 10, 34, r)
		d.dates, d.phone = layoutCompact, phoneDigits
		d.pParts, d.pFull = 0.80, 0
		d.pNick, d.pTypo, d.pSwap, d.pUpper, d.pLower = 0.03, 0.015, 0.005, 0.25, 0
		d.pTranslit, d.pFold = 0.55, 0.25
		d.pBirth, d.pGender = 0.85, 0.50
		d.pEmail, d.pWork = 0.90, 0.30
		d.pPhone, d.pLandline = 0.70, 0.35
		d.pAddress, d.pPartial, d.pRegion, d.pAbbrev = 1, 0, 0.80, 0.50
		d.pNID = 0.65
		d.since, d.duplicate = sinceLater, false
	case "marketing":
		d.ids = newIDSpace("", idHex, 12, 48, r)
		d.dates, d.phone = layoutISO, phoneE164
		d.pParts, d.pFull = 0.65, 0.30
		d.pNick, d.pTypo, d.pSwap, d.pUpper, d.pLower = 0.20, 0.03, 0.01, 0.01, 0.08
		d.pTranslit, d.pFold = 0.05, 0.30
		d.pBirth, d.pGender = 0.15, 0.40
		d.pEmail, d.pWork = 1, 0.15
		d.pPhone, d.pLandline = 0.40, 0.05
		d.pAddress, d.pPartial, d.pRegion, d.pAbbrev, d.pNoAdr = 0.20, 0.60, 0.30, 0.30, 0.7
		d.since, d.duplicate = sinceNone, true
	default:
		d.ids = newIDSpace(idPrefix(name), idBase32, 8, 40, r)
		d.dates, d.phone = layoutISO, phoneDashed
		d.pParts, d.pFull = 0.70, 0.15
		d.pNick, d.pTypo, d.pSwap, d.pUpper, d.pLower = 0.10, 0.03, 0.01, 0.05, 0.03
		d.pTranslit, d.pFold = 0.10, 0.15
		d.pBirth, d.pGender = 0.50, 0.40
		d.pEmail, d.pWork = 0.90, 0.30
		d.pPhone, d.pLandline = 0.70, 0.20
		d.pAddress, d.pPartial, d.pRegion, d.pAbbrev, d.pNoAdr = 0.60, 0.25, 0.50, 0.40, 0.5
		d.pNID = 0.05
		d.since, d.duplicate = sinceNone, true
	}
	return d
}

// idPrefix makes "CRM-" out of "crm" for departments without a profile.
func idPrefix(name string) string {
	var b []byte
	for i := 0; i < len(name) && len(b) < 3; i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "ID-"
	}
	return string(b) + "-"
}

// nextID issues the department's next source_id, or "" when its id space
// is exhausted.
func (d *department) nextID() string {
	if d.next >= d.ids.domain {
		return ""
	}
	id := d.ids.format(d.ids.permute(d.next))
	d.next++
	return id
}

// idKind is the alphabet of a source_id.
type idKind uint8

const (
	idBase32  idKind = iota // RFC 4648 alphabet, upper case
	idDecimal               // zero-padded digits
	idHex                   // lower-case hexadecimal
)

// idSpace turns a counter into an opaque, unique identifier. The counter
// goes through a seeded permutation of [0, domain): a bijection, so ids
// never repeat, yet consecutive counters give unrelated ids and nothing in
// an id reveals the person or the order of generation.
type idSpace struct {
	prefix string
	kind   idKind
	width  int // characters after the prefix
	permutation
}

func newIDSpace(prefix string, kind idKind, width int, bits uint, r *rand.Rand) idSpace {
	domain := uint64(1) << bits
	if kind == idDecimal {
		domain = 1
		for i := 0; i < width; i++ {
			domain *= 10
		}
	}
	return idSpace{prefix: prefix, kind: kind, width: width, permutation: newPermutationBits(domain, bits, r)}
}

func (s *idSpace) format(v uint64) string {
	const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const hex = "0123456789abcdef"
	b := make([]byte, len(s.prefix)+s.width)
	copy(b, s.prefix)
	for i := len(b) - 1; i >= len(s.prefix); i-- {
		switch s.kind {
		case idBase32:
			b[i] = base32[v&31]
			v >>= 5
		case idHex:
			b[i] = hex[v&15]
			v >>= 4
		default:
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	return string(b)
}

// validDepartments checks a department list: names non-empty, without
// surrounding spaces, unique.
func validDepartments(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || strings.TrimSpace(n) != n {
			return fmt.Errorf("department name %q: %w", n, ErrInvalidOptions)
		}
		if seen[n] {
			return fmt.Errorf("department %q listed twice: %w", n, ErrInvalidOptions)
		}
		seen[n] = true
	}
	return nil
}
