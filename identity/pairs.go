package identity

import (
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/cdp-project/cdp/internal/parallel"
)

// blockingRule groups records that share a key; only records sharing a key
// under some rule are compared. Rule names are stored with trained models.
// A key is the rule's parts joined by '|', and no key ("") when a part is
// empty or the rule's condition does not hold.
type blockingRule struct {
	name  string
	parts []func(r *rec) string
	when  func(r *rec) bool // nil: always
}

// appendKey appends the record's key to buf; false when it has none.
func (b *blockingRule) appendKey(buf []byte, r *rec) ([]byte, bool) {
	if b.when != nil && !b.when(r) {
		return buf, false
	}
	for i, part := range b.parts {
		p := part(r)
		if p == "" {
			return buf, false
		}
		if i > 0 {
			buf = append(buf, '|')
		}
		buf = append(buf, p...)
	}
	return buf, true
}

// key returns the record's key ("" when none). A key of one part is a
// substring of the record, not a copy.
func (b *blockingRule) key(r *rec) string {
	if len(b.parts) == 1 {
		if b.when != nil && !b.when(r) {
			return ""
		}
		return b.parts[0](r)
	}
	buf, ok := b.appendKey(nil, r)
	if !ok {
		return ""
	}
	return string(buf)
}

// defaultBlocking are the blocking rules of the default model: exact strong
// identifiers, then combinations that survive typical typos in one field
// (sound of names, birth date, postcode, street).
func defaultBlocking() []blockingRule {
	value := func(k int) func(r *rec) string { return func(r *rec) string { return r.s(k) } }
	longer := func(k, n int) func(r *rec) bool { return func(r *rec) bool { return len(r.s(k)) >= n } }
	var (
		dob, email, phone, id, city = value(vDob), value(vEmail), value(vPhone), value(vNationalID), value(vCity)
		postcode, street, local     = value(vPostcode), value(vStreet), value(vEmailLocal)
		given                       = (*rec).givenSx
		family                      = (*rec).familySx
		year                        = (*rec).year
	)
	type parts = []func(r *rec) string
	return []blockingRule{
		{"email", parts{email}, nil},
		{"phone", parts{phone}, nil},
		{"national_id", parts{id}, longer(vNationalID, 4)},
		{"birth_date", parts{dob}, nil},
		{"birth_date+family", parts{dob, family}, nil},
		{"birth_date+given", parts{dob, given}, nil},
		{"given+family", parts{given, family}, nil},
		{"family+birth_year", parts{family, year}, nil},
		{"given+birth_year", parts{given, year}, nil},
		{"city+given", parts{city, given}, nil},
		{"city+family", parts{city, family}, nil},
		{"email_local", parts{local}, longer(vEmailLocal, 4)},
		{"postcode+family", parts{postcode, family}, nil},
		{"postcode+given", parts{postcode, given}, nil},
		{"birth_date+postcode", parts{dob, postcode}, nil},
		{"street+postcode", parts{street, postcode}, nil},
		{"street+city", parts{street, city}, nil},
		// covered by the given and family rules when both are there
		{"full_name", parts{(*rec).fullSx}, func(r *rec) bool { return r.s(vGiven) == "" || r.s(vFamily) == "" }},
	}
}

// pair is two records compared, with the levels of every comparison packed
// four bits each.
type pair struct {
	a, b    int32
	pattern uint64
}

func (p pair) level(c int) uint8 { return uint8(p.pattern>>(4*c)) & 0xF }

// maxComparisons is how many comparisons fit in a pattern.
const maxComparisons = 16

// blocks maps each rule's keys to the records that have them. Only the
// blocks that are compared are kept: of two records or more (a record alone
// under a key has nothing to be compared with) and at most their rule's
// cap. Blocks are numbered across rules (rule by rule, each rule's in order
// of first appearance), their members held in one array, and each record's
// blocks in another, so that a run of millions of records holds a few
// integers per record and block it is in, and no pointer per block. (One
// array per rule giving every record's block took 0.7 GB at ten million
// records, most of it saying "none".)
type blocks struct {
	rules []blockingRule
	// Rule r's blocks are first[r] to first[r+1]-1; the members of block
	// k (in record order) are members[start[k]:start[k+1]]; record i's
	// blocks (in rule order) are of[ofStart[i]:ofStart[i+1]].
	first   []int32
	start   []int32
	members []int32
	ofStart []int32
	of      []int32
	skipped int // blocks larger than their rule's cap, not compared
}

// block returns the members of block k.
func (b *blocks) block(k int32) []int32 { return b.members[b.start[k]:b.start[k+1]] }

// ruleBlocks returns the range of rule r's blocks.
func (b *blocks) ruleBlocks(r int) (lo, hi int32) { return b.first[r], b.first[r+1] }

// Each rule may cost at most pairsPerRecord pairs per record (and never
// less than minRulePairs): a broad rule (same city and given name) finds
// the typo that no other rule catches in a small set, but compares half the
// town in a large one. Its largest blocks, the least telling, go first.
const (
	pairsPerRecord = 1
	minRulePairs   = 200_000
)

// ruleCap returns the largest block size a rule compares, given its
// blocks' sizes (sorted in place): maxBlock, lowered until the blocks fit
// the rule's pair budget for n records.
func ruleCap(sizes []int32, n, maxBlock int) int {
	budget := max(pairsPerRecord*n, minRulePairs)
	slices.Sort(sizes)
	limit, total := 1, 0
	for _, sz := range sizes {
		sz := int(sz)
		if sz > maxBlock || total+sz*(sz-1)/2 > budget {
			break
		}
		total += sz * (sz - 1) / 2
		limit = sz
	}
	// Blocks of the size that broke the budget are all skipped, so that
	// the outcome does not depend on which came first.
	return limit
}

// ruleGroups is one rule's blocks of at most its cap, as found.
type ruleGroups struct {
	start, members []int32
	skipped        int // blocks over the cap
}

// buildBlocks groups the records under each rule, keeping the blocks of
// at most maxBlock records and their rule's budget. Blocks and memberships
// are counted across rules in int32: more than 2^31 memberships (about 119
// million demo records) are an error, not a count that wraps.
func buildBlocks(recs []rec, rules []blockingRule, maxBlock int, skip func(rule string, r *rec, key string) bool) (*blocks, error) {
	b := &blocks{rules: rules, first: make([]int32, len(rules)+1)}
	groups := make([]ruleGroups, len(rules))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for ri := range rules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			groups[ri] = groupRule(recs, rules[ri], maxBlock, skip)
		}()
	}
	wg.Wait()
	// Number the blocks across rules and count each record's.
	blocks, memberships := 0, 0
	for ri, g := range groups {
		b.skipped += g.skipped
		b.first[ri] = int32(blocks)
		blocks += len(g.start) - 1
		memberships += len(g.members)
	}
	if memberships > math.MaxInt32 {
		return nil, fmt.Errorf("%d records are in %d blocks in all, more than one run can number: %w", len(recs), memberships, ErrInvalid)
	}
	b.first[len(rules)] = int32(blocks)
	b.start = make([]int32, 0, blocks+1)
	b.members = make([]int32, 0, memberships)
	b.ofStart = make([]int32, len(recs)+1)
	for _, g := range groups {
		for _, m := range g.members {
			b.ofStart[m+1]++
		}
	}
	for i := range recs {
		b.ofStart[i+1] += b.ofStart[i]
	}
	b.of = make([]int32, memberships)
	fill := slices.Clone(b.ofStart[:len(recs)])
	for ri := range groups {
		g := &groups[ri]
		for k := range len(g.start) - 1 {
			id := int32(len(b.start))
			b.start = append(b.start, int32(len(b.members)))
			for _, m := range g.members[g.start[k]:g.start[k+1]] {
				b.members = append(b.members, m)
				b.of[fill[m]] = id
				fill[m]++
			}
		}
		*g = ruleGroups{}
	}
	b.start = append(b.start, int32(len(b.members)))
	return b, nil
}

// groupRule groups the records by their key under one rule and keeps the
// blocks the rule compares. Keys are told apart by a 64-bit hash: two keys
// that collide (odds of about one in ten million for a million distinct
// keys) only make one block of two, whose pairs are still scored on their
// merits. A key of several parts is hashed from a buffer, never made a
// string. skip is asked about keys of one part only (the identifiers).
func groupRule(recs []rec, rule blockingRule, maxBlock int, skip func(rule string, r *rec, key string) bool) ruleGroups {
	index := make(map[uint64]int32)
	of := make([]int32, len(recs))
	var counts []int32
	var buf []byte
	for i := range recs {
		of[i] = -1
		var h uint64
		if len(rule.parts) == 1 {
			k := rule.key(&recs[i])
			if k == "" || skip != nil && skip(rule.name, &recs[i], k) {
				continue
			}
			h = maphash.String(valueSeed, k)
		} else {
			var ok bool
			if buf, ok = rule.appendKey(buf[:0], &recs[i]); !ok {
				continue
			}
			h = maphash.Bytes(valueSeed, buf)
		}
		id, ok := index[h]
		if !ok {
			id = int32(len(counts))
			index[h] = id
			counts = append(counts, 0)
		}
		counts[id]++
		of[i] = id
	}
	index = nil
	var sizes []int32
	for _, n := range counts {
		if n >= 2 {
			sizes = append(sizes, n)
		}
	}
	limit := ruleCap(sizes, len(recs), maxBlock)
	sizes = nil
	var g ruleGroups
	// Renumber the blocks compared, in order of first appearance.
	g.start = []int32{0}
	total := int32(0)
	for id, n := range counts {
		if n < 2 || int(n) > limit {
			if n >= 2 {
				g.skipped++
			}
			counts[id] = -1
			continue
		}
		counts[id] = int32(len(g.start) - 1) // the block's new number
		total += n
		g.start = append(g.start, total)
	}
	g.members = make([]int32, total)
	fill := slices.Clone(g.start[:len(g.start)-1])
	for i, id := range of {
		if id < 0 {
			continue
		}
		if k := counts[id]; k >= 0 {
			g.members[fill[k]] = int32(i)
			fill[k]++
		}
	}
	return g
}

// candidateChunk is how many records a worker takes at a time when
// finding candidates.
const candidateChunk = 4096

// candidatePairs are the candidate pairs of a run: every pair of records
// that share a block of at most its rule's cap, once, with its comparison
// pattern, in chunks of candidateChunk records.
//
// When they fit maxHeldPairs they are held, one slice per chunk (never
// copied into one array, which would hold them twice for a moment), and
// scoring lets each chunk go once scored. When they do not, they are
// streamed: found and compared once to count their patterns for training,
// and found and compared again when scored, one chunk at a time, so that
// no more than a chunk per worker is ever held. At ten million demo
// records the 102 million pairs would take 1.6 GB; streaming costs their
// comparisons a second time instead.
type candidatePairs struct {
	n       int                // how many
	counts  map[uint64]float64 // how many of each comparison pattern
	chunks  int                // how many chunks of records
	held    [][]pair           // the pairs of each chunk; nil when streamed
	workers int
	// streamed: what finds them again
	blk   *blocks
	recs  []rec
	comps []comparison
}

// maxHeldPairs is how many candidate pairs a run holds (16 bytes each);
// more are streamed.
const maxHeldPairs = 1 << 25

// scan finds the candidate pairs, compares them and hands each chunk's
// pairs, in record order, to visit on the worker w that found them; the
// slice is the worker's and is reused after visit returns.
//
// A record is compared with the later records of its blocks, so early
// records cost more than late ones: workers take small chunks of records
// in turn rather than one half each (which left the second of two workers
// idle for half the time).
func (b *blocks) scan(recs []rec, comps []comparison, workers int, visit func(w, chunk int, pairs []pair)) {
	n := len(recs)
	chunks := (n + candidateChunk - 1) / candidateChunk
	parallel.InTurn(chunks, workers, func(w int) func(int) {
		seen := make([]int32, n) // seen[j] == i+1: pair (i, j) already emitted
		var local []pair
		return func(c int) {
			local = local[:0]
			for i := c * candidateChunk; i < min(n, (c+1)*candidateChunk); i++ {
				ri := &recs[i]
				for _, k := range b.of[b.ofStart[i]:b.ofStart[i+1]] {
					for _, j := range b.block(k) {
						if int(j) <= i || seen[j] == int32(i+1) {
							continue
						}
						seen[j] = int32(i + 1)
						local = append(local, pair{a: int32(i), b: j, pattern: compareAll(ri, &recs[j], comps)})
					}
				}
			}
			visit(w, c, local)
		}
	})
}

// candidates finds the candidate pairs of the blocks, holding them when at
// most maxHeld.
func (b *blocks) candidates(recs []rec, comps []comparison, maxHeld, workers int) *candidatePairs {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	c := &candidatePairs{workers: workers, chunks: (len(recs) + candidateChunk - 1) / candidateChunk}
	held := b.pairsAtMost() <= int64(maxHeld)
	if held {
		c.held = make([][]pair, c.chunks)
	} else {
		c.blk, c.recs, c.comps = b, recs, comps
	}
	counts := make([]map[uint64]float64, workers)
	b.scan(recs, comps, workers, func(w, chunk int, pairs []pair) {
		if counts[w] == nil {
			counts[w] = map[uint64]float64{}
		}
		for _, p := range pairs {
			counts[w][p.pattern]++
		}
		if held && len(pairs) > 0 {
			c.held[chunk] = slices.Clone(pairs)
		}
	})
	// Counts are whole numbers: adding them in any order gives the same.
	c.counts = map[uint64]float64{}
	for w := range workers {
		for p, k := range counts[w] {
			c.counts[p] += k
			c.n += int(k)
		}
	}
	return c
}

// pairsAtMost bounds the candidate pairs: the pairs of every block,
// counting a pair twice when two rules find it.
func (b *blocks) pairsAtMost() int64 {
	var total int64
	for k := range int32(len(b.start) - 1) {
		sz := int64(b.start[k+1] - b.start[k])
		total += sz * (sz - 1) / 2
	}
	return total
}

// visit hands the pairs to fn chunk by chunk on the workers, and spends
// them: held chunks go once fn returns; streamed ones are found again.
func (c *candidatePairs) visit(fn func(w, chunk int, pairs []pair)) {
	if c.held == nil {
		c.blk.scan(c.recs, c.comps, c.workers, fn)
		c.blk, c.recs = nil, nil
		return
	}
	parallel.InTurn(c.chunks, c.workers, func(w int) func(int) {
		return func(k int) {
			fn(w, k, c.held[k])
			c.held[k] = nil
		}
	})
}

func compareAll(a, b *rec, comps []comparison) uint64 {
	x := contextOf(a, b)
	var p uint64
	for c := range comps {
		p |= uint64(comps[c].compare(a, b, x)) << (4 * c)
	}
	return p
}
