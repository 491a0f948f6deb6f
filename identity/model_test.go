package identity

import "testing"

// A pair's score is the prior's weight and its comparisons' weights, and
// Explain says which comparison gave what.
func TestExplainSumsToTheScore(t *testing.T) {
	m := DefaultModel()
	levels := map[string]string{}
	for _, c := range m.Comparisons {
		levels[c.Name] = c.Levels[0].Name
	}
	prior, cs := m.Explain(levels)
	if len(cs) != len(m.Comparisons) {
		t.Fatalf("%d contributions for %d comparisons", len(cs), len(m.Comparisons))
	}
	sum := prior
	for _, c := range cs {
		if c.Comparison == "" || c.Level == "" {
			t.Errorf("unnamed contribution %+v", c)
		}
		sum += c.Bits
	}
	if sum <= prior {
		t.Errorf("the first levels (the strongest agreement) should push the score up: %.2f from %.2f", sum, prior)
	}
	if _, none := m.Explain(map[string]string{"no such": "x"}); len(none) != 0 {
		t.Errorf("levels of unknown comparisons contribute: %v", none)
	}
}
