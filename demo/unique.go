package demo

import (
	"math/bits"
	"math/rand/v2"
	"strconv"
)

// This file holds the constructions that keep identifying values apart:
// two persons never get the same email address, phone number or national
// identifier, unless the model shares one on purpose (a household's
// mailbox and landline, an office line, the placeholders).
//
// Every such value is issued from a counter. The counter goes through a
// seeded permutation, a bijection, and the permuted number is written into
// the value injectively, so two issues never give the same value while
// the values still look drawn at random. No set of issued values is kept:
// memory is the same for a thousand persons as for a billion.

// permutation is a seeded bijection of [0, domain).
type permutation struct {
	bits   uint   // the rounds work on [0, 2^bits)
	domain uint64 // permute maps [0, domain) onto itself
	add    [3]uint64
	mul    [3]uint64
}

// newPermutation returns a permutation of [0, domain) on the smallest
// power of two that holds the domain, so cycle walking takes at most two
// rounds on average.
func newPermutation(domain uint64, r *rand.Rand) permutation {
	b := uint(bits.Len64(domain - 1))
	return newPermutationBits(domain, max(b, 2), r)
}

func newPermutationBits(domain uint64, bits uint, r *rand.Rand) permutation {
	p := permutation{bits: bits, domain: domain}
	for i := range p.add {
		p.add[i] = r.Uint64()
		p.mul[i] = r.Uint64() | 1 // odd: a bijection modulo 2^bits
	}
	return p
}

// permute maps i in [0, domain) to a distinct value in [0, domain). Each
// round (add, odd multiply, xorshift) is a bijection of [0, 2^bits);
// values that land outside the domain are walked again ("cycle walking"),
// which keeps the map a bijection of the domain.
func (p *permutation) permute(i uint64) uint64 {
	mask := uint64(1)<<p.bits - 1
	h := p.bits / 2
	x := i
	for {
		for k := 0; k < 3; k++ {
			x = (x + p.add[k]) & mask
			x = (x * p.mul[k]) & mask
			x ^= x >> h
		}
		if x < p.domain {
			return x
		}
	}
}

// sequence issues every value of [0, domain) once, in permuted order.
type sequence struct {
	permutation
	next uint64
}

func newSequence(domain uint64, r *rand.Rand) sequence {
	return sequence{permutation: newPermutation(domain, r)}
}

// take returns the next value, or false once all have been issued.
func (s *sequence) take() (uint64, bool) {
	if s.next >= s.domain {
		return 0, false
	}
	v := s.permute(s.next)
	s.next++
	return v, true
}

// Email addresses.
//
// An issued address is prefix + tag + "@" + domain. The prefix comes from
// the person's name and an address style; the tag and the domain come
// from a mailboxSpace counter, and (domain, tag) determines the counter.
// There are three spaces, told apart by the address itself:
//
//	numbered  provider domain, local part ends in a digit  anna.schmidt4821@example.com
//	lettered  provider domain, local part ends in a letter a.schmidt84qx@mail.example.net
//	work      employer domain                              anna.schmidt73@globex.example.com
//
// In the numbered space the prefix never contains a digit (name tokens
// keep letters and hyphens only), so the tag is the trailing run of
// digits. In the lettered space the prefix always ends with the two digits
// of a birth year, so the tag is the trailing run of letters. Either way
// the address determines its space, its domain and its tag, hence its
// counter, hence the one issue it came from: two issues never give the
// same address, whatever the names. A household's shared mailbox is an
// issue of its own, held by each member on purpose.
//
// The variants departments write keep this: a typo only ever touches the
// prefix (see email in vary.go) and leaves the last prefix character in
// its class, so a mistyped address still decodes to its own issue and can
// only equal another variant of the same address; case changes are undone
// by lower-casing.

// mailboxSpace spreads issued addresses over weighted domains. Counters
// go in blocks of size start[len(domains)]; within a block a permutation
// assigns each counter a slot, and domain d owns the slots
// [start[d], start[d+1]). The k-th issue gets domain d and tag
// b*slots(d) + slot - start[d] for its block b: a bijection between
// counters and (domain, tag) pairs, with tags that grow only as the
// domain fills up, like the numbers real providers hand out.
type mailboxSpace struct {
	domains []string
	start   []uint64
	perm    permutation
	next    uint64
}

// mailboxSlots is the number of slots per unit of weight in a block.
const mailboxSlots = 256

func newMailboxSpace(domains []weightedDomain, r *rand.Rand) *mailboxSpace {
	s := &mailboxSpace{domains: make([]string, len(domains)), start: make([]uint64, len(domains)+1)}
	for i, d := range domains {
		s.domains[i] = d.domain
		s.start[i+1] = s.start[i] + uint64(d.weight)*mailboxSlots
	}
	s.perm = newPermutation(s.start[len(domains)], r)
	return s
}

// issue returns the domain and the tag number of the next address.
func (s *mailboxSpace) issue() (domain string, tag uint64) {
	block := s.start[len(s.start)-1]
	k := s.next
	s.next++
	b, slot := k/block, s.perm.permute(k%block)
	lo, hi := 0, len(s.domains)-1 // the last d with start[d] <= slot
	for lo < hi {
		m := int(uint(lo+hi+1) >> 1)
		if s.start[m] <= slot {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return s.domains[lo], b*(s.start[lo+1]-s.start[lo]) + slot - s.start[lo]
}

// numbered returns the address of the next issue of s with a decimal tag
// ("anna.schmidt" -> "anna.schmidt4821@example.com"). prefix must not
// contain digits.
func (s *mailboxSpace) numbered(prefix string) string {
	d, t := s.issue()
	var buf [64]byte
	b := append(buf[:0], prefix...)
	b = strconv.AppendUint(b, t+1, 10)
	b = append(b, '@')
	return string(append(b, d...))
}

// lettered returns the address of the next issue of s with a letter tag
// ("a.schmidt84" -> "a.schmidt84qx@example.com"). prefix must end with a
// digit.
func (s *mailboxSpace) lettered(prefix string) string {
	d, t := s.issue()
	var buf [64]byte
	b := append(buf[:0], prefix...)
	b = appendLetters(b, t+1)
	b = append(b, '@')
	return string(append(b, d...))
}

// appendLetters writes n >= 1 in bijective base 26: a..z, aa..zz, aaa...
// Every n has exactly one spelling and every spelling one n.
func appendLetters(b []byte, n uint64) []byte {
	var tmp [16]byte
	i := len(tmp)
	for n > 0 {
		n--
		i--
		tmp[i] = byte('a' + n%26)
		n /= 26
	}
	return append(b, tmp[i:]...)
}

// tagStart returns where the tag of an issued address's local part
// begins: the trailing digits, or the trailing letters when the local part
// ends with a letter. Anything before it is the prefix, which variants may
// change without touching the tag.
func tagStart(local string) int {
	i := len(local)
	if i > 0 && isDigit(local[i-1]) {
		for i > 0 && isDigit(local[i-1]) {
			i--
		}
		return i
	}
	for i > 0 && isLetter(local[i-1]) {
		i--
	}
	return i
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Phone numbers.

// phoneTemplate issues the numbers of one template (see renderPhone), each
// once. The templates of a country are pairwise disjoint (a test checks),
// so numbers issued from different templates differ too.
type phoneTemplate struct {
	tmpl string
	seq  sequence
}

func newPhoneTemplates(tmpls []string, r *rand.Rand) []phoneTemplate {
	out := make([]phoneTemplate, len(tmpls))
	for i, t := range tmpls {
		out[i] = phoneTemplate{tmpl: t, seq: newSequence(templateSize(t), r)}
	}
	return out
}

// templateSize is the number of numbers a template can render.
func templateSize(tmpl string) uint64 {
	n := uint64(1)
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case 'x':
			n *= 10
		case 'n':
			n *= 8
		}
	}
	return n
}

// renderIndex writes the v-th number of a template, v in
// [0, templateSize(tmpl)): a bijection, the last position varying fastest.
func renderIndex(tmpl string, v uint64) string {
	b := []byte(tmpl)
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 'x':
			b[i] = byte('0' + v%10)
			v /= 10
		case 'n':
			b[i] = byte('2' + v%8)
			v /= 8
		}
	}
	return string(b)
}
