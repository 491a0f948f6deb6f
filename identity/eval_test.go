package identity

import (
	"path/filepath"
	"testing"
)

// TestAccuracyOnLabelledData holds the engine to its published targets, with
// its one default configuration, on the labelled development sets copied
// into testdata: trained without labels, resolved, measured.
func TestAccuracyOnLabelledData(t *testing.T) {
	targets := []struct {
		file string
		f1   float64 // pairwise F1 at least
	}{
		{"febrl3.csv", 0.995},            // Splink's best threshold: 0.9954
		{"splink_fake_1000.csv", 0.87},   // Splink's best: 0.862
		{"febrl_dsgen_C_5000.csv", 0.90}, // Christen's supervised SVM: 0.884
		{"febrl1.csv", 0.99},
		{"chicago_dev.csv", 0.85},        // real businesses, hand-labelled
		{"historical_50k_dev.csv", 0.88}, // Wikidata people with injected errors
	}
	for _, tc := range targets {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			entries, truth := loadLabelled(t, filepath.Join("..", "testdata", "datasets", tc.file))
			res, err := Resolve(entries, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := Evaluate(res.Profile, truth)
			t.Logf("%s: pairwise P %.4f R %.4f F1 %.4f, B-cubed F1 %.4f, %d comparisons", tc.file, m.Precision, m.Recall, m.F1, m.BCubedF1, res.Stats.Comparisons)
			if m.F1 < tc.f1 {
				t.Errorf("pairwise F1 %.4f, want at least %.3f", m.F1, tc.f1)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	// Truth: {0,1,2} {3}; predicted: {0,1} {2,3}.
	m := Evaluate([]int{7, 7, 9, 9}, []string{"a", "a", "a", "b"})
	if m.TruePairs != 3 || m.PredictedPairs != 2 || m.CorrectPairs != 1 {
		t.Fatalf("pairs %+v", m)
	}
	if m.Precision != 0.5 || m.Recall != 1.0/3 {
		t.Errorf("precision %v recall %v", m.Precision, m.Recall)
	}
	// B-cubed precision: records 0,1: 2/2; 2: 1/2; 3: 1/2 -> 0.75.
	if m.BCubedPrecision != 0.75 {
		t.Errorf("B-cubed precision %v", m.BCubedPrecision)
	}
}
