package identity

import (
	"fmt"
	"strings"
	"time"
)

// DateOrder is how a date written with separators and a four-digit year last
// (01/02/1980) is read: day first (DMY, the European habit) or month first
// (MDY, the American one).
type DateOrder uint8

// The supported orders for ambiguous dates.
const (
	DMY DateOrder = iota
	MDY
)

// ParseDateOrder parses "DMY" or "MDY" (any case).
func ParseDateOrder(s string) (DateOrder, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DMY":
		return DMY, nil
	case "MDY":
		return MDY, nil
	}
	return 0, fmt.Errorf("date order %q: want DMY or MDY: %w", s, ErrInvalid)
}

// String returns "DMY" or "MDY".
func (o DateOrder) String() string {
	if o == MDY {
		return "MDY"
	}
	return "DMY"
}

// Date is a calendar date as written in a record. Its parts are kept even when
// they do not form a real date (31 February), so that matching can still
// compare them; Valid tells whether they do.
type Date struct {
	Year, Month, Day int
	Valid            bool
}

// IsZero reports whether no date was recognised.
func (d Date) IsZero() bool { return d.Year == 0 && d.Month == 0 && d.Day == 0 }

// ISO returns the date as YYYY-MM-DD, or "" when it is not a real date.
func (d Date) ISO() string {
	if !d.Valid {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// ParseDate reads a date in one of the common written forms: YYYY-MM-DD,
// YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD, DD/MM/YYYY (or MM/DD/YYYY with MDY),
// DD-MM-YYYY and DD.MM.YYYY, optionally followed by a time (which is
// ignored). ok is false when the text is not a date in any of those forms;
// when ok is true but the parts are impossible (1980-02-31, month 13) the
// returned Date has Valid == false and keeps the parts.
func ParseDate(s string, order DateOrder) (d Date, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "T "); i > 0 {
		s = s[:i] // 1980-02-01T00:00:00Z, 1980-02-01 00:00
	}
	var parts [3]int
	var widths [3]int
	n := 0
	sep := byte(0)
	for i := 0; i < len(s); {
		if n == 3 {
			return Date{}, false
		}
		j := i
		v := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			if j-i >= 8 {
				return Date{}, false
			}
			v = v*10 + int(s[j]-'0')
			j++
		}
		if j == i {
			return Date{}, false
		}
		parts[n], widths[n] = v, j-i
		n++
		if j == len(s) {
			break
		}
		c := s[j]
		if c != '-' && c != '/' && c != '.' {
			return Date{}, false
		}
		if sep == 0 {
			sep = c
		} else if c != sep {
			return Date{}, false
		}
		i = j + 1
		if i == len(s) {
			return Date{}, false
		}
	}
	switch {
	case n == 1 && widths[0] == 8: // YYYYMMDD
		v := parts[0]
		d = Date{Year: v / 10000, Month: v / 100 % 100, Day: v % 100}
	case n == 3 && widths[0] == 4 && widths[1] <= 2 && widths[2] <= 2: // YYYY-MM-DD
		d = Date{Year: parts[0], Month: parts[1], Day: parts[2]}
	case n == 3 && widths[2] == 4 && widths[0] <= 2 && widths[1] <= 2: // DD/MM/YYYY
		if order == MDY {
			d = Date{Year: parts[2], Month: parts[0], Day: parts[1]}
		} else {
			d = Date{Year: parts[2], Month: parts[1], Day: parts[0]}
		}
	default:
		return Date{}, false
	}
	d.Valid = realDate(d.Year, d.Month, d.Day)
	return d, true
}

// realDate reports whether y-m-d exists in the proleptic Gregorian calendar
// and lies in a plausible range for a birth date (years 1000 to 2999).
func realDate(y, m, d int) bool {
	if y < 1000 || y > 2999 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
