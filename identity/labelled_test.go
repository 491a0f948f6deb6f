package identity

import (
	"encoding/csv"
	"fmt"
	"os"
	"testing"
)

// loadLabelled reads a labelled CSV in the canonical format: entries with
// keys in file order, and the entity_id of each.
func loadLabelled(t *testing.T, path string) ([]Entry, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := rows[0]
	nz := Normalizer{DefaultRegion: "GB"}
	var entries []Entry
	var truth []string
	for i, row := range rows[1:] {
		var r Record
		for j, name := range h {
			switch name {
			case "source":
				r.Source = row[j]
			case "source_id":
				r.SourceID = row[j]
			case "entity_id":
				truth = append(truth, row[j])
			default:
				if f, ok := ParseField(name); ok {
					r.Set(f, row[j])
				} else if row[j] != "" {
					r.AddExtra(name, row[j])
				}
			}
		}
		entries = append(entries, Entry{Key: fmt.Sprintf("%09d", i), Source: r.Source, Match: nz.Normalize(&r.Attributes)})
	}
	return entries, truth
}
