package identity

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cdp-project/cdp/internal/parallel"
)

// Training follows the Fellegi-Sunter recipe without labels:
//
//   - u, the probability of each level among different persons, comes from
//     comparing random pairs of records (almost all of which are different
//     persons); for exact agreement it is computed from the value
//     frequencies instead, which is exact and needs no sample;
//   - m, the probability of each level among the same person, and the share
//     of matches among the compared pairs come from expectation
//     maximisation over the candidate pairs' comparison patterns;
//   - the prior that two random records match is the expected number of
//     matches among the candidates over the number of all pairs.

// randomPairs is how many random pairs estimate u at most.
const randomPairs = 1_000_000

// estimateU returns u for every comparison level (index 0 unused).
func estimateU(recs []rec, comps []comparison, tf []termFrequencies, seed uint64, workers int) ([][]float64, int) {
	n := len(recs)
	total := n * (n - 1) / 2
	samples := min(total, randomPairs)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	counts := make([][][]float64, workers)
	var wg sync.WaitGroup
	per := (samples + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([][]float64, len(comps))
			for i := range comps {
				c[i] = make([]float64, len(comps[i].levels)+1)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			k := 0
			emit := func(a, b int) {
				x := contextOf(&recs[a], &recs[b])
				for ci := range comps {
					c[ci][comps[ci].compare(&recs[a], &recs[b], x)]++
				}
			}
			if samples == total {
				// Few records: every pair, split among workers.
				for a := 0; a < n; a++ {
					for b := a + 1; b < n; b++ {
						if k%workers == w {
							emit(a, b)
						}
						k++
					}
				}
			} else {
				for range per {
					a, b := rng.IntN(n), rng.IntN(n)
					if a == b {
						continue
					}
					emit(a, b)
				}
			}
			counts[w] = c
		}()
	}
	wg.Wait()
	u := make([][]float64, len(comps))
	for ci := range comps {
		levels := len(comps[ci].levels)
		u[ci] = make([]float64, levels+1)
		sum := 0.0
		for l := 1; l <= levels; l++ {
			for w := range workers {
				u[ci][l] += counts[w][ci][l]
			}
			sum += u[ci][l]
		}
		for l := 1; l <= levels; l++ {
			// A level never seen among random pairs is rare, not impossible.
			u[ci][l] = max(u[ci][l], 0.5) / (sum + 0.5*float64(levels))
		}
		if tf[ci].total > 1 {
			u[ci][1] = max(tf[ci].exact, 1/float64(tf[ci].total*tf[ci].total))
			renormalise(u[ci], 1)
		}
	}
	return u, samples
}

// renormalise rescales levels other than fixed so that levels 1..n sum to 1.
func renormalise(p []float64, fixed int) {
	rest := 0.0
	for l := 1; l < len(p); l++ {
		if l != fixed {
			rest += p[l]
		}
	}
	if rest <= 0 {
		return
	}
	scale := (1 - p[fixed]) / rest
	for l := 1; l < len(p); l++ {
		if l != fixed {
			p[l] *= scale
		}
	}
}

// trainingSession is one round of expectation maximisation over the pairs
// of one blocking rule. Its pairs agree on the rule's fields for matches
// and non-matches alike, so the comparisons of those fields say nothing
// there and are left out; the other comparisons' non-matches look like
// random pairs, so u stays fixed at the random pairs' values and only m and
// the share of matches are estimated. This is Splink's recipe: it keeps EM
// from mistaking a household (same family name, same address) for a
// person.
type trainingSession struct {
	rule     string
	excludes []string
}

// geography are the comparisons of where a person lives: they agree or
// disagree together (same city, often same postcode), so a session blocked
// on one of them learns nothing from the others.
var geography = []string{"postcode", "city", "region", "street", "address_line2"}

var trainingSessions = []trainingSession{
	{"given+family", []string{"given_name", "family_name", "full_name"}},
	{"birth_date", []string{"birth_date"}},
	{"postcode+family", append([]string{"family_name", "full_name"}, geography...)},
	{"city+given", append([]string{"given_name", "full_name"}, geography...)},
	{"email", []string{"email"}},
	{"phone", []string{"phone"}},
	{"national_id", []string{"national_id"}},
	{"street+postcode", geography},
	{"full_name", []string{"full_name", "given_name", "family_name"}},
}

// maxSessionPairs bounds the pairs one training session looks at.
const maxSessionPairs = 400_000

// minSessionPairs is the fewest pairs a session needs to say anything.
const minSessionPairs = 30

// emResult is what one expectation maximisation estimates.
type emResult struct {
	m          [][]float64
	lambda     float64
	matches    float64 // expected matches among the session's pairs
	iterations int
	converged  bool
}

// sessionCounts counts the comparison patterns of the pairs in a rule's
// blocks, up to maxSessionPairs.
func sessionCounts(recs []rec, comps []comparison, blk *blocks, rule string) map[uint64]float64 {
	ri := -1
	for i, r := range blk.rules {
		if r.name == rule {
			ri = i
		}
	}
	if ri < 0 {
		return nil
	}
	var lists [][]int32
	lo, hi := blk.ruleBlocks(ri)
	for k := lo; k < hi; k++ {
		lists = append(lists, blk.block(k))
	}
	// A fair sample when capped: the blocks in a seeded random order.
	rng := rand.New(rand.NewPCG(0x7e55, uint64(ri)))
	rng.Shuffle(len(lists), func(i, j int) { lists[i], lists[j] = lists[j], lists[i] })
	counts := make(map[uint64]float64)
	n := 0
	for _, ids := range lists {
		for i := 0; i < len(ids); i++ {
			for j := i + 1; j < len(ids); j++ {
				counts[compareAll(&recs[ids[i]], &recs[ids[j]], comps)]++
				n++
			}
		}
		if n >= maxSessionPairs {
			break
		}
	}
	return counts
}

type pattern struct {
	levels [maxComparisons]uint8
	count  float64
}

func unpack(counts map[uint64]float64, comps int, excluded []bool) []pattern {
	// In the order of the patterns, not of the map: sums of floating-point
	// numbers depend on their order, and the same pairs must train the same
	// model to the last bit.
	keys := make([]uint64, 0, len(counts))
	for p := range counts {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	pats := make([]pattern, 0, len(counts))
	for _, p := range keys {
		c := counts[p]
		var pt pattern
		for ci := range comps {
			if !excluded[ci] {
				pt.levels[ci] = uint8(p>>(4*ci)) & 0xF
			}
		}
		pt.count = c
		pats = append(pats, pt)
	}
	return pats
}

// initialM is where expectation maximisation starts: matches mostly agree
// exactly.
func initialM(levels int) []float64 {
	m := make([]float64, levels+1)
	for l := 1; l <= levels; l++ {
		m[l] = math.Pow(0.12, float64(l-1))
	}
	normalise(m)
	return m
}

// emFixedU estimates m (for comparisons not excluded) and the share of
// matches, with u fixed.
func emFixedU(pats []pattern, comps []comparison, u [][]float64, excluded []bool) emResult {
	m := make([][]float64, len(comps))
	next := make([][]float64, len(comps))
	for ci := range comps {
		m[ci] = initialM(len(comps[ci].levels))
		next[ci] = make([]float64, len(m[ci]))
	}
	lambda := 0.5
	res := emResult{}
	for it := 1; it <= 300; it++ {
		for ci := range comps {
			clear(next[ci])
		}
		sumW, sumAll := 0.0, 0.0
		for _, p := range pats {
			lm, lu := math.Log(lambda), math.Log(1-lambda)
			for ci := range comps {
				if l := p.levels[ci]; l != 0 {
					lm += math.Log(m[ci][l])
					lu += math.Log(u[ci][l])
				}
			}
			w := 1 / (1 + math.Exp(lu-lm))
			sumW += w * p.count
			sumAll += p.count
			for ci := range comps {
				if l := p.levels[ci]; l != 0 {
					next[ci][l] += w * p.count
				}
			}
		}
		newLambda := math.Min(math.Max(sumW/sumAll, 1e-6), 1-1e-6)
		delta := math.Abs(newLambda - lambda)
		lambda = newLambda
		for ci := range comps {
			if excluded[ci] {
				continue
			}
			observed := 0.0
			for l := 1; l < len(next[ci]); l++ {
				observed += next[ci][l]
			}
			if observed < 1 {
				continue // no data on this comparison: keep the start
			}
			normalise(next[ci])
			for l := 1; l < len(m[ci]); l++ {
				v := math.Max(next[ci][l], 1e-6)
				delta = math.Max(delta, math.Abs(v-m[ci][l]))
				m[ci][l] = v
			}
		}
		res.iterations = it
		res.matches = sumW
		if delta < 1e-6 {
			res.converged = true
			break
		}
	}
	res.m, res.lambda = m, lambda
	return res
}

// estimateLambda finds the share of matches among all candidate pairs that
// m and u imply (the fixed point of the expectation step).
func estimateLambda(counts map[uint64]float64, comps []comparison, m, u [][]float64) float64 {
	pats := unpack(counts, len(comps), make([]bool, len(comps)))
	ratio := make([]float64, len(pats)) // P(pattern | match) / P(pattern | non-match)
	total := 0.0
	for i, p := range pats {
		lr := 0.0
		for ci := range comps {
			if l := p.levels[ci]; l != 0 {
				lr += math.Log(m[ci][l]) - math.Log(u[ci][l])
			}
		}
		ratio[i] = math.Exp(math.Min(lr, 700))
		total += p.count
	}
	lambda := 0.1
	for range 200 {
		sum := 0.0
		for i, p := range pats {
			odds := lambda / (1 - lambda) * ratio[i]
			sum += p.count * odds / (1 + odds)
		}
		next := math.Min(math.Max(sum/total, 1e-9), 1-1e-9)
		if math.Abs(next-lambda) < 1e-9 {
			return next
		}
		lambda = next
	}
	return lambda
}

func normalise(p []float64) {
	sum := 0.0
	for l := 1; l < len(p); l++ {
		sum += p[l]
	}
	if sum <= 0 {
		for l := 1; l < len(p); l++ {
			p[l] = 1 / float64(len(p)-1)
		}
		return
	}
	for l := 1; l < len(p); l++ {
		p[l] /= sum
	}
}

// train builds a model: u from random pairs, m from one training session
// per blocking rule (averaged, weighed by the matches each found), and the
// prior from the share of matches among all candidates.
func train(recs []rec, comps []comparison, tf []termFrequencies, pairs *candidatePairs, blk *blocks, workers int) (*Model, int) {
	u, samples := estimateU(recs, comps, tf, 0x5eed, workers)
	m := make([][]float64, len(comps))
	weight := make([]float64, len(comps))
	for ci := range comps {
		m[ci] = make([]float64, len(comps[ci].levels)+1)
	}
	iterations, converged := 0, true
	// Each session counts the patterns of its own blocks, on every core at
	// once; their estimates are then combined in session order.
	counted := make([]map[uint64]float64, len(trainingSessions))
	parallel.Ranges(len(trainingSessions), len(trainingSessions), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			counted[i] = sessionCounts(recs, comps, blk, trainingSessions[i].rule)
		}
	})
	for si, s := range trainingSessions {
		counts := counted[si]
		n := 0.0
		for _, c := range counts {
			n += c
		}
		if n < minSessionPairs {
			continue
		}
		excluded := make([]bool, len(comps))
		for ci, c := range comps {
			excluded[ci] = slices.Contains(s.excludes, c.name)
		}
		em := emFixedU(unpack(counts, len(comps), excluded), comps, u, excluded)
		iterations += em.iterations
		converged = converged && em.converged
		for ci := range comps {
			if excluded[ci] {
				continue
			}
			for l := 1; l < len(m[ci]); l++ {
				m[ci][l] += em.m[ci][l] * em.matches
			}
			weight[ci] += em.matches
		}
	}
	for ci := range comps {
		if weight[ci] == 0 {
			m[ci] = initialM(len(comps[ci].levels))
			continue
		}
		for l := 1; l < len(m[ci]); l++ {
			m[ci][l] /= weight[ci]
		}
	}
	lambda := estimateLambda(pairs.counts, comps, m, u)
	n := float64(len(recs))
	allPairs := math.Max(n*(n-1)/2, 1)
	prior := math.Min(math.Max(lambda*float64(pairs.n)/allPairs, 1e-12), 0.5)
	model := &Model{
		Format:          ModelFormat,
		TrainedAt:       time.Now().UTC(),
		Records:         len(recs),
		Prior:           prior,
		LinkThreshold:   DefaultLinkThreshold,
		ReviewThreshold: DefaultReviewThreshold,
		EMIterations:    iterations,
		Converged:       converged,
	}
	for _, r := range blk.rules {
		model.Blocking = append(model.Blocking, r.name)
	}
	for ci, c := range comps {
		cp := ComparisonParams{Name: c.name}
		for l, name := range c.levels {
			lp := LevelParams{
				Name: name,
				M:    math.Min(math.Max(m[ci][l+1], 1e-6), 1),
				U:    math.Min(math.Max(u[ci][l+1], 1e-9), 1),
			}
			if lp.M <= 1e-6 && lp.U <= 1e-6 {
				// Seen neither among matches nor among random pairs: no
				// evidence either way.
				lp.M = lp.U
			}
			cp.Levels = append(cp.Levels, lp)
		}
		model.Comparisons = append(model.Comparisons, cp)
	}
	return model, samples
}

// termFrequencies counts the values of one comparison's term-frequency
// key.
//
// Each record's frequency is kept by position, so that scoring looks it up
// instead of hashing the value again, as a two-byte index into the few
// frequencies there are: k distinct counts add up to at least k(k+1)/2
// records, so ten million records have at most 4,472 of them, and two
// bytes serve up to two billion. (Four bytes a record took 0.4 GB at ten
// million demo records.)
type termFrequencies struct {
	counts map[string]int32 // while counting
	total  int              // records with a value
	of     []uint16         // by record: its value's frequency in freq (0: no value)
	freq   []float32        // the frequencies, freq[0] = 0
	exact  float64          // the probability that two random values agree
}

// frequency returns the frequency of record i's value, 0 for none.
func (t *termFrequencies) frequency(i int32) float32 { return t.freq[t.of[i]] }

func countTerms(recs []rec, comps []comparison) []termFrequencies {
	tfs := make([]termFrequencies, len(comps))
	var wg sync.WaitGroup
	for ci := range comps {
		if comps[ci].tf == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := termFrequencies{counts: make(map[string]int32)}
			for i := range recs {
				if v := comps[ci].tf(&recs[i]); v != "" {
					t.counts[v]++
					t.total++
				}
			}
			// Number the distinct counts; the counts become their numbers.
			index := map[int32]uint16{}
			t.freq = []float32{0}
			for _, c := range t.counts {
				if _, ok := index[c]; !ok {
					index[c] = uint16(len(t.freq))
					t.freq = append(t.freq, float32(c)/float32(t.total))
				}
			}
			t.exact = t.exactU()
			t.of = make([]uint16, len(recs))
			for i := range recs {
				if v := comps[ci].tf(&recs[i]); v != "" {
					t.of[i] = index[t.counts[v]]
				}
			}
			t.counts = nil
			tfs[ci] = t
		}()
	}
	wg.Wait()
	return tfs
}

// exactU is the probability that two different random records with values
// agree exactly.
func (t *termFrequencies) exactU() float64 {
	if t.total < 2 {
		return 0
	}
	sum := 0.0
	for _, c := range t.counts {
		sum += float64(c) * float64(c-1)
	}
	return sum / (float64(t.total) * float64(t.total-1))
}
