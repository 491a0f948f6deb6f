package identity

import "sync"

// CandidateRules are the blocking rules whose keys a store indexes so that
// a new record finds its candidates without a full run: the strong
// identifiers (indexed on their own) and these three, which survive a typo
// in any one other field.
var CandidateRules = [3]string{"given+family", "birth_date+family", "postcode+family"}

// CandidateKeys returns the record's keys under CandidateRules ("" where a
// rule does not apply).
func CandidateKeys(n *Normalized) [3]string {
	r := prepare(n, 0)
	var keys [3]string
	rules := candidateBlocking()
	for i := range rules {
		keys[i] = rules[i].key(&r)
	}
	return keys
}

// candidateBlocking is CandidateRules' blocking rules, found once: building
// every rule for each record was a fifth of an import's sealing.
var candidateBlocking = sync.OnceValue(func() (rules [len(CandidateRules)]blockingRule) {
	for _, rule := range defaultBlocking() {
		for i, name := range CandidateRules {
			if rule.name == name {
				rules[i] = rule
			}
		}
	}
	for i, rule := range rules {
		if rule.name == "" {
			panic("identity: no blocking rule " + CandidateRules[i])
		}
	}
	return rules
})

// soundexCodes is the American Soundex digit of each letter a-z; 0 marks
// vowels and h, w, y, which separate but are not coded.
const soundexCodes = "01230120022455012623010202"

// Soundex returns the American Soundex code of the first word of a folded
// name ("robert" and "rupert" give "R163"); "" when it starts with no letter.
func Soundex(name string) string {
	name = firstWord(name)
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(name) && n < 4; i++ {
		c := name[i]
		if c < 'a' || c > 'z' {
			continue
		}
		code := soundexCodes[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w':
			// h and w do not separate equal codes
		case code == '0':
			last = 0
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return string(out[:])
}
