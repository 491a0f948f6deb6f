package identity

import (
	"errors"
	"testing"
	"time"
)

func goldenInput(id, source string, prio int, at string, fields map[Field]string) GoldenInput {
	var r Record
	for f, v := range fields {
		r.Set(f, v)
	}
	t, _ := time.Parse(time.DateOnly, at)
	return GoldenInput{RecordID: id, Source: source, Priority: prio, UpdatedAt: t, Record: r}
}

func TestGolden(t *testing.T) {
	inputs := []GoldenInput{
		goldenInput("r1", "sales", 70, "2024-01-01", map[Field]string{GivenName: "Anna", Email: "old@example.com", Street: "1 Old Road", Postcode: "AB1 2CD", City: "Leeds"}),
		goldenInput("r2", "billing", 90, "2023-06-01", map[Field]string{GivenName: "ANNA", NationalID: "QQ123456C", FullName: "Anna Maria Schmidt", City: "York"}),
		goldenInput("r3", "support", 60, "2025-03-01", map[Field]string{GivenName: "Ana", Email: "new@example.com", Street: "9 New Street", NationalID: "QQ999999Z", FullName: "Anna Schmidt"}),
	}
	g := DefaultSurvivorship().Golden(inputs)
	want := map[string]struct{ value, record string }{
		"given_name":  {"ANNA", "r2"},               // most frequent ("anna" twice); tie to billing's priority
		"email":       {"new@example.com", "r3"},    // most recent
		"national_id": {"QQ123456C", "r2"},          // source priority
		"full_name":   {"Anna Maria Schmidt", "r2"}, // longest
		"street":      {"9 New Street", "r3"},       // the address as a unit from the most recent record with one
	}
	for attr, w := range want {
		if got := g[attr]; got.Value != w.value || got.RecordID != w.record {
			t.Errorf("%s = %q from %s, want %q from %s", attr, got.Value, got.RecordID, w.value, w.record)
		}
	}
	if _, ok := g["postcode"]; ok {
		t.Error("postcode survived from another record than the street: the address must come as a unit")
	}
	if g["email"].Rule != MostRecent || g["email"].Source != "support" || g["email"].RecordedAt.Year() != 2025 {
		t.Errorf("provenance %+v", g["email"])
	}
	// The outcome does not depend on record order.
	rev := []GoldenInput{inputs[2], inputs[0], inputs[1]}
	g2 := DefaultSurvivorship().Golden(rev)
	for attr := range g {
		if g[attr] != g2[attr] {
			t.Errorf("%s depends on record order: %+v vs %+v", attr, g[attr], g2[attr])
		}
	}
}

func TestParseSurvivorship(t *testing.T) {
	s, err := ParseSurvivorship([]byte(`{"email": "source_priority", "address": "longest"}`))
	if err != nil || s["email"] != SourcePriority || s["address"] != Longest || s["given_name"] != MostFrequent {
		t.Fatalf("ParseSurvivorship = %v, %v", s, err)
	}
	for _, bad := range []string{`{"email": "best"}`, `{"shoe_size": "longest"}`, `{"street": "longest"}`, `[]`} {
		if _, err := ParseSurvivorship([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSurvivorship(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}
