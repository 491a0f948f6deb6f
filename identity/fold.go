package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// specialLetters are letters that Unicode decomposition does not reduce to a
// base letter plus marks, mapped to the ASCII spelling used in match keys.
var specialLetters = map[rune]string{
	'ß': "ss", 'ẞ': "ss",
	'æ': "ae", 'Æ': "ae",
	'œ': "oe", 'Œ': "oe",
	'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l",
	'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d",
	'þ': "th", 'Þ': "th",
	'ı': "i",
}

// Fold returns the match form of free text: Unicode NFKC, full case folding,
// accents removed, white space collapsed to single spaces and trimmed.
// Fold is idempotent: Fold(Fold(s)) == Fold(s).
func Fold(s string) string {
	if isASCII(s) {
		return foldASCII(s)
	}
	out := foldUnicode(strings.ToValidUTF8(s, ""))
	// Folding can produce characters that fold again (a compatibility form
	// that composes differently after accents are gone); settle them so that
	// Fold is idempotent. Folded ASCII is settled already ("Müller" gives
	// "muller"): foldUnicode lowered it and collapsed its spaces, all that
	// foldASCII would do.
	for range 3 {
		if isASCII(out) {
			break
		}
		next := foldUnicode(out)
		if next == out {
			break
		}
		out = next
	}
	return out
}

// foldUnicode is one pass of Fold for text that is not pure ASCII.
func foldUnicode(s string) string {
	s = cases.Fold().String(norm.NFKC.String(s))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // a combining mark: the accent of the previous letter
		case unicode.IsSpace(r) || r == 0:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if rep, ok := specialLetters[r]; ok {
			b.WriteString(rep)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// plainKey reports whether folded text is its own name key: ASCII letters
// and digits between single spaces, as Fold leaves them.
func plainKey(f string) bool {
	for i := 0; i < len(f); i++ {
		if c := f[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldASCII is Fold for ASCII input: lower case, white space collapsed.
func foldASCII(s string) string {
	clean := true
	prevSpace := true // a leading space is not clean
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpaceASCII(c) {
			if prevSpace || c != ' ' {
				clean = false
				break
			}
			prevSpace = true
			continue
		}
		if 'A' <= c && c <= 'Z' {
			clean = false
			break
		}
		prevSpace = false
	}
	if clean && (len(s) == 0 || s[len(s)-1] != ' ') {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpaceASCII(c) {
			space = len(b) > 0
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

func isSpaceASCII(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0
}

// NameKey returns the match form of a person's name: Fold, then punctuation
// dropped (o'brien -> obrien, st. -> st) and hyphens treated as spaces
// (jean-pierre -> jean pierre).
func NameKey(s string) string {
	f := Fold(s)
	if plainKey(f) {
		return f
	}
	var b strings.Builder
	b.Grow(len(f))
	space := false
	for _, r := range f {
		switch {
		case r == ' ' || r == '-' || r == '_' || r == '/' || r == ',':
			space = b.Len() > 0
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		default:
			continue // apostrophes, dots and other punctuation
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
