package web

import (
	"fmt"
	"strings"
	"testing"
)

func TestWordDiff(t *testing.T) {
	got := string(wordDiff("We send a newsletter once a month.", "We send a newsletter <b>once</b> a week."))
	want := "We send a newsletter <del>once a month.</del><ins>&lt;b&gt;once&lt;/b&gt; a week.</ins>"
	if got != want {
		t.Errorf("wordDiff:\n got %s\nwant %s", got, want)
	}
}

// The web probe of 2026-12-04: a notice of more than 55,296 distinct words
// made the diff look up word U+FFFD (the surrogates are not runes a
// string holds) and the page failed.
func TestWordDiffOfANoticeOfManyWords(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 60000; i++ {
		fmt.Fprintf(&b, "w%d ", i)
	}
	old := b.String()
	got := string(wordDiff(old, old+"appended"))
	if !strings.HasSuffix(got, "<ins>appended</ins>") || !strings.Contains(got, "w59999 ") || !strings.Contains(got, "w55296 ") {
		t.Errorf("the diff of a long notice ends %q", got[max(0, len(got)-80):])
	}
}
