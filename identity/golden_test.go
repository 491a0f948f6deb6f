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
		"street":      {"1 Old Road", "r1"},         // the most complete address wins: r3's street alone is a fragment
		"postcode":    {"AB1 2CD", "r1"},            // the address as a unit
		"city":        {"Leeds", "r1"},
	}
	for attr, w := range want {
		if got := g[attr]; got.Value != w.value || got.RecordID != w.record {
			t.Errorf("%s = %q from %s, want %q from %s", attr, got.Value, got.RecordID, w.value, w.record)
		}
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

// A fragment of an address (a newsletter's country, a form's city) never
// wipes a whole one from the golden profile, however recent it is; among
// whole addresses the rule (most recent) decides.
func TestGoldenAddressIsTheBestWholeOne(t *testing.T) {
	inputs := []GoldenInput{
		goldenInput("sales", "sales", 70, "2024-01-01", map[Field]string{Street: "17 Quayside Lane", Postcode: "LS1 4AP", City: "Leeds", Country: "GB"}),
		goldenInput("marketing", "newsletter", 50, "2026-01-01", map[Field]string{Country: "GB"}),
		goldenInput("web", "web", 50, "2025-06-01", map[Field]string{City: "York"}),
	}
	g := DefaultSurvivorship().Golden(inputs)
	for _, f := range []string{"street", "postcode", "city", "country"} {
		if g[f].RecordID != "sales" {
			t.Errorf("%s = %q from %s: a fragment beat the whole address", f, g[f].Value, g[f].RecordID)
		}
	}
	moved := append(inputs, goldenInput("billing", "billing", 90, "2025-09-01", map[Field]string{Street: "2 Mill Row", City: "York"}))
	g = DefaultSurvivorship().Golden(moved)
	if g["street"].Value != "2 Mill Row" || g["city"].Value != "York" || g["postcode"].Value != "" {
		t.Errorf("the newer whole address: %+v %+v %+v", g["street"], g["city"], g["postcode"])
	}
}
