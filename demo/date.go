package demo

// date is a calendar date. It is deliberately not time.Time: the generator
// also writes impossible dates (31/02/1980) that time.Time cannot hold.
type date struct{ y, m, d int }

// asOf is the fixed "today" of every generation, so that output does not
// depend on the clock.
var asOf = date{2025, 6, 30}

// days returns the number of days since 1970-01-01 (proleptic Gregorian).
func (t date) days() int {
	y, m := t.y, t.m
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + t.d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// dateFromDays is the inverse of date.days.
func dateFromDays(z int) date {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return date{y, m, d}
}

func (t date) addDays(n int) date { return dateFromDays(t.days() + n) }

// dateLayout is how a department writes dates.
type dateLayout uint8

const (
	layoutISO     dateLayout = iota // 1984-07-03
	layoutDMY                       // 03/07/1984
	layoutCompact                   // 19840703
)

// goLayout is the time.Parse layout that reads a dateLayout; it is used by
// the tests and documents the formats.
func (l dateLayout) goLayout() string {
	switch l {
	case layoutDMY:
		return "2/1/2006"
	case layoutCompact:
		return "20060102"
	default:
		return "2006-01-02"
	}
}

// format writes the date in a layout. pad=false writes day and month
// without leading zeros where the layout allows it (3/7/1984).
func (t date) format(l dateLayout, pad bool) string {
	var buf [10]byte
	b := buf[:0]
	w := 2
	if !pad {
		w = 1
	}
	switch l {
	case layoutDMY:
		b = appendPadded(b, t.d, w)
		b = append(b, '/')
		b = appendPadded(b, t.m, w)
		b = append(b, '/')
		b = appendPadded(b, t.y, 4)
	case layoutCompact:
		b = appendPadded(b, t.y, 4)
		b = appendPadded(b, t.m, 2)
		b = appendPadded(b, t.d, 2)
	default:
		b = appendPadded(b, t.y, 4)
		b = append(b, '-')
		b = appendPadded(b, t.m, 2)
		b = append(b, '-')
		b = appendPadded(b, t.d, 2)
	}
	return string(b)
}
