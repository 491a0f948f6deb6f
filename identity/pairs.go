package identity

import (
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// blockingRule groups records that share a key; only records sharing a key
// under some rule are compared. Rule names are stored with trained models.
type blockingRule struct {
	name string
	key  func(r *rec) string // "" when the rule does not apply to the record
}

// defaultBlocking are the blocking rules of the default model: exact strong
// identifiers, then combinations that survive typical typos in one field
// (sound of names, birth date, postcode, street).
func defaultBlocking() []blockingRule {
	join := func(parts ...string) string {
		for _, p := range parts {
			if p == "" {
				return ""
			}
		}
		n := 0
		for _, p := range parts {
			n += len(p) + 1
		}
		b := make([]byte, 0, n)
		for i, p := range parts {
			if i > 0 {
				b = append(b, '|')
			}
			b = append(b, p...)
		}
		return string(b)
	}
	return []blockingRule{
		{"email", func(r *rec) string { return r.s(vEmail) }},
		{"phone", func(r *rec) string { return r.s(vPhone) }},
		{"national_id", func(r *rec) string {
			if len(r.s(vNationalID)) < 4 {
				return ""
			}
			return r.s(vNationalID)
		}},
		{"birth_date", func(r *rec) string { return r.s(vDob) }},
		{"birth_date+family", func(r *rec) string { return join(r.s(vDob), r.familySx) }},
		{"birth_date+given", func(r *rec) string { return join(r.s(vDob), r.givenSx) }},
		{"given+family", func(r *rec) string { return join(r.givenSx, r.familySx) }},
		{"family+birth_year", func(r *rec) string { return join(r.familySx, r.year) }},
		{"given+birth_year", func(r *rec) string { return join(r.givenSx, r.year) }},
		{"city+given", func(r *rec) string { return join(r.s(vCity), r.givenSx) }},
		{"city+family", func(r *rec) string { return join(r.s(vCity), r.familySx) }},
		{"email_local", func(r *rec) string {
			if len(r.s(vEmailLocal)) < 4 {
				return ""
			}
			return r.s(vEmailLocal)
		}},
		{"postcode+family", func(r *rec) string { return join(r.s(vPostcode), r.familySx) }},
		{"postcode+given", func(r *rec) string { return join(r.s(vPostcode), r.givenSx) }},
		{"birth_date+postcode", func(r *rec) string { return join(r.s(vDob), r.s(vPostcode)) }},
		{"street+postcode", func(r *rec) string { return join(r.s(vStreet), r.s(vPostcode)) }},
		{"street+city", func(r *rec) string { return join(r.s(vStreet), r.s(vCity)) }},
		{"full_name", func(r *rec) string {
			if r.s(vGiven) != "" && r.s(vFamily) != "" {
				return "" // covered by the given and family rules
			}
			return r.fullSx
		}},
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

// blocks maps each rule's keys to the records that have them.
type blocks struct {
	rules []blockingRule
	// lists[r] holds the blocks of rule r (the records of each, in record
	// order; blocks in order of first appearance); of[r][i] is the block
	// of record i under rule r, -1 for none.
	lists   [][][]int32
	of      [][]int32
	caps    []int // per rule: the largest block compared
	skipped int   // blocks larger than their rule's cap, not compared
}

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
		sizes := make([]int, 0, len(b.lists[r]))
		for _, ids := range b.lists[r] {
			if len(ids) >= 2 {
				sizes = append(sizes, len(ids))
			}
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
	b := &blocks{rules: rules, lists: make([][][]int32, len(rules)), of: make([][]int32, len(rules))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for ri := range rules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			index := make(map[string]int32)
			of := make([]int32, len(recs))
			var lists [][]int32
			for i := range recs {
				of[i] = -1
				k := rules[ri].key(&recs[i])
				if k == "" || skip != nil && skip(rules[ri].name, &recs[i], k) {
					continue
				}
				id, ok := index[k]
				if !ok {
					id = int32(len(lists))
					index[k] = id
					lists = append(lists, nil)
				}
				lists[id] = append(lists[id], int32(i))
				of[i] = id
			}
			b.lists[ri], b.of[ri] = lists, of
		}()
	}
	wg.Wait()
	return b
}

// candidateChunk is how many records a worker takes at a time when
// finding candidates.
const candidateChunk = 4096

// candidates returns every pair of records that share a block of at most
// maxBlock records, once, with its comparison pattern, in record order.
//
// A record is compared with the later records of its blocks, so early
// records cost more than late ones: workers take small chunks of records
// in turn rather than one half each (which left the second of two workers
// idle for half the time).
func (b *blocks) candidates(recs []rec, comps []comparison, maxBlock, workers int) []pair {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := len(recs)
	b.setCaps(n, maxBlock)
	chunks := (n + candidateChunk - 1) / candidateChunk
	out := make([][]pair, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := make([]int32, n) // seen[j] == i+1: pair (i, j) already emitted
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				var local []pair
				for i := c * candidateChunk; i < min(n, (c+1)*candidateChunk); i++ {
					ri := &recs[i]
					for r := range b.rules {
						id := b.of[r][i]
						if id < 0 {
							continue
						}
						ids := b.lists[r][id]
						if len(ids) < 2 || len(ids) > b.caps[r] {
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
				out[c] = local
			}
		}()
	}
	wg.Wait()
	return slices.Concat(out...)
}

func compareAll(a, b *rec, comps []comparison) uint64 {
	x := contextOf(a, b)
	var p uint64
	for c := range comps {
		p |= uint64(comps[c].compare(a, b, x)) << (4 * c)
	}
	return p
}
