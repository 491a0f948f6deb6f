package demo

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// InteractionOptions shape the interactions written for a dataset's
// customers.
type InteractionOptions struct {
	Seed int64
	// Years is how far back the history goes (default 2), up to End
	// (default: the first of this month).
	Years int
	End   time.Time
	// Intensity scales how often people order and are in contact
	// (default 1: about four interactions per person; 2.5: about ten).
	Intensity float64
}

// InteractionStats count what was written.
type InteractionStats struct {
	Interactions int
	ByType       map[string]int
	Revenue      float64
}

// Interactions writes a history of contacts for the customers of a
// dataset written by Generate (read back from customers): for each person
// (entity_id) orders with a heavy-tailed value per person (a few spend
// most: a Pareto curve and a VIP tier mean something) and seasonality
// (more before Christmas), returns of some orders, tickets and calls with
// a satisfaction score, and responses to campaigns; each attached to the
// person's record in the department that keeps such contacts, with the
// truth (entity_id) in the last column.
func Interactions(w io.Writer, customers io.Reader, opts InteractionOptions) (InteractionStats, error) {
	st := InteractionStats{ByType: map[string]int{}}
	cr := csv.NewReader(customers)
	header, err := cr.Read()
	if err != nil {
		return st, fmt.Errorf("customers: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"source", "source_id", "entity_id"} {
		if _, ok := col[need]; !ok {
			return st, fmt.Errorf("customers: no column %s", need)
		}
	}
	// The first record of each person in each department.
	type person struct{ records map[string]string }
	people := map[string]*person{}
	var order []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("customers: %w", err)
		}
		id := rec[col["entity_id"]]
		p, ok := people[id]
		if !ok {
			p = &person{records: map[string]string{}}
			people[id] = p
			order = append(order, id)
		}
		if _, ok := p.records[rec[col["source"]]]; !ok {
			p.records[rec[col["source"]]] = rec[col["source_id"]]
		}
	}
	if opts.Years <= 0 {
		opts.Years = 2
	}
	if opts.Intensity <= 0 {
		opts.Intensity = 1
	}
	scaled := func(n int) int { return int(math.Round(float64(n) * opts.Intensity)) }
	end := opts.End
	if end.IsZero() {
		now := time.Now().UTC()
		end = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	start := end.AddDate(-opts.Years, 0, 0)
	span := end.Sub(start)
	r := rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x51ed27a0c1))
	cw := csv.NewWriter(w)
	cw.Write([]string{"source", "source_id", "record_source_id", "type", "channel", "occurred_at", "amount", "currency",
		"quantity", "satisfaction", "cost", "entity_id"})
	n := 0
	write := func(source, record, typ, channel string, at time.Time, amount float64, qty, sat int, cost float64, entity string) {
		n++
		row := []string{source, fmt.Sprintf("%s-%c%07d", source, typ[0], n), record, typ, channel, at.Format(time.RFC3339), "", "", "", "", "", entity}
		if amount != 0 {
			row[6], row[7] = fmt.Sprintf("%.2f", amount), "EUR"
			st.Revenue += amount
		}
		if qty > 0 {
			row[8] = fmt.Sprint(qty)
		}
		if sat > 0 {
			row[9] = fmt.Sprint(sat)
		}
		if cost > 0 {
			row[10] = fmt.Sprintf("%.2f", cost)
		}
		cw.Write(row)
		st.ByType[typ]++
	}
	// A moment in the history, with more weight in November and December.
	when := func() time.Time {
		for {
			t := start.Add(time.Duration(r.Float64() * float64(span)))
			if m := t.Month(); m == time.November || m == time.December || r.Float64() < 0.6 {
				return t.Truncate(time.Minute)
			}
		}
	}
	channels := []string{"web", "web", "web", "app", "store", "store", "phone"}
	for _, id := range order {
		p := people[id]
		// A person's spending: how often (a few buy often) and how much
		// (lognormal per order around a personal mean with a Pareto
		// tail).
		rate := math.Pow(r.Float64(), 3) * 14 * opts.Intensity
		mean := 25 * math.Pow(1-r.Float64(), -1/1.6)
		if sales, ok := p.records["sales"]; ok {
			orders := int(rate)
			if r.Float64() < rate-float64(orders) {
				orders++
			}
			// Most customers stop buying at some point (the dropout the
			// BG/NBD model estimates): their orders after it never come.
			gone := end
			if r.Float64() < 0.6 {
				gone = start.Add(time.Duration(r.Float64() * float64(span)))
			}
			for range orders {
				at := when()
				if at.After(gone) {
					continue
				}
				amount := math.Round(mean*math.Exp(r.NormFloat64()*0.5-0.125)*100) / 100
				ch := channels[r.IntN(len(channels))]
				write("sales", sales, "order", ch, at, amount, 1+r.IntN(3), 0, 0, id)
				if back := at.Add(time.Duration(2+r.IntN(20)) * 24 * time.Hour); r.Float64() < 0.08 && back.Before(end) {
					write("sales", sales, "return", ch, back, -amount, 1, 0, 0, id)
				}
			}
		}
		if support, ok := p.records["support"]; ok {
			for range scaled(r.IntN(4)) {
				typ, ch, cost := "ticket", "email", 4.0
				if r.Float64() < 0.4 {
					typ, ch, cost = "call", "call_centre", 9.5
				}
				if r.Float64() < 0.1 {
					typ = "complaint"
				}
				write("support", support, typ, ch, when(), 0, 0, 1+r.IntN(5), cost, id)
			}
		}
		if mkt, ok := p.records["marketing"]; ok {
			for range scaled(r.IntN(5)) {
				write("marketing", mkt, "campaign_response", "email", when(), 0, 0, 0, 0.05, id)
			}
		}
	}
	cw.Flush()
	st.Interactions = n
	return st, cw.Error()
}
