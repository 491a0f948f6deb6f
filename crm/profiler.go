package crm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/cdp-project/cdp/consent"
)

// ProfilingPurpose is the purpose under which traits are computed: a
// person who objected to it is not profiled at all.
const ProfilingPurpose = "profiling"

// ServesProfiling tells whether the records of a source collected for
// purposes (none: any) may serve profiling: a person's figures count only
// the interactions of such sources. A source collected for named purposes
// (a newsletter, under consent, for marketing) counts for nobody's
// figures. The store applies the same rule in SQL (postgres.servesProfiling).
func ServesProfiling(purposes []string) bool {
	return len(purposes) == 0 || slices.Contains(purposes, ProfilingPurpose)
}

// Facts are what decides who may be profiled: the profiles, the consent
// statements of those that made any, and the restricted ones.
type Facts struct {
	Profiles   []uuid.UUID
	Events     map[uuid.UUID][]consent.Event
	Restricted map[uuid.UUID]bool
	Purposes   []consent.Purpose
	// Since says, to the store, what the facts saw: a write of what
	// was computed from them leaves out the people who stopped being
	// profiled (objected, withdrew, were restricted) after it.
	Since string
}

// Allowed says whether a person may be profiled for a purpose, and if
// not, why: their processing is restricted (Art. 18), they objected
// (Art. 21), or the purpose needs their consent and they have not given
// it (or withdrew it, or it expired).
func (f *Facts) Allowed(profile uuid.UUID, purpose string, now time.Time) (bool, string) {
	if f.Restricted[profile] {
		return false, "processing restricted"
	}
	var p *consent.Purpose
	for i := range f.Purposes {
		if f.Purposes[i].ID == purpose {
			p = &f.Purposes[i]
		}
	}
	if p == nil {
		return false, "purpose " + purpose + " not in the catalogue"
	}
	state := p.DefaultState
	if evs := f.Events[profile]; len(evs) > 0 {
		state = consent.Derive([]consent.Purpose{*p}, evs, now)[purpose].State
	}
	switch {
	case state == consent.Objected:
		return false, "objection to " + purpose
	case p.RequiresConsent && state != consent.Granted:
		return false, "no consent for " + purpose
	case state == consent.Withdrawn || state == consent.Denied:
		return false, "no consent for " + purpose
	}
	return true, ""
}

// Model is a full computation's record.
type Model struct {
	ID         uuid.UUID `json:"id"`
	ComputedAt time.Time `json:"computed_at"`
	AsOf       time.Time `json:"as_of"`
	Profiled   int       `json:"profiled"`
	Excluded   int       `json:"excluded"`
	Params     Params    `json:"params"`
}

// Run is what one computation writes.
type Run struct {
	Full    bool
	Model   *Model // a full run's new model; the one used otherwise (nil: none yet)
	At      time.Time
	AsOf    time.Time // the moment the figures describe
	Traits  []Traits
	Changes []StageChange
	// Forget are profiles that may not be profiled any more (incremental
	// runs; a full run replaces every profile's traits).
	Forget map[uuid.UUID]string
	// Since is the facts' Since: whoever stopped being profiled after
	// it is left out of the write.
	Since string
}

// Segment is a condition over traits for a declared purpose.
type Segment struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Purpose     string     `json:"purpose"`
	Condition   string     `json:"condition"`
	Description string     `json:"description"`
	Significant bool       `json:"significant"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	Members     int        `json:"members"`
}

// Change is a profile entering or leaving a segment, and why.
type Change struct {
	Profile uuid.UUID
	Entered bool
	Reason  string
}

// ProfileStore is where the profiler reads and writes (postgres.DB).
type ProfileStore interface {
	// ProfilingFacts reads the facts of the given profiles (nil: all).
	ProfilingFacts(ctx context.Context, profiles []uuid.UUID) (*Facts, error)
	// Activities streams the figures of the interactions of the given
	// profiles (nil: all), in no order.
	Activities(ctx context.Context, profiles []uuid.UUID, each func(Activity)) error
	// Stages are the current lifecycle stages of profiled profiles.
	Stages(ctx context.Context, profiles []uuid.UUID) (map[uuid.UUID]string, error)
	LatestModel(ctx context.Context) (*Model, error)
	SaveProfiling(ctx context.Context, run *Run) error
	// HoldFull waits until no computation runs and keeps any other from
	// starting, here or in another process, until its release: a full
	// computation saves nothing over what a refresh computed from newer
	// facts, nor the other way round.
	HoldFull(ctx context.Context) (release func(), err error)
	// HoldRefresh does the same for a refresh, unless a full computation
	// runs (ok false: the refresh waits for the next sweep); refreshes may
	// run side by side.
	HoldRefresh(ctx context.Context) (release func(), ok bool, err error)
	// ClaimQueue claims the queue of stale profiles for a full
	// computation, before it reads anything; its save deletes what it
	// claimed, and whatever is queued after the claim stays queued.
	ClaimQueue(ctx context.Context) error
	// Requeue queues profiles again, after a refresh that took them
	// failed.
	Requeue(ctx context.Context, profiles []uuid.UUID) error
	// TakeQueued takes up to limit profiles whose traits are stale, and
	// how many are queued in all; or, when every profile is stale (a full
	// resolution rewrote them all), takes none and says so.
	TakeQueued(ctx context.Context, limit int) (ids []uuid.UUID, queued int, every bool, err error)
	Segments(ctx context.Context) ([]Segment, error)
	// SegmentMembers are the members of a segment among the given
	// profiles (nil: all).
	SegmentMembers(ctx context.Context, segment uuid.UUID, profiles []uuid.UUID) (map[uuid.UUID]bool, error)
	// ApplySegment writes who entered and left a segment; since is the
	// Since of the facts the changes were computed from (entries of
	// people who stopped being profiled after it are left out).
	ApplySegment(ctx context.Context, segment uuid.UUID, changes []Change, at time.Time, full bool, since string) error
	// ProfiledTraits streams the stored traits of the given profiles
	// (nil: all); with names, only those traits are read (the others are
	// left zero).
	ProfiledTraits(ctx context.Context, profiles []uuid.UUID, names []string, each func(*Traits)) error
}

// Profiler computes traits and segment memberships, for the people and
// the purposes whose legal basis allows it and no one else.
type Profiler struct {
	Store   ProfileStore
	Stages  []Stage // compiled lifecycle rules (CompileStages)
	Options Options
	Now     func() time.Time

	full singleflight.Group // one full computation at a time; who asks during one shares it
}

// Report says what a computation did.
type Report struct {
	Full      bool           `json:"full"`
	Profiled  int            `json:"profiled"`
	Excluded  map[string]int `json:"excluded"`
	Changes   int            `json:"stage_changes"`
	Segments  map[string]int `json:"segment_changes"`
	Model     *Model         `json:"model,omitempty"`
	Took      time.Duration  `json:"-"`
	Remaining int            `json:"remaining"`
}

func (p *Profiler) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// Full recomputes every profile's traits, the models and every segment.
//
// A full computation asked for while one runs in this process shares it
// instead of running again (a restart's scheduled run and the catch-up
// after a full resolution both ask at start-up): whatever changed after
// the running one claimed the queue stays queued for a refresh. The run
// belongs to the caller that started it: its context ends it for every
// caller sharing it; a caller whose own context ends stops waiting.
func (p *Profiler) Full(ctx context.Context) (*Report, error) {
	select {
	case r := <-p.full.DoChan("full", func() (any, error) { return p.fullRun(ctx) }):
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Report), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Profiler) fullRun(ctx context.Context) (*Report, error) {
	release, err := p.Store.HoldFull(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := p.Store.ClaimQueue(ctx); err != nil {
		return nil, err
	}
	return p.run(ctx, nil)
}

// requeue puts back what a failed refresh took off the queue, even if it
// failed because its context ended; a failure to requeue leaves those
// profiles to the next full computation.
func (p *Profiler) requeue(ctx context.Context, ids []uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = p.Store.Requeue(ctx, ids)
}

// Refresh recomputes the traits of up to limit stale profiles (new
// interactions, merges, splits) with the last full run's models, and
// their segment memberships. When every profile is stale it runs the
// full computation instead.
func (p *Profiler) Refresh(ctx context.Context, limit int) (*Report, error) {
	release, ok, err := p.Store.HoldRefresh(ctx)
	if err != nil {
		return nil, err
	}
	if !ok { // a full computation runs: what is queued waits for it, then for the next sweep
		return &Report{Excluded: map[string]int{}, Segments: map[string]int{}}, nil
	}
	ids, queued, every, err := p.Store.TakeQueued(ctx, limit)
	if err != nil || every {
		release()
		if err != nil {
			return nil, err
		}
		return p.Full(ctx)
	}
	defer release()
	if len(ids) == 0 {
		return &Report{Excluded: map[string]int{}, Segments: map[string]int{}}, nil
	}
	rep, err := p.run(ctx, ids)
	if err != nil {
		p.requeue(ctx, ids)
		return nil, err
	}
	rep.Remaining = queued - len(ids)
	return rep, nil
}

// Profiles recomputes the given profiles now.
func (p *Profiler) Profiles(ctx context.Context, ids []uuid.UUID) (*Report, error) {
	return p.run(ctx, ids)
}

func (p *Profiler) run(ctx context.Context, ids []uuid.UUID) (*Report, error) {
	start := time.Now()
	now := p.now()
	asOf := p.Options.AsOf
	if asOf.IsZero() {
		asOf = now
	}
	full := ids == nil
	facts, err := p.Store.ProfilingFacts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("who may be profiled: %w", err)
	}
	rep := &Report{Full: full, Excluded: map[string]int{}, Segments: map[string]int{}}
	eligible := make(map[uuid.UUID]bool, len(facts.Profiles))
	run := &Run{Full: full, At: now, AsOf: asOf, Forget: map[uuid.UUID]string{}, Since: facts.Since}
	for _, id := range facts.Profiles {
		if ok, why := facts.Allowed(id, ProfilingPurpose, now); !ok {
			rep.Excluded[why]++
			run.Forget[id] = why
			continue
		}
		eligible[id] = true
	}
	if !full {
		// Queued profiles that no longer exist (merged away, erased).
		seen := make(map[uuid.UUID]bool, len(facts.Profiles))
		for _, id := range facts.Profiles {
			seen[id] = true
		}
		for _, id := range ids {
			if !seen[id] {
				run.Forget[id] = "gone"
			}
		}
	}
	// The stages the profiles are in now are read beside the
	// interactions: neither needs the other, and at a million profiles
	// each takes seconds, one mostly in PostgreSQL, the other here.
	type stagesRead struct {
		m   map[uuid.UUID]string
		err error
	}
	stagesDone := make(chan stagesRead, 1)
	go func() {
		m, err := p.Store.Stages(ctx, ids)
		stagesDone <- stagesRead{m, err}
	}()
	stages := func() (map[uuid.UUID]string, error) {
		r := <-stagesDone
		return r.m, r.err
	}
	tally := newTally(len(eligible))
	asOfDay := asOf.Unix() / 86400
	err = p.Store.Activities(ctx, ids, func(a Activity) {
		// The others are not profiled at all; what happened after the
		// moment computed for does not count.
		if eligible[a.Profile] && a.At.Unix()/86400 <= asOfDay {
			tally.Add(a)
		}
	})
	if err != nil {
		stages()
		return nil, fmt.Errorf("read interactions: %w", err)
	}
	traits := tally.Figures(asOf)
	for id := range eligible {
		if _, ok := tally.by[id]; !ok {
			traits = append(traits, Traits{Profile: id, RecencyDays: -1, Channels: map[string]int{}})
		}
	}
	if full {
		params := Fit(traits, p.Options)
		run.Model = &Model{ID: uuid.New(), ComputedAt: now, AsOf: asOf, Profiled: len(traits), Excluded: len(run.Forget), Params: params}
	} else if run.Model, err = p.Store.LatestModel(ctx); err != nil {
		stages()
		return nil, err
	}
	previous, err := stages()
	if err != nil {
		return nil, err
	}
	for i := range traits {
		t := &traits[i]
		if run.Model != nil {
			run.Model.Params.Score(t)
		} else {
			t.Tier = "none"
		}
		if ch, ok := Place(p.Stages, t, previous[t.Profile]); ok {
			ch.Evidence["as_of"] = asOf.Format(time.DateOnly)
			run.Changes = append(run.Changes, ch)
		}
	}
	run.Traits = traits
	if err := p.Store.SaveProfiling(ctx, run); err != nil {
		return nil, fmt.Errorf("save traits: %w", err)
	}
	rep.Profiled, rep.Changes, rep.Model = len(traits), len(run.Changes), run.Model
	if err := p.segments(ctx, ids, facts, traits, now, rep); err != nil {
		return nil, err
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// segments recomputes the memberships of the profiles computed.
func (p *Profiler) segments(ctx context.Context, ids []uuid.UUID, facts *Facts, traits []Traits, now time.Time, rep *Report) error {
	segs, err := p.Store.Segments(ctx)
	if err != nil {
		return err
	}
	byID := make(map[uuid.UUID]*Traits, len(traits))
	for i := range traits {
		byID[traits[i].Profile] = &traits[i]
	}
	for _, s := range segs {
		cond, err := Compile(s.Condition)
		if err != nil {
			return fmt.Errorf("segment %s: %w", s.Name, err)
		}
		n, err := p.segment(ctx, s, cond, ids, facts, byID, now)
		if err != nil {
			return fmt.Errorf("segment %s: %w", s.Name, err)
		}
		rep.Segments[s.Name] = n
	}
	return nil
}

func (p *Profiler) segment(ctx context.Context, s Segment, cond *Condition, ids []uuid.UUID, facts *Facts, traits map[uuid.UUID]*Traits, now time.Time) (int, error) {
	members, err := p.Store.SegmentMembers(ctx, s.ID, ids)
	if err != nil {
		return 0, err
	}
	var changes []Change
	in := make(map[uuid.UUID]bool, len(members))
	for id, t := range traits {
		if ok, _ := facts.Allowed(id, ProfilingPurpose, now); !ok {
			continue
		}
		if ok, _ := facts.Allowed(id, s.Purpose, now); !ok {
			continue
		}
		if cond.Holds(t) {
			in[id] = true
			if !members[id] {
				changes = append(changes, Change{Profile: id, Entered: true, Reason: "condition holds: " + Explain(cond.Values(t, ""))})
			}
		}
	}
	for id := range members {
		if in[id] {
			continue
		}
		why := "condition no longer holds"
		if ok, r := facts.Allowed(id, ProfilingPurpose, now); !ok {
			why = r
		} else if _, ok := traits[id]; !ok {
			why = "not profiled"
		} else if ok, r := facts.Allowed(id, s.Purpose, now); !ok {
			why = r
		}
		changes = append(changes, Change{Profile: id, Reason: why})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Profile.String() < changes[j].Profile.String() })
	return len(changes), p.Store.ApplySegment(ctx, s.ID, changes, now, ids == nil, facts.Since)
}

// Explain writes values in plain words: "orders = 5, tier = vip".
func Explain(values map[string]any) string {
	parts := make([]string, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		parts = append(parts, fmt.Sprintf("%s = %v", k, values[k]))
	}
	return strings.Join(parts, ", ")
}

// Select finds the profiled people a condition selects for a purpose,
// without saving anything.
func (p *Profiler) Select(ctx context.Context, purpose, condition string) (map[uuid.UUID]bool, error) {
	cond, err := Compile(condition)
	if err != nil {
		return nil, err
	}
	facts, err := p.Store.ProfilingFacts(ctx, nil)
	if err != nil {
		return nil, err
	}
	now := p.now()
	out := map[uuid.UUID]bool{}
	err = p.Store.ProfiledTraits(ctx, nil, cond.Names, func(t *Traits) {
		if ok, _ := facts.Allowed(t.Profile, ProfilingPurpose, now); !ok {
			return
		}
		if ok, _ := facts.Allowed(t.Profile, purpose, now); ok && cond.Holds(t) {
			out[t.Profile] = true
		}
	})
	return out, err
}

// RefreshSegment recomputes one segment over every profiled person.
func (p *Profiler) RefreshSegment(ctx context.Context, s Segment) (int, error) {
	cond, err := Compile(s.Condition)
	if err != nil {
		return 0, err
	}
	facts, err := p.Store.ProfilingFacts(ctx, nil)
	if err != nil {
		return 0, err
	}
	// Only the traits the condition reads: a million profiles' traits
	// are read in a fraction of the time.
	traits := make(map[uuid.UUID]*Traits, len(facts.Profiles))
	err = p.Store.ProfiledTraits(ctx, nil, cond.Names, func(t *Traits) { traits[t.Profile] = t })
	if err != nil {
		return 0, err
	}
	return p.segment(ctx, s, cond, nil, facts, traits, p.now())
}

// Membership is a profile's place in a segment.
type Membership struct {
	Segment   Segment   `json:"segment"`
	EnteredAt time.Time `json:"entered_at"`
	Review    string    `json:"review,omitempty"` // approved, rejected, or none yet
}

// StageRecord is a stored lifecycle change.
type StageRecord struct {
	At       time.Time      `json:"at"`
	From     string         `json:"from,omitempty"`
	To       string         `json:"to"`
	Rule     string         `json:"rule"`
	Evidence map[string]any `json:"evidence"`
}

// Profiled is what profiling keeps of one profile.
type Profiled struct {
	ComputedAt time.Time     `json:"computed_at"`
	AsOf       time.Time     `json:"as_of"`
	Traits     Traits        `json:"traits"`
	Stages     []StageRecord `json:"lifecycle"`
	Segments   []Membership  `json:"segments"`
}

// Logic is the meaningful information about the logic involved in
// profiling that the person is owed (Art. 13(2)(f), 15(1)(h)).
var Logic = []string{
	"Your orders, returns and contacts are counted: how many, how much, how recently and through which channels.",
	"Recency, frequency and spending are each ranked in five equal groups of customers (RFM scores, 5 the highest).",
	"The chance that you are still a customer and the purchases expected next year come from the BG/NBD model (Fader, Hardie and Lee, 2005), fitted on all profiled customers; the expected value of a purchase from the Gamma-Gamma model (Fader and Hardie, 2013).",
	"Your lifecycle stage follows fixed rules over these figures, the first that holds: shown with each change and the values behind it.",
	"The VIP tier is the smallest group of customers that brings a set share of revenue (80% unless the company chose otherwise).",
	"A segment is a rule over these figures for one purpose; you are in it while the rule holds and that purpose's legal basis allows it.",
	"Nothing is computed about you if you object to profiling, if the processing of your data is restricted, or, for a purpose that needs your consent, without it.",
}

// OwnFigures computes a person's figures from their own interactions
// only, with the last full run's model: what they are shown when the
// profile holds records that are not provably theirs.
func OwnFigures(profile uuid.UUID, acts []Activity, m *Model, asOf time.Time) Traits {
	t := NewTally()
	for _, a := range acts {
		a.Profile = profile
		t.Add(a)
	}
	fs := t.Figures(asOf)
	out := Traits{Profile: profile, RecencyDays: -1, Channels: map[string]int{}, Tier: "none"}
	if len(fs) == 1 {
		out = fs[0]
	}
	if m != nil {
		m.Params.Score(&out)
	}
	return out
}

// Member is one member of a segment, by id only.
type Member struct {
	Profile    uuid.UUID  `json:"profile_id"`
	EnteredAt  time.Time  `json:"entered_at"`
	Review     string     `json:"review,omitempty"`
	ReviewedBy string     `json:"reviewed_by,omitempty"`
	ReviewedAt *time.Time `json:"reviewed_at,omitempty"`
}

// Pending is a change of membership not yet activated.
type Pending struct {
	ID      int64     `json:"-"`
	Profile uuid.UUID `json:"profile_id"`
	Change  string    `json:"change"` // entered, left
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	// Member and Review are the profile's membership now.
	Member bool   `json:"-"`
	Review string `json:"-"`
}

// HistoryEntry is one entry or exit, with why and what activation did.
type HistoryEntry struct {
	Profile     uuid.UUID  `json:"profile_id"`
	Change      string     `json:"change"`
	At          time.Time  `json:"at"`
	Reason      string     `json:"reason"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	Activation  string     `json:"activation,omitempty"`
}

// ParetoPoint is one point of the Pareto curve: the top share of
// customers by revenue and the share of revenue they bring.
type ParetoPoint struct {
	Customers float64 `json:"customers"`
	Revenue   float64 `json:"revenue"`
}

// Cohort is the customers who first ordered in a month and the share of
// them ordering again each month after.
type Cohort struct {
	Month     time.Time `json:"month"`
	Customers int       `json:"customers"`
	Retained  []float64 `json:"retained"` // index k: share ordering k months after the first
}

// Destination is a recipient as a segment's activation sees it: its
// secrets sealed under its own key.
type Destination struct {
	ID       uuid.UUID
	Name     string
	URL      string
	Purposes []string
	KEK      int32
	Wrapped  []byte
	Secret   []byte
	Previous []byte
	Disabled bool
}
