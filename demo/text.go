package demo

import (
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the string transformations the variation model uses:
// keyboard typos, accent folding, transliteration, street abbreviations.

// qwertyNeighbours lists the keys next to each lower-case letter.
var qwertyNeighbours = [26]string{
	"qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn",
	"jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz", "rfgy",
	"yhji", "cfgb", "qase", "zsdc", "tghu", "asx",
}

// typo applies one keyboard error: a neighbouring key, two letters
// transposed, a letter dropped or a letter doubled. The first letter is
// rarely touched, as in real typing. Short strings are returned unchanged.
func typo(r *rand.Rand, s string) string {
	rs := []rune(s)
	n := len(rs)
	if n < 3 {
		return s
	}
	i := 1 + r.IntN(n-1)
	if r.IntN(10) == 0 {
		i = 0
	}
	switch r.IntN(4) {
	case 0: // neighbouring key
		c := unicode.ToLower(rs[i])
		if c >= 'a' && c <= 'z' {
			nb := qwertyNeighbours[c-'a']
			k := rune(nb[r.IntN(len(nb))])
			if unicode.IsUpper(rs[i]) {
				k = unicode.ToUpper(k)
			}
			rs[i] = k
			return string(rs)
		}
		fallthrough
	case 1: // transposition
		if i == n-1 {
			i--
		}
		if rs[i] == rs[i+1] {
			return string(append(rs[:i:i], rs[i+1:]...))
		}
		rs[i], rs[i+1] = rs[i+1], rs[i]
		return string(rs)
	case 2: // deletion
		return string(append(rs[:i:i], rs[i+1:]...))
	default: // insertion: the same letter typed twice
		out := make([]rune, 0, n+1)
		out = append(out, rs[:i+1]...)
		out = append(out, unicode.ToLower(rs[i]))
		return string(append(out, rs[i+1:]...))
	}
}

// foldMap maps letters with diacritics to plain ASCII, the way systems
// that cannot store them write names: Müller -> Muller, José -> Jose.
var foldMap = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ą': "a", 'æ': "ae",
	'ç': "c", 'ć': "c", 'č': "c", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ę': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ı': "i", 'ñ': "n", 'ń': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ÿ': "y", 'ß': "ss",
	'ş': "s", 'ś': "s", 'š': "s", 'ğ': "g", 'ł': "l", 'ź': "z", 'ż': "z", 'ž': "z", 'ř': "r",
	'À': "A", 'Á': "A", 'Â': "A", 'Ä': "A", 'Å': "A", 'Æ': "AE", 'Ç': "C", 'Č': "C",
	'È': "E", 'É': "E", 'Ê': "E", 'Ë': "E", 'Ì': "I", 'Í': "I", 'Î': "I", 'Ï': "I", 'İ': "I",
	'Ñ': "N", 'Ò': "O", 'Ó': "O", 'Ô': "O", 'Ö': "O", 'Ø': "O", 'Œ': "OE",
	'Ù': "U", 'Ú': "U", 'Û': "U", 'Ü': "U", 'Ý': "Y", 'Ş': "S", 'Ś': "S", 'Š': "S", 'Ł': "L", 'Ž': "Z",
}

// germanMap overrides foldMap with the German transliteration:
// Müller -> Mueller, Jäger -> Jaeger, Köhler -> Koehler.
var germanMap = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'Ä': "Ae", 'Ö': "Oe", 'Ü': "Ue",
}

// fold drops diacritics. With german set, umlauts become ae/oe/ue.
func fold(s string, german bool) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for _, c := range s {
		if c < utf8.RuneSelf {
			b.WriteRune(c)
			continue
		}
		if german {
			if t, ok := germanMap[c]; ok {
				b.WriteString(t)
				continue
			}
		}
		if t, ok := foldMap[c]; ok {
			b.WriteString(t)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// emailToken turns a name into the characters an email local part uses:
// lower case, folded, without spaces or apostrophes. It keeps letters and
// hyphens only: a token never holds a digit, which the address tags rely
// on (see unique.go).
func emailToken(s string, german bool) string {
	s = fold(s, german)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '-':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

// initial is the first letter of an email token.
func initial(tok string) string {
	if tok == "" {
		return ""
	}
	return tok[:1]
}

// abbreviations shorten the street type, as clerks and forms do. Each
// entry replaces a suffix of the street.
var abbreviations = []struct{ long, short string }{
	{" Street", " St"}, {" Road", " Rd"}, {" Avenue", " Ave"}, {" Lane", " Ln"}, {" Drive", " Dr"},
	{" Close", " Cl"}, {" Crescent", " Cres"}, {" Gardens", " Gdns"}, {" Place", " Pl"},
	{" Terrace", " Terr"}, {" Boulevard", " Blvd"}, {" Court", " Ct"},
	{"straße", "str."}, {"Straße", "Str."}, {"straat", "str."},
}

// frenchAbbreviations replace the street type that French addresses put
// first ("avenue Foch" -> "av. Foch").
var frenchAbbreviations = []struct{ long, short string }{
	{"avenue ", "av. "}, {"boulevard ", "bd "}, {"rue ", "r. "}, {"place ", "pl. "},
	{"allée ", "all. "}, {"chemin ", "ch. "}, {"impasse ", "imp. "},
}

// abbreviate shortens the street type if the street has one it knows.
func abbreviate(street string) string {
	for _, a := range frenchAbbreviations {
		if strings.HasPrefix(street, a.long) {
			return a.short + street[len(a.long):]
		}
	}
	for _, a := range abbreviations {
		if strings.HasSuffix(street, a.long) {
			return street[:len(street)-len(a.long)] + a.short
		}
	}
	return street
}

// capitalise upper-cases the first letter ("rue de la Paix" -> "Rue de la Paix").
func capitalise(s string) string {
	c, size := utf8.DecodeRuneInString(s)
	if c == utf8.RuneError || unicode.IsUpper(c) {
		return s
	}
	return string(unicode.ToUpper(c)) + s[size:]
}

// titleEmail capitalises the local part the way some people type it:
// "anna.schmidt@example.com" -> "Anna.Schmidt@example.com".
func titleEmail(e string) string {
	b := []byte(e)
	up := true
	for i, c := range b {
		if c == '@' {
			break
		}
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '.' || c == '_'
	}
	return string(b)
}
