package identity

import (
	"fmt"
	"slices"
)

// Clustering joins linked records into profiles, strongest links first,
// and refuses a join that would make a profile impossible:
//
//   - a steward said two of its records are different people (cannot-link);
//   - it would hold two records of a source that has one record per person;
//   - it would hold two different values of an identifier a source verified;
//   - it would hold more distinct values of an identifier than the limit;
//   - two of its records clearly differ (a weak bridge between two groups:
//     A resembles B and B resembles C, but A and C are different people).

// vetoBits is the evidence, in bits and without the prior, below which two
// records clearly differ.
const vetoBits = -12

// maxBridgeChecks bounds the record pairs compared across two groups before
// joining them.
const maxBridgeChecks = 64

type clusters struct {
	recs   []rec
	sc     *scorer
	parent []int32
	// The members of a profile, in the order they joined, are a list from
	// its root: next[x] is the member after x (-1 at the end), tail[root]
	// the last; size[root] counts them. A root is always its list's head.
	next, tail, size []int32
	// Per root of two records or more, its group: the unique-record sources
	// present, and the identifier values held, each the value's hash with
	// the identifier kind in its top two bits and, in bit 61, whether a
	// verifying source holds it. A record alone has no group: its own are
	// worked out from it when asked (see groupOf), so that ten million records
	// do not cost ten million small slices.
	gid    []int32 // by root: its group, -1 none
	groups []group
	// scratch for bridge
	listA, listB []int32
	cannot       map[int32][]int32
	mustLinks    []Link

	uniqueSource []bool    // by source index
	verifies     [][3]bool // by source index: which identifiers it verified
	limits       [3]int    // email, phone, national id
	identKinds   [3]string // "email", "phone", "national_id"
	sourceNames  []string  // by source index
	keys         *texts    // entry keys, for messages and anchors
	// household, when set, reports a pair that looks like two members of
	// one household rather than one person; such a pair across two groups
	// keeps them apart like a pair that clearly differs.
	household func(pair) bool
}

var identKinds = [3]string{"email", "phone", "national_id"}

// identValues are the rec values of identKinds, in the same order.
var identValues = [3]int{vEmail, vPhone, vNationalID}

// group is what a profile of two records or more holds (see clusters).
type group struct {
	uniqueSources []int32
	idents        []uint64
}

// view holds a record's own group while it is alone.
type view struct {
	us  [1]int32
	ids [len(identKinds)]uint64
}

func newClusters(recs []rec, keys *texts, sources []string, opts Options, sc *scorer) *clusters {
	n := len(recs)
	c := &clusters{
		recs:         recs,
		sc:           sc,
		parent:       make([]int32, n),
		next:         make([]int32, n),
		tail:         make([]int32, n),
		size:         make([]int32, n),
		gid:          make([]int32, n),
		cannot:       map[int32][]int32{},
		uniqueSource: make([]bool, len(sources)),
		verifies:     make([][3]bool, len(sources)),
		identKinds:   identKinds,
		sourceNames:  sources,
		keys:         keys,
	}
	limits := opts.Limits
	if limits == nil {
		limits = DefaultLimits
	}
	for k, kind := range identKinds {
		c.limits[k] = limits[kind]
		if c.limits[k] <= 0 {
			c.limits[k] = DefaultLimits[kind]
		}
	}
	for si, name := range sources {
		rules := opts.Sources[name]
		c.uniqueSource[si] = rules.UniqueRecords
		for k, kind := range identKinds {
			c.verifies[si][k] = slices.Contains(rules.UniqueIdentifiers, kind)
		}
	}
	for i := range recs {
		c.parent[i], c.next[i], c.tail[i], c.size[i], c.gid[i] = int32(i), -1, int32(i), 1, -1
	}
	return c
}

// groupOf returns root r's unique-record sources and identifier values:
// its group's, or for a record alone, worked out from it into v.
func (c *clusters) groupOf(r int32, v *view) ([]int32, []uint64) {
	if g := c.gid[r]; g >= 0 {
		return c.groups[g].uniqueSources, c.groups[g].idents
	}
	rec := &c.recs[r]
	us := v.us[:0]
	if c.uniqueSource[rec.source] {
		us = append(us, rec.source)
	}
	ids := v.ids[:0]
	for k, vk := range identValues {
		if h := hashOf(rec.s(vk)); h != 0 {
			e := uint64(k)<<62 | h&hashBits
			if c.verifies[rec.source][k] {
				e |= verifiedBit
			}
			ids = append(ids, e)
		}
	}
	return us, ids
}

// members appends root r's members, in order, to buf.
func (c *clusters) members(r int32, buf []int32) []int32 {
	for x := r; x >= 0; x = c.next[x] {
		buf = append(buf, x)
	}
	return buf
}

func (c *clusters) find(x int32) int32 {
	for c.parent[x] != x {
		c.parent[x] = c.parent[c.parent[x]]
		x = c.parent[x]
	}
	return x
}

// addConstraints applies steward decisions: must-links join at once,
// cannot-links are remembered. Decisions that contradict each other are an
// error.
func (c *clusters) addConstraints(cs []Constraint, index map[string]int32) error {
	for _, k := range cs {
		a, okA := index[k.A]
		b, okB := index[k.B]
		if !okA || !okB || k.Same {
			continue
		}
		c.cannot[a] = append(c.cannot[a], b)
		c.cannot[b] = append(c.cannot[b], a)
	}
	for _, k := range cs {
		a, okA := index[k.A]
		b, okB := index[k.B]
		if !okA || !okB || !k.Same {
			continue
		}
		ra, rb := c.find(a), c.find(b)
		if ra == rb {
			continue
		}
		if x, y, ok := c.cannotBetween(ra, rb); ok {
			return fmt.Errorf("steward decisions contradict each other: %s and %s must be one person, but %s and %s must not: %w",
				k.A, k.B, c.keys.at(int(x)), c.keys.at(int(y)), ErrInvalid)
		}
		if reason := c.hardConflict(ra, rb); reason != "" {
			return fmt.Errorf("%s and %s cannot be one person: %s: %w", k.A, k.B, reason, ErrInvalid)
		}
		c.union(ra, rb)
		c.mustLinks = append(c.mustLinks, Link{A: a, B: b, Probability: 1, Rule: "steward"})
	}
	return nil
}

// merge joins the profiles of a and b unless a guard refuses; it returns
// the refusal's reason ("" when they were already one profile).
func (c *clusters) merge(a, b int32) (bool, string) {
	ra, rb := c.find(a), c.find(b)
	if ra == rb {
		return false, ""
	}
	if x, y, ok := c.cannotBetween(ra, rb); ok {
		return false, fmt.Sprintf("a steward decided records %s and %s are different people", c.keys.at(int(x)), c.keys.at(int(y)))
	}
	if reason := c.hardConflict(ra, rb); reason != "" {
		return false, reason
	}
	var va, vb view
	_, ia := c.groupOf(ra, &va)
	_, ib := c.groupOf(rb, &vb)
	for k, kind := range c.identKinds {
		if distinctUnion(ia, ib, uint64(k)) > c.limits[k] {
			return false, fmt.Sprintf("more than %d distinct %s values in one profile", c.limits[k], kind)
		}
	}
	if x, y, ok := c.bridge(ra, rb); ok {
		return false, fmt.Sprintf("records %s and %s clearly differ", c.keys.at(int(x)), c.keys.at(int(y)))
	}
	c.union(ra, rb)
	return true, ""
}

// hardConflict says why two profiles can never be one, or "": a source
// with one record per person holds a record in both, or they hold two
// different values of an identifier a source verified.
func (c *clusters) hardConflict(ra, rb int32) string {
	var va, vb view
	ua, ia := c.groupOf(ra, &va)
	ub, ib := c.groupOf(rb, &vb)
	for _, s := range ua {
		if slices.Contains(ub, s) {
			return fmt.Sprintf("source %s holds one record per person", c.sourceNames[s])
		}
	}
	for _, v := range ia {
		if v&verifiedBit == 0 {
			continue
		}
		for _, w := range ib {
			if w&verifiedBit != 0 && v>>62 == w>>62 && v&hashBits != w&hashBits {
				return "two different verified " + c.identKinds[v>>62] + " values"
			}
		}
	}
	return ""
}

// cannotBetween finds a cannot-link between two profiles.
func (c *clusters) cannotBetween(ra, rb int32) (int32, int32, bool) {
	if len(c.cannot) == 0 {
		return 0, 0, false
	}
	for x := ra; x >= 0; x = c.next[x] {
		for _, y := range c.cannot[x] {
			if c.find(y) == rb {
				return x, y, true
			}
		}
	}
	return 0, 0, false
}

// bridge looks for two records, one in each profile, that clearly differ.
func (c *clusters) bridge(ra, rb int32) (int32, int32, bool) {
	if c.size[ra] == 1 && c.size[rb] == 1 {
		return 0, 0, false // the link itself is the only evidence
	}
	c.listA, c.listB = c.members(ra, c.listA[:0]), c.members(rb, c.listB[:0])
	ma, mb := c.listA, c.listB
	total := len(ma) * len(mb)
	step := max(1, total/maxBridgeChecks)
	for k := 0; k < total; k += step {
		x, y := ma[k/len(mb)], mb[k%len(mb)]
		p := c.sc.pairOf(c.recs, x, y)
		if c.sc.bits(c.recs, p)-c.sc.priorBits < vetoBits || c.household != nil && c.household(p) {
			return x, y, true
		}
	}
	return 0, 0, false
}

func (c *clusters) union(ra, rb int32) {
	if c.size[ra] < c.size[rb] {
		ra, rb = rb, ra
	}
	var vb view
	ub, ib := c.groupOf(rb, &vb)
	if c.gid[ra] < 0 {
		var va view
		ua, ia := c.groupOf(ra, &va)
		c.gid[ra] = int32(len(c.groups))
		c.groups = append(c.groups, group{uniqueSources: slices.Clone(ua), idents: slices.Clone(ia)})
	}
	g := &c.groups[c.gid[ra]]
	g.uniqueSources = append(g.uniqueSources, ub...)
	for _, v := range ib {
		if !slices.Contains(g.idents, v) {
			g.idents = append(g.idents, v)
		}
	}
	if gb := c.gid[rb]; gb >= 0 {
		c.groups[gb] = group{} // its memory goes; the slot stays unused
		c.gid[rb] = -1
	}
	c.parent[rb] = ra
	c.next[c.tail[ra]] = rb
	c.tail[ra] = c.tail[rb]
	c.size[ra] += c.size[rb]
}

const (
	verifiedBit = 1 << 61
	hashBits    = 1<<61 - 1
)

// distinctUnion counts the distinct values of one identifier kind in two
// profiles.
func distinctUnion(a, b []uint64, kind uint64) int {
	n := 0
	counted := func(list []uint64, upto int, h uint64) bool {
		for _, w := range list[:upto] {
			if w>>62 == kind && w&hashBits == h {
				return true
			}
		}
		return false
	}
	for i, v := range a {
		if v>>62 == kind && !counted(a, i, v&hashBits) {
			n++
		}
	}
	for i, v := range b {
		if v>>62 == kind && !counted(a, len(a), v&hashBits) && !counted(b, i, v&hashBits) {
			n++
		}
	}
	return n
}

// anchors returns, for every entry, the index of its profile's anchor: the
// member with the smallest key.
func (c *clusters) anchors() []int32 {
	out := make([]int32, len(c.recs))
	for r := range c.parent {
		if c.parent[r] != int32(r) {
			continue
		}
		anchor := int32(r)
		for m := c.next[r]; m >= 0; m = c.next[m] {
			if c.keys.at(int(m)) < c.keys.at(int(anchor)) {
				anchor = m
			}
		}
		for m := int32(r); m >= 0; m = c.next[m] {
			out[m] = anchor
		}
	}
	return out
}

func (c *clusters) count() int {
	n := 0
	for r, p := range c.parent {
		if p == int32(r) {
			n++
		}
	}
	return n
}
