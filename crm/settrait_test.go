package crm

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestSetTraitReadsAsUnmarshal: every trait a condition may name, set from
// its stored JSON value, is what json.Unmarshal of the whole document
// gives, for plain values, escaped strings, nulls and nested ones.
func TestSetTraitReadsAsUnmarshal(t *testing.T) {
	docs := []Traits{
		{Interactions: 19, FirstContact: time.Date(2025, 2, 21, 1, 39, 0, 0, time.UTC), LastContact: time.Date(2026, 11, 21, 21, 49, 0, 0, time.UTC),
			TenureDays: 650, Orders: 7, Revenue: 158.29, AverageOrder: 22.61, CostToServe: 0.6, Satisfaction: 4.5,
			Channels: map[string]int{"app": 1, "web": 3}, RecencyDays: 23, Frequency: 6, RScore: 5, FScore: 3, MScore: 2, RFM: "532",
			PAlive: 0.9467, ExpectedPurchases: 3.4281, CLV: 80.49, Modelled: true, Lifecycle: "active", Tier: "vip"},
		{RecencyDays: -1, Channels: map[string]int{}, Lifecycle: `at "risk"\u00e9`, Tier: "none", Revenue: 1e21, CLV: -0.5},
	}
	for _, want := range docs {
		body, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var whole Traits
		if err := json.Unmarshal(body, &whole); err != nil {
			t.Fatal(err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatal(err)
		}
		var got Traits
		for _, v := range Variables {
			raw, ok := fields[v.Name]
			if !ok {
				continue
			}
			if err := got.SetTrait(v.Name, raw); err != nil {
				t.Fatalf("%s = %s: %v", v.Name, raw, err)
			}
		}
		for _, v := range Variables {
			idx, ok := traitFields()[v.Name]
			if !ok {
				continue // previous_stage: not stored
			}
			g, w := reflect.ValueOf(got).FieldByIndex(idx).Interface(), reflect.ValueOf(whole).FieldByIndex(idx).Interface()
			if _, there := fields[v.Name]; there && !reflect.DeepEqual(g, w) {
				t.Errorf("%s: set %#v, unmarshalled %#v", v.Name, g, w)
			}
		}
	}
	var n Traits
	for name, raw := range map[string]string{"orders": "null", "tier": "null", "modelled": "null"} {
		if err := n.SetTrait(name, []byte(raw)); err != nil {
			t.Errorf("%s = null: %v", name, err)
		}
	}
	if err := n.SetTrait("orders", []byte(`"seven"`)); err == nil {
		t.Error("a word for a count was accepted")
	}
	if err := n.SetTrait("modelled", []byte("t")); err == nil {
		t.Error(`"t" was accepted for true, which JSON does not write`)
	}
	if err := n.SetTrait("nonsense", []byte("1")); err == nil {
		t.Error("an unknown trait was accepted")
	}
}

// FuzzSetTrait: whatever the bytes, SetTrait sets a trait to what
// json.Unmarshal gives, and fails where it fails.
func FuzzSetTrait(f *testing.F) {
	for _, seed := range []string{"7", "-0", "+7", "007", "1.5", ".5", "5.", "1e3", "1E+2", "NaN", "Inf", "0x1p4", "1_000",
		`"vip"`, `"a\u00e9"`, "\"a\x01\"", "\"\xff\"", `"\"vip\" \"x\""`, "true", "false", "null", " 5", "[]", `{"web":1}`,
		`"2025-02-21T01:39:00Z"`} {
		f.Add(seed)
	}
	names := make([]string, 0, len(traitFields()))
	for name := range traitFields() {
		names = append(names, name)
	}
	slices.Sort(names)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, name := range names {
			var set, want Traits
			setErr := set.SetTrait(name, []byte(raw))
			field := reflect.ValueOf(&want).Elem().FieldByIndex(traitFields()[name])
			wantErr := json.Unmarshal([]byte(raw), field.Addr().Interface())
			if (setErr == nil) != (wantErr == nil) {
				t.Fatalf("%s = %q: SetTrait error %v, json.Unmarshal error %v", name, raw, setErr, wantErr)
			}
			if setErr == nil && !reflect.DeepEqual(set, want) {
				t.Fatalf("%s = %q: SetTrait gives %#v, json.Unmarshal %#v", name, raw,
					reflect.ValueOf(set).FieldByIndex(traitFields()[name]).Interface(), field.Interface())
			}
		}
	})
}
