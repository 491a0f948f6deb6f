package identity

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/cdp-project/cdp/internal/parallel"
)

// Entries is a set of records made ready for resolution. Add prepares each
// entry as it arrives and keeps a compact copy of its match keys, not its
// Normalized value, so that a caller reading millions of records (from a
// file or the store) holds each batch's normalised values only while the
// batch is added. The zero value is an empty set.
type Entries struct {
	keys     texts
	profiles texts
	recs     []rec
	sources  []string
	sourceIx map[string]int32
	// raw holds the extra attributes of the records that have any, until a
	// run chooses which of them to compare (at ten million records, 0.6
	// GB); fill counts records per name; chosen are the names the run
	// chose, once it has.
	raw    map[int32][]Extra
	fill   map[string]int
	chosen []string
	done   bool
}

// NewEntries returns a set holding the entries.
func NewEntries(entries []Entry) *Entries {
	s := &Entries{}
	s.Add(entries)
	return s
}

// Len returns the number of entries added.
func (s *Entries) Len() int { return len(s.recs) }

// Key returns the key of the i-th entry added.
func (s *Entries) Key(i int) string { return s.keys.at(i) }

// Grow makes room for n more entries, so that adding them in batches does
// not copy the set over and over.
func (s *Entries) Grow(n int) {
	s.keys.grow(n)
	s.profiles.grow(n)
	s.recs = slices.Grow(s.recs, n)
}

// Add prepares entries, on every core, and appends them to the set. It
// keeps nothing of the batch but the keys, sources, profiles and a copy of
// the match keys: the caller may reuse or drop the batch.
func (s *Entries) Add(batch []Entry) {
	if s.sourceIx == nil {
		s.sourceIx = map[string]int32{}
	}
	base := len(s.recs)
	ids := make([]int32, len(batch))
	for i := range batch {
		e := &batch[i]
		id, ok := s.sourceIx[e.Source]
		if !ok {
			id = int32(len(s.sources))
			s.sourceIx[e.Source] = id
			s.sources = append(s.sources, e.Source)
		}
		ids[i] = id
		s.keys.add(e.Key)
		s.profiles.add(e.Profile)
		if len(e.Match.Extra) > 0 {
			if s.raw == nil {
				s.raw, s.fill = map[int32][]Extra{}, map[string]int{}
			}
			s.raw[int32(base+i)] = e.Match.Extra
			for _, x := range e.Match.Extra {
				s.fill[x.Name]++
			}
		}
	}
	s.recs = append(s.recs, make([]rec, len(batch))...)
	parallel.Ranges(len(batch), runtime.GOMAXPROCS(0), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			s.recs[base+i] = prepare(&batch[i].Match, ids[i])
		}
	})
}

// comparisons returns the core comparisons plus one per extra attribute:
// those the model was trained with, or, for training, the extras present
// in at least 5% of the records (as many as fit). It sets every record's
// values of the extra comparisons.
func (s *Entries) comparisons(m *Model) []comparison {
	comps := coreComparisons()
	var extras []string
	if m != nil {
		for _, c := range m.Comparisons {
			if name, ok := strings.CutPrefix(c.Name, "extra:"); ok {
				comps = append(comps, extraComparison(name, len(extras)))
				extras = append(extras, name)
			}
		}
	} else {
		var names []string
		for name, n := range s.fill {
			if n*20 >= len(s.recs) {
				names = append(names, name)
			}
		}
		sort.Slice(names, func(i, j int) bool {
			if s.fill[names[i]] != s.fill[names[j]] {
				return s.fill[names[i]] > s.fill[names[j]]
			}
			return names[i] < names[j]
		})
		for _, name := range names[:min(len(names), max(0, maxComparisons-len(comps)))] {
			comps = append(comps, extraComparison(name, len(extras)))
			extras = append(extras, name)
		}
	}
	if s.done {
		// The records hold the extras chosen first and nothing else: they
		// can be taken away, not chosen anew (a set is resolved once).
		if slices.Equal(extras, s.chosen) {
			return comps
		}
		if len(extras) > 0 {
			panic(fmt.Sprintf("identity: entries prepared for extra comparisons %v, not %v", s.chosen, extras))
		}
		for i := range s.recs {
			s.recs[i].setExtras(nil)
		}
		s.chosen = nil
		return comps
	}
	for i := range s.recs {
		raw := s.raw[int32(i)]
		if len(extras) == 0 || len(raw) == 0 {
			s.recs[i].setExtras(nil)
			continue
		}
		vals := make([]string, len(extras))
		for k, name := range extras {
			for _, x := range raw {
				if x.Name == name {
					vals[k] = x.Value
					break
				}
			}
		}
		s.recs[i].setExtras(vals)
	}
	s.raw, s.chosen, s.done = nil, extras, true
	return comps
}
