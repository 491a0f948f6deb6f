package ingest

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// maxReasonLines bounds how many example lines a summary keeps per reason.
const maxReasonLines = 5

// Summary counts what an import did.
type Summary struct {
	Created, Updated, Unchanged, Rejected, Suppressed int
	// Reasons groups rejections by reason, most frequent first when listed
	// with RejectReasons.
	Reasons map[string]*Reason
	// Fields names the canonical fields the created or updated records
	// carry (names, never values: what the audit log says was written).
	Fields  map[string]bool
	Elapsed time.Duration
}

// Reason is one cause of rejection with how often it occurred and the first
// lines where it did.
type Reason struct {
	Problem string `json:"problem"`
	Count   int    `json:"count"`
	Lines   []int  `json:"lines"`
}

func newSummary() Summary {
	return Summary{Reasons: make(map[string]*Reason), Fields: map[string]bool{}}
}

// Total is the number of records read.
func (s *Summary) Total() int { return s.Created + s.Updated + s.Unchanged + s.Rejected + s.Suppressed }

func (s *Summary) add(r Result) {
	switch r.Status {
	case StatusCreated:
		s.Created++
	case StatusUpdated:
		s.Updated++
	case StatusUnchanged:
		s.Unchanged++
	case StatusSuppressed:
		s.Suppressed++
	case StatusRejected:
		s.Rejected++
		for _, p := range r.Problems {
			key := p.String()
			rs, ok := s.Reasons[key]
			if !ok {
				rs = &Reason{Problem: key}
				s.Reasons[key] = rs
			}
			rs.Count++
			if len(rs.Lines) < maxReasonLines {
				rs.Lines = append(rs.Lines, r.Line)
			}
		}
	}
}

// RejectReasons lists the rejection reasons, most frequent first.
func (s *Summary) RejectReasons() []Reason {
	out := make([]Reason, 0, len(s.Reasons))
	for _, r := range s.Reasons {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Problem < out[j].Problem
	})
	return out
}

// Rate is the number of records handled per second.
func (s *Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Total()) / s.Elapsed.Seconds()
}

// Print writes the summary for people: counts, rate and rejection reasons
// with example lines. It names fields and lines, never values.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "%d records in %s (%.0f records/s): %d created, %d updated, %d unchanged, %d rejected\n",
		s.Total(), s.Elapsed.Round(time.Millisecond), s.Rate(), s.Created, s.Updated, s.Unchanged, s.Rejected)
	if s.Suppressed > 0 {
		fmt.Fprintf(w, "  suppressed %d× (people who were erased; lift a suppression with a new lawful basis)\n", s.Suppressed)
	}
	for _, r := range s.RejectReasons() {
		more := ""
		if r.Count > len(r.Lines) {
			more = ", ..."
		}
		fmt.Fprintf(w, "  rejected %d× %s (line %s%s)\n", r.Count, r.Problem, joinInts(r.Lines), more)
	}
}

func joinInts(v []int) string {
	s := ""
	for i, n := range v {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(n)
	}
	return s
}
