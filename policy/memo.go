package policy

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A decision is a pure function of the input: no network, no time, no
// randomness reaches the policy (network builtins are disabled; the
// analysis below refuses time and random builtins). So the engine
// memoises decisions by their input, exactly: the key is the whole input,
// minus the parts the policy provably never reads. The embedded policy
// never reads the profile id or the principal's id, so every read of a
// profile with the same sources, consent and flags, by principals with the
// same roles and department, for the same purpose, shares one evaluation.
// A changed consent, a new source, another role: another key.

// inputUse records which identifying parts of the input a policy reads.
type inputUse struct {
	memoisable  bool // no nondeterministic builtin, input never used whole
	profileID   bool
	principalID bool
}

// nondeterministic lists builtins whose result is not a function of the
// input: a policy calling one is evaluated every time.
var nondeterministic = map[string]bool{
	"time.now_ns": true, "rand.intn": true, "uuid.rfc4122": true, "uuid.parse": false,
	"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true, "io.jwt.decode_verify": true,
}

// analyse finds which parts of the input the modules read.
func analyse(modules []*ast.Module) inputUse {
	use := inputUse{memoisable: true}
	whole := func() { use.memoisable = false }
	refHeads, inputVars := 0, 0
	for _, m := range modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Var:
				if v.Equal(ast.InputRootDocument.Value) {
					inputVars++
				}
			case ast.Call:
				if name := v[0].String(); nondeterministic[name] {
					whole()
				}
			case ast.Ref:
				if len(v) > 0 && v[0].Equal(ast.InputRootDocument) {
					refHeads++
					readsRef(v, &use)
				}
				// Built-in calls appear as refs in call position too.
				if nondeterministic[v.String()] {
					whole()
				}
			}
			return false
		})
	}
	if inputVars > refHeads {
		whole() // input passed around as a value
	}
	return use
}

// readsRef notes what a reference into the input can read.
func readsRef(r ast.Ref, use *inputUse) {
	key := func(i int) (string, bool) {
		if i >= len(r) {
			return "", false
		}
		s, ok := r[i].Value.(ast.String)
		return string(s), ok
	}
	top, ok := key(1)
	if !ok {
		use.memoisable = false // input as a whole, or input[x]
		return
	}
	switch top {
	case "resource":
		if k, ok := key(2); !ok || k == "profile_id" {
			use.profileID = true
		}
	case "principal":
		if k, ok := key(2); !ok || k == "id" {
			use.principalID = true
		}
	}
}

// memo is a bounded map from input keys to decisions.
type memo struct {
	use          inputUse
	mu           sync.RWMutex
	m            map[string]Decision
	hits, misses atomic.Int64
}

const memoSize = 1 << 14

func (m *memo) get(k string) (Decision, bool) {
	m.mu.RLock()
	d, ok := m.m[k]
	m.mu.RUnlock()
	if ok {
		m.hits.Add(1)
	} else {
		m.misses.Add(1)
	}
	return d, ok
}

func (m *memo) put(k string, d Decision) {
	m.mu.Lock()
	if len(m.m) >= memoSize {
		clear(m.m) // rare: the distinct inputs of a deployment are few
	}
	m.m[k] = d
	m.mu.Unlock()
}

// key encodes the input unambiguously, without what the policy never
// reads, with maps in key order.
func (m *memo) key(in *Input) string {
	b := make([]byte, 0, 256)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	flag := func(x bool) {
		if x {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	str(string(in.Principal.Kind))
	if m.use.principalID {
		str(in.Principal.ID)
	}
	str(in.Principal.Department)
	b = binary.AppendUvarint(b, uint64(len(in.Principal.Roles)))
	for _, r := range in.Principal.Roles {
		str(string(r))
	}
	str(in.Action)
	str(in.Purpose)
	ids := make([]string, 0, len(in.Purposes))
	for id := range in.Purposes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		p := in.Purposes[id]
		str(id)
		str(p.LegalBasis)
		flag(p.RequiresConsent)
		flag(p.AllowsObjection)
		b = binary.AppendUvarint(b, uint64(len(p.Departments)))
		for _, d := range p.Departments {
			str(d)
		}
	}
	if m.use.profileID {
		str(in.Resource.ProfileID)
	}
	flag(in.Resource.Self)
	flag(in.Resource.Restricted)
	flag(in.Resource.LegalHold)
	ids = ids[:0]
	for p := range in.Resource.Consent {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, p := range ids {
		str(p)
		str(in.Resource.Consent[p])
	}
	b = binary.AppendUvarint(b, uint64(len(in.Resource.Sources)))
	for _, s := range in.Resource.Sources {
		str(s.Name)
		str(s.Department)
		str(s.LegalBasis)
		b = binary.AppendUvarint(b, uint64(len(s.Purposes)))
		for _, p := range s.Purposes {
			str(p)
		}
	}
	if r := in.Resource.Record; r != nil {
		flag(true)
		str(r.Source)
		str(r.Department)
	} else {
		flag(false)
	}
	return string(b)
}
