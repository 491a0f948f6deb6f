package identity

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A prepared record keeps its values, and the extra attributes a run
// chooses to compare, as substrings of one string: each must read back as
// given, and the extra comparison must judge them.
func TestPreparedRecordsKeepTheirValuesAndExtras(t *testing.T) {
	withExtra := func(key, tier string, kv ...string) Entry {
		e := entry(key, "s", kv...)
		if tier != "" {
			e.Match.Extra = []Extra{{Name: "note", Value: "x"}, {Name: "tier", Value: tier}}
		}
		return e
	}
	set := NewEntries([]Entry{
		withExtra("a", "gold", anna...),
		withExtra("b", "gold", anna...),
		withExtra("c", "golden", anna...),
		withExtra("d", "bronze", anna...),
		withExtra("e", "", anna...),
	})
	comps := set.comparisons(nil)
	ti := -1
	for i, c := range comps {
		if c.name == "extra:tier" {
			ti = i
		}
	}
	if ti < 0 {
		t.Fatalf("extra:tier not compared: %d comparisons", len(comps))
	}
	r := &set.recs[0]
	n := entry("a", "s", anna...).Match
	for k, want := range map[int]string{
		vGiven: n.GivenName, vFamily: n.FamilyName, vEmail: n.Email, vEmailLocal: "anna",
		vPostcode: n.Postcode, vDob: "19800201", sYear: "1980", sFamilySx: Soundex(n.FamilyName),
	} {
		if got := r.s(k); got != want {
			t.Errorf("string %d = %q, want %q", k, got, want)
		}
	}
	if got := r.s(sExtra + ti - (cRegion + 1)); got != "gold" {
		t.Errorf("extra value %q, want gold", got)
	}
	level := func(a, b int) uint8 { return comps[ti].compare(&set.recs[a], &set.recs[b], pairContext{}) }
	for _, c := range []struct {
		a, b int
		want uint8
	}{{0, 1, 1}, {0, 2, 2}, {0, 3, 3}, {0, 4, 0}} {
		if got := level(c.a, c.b); got != c.want {
			t.Errorf("records %d and %d: extra level %d, want %d", c.a, c.b, got, c.want)
		}
	}
	// A run that compares no extra (a model without them) takes them away.
	set.comparisons(DefaultModel())
	if r.end[numStrings-1] != r.end[sExtra-1] {
		t.Error("extra values kept by a run that does not compare them")
	}
	// The raw extras went with the first choice (at ten million records
	// they take 0.6 GB): choosing them anew is refused, not done wrong.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("extras chosen anew after their raw values went")
			}
		}()
		set.comparisons(nil)
	}()
	// A value too long for a record is cut at a character boundary.
	long := entry("f", "s", "street="+strings.Repeat("ä", 40000))
	p := prepare(&long.Match, 0)
	if s := p.s(vStreet); len(s) > maxRecData || !strings.HasPrefix(long.Match.Street, s) || !utf8.ValidString(s) {
		t.Errorf("long value kept as %d bytes", len(s))
	}
}
