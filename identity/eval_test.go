package identity

import (
	"encoding/json"
	"path/filepath"
	"slices"
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

// A run whose candidate pairs do not fit MaxHeldPairs finds and compares
// them again to score them instead of holding them: the model it trains
// and the profiles, links, review pairs and refusals it makes are those of
// a run that holds them.
func TestStreamedPairsResolveAsHeld(t *testing.T) {
	entries, _ := loadLabelled(t, filepath.Join("..", "testdata", "datasets", "febrl_dsgen_C_5000.csv"))
	held, err := Resolve(entries, Options{})
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := Resolve(entries, Options{MaxHeldPairs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if held.Stats.Comparisons < 1000 || streamed.Stats.Comparisons != held.Stats.Comparisons {
		t.Fatalf("comparisons: held %d, streamed %d", held.Stats.Comparisons, streamed.Stats.Comparisons)
	}
	hm, _ := json.Marshal(held.Model.Comparisons)
	sm, _ := json.Marshal(streamed.Model.Comparisons)
	if string(hm) != string(sm) || held.Model.Prior != streamed.Model.Prior {
		t.Error("streamed pairs trained another model")
	}
	if !slices.Equal(held.Profile, streamed.Profile) || !slices.Equal(held.Links, streamed.Links) ||
		!slices.Equal(held.Review, streamed.Review) || !slices.Equal(held.Refused, streamed.Refused) {
		t.Errorf("streamed pairs resolved otherwise: %d/%d links, %d/%d review, %d/%d refused",
			len(streamed.Links), len(held.Links), len(streamed.Review), len(held.Review), len(streamed.Refused), len(held.Refused))
	}
}
