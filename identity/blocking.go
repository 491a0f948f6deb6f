package identity

import (
	"strconv"
)

// BlockingKeys returns the blocking keys of a record: short strings under
// which records that might be the same person meet, so that matching compares
// a record only with the few others that share a key instead of with every
// record. Each key names its rule ("e:" exact email, "dob:" birth date with
// family-name sound, ...). Stored only as blind indexes.
func BlockingKeys(n *Normalized) []string {
	keys := make([]string, 0, 8)
	add := func(rule, v string) {
		if v != "" {
			keys = append(keys, rule+v)
		}
	}
	add("e:", n.Email)
	add("p:", n.Phone)
	add("n:", n.NationalID)
	family := Soundex(n.FamilyName)
	given := Soundex(n.GivenName)
	if n.BirthDate.Valid {
		dob := strconv.Itoa(n.BirthDate.Year*10000 + n.BirthDate.Month*100 + n.BirthDate.Day)
		add("dob:", dob)
		if family != "" {
			add("fy:", family+"|"+strconv.Itoa(n.BirthDate.Year))
		}
	}
	if family != "" && given != "" {
		add("gf:", given+"|"+family)
	}
	if n.Postcode != "" && family != "" {
		add("fp:", family+"|"+n.Postcode)
	}
	if n.Postcode != "" && given != "" {
		add("gp:", given+"|"+n.Postcode)
	}
	return keys
}

// soundexCodes is the American Soundex digit of each letter a-z; 0 marks
// vowels and h, w, y, which separate but are not coded.
const soundexCodes = "01230120022455012623010202"

// Soundex returns the American Soundex code of the first word of a folded
// name ("robert" and "rupert" give "R163"); "" when it starts with no letter.
func Soundex(name string) string {
	name = firstWord(name)
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(name) && n < 4; i++ {
		c := name[i]
		if c < 'a' || c > 'z' {
			continue
		}
		code := soundexCodes[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w':
			// h and w do not separate equal codes
		case code == '0':
			last = 0
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return string(out[:])
}
