package identity

import (
	"hash/maphash"
	"runtime"
	"slices"
	"sort"
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

// blocks maps each rule's keys to the records that have them. Only blocks
// of two records or more are kept (a record alone under a key has nothing
// to be compared with), each rule's as one array of members, so that a run
// of millions of records holds a few integers per record and rule and no
// pointer per block.
type blocks struct {
	rules []blockingRule
	// of[r][i] is the block of record i under rule r, -1 for none; the
	// members of block k of rule r (in record order; blocks in order of
	// first appearance) are members[r][start[r][k]:start[r][k+1]].
	of      [][]int32
	start   [][]int32
	members [][]int32
	caps    []int // per rule: the largest block compared
	skipped int   // blocks larger than their rule's cap, not compared
}

// block returns the members of block k of rule r.
func (b *blocks) block(r int, k int32) []int32 {
	return b.members[r][b.start[r][k]:b.start[r][k+1]]
}

// count returns the number of blocks of rule r.
func (b *blocks) count(r int) int { return len(b.start[r]) - 1 }

// Each rule may cost at most pairsPerRecord pairs per record (and never
// less than minRulePairs): a broad rule (same city and given name) finds
// the typo that no other rule catches in a small set, but compares half the
// town in a large one. Its largest blocks, the least telling, go first.
const (
	pairsPerRecord = 1
	minRulePairs   = 200_000
)

// setCaps sets each rule's block cap: maxBlock, lowered until the rule's
// blocks fit its pair budget.
func (b *blocks) setCaps(n, maxBlock int) {
	budget := max(pairsPerRecord*n, minRulePairs)
	b.caps = make([]int, len(b.rules))
	b.skipped = 0
	for r := range b.rules {
		sizes := make([]int, 0, b.count(r))
		for k := range b.count(r) {
			sizes = append(sizes, int(b.start[r][k+1]-b.start[r][k]))
		}
		sort.Ints(sizes)
		limit, total := 1, 0
		for _, sz := range sizes {
			if sz > maxBlock || total+sz*(sz-1)/2 > budget {
				break
			}
			total += sz * (sz - 1) / 2
			limit = sz
		}
		// Blocks of the size that broke the budget are all skipped, so
		// that the outcome does not depend on which came first.
		b.caps[r] = limit
		for _, sz := range sizes {
			if sz > limit {
				b.skipped++
			}
		}
	}
}

func buildBlocks(recs []rec, rules []blockingRule, skip func(rule string, r *rec, key string) bool) *blocks {
	b := &blocks{
		rules: rules, of: make([][]int32, len(rules)),
		start: make([][]int32, len(rules)), members: make([][]int32, len(rules)),
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for ri := range rules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b.of[ri], b.start[ri], b.members[ri] = ruleBlocks(recs, rules[ri], skip)
		}()
	}
	wg.Wait()
	return b
}

// ruleBlocks groups the records by their key under one rule. Keys are
// told apart by a 64-bit hash: two keys that collide (odds of about one in
// ten million for a million distinct keys) only make one block of two,
// whose pairs are still scored on their merits. A key of several parts is
// hashed from a buffer, never made a string. skip is asked about keys of
// one part only (the identifiers).
func ruleBlocks(recs []rec, rule blockingRule, skip func(rule string, r *rec, key string) bool) (of, start, members []int32) {
	index := make(map[uint64]int32)
	of = make([]int32, len(recs))
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
	// Renumber the blocks of two or more, in order of first appearance.
	start = []int32{0}
	total := int32(0)
	for id, n := range counts {
		if n < 2 {
			counts[id] = -1
			continue
		}
		counts[id] = int32(len(start) - 1) // the block's new number
		total += n
		start = append(start, total)
	}
	members = make([]int32, total)
	fill := slices.Clone(start[:len(start)-1])
	for i := range of {
		if of[i] < 0 {
			continue
		}
		k := counts[of[i]]
		of[i] = k
		if k >= 0 {
			members[fill[k]] = int32(i)
			fill[k]++
		}
	}
	return of, start, members
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
				for r := range b.rules {
					id := b.of[r][i]
					if id < 0 {
						continue
					}
					ids := b.block(r, id)
					if len(ids) > b.caps[r] {
						continue
					}
					for _, j := range ids {
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

// candidates finds the candidate pairs of blocks of at most maxBlock
// records (and their rule's cap), holding them when at most maxHeld.
func (b *blocks) candidates(recs []rec, comps []comparison, maxBlock, maxHeld, workers int) *candidatePairs {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	b.setCaps(len(recs), maxBlock)
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

// pairsAtMost bounds the candidate pairs under the caps set: the pairs of
// every block compared, counting a pair twice when two rules find it.
func (b *blocks) pairsAtMost() int64 {
	var total int64
	for r := range b.rules {
		for k := range b.count(r) {
			if sz := int64(b.start[r][k+1] - b.start[r][k]); sz <= int64(b.caps[r]) {
				total += sz * (sz - 1) / 2
			}
		}
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
