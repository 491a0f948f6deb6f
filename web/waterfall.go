package web

import (
	"fmt"
	"math"

	"github.com/cdp-project/cdp/identity"
)

// waterfall draws how each comparison pushed a pair's match score up or
// down from the prior (bits of weight), as Splink shows it: one bar per
// step, from where the score was to where it went.
type waterfall struct {
	Width, Height int
	Rows          []waterfallRow
	Axis          int // x of zero bits
}

type waterfallRow struct {
	Label    string
	X, W, Y  int
	Positive bool
	Total    bool
	Value    string
}

func drawWaterfall(prior float64, cs []identity.Contribution) waterfall {
	type step struct {
		label    string
		from, to float64
		total    bool
	}
	steps := []step{{label: "prior", from: 0, to: prior}}
	at := prior
	for _, c := range cs {
		steps = append(steps, step{label: c.Comparison + ": " + c.Level, from: at, to: at + c.Bits})
		at += c.Bits
	}
	steps = append(steps, step{label: "total", from: 0, to: at, total: true})
	lo, hi := 0.0, 0.0
	for _, s := range steps {
		lo, hi = math.Min(lo, math.Min(s.from, s.to)), math.Max(hi, math.Max(s.from, s.to))
	}
	const left, span = 230, 300
	scale := span / math.Max(hi-lo, 1)
	x := func(v float64) int { return left + int((v-lo)*scale) }
	w := waterfall{Width: left + span + 80, Height: len(steps)*22 + 4, Axis: x(0)}
	for i, s := range steps {
		a, b := x(s.from), x(s.to)
		if a > b {
			a, b = b, a
		}
		value := fmt.Sprintf("%+.1f", s.to-s.from)
		if s.total {
			value = fmt.Sprintf("%.1f bits, p=%.3f", s.to, 1/(1+math.Exp2(-s.to)))
		}
		w.Rows = append(w.Rows, waterfallRow{Label: s.label, X: a, W: max(b-a, 1), Y: i * 22, Positive: s.to >= s.from, Total: s.total, Value: value})
	}
	return w
}
