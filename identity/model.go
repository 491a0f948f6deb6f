package identity

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// ModelFormat is the version of the stored model's format.
const ModelFormat = 1

// Model is a trained Fellegi-Sunter model: for every comparison, the
// probability of each level among records of the same person (m) and among
// records of different persons (u); the prior probability that two random
// records are the same person; the thresholds that turn scores into
// decisions; the blocking rules that chose the pairs to compare. It is
// versioned and stored; `cdp resolve train` makes a new version from the
// data in the store.
type Model struct {
	Format      int                `json:"format"`
	Version     int                `json:"version"` // assigned by the store
	TrainedAt   time.Time          `json:"trained_at"`
	Records     int                `json:"records"` // records it was trained on
	Prior       float64            `json:"prior"`
	Comparisons []ComparisonParams `json:"comparisons"`
	// LinkThreshold is the match probability at or above which two records
	// are linked without review.
	LinkThreshold float64 `json:"link_threshold"`
	// ReviewThreshold is the match probability at or above which (and below
	// LinkThreshold) a pair goes to a data steward.
	ReviewThreshold float64  `json:"review_threshold"`
	Blocking        []string `json:"blocking"`
	// EMIterations and Converged describe the training.
	EMIterations int  `json:"em_iterations"`
	Converged    bool `json:"converged"`
}

// ComparisonParams are a comparison's trained level probabilities.
type ComparisonParams struct {
	Name   string        `json:"name"`
	Levels []LevelParams `json:"levels"`
}

// LevelParams are the probabilities of one comparison level.
type LevelParams struct {
	Name string  `json:"name"`
	M    float64 `json:"m"`
	U    float64 `json:"u"`
}

// Weight is the level's match weight in bits: log2(m/u).
func (l LevelParams) Weight() float64 { return math.Log2(l.M / l.U) }

// Default thresholds.
const (
	DefaultLinkThreshold   = 0.95
	DefaultReviewThreshold = 0.5
)

// MarshalJSON and UnmarshalJSON use the plain struct encoding; they exist
// to validate on the way in.

// ParseModel reads a stored model and checks it.
func ParseModel(data []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse model: %w: %w", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks that the model can score pairs.
func (m *Model) Validate() error {
	if m.Format != ModelFormat {
		return fmt.Errorf("model format %d, want %d: %w", m.Format, ModelFormat, ErrInvalid)
	}
	if !(m.Prior > 0 && m.Prior < 1) {
		return fmt.Errorf("model prior %v outside (0, 1): %w", m.Prior, ErrInvalid)
	}
	if !(m.ReviewThreshold > 0 && m.ReviewThreshold <= m.LinkThreshold && m.LinkThreshold < 1) {
		return fmt.Errorf("model thresholds review %v, link %v: want 0 < review <= link < 1: %w", m.ReviewThreshold, m.LinkThreshold, ErrInvalid)
	}
	for _, c := range m.Comparisons {
		for _, l := range c.Levels {
			if !(l.M > 0 && l.M <= 1 && l.U > 0 && l.U <= 1) {
				return fmt.Errorf("model comparison %s level %s: m %v, u %v outside (0, 1]: %w", c.Name, l.Name, l.M, l.U, ErrInvalid)
			}
		}
	}
	return nil
}

// comparison returns the parameters of the named comparison.
func (m *Model) comparison(name string) (ComparisonParams, bool) {
	for _, c := range m.Comparisons {
		if c.Name == name {
			return c, true
		}
	}
	return ComparisonParams{}, false
}

// probability turns a total weight in bits into a match probability.
func probability(bits float64) float64 { return 1 / (1 + math.Exp2(-bits)) }

// bitsOf is the inverse of probability.
func bitsOf(p float64) float64 { return math.Log2(p / (1 - p)) }

// Contribution is how much one comparison pushed a pair's match score:
// the weight in bits of the level the pair fell in.
type Contribution struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"`
	Bits       float64 `json:"bits"`
}

// Explain breaks a pair's score into the prior's weight and each
// comparison's contribution, in the model's order (levels are the
// comparison levels the pair fell in, by comparison name; comparisons it
// has no level for contribute nothing). The sum is the score in bits.
func (m *Model) Explain(levels map[string]string) (prior float64, cs []Contribution) {
	prior = math.Log2(m.Prior / (1 - m.Prior))
	for _, c := range m.Comparisons {
		name, ok := levels[c.Name]
		if !ok {
			continue
		}
		for _, l := range c.Levels {
			if l.Name == name {
				cs = append(cs, Contribution{Comparison: c.Name, Level: name, Bits: l.Weight()})
			}
		}
	}
	return prior, cs
}
