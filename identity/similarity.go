package identity

import (
	"strings"
	"unicode/utf8"
)

// JaroWinkler returns the Jaro-Winkler similarity of two strings, from 0
// (nothing in common) to 1 (equal), with the usual prefix scale 0.1 over at
// most 4 characters. It compares runes, so accented input is handled, with a
// fast path for ASCII.
func JaroWinkler(a, b string) float64 {
	if a == b {
		if a == "" {
			return 0
		}
		return 1
	}
	if a == "" || b == "" {
		return 0
	}
	if isASCII(a) && isASCII(b) && len(a) <= 64 && len(b) <= 64 {
		return jaroWinklerBytes(a, b)
	}
	return jaroWinkler([]rune(a), []rune(b))
}

// jaroWinklerBytes is JaroWinkler for ASCII strings of at most 64 bytes.
func jaroWinklerBytes(a, b string) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	la, lb := len(a), len(b)
	window := max(lb/2-1, 0)
	var matchedA, matchedB [64]bool
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		for j := lo; j <= hi; j++ {
			if !matchedB[j] && a[i] == b[j] {
				matchedA[i], matchedB[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions := 0
	j := 0
	for i := 0; i < la; i++ {
		if !matchedA[i] {
			continue
		}
		for !matchedB[j] {
			j++
		}
		if a[i] != b[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(la) + m/float64(lb) + (m-float64(transpositions/2))/m) / 3
	prefix := 0
	for prefix < min(4, la) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

func jaroWinkler(a, b []rune) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	la, lb := len(a), len(b)
	window := max(lb/2-1, 0)
	matchedA := make([]bool, la)
	matchedB := make([]bool, lb)
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		for j := lo; j <= hi; j++ {
			if !matchedB[j] && a[i] == b[j] {
				matchedA[i], matchedB[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := 0; i < la; i++ {
		if !matchedA[i] {
			continue
		}
		for !matchedB[j] {
			j++
		}
		if a[i] != b[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(la) + m/float64(lb) + (m-float64(transpositions/2))/m) / 3
	prefix := 0
	for prefix < min(4, la) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// EditDistance returns the optimal-string-alignment distance of two
// strings (insertions, deletions, substitutions and transpositions of
// adjacent characters each cost 1), or limit+1 when it exceeds limit.
func EditDistance(a, b string, limit int) int {
	if a == b {
		return 0
	}
	if !isASCII(a) || !isASCII(b) {
		return editDistanceRunes([]rune(a), []rune(b), limit)
	}
	return editDistanceASCII(a, b, limit)
}

// editDistanceASCII is EditDistance for ASCII strings: a banded dynamic
// programme that only fills the cells within limit of the diagonal.
func editDistanceASCII(a, b string, limit int) int {
	if a == b {
		return 0
	}
	la, lb := len(a), len(b)
	if d := la - lb; d > limit || -d > limit {
		return limit + 1
	}
	if la == 0 || lb == 0 {
		return max(la, lb)
	}
	if lb > 62 {
		return editDistanceRunes([]rune(a), []rune(b), limit)
	}
	const inf = 1 << 20
	var rows [3][64]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= lb; j++ {
		if j <= limit {
			prev[j] = j
		} else {
			prev[j] = inf
		}
	}
	for i := 1; i <= la; i++ {
		lo, hi := max(1, i-limit), min(lb, i+limit)
		if lo > 1 {
			cur[lo-1] = inf
		}
		if i <= limit {
			cur[0] = i
		} else {
			cur[0] = inf
		}
		best := inf
		if lo == 1 {
			best = cur[0]
		}
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if hi < lb {
			cur[hi+1] = inf
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[lb], limit+1)
}

func editDistanceRunes(a, b []rune, limit int) int {
	la, lb := len(a), len(b)
	if d := la - lb; d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, lb+1)
	prev := make([]int, lb+1)
	cur := make([]int, lb+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		best := i
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[lb], limit+1)
}

// TokenSimilarity compares two multi-word values by their words: the share
// of words of the shorter value that have a close word (Jaro-Winkler of at
// least 0.9) in the other, from 0 to 1.
func TokenSimilarity(a, b string) float64 {
	return wordSimilarity(strings.Fields(a), strings.Fields(b))
}

// wordSimilarity is TokenSimilarity of values already split into words.
func wordSimilarity(ta, tb []string) float64 {
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	if len(ta) > len(tb) {
		ta, tb = tb, ta
	}
	var usedBuf [16]bool
	used := usedBuf[:0]
	if len(tb) > len(usedBuf) {
		used = make([]bool, len(tb))
	} else {
		used = usedBuf[:len(tb)]
	}
	hit := 0
	for _, x := range ta {
		best, bi := 0.0, -1
		for j, y := range tb {
			if used[j] {
				continue
			}
			s := 1.0
			if x != y {
				if utf8.RuneCountInString(x) < 3 || utf8.RuneCountInString(y) < 3 {
					continue
				}
				if len(x) <= 64 && len(y) <= 64 && isASCII(x) && isASCII(y) {
					s = jaroWinklerBytes(x, y)
				} else {
					s = JaroWinkler(x, y)
				}
			}
			if s > best {
				best, bi = s, j
			}
		}
		if best >= 0.9 {
			used[bi] = true
			hit++
		}
	}
	return float64(hit) / float64(len(ta))
}
