package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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

// Store is where interactions go (postgres.DB).
type Store interface {
	// RecordsOfSource finds the live records of sources by the blind
	// index of their source ids, with their keys; those it does not find
	// are absent from the answer.
	RecordsOfSource(ctx context.Context, refs []SourceRef) (map[SourceRef]RecordRef, error)
	// InsertInteractions writes the interactions new by (source, source
	// key) and returns the ids of those it wrote (the others were there
	// already).
	InsertInteractions(ctx context.Context, is []Stored) (map[uuid.UUID]bool, error)
}

// SourceRef names a record by its source and the blind index of its id
// there.
type SourceRef struct {
	Source string
	Key    string // the blind index's bytes
}

// RecordRef is a record found, with its wrapped key.
type RecordRef struct {
	ID      uuid.UUID
	KEK     int32
	Wrapped []byte
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
	// 5000).
	BatchSize int
	// Workers is how many batches are looked up, sealed and written at
	// once (default 4).
	Workers int
}

// Import reads with read and writes what it can; each line's result goes
// to result (optional, called from one goroutine at a time). A bad line
// never blocks the good ones. Batches are written by several workers at
// once, so results arrive batch by batch, not in line order.
func (im Importer) Import(ctx context.Context, read func(fn func(Input) error) error, result func(Result)) (Summary, error) {
	var sum Summary
	size := im.BatchSize
	if size <= 0 {
		size = 5000
	}
	workers := im.Workers
	if workers <= 0 {
		workers = 4
	}
	var mu sync.Mutex
	report := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
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
	keys := newKeyCache(im.Vault, 100000)
	batches := make(chan []Input, workers)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := im.write(ctx, b, keys, report); err != nil {
					cancel(err)
				}
			}
		}()
	}
	var pending []Input
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
		pending = append(pending, in)
		if len(pending) >= size {
			select {
			case batches <- pending:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			pending = nil
		}
		return nil
	})
	if err == nil && len(pending) > 0 {
		select {
		case batches <- pending:
		case <-ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	if err != nil {
		return sum, err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return sum, cause
	}
	return sum, ctx.Err()
}

// write looks up the records of a batch in one query, seals the
// attributes under each record's key and writes the batch.
func (im Importer) write(ctx context.Context, batch []Input, keys *keyCache, report func(Result)) error {
	ix := im.Vault.Index()
	refs := make([]SourceRef, len(batch))
	want := make([]SourceRef, 0, len(batch))
	seen := make(map[SourceRef]bool, len(batch))
	for i := range batch {
		it := &batch[i].Interaction
		refs[i] = SourceRef{Source: it.Source, Key: string(ix.SourceKey(it.RecordSourceID))}
		if !seen[refs[i]] {
			seen[refs[i]] = true
			want = append(want, refs[i])
		}
	}
	found, err := im.Store.RecordsOfSource(ctx, want)
	if err != nil {
		return err
	}
	stored := make([]Stored, 0, len(batch))
	lines := make([]int, 0, len(batch))
	for i := range batch {
		in := &batch[i]
		it := &in.Interaction
		rec, ok := found[refs[i]]
		if !ok {
			report(Result{Line: in.Line, Status: Rejected, Problems: []Problem{{in.Line, "record_source_id",
				"no customer record of source " + it.Source + " with that id (import the customer first)"}}})
			continue
		}
		s := Stored{ID: uuid.Must(uuid.NewV7()), Source: it.Source, SourceKey: ix.SourceKey("interaction:" + it.SourceID), Record: rec.ID,
			Type: it.Type, Channel: it.Channel, OccurredAt: it.OccurredAt, Amount: it.Amount, Currency: it.Currency,
			Quantity: it.Quantity, Satisfaction: it.Satisfaction, Cost: it.Cost}
		if len(it.Attributes) > 0 {
			key, err := keys.get(rec)
			if err != nil {
				return fmt.Errorf("record %s: %w", rec.ID, err)
			}
			b, _ := json.Marshal(it.Attributes)
			if s.Sealed, err = key.Seal(vault.ContextInteraction, []vault.Item{{Tag: 1, Value: b}}); err != nil {
				return err
			}
		}
		stored, lines = append(stored, s), append(lines, in.Line)
	}
	if len(stored) == 0 {
		return nil
	}
	created, err := im.Store.InsertInteractions(ctx, stored)
	if err != nil {
		return err
	}
	for i, line := range lines {
		status := Unchanged
		if created[stored[i].ID] {
			status = Created
		}
		report(Result{Line: line, Status: status})
	}
	return nil
}

// keyCache keeps opened record keys: a customer's interactions arrive
// together, and opening a wrapped key is the costly part of sealing.
type keyCache struct {
	v   *vault.Vault
	max int
	mu  sync.Mutex
	m   map[uuid.UUID]*vault.SubjectKey
}

func newKeyCache(v *vault.Vault, max int) *keyCache {
	return &keyCache{v: v, max: max, m: map[uuid.UUID]*vault.SubjectKey{}}
}

func (c *keyCache) get(rec RecordRef) (*vault.SubjectKey, error) {
	c.mu.Lock()
	k, ok := c.m[rec.ID]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := c.v.OpenSubjectKey(rec.ID, rec.KEK, rec.Wrapped)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[rec.ID] = k
	c.mu.Unlock()
	return k, nil
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
