// Package resolver runs identity resolution over the store: it opens the
// sealed match keys of the records concerned, runs the engine of package
// identity on them, and writes back which profile each record belongs to,
// the links that justify it and the pairs a steward should review.
//
// A full run resolves every record. An incremental run resolves the records
// an import just wrote together with their neighbourhood: the records that
// share a candidate key with them (identity.CandidateRules and the strong
// identifiers, found through blind indexes) and every record of the
// profiles involved, so that a profile is always resolved whole. Steward
// decisions (merge, split, match, distinct) become constraints that every
// later run respects, and are applied with an incremental run at once.
//
// Runs are serialised by a lock in the store: a run reads, computes and
// writes a consistent state.
//
// resolver imports identity, vault and the store interface it declares;
// never a database or HTTP package.
package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/internal/parallel"
	"github.com/cdp-project/cdp/vault"
)

// Sentinel errors.
var (
	// ErrNotFound reports an unknown profile, record or review pair.
	ErrNotFound = derrors.ErrNotFound
	// ErrStale reports a run whose records changed between its read and
	// its write (a record erased meanwhile): nothing was written; running
	// it again reads them anew.
	ErrStale = errors.New("records changed during the run")
	// ErrConflict reports a steward decision that contradicts an earlier
	// one or a rule (a source with one record per person).
	ErrConflict = derrors.New(derrors.ErrConflict, "conflicting decision")
	// ErrInvalid reports a malformed request.
	ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid")
)

// StoredMatch is one record's sealed match keys as stored.
type StoredMatch struct {
	ID      uuid.UUID
	Source  string
	Profile uuid.UUID // uuid.Nil before the first resolution
	KEK     int32
	Wrapped []byte
	Match   []byte
}

// Store is what the resolver reads and writes.
type Store interface {
	// LockResolution serialises runs; unlock releases the lock.
	LockResolution(ctx context.Context) (unlock func(), err error)
	// EachMatches streams every record's sealed match keys in id order,
	// in batches of up to batch records (each a slice the callee may
	// keep); expect is the store's estimate of their number.
	EachMatches(ctx context.Context, batch int, each func(batch []StoredMatch, expect int) error) error
	// Neighbourhood returns the records that share a candidate key with
	// the given records, the given records themselves, and every record of
	// the profiles any of them belongs to. Keys shared by more than
	// maxShared records are too common to tell anything and are skipped.
	Neighbourhood(ctx context.Context, ids []uuid.UUID, maxShared int) ([]StoredMatch, error)
	// ProfileMatches returns the records of the given profiles.
	ProfileMatches(ctx context.Context, profiles []uuid.UUID) ([]StoredMatch, error)
	// Constraints returns the steward constraints among the given records
	// (all of them when ids is nil).
	Constraints(ctx context.Context, ids []uuid.UUID) ([]identity.Constraint, error)
	Sources(ctx context.Context) ([]identity.Source, error)
	// ActiveModel returns the model in use and its version; ErrNotFound
	// when none was trained yet.
	ActiveModel(ctx context.Context) (*identity.Model, int, error)
	// SaveModel stores a new model version and makes it active.
	SaveModel(ctx context.Context, m *identity.Model) (int, error)
	// RecordCount is the number of stored records.
	RecordCount(ctx context.Context) (int64, error)
	// UnlinkedRecords returns records that belong to no profile (written,
	// then the process died before linking them) among ids, at most
	// limit, in id order.
	UnlinkedRecords(ctx context.Context, ids []uuid.UUID, limit int) ([]uuid.UUID, error)
	// UnlinkedFrom returns records in no profile whose id is at least
	// from, at most limit, in id order.
	UnlinkedFrom(ctx context.Context, from uuid.UUID, limit int) ([]uuid.UUID, error)
	// UnlinkedNear returns records in no profile that share an identifier
	// or a candidate key with a record of profile, at most limit; keys
	// shared by more than maxShared records are skipped.
	UnlinkedNear(ctx context.Context, profile uuid.UUID, maxShared, limit int) ([]uuid.UUID, error)
	// Apply writes the outcome of a run in one transaction.
	Apply(ctx context.Context, a *Apply) error
}

// Apply is the outcome of a run, for the store to write.
type Apply struct {
	RunID        uuid.UUID
	Kind         string // "full", "incremental", "decision"
	Actor        string
	Started      time.Time
	ModelVersion int
	Decision     *Decision // the steward decision the run applies, if any
	// Full replaces every membership, link and open review pair; otherwise
	// only those of the records in Scope.
	Full  bool
	Scope []uuid.UUID
	// Members gives each record of the scope its profile; Anchors each
	// profile its anchor record.
	Members map[uuid.UUID]uuid.UUID
	Anchors map[uuid.UUID]uuid.UUID
	// Previous is the profile of each record of the scope before the run
	// (absent: none).
	Previous map[uuid.UUID]uuid.UUID
	Links    []Link
	Review   []ReviewPair
	Report   Report
	// Refused are the links the guards refused (not stored; they explain a
	// steward decision that could not take effect).
	Refused []Refusal
}

// Refusal is a link the guards refused, with the reason.
type Refusal struct {
	A, B   uuid.UUID
	Reason string
}

// Link is a link between two records (A < B).
type Link struct {
	A, B        uuid.UUID
	Probability float64
	Rule        string
}

// Why a pair is up for review.
const (
	// ReasonReviewBand: it scored between the review and link thresholds.
	ReasonReviewBand = "review_band"
	// ReasonGivenNamesDiffer: it scored to link, but the given names
	// clearly differ and no personal identifier agrees (a household, twins).
	ReasonGivenNamesDiffer = "given_names_differ"
)

// ReviewPair is a pair for a steward (A < B).
type ReviewPair struct {
	A, B        uuid.UUID
	Probability float64
	Levels      identity.Explanation
	Reason      string
}

// Decision is a steward's decision with its constraints.
type Decision struct {
	ID          uuid.UUID
	Kind        string // merge, split, match, distinct
	Actor       string
	At          time.Time
	Profiles    []uuid.UUID
	Records     []uuid.UUID
	Note        SealedNote
	Constraints []identity.Constraint // keys are record ids
	ReviewPair  *uuid.UUID            // the review pair it decides
	// Reverses says the steward means to overturn an earlier decision
	// about the same records; without it a contradicting decision is a
	// conflict and changes nothing.
	Reverses bool
}

// SealedNote is a steward's note sealed under its own key.
type SealedNote struct {
	KEK     int32
	Wrapped []byte
	Sealed  []byte
}

// Report says what a run did.
type Report struct {
	Kind           string  `json:"kind"`
	Records        int     `json:"records"`
	Comparisons    int     `json:"comparisons"`
	ProfilesBefore int     `json:"profiles_before"`
	ProfilesAfter  int     `json:"profiles_after"`
	Created        int     `json:"profiles_created"`
	Merged         int     `json:"profiles_merged"`
	Moved          int     `json:"records_moved"`
	Links          int     `json:"links"`
	Review         int     `json:"review_pairs"`
	Refused        int     `json:"refused_links"`
	ModelVersion   int     `json:"model_version"`
	Trained        bool    `json:"trained"`
	ResolveSeconds float64 `json:"resolve_seconds"`
	Seconds        float64 `json:"seconds"`
	// Phases says where the run's time went, in seconds: reading the
	// stored match keys, opening and preparing them, training a model, the
	// engine, and writing the outcome. Seconds is their sum with what lies
	// between.
	Phases          Phases      `json:"phases"`
	ProfilesTouched []uuid.UUID `json:"profiles_touched"`
	// Members is the profile of every record the run resolved.
	Members map[uuid.UUID]uuid.UUID `json:"-"`
}

// Phases are the seconds a run spent in each of its stages.
type Phases struct {
	// Read is the time until the last stored record arrived; a full run
	// opens what it read meanwhile, and Open is the opening left after.
	Read    float64 `json:"read"`
	Open    float64 `json:"open"`
	Train   float64 `json:"train"`
	Resolve float64 `json:"resolve"`
	Write   float64 `json:"write"`
}

// since returns the seconds since t and resets t to now.
func since(t *time.Time) float64 {
	now := time.Now()
	d := now.Sub(*t).Seconds()
	*t = now
	return d
}

// Resolver runs resolution over a store.
type Resolver struct {
	Store Store
	Vault *vault.Vault
	// Limits bounds identifier values per profile (identity.DefaultLimits
	// when nil).
	Limits map[string]int
	// TrainAt is how many records a store needs before a model is trained
	// on them; below, the built-in default model scores (default 1000).
	TrainAt int
	// MaxShared bounds how common a candidate key may be (default 200).
	MaxShared int
	// Batch is how many stored records a full run reads, then opens, at a
	// time (default 32,768).
	Batch int
}

// Full resolves every record, training a model first when there is none.
func (r *Resolver) Full(ctx context.Context, actor string) (*Report, error) {
	unlock, err := r.Store.LockResolution(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	start := time.Now()
	var ph Phases
	m, err := r.model(ctx)
	if err != nil {
		return nil, err
	}
	return r.full(ctx, actor, nil, start, m, ph)
}

// full reads and resolves every stored record under a model and writes
// the outcome (applying d, a steward decision, when set).
func (r *Resolver) full(ctx context.Context, actor string, d *Decision, start time.Time,
	m *activeModel, ph Phases) (*Report, error) {
	o, err := r.readAll(ctx, &ph)
	if err != nil {
		return nil, err
	}
	constraints, err := r.Store.Constraints(ctx, nil)
	if err != nil {
		return nil, err
	}
	a, model, err := r.resolve(ctx, o, m.model, constraints, false, &ph)
	if err != nil {
		return nil, err
	}
	version, trained := m.version, m.model == nil
	if trained {
		// Trained by the engine's run, on the records it resolved.
		if version, err = r.Store.SaveModel(ctx, model); err != nil {
			return nil, err
		}
	}
	a.Kind, a.Full, a.Actor, a.Started, a.ModelVersion, a.Decision = "full", true, actor, start, version, d
	a.Report.Trained = trained
	a.Report.Phases = ph
	return r.apply(ctx, a)
}

// Train estimates a new model from every stored record and makes it active.
func (r *Resolver) Train(ctx context.Context) (*identity.Model, int, error) {
	o, err := r.readAll(ctx, &Phases{})
	if err != nil {
		return nil, 0, err
	}
	if o.entries.Len() < 2 {
		return nil, 0, fmt.Errorf("training needs records; the store has %d: %w", o.entries.Len(), ErrInvalid)
	}
	m, _, err := o.entries.Train(identity.Options{})
	if err != nil {
		return nil, 0, err
	}
	v, err := r.Store.SaveModel(ctx, m)
	if err != nil {
		return nil, 0, err
	}
	m.Version = v
	return m, v, nil
}

// Incremental resolves the given records (just written) with their
// neighbourhood.
func (r *Resolver) Incremental(ctx context.Context, actor string, ids []uuid.UUID) (*Report, error) {
	if len(ids) == 0 {
		return &Report{Kind: "incremental"}, nil
	}
	unlock, err := r.Store.LockResolution(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep, err := r.incremental(ctx, actor, ids, nil)
	if errors.Is(err, ErrStale) {
		// Erased between the read and the write: once more, without them.
		rep, err = r.incremental(ctx, actor, ids, nil)
	}
	return rep, err
}

// BulkRecords is how many records a write must change for Link to
// re-resolve everything rather than their neighbourhood (or a third of
// the store: a first bulk load).
const BulkRecords = 20000

// Link links what a write just wrote: the one rule every writer uses (the
// import command, the ingest API, a customer's sign-up, a rectification).
// The records it created or changed, and those it found unchanged but in
// no profile (written by a process that died before linking them), are
// resolved with their neighbourhood; a write that is most of the store
// re-resolves every record instead, which is faster and finds more.
func (r *Resolver) Link(ctx context.Context, actor string, changed, unchanged []uuid.UUID) (*Report, error) {
	if len(unchanged) > 0 {
		orphans, err := r.Store.UnlinkedRecords(ctx, unchanged, len(unchanged))
		if err != nil {
			return nil, err
		}
		changed = append(changed[:len(changed):len(changed)], orphans...)
	}
	// Below a thousand records neither way trains a model, and the
	// neighbourhood of a small write is cheap to resolve.
	if len(changed) > 1000 {
		total, err := r.Store.RecordCount(ctx)
		if err != nil {
			return nil, err
		}
		if len(changed) > BulkRecords || int64(len(changed))*3 > total {
			return r.Full(ctx, actor)
		}
	}
	return r.Incremental(ctx, actor, changed)
}

// ProfilesOf returns the profiles the run put the given records in, each
// once, in the records' order (records it did not resolve are left out).
func (r *Report) ProfilesOf(records []uuid.UUID) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, id := range records {
		if p, ok := r.Members[id]; ok && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// orphanBatch is how many unlinked records one pass of LinkOrphans links.
const orphanBatch = 10000

// LinkOrphans links every record that belongs to no profile and was made
// at since or later (the zero time: every record), a batch at a time, and
// returns how many it linked. Run at start-up over every record, and
// periodically over the recent ones, so that no record stays unlinked
// across a crash.
func (r *Resolver) LinkOrphans(ctx context.Context, actor string, since time.Time) (int, error) {
	from := idsFrom(since)
	return r.linkOrphans(ctx, actor, func() ([]uuid.UUID, error) {
		ids, err := r.Store.UnlinkedFrom(ctx, from, orphanBatch)
		if len(ids) > 0 {
			from = ids[len(ids)-1] // linked now: the next batch starts there
		}
		return ids, err
	})
}

// idsFrom is the smallest record id made at t or later: record ids are
// UUIDv7, whose first 48 bits are the milliseconds since 1970, so ids
// sort by the time they were made. The zero time gives uuid.Nil.
func idsFrom(t time.Time) uuid.UUID {
	var id uuid.UUID
	if ms := t.UnixMilli(); ms > 0 {
		for i := 5; i >= 0; i-- {
			id[i], ms = byte(ms), ms>>8
		}
	}
	return id
}

// LinkOrphansNear links the records in no profile that resolution could
// link to profile: those sharing an identifier or a candidate key with
// its records, and with the records that join it, until none is left.
// Run before an erasure or an export, so that they find every record of
// the person, at the cost of an index lookup per key instead of a read of
// every record (a second a million).
func (r *Resolver) LinkOrphansNear(ctx context.Context, actor string, profile uuid.UUID) (int, error) {
	return r.linkOrphans(ctx, actor, func() ([]uuid.UUID, error) {
		return r.Store.UnlinkedNear(ctx, profile, r.maxShared(), orphanBatch)
	})
}

// linkOrphans links the batches next returns until one is empty. Every
// record of a batch joins a profile (its own, if no other), so neither
// loop finds a record twice.
func (r *Resolver) linkOrphans(ctx context.Context, actor string, next func() ([]uuid.UUID, error)) (int, error) {
	linked := 0
	for {
		ids, err := next()
		if err != nil || len(ids) == 0 {
			return linked, err
		}
		rep, err := r.Incremental(ctx, actor, ids)
		if err != nil {
			return linked, err
		}
		n := 0
		for _, id := range ids {
			if _, ok := rep.Members[id]; ok {
				n++
			}
		}
		linked += n
		if n == 0 {
			return linked, fmt.Errorf("%d records could not be linked to a profile", len(ids))
		}
	}
}

func (r *Resolver) incremental(ctx context.Context, actor string, ids []uuid.UUID, d *Decision) (*Report, error) {
	start := time.Now()
	var ph Phases
	m, err := r.model(ctx)
	if err != nil {
		return nil, err
	}
	if m.model == nil {
		// The first model is to be trained on the whole store: resolve it
		// whole, in the same run.
		return r.full(ctx, actor, d, start, m, ph)
	}
	t := time.Now()
	stored, err := r.Store.Neighbourhood(ctx, ids, r.maxShared())
	if err != nil {
		return nil, err
	}
	ph.Read += since(&t)
	scope := make([]uuid.UUID, len(stored))
	for i, s := range stored {
		scope[i] = s.ID
	}
	constraints, err := r.Store.Constraints(ctx, scope)
	if err != nil {
		return nil, err
	}
	if d != nil {
		if err := d.contradicts(constraints); err != nil {
			return nil, err
		}
		constraints = withDecision(constraints, d.Constraints)
	}
	t = time.Now()
	o, err := r.open(stored)
	if err != nil {
		return nil, err
	}
	stored = nil
	ph.Open += since(&t)
	a, _, err := r.resolve(ctx, o, m.model, constraints, true, &ph)
	if err != nil {
		return nil, err
	}
	if d != nil {
		if err := d.check(a); err != nil {
			return nil, err
		}
	}
	a.Report.Phases = ph
	a.Kind, a.Actor, a.Started, a.ModelVersion, a.Decision = "incremental", actor, start, m.version, d
	if d != nil {
		a.Kind = "decision"
	}
	a.Scope = scope
	return r.apply(ctx, a)
}

// withDecision adds a decision's constraints; on a pair decided before,
// the newer decision replaces the older one.
func withDecision(stored, decided []identity.Constraint) []identity.Constraint {
	replaced := map[[2]string]bool{}
	for _, c := range decided {
		replaced[[2]string{c.A, c.B}] = true
	}
	out := make([]identity.Constraint, 0, len(stored)+len(decided))
	for _, c := range stored {
		if !replaced[[2]string{c.A, c.B}] {
			out = append(out, c)
		}
	}
	return append(out, decided...)
}

func (r *Resolver) maxShared() int {
	if r.MaxShared > 0 {
		return r.MaxShared
	}
	return 200
}

// activeModel is the model a run scores with. Its model is nil when the
// store has enough records to train the first one: the run then trains it
// on every record and resolves them in the same pass.
type activeModel struct {
	model   *identity.Model
	version int
}

// model returns the active model, or says that the first one is to be
// trained.
func (r *Resolver) model(ctx context.Context) (*activeModel, error) {
	m, v, err := r.Store.ActiveModel(ctx)
	if err == nil {
		m.Version = v
		return &activeModel{model: m, version: v}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	trainAt := r.TrainAt
	if trainAt <= 0 {
		trainAt = 1000
	}
	n, err := r.Store.RecordCount(ctx)
	if err != nil {
		return nil, err
	}
	if n < int64(trainAt) {
		return &activeModel{model: identity.DefaultModel()}, nil
	}
	return &activeModel{}, nil
}

// openChunk is how many records are read, then decrypted and prepared, at
// a time, by default.
const openChunk = 1 << 15

func (r *Resolver) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return openChunk
}

// opened are stored records decrypted and prepared for the engine: its
// entries (keyed by record id), and each entry's record id and previous
// profile, in the same order.
type opened struct {
	entries  *identity.Entries
	ids      []uuid.UUID
	previous []uuid.UUID // nil when no record has a profile yet (a first run)
}

func newOpened(expect int) *opened {
	o := &opened{entries: &identity.Entries{}, ids: make([]uuid.UUID, 0, expect)}
	o.entries.Grow(expect)
	return o
}

// readAll reads every stored record and opens each batch as it arrives:
// the store reads the next batch while the one before is opened, and no
// more than a few batches' sealed bytes are held at once (ten million
// records' were 3 GB). Read is the time until the last batch arrived;
// Open the time opening took after that.
func (r *Resolver) readAll(ctx context.Context, ph *Phases) (*opened, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		part   []StoredMatch
		expect int
	}
	batches := make(chan batch, 1)
	read := make(chan error, 1)
	var readAt time.Time
	go func() {
		defer close(batches)
		err := r.Store.EachMatches(ctx, r.batch(), func(part []StoredMatch, expect int) error {
			select {
			case batches <- batch{part, expect}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		readAt = time.Now()
		read <- err
	}()
	var o *opened
	var openErr error
	scratch := make([]identity.Entry, r.batch())
	for b := range batches {
		if openErr != nil {
			continue // drain, so the reader ends
		}
		if o == nil {
			o = newOpened(b.expect)
		}
		openErr = r.openInto(o, b.part, scratch)
		if openErr != nil {
			cancel()
		}
	}
	if err := <-read; err != nil && openErr == nil {
		return nil, err
	}
	if openErr != nil {
		return nil, openErr
	}
	if o == nil {
		o = newOpened(0)
	}
	ph.Read += readAt.Sub(start).Seconds()
	ph.Open += time.Since(readAt).Seconds()
	return o, nil
}

// open decrypts and prepares the given stored records, a batch at a time.
func (r *Resolver) open(stored []StoredMatch) (*opened, error) {
	o := newOpened(len(stored))
	n := r.batch()
	scratch := make([]identity.Entry, min(len(stored), n))
	for base := 0; base < len(stored); base += n {
		if err := r.openInto(o, stored[base:min(len(stored), base+n)], scratch); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// openInto decrypts the match keys of up to a batch of stored records, in
// parallel, prepares them for the engine (scratch holds the batch's
// opened values meanwhile) and appends them to o. It drops each record's
// sealed bytes once opened: part cannot be opened twice.
func (r *Resolver) openInto(o *opened, part []StoredMatch, scratch []identity.Entry) error {
	workers := runtime.GOMAXPROCS(0)
	entries := scratch[:len(part)]
	errs := make([]error, workers)
	parallel.Ranges(len(part), workers, func(w, lo, hi int) {
		for i := lo; i < hi; i++ {
			s := &part[i]
			key, err := r.Vault.OpenSubjectKey(s.ID, s.KEK, s.Wrapped)
			if err != nil {
				errs[w] = fmt.Errorf("record %s: %w", s.ID, err)
				return
			}
			n, err := key.OpenMatch(s.Match)
			if err != nil {
				errs[w] = fmt.Errorf("record %s: %w", s.ID, err)
				return
			}
			s.Wrapped, s.Match = nil, nil
			entries[i] = identity.Entry{Key: s.ID.String(), Source: s.Source, Match: n}
			if s.Profile != uuid.Nil {
				entries[i].Profile = s.Profile.String()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	o.entries.Add(entries)
	clear(entries) // the opened values are the entries' now; let them go
	for i := range part {
		if part[i].Profile != uuid.Nil && o.previous == nil {
			o.previous = make([]uuid.UUID, len(o.ids), cap(o.ids))
		}
		o.ids = append(o.ids, part[i].ID)
		if o.previous != nil {
			o.previous = append(o.previous, part[i].Profile)
		}
	}
	return nil
}

// resolve runs the engine on stored records and turns its outcome into an
// Apply. With no model, the engine trains one first; resolve returns the
// model it scored with.
func (r *Resolver) resolve(ctx context.Context, o *opened, model *identity.Model,
	constraints []identity.Constraint, neighbourhood bool, ph *Phases) (*Apply, *identity.Model, error) {
	t := time.Now()
	entries, ids, previous := o.entries, o.ids, o.previous
	sources, err := r.Store.Sources(ctx)
	if err != nil {
		return nil, nil, err
	}
	rules := make(map[string]identity.SourceRules, len(sources))
	for _, s := range sources {
		rules[s.Name] = s.Rules()
	}
	res, err := entries.Resolve(identity.Options{
		Model: model, Sources: rules, Constraints: constraints, Limits: r.Limits,
		NoTermFrequencies: neighbourhood,
	})
	if err != nil {
		if errors.Is(err, identity.ErrInvalid) {
			return nil, nil, fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return nil, nil, err
	}
	ph.Train += res.Stats.TrainSeconds
	ph.Resolve += since(&t) - res.Stats.TrainSeconds
	// The review pairs' explanations are worked out from the prepared
	// records; then the records go (3.3 GB at ten million) before the
	// outcome is turned into ids.
	review := make([]ReviewPair, len(res.Review))
	for i, l := range res.Review {
		x, y := ordered(ids[l.A], ids[l.B])
		reason := ReasonReviewBand
		if l.Probability >= res.Model.LinkThreshold {
			reason = ReasonGivenNamesDiffer
		}
		review[i] = ReviewPair{A: x, B: y, Probability: l.Probability, Levels: res.Explain(l.A, l.B), Reason: reason}
	}
	trained, profile, links, refused, stats := res.Model, res.Profile, res.Links, res.Refused, res.Stats
	res = nil
	a := &Apply{
		RunID:    uuid.Must(uuid.NewV7()),
		Members:  make(map[uuid.UUID]uuid.UUID, len(ids)),
		Anchors:  map[uuid.UUID]uuid.UUID{},
		Previous: make(map[uuid.UUID]uuid.UUID, len(previous)),
		Links:    make([]Link, 0, len(links)),
		Review:   review,
	}
	for i, id := range ids {
		anchor := ids[profile[i]]
		pid := uuid.MustParse(identity.ProfileID(anchor.String()))
		a.Members[id] = pid
		a.Anchors[pid] = anchor
		if previous != nil && previous[i] != uuid.Nil {
			a.Previous[id] = previous[i]
		}
	}
	for _, l := range links {
		x, y := ordered(ids[l.A], ids[l.B])
		a.Links = append(a.Links, Link{A: x, B: y, Probability: l.Probability, Rule: l.Rule})
	}
	for _, f := range refused {
		a.Refused = append(a.Refused, Refusal{A: ids[f.A], B: ids[f.B], Reason: f.Reason})
	}
	a.Report = Report{
		Records: len(ids), Comparisons: stats.Comparisons, Links: len(a.Links),
		Review: len(a.Review), Refused: len(refused), ResolveSeconds: stats.Seconds,
	}
	return a, trained, nil
}

// compareIDs orders ids byte by byte, which is the order of their text
// forms and the store's.
func compareIDs(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) }

func ordered(a, b uuid.UUID) (uuid.UUID, uuid.UUID) {
	if compareIDs(a, b) > 0 {
		return b, a
	}
	return a, b
}

// apply completes the report from the membership change and writes it.
func (r *Resolver) apply(ctx context.Context, a *Apply) (*Report, error) {
	rep := &a.Report
	rep.Kind, rep.ModelVersion = a.Kind, a.ModelVersion
	before, after := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for id, p := range a.Members {
		after[p] = true
		old, ok := a.Previous[id]
		if ok {
			before[old] = true
		}
		if !ok || old != p {
			rep.Moved++
		}
	}
	touched := map[uuid.UUID]bool{}
	for p := range after {
		if !before[p] {
			rep.Created++
		}
		touched[p] = true
	}
	for p := range before {
		if !after[p] {
			rep.Merged++
		}
		touched[p] = true
	}
	rep.ProfilesBefore, rep.ProfilesAfter = len(before), len(after)
	for p := range touched {
		rep.ProfilesTouched = append(rep.ProfilesTouched, p)
	}
	slices.SortFunc(rep.ProfilesTouched, compareIDs)
	rep.Members = a.Members
	t := time.Now()
	if err := r.Store.Apply(ctx, a); err != nil {
		return nil, err
	}
	rep.Phases.Write = since(&t)
	rep.Seconds = time.Since(a.Started).Seconds()
	return rep, nil
}
