package crm

import (
	"regexp"
	"testing"
)

// FuzzNames: the hand-written checks of names and currency codes accept
// exactly what the regular expressions they replace accept.
func FuzzNames(f *testing.F) {
	name, currency := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`), regexp.MustCompile(`^[A-Z]{3}$`)
	for _, s := range []string{"", "a", "order", "call-centre", "a_1", "A", "1a", "_a", "a b", "é", "aé", "EUR", "eur", "EU", "EURO",
		"a\n", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isName(s), name.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := isCurrency(s), currency.MatchString(s); got != want {
			t.Errorf("isCurrency(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
