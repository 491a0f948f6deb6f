package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Store persists entries and checkpoints.
type Store interface {
	// AuditHead returns the last entry of the chain (zero when empty).
	AuditHead(ctx context.Context) (Head, error)
	// InsertAudit stores linked entries atomically, in one round trip.
	// It fails with ErrRace, storing nothing, when another writer took
	// one of their sequence numbers first.
	InsertAudit(ctx context.Context, entries []Entry) error
	// AppendCheckpoint stores a signed checkpoint.
	AppendCheckpoint(ctx context.Context, c Checkpoint) error
}

// ErrRace reports entries numbered after a head that another writer (a
// second process on the same database) has moved on from.
var ErrRace = errors.New("another writer appended to the audit log first")

// WriterOptions tune a Writer.
type WriterOptions struct {
	// MaxBatch bounds the entries of one transaction (default 512).
	MaxBatch int
	// Key signs checkpoints; nil writes none.
	Key ed25519.PrivateKey
	// CheckpointEvery is the number of entries between checkpoints
	// (default 1000); CheckpointInterval the longest time between them
	// when there are new entries (default one minute).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// OnError, if set, hears about checkpoints that could not be stored.
	OnError func(error)
}

// Writer appends entries with group commit.
type Writer struct {
	store Store
	opts  WriterOptions
	in    chan *pending
	wg    sync.WaitGroup
	stop  chan struct{}

	mu     sync.RWMutex // held for reading while sending to in; Close takes it to close
	closed bool

	batches, entries atomic.Int64
}

type pending struct {
	entry Entry
	done  chan error
}

// NewWriter starts a writer; Close stops it.
func NewWriter(store Store, opts WriterOptions) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 1000
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	w := &Writer{store: store, opts: opts, in: make(chan *pending, 4096), stop: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// Record appends an entry and returns it, numbered and hashed, once it is
// committed. An error means the entry is not known to be durable: the
// access it records must not happen.
func (w *Writer) Record(ctx context.Context, e Entry) (Entry, error) {
	out, err := w.RecordAll(ctx, []Entry{e})
	if err != nil {
		return e, err
	}
	return out[0], nil
}

// RecordAll appends the entries of one request (a search that returns
// several profiles) and returns them once every one is committed.
func (w *Writer) RecordAll(ctx context.Context, es []Entry) ([]Entry, error) {
	ps := make([]*pending, len(es))
	now := time.Now()
	for i, e := range es {
		if e.At.IsZero() {
			e.At = now
		}
		e.sanitize()
		ps[i] = &pending{entry: e, done: make(chan error, 1)}
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, fmt.Errorf("writer closed: %w", ErrUnavailable)
	}
	for _, p := range ps {
		select {
		case w.in <- p:
		case <-ctx.Done():
			w.mu.RUnlock()
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	w.mu.RUnlock()
	out := make([]Entry, len(es))
	for i, p := range ps {
		select {
		case err := <-p.done:
			if err != nil {
				return nil, err
			}
			out[i] = p.entry
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	return out, nil
}

// Stats reports the transactions committed and the entries in them.
func (w *Writer) Stats() (batches, entries int64) { return w.batches.Load(), w.entries.Load() }

// Close stops accepting entries, writes those already accepted, signs a
// last checkpoint, and returns.
func (w *Writer) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.stop)
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *Writer) loop() {
	defer w.wg.Done()
	var (
		head  Head
		known bool // head is what the database holds, as far as we know
		// A checkpoint is signed and stored beside the appends, on a
		// connection of its own, not between them: the entries waiting
		// for their commit do not wait for a checkpoint's commit too.
		// One is in flight at a time; a due checkpoint that finds one in
		// flight waits for the next group.
		signing  sync.WaitGroup
		inFlight atomic.Bool
	)
	since, lastCheckpoint := 0, time.Now()
	checkpoint := func() {
		if !inFlight.CompareAndSwap(false, true) {
			return
		}
		signing.Add(1)
		go func(h Head) {
			defer signing.Done()
			defer inFlight.Store(false)
			w.checkpoint(h)
		}(head)
		since, lastCheckpoint = 0, time.Now()
	}
	defer signing.Wait()
	for {
		var first *pending
		select {
		case first = <-w.in:
		case <-w.stop:
			// Drain what was accepted before the stop.
			select {
			case first = <-w.in:
			default:
				// Sign the head on the way out, so that a log cut
				// after shutdown is detected.
				signing.Wait()
				if since > 0 {
					w.checkpoint(head)
				}
				return
			}
		case <-time.After(w.opts.CheckpointInterval):
			if since > 0 {
				checkpoint()
			}
			continue
		}
		batch := []*pending{first}
	gather:
		for len(batch) < w.opts.MaxBatch {
			select {
			case p := <-w.in:
				batch = append(batch, p)
			default:
				break gather
			}
		}
		// commit appends a group in one transaction and, when it is
		// durable, gives each its numbered entry.
		commit := func(group []*pending) error {
			entries := make([]Entry, len(group))
			for i, p := range group {
				entries[i] = p.entry
			}
			next, err := w.append(entries, &head, &known)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			head = next
			w.batches.Add(1)
			w.entries.Add(int64(len(entries)))
			since += len(entries)
			for i, p := range group {
				p.entry = entries[i]
			}
			return nil
		}
		err := commit(batch)
		if err != nil && len(batch) > 1 {
			// One faulty entry must not fail its neighbours: each is
			// tried alone, and only what fails alone fails.
			for _, p := range batch {
				p.done <- commit([]*pending{p})
			}
			err = nil
		} else {
			for _, p := range batch {
				p.done <- err
			}
		}
		if err == nil && (since >= w.opts.CheckpointEvery || time.Since(lastCheckpoint) >= w.opts.CheckpointInterval) {
			checkpoint()
		}
	}
}

// append numbers and hashes entries after the head this writer believes
// in and stores them in one round trip. The head is read from the store
// only when unknown: at start, after a failure, or when another writer
// raced ahead (the store refuses numbers already taken, so the chain never
// forks).
func (w *Writer) append(entries []Entry, head *Head, known *bool) (Head, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if !*known {
			h, err := w.store.AuditHead(ctx)
			if err != nil {
				return Head{}, err
			}
			*head, *known = h, true
		}
		next := Link(*head, entries)
		if err = w.store.InsertAudit(ctx, entries); err == nil {
			return next, nil
		}
		*known = false
		if !errors.Is(err, ErrRace) {
			return Head{}, err
		}
	}
	return Head{}, err
}

func (w *Writer) checkpoint(head Head) {
	if w.opts.Key == nil || head.Seq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.store.AppendCheckpoint(ctx, Sign(w.opts.Key, head, time.Now())); err != nil && w.opts.OnError != nil {
		w.opts.OnError(errors.Join(errors.New("store audit checkpoint"), err))
	}
}
