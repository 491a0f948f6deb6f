package identity

import (
	_ "embed"
	"sync"
)

// defaultModelJSON is a model trained on synthetic customer data (cdp demo
// generate, 20,000 records): the weights a store uses before it holds
// enough records to train its own. Regenerate it with
// `CDP_WRITE_DEFAULT_MODEL=1 go test ./identity -run TestDefaultModel`.
//
//go:embed default_model.json
var defaultModelJSON []byte

var defaultModel = sync.OnceValues(func() (*Model, error) { return ParseModel(defaultModelJSON) })

// DefaultModel returns a copy of the built-in model.
func DefaultModel() *Model {
	m, err := defaultModel()
	if err != nil {
		panic("identity: built-in model: " + err.Error()) // a build defect; TestDefaultModel guards it
	}
	cp := *m
	cp.Comparisons = append([]ComparisonParams(nil), m.Comparisons...)
	return &cp
}
