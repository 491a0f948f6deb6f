package crm

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"gonum.org/v1/gonum/mathext"
)

// Activity is one interaction as the profiler reads it: figures only,
// never the sealed attributes.
type Activity struct {
	Profile      uuid.UUID
	Type         string
	Channel      string
	At           time.Time
	Amount       float64 // 0 when none
	Cost         float64
	Satisfaction int // 0 when none
}

// Tally gathers the activities of many profiles, in any order.
type Tally struct {
	by map[uuid.UUID]*tally
}

type tally struct {
	interactions, orders, returns, tickets, complaints int
	first, last                                        time.Time
	revenue, returned, cost                            float64
	satSum, satN                                       int
	channels                                           map[string]int
	orderDays                                          []dayAmount
}

type dayAmount struct {
	day    int32 // days since the Unix epoch
	amount float64
}

// NewTally starts an empty tally.
func NewTally() *Tally { return newTally(0) }

// newTally starts an empty tally with room for n profiles.
func newTally(n int) *Tally { return &Tally{by: make(map[uuid.UUID]*tally, n)} }

// Len is the number of profiles tallied.
func (t *Tally) Len() int { return len(t.by) }

// Add counts one activity.
func (t *Tally) Add(a Activity) {
	s := t.by[a.Profile]
	if s == nil {
		s = &tally{channels: map[string]int{}}
		t.by[a.Profile] = s
	}
	s.interactions++
	if s.first.IsZero() || a.At.Before(s.first) {
		s.first = a.At
	}
	if a.At.After(s.last) {
		s.last = a.At
	}
	s.channels[a.Channel]++
	s.cost += a.Cost
	if a.Satisfaction > 0 {
		s.satSum += a.Satisfaction
		s.satN++
	}
	switch a.Type {
	case "order":
		s.orders++
		s.revenue += a.Amount
		s.orderDays = append(s.orderDays, dayAmount{int32(a.At.Unix() / 86400), a.Amount})
	case "return":
		s.returns++
		s.returned += a.Amount
	case "ticket":
		s.tickets++
	case "complaint":
		s.complaints++
	}
}

// Traits are what the profiler says of one profile: figures of its
// interactions, its value and its stage, as of a moment.
type Traits struct {
	Profile      uuid.UUID      `json:"-"`
	Interactions int            `json:"interactions"`
	FirstContact time.Time      `json:"first_contact"`
	LastContact  time.Time      `json:"last_contact"`
	TenureDays   int            `json:"tenure_days"`
	Orders       int            `json:"orders"`
	Revenue      float64        `json:"revenue"`
	AverageOrder float64        `json:"average_order_value"`
	Returns      int            `json:"returns"`
	Returned     float64        `json:"returned"`
	Tickets      int            `json:"tickets"`
	Complaints   int            `json:"complaints"`
	CostToServe  float64        `json:"cost_to_serve"`
	Satisfaction float64        `json:"satisfaction"` // mean of the scores given; 0 when none
	Channels     map[string]int `json:"channels"`
	// RecencyDays is the days since the last order (-1: no order).
	RecencyDays int `json:"recency_days"`
	// Frequency is the repeat purchases: days with an order after the
	// first.
	Frequency int    `json:"frequency"`
	RScore    int    `json:"r_score"` // quintiles, 5 best; 0 without an order
	FScore    int    `json:"f_score"`
	MScore    int    `json:"m_score"`
	RFM       string `json:"rfm"`
	// PAlive is the probability the customer still buys (BG/NBD);
	// ExpectedPurchases over the model's horizon; CLV is those purchases
	// times the expected value of one (Gamma-Gamma), undiscounted.
	PAlive            float64 `json:"p_alive"`
	ExpectedPurchases float64 `json:"expected_purchases"`
	CLV               float64 `json:"clv"`
	// Modelled: the value models were fitted (enough buyers) and gave
	// the three figures above.
	Modelled  bool   `json:"modelled,omitempty"`
	Lifecycle string `json:"lifecycle"`
	Tier      string `json:"tier"`

	history  History
	hasOrder bool
}

// Params are the figures of a full computation that incremental ones
// reuse.
type Params struct {
	BGNBD        *BGNBD      `json:"bgnbd,omitempty"`
	GammaGamma   *GammaGamma `json:"gamma_gamma,omitempty"`
	FittedOn     int         `json:"fitted_on"`
	HorizonWeeks float64     `json:"horizon_weeks"`
	Recency      []float64   `json:"recency_bounds"` // quintile bounds, ascending
	Frequency    []float64   `json:"frequency_bounds"`
	Monetary     []float64   `json:"monetary_bounds"`
	// VIPShare is the share of revenue the VIP tier brings; VIPRevenue
	// the least revenue of a VIP.
	VIPShare   float64 `json:"vip_share"`
	VIPRevenue float64 `json:"vip_revenue"`
	VIPs       int     `json:"vips"`
}

// Options of a computation.
type Options struct {
	AsOf time.Time
	// VIPShare of revenue the VIP tier brings (default 0.8).
	VIPShare float64
	// HorizonWeeks of the purchases and value predicted (default 52).
	HorizonWeeks float64
	// FitSample bounds the histories the models are fitted on (default
	// 20,000, drawn evenly).
	FitSample int
}

func (o *Options) defaults() {
	if o.VIPShare <= 0 || o.VIPShare >= 1 {
		o.VIPShare = 0.8
	}
	if o.HorizonWeeks <= 0 {
		o.HorizonWeeks = 52
	}
	if o.FitSample <= 0 {
		o.FitSample = 20000
	}
}

// Figures computes every profile's figures, without the population's
// (scores, predictions, tier): Fit and Score add those.
func (t *Tally) Figures(asOf time.Time) []Traits {
	out := make([]Traits, 0, len(t.by))
	asOfDay := int32(asOf.Unix() / 86400)
	for p, s := range t.by {
		tr := Traits{Profile: p, Interactions: s.interactions, FirstContact: s.first, LastContact: s.last,
			TenureDays: int(asOf.Sub(s.first).Hours() / 24), Orders: s.orders, Revenue: round2(s.revenue),
			Returns: s.returns, Returned: round2(s.returned), Tickets: s.tickets, Complaints: s.complaints,
			CostToServe: round2(s.cost), Channels: s.channels, RecencyDays: -1}
		if s.orders > 0 {
			tr.AverageOrder = round2(s.revenue / float64(s.orders))
		}
		if s.satN > 0 {
			tr.Satisfaction = math.Round(float64(s.satSum)/float64(s.satN)*100) / 100
		}
		if len(s.orderDays) > 0 {
			tr.hasOrder = true
			tr.history = history(s.orderDays, asOfDay)
			tr.Frequency = tr.history.X
			last := slices.MaxFunc(s.orderDays, func(a, b dayAmount) int { return int(a.day - b.day) })
			tr.RecencyDays = int(asOfDay - last.day)
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Profile[:]) < string(out[j].Profile[:]) })
	return out
}

// history builds the repeat-purchase history of orders the way the
// literature does: orders of one day are one transaction, the first is
// not a repeat, times in weeks.
func history(orders []dayAmount, asOf int32) History {
	slices.SortFunc(orders, func(a, b dayAmount) int { return int(a.day - b.day) })
	var days []dayAmount
	for _, o := range orders {
		if n := len(days); n > 0 && days[n-1].day == o.day {
			days[n-1].amount += o.amount
			continue
		}
		days = append(days, o)
	}
	h := History{X: len(days) - 1, T: float64(asOf-days[0].day) / 7}
	if h.X > 0 {
		h.TX = float64(days[len(days)-1].day-days[0].day) / 7
		sum := 0.0
		for _, d := range days[1:] {
			sum += d.amount
		}
		h.MeanPay = sum / float64(h.X)
	}
	if h.T < h.TX {
		h.T = h.TX
	}
	return h
}

// Fit fits the population's figures: the value models on (a sample of)
// the buyers' histories, the RFM quintiles and the VIP revenue.
func Fit(ts []Traits, o Options) Params {
	o.defaults()
	p := Params{HorizonWeeks: o.HorizonWeeks, VIPShare: o.VIPShare}
	var hs []History
	var rec, freq, mon, revenue []float64
	for i := range ts {
		if !ts[i].hasOrder {
			continue
		}
		hs = append(hs, ts[i].history)
		rec = append(rec, float64(ts[i].RecencyDays))
		freq = append(freq, float64(ts[i].Orders))
		mon = append(mon, ts[i].Revenue)
		if ts[i].Revenue > 0 {
			revenue = append(revenue, ts[i].Revenue)
		}
	}
	if len(hs) > o.FitSample {
		step := float64(len(hs)) / float64(o.FitSample)
		sample := make([]History, 0, o.FitSample)
		for i := 0; i < o.FitSample; i++ {
			sample = append(sample, hs[int(float64(i)*step)])
		}
		hs = sample
	}
	p.FittedOn = len(hs)
	if m, err := FitBGNBD(hs); err == nil {
		p.BGNBD = &m
	}
	if m, err := FitGammaGamma(hs); err == nil && m.Q > 1 {
		p.GammaGamma = &m
	}
	p.Recency, p.Frequency, p.Monetary = quintiles(rec), quintiles(freq), quintiles(mon)
	sort.Sort(sort.Reverse(sort.Float64Slice(revenue)))
	total := 0.0
	for _, r := range revenue {
		total += r
	}
	acc := 0.0
	for _, r := range revenue {
		acc += r
		p.VIPs++
		p.VIPRevenue = r
		if acc >= o.VIPShare*total {
			break
		}
	}
	return p
}

func quintiles(v []float64) []float64 {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	b := make([]float64, 4)
	for i := range b {
		b[i] = s[max((i+1)*len(s)/5-1, 0)]
	}
	return b
}

// Score adds the population's figures to one profile's: quintile scores,
// the value predictions and the tier.
func (p *Params) Score(t *Traits) {
	t.Tier = "none"
	if !t.hasOrder {
		return
	}
	above := func(bounds []float64, v float64) int {
		n := 0
		for _, b := range bounds {
			if v > b {
				n++
			}
		}
		return n
	}
	if len(p.Recency) == 4 {
		t.RScore = 5 - above(p.Recency, float64(t.RecencyDays))
		t.FScore = 1 + above(p.Frequency, float64(t.Orders))
		t.MScore = 1 + above(p.Monetary, t.Revenue)
		t.RFM = string([]byte{byte('0' + t.RScore), byte('0' + t.FScore), byte('0' + t.MScore)})
	}
	if m := p.BGNBD; m != nil {
		t.Modelled = true
		h := t.history
		t.PAlive = round4(m.PAlive(h))
		t.ExpectedPurchases = round4(m.Expected(h, p.HorizonWeeks))
		if g := p.GammaGamma; g != nil {
			t.CLV = round2(t.ExpectedPurchases * g.ExpectedSpend(h))
		}
	}
	switch {
	case t.Revenue > 0 && p.VIPRevenue > 0 && t.Revenue >= p.VIPRevenue:
		t.Tier = "vip"
	case t.Revenue > 0:
		t.Tier = "regular"
	}
}

// PAlive is the probability that a customer with history h is still
// active (Fader, Hardie and Lee 2005, eq. 11).
func (m *BGNBD) PAlive(h History) float64 {
	if h.X == 0 {
		return 1
	}
	x := float64(h.X)
	return 1 / (1 + m.A/(m.B+x-1)*math.Pow((m.Alpha+h.T)/(m.Alpha+h.TX), m.R+x))
}

// Expected is the number of purchases a customer with history h is
// expected to make in the next t weeks (eq. 10).
func (m *BGNBD) Expected(h History, t float64) float64 {
	x := float64(h.X)
	z := t / (m.Alpha + h.T + t)
	f := mathext.Hypergeo(m.R+x, m.B+x, m.A+m.B+x-1, z)
	num := (m.A + m.B + x - 1) / (m.A - 1) * (1 - math.Pow((m.Alpha+h.T)/(m.Alpha+h.T+t), m.R+x)*f)
	den := 1.0
	if h.X > 0 {
		den += m.A / (m.B + x - 1) * math.Pow((m.Alpha+h.T)/(m.Alpha+h.TX), m.R+x)
	}
	v := num / den
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return v
}

// ExpectedSpend is the expected value of one of a customer's future
// transactions given their repeat purchases (Fader and Hardie 2013).
func (g *GammaGamma) ExpectedSpend(h History) float64 {
	x := float64(h.X)
	return g.P * (g.Gamma + x*h.MeanPay) / (g.P*x + g.Q - 1)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
