package resolver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/vault"
)

// MaxNoteBytes bounds a steward's note.
const MaxNoteBytes = 2000

// OpenReview is a review pair as a steward decides it.
type OpenReview struct {
	ID      uuid.UUID
	A, B    uuid.UUID
	Decided bool
}

// ReviewStore finds review pairs.
type ReviewStore interface {
	ReviewPair(ctx context.Context, id uuid.UUID) (OpenReview, error)
}

// Merge makes the given profiles one: a must-link between them that every
// later run respects. It fails with ErrConflict when a steward decided
// earlier that records of them are different people, or a source with one
// record per person holds a record in two of them; nothing changes then.
//
// A steward who means to overturn an earlier decision says so (reverse);
// it is recorded with the decision.
func (r *Resolver) Merge(ctx context.Context, actor string, profiles []uuid.UUID, note string, reverse bool) (*Report, error) {
	profiles = dedupe(profiles)
	if len(profiles) < 2 {
		return nil, fmt.Errorf("merge needs at least two different profiles: %w", ErrInvalid)
	}
	unlock, err := r.Store.LockResolution(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	groups, err := r.profileRecords(ctx, profiles)
	if err != nil {
		return nil, err
	}
	d, err := r.decision("merge", actor, note, profiles)
	if err != nil {
		return nil, err
	}
	d.Reverses = reverse
	// Every record is tied to the first: the merge holds whatever scores
	// say (probabilistic guards yield to a steward; source rules and earlier
	// decisions do not).
	ids := flatten(groups)
	for _, x := range ids[1:] {
		d.Constraints = append(d.Constraints, constraint(ids[0], x, true))
	}
	d.Records = ids
	rep, err := r.incremental(ctx, actor, ids, d)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// Split moves records out of a profile into a profile of their own: they
// stay together and never again join the records left behind. It fails
// with ErrConflict when a steward decided earlier that a moved record and a
// remaining one are the same person.
func (r *Resolver) Split(ctx context.Context, actor string, profile uuid.UUID, records []uuid.UUID, note string, reverse bool) (*Report, error) {
	records = dedupe(records)
	if len(records) == 0 {
		return nil, fmt.Errorf("split needs the records to move out: %w", ErrInvalid)
	}
	unlock, err := r.Store.LockResolution(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	groups, err := r.profileRecords(ctx, []uuid.UUID{profile})
	if err != nil {
		return nil, err
	}
	members := groups[0]
	var rest []uuid.UUID
	for _, m := range members {
		if !slices.Contains(records, m) {
			rest = append(rest, m)
		}
	}
	if len(rest)+len(records) != len(members) {
		return nil, fmt.Errorf("record not in profile %s: %w", profile, ErrNotFound)
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("split cannot move every record of a profile: %w", ErrInvalid)
	}
	d, err := r.decision("split", actor, note, []uuid.UUID{profile})
	if err != nil {
		return nil, err
	}
	d.Reverses = reverse
	d.Records = records
	for _, x := range records[1:] {
		d.Constraints = append(d.Constraints, constraint(records[0], x, true))
	}
	for _, x := range records {
		for _, y := range rest {
			d.Constraints = append(d.Constraints, constraint(x, y, false))
		}
	}
	return r.incremental(ctx, actor, members, d)
}

// Decide settles a review pair: the same person (match) or not (distinct).
func (r *Resolver) Decide(ctx context.Context, actor string, reviews ReviewStore, pair uuid.UUID, same bool, note string) (*Report, error) {
	unlock, err := r.Store.LockResolution(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rp, err := reviews.ReviewPair(ctx, pair)
	if err != nil {
		return nil, err
	}
	if rp.Decided {
		return nil, fmt.Errorf("review pair %s was decided already: %w", pair, ErrConflict)
	}
	kind := "distinct"
	if same {
		kind = "match"
	}
	d, err := r.decision(kind, actor, note, nil)
	if err != nil {
		return nil, err
	}
	d.Records = []uuid.UUID{rp.A, rp.B}
	d.Constraints = []identity.Constraint{constraint(rp.A, rp.B, same)}
	d.ReviewPair = &pair
	return r.incremental(ctx, actor, d.Records, d)
}

// contradicts refuses a decision that says the opposite of an earlier
// steward decision about the same two records, unless it says it
// reverses it: a later decision never silently wins.
func (d *Decision) contradicts(stored []identity.Constraint) error {
	if d.Reverses {
		return nil
	}
	earlier := make(map[[2]string]bool, len(stored))
	for _, c := range stored {
		earlier[[2]string{c.A, c.B}] = c.Same
	}
	for _, c := range d.Constraints {
		if same, ok := earlier[[2]string{c.A, c.B}]; ok && same != c.Same {
			was := "different people"
			if same {
				was = "the same person"
			}
			return fmt.Errorf("a steward decided earlier that records %s and %s are %s; to overturn that, make the %s with reverse set: %w",
				c.A, c.B, was, d.Kind, ErrConflict)
		}
	}
	return nil
}

// check verifies that a run gives the decision its effect: merged records
// in one profile, split records apart from the rest, matched pairs together,
// distinct pairs apart. A run that cannot (an earlier decision or a rule
// stands in the way) is a conflict, and nothing is written.
func (d *Decision) check(a *Apply) error {
	together := func(ids []uuid.UUID) bool {
		for _, id := range ids[1:] {
			if a.Members[id] != a.Members[ids[0]] {
				return false
			}
		}
		return true
	}
	ok := true
	switch d.Kind {
	case "merge", "match":
		ok = together(d.Records)
	case "distinct":
		ok = a.Members[d.Records[0]] != a.Members[d.Records[1]]
	case "split":
		ok = together(d.Records)
		for _, c := range d.Constraints {
			if !c.Same && a.Members[uuid.MustParse(c.A)] == a.Members[uuid.MustParse(c.B)] {
				ok = false
			}
		}
	}
	if ok {
		return nil
	}
	for _, f := range a.Refused {
		if slices.Contains(d.Records, f.A) || slices.Contains(d.Records, f.B) {
			return fmt.Errorf("the %s cannot take effect: %s: %w", d.Kind, f.Reason, ErrConflict)
		}
	}
	return fmt.Errorf("the %s cannot take effect: earlier decisions or source rules keep these records apart: %w", d.Kind, ErrConflict)
}

// profileRecords returns the records of each profile, in profile order.
func (r *Resolver) profileRecords(ctx context.Context, profiles []uuid.UUID) ([][]uuid.UUID, error) {
	stored, err := r.Store.ProfileMatches(ctx, profiles)
	if err != nil {
		return nil, err
	}
	by := map[uuid.UUID][]uuid.UUID{}
	for _, s := range stored {
		by[s.Profile] = append(by[s.Profile], s.ID)
	}
	groups := make([][]uuid.UUID, len(profiles))
	for i, p := range profiles {
		if len(by[p]) == 0 {
			return nil, fmt.Errorf("profile %s: %w", p, ErrNotFound)
		}
		groups[i] = by[p]
	}
	return groups, nil
}

// decision creates a decision with its note sealed under its own key.
func (r *Resolver) decision(kind, actor, note string, profiles []uuid.UUID) (*Decision, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return nil, fmt.Errorf("a decision needs a reason: %w", ErrInvalid)
	}
	if len(note) > MaxNoteBytes {
		return nil, fmt.Errorf("the reason is longer than %d bytes: %w", MaxNoteBytes, ErrInvalid)
	}
	id := uuid.Must(uuid.NewV7())
	key, err := r.Vault.NewSubjectKey(id)
	if err != nil {
		return nil, err
	}
	sealed, err := key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: []byte(note)}})
	if err != nil {
		return nil, err
	}
	if profiles == nil {
		profiles = []uuid.UUID{}
	}
	return &Decision{
		ID: id, Kind: kind, Actor: actor, At: time.Now().UTC(), Profiles: profiles,
		Note: SealedNote{KEK: key.KEK, Wrapped: key.Wrapped, Sealed: sealed},
	}, nil
}

// OpenNote decrypts a decision's note.
func (r *Resolver) OpenNote(id uuid.UUID, n SealedNote) (string, error) {
	key, err := r.Vault.OpenSubjectKey(id, n.KEK, n.Wrapped)
	if err != nil {
		return "", err
	}
	items, err := key.Open(vault.ContextNote, n.Sealed, nil)
	if err != nil || len(items) != 1 {
		return "", fmt.Errorf("decision %s note: %w", id, vault.ErrCorrupt)
	}
	return string(items[0].Value), nil
}

func constraint(a, b uuid.UUID, same bool) identity.Constraint {
	x, y := ordered(a, b)
	return identity.Constraint{A: x.String(), B: y.String(), Same: same}
}

func dedupe(ids []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func flatten(groups [][]uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// ActiveModel is the model pairs are scored with now: the trained one, or
// the built-in default while none is.
func (r *Resolver) ActiveModel(ctx context.Context) (*identity.Model, error) {
	m, v, err := r.Store.ActiveModel(ctx)
	if errors.Is(err, ErrNotFound) {
		return identity.DefaultModel(), nil
	}
	if err != nil {
		return nil, err
	}
	m.Version = v
	return m, nil
}
