package web

import (
	"fmt"
	"sort"
	"time"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
)

// The overview's charts, drawn on the server as SVG: people would rather
// look than read.

// monthsBack lists the first days of the last n months, oldest first.
func monthsBack(now time.Time, n int) []time.Time {
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.AddDate(0, i-n+1, 0)
	}
	return out
}

// stackChart is requests received per month, stacked by type.
type stackChart struct {
	Width, Height int
	Columns       []stackColumn
	Legend        []legendItem
	Max           int
}

type stackColumn struct {
	X     int
	Label string
	Parts []stackPart
	Total int
}

type stackPart struct {
	Y, H  int
	Class string
	Title string
}

type legendItem struct {
	X, Y  int
	Class string
	Label string
}

var requestTypes = []dsr.Type{dsr.Access, dsr.Portability, dsr.Rectification, dsr.Erasure, dsr.Restriction, dsr.Objection}

func requestsPerMonth(rs []dsr.Request, now time.Time, label func(dsr.Type) string) stackChart {
	months := monthsBack(now, 12)
	counts := make([]map[dsr.Type]int, len(months))
	for i := range counts {
		counts[i] = map[dsr.Type]int{}
	}
	for _, r := range rs {
		for i := len(months) - 1; i >= 0; i-- {
			if !r.ReceivedAt.Before(months[i]) {
				counts[i][r.Type]++
				break
			}
		}
	}
	c := stackChart{Width: 640, Height: 200}
	for _, m := range counts {
		t := 0
		for _, n := range m {
			t += n
		}
		c.Max = max(c.Max, t)
	}
	const top, plot = 10, 150
	for i, m := range months {
		col := stackColumn{X: 40 + i*48, Label: m.Format("Jan 06")}
		y := top + plot
		for j, t := range requestTypes {
			n := counts[i][t]
			col.Total += n
			if n == 0 || c.Max == 0 {
				continue
			}
			h := n * plot / c.Max
			y -= h
			col.Parts = append(col.Parts, stackPart{Y: y, H: max(h, 1), Class: fmt.Sprintf("s%d", j), Title: fmt.Sprintf("%s: %d", label(t), n)})
		}
		c.Columns = append(c.Columns, col)
	}
	for j, t := range requestTypes {
		c.Legend = append(c.Legend, legendItem{X: 40 + j%3*200, Y: 196 + j/3*18, Class: fmt.Sprintf("s%d", j), Label: label(t)})
	}
	return c
}

// lineChart is the share of grants among the statements about each
// consent purpose, month by month.
type lineChart struct {
	Width, Height int
	Lines         []chartLine
	Labels        []stackColumn
}

type chartLine struct {
	Class  string
	Label  string
	Points string
	Last   string
}

func consentRates(ms []consent.MonthCount, purposes []string, now time.Time) lineChart {
	months := monthsBack(now, 12)
	idx := map[time.Time]int{}
	for i, m := range months {
		idx[m] = i
	}
	type cell struct{ granted, all int }
	byPurpose := map[string][]cell{}
	for _, p := range purposes {
		byPurpose[p] = make([]cell, len(months))
	}
	for _, m := range ms {
		i, ok := idx[m.Month.UTC()]
		cells, known := byPurpose[m.Purpose]
		if !ok || !known {
			continue
		}
		cells[i].all += m.N
		if m.State == consent.Granted {
			cells[i].granted += m.N
		}
	}
	c := lineChart{Width: 640, Height: 200}
	const top, plot = 10, 150
	for i, m := range months {
		c.Labels = append(c.Labels, stackColumn{X: 40 + i*48, Label: m.Format("Jan 06")})
	}
	sort.Strings(purposes)
	for j, p := range purposes {
		line := chartLine{Class: fmt.Sprintf("s%d", j%6), Label: p}
		for i, cl := range byPurpose[p] {
			if cl.all == 0 {
				continue
			}
			share := float64(cl.granted) / float64(cl.all)
			line.Points += fmt.Sprintf("%d,%d ", 52+i*48, top+plot-int(share*plot))
			line.Last = fmt.Sprintf("%.0f%%", share*100)
		}
		if line.Points != "" {
			c.Lines = append(c.Lines, line)
		}
	}
	return c
}
