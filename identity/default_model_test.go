package identity

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDefaultModel(t *testing.T) {
	if path := os.Getenv("CDP_WRITE_DEFAULT_MODEL"); path != "" {
		entries, _ := loadLabelled(t, path)
		m, _, err := Train(entries, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.Records = 0
		var core []ComparisonParams
		for _, c := range m.Comparisons {
			if strings.HasPrefix(c.Name, "extra:") {
				continue // extra attributes are particular to a store
			}
			core = append(core, c)
		}
		m.Comparisons = core
		m.TrainedAt = m.TrainedAt.Truncate(24 * 3600 * 1e9)
		data, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile("default_model.json", append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := DefaultModel()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range coreComparisons() {
		if _, ok := m.comparison(c.name); !ok {
			t.Errorf("the default model lacks comparison %s", c.name)
		}
	}
}
