package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/vault"
)

// Stored is an interaction as stored: its columns of figures readable,
// its other columns sealed under its customer record's key.
type Stored struct {
	ID           uuid.UUID
	Source       string
	SourceKey    []byte // blind index of its id in the source
	Record       uuid.UUID
	Type         string
	Channel      string
	OccurredAt   time.Time
	Amount       *float64
	Currency     string
	Quantity     *int
	Satisfaction *int
	Cost         *float64
	Sealed       []byte // the attributes (none: nil)
}

// ErrNoRecord reports an interaction whose customer record the source
// does not hold (or whose key was destroyed: an erased person).
var ErrNoRecord = errors.New("no such customer record")

// Store is where interactions go (postgres.DB).
type Store interface {
	// RecordOfSource finds the record of a source by the blind index of
	// its source id, with its key; ErrNoRecord-like not found when there is
	// none.
	RecordOfSource(ctx context.Context, source string, sourceKey []byte) (uuid.UUID, int32, []byte, error)
	// InsertInteractions writes the interactions new by (source, source
	// key) and returns the ids of those it wrote (the others were there
	// already).
	InsertInteractions(ctx context.Context, is []Stored) (map[uuid.UUID]bool, error)
}

// Status of one line.
const (
	Created   = "created"
	Unchanged = "unchanged" // sent before: interactions are facts, not updated
	Rejected  = "rejected"
)

// Result is one line's outcome.
type Result struct {
	Line     int       `json:"line"`
	Status   string    `json:"status"`
	Problems []Problem `json:"errors,omitempty"`
}

// Summary counts an import.
type Summary struct {
	Created, Unchanged, Rejected int
}

// Importer imports interactions: each checked, tied to its customer
// record, sealed under its key, written idempotently by (source, id).
type Importer struct {
	Vault *vault.Vault
	Store Store
	// Sources checks a source name: registered, and writable by whoever
	// imports (nil: any).
	Sources func(name string) error
	// BatchSize is how many interactions one transaction writes (default
	// 2000).
	BatchSize int
}

// Import reads with read and writes what it can; each line's result goes
// to result (optional). A bad line never blocks the good ones.
func (im Importer) Import(ctx context.Context, read func(fn func(Input) error) error, result func(Result)) (Summary, error) {
	var sum Summary
	batch := max(im.BatchSize, 1)
	if im.BatchSize <= 0 {
		batch = 2000
	}
	var pending []Stored
	var lines []int
	keys := map[string]*vault.SubjectKey{}
	report := func(r Result) {
		switch r.Status {
		case Created:
			sum.Created++
		case Unchanged:
			sum.Unchanged++
		default:
			sum.Rejected++
		}
		if result != nil {
			result(r)
		}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		created, err := im.Store.InsertInteractions(ctx, pending)
		if err != nil {
			return err
		}
		for i, line := range lines {
			status := Unchanged
			if created[pending[i].ID] {
				status = Created
			}
			report(Result{Line: line, Status: status})
		}
		pending, lines = pending[:0], lines[:0]
		return nil
	}
	err := read(func(in Input) error {
		if len(in.Problems) == 0 && im.Sources != nil {
			if err := im.Sources(in.Interaction.Source); err != nil {
				in.Problems = append(in.Problems, Problem{in.Line, "source", err.Error()})
			}
		}
		if len(in.Problems) > 0 {
			report(Result{Line: in.Line, Status: Rejected, Problems: in.Problems})
			return nil
		}
		it := in.Interaction
		ix := im.Vault.Index()
		rec, kek, wrapped, err := im.Store.RecordOfSource(ctx, it.Source, ix.SourceKey(it.RecordSourceID))
		if errors.Is(err, ErrNoRecord) {
			report(Result{Line: in.Line, Status: Rejected, Problems: []Problem{{in.Line, "record_source_id",
				"no customer record of source " + it.Source + " with that id (import the customer first)"}}})
			return nil
		}
		if err != nil {
			return err
		}
		s := Stored{ID: uuid.Must(uuid.NewV7()), Source: it.Source, SourceKey: ix.SourceKey("interaction:" + it.SourceID), Record: rec,
			Type: it.Type, Channel: it.Channel, OccurredAt: it.OccurredAt, Amount: it.Amount, Currency: it.Currency,
			Quantity: it.Quantity, Satisfaction: it.Satisfaction, Cost: it.Cost}
		if len(it.Attributes) > 0 {
			key, ok := keys[rec.String()]
			if !ok {
				if key, err = im.Vault.OpenSubjectKey(rec, kek, wrapped); err != nil {
					return fmt.Errorf("record %s: %w", rec, err)
				}
				if len(keys) > 10000 {
					clear(keys)
				}
				keys[rec.String()] = key
			}
			b, _ := json.Marshal(it.Attributes)
			if s.Sealed, err = key.Seal(vault.ContextInteraction, []vault.Item{{Tag: 1, Value: b}}); err != nil {
				return err
			}
		}
		pending, lines = append(pending, s), append(lines, in.Line)
		if len(pending) >= batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	return sum, flush()
}

// Open reads an interaction's sealed attributes with its record's key.
func Open(key *vault.SubjectKey, sealed []byte) (map[string]string, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	items, err := key.Open(vault.ContextInteraction, sealed, nil)
	if err != nil || len(items) != 1 {
		return nil, fmt.Errorf("interaction attributes: %w", vault.ErrCorrupt)
	}
	var out map[string]string
	if err := json.Unmarshal(items[0].Value, &out); err != nil {
		return nil, fmt.Errorf("interaction attributes: %w", vault.ErrCorrupt)
	}
	return out, nil
}
