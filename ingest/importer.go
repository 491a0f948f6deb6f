package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/vault"
)

// Status is what an import did with one record.
type Status string

// The statuses of an imported record.
const (
	StatusCreated   Status = "created"
	StatusUpdated   Status = "updated"
	StatusUnchanged Status = "unchanged"
	StatusRejected  Status = "rejected"
	// StatusSuppressed: a new record of a person who was erased (one of
	// their strong identifiers is suppressed); nothing was written.
	StatusSuppressed Status = "suppressed"
)

// Result is the outcome for one input record.
type Result struct {
	Line     int
	Source   string
	RecordID uuid.UUID // zero when rejected
	Status   Status
	Problems []Problem
}

// Sealed is one record ready for the store. Its subject key has the
// record's id. The plaintext it was sealed from stays in memory only, to
// re-seal it under a stored record's key.
type Sealed struct {
	ID     uuid.UUID
	Source string
	Key    *vault.SubjectKey
	Flags  identity.Flags
	vault.SealedRecord

	record *identity.Record
	norm   *identity.Normalized
}

// Existing is the stored record that a sealed record with the same source
// and source id updates: its id (which is also its subject key's id), its
// wrapped subject key and its fingerprint.
type Existing struct {
	ID          uuid.UUID
	KEK         int32
	Wrapped     []byte
	Fingerprint []byte
}

// Outcome is what the store did with one sealed record.
type Outcome struct {
	ID     uuid.UUID
	Status Status // created, updated or unchanged
}

// Store persists sealed records.
type Store interface {
	// UpsertRecords writes a batch in one transaction and returns one
	// outcome per record, in order. A record whose (source, source key) is
	// stored with the same fingerprint is unchanged; with another
	// fingerprint, reseal is called to seal it under the stored record's
	// key before the store updates it and keeps the previous version. The
	// batch holds each (source, source key) at most once.
	UpsertRecords(ctx context.Context, actor string, batch []*Sealed, reseal func(*Sealed, Existing) error) ([]Outcome, error)
}

// Importer runs the import pipeline. Set the fields, then call Import; an
// Importer may run several imports, one after the other or concurrently.
type Importer struct {
	Vault      *vault.Vault
	Store      Store
	Normalizer identity.Normalizer
	// Actor is recorded as the author of created and updated records.
	Actor string
	// Sources checks that a record's source may be written, returning
	// ErrUnknownSource or ErrForbiddenSource (wrapped) when not; nil
	// accepts every source. It is called from one goroutine at a time.
	Sources func(name string) error
	// BatchSize is the number of records written per transaction
	// (default 2000).
	BatchSize int
	// Workers is the number of sealing goroutines (default GOMAXPROCS).
	Workers int
	// Progress, if set, is called after each batch is written.
	Progress func(Summary)
}

// batch is a run of inputs that the writer stores in one transaction.
type batch struct {
	seq    int
	inputs []Input
	sealed []*Sealed // one per accepted input, in order
	err    error
}

// Import reads every record from r and stores the acceptable ones. emit, if
// not nil, receives each record's result in input order. The returned
// summary counts what was done even when Import fails: batches written
// before a failure stay written, and no batch is written in part.
func (im *Importer) Import(ctx context.Context, r Reader, emit func(Result)) (Summary, error) {
	start := time.Now()
	sum := newSummary()
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	batches := make(chan *batch, workers)
	sealed := make(chan *batch, workers)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- im.read(ctx, r, batches)
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				im.seal(b)
				select {
				case sealed <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(sealed)
	}()

	// The writer stores batches in input order, so that a record repeated
	// in a later batch is applied after its earlier version.
	var failed error
	pending := make(map[int]*batch)
	next := 0
	for b := range sealed {
		if failed != nil {
			continue // drain
		}
		pending[b.seq] = b
		for {
			nb, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := im.write(ctx, nb, &sum, emit); err != nil {
				failed = err
				cancel(err)
				break
			}
			if im.Progress != nil {
				sum.Elapsed = time.Since(start)
				im.Progress(sum)
			}
		}
	}
	sum.Elapsed = time.Since(start)
	if failed != nil {
		return sum, failed
	}
	if err := <-readErr; err != nil {
		return sum, err
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return sum, err
	}
	return sum, ctx.Err()
}

// read turns the input stream into batches: at most BatchSize records, cut
// early where a (source, source id) repeats so that a batch never holds a
// record twice.
func (im *Importer) read(ctx context.Context, r Reader, out chan<- *batch) error {
	size := im.BatchSize
	if size <= 0 {
		size = 2000
	}
	seq := 0
	cur := &batch{}
	keys := make(map[string]struct{}, size)
	flush := func() bool {
		if len(cur.inputs) == 0 {
			return true
		}
		cur.seq = seq
		seq++
		select {
		case out <- cur:
		case <-ctx.Done():
			return false
		}
		cur = &batch{inputs: make([]Input, 0, size)}
		clear(keys)
		return true
	}
	for {
		in, err := r.Next()
		if errors.Is(err, io.EOF) {
			flush()
			return nil
		}
		if err != nil {
			flush()
			return err
		}
		if !in.Rejected() && im.Sources != nil {
			if err := im.Sources(in.Record.Source); err != nil {
				in.Problems = append(in.Problems, Problem{Field: "source", Reason: sourceReason(err)})
			}
		}
		if !in.Rejected() {
			key := in.Record.Source + "\x00" + in.Record.SourceID
			if _, dup := keys[key]; dup {
				if !flush() {
					return nil
				}
			}
			keys[key] = struct{}{}
		}
		cur.inputs = append(cur.inputs, in)
		if len(cur.inputs) >= size && !flush() {
			return nil
		}
	}
}

func sourceReason(err error) string {
	switch {
	case errors.Is(err, ErrUnknownSource):
		return "unknown source: an administrator registers it with `cdp sources add`"
	case errors.Is(err, ErrForbiddenSource):
		return "source not writable by this department"
	}
	return "source not accepted"
}

// seal normalises and seals every accepted input of a batch.
func (im *Importer) seal(b *batch) {
	ix := im.Vault.Index()
	b.sealed = make([]*Sealed, 0, len(b.inputs))
	for i := range b.inputs {
		in := &b.inputs[i]
		if in.Rejected() {
			continue
		}
		n := im.Normalizer.Normalize(&in.Record.Attributes)
		id, err := uuid.NewV7()
		if err != nil {
			b.err = fmt.Errorf("record id: %w", err)
			return
		}
		key, err := im.Vault.NewSubjectKey(id)
		if err != nil {
			b.err = fmt.Errorf("line %d: %w", in.Line, err)
			return
		}
		sr, err := key.SealRecord(ix, &in.Record, &n)
		if err != nil {
			b.err = fmt.Errorf("line %d: %w", in.Line, err)
			return
		}
		b.sealed = append(b.sealed, &Sealed{
			ID: id, Source: in.Record.Source, Key: key, Flags: n.Flags, SealedRecord: sr,
			record: &in.Record, norm: &n,
		})
	}
}

// reseal seals a record again under the key of the stored record it
// updates: a record keeps one subject key for its whole life.
func (im *Importer) reseal(s *Sealed, ex Existing) error {
	key, err := im.Vault.OpenSubjectKey(ex.ID, ex.KEK, ex.Wrapped)
	if err != nil {
		return fmt.Errorf("reseal record %s: %w", ex.ID, err)
	}
	sr, err := key.SealRecord(im.Vault.Index(), s.record, s.norm)
	if err != nil {
		return fmt.Errorf("reseal record %s: %w", ex.ID, err)
	}
	s.ID, s.Key, s.SealedRecord = ex.ID, key, sr
	return nil
}

// write stores one batch and reports its results.
func (im *Importer) write(ctx context.Context, b *batch, sum *Summary, emit func(Result)) error {
	if b.err != nil {
		return b.err
	}
	var outcomes []Outcome
	if len(b.sealed) > 0 {
		var err error
		outcomes, err = im.Store.UpsertRecords(ctx, im.Actor, b.sealed, im.reseal)
		if err != nil {
			return fmt.Errorf("write records from line %d: %w", b.inputs[0].Line, err)
		}
		if len(outcomes) != len(b.sealed) {
			return fmt.Errorf("write records: store returned %d outcomes for %d records", len(outcomes), len(b.sealed))
		}
	}
	k := 0
	for i := range b.inputs {
		in := &b.inputs[i]
		res := Result{Line: in.Line, Source: in.Record.Source}
		if in.Rejected() {
			res.Status, res.Problems = StatusRejected, in.Problems
		} else {
			res.RecordID, res.Status = outcomes[k].ID, outcomes[k].Status
			k++
			if res.Status == StatusCreated || res.Status == StatusUpdated {
				FieldNames(&in.Record, sum.Fields)
			}
		}
		sum.add(res)
		if emit != nil {
			emit(res)
		}
	}
	return nil
}
