package web

import "testing"

func TestWordDiff(t *testing.T) {
	got := string(wordDiff("We send a newsletter once a month.", "We send a newsletter <b>once</b> a week."))
	want := "We send a newsletter <del>once a month.</del><ins>&lt;b&gt;once&lt;/b&gt; a week.</ins>"
	if got != want {
		t.Errorf("wordDiff:\n got %s\nwant %s", got, want)
	}
}
