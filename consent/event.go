package consent

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Method says how a consent event was collected.
type Method string

// The methods.
const (
	MethodSelfService    Method = "self_service"    // the customer, logged in through Kratos
	MethodDepartmentForm Method = "department_form" // a paper or web form of a department
	MethodCallCentre     Method = "call_centre"     // said on the phone to an agent
	MethodImport         Method = "import"          // a bulk import of consents collected elsewhere
	MethodGPC            Method = "gpc"             // a Global Privacy Control signal (Sec-GPC: 1)
	MethodMerge          Method = "merge"           // profiles merged with differing states: the most restrictive
	MethodRequest        Method = "request"         // an objection (Art. 21) made through a data-subject request
	MethodCarried        Method = "carried"         // a refusal re-stated on a record left when the record it was on was erased
)

// Methods a department may record with.
func DepartmentMethods() []Method {
	return []Method{MethodDepartmentForm, MethodCallCentre, MethodImport}
}

// ParseMethod parses a method a department may record with.
func ParseMethod(s string) (Method, error) {
	for _, m := range DepartmentMethods() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("method %q: want department_form, call_centre or import: %w", s, ErrInvalid)
}

// Event is one statement of a person about one purpose. Events are never
// changed: the current state is derived from them.
type Event struct {
	ID uuid.UUID `json:"id"`
	// Record is the source record the event is attached to: the
	// department's record when a department collected it, the customer's
	// self-service record when they said it themselves. Events follow
	// their records through merges and splits.
	Record        uuid.UUID  `json:"record_id"`
	Purpose       string     `json:"purpose"`
	State         State      `json:"state"`
	NoticeVersion int        `json:"notice_version,omitempty"` // the notice shown; 0 when none applies
	Method        Method     `json:"method"`
	Origin        string     `json:"origin"` // the department or channel
	Actor         string     `json:"actor"`  // who recorded it: staff:<name>, customer:<kratos id>, system:...
	At            time.Time  `json:"at"`     // when the person said it
	RecordedAt    time.Time  `json:"recorded_at"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	// Conflict marks an event written because merged profiles disagreed:
	// the DPO should look at the evidence of both sides.
	Conflict bool `json:"conflict,omitempty"`
	// Basis, on a merge event, names the records whose statements it
	// combined.
	Basis []uuid.UUID `json:"basis,omitempty"`
	// Evidence is sealed under the record's key (client address, user
	// agent, Kratos session, a department's reference).
	Evidence []byte `json:"-"`
}

// restrictiveness orders states from the most permissive to the most
// restrictive, for combining merged profiles.
var restrictiveness = map[State]int{Granted: 0, Expired: 1, Denied: 2, Withdrawn: 3, Objected: 4}

// MoreRestrictive reports whether a restricts more than b.
func MoreRestrictive(a, b State) bool { return restrictiveness[a] > restrictiveness[b] }

// Current is the state of one purpose for one person, with the event it
// comes from (none: the purpose's default).
type Current struct {
	Purpose string `json:"purpose"`
	State   State  `json:"state"`
	Default bool   `json:"default"` // no event: the purpose's default state applies
	Event   *Event `json:"event,omitempty"`
}

// Derive computes the current state of every purpose of the catalogue from
// a person's events: the latest statement about a purpose stands (a grant
// whose expiry passed is expired); a purpose without any event is in its
// default state. Events about purposes outside the catalogue are ignored.
// A withdrawal or objection recorded after the standing grant wins over
// it even when it says it was made earlier (an import of old statements):
// when records disagree, the person's refusal stands.
func Derive(purposes []Purpose, events []Event, now time.Time) map[string]Current {
	latest, overriding := map[string]*Event{}, map[string]*Event{}
	for i := range events {
		e := &events[i]
		if l, ok := latest[e.Purpose]; !ok || later(e, l) {
			latest[e.Purpose] = e
		}
	}
	// A refusal recorded after the standing grant wins, whatever time the
	// grant claimed to be given at: a withdrawal acts on the very next
	// read, and a statement dated ahead cannot outlast it.
	for i := range events {
		e := &events[i]
		l := latest[e.Purpose]
		if l == nil || l.State != Granted || !e.State.Refuses() || !e.RecordedAt.After(l.RecordedAt) {
			continue
		}
		if w := overriding[e.Purpose]; w == nil || e.RecordedAt.After(w.RecordedAt) {
			overriding[e.Purpose] = e
		}
	}
	for p, e := range overriding {
		latest[p] = e
	}
	out := make(map[string]Current, len(purposes))
	for _, p := range purposes {
		e, ok := latest[p.ID]
		if !ok {
			out[p.ID] = Current{Purpose: p.ID, State: p.DefaultState, Default: true}
			continue
		}
		st := e.State
		if st == Granted && e.ExpiresAt != nil && !now.Before(*e.ExpiresAt) {
			st = Expired
		}
		out[p.ID] = Current{Purpose: p.ID, State: st, Event: e}
	}
	return out
}

// said is when a statement counts as made: when it says it was, but never
// after it was recorded (a statement dated ahead cannot outlast the ones
// recorded after it).
func (e *Event) said() time.Time {
	if e.At.After(e.RecordedAt) && !e.RecordedAt.IsZero() {
		return e.RecordedAt
	}
	return e.At
}

// later orders events by when they were said, then recorded, then by id:
// the same order on every read.
func later(a, b *Event) bool {
	if x, y := a.said(), b.said(); !x.Equal(y) {
		return x.After(y)
	}
	if !a.RecordedAt.Equal(b.RecordedAt) {
		return a.RecordedAt.After(b.RecordedAt)
	}
	return a.ID.String() > b.ID.String()
}

// Sort orders events as history: oldest first.
func Sort(events []Event) {
	sort.Slice(events, func(i, j int) bool { return later(&events[j], &events[i]) })
}

// Check validates a statement about a purpose before it is recorded:
// grants and denials only for purposes that rest on consent (and only on
// a notice of that purpose), withdrawals of consent, objections only where
// the purpose allows one.
func Check(p Purpose, st State, noticeVersion int) error {
	switch {
	case st == Granted && !p.RequiresConsent && p.AllowsObjection:
		return nil // lifts an objection
	case st == Granted || st == Denied || st == Withdrawn:
		if !p.RequiresConsent {
			return fmt.Errorf("purpose %s rests on %s, not on consent: it cannot be %s (object to it instead, where the purpose allows it): %w",
				p.ID, p.LegalBasis, st, ErrNotApplicable)
		}
		if st != Withdrawn && noticeVersion <= 0 {
			return fmt.Errorf("a %s for %s must name the notice version shown to the person: %w", st, p.ID, ErrInvalid)
		}
	case st == Objected:
		if !p.AllowsObjection {
			return fmt.Errorf("purpose %s does not allow an objection (Art. 21): %w", p.ID, ErrNotApplicable)
		}
	default:
		return fmt.Errorf("state %q: want granted, denied, withdrawn or objected: %w", st, ErrInvalid)
	}
	return nil
}

// Refusals are the events that refuse every purpose covered by a signal
// or a request: consent that is granted is withdrawn, a purpose resting on
// another basis that allows an objection is objected to. Purposes already
// refused get nothing, so the same signal twice records nothing new. The
// events carry no record, method or origin yet.
func Refusals(purposes []Purpose, current map[string]Current, covered func(Purpose) bool, actor string, now time.Time) []Event {
	var out []Event
	for _, p := range purposes {
		if !covered(p) {
			continue
		}
		var st State
		switch c := current[p.ID]; {
		case p.RequiresConsent && c.State == Granted:
			st = Withdrawn
		case !p.RequiresConsent && p.AllowsObjection && c.State != Objected:
			st = Objected
		default:
			continue
		}
		out = append(out, Event{ID: uuid.Must(uuid.NewV7()), Purpose: p.ID, State: st, Actor: actor, At: now, RecordedAt: now})
	}
	return out
}

// Conflict is an event written because merged profiles disagreed, with
// the profile it belongs to now.
type Conflict struct {
	Event
	ProfileID uuid.UUID `json:"profile_id"`
}

// Reconcile combines the consent of the parts of a merged profile (each
// part: the events of the records that came from one former profile).
// For every purpose on which two parts currently say different things,
// the most restrictive state wins: Reconcile returns it as a new event on
// the anchor record, marked as a conflict, with the method merge. Parts
// that said nothing, or whose grant expired, have no say; parts that
// agree need nothing.
func Reconcile(purposes []Purpose, parts map[uuid.UUID][]Event, anchor uuid.UUID, actor string, now time.Time) []Event {
	var out []Event
	for _, p := range purposes {
		var states []State
		var basis []uuid.UUID
		for _, events := range parts {
			c := Derive([]Purpose{p}, events, now)[p.ID]
			if c.Default || c.State == Expired {
				continue
			}
			if !slices.Contains(states, c.State) {
				states = append(states, c.State)
			}
			for _, e := range events {
				if e.Purpose == p.ID && !slices.Contains(basis, e.Record) {
					basis = append(basis, e.Record)
				}
			}
		}
		if len(states) < 2 {
			continue
		}
		strictest := states[0]
		for _, st := range states[1:] {
			if MoreRestrictive(st, strictest) {
				strictest = st
			}
		}
		out = append(out, Event{
			ID: uuid.Must(uuid.NewV7()), Record: anchor, Purpose: p.ID, State: strictest, Method: MethodMerge,
			Origin: "merge", Actor: actor, At: now, RecordedAt: now, Conflict: true, Basis: basis,
		})
	}
	return out
}

// Unmerge undoes, for a profile that a split left, the merge events whose
// ground is gone: for each purpose whose current state comes from a merge
// event combining a record that is no longer in the profile (left(record)
// reports it), the state the profile's own statements give is restored,
// as a new event on the anchor record. Parts that agree with the merge's
// state need nothing.
func Unmerge(purposes []Purpose, events []Event, left func(uuid.UUID) bool, anchor uuid.UUID, actor string, now time.Time) []Event {
	current := Derive(purposes, events, now)
	var own []Event
	for _, e := range events {
		if e.Method != MethodMerge {
			own = append(own, e)
		}
	}
	mine := Derive(purposes, own, now)
	var out []Event
	for _, p := range purposes {
		c := current[p.ID]
		if c.Event == nil || c.Event.Method != MethodMerge || !slices.ContainsFunc(c.Event.Basis, left) {
			continue
		}
		st := mine[p.ID].State
		if st == Expired {
			st = Withdrawn // what an expired grant amounts to
		}
		if st == c.State {
			continue
		}
		var basis []uuid.UUID
		for _, e := range own {
			if e.Purpose == p.ID && !slices.Contains(basis, e.Record) {
				basis = append(basis, e.Record)
			}
		}
		out = append(out, Event{ID: uuid.Must(uuid.NewV7()), Record: anchor, Purpose: p.ID, State: st, Method: MethodMerge,
			Origin: "split", Actor: actor, At: now, RecordedAt: now, Basis: basis})
	}
	return out
}

// Keep gives the statements to write on a record a profile keeps
// (anchor) when an erasure deletes others of its records (gone reports
// them), from the events of all its records: Outlive, with the catalogue
// and the time bound in.
type Keep func(events []Event, gone func(uuid.UUID) bool, anchor uuid.UUID) []Event

// Outlive returns the statements a profile's state would lose with
// records erased from it while others stay (gone reports the erased
// ones: a retention's expired records, a scoped erasure, the records an
// erasure deletes beside those a legal hold keeps). A refusal is about the
// person, not the record it was written on: an objection recorded on the
// record that expired must keep the person out of what they objected to.
//
// For each purpose whose state is decided by a statement on an erased
// record, that statement is re-stated on anchor (a record left), unless
// it is a grant without expiry: a refusal, or a grant with an expiry
// (passed or to come: the kept records' older or open-ended grant must
// not stand in for it). It keeps when it was said and recorded, its
// expiry and notice, so that later statements override it as they did;
// its basis names the erased record (and a merge event's basis). Then,
// for every purpose whose state the kept and re-stated statements do not
// give as before (a statement that stood only because it was recorded
// after a grant on the erased record), the deciding statement is
// re-stated as said and recorded just after every statement of the
// profile, as a merge's reconciliation is: the person's next statement
// overrides it. A grant without expiry is not carried: losing one fails
// closed.
func Outlive(purposes []Purpose, events []Event, gone func(uuid.UUID) bool, anchor uuid.UUID, actor string, now time.Time) []Event {
	var left []Event
	var last time.Time
	for _, e := range events {
		if !gone(e.Record) {
			left = append(left, e)
		}
		if e.RecordedAt.After(last) {
			last = e.RecordedAt
		}
	}
	if len(left) == len(events) {
		return nil
	}
	restate := func(c *Event) Event {
		e := *c
		e.ID, e.Record, e.Method, e.Origin, e.Actor = uuid.Must(uuid.NewV7()), anchor, MethodCarried, "erasure", actor
		e.Basis = append([]uuid.UUID{c.Record}, c.Basis...)
		e.Evidence = nil // sealed under its record's key
		return e
	}
	all := Derive(purposes, events, now)
	var out []Event
	for _, p := range purposes {
		c := all[p.ID]
		if c.Event == nil {
			continue
		}
		var carried []Event
		if gone(c.Event.Record) && (c.Event.State != Granted || c.Event.ExpiresAt != nil) {
			carried = append(carried, restate(c.Event))
		}
		if Derive([]Purpose{p}, append(left, carried...), now)[p.ID].State != c.State {
			e := restate(c.Event)
			e.At, e.RecordedAt, e.Conflict = last.Add(time.Microsecond), last.Add(time.Microsecond), false
			carried = []Event{e}
		}
		out = append(out, carried...)
	}
	return out
}

// MonthCount is how many statements of one state were made about one
// purpose in one month (counts only: the consent rates of the DPO's
// overview).
type MonthCount struct {
	Month   time.Time `json:"month"`
	Purpose string    `json:"purpose"`
	State   State     `json:"state"`
	N       int       `json:"n"`
}
