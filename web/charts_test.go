package web

import (
	"testing"
	"time"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
)

// The charts count what they should where they should: requests by the
// month they arrived in, grants as a share of what was said.
func TestCharts(t *testing.T) {
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	rs := []dsr.Request{
		{Type: dsr.Erasure, ReceivedAt: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{Type: dsr.Access, ReceivedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Type: dsr.Access, ReceivedAt: time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC)},
		{Type: dsr.Access, ReceivedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, // too old: not drawn
	}
	c := requestsPerMonth(rs, now, func(t dsr.Type) string { return string(t) })
	if len(c.Columns) != 12 || c.Columns[11].Total != 2 || c.Columns[5].Total != 1 || c.Max != 2 {
		t.Errorf("per month: last %d, June %d, max %d", c.Columns[11].Total, c.Columns[5].Total, c.Max)
	}
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := consentRates([]consent.MonthCount{
		{Month: dec, Purpose: "marketing", State: consent.Granted, N: 3},
		{Month: dec, Purpose: "marketing", State: consent.Withdrawn, N: 1},
		{Month: dec, Purpose: "elsewhere", State: consent.Granted, N: 9},
	}, []string{"marketing", "analytics"}, now)
	if len(l.Lines) != 1 || l.Lines[0].Label != "marketing" || l.Lines[0].Last != "75%" {
		t.Errorf("rates: %+v", l.Lines)
	}
}
