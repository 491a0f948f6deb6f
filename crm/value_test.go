package crm

import (
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"testing"
)

func cdnow(t *testing.T) []History {
	t.Helper()
	f, err := os.Open("testdata/cdnow_sample_summary.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var hs []History
	for _, r := range rows[1:] {
		x, _ := strconv.Atoi(r[1])
		tx, _ := strconv.ParseFloat(r[2], 64)
		T, _ := strconv.ParseFloat(r[3], 64)
		z, _ := strconv.ParseFloat(r[4], 64)
		hs = append(hs, History{X: x, TX: tx, T: T, MeanPay: z})
	}
	return hs
}

// sig3 rounds to three significant figures.
func sig3(v float64) float64 {
	if v == 0 {
		return 0
	}
	d := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*d) / d
}

// The published parameters of the CDNOW sample (Fader, Hardie and Lee
// 2005; Fader and Hardie 2013), to three significant figures.
func TestCDNOWPublishedParameters(t *testing.T) {
	hs := cdnow(t)
	if len(hs) != 2357 {
		t.Fatalf("%d customers, want 2357", len(hs))
	}
	m, err := FitBGNBD(hs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"r", m.R, 0.243}, {"alpha", m.Alpha, 4.414}, {"a", m.A, 0.793}, {"b", m.B, 2.426}, {"log-likelihood", m.LogLik, -9582.4}} {
		if sig3(c.got) != sig3(c.want) {
			t.Errorf("BG/NBD %s = %.4f, published %.4f", c.name, c.got, c.want)
		}
	}
	t.Logf("BG/NBD: r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.1f", m.R, m.Alpha, m.A, m.B, m.LogLik)
	g, err := FitGammaGamma(hs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma: p=%.4f q=%.4f gamma=%.4f", g.P, g.Q, g.Gamma)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p", g.P, 6.25}, {"q", g.Q, 3.74}, {"gamma", g.Gamma, 15.44}} {
		if sig3(c.got) != sig3(c.want) {
			t.Errorf("Gamma-Gamma %s = %.4f, published %.4f", c.name, c.got, c.want)
		}
	}
}

// The grouped log-likelihood the fit uses equals the paper's, customer by
// customer, summed.
func TestGroupedLikelihoodIsThePapers(t *testing.T) {
	hs := cdnow(t)
	p := []float64{math.Log(0.3), math.Log(5), math.Log(0.8), math.Log(2.5)}
	want := 0.0
	for _, h := range hs {
		want -= bgnbdLogLik(0.3, 5, 0.8, 2.5, h)
	}
	if got := bgnbdNegLogLik(hs)(p); math.Abs(got-want) > 1e-6*math.Abs(want) {
		t.Errorf("grouped %.6f, per customer %.6f", got, want)
	}
}
