package crm

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Customer value models of the customer-base literature, fitted by
// maximum likelihood with gonum's optimiser (no hand-rolled one).

// History is one customer's repeat-purchase history over a calibration
// period, in weeks: X repeat purchases, the last TX weeks after the
// first, T weeks from the first purchase to the period's end, and the
// mean value of the repeat purchases.
type History struct {
	X       int
	TX, T   float64
	MeanPay float64
}

// BGNBD is the beta-geometric/negative-binomial model (Fader, Hardie and
// Lee, "Counting your customers the easy way", 2005): purchases as a
// Poisson process of gamma(r, alpha) rates, each customer dropping out
// after a purchase with a beta(a, b) probability.
type BGNBD struct {
	R      float64 `json:"r"`
	Alpha  float64 `json:"alpha"`
	A      float64 `json:"a"`
	B      float64 `json:"b"`
	LogLik float64 `json:"log_likelihood"`
}

// ErrFit reports a fit that did not converge, or data it cannot fit.
var ErrFit = errors.New("the model could not be fitted")

// bgnbdLogLik is the log-likelihood of one history.
func bgnbdLogLik(r, alpha, a, b float64, h History) float64 {
	x := float64(h.X)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	lnA1 := lg(r+x) - lg(r) + r*math.Log(alpha)
	lnA2 := lg(a+b) + lg(b+x) - lg(b) - lg(a+b+x)
	lnA3 := -(r + x) * math.Log(alpha+h.T)
	if h.X == 0 {
		return lnA1 + lnA2 + lnA3
	}
	lnA4 := math.Log(a) - math.Log(b+x-1) - (r+x)*math.Log(alpha+h.TX)
	// ln(e^A3 + e^A4), stably.
	m := math.Max(lnA3, lnA4)
	return lnA1 + lnA2 + m + math.Log(math.Exp(lnA3-m)+math.Exp(lnA4-m))
}

// FitBGNBD fits the BG/NBD model to customers' histories.
func FitBGNBD(hs []History) (BGNBD, error) {
	if len(hs) < 2 {
		return BGNBD{}, fmt.Errorf("%d histories: %w", len(hs), ErrFit)
	}
	negLL := bgnbdNegLogLik(hs)
	p, ll, err := minimise(negLL, []float64{0, 0, 0, 0})
	if err != nil {
		return BGNBD{}, err
	}
	return BGNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), A: math.Exp(p[2]), B: math.Exp(p[3]), LogLik: -ll}, nil
}

// bgnbdNegLogLik is the negative log-likelihood of histories as a
// function of the log-parameters. The gamma-function terms depend on a
// customer only through x, so they are computed once per distinct x: a
// customer costs two logarithms and an exponential per evaluation, not
// five log-gammas (what the optimiser's thousands of evaluations spend
// their time on).
func bgnbdNegLogLik(hs []History) func([]float64) float64 {
	maxX := 0
	for _, h := range hs {
		maxX = max(maxX, h.X)
	}
	perX := make([]float64, maxX+1)
	a4 := make([]float64, maxX+1)
	return func(p []float64) float64 {
		r, alpha, a, b := math.Exp(p[0]), math.Exp(p[1]), math.Exp(p[2]), math.Exp(p[3])
		lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
		base := -lg(r) + r*math.Log(alpha) + lg(a+b) - lg(b)
		for x := range perX {
			fx := float64(x)
			perX[x] = base + lg(r+fx) + lg(b+fx) - lg(a+b+fx)
			if x > 0 {
				a4[x] = math.Log(a) - math.Log(b+fx-1)
			}
		}
		s := 0.0
		for _, h := range hs {
			rx := r + float64(h.X)
			l3 := -rx * math.Log(alpha+h.T)
			if h.X == 0 {
				s += perX[0] + l3
				continue
			}
			l4 := a4[h.X] - rx*math.Log(alpha+h.TX)
			m, d := l3, l4-l3
			if d > 0 {
				m, d = l4, -d
			}
			s += perX[h.X] + m + math.Log1p(math.Exp(d))
		}
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return math.Inf(1)
		}
		return -s
	}
}

// GammaGamma is the spend model (Fader and Hardie, "The Gamma-Gamma model
// of monetary value", 2013): each customer's transaction values gamma(p,
// nu) around a personal nu drawn from gamma(q, gamma).
type GammaGamma struct {
	P      float64 `json:"p"`
	Q      float64 `json:"q"`
	Gamma  float64 `json:"gamma"`
	LogLik float64 `json:"log_likelihood"`
}

// FitGammaGamma fits the spend model to the customers with at least one
// repeat purchase.
func FitGammaGamma(hs []History) (GammaGamma, error) {
	var rep []History
	for _, h := range hs {
		if h.X > 0 && h.MeanPay > 0 {
			rep = append(rep, h)
		}
	}
	if len(rep) < 2 {
		return GammaGamma{}, fmt.Errorf("%d repeat buyers: %w", len(rep), ErrFit)
	}
	// Terms depending on a customer only through x are computed once per
	// distinct x, logarithms of the data once.
	maxX := 0
	logM := make([]float64, len(rep))
	for i, h := range rep {
		maxX = max(maxX, h.X)
		logM[i] = math.Log(h.MeanPay)
	}
	perX := make([]float64, maxX+1)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	negLL := func(v []float64) float64 {
		p, q, g := math.Exp(v[0]), math.Exp(v[1]), math.Exp(v[2])
		base := -lg(q) + q*math.Log(g)
		for x := 1; x <= maxX; x++ {
			fx := float64(x)
			perX[x] = base + lg(p*fx+q) - lg(p*fx) + p*fx*math.Log(fx)
		}
		s := 0.0
		for i, h := range rep {
			x, m := float64(h.X), h.MeanPay
			s += perX[h.X] + (p*x-1)*logM[i] - (p*x+q)*math.Log(g+m*x)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return math.Inf(1)
		}
		return -s
	}
	v, ll, err := minimise(negLL, []float64{0, 0, 0})
	if err != nil {
		return GammaGamma{}, err
	}
	return GammaGamma{P: math.Exp(v[0]), Q: math.Exp(v[1]), Gamma: math.Exp(v[2]), LogLik: -ll}, nil
}

// minimise finds the minimum of f from x0: Nelder-Mead (no gradient to
// get wrong), then BFGS on a numerical gradient to polish.
func minimise(f func([]float64) float64, x0 []float64) ([]float64, float64, error) {
	p := optimize.Problem{Func: f}
	res, err := optimize.Minimize(p, x0, &optimize.Settings{MajorIterations: 20000}, &optimize.NelderMead{})
	if err != nil && res == nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrFit, err)
	}
	p.Grad = func(grad, x []float64) {
		const h = 1e-6
		xx := append([]float64(nil), x...)
		for i := range x {
			xx[i] = x[i] + h
			up := f(xx)
			xx[i] = x[i] - h
			down := f(xx)
			xx[i] = x[i]
			grad[i] = (up - down) / (2 * h)
		}
	}
	if polished, err := optimize.Minimize(p, res.X, nil, &optimize.BFGS{}); err == nil && polished.F <= res.F {
		res = polished
	}
	if math.IsInf(res.F, 0) || math.IsNaN(res.F) {
		return nil, 0, ErrFit
	}
	return res.X, res.F, nil
}
