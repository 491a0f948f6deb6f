package dsr_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cdp-project/cdp/dsr"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAddMonthsAroundMonthEndsAndLeapYears(t *testing.T) {
	for _, c := range []struct {
		from   string
		months int
		want   string
	}{
		{"2026-01-15 09:30:00", 1, "2026-02-15 09:30:00"},
		{"2026-01-31 09:30:00", 1, "2026-02-28 09:30:00"}, // no 31 February
		{"2028-01-31 09:30:00", 1, "2028-02-29 09:30:00"}, // leap year
		{"2028-01-30 23:59:59", 1, "2028-02-29 23:59:59"},
		{"2100-01-31 00:00:00", 1, "2100-02-28 00:00:00"}, // not a leap year (century)
		{"2000-01-31 00:00:00", 1, "2000-02-29 00:00:00"}, // a leap year (400)
		{"2026-02-28 12:00:00", 1, "2026-03-28 12:00:00"}, // not the end of March
		{"2026-03-31 12:00:00", 1, "2026-04-30 12:00:00"},
		{"2026-12-31 12:00:00", 1, "2027-01-31 12:00:00"}, // year end
		{"2026-12-15 12:00:00", 2, "2027-02-15 12:00:00"},
		{"2026-11-30 12:00:00", 3, "2027-02-28 12:00:00"}, // extended by two months
		{"2027-11-30 12:00:00", 3, "2028-02-29 12:00:00"},
		{"2026-08-31 00:00:00", 1, "2026-09-30 00:00:00"},
	} {
		if got := dsr.AddMonths(day(c.from), c.months); !got.Equal(day(c.want)) {
			t.Errorf("%s + %d months = %s, want %s", c.from, c.months, got.Format(time.DateTime), c.want)
		}
	}
}

func TestDueStopsTheClockWhileIdentityIsVerified(t *testing.T) {
	received := day("2026-01-31 10:00:00")
	verified := day("2026-02-03 10:00:00") // three days waiting
	for _, c := range []struct {
		name      string
		verified  *time.Time
		extension int
		now       time.Time
		want      string
	}{
		{"verified at once", &received, 0, received, "2026-02-28 10:00:00"},
		{"three days waiting", &verified, 0, verified, "2026-03-03 10:00:00"},
		{"extended by two months", &received, 2, received, "2026-04-30 10:00:00"},
		{"still waiting: the clock has not run", nil, 0, day("2026-02-10 10:00:00"), "2026-03-10 10:00:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := dsr.Due(received, c.verified, c.extension, c.now); !got.Equal(day(c.want)) {
				t.Errorf("due %s, want %s", got.Format(time.DateTime), c.want)
			}
		})
	}
}

func TestOverdueAndExtensions(t *testing.T) {
	r := &dsr.Request{State: dsr.Verified, Due: day("2026-02-28 10:00:00")}
	if r.Overdue(day("2026-02-28 10:00:00")) || !r.Overdue(day("2026-02-28 10:00:01")) {
		t.Error("overdue is not 'after the deadline'")
	}
	r.State = dsr.Completed
	if r.Overdue(day("2027-01-01 00:00:00")) {
		t.Error("a completed request is overdue")
	}
	r.State = dsr.Received
	if r.Overdue(day("2027-01-01 00:00:00")) {
		t.Error("a request waiting for verification is overdue: its clock stands still")
	}
	r.State = dsr.InProgress
	reason := "the request covers twelve years of billing records"
	for _, c := range []struct {
		name   string
		months int
		reason string
		now    string
		want   error
	}{
		{"fine", 2, reason, "2026-02-20 00:00:00", nil},
		{"three months", 3, reason, "2026-02-20 00:00:00", dsr.ErrInvalid},
		{"no reason", 1, "", "2026-02-20 00:00:00", dsr.ErrInvalid},
		{"too late", 1, reason, "2026-03-01 00:00:00", dsr.ErrTransition},
	} {
		if err := dsr.CheckExtension(r, c.months, c.reason, day(c.now)); !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	r.ExtendedBy = 1
	if err := dsr.CheckExtension(r, 1, reason, day("2026-02-20 00:00:00")); !errors.Is(err, dsr.ErrTransition) {
		t.Errorf("second extension: %v", err)
	}
}

func TestTransitions(t *testing.T) {
	allowed := map[[2]dsr.State]bool{
		{dsr.Received, dsr.Verified}: true, {dsr.Received, dsr.Rejected}: true,
		{dsr.Verified, dsr.Approved}: true, {dsr.Verified, dsr.Rejected}: true,
		{dsr.Approved, dsr.InProgress}: true, {dsr.Approved, dsr.Failed}: true,
		{dsr.InProgress, dsr.Completed}: true, {dsr.InProgress, dsr.Failed}: true,
	}
	states := []dsr.State{dsr.Received, dsr.Verified, dsr.Approved, dsr.Rejected, dsr.InProgress, dsr.Completed, dsr.Failed}
	for _, from := range states {
		for _, to := range states {
			if got := dsr.CanMove(from, to); got != allowed[[2]dsr.State{from, to}] {
				t.Errorf("%s -> %s: %v", from, to, got)
			}
		}
	}
}
