package demo

import (
	"bytes"
	"encoding/csv"
	"sort"
	"strconv"
	"testing"
	"time"
)

// The demo's interactions make a Pareto curve worth drawing: a fifth of
// the buyers bring well over half of the revenue; and they are attached
// to the people's own records.
func TestInteractionsHaveAParetoCurve(t *testing.T) {
	var customers bytes.Buffer
	if _, err := Generate(&customers, Options{People: 2000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st, err := Interactions(&out, bytes.NewReader(customers.Bytes()), InteractionOptions{Seed: 3, End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if st.ByType["order"] < 1000 || st.ByType["campaign_response"] == 0 || st.ByType["ticket"] == 0 || st.ByType["return"] == 0 {
		t.Fatalf("types: %v", st.ByType)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	spend := map[string]float64{}
	for _, row := range rows[1:] {
		if row[3] == "order" {
			a, _ := strconv.ParseFloat(row[6], 64)
			spend[row[11]] += a
		}
	}
	var values []float64
	total := 0.0
	for _, v := range spend {
		values = append(values, v)
		total += v
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(values)))
	top := 0.0
	for _, v := range values[:len(values)/5] {
		top += v
	}
	if share := top / total; share < 0.55 {
		t.Errorf("the top fifth of buyers bring %.0f%% of revenue: no Pareto curve", share*100)
	}
}

// Nothing happens after the history's end: a return of a late order is
// not written in the future, where an import would refuse it.
func TestInteractionsEndWhenTheHistoryDoes(t *testing.T) {
	var customers bytes.Buffer
	if _, err := Generate(&customers, Options{People: 3000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	if _, err := Interactions(&out, &customers, InteractionOptions{Seed: 1, End: end}); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(&out).ReadAll()
	for _, row := range rows[1:] {
		at, err := time.Parse(time.RFC3339, row[5])
		if err != nil || !at.Before(end) {
			t.Fatalf("%v at %s, after the end %s", row[3], row[5], end)
		}
	}
}
