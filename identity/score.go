package identity

import (
	"fmt"
	"math"
)

// scorer turns comparison patterns into match weights with a model.
type scorer struct {
	comps     []comparison
	weights   [][]float64 // bits per comparison level; level 0 weighs nothing
	exactM    []float64   // m of each comparison's exact level, for term frequencies
	tf        []termFrequencies
	priorBits float64
}

func newScorer(m *Model, comps []comparison, tf []termFrequencies) (*scorer, error) {
	s := &scorer{comps: comps, tf: tf, priorBits: bitsOf(m.Prior)}
	s.weights = make([][]float64, len(comps))
	s.exactM = make([]float64, len(comps))
	for ci, c := range comps {
		params, ok := m.comparison(c.name)
		if !ok {
			// A comparison the model was not trained for (an extra
			// attribute new since): it weighs nothing.
			s.weights[ci] = make([]float64, len(c.levels)+1)
			continue
		}
		if len(params.Levels) != len(c.levels) {
			return nil, fmt.Errorf("model comparison %s has %d levels, this engine %d: %w", c.name, len(params.Levels), len(c.levels), ErrInvalid)
		}
		w := make([]float64, len(c.levels)+1)
		for l, lp := range params.Levels {
			w[l+1] = lp.Weight()
		}
		s.weights[ci] = w
		s.exactM[ci] = params.Levels[0].M
	}
	return s, nil
}

// bits is the match weight of a compared pair: the prior plus each level's
// weight, with exact agreement on a value weighed by how rare the value is.
func (s *scorer) bits(recs []rec, p pair) float64 {
	b := s.priorBits
	for ci := range s.comps {
		l := p.level(ci)
		if l == 0 {
			continue
		}
		if l == 1 && s.tf[ci].total > 0 {
			if f := s.tf[ci].frequency(p.a); f > 0 {
				b += math.Log2(s.exactM[ci] / float64(f))
				continue
			}
		}
		b += s.weights[ci][l]
	}
	return b
}

// pairOf compares two records on demand.
func (s *scorer) pairOf(recs []rec, a, b int32) pair {
	return pair{a: a, b: b, pattern: compareAll(&recs[a], &recs[b], s.comps)}
}
