package identity

import (
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Entry is one source record as resolution sees it.
type Entry struct {
	// Key identifies the record and is stable (its id). A profile is named
	// after its oldest record: the smallest key.
	Key    string
	Source string
	Match  Normalized
	// Profile is the profile the record belonged to before this run ("":
	// none). Links inside a previous profile are made first, so that when
	// guards force a choice (a source with one record per person), the
	// record that was there keeps its place and a newcomer does not push it
	// out.
	Profile string
}

// SourceRules are what a source promises about its records.
type SourceRules struct {
	// UniqueRecords: the source holds at most one record per person, so two
	// of its records never belong to one profile.
	UniqueRecords bool
	// UniqueIdentifiers lists identifiers ("email", "phone",
	// "national_id") that the source has verified: a profile may not hold
	// two different values of one of them from such sources.
	UniqueIdentifiers []string
	// LinkByIdentifierOnly: the source's records link only by a shared
	// identifier (the deterministic rules) or a steward's decision; a
	// probabilistic match, however strong, goes to review.
	LinkByIdentifierOnly bool
}

// Constraint is a data steward's decision about two records: the same
// person (must-link) or not (cannot-link). Every run respects it.
type Constraint struct {
	A, B string // record keys
	Same bool
}

// Options configure a resolution.
type Options struct {
	// Model scores the pairs; nil trains one on the entries first.
	Model *Model
	// Sources holds the rules of each source by name.
	Sources map[string]SourceRules
	// Constraints are steward decisions.
	Constraints []Constraint
	// Limits bounds the distinct values of an identifier one profile may
	// hold (default: DefaultLimits).
	Limits map[string]int
	// Workers is the number of goroutines (default GOMAXPROCS).
	Workers int
	// MaxBlock is the largest block whose records are compared pairwise
	// (default 500); larger blocks are too common to tell anything.
	MaxBlock int
	// MaxHeldPairs is how many candidate pairs the run holds between
	// finding and scoring them (default 33,554,432: 512 MB); with more,
	// it finds and compares them again to score them instead, so that its
	// memory does not grow with their number. The outcome is the same.
	MaxHeldPairs int
	// NoTermFrequencies scores exact agreement with the model's average
	// weight instead of by how rare the value is among the entries: for
	// resolving a small neighbourhood of records, whose value frequencies
	// say nothing about the whole population.
	NoTermFrequencies bool
}

// DefaultLimits are the most distinct values of each identifier a profile
// may hold: more is the mark of people welded together, not of one person.
var DefaultLimits = map[string]int{"email": 10, "phone": 10, "national_id": 10}

// Link joins two records, with the evidence for it.
type Link struct {
	A, B        int32   // entry indexes
	Probability float64 // match probability from the model
	Rule        string  // "" probabilistic; "email", "phone", "national_id": deterministic; "steward": a must-link
}

// Refusal is a link that scored high enough but was not made, and why.
type Refusal struct {
	Link
	Reason string
}

// Resolution is the outcome of resolving a set of records.
type Resolution struct {
	Model *Model
	// Profile gives each entry's profile, as the index of the profile's
	// anchor entry (the smallest key among its records).
	Profile []int32
	// Links are the links that joined records into profiles.
	Links []Link
	// Review lists pairs a data steward should decide: they scored between
	// the review and link thresholds and ended in different profiles.
	Review []Link
	// Refused lists links the guards refused.
	Refused []Refusal
	Stats   Stats

	recs  []rec
	comps []comparison
	named *namedComparisons
}

// Levels explains a pair: the level name of every comparison that could
// tell something (both records had the values). It names levels, never
// values.
func (r *Resolution) Levels(a, b int32) map[string]string { return r.Explain(a, b).Map() }

// Explain is Levels in 16 bytes, for holding many: a run of ten million
// records puts about three million pairs up for review, and as maps their
// levels took about 600 bytes each.
func (r *Resolution) Explain(a, b int32) Explanation {
	return Explanation{pattern: compareAll(&r.recs[a], &r.recs[b], r.comps), comps: r.named}
}

type namedComparisons struct{ comps []comparison }

// Explanation names the level of every comparison of a pair that could
// tell something. Its JSON form is the object Map returns.
type Explanation struct {
	pattern uint64
	comps   *namedComparisons
}

// Map returns the level name of each comparison by its name.
func (e Explanation) Map() map[string]string {
	out := map[string]string{}
	if e.comps == nil {
		return out
	}
	for ci, c := range e.comps.comps {
		if l := e.pattern >> (4 * ci) & 0xF; l != 0 {
			out[c.name] = c.levels[l-1]
		}
	}
	return out
}

// MarshalJSON encodes the levels as a JSON object.
func (e Explanation) MarshalJSON() ([]byte, error) { return json.Marshal(e.Map()) }

// Stats describe the work a resolution did.
type Stats struct {
	Records       int     `json:"records"`
	Comparisons   int     `json:"comparisons"`    // candidate pairs compared
	RandomPairs   int     `json:"random_pairs"`   // pairs compared to estimate u (0 with a given model)
	SkippedBlocks int     `json:"skipped_blocks"` // blocks too large to compare
	Profiles      int     `json:"profiles"`
	Seconds       float64 `json:"seconds"`
	TrainSeconds  float64 `json:"train_seconds"` // of Seconds, training the model (0 with a given model)
}

// minTermFrequencyRecords is how many records value frequencies need to
// mean something; with fewer, exact agreement weighs the model's average.
const minTermFrequencyRecords = 1000

// run is the prepared state shared by training and resolving.
type run struct {
	recs     []rec
	sources  []string
	comps    []comparison
	tf       []termFrequencies
	shared   map[string]map[string]bool
	blk      *blocks
	pairs    *candidatePairs
	workers  int
	maxBlock int
	maxHeld  int
	start    time.Time
}

func newRun(set *Entries, opts Options, model *Model) (*run, error) {
	r := &run{start: time.Now(), workers: opts.Workers, maxBlock: opts.MaxBlock}
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	if r.maxBlock <= 0 {
		r.maxBlock = 500
	}
	if r.maxHeld = opts.MaxHeldPairs; r.maxHeld <= 0 {
		r.maxHeld = maxHeldPairs
	}
	r.comps = set.comparisons(model)
	r.recs, r.sources = set.recs, set.sources
	set.keys.seal()
	set.profiles.seal()
	if len(r.comps) > maxComparisons {
		return nil, fmt.Errorf("%d comparisons, at most %d fit: %w", len(r.comps), maxComparisons, ErrInvalid)
	}
	r.tf = countTerms(r.recs, r.comps)
	r.shared = sharedIdentifiers(r.recs)
	// Generic identifiers block nothing; shared ones still block (a shared
	// office line may be one person's), they only never link by rule.
	var err error
	r.blk, err = buildBlocks(r.recs, defaultBlocking(), r.maxBlock, func(rule string, _ *rec, key string) bool {
		return GenericIdentifier(rule, key)
	})
	if err != nil {
		return nil, err
	}
	r.pairs = r.blk.candidates(r.recs, r.comps, r.maxHeld, r.workers)
	return r, nil
}

func (r *run) train() (*Model, int) {
	return train(r.recs, r.comps, r.tf, r.pairs, r.blk, r.workers)
}

// Train estimates a model from the entries (see the package's training
// notes in train.go) without resolving them.
func Train(entries []Entry, opts Options) (*Model, Stats, error) {
	return NewEntries(entries).Train(opts)
}

// Train estimates a model from the set's entries without resolving them.
func (set *Entries) Train(opts Options) (*Model, Stats, error) {
	r, err := newRun(set, opts, nil)
	if err != nil {
		return nil, Stats{}, err
	}
	m, samples := r.train()
	return m, Stats{
		Records: set.Len(), Comparisons: r.pairs.n, RandomPairs: samples,
		SkippedBlocks: r.blk.skipped, Seconds: time.Since(r.start).Seconds(),
	}, nil
}

// Resolve links the entries into profiles, training a model on them first
// when opts.Model is nil.
func Resolve(entries []Entry, opts Options) (*Resolution, error) {
	return NewEntries(entries).Resolve(opts)
}

// Resolve links the set's entries into profiles, training a model on them
// first when opts.Model is nil. Resolution.Profile and the links index the
// entries in the order they were added.
func (set *Entries) Resolve(opts Options) (*Resolution, error) {
	r, err := newRun(set, opts, opts.Model)
	if err != nil {
		return nil, err
	}
	recs, comps, pairs, shared := r.recs, r.comps, r.pairs, r.shared
	// The comparisons' names in an allocation of their own: a pointer into
	// the Resolution would keep its records alive with any explanation.
	res := &Resolution{Model: opts.Model, recs: recs, comps: comps, named: &namedComparisons{comps}}
	res.Stats.Records = set.Len()
	res.Stats.Comparisons = pairs.n
	res.Stats.SkippedBlocks = r.blk.skipped
	if res.Model == nil {
		t := time.Now()
		res.Model, res.Stats.RandomPairs = r.train()
		res.Stats.TrainSeconds = time.Since(t).Seconds()
	}
	r.blk = nil // the blocks served candidates and training; their memory goes
	if err := res.Model.Validate(); err != nil {
		return nil, err
	}
	tf := r.tf
	if opts.NoTermFrequencies || set.Len() < minTermFrequencyRecords {
		tf = make([]termFrequencies, len(comps))
	}
	sc, err := newScorer(res.Model, comps, tf)
	if err != nil {
		return nil, err
	}

	// Score every candidate; keep those that may link or need review.
	idents := identifierComparisons(comps)
	guardGiven := givenNamesReliable(res.Model)
	reviewBits := bitsOf(res.Model.ReviewThreshold)
	linkBits := bitsOf(res.Model.LinkThreshold)
	identifierOnly, anyIdentifierOnly := make([]bool, len(r.sources)), false
	for si, name := range r.sources {
		identifierOnly[si] = opts.Sources[name].LinkByIdentifierOnly
		anyIdentifierOnly = anyIdentifierOnly || identifierOnly[si]
	}
	// Strongest evidence first: steward decisions (applied below), links
	// inside previous profiles, rules, then scores; ties in the order of
	// the records' keys. Each edge's place is computed once: comparing keys
	// (record ids as strings) inside the sort cost 3.9 s of CPU on
	// 1,000,000 records.
	rank := keyRanks(&set.keys)
	place := func(e edge) edge {
		if p := set.profiles.at(int(e.a)); p != "" && p == set.profiles.at(int(e.b)) {
			e.class |= 2
		}
		if e.rule != 0 {
			e.class |= 1
		}
		e.lo, e.hi = rank[e.a], rank[e.b]
		if e.lo > e.hi {
			e.lo, e.hi = e.hi, e.lo
		}
		return e
	}
	classify := func(p pair, bits float64) (edge, bool) {
		e := edge{a: p.a, b: p.b, bits: bits}
		if anyIdentifierOnly && (identifierOnly[recs[p.a].source] || identifierOnly[recs[p.b].source]) {
			if rule := deterministicRule(recs, p, sc, idents, shared); rule >= 0 {
				e.rule = uint8(rule + 1)
				return e, true
			}
			e.review = true
			return e, bits >= reviewBits
		}
		if bits < linkBits {
			if rule := deterministicRule(recs, p, sc, idents, shared); rule >= 0 {
				e.rule = uint8(rule + 1)
				return e, true
			}
		} else if guardGiven && !personEvidence(recs, p, sc, idents, shared) {
			e.review = true
		}
		return e, bits >= reviewBits
	}
	scored := scorePairs(recs, pairs, sc, func(p pair, bits float64) (edge, bool) {
		e, ok := classify(p, bits)
		if ok {
			e = place(e)
		}
		return e, ok
	})

	c := newClusters(recs, &set.keys, r.sources, opts, sc)
	if guardGiven {
		c.household = func(p pair) bool { return household(recs, p, sc, idents, shared) }
	}
	// Only the keys the constraints name: a map of every key would take
	// 0.4 GB at ten million records, for a handful of decisions.
	keyIndex := make(map[string]int32, 2*len(opts.Constraints))
	for _, k := range opts.Constraints {
		keyIndex[k.A], keyIndex[k.B] = -1, -1
	}
	if len(keyIndex) > 0 {
		for i := range set.keys.len() {
			if _, ok := keyIndex[set.keys.at(i)]; ok {
				keyIndex[set.keys.at(i)] = int32(i)
			}
		}
		maps.DeleteFunc(keyIndex, func(_ string, i int32) bool { return i < 0 })
	}
	if err := c.addConstraints(opts.Constraints, keyIndex); err != nil {
		return nil, err
	}
	// The review band's pairs are kept in order as they come, and those
	// whose records ended in one profile anyway dropped after.
	scored.inOrder(func(e *edge) {
		l := Link{A: e.a, B: e.b, Probability: probability(e.bits)}
		if e.rule != 0 {
			l.Rule = comps[e.rule-1].name
		} else if e.bits < linkBits || e.review {
			res.Review = append(res.Review, l)
			return
		}
		switch ok, reason := c.merge(e.a, e.b); {
		case ok:
			res.Links = append(res.Links, l)
		case reason != "":
			res.Refused = append(res.Refused, Refusal{Link: l, Reason: reason})
		}
	})
	res.Review = slices.DeleteFunc(res.Review, func(l Link) bool { return c.find(l.A) == c.find(l.B) })
	res.Links = append(c.mustLinks, res.Links...)
	res.Profile = c.anchors()
	res.Stats.Profiles = c.count()
	res.Stats.Seconds = time.Since(r.start).Seconds()
	return res, nil
}

// keyRanks returns each key's position in the order of the keys.
func keyRanks(keys *texts) []int32 {
	order := make([]int32, keys.len())
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return strings.Compare(keys.at(int(x)), keys.at(int(y))) })
	rank := make([]int32, keys.len())
	for k, i := range order {
		rank[i] = int32(k)
	}
	return rank
}

// edge is a scored candidate pair, without its comparison pattern.
//
// It is 32 bytes: at ten million demo records a run keeps about 20
// million.
type edge struct {
	a, b   int32
	bits   float64
	rule   uint8 // the deterministic rule that links it: 1 + its comparison's index; 0 none
	review bool  // scored to link, but only a steward may decide
	// The edge's place in the order links are made: class 2 for a pair
	// inside a previous profile, plus 1 for a rule; lo and hi are the two
	// records' ranks in key order.
	class  uint8
	lo, hi int32
}

// scorePairs scores the candidates and returns the edges keep accepts,
// each chunk's sorted in link order (see edgeOrder) at its exact size; the
// candidates are spent (see candidatePairs.visit).
func scorePairs(recs []rec, pairs *candidatePairs, sc *scorer, keep func(pair, float64) (edge, bool)) sortedEdges {
	kept := make(sortedEdges, pairs.chunks)
	local := make([][]edge, pairs.workers)
	pairs.visit(func(w, chunk int, ps []pair) {
		local[w] = local[w][:0]
		for _, p := range ps {
			if e, ok := keep(p, sc.bits(recs, p)); ok {
				local[w] = append(local[w], e)
			}
		}
		if len(local[w]) > 0 {
			kept[chunk] = slices.Clone(local[w])
			slices.SortFunc(kept[chunk], edgeOrder)
		}
	})
	return kept
}

// edgeOrder is the order links are made in: class first (see edge), then
// weight, then the records' keys; ties by keys, not positions, so that the
// outcome does not depend on the order records were given in.
func edgeOrder(x, y edge) int {
	if x.class != y.class {
		return int(y.class) - int(x.class)
	}
	if x.bits != y.bits {
		if x.bits > y.bits {
			return -1
		}
		return 1
	}
	if x.lo != y.lo {
		return int(x.lo - y.lo)
	}
	return int(x.hi - y.hi)
}

// sortedEdges are runs of edges, each sorted by edgeOrder.
//
// They are merged as they are read rather than copied into one array and
// sorted: at ten million records, 20 million edges took 0.64 GB twice
// while copied, and their sort ran on one core.
type sortedEdges [][]edge

// inOrder calls fn with every edge in edgeOrder, spending the runs.
func (s sortedEdges) inOrder(fn func(e *edge)) {
	// A binary heap of the runs not yet spent, by their first edge.
	heap := make([]int32, 0, len(s))
	less := func(i, j int) bool { return edgeOrder(s[heap[i]][0], s[heap[j]][0]) < 0 }
	down := func(i int) {
		for {
			m := i
			if l := 2*i + 1; l < len(heap) && less(l, m) {
				m = l
			}
			if r := 2*i + 2; r < len(heap) && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for k := range s {
		if len(s[k]) > 0 {
			heap = append(heap, int32(k))
		}
	}
	for i := len(heap)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(heap) > 0 {
		k := heap[0]
		fn(&s[k][0])
		if s[k] = s[k][1:]; len(s[k]) == 0 {
			s[k] = nil
			heap[0] = heap[len(heap)-1]
			heap = heap[:len(heap)-1]
		}
		down(0)
	}
}

// identifierComparisons are the indexes of the strong-identifier
// comparisons.
func identifierComparisons(comps []comparison) []int {
	var out []int
	for i, c := range comps {
		switch c.name {
		case "email", "phone", "national_id":
			out = append(out, i)
		}
	}
	return out
}
