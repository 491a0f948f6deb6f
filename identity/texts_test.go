package identity

import (
	"strconv"
	"testing"
)

func TestTextsKeepEveryTextAcrossBlocks(t *testing.T) {
	var ts texts
	ts.grow(10)
	want := make([]string, 0, 2*textsPerBlock+7)
	for i := range cap(want) {
		s := strconv.Itoa(i * 7919)
		if i%5 == 0 {
			s = "" // empty texts take no bytes, and still count
		}
		want = append(want, s)
		ts.add(s)
	}
	if ts.len() != len(want) {
		t.Fatalf("len = %d, want %d", ts.len(), len(want))
	}
	if len(ts.blocks) != 2 {
		t.Fatalf("%d full blocks, want 2", len(ts.blocks))
	}
	check := func() {
		t.Helper()
		for i, s := range want {
			if got := ts.at(i); got != s {
				t.Fatalf("text %d = %q, want %q", i, got, s)
			}
		}
	}
	check()
	ts.seal()
	check()
	if n := testing.AllocsPerRun(10, func() { _ = ts.at(len(want) - 1) }); n != 0 {
		t.Errorf("reading a sealed text: %v allocations", n)
	}
	// Texts added after a seal are read from the pending bytes again.
	for _, s := range []string{"after", "", "seal"} {
		want = append(want, s)
		ts.add(s)
	}
	check()
}
