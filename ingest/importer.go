package ingest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"runtime"
	"slices"
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
	Lane   int // Lane(Source, source id): the store locks (Source, Lane) while it writes
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
	// Writers is the number of transactions writing at once (default 2).
	// Each writes the records of its own lane (Lane): a record is always
	// written by the same writer, in input order.
	Writers int
	// Progress, if set, is called after each batch is written.
	Progress func(Summary)
}

// Lanes is the number of lanes records are spread over by their source
// and source id. A writer takes the lock of each (source, lane) its batch
// holds, so that writers of different lanes never wait for each other and
// writers of the same record (in this process or another) take turns.
const Lanes = 16

// Lane returns the lane of a record with this source and source id.
func Lane(source, sourceID string) int {
	h := fnv.New32a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(sourceID))
	return int(h.Sum32() % Lanes)
}

// batch is a run of inputs that one writer stores in one transaction.
type batch struct {
	writer int    // which writer stores it
	seq    int    // its place among that writer's batches
	slots  []slot // one per input
	inputs []Input
	sealed []*Sealed // one per accepted input, in order
	err    error
}

// slot is where an input of a batch came from: its number in the input
// (from 0) and its lane.
type slot struct{ input, lane int }

// written is a batch's results, in the order of its inputs.
type written struct {
	b       *batch
	results []Result
	err     error
}

// stored is a result waiting for its turn to be reported, with its input.
type stored struct {
	res Result
	in  *Input
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
	writers := im.Writers
	if writers <= 0 {
		writers = 2
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	batches := make(chan *batch, workers)
	sealed := make(chan *batch, workers)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- im.read(ctx, r, writers, batches)
	}()
	var seal sync.WaitGroup
	for range workers {
		seal.Add(1)
		go func() {
			defer seal.Done()
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
		seal.Wait()
		close(sealed)
	}()

	// Each writer stores its batches in their order, so that a record
	// repeated in a later batch is applied after its earlier version.
	lanes := make([]chan *batch, writers)
	done := make(chan written, writers)
	var write sync.WaitGroup
	for w := range lanes {
		lanes[w] = make(chan *batch, 1)
		write.Add(1)
		go func() {
			defer write.Done()
			for b := range lanes[w] {
				res, err := im.write(ctx, b)
				done <- written{b: b, results: res, err: err}
				if err != nil {
					cancel(err)
					for range lanes[w] {
						// drain
					}
					return
				}
			}
		}()
	}
	go func() {
		defer func() {
			for _, l := range lanes {
				close(l)
			}
		}()
		pending := make([]map[int]*batch, writers)
		next := make([]int, writers)
		for w := range pending {
			pending[w] = map[int]*batch{}
		}
		for b := range sealed {
			pending[b.writer][b.seq] = b
			for {
				nb, ok := pending[b.writer][next[b.writer]]
				if !ok {
					break
				}
				delete(pending[b.writer], next[b.writer])
				next[b.writer]++
				select {
				case lanes[b.writer] <- nb:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	go func() {
		write.Wait()
		close(done)
	}()

	// Results reach emit in input order, whichever writer stored them.
	var failed error
	waiting := map[int]stored{}
	nextInput := 0
	report := func(n int) {
		st := waiting[n]
		delete(waiting, n)
		if st.res.Status == StatusCreated || st.res.Status == StatusUpdated {
			FieldNames(&st.in.Record, sum.Fields)
		}
		sum.add(st.res)
		if emit != nil {
			emit(st.res)
		}
	}
	for wr := range done {
		if wr.err != nil {
			if failed == nil {
				failed = wr.err
			}
			continue
		}
		// After a failure the other writer's batches still count: they
		// are written.
		for i, res := range wr.results {
			waiting[wr.b.slots[i].input] = stored{res: res, in: &wr.b.inputs[i]}
		}
		for ; failed == nil; nextInput++ {
			if _, ok := waiting[nextInput]; !ok {
				break
			}
			report(nextInput)
		}
		if im.Progress != nil && failed == nil {
			sum.Elapsed = time.Since(start)
			im.Progress(sum)
		}
	}
	if failed != nil {
		// What was written past the failed batch is reported in input
		// order, with the gap of what was not.
		rest := slices.Sorted(maps.Keys(waiting))
		for _, n := range rest {
			report(n)
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

// read turns the input stream into batches, one stream per writer: a
// record goes to the writer of its lane; a writer's batch holds at most
// BatchSize records and is cut early where a (source, source id) repeats,
// so that a batch never holds a record twice. A rejected input goes with
// the writer's batch it would have joined, to be reported in its place.
func (im *Importer) read(ctx context.Context, r Reader, writers int, out chan<- *batch) error {
	size := im.BatchSize
	if size <= 0 {
		size = 2000
	}
	cur := make([]*batch, writers)
	keys := make([]map[string]struct{}, writers)
	seqs := make([]int, writers)
	for w := range cur {
		cur[w] = &batch{writer: w, inputs: make([]Input, 0, size)}
		keys[w] = make(map[string]struct{}, size)
	}
	flush := func(w int) bool {
		if len(cur[w].inputs) == 0 {
			return true
		}
		cur[w].seq = seqs[w]
		seqs[w]++
		select {
		case out <- cur[w]:
		case <-ctx.Done():
			return false
		}
		cur[w] = &batch{writer: w, inputs: make([]Input, 0, size)}
		clear(keys[w])
		return true
	}
	flushAll := func() bool {
		for w := range cur {
			if !flush(w) {
				return false
			}
		}
		return true
	}
	for n := 0; ; n++ {
		in, err := r.Next()
		if errors.Is(err, io.EOF) {
			flushAll()
			return nil
		}
		if err != nil {
			flushAll()
			return err
		}
		if !in.Rejected() && im.Sources != nil {
			if err := im.Sources(in.Record.Source); err != nil {
				in.Problems = append(in.Problems, Problem{Field: "source", Reason: sourceReason(err)})
			}
		}
		lane := Lane(in.Record.Source, in.Record.SourceID)
		w := lane % writers
		if !in.Rejected() {
			key := in.Record.Source + "\x00" + in.Record.SourceID
			if _, dup := keys[w][key]; dup {
				if !flush(w) {
					return nil
				}
			}
			keys[w][key] = struct{}{}
		}
		cur[w].inputs = append(cur[w].inputs, in)
		cur[w].slots = append(cur[w].slots, slot{input: n, lane: lane})
		if len(cur[w].inputs) >= size && !flush(w) {
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
			ID: id, Source: in.Record.Source, Lane: b.slots[i].lane, Key: key, Flags: n.Flags, SealedRecord: sr,
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

// write stores one batch and returns its results, in the order of its
// inputs.
func (im *Importer) write(ctx context.Context, b *batch) ([]Result, error) {
	if b.err != nil {
		return nil, b.err
	}
	var outcomes []Outcome
	if len(b.sealed) > 0 {
		var err error
		outcomes, err = im.Store.UpsertRecords(ctx, im.Actor, b.sealed, im.reseal)
		if err != nil {
			return nil, fmt.Errorf("write records from line %d: %w", b.inputs[0].Line, err)
		}
		if len(outcomes) != len(b.sealed) {
			return nil, fmt.Errorf("write records: store returned %d outcomes for %d records", len(outcomes), len(b.sealed))
		}
	}
	results := make([]Result, len(b.inputs))
	k := 0
	for i := range b.inputs {
		in := &b.inputs[i]
		res := Result{Line: in.Line, Source: in.Record.Source}
		if in.Rejected() {
			res.Status, res.Problems = StatusRejected, in.Problems
		} else {
			res.RecordID, res.Status = outcomes[k].ID, outcomes[k].Status
			k++
		}
		results[i] = res
	}
	return results, nil
}
