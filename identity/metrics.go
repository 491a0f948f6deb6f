package identity

// Metrics measure a resolution against the truth: pairwise precision,
// recall and F1 over all pairs of records (a true pair the blocking missed
// counts as missed), and B-cubed precision, recall and F1, which weigh
// every record equally however large its profile.
type Metrics struct {
	Records         int     `json:"records"`
	TruePairs       int     `json:"true_pairs"`
	PredictedPairs  int     `json:"predicted_pairs"`
	CorrectPairs    int     `json:"correct_pairs"`
	Precision       float64 `json:"precision"`
	Recall          float64 `json:"recall"`
	F1              float64 `json:"f1"`
	BCubedPrecision float64 `json:"bcubed_precision"`
	BCubedRecall    float64 `json:"bcubed_recall"`
	BCubedF1        float64 `json:"bcubed_f1"`
}

// Evaluate compares predicted clusters with true ones; both give a label
// per record (equal labels: same cluster).
func Evaluate[P, T comparable](predicted []P, truth []T) Metrics {
	n := len(predicted)
	m := Metrics{Records: n}
	type cell struct {
		p P
		t T
	}
	predSize := map[P]int{}
	trueSize := map[T]int{}
	both := map[cell]int{}
	for i := range predicted {
		predSize[predicted[i]]++
		trueSize[truth[i]]++
		both[cell{predicted[i], truth[i]}]++
	}
	pairs := func(k int) int { return k * (k - 1) / 2 }
	for _, k := range predSize {
		m.PredictedPairs += pairs(k)
	}
	for _, k := range trueSize {
		m.TruePairs += pairs(k)
	}
	for _, k := range both {
		m.CorrectPairs += pairs(k)
	}
	m.Precision = ratio(m.CorrectPairs, m.PredictedPairs)
	m.Recall = ratio(m.CorrectPairs, m.TruePairs)
	m.F1 = harmonic(m.Precision, m.Recall)
	// B-cubed: for each record, the share of its predicted cluster that is
	// truly its own (precision) and of its true cluster that it was
	// predicted with (recall); averaged over records.
	var bp, br float64
	for c, k := range both {
		bp += float64(k) * float64(k) / float64(predSize[c.p])
		br += float64(k) * float64(k) / float64(trueSize[c.t])
	}
	if n > 0 {
		m.BCubedPrecision = bp / float64(n)
		m.BCubedRecall = br / float64(n)
	}
	m.BCubedF1 = harmonic(m.BCubedPrecision, m.BCubedRecall)
	return m
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func harmonic(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}
