// Package profiling is the CRM's service: it runs the profiler (crm) over
// everyone or over the profiles whose interactions changed, lets
// marketing and the DPO define, preview, review and activate segments,
// and draws the figures of the customer base for the console.
//
// Every action passes access: the segment's purpose is declared and
// decided like a read, and activation decides and audits each person at
// send time. The profiler itself profiles no one whose legal basis does
// not allow it (crm.Facts.Allowed).
package profiling

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/vault"
)

// Store is what the service reads and writes (postgres.DB).
type Store interface {
	crm.ProfileStore
	Segment(ctx context.Context, name string) (crm.Segment, error)
	CreateSegment(ctx context.Context, s crm.Segment) (crm.Segment, error)
	DeleteSegment(ctx context.Context, name string) error
	SegmentMemberList(ctx context.Context, segment, after uuid.UUID, limit int) ([]crm.Member, error)
	ReviewMember(ctx context.Context, segment, profile uuid.UUID, verdict, by string) error
	SegmentHistory(ctx context.Context, segment uuid.UUID, limit int) ([]crm.HistoryEntry, error)
	SegmentOverlaps(ctx context.Context, segment uuid.UUID) (map[string]int, error)
	PendingChanges(ctx context.Context, segment uuid.UUID, limit int) ([]crm.Pending, error)
	PendingCount(ctx context.Context, segment uuid.UUID) (int, error)
	MarkActivated(ctx context.Context, ids []int64, outcomes []string, at time.Time) error
	SaveChartFigures(ctx context.Context, model uuid.UUID, figures []byte) error
	ChartFigures(ctx context.Context, model uuid.UUID) ([]byte, bool, error)
	ParetoCurve(ctx context.Context) ([]crm.ParetoPoint, error)
	LifecycleCounts(ctx context.Context) (map[string]int, error)
	TierCounts(ctx context.Context) (map[string]int, map[string]float64, error)
	Cohorts(ctx context.Context, since time.Time) ([]crm.Cohort, error)
	SegmentDestination(ctx context.Context, name string) (crm.Destination, error)
	Purposes(ctx context.Context) ([]consent.Purpose, error)
}

// Sender delivers a signed webhook (webhook.Client).
type Sender interface {
	Deliver(ctx context.Context, url, id string, secrets []string, body []byte) error
}

// Config builds a Service.
type Config struct {
	Store    Store
	Access   *access.Service
	Profiler *crm.Profiler
	Vault    *vault.Vault
	// Sender delivers activations to recipients (optional: CSV only).
	Sender Sender
	// Queue runs the full computations staff ask for as jobs (optional:
	// Ask fails without it).
	Queue Queue
}

// Queue runs full computations of traits as durable jobs (jobs.Runner).
type Queue interface {
	ComputeTraits(ctx context.Context, by string) (crm.Computation, error)
	Computation(ctx context.Context, id int64) (crm.Computation, error)
	LatestComputation(ctx context.Context) (crm.Computation, bool, error)
}

// Service is the CRM's service.
type Service struct {
	store    Store
	access   *access.Service
	profiler *crm.Profiler
	vault    *vault.Vault
	sender   Sender
	queue    Queue

	figuresMu sync.Mutex // one computation of the charts' figures at a time
}

// New builds the service.
func New(c Config) *Service {
	return &Service{store: c.Store, access: c.Access, profiler: c.Profiler, vault: c.Vault, sender: c.Sender, queue: c.Queue}
}

// Stages are the lifecycle stages in the order of their rules.
func (s *Service) Stages() []string { return crm.StageNames(s.profiler.Stages) }

// ErrInvalid reports a segment or an activation that cannot be.
var ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid segment")

// Compute recomputes everyone's traits, the models and every segment:
// the DPO's, audited with what it did.
func (s *Service) Compute(ctx context.Context, req access.Request) (*crm.Report, error) {
	req.Purpose = crm.ProfilingPurpose
	var rep *crm.Report
	_, err := s.access.Guard(ctx, &req, access.Act{Action: access.ActionProfileAll, StaffOnly: true, Reason: "compute traits"},
		func(a *access.Allowed) (err error) {
			if rep, err = s.profiler.Full(ctx); err != nil {
				return err
			}
			a.Reason = summary(rep)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return rep, s.keepFigures(ctx, rep)
}

// Ask queues a full computation of everyone's traits and segments as a
// job, or joins one that waits to start (DPO), audited before it is
// queued: at a million profiles one takes most of a minute, at ten
// million minutes, longer than a request may wait. The job audits what it
// did, with who asked. Compute runs one in the caller instead.
func (s *Service) Ask(ctx context.Context, req access.Request) (crm.Computation, error) {
	if s.queue == nil {
		return crm.Computation{}, errNoQueue
	}
	req.Purpose = crm.ProfilingPurpose
	if _, err := s.access.Guard(ctx, &req, access.Act{Action: access.ActionProfileAll, StaffOnly: true,
		Reason: "compute traits: queue a computation"}, nil); err != nil {
		return crm.Computation{}, err
	}
	return s.queue.ComputeTraits(ctx, req.Principal.ID)
}

var errNoQueue = errors.New("no job queue: computations of traits run with cdp traits compute")

// Computation reads a computation of traits by its job id, for those
// who see the charts: its state and, once completed, what it did (no
// person's data); who asked, for the DPO. River keeps a finished job
// for a day.
func (s *Service) Computation(ctx context.Context, req access.Request, id int64) (crm.Computation, error) {
	var c crm.Computation
	err := s.gate(ctx, req, crm.ProfilingPurpose, fmt.Sprintf("read computation of traits %d", id), nil, func(*access.Allowed) (err error) {
		if s.queue == nil {
			return errNoQueue
		}
		c, err = s.queue.Computation(ctx, id)
		if !req.Principal.Has(auth.RoleDPO) {
			c.By = "" // who asked is the DPO's business
		}
		return err
	})
	return c, err
}

func summary(rep *crm.Report) string {
	ex := 0
	for _, n := range rep.Excluded {
		ex += n
	}
	kind := "refreshed"
	if rep.Full {
		kind = "computed"
	}
	return fmt.Sprintf("traits %s: %d profiled, %d not profiled (objection, restriction or consent), %d stage changes",
		kind, rep.Profiled, ex, rep.Changes)
}

// systemActor is who the jobs act as in the audit log.
const systemActor = "system:profiling"

func system() access.Request {
	return access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: systemActor}, Purpose: crm.ProfilingPurpose}
}

// Refresh recomputes up to limit profiles whose interactions or records
// changed, with the last full run's models; audited when it did anything.
func (s *Service) Refresh(ctx context.Context, limit int) (*crm.Report, error) {
	rep, err := s.profiler.Refresh(ctx, limit)
	if err != nil || rep.Profiled == 0 && len(rep.Excluded) == 0 {
		return rep, err
	}
	err = s.access.Record(ctx, system(), access.Note{Action: access.ActionProfileAll, Outcome: audit.Allowed, Reason: summary(rep)})
	return rep, errors.Join(err, s.keepFigures(ctx, rep))
}

// CatchUp refreshes every stale profile, in batches; when more are stale
// than a full run would take longer for (a full resolution, a large
// import), it queues the full computation instead, as a job with its own
// timeout (the sweep's is the request jobs'), unless one waits or runs
// (what it did not see stays queued for the next sweep); without a
// queue it runs it.
func (s *Service) CatchUp(ctx context.Context) (int, error) {
	const batch, fullAbove = 5000, 100000
	n := 0
	for {
		rep, err := s.Refresh(ctx, batch)
		if err != nil {
			return n, err
		}
		n += rep.Profiled
		if rep.Remaining > fullAbove && s.queue != nil {
			c, ok, err := s.queue.LatestComputation(ctx)
			if err == nil && !(ok && (c.State == "queued" || c.State == "running")) {
				_, err = s.queue.ComputeTraits(ctx, "")
			}
			return n, err
		}
		if rep.Remaining > fullAbove {
			rep, err := s.Full(ctx, "")
			if err != nil {
				return n, err
			}
			return n + rep.Profiled, nil
		}
		if rep.Remaining <= 0 {
			return n, nil
		}
	}
}

// Full recomputes everything for a job, audited as the system's: the
// schedule's, or one a staff member asked for (by).
func (s *Service) Full(ctx context.Context, by string) (*crm.Report, error) {
	rep, err := s.profiler.Full(ctx)
	if err != nil {
		return nil, err
	}
	why := summary(rep)
	if by != "" {
		why += ", asked by " + by
	}
	err = s.access.Record(ctx, system(), access.Note{Action: access.ActionProfileAll, Outcome: audit.Allowed, Reason: why})
	return rep, errors.Join(err, s.keepFigures(ctx, rep))
}

// figures are the charts' figures that a full computation keeps with
// its model (Charts without the model and the segments).
type figures struct {
	Pareto    []crm.ParetoPoint  `json:"pareto"`
	Lifecycle map[string]int     `json:"lifecycle"`
	Tiers     map[string]int     `json:"tiers"`
	Revenue   map[string]float64 `json:"tier_revenue"`
	Cohorts   []crm.Cohort       `json:"cohorts"`
}

// keepFigures computes the charts' figures after a full computation and
// keeps them with its model, once: read live they took 4.5 to 9 s at a
// million profiles, on every load of the charts.
func (s *Service) keepFigures(ctx context.Context, rep *crm.Report) error {
	if !rep.Full || rep.Model == nil {
		return nil
	}
	s.figuresMu.Lock()
	defer s.figuresMu.Unlock()
	if _, kept, err := s.store.ChartFigures(ctx, rep.Model.ID); err != nil || kept {
		return err
	}
	f, err := s.liveFigures(ctx, time.Now())
	if err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.store.SaveChartFigures(ctx, rep.Model.ID, b)
}

// liveFigures reads the charts' figures from the traits as they are now;
// the cohorts are those of the twelve months before now.
func (s *Service) liveFigures(ctx context.Context, now time.Time) (*figures, error) {
	f := &figures{}
	var err error
	if f.Pareto, err = s.store.ParetoCurve(ctx); err != nil {
		return nil, err
	}
	if f.Lifecycle, err = s.store.LifecycleCounts(ctx); err != nil {
		return nil, err
	}
	if f.Tiers, f.Revenue, err = s.store.TierCounts(ctx); err != nil {
		return nil, err
	}
	since := now.UTC().AddDate(0, -12, 0)
	if f.Cohorts, err = s.store.Cohorts(ctx, time.Date(since.Year(), since.Month(), 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return nil, err
	}
	return f, nil
}

// gate decides an action on segments for a purpose: the principal's
// roles must allow that purpose; audited.
func (s *Service) gate(ctx context.Context, req access.Request, purpose, reason string, named []string, work func(*access.Allowed) error) error {
	req.Purpose = purpose
	_, err := s.access.Guard(ctx, &req, access.Act{Action: access.ActionSegments, StaffOnly: true, Reason: reason, Named: named},
		func(a *access.Allowed) error {
			if work == nil {
				return nil
			}
			return work(a)
		})
	return err
}

// withheld begins the activation note of a change held back, before why
// ("withheld: objection to profiling").
const withheld = "withheld"

// listed makes the audit entry of a segment's page name every profile it
// lists (membership of a segment is personal data: "returns a third of
// what they order"), and withholds why each entered or left unless the
// decision lets the purpose see traits: a reason carries the values of
// the traits the condition names ("revenue = 4321.09"), or the person's
// objection.
func listed(a *access.Allowed, history []crm.HistoryEntry, members []crm.Member) {
	seen := map[uuid.UUID]bool{}
	name := func(id uuid.UUID) {
		if !seen[id] {
			seen[id] = true
			a.Named = append(a.Named, id.String())
		}
	}
	shown := slices.Contains(a.Decision.Fields, "traits")
	for i := range history {
		name(history[i].Profile)
		if !shown {
			history[i].Reason = ""
			// An activation's note says why a change was held back
			// ("withheld: objection to profiling"): the fact stays, the
			// reason goes.
			if strings.HasPrefix(history[i].Activation, withheld) {
				history[i].Activation = withheld
			}
		}
	}
	for _, m := range members {
		name(m.Profile)
	}
	if shown && len(history) > 0 {
		a.Fields = []string{"traits"}
	}
}

// overlapShown tells whether the overlap of a segment of purpose with
// another segment is shown to the principal: the other's purpose is the
// same (the principal was allowed it), or the principal is the DPO. A
// condition narrow enough to hold one person told a reader that person's
// membership of a segment of a purpose they may not declare (fraud
// prevention, say).
func overlapShown(req access.Request, purpose string, other crm.Segment) bool {
	return other.Purpose == purpose || req.Principal.Has(auth.RoleDPO)
}

// Segments lists every segment with its size.
func (s *Service) Segments(ctx context.Context, req access.Request) ([]crm.Segment, error) {
	var out []crm.Segment
	err := s.gate(ctx, req, crm.ProfilingPurpose, "list segments", nil, func(*access.Allowed) (err error) {
		out, err = s.store.Segments(ctx)
		return err
	})
	return out, err
}

// View is one segment as staff see it: its definition, size, overlap
// with the others and latest entries and exits.
type View struct {
	crm.Segment
	Overlaps map[string]int     `json:"overlaps"`
	History  []crm.HistoryEntry `json:"history"`
	Pending  int                `json:"pending_activation"`
}

// Segment reads one segment.
func (s *Service) Segment(ctx context.Context, req access.Request, name string) (*View, error) {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return nil, err
	}
	v := &View{Segment: seg}
	err = s.gate(ctx, req, seg.Purpose, "read segment "+name, nil, func(a *access.Allowed) error {
		if v.Overlaps, err = s.store.SegmentOverlaps(ctx, seg.ID); err != nil {
			return err
		}
		others, err := s.store.Segments(ctx)
		if err != nil {
			return err
		}
		for _, o := range others {
			if _, ok := v.Overlaps[o.Name]; ok && !overlapShown(req, seg.Purpose, o) {
				delete(v.Overlaps, o.Name)
			}
		}
		if v.History, err = s.store.SegmentHistory(ctx, seg.ID, 100); err != nil {
			return err
		}
		listed(a, v.History, nil)
		v.Pending, err = s.store.PendingCount(ctx, seg.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Draft is a segment being written.
type Draft struct {
	Name        string `json:"name"`
	Purpose     string `json:"purpose"`
	Condition   string `json:"condition"`
	Description string `json:"description"`
	Significant bool   `json:"significant"`
}

var segmentName = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,62}$`)

// check validates a draft: a name, a purpose of the catalogue, a
// condition that compiles to true or false, and a description in plain
// words for the people in it.
func (s *Service) check(ctx context.Context, d *Draft) error {
	d.Name, d.Description = strings.TrimSpace(d.Name), strings.TrimSpace(d.Description)
	if !segmentName.MatchString(d.Name) {
		return fmt.Errorf("%w: name: 2 to 63 lower-case letters, digits, '-' or '_', starting with a letter", ErrInvalid)
	}
	if d.Description == "" || len(d.Description) > 2000 {
		return fmt.Errorf("%w: description: the rule in plain words for the people in it, up to 2000 bytes", ErrInvalid)
	}
	ps, err := s.store.Purposes(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ps, func(p consent.Purpose) bool { return p.ID == d.Purpose }) {
		return fmt.Errorf("%w: purpose %q is not in the catalogue", ErrInvalid, d.Purpose)
	}
	_, err = crm.Compile(d.Condition)
	return err
}

// Preview is how many people a draft would hold now, and how many of
// them each existing segment holds.
type Preview struct {
	Size     int            `json:"size"`
	Overlaps map[string]int `json:"overlaps"`
}

// Preview counts a draft's members without saving it.
func (s *Service) Preview(ctx context.Context, req access.Request, d Draft) (*Preview, error) {
	if d.Name == "" {
		d.Name = "preview"
	}
	if d.Description == "" {
		d.Description = "preview"
	}
	if err := s.check(ctx, &d); err != nil {
		return nil, err
	}
	out := &Preview{Overlaps: map[string]int{}}
	err := s.gate(ctx, req, d.Purpose, "preview segment: "+d.Condition, nil, func(*access.Allowed) error {
		ids, err := s.profiler.Select(ctx, d.Purpose, d.Condition)
		if err != nil {
			return err
		}
		out.Size = len(ids)
		segs, err := s.store.Segments(ctx)
		if err != nil {
			return err
		}
		for _, seg := range segs {
			if !overlapShown(req, d.Purpose, seg) {
				continue
			}
			members, err := s.store.SegmentMembers(ctx, seg.ID, nil)
			if err != nil {
				return err
			}
			n := 0
			for id := range ids {
				if members[id] {
					n++
				}
			}
			out.Overlaps[seg.Name] = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Save creates a segment and computes its members at once.
func (s *Service) Save(ctx context.Context, req access.Request, d Draft) (*crm.Segment, error) {
	if err := s.check(ctx, &d); err != nil {
		return nil, err
	}
	var seg crm.Segment
	err := s.gate(ctx, req, d.Purpose, "create segment "+d.Name+": "+d.Condition, nil, func(a *access.Allowed) (err error) {
		if d.Significant && !slices.Contains(a.Decision.Fields, "traits") {
			// Its decisions wait for a person's review (Art. 22(3)), and a
			// review weighs why each person is in it: the reasons are
			// shown only under a purpose that sees traits (listed).
			return fmt.Errorf("%w: a segment with significant effects needs a purpose whose reviewers see the traits behind each decision; %s does not see traits", ErrInvalid, d.Purpose)
		}
		seg, err = s.store.CreateSegment(ctx, crm.Segment{Name: d.Name, Purpose: d.Purpose, Condition: strings.TrimSpace(d.Condition),
			Description: d.Description, Significant: d.Significant, CreatedBy: req.Principal.Actor()})
		if err != nil {
			return err
		}
		seg.Members, err = s.profiler.RefreshSegment(ctx, seg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &seg, nil
}

// RefreshSegment recomputes one segment's members over everyone profiled.
func (s *Service) RefreshSegment(ctx context.Context, req access.Request, name string) (int, error) {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.gate(ctx, req, seg.Purpose, "refresh segment "+name, nil, func(*access.Allowed) (err error) {
		n, err = s.profiler.RefreshSegment(ctx, seg)
		return err
	})
	return n, err
}

// Delete deletes a segment, its members and history.
func (s *Service) Delete(ctx context.Context, req access.Request, name string) error {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return err
	}
	return s.gate(ctx, req, seg.Purpose, "delete segment "+name, nil, func(*access.Allowed) error {
		return s.store.DeleteSegment(ctx, name)
	})
}

// Members pages through a segment's members, by id only.
func (s *Service) Members(ctx context.Context, req access.Request, name string, after uuid.UUID, limit int) ([]crm.Member, error) {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []crm.Member
	err = s.gate(ctx, req, seg.Purpose, "list members of segment "+name, nil, func(a *access.Allowed) (err error) {
		out, err = s.store.SegmentMemberList(ctx, seg.ID, after, limit)
		listed(a, nil, out)
		return err
	})
	return out, err
}

// Review records a person's review of one decision of a segment with
// significant effects (Art. 22(3)): only approved decisions are
// activated.
func (s *Service) Review(ctx context.Context, req access.Request, name string, profile uuid.UUID, approve bool) error {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return err
	}
	verdict := "rejected"
	if approve {
		verdict = "approved"
	}
	return s.gate(ctx, req, seg.Purpose, "review "+verdict+" in segment "+name, []string{profile.String()}, func(*access.Allowed) error {
		if !seg.Significant {
			return fmt.Errorf("%w: segment %s has no significant effects: its decisions need no review", ErrInvalid, name)
		}
		return s.store.ReviewMember(ctx, seg.ID, profile, verdict, req.Principal.Actor())
	})
}

// Activation is what one activation delivered.
type Activation struct {
	Segment  string `json:"segment"`
	Purpose  string `json:"purpose"`
	Sent     int    `json:"sent"`
	Withheld int    `json:"withheld"`
	// AwaitingReview are entries of a significant segment no person
	// reviewed yet: kept for the next activation.
	AwaitingReview int      `json:"awaiting_review"`
	Changes        []Change `json:"changes"`
	// CSV is the download, when the destination is one.
	CSV []byte `json:"-"`
}

// Change is one entry or exit as a destination receives it.
type Change struct {
	Profile uuid.UUID         `json:"profile_id"`
	Change  string            `json:"change"`
	At      time.Time         `json:"at"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// MaxActivation bounds the changes one activation sends.
const MaxActivation = 10000

// activationBatch is how many people an activation decides and audits
// together.
const activationBatch = 1000

// awaitingReview holds back the entry of a significant segment no person
// has reviewed yet: it stays pending.
const awaitingReview = "awaiting review"

// ErrNoPurpose reports a destination no purpose is mapped to for the
// segment: activation fails closed.
var ErrNoPurpose = derrors.New(derrors.ErrForbidden, "the destination receives no segments for this purpose")

// CSVDestination names the download as a destination.
const CSVDestination = "csv"

// Activate delivers a segment's entries and exits since the last
// activation to a destination: a recipient's signed webhook (which must
// have the segment's purpose mapped), or a CSV download. Each entry is
// decided again at send time, person by person (consent, objections,
// restriction), and audited per person; a refused one is withheld and
// never sent. A segment with significant effects sends only entries a
// person approved.
func (s *Service) Activate(ctx context.Context, req access.Request, name, destination string) (*Activation, error) {
	seg, err := s.store.Segment(ctx, name)
	if err != nil {
		return nil, err
	}
	req.Purpose = seg.Purpose
	var dest crm.Destination
	if destination != CSVDestination {
		if dest, err = s.store.SegmentDestination(ctx, destination); err != nil {
			return nil, err
		}
		if dest.Disabled || !slices.Contains(dest.Purposes, seg.Purpose) || s.sender == nil {
			note := access.Note{Action: access.ActionActivate, Outcome: audit.Denied,
				Reason: fmt.Sprintf("activate segment %s to %s: no purpose %s mapped", name, destination, seg.Purpose)}
			if err := s.access.Record(ctx, req, note); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s, segment %s: %w", destination, name, ErrNoPurpose)
		}
	}
	if err := s.gate(ctx, req, seg.Purpose, "activate segment "+name+" to "+destination, nil, nil); err != nil {
		return nil, err
	}
	pending, err := s.store.PendingChanges(ctx, seg.ID, MaxActivation)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, 0, len(pending))
	for _, p := range pending {
		ids = append(ids, p.Profile)
	}
	facts, err := s.store.ProfilingFacts(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	out := &Activation{Segment: name, Purpose: seg.Purpose, Changes: []Change{}}
	// First the rules that need no read: why each change is held back
	// ("" for one the policy decides, or an exit, which carries no data).
	held := make([]string, len(pending))
	var exits []access.Note
	var ask []uuid.UUID
	asked := map[uuid.UUID]bool{}
	for i, p := range pending {
		switch {
		case p.Change == "left":
			exits = append(exits, access.Note{Action: access.ActionActivate, Outcome: audit.Allowed,
				Profiles: []string{p.Profile.String()}, Reason: "activate segment " + name + ": left"})
			continue
		case !p.Member:
			held[i] = "no longer a member"
		case seg.Significant && p.Review == "":
			held[i] = awaitingReview
		case seg.Significant && p.Review != "approved":
			held[i] = "rejected on review"
		}
		if held[i] != "" {
			continue
		}
		if ok, why := facts.Allowed(p.Profile, crm.ProfilingPurpose, now); !ok {
			held[i] = why
		} else if ok, why := facts.Allowed(p.Profile, seg.Purpose, now); !ok {
			held[i] = why
		} else if !asked[p.Profile] { // each person once, however many changes
			asked[p.Profile] = true
			ask = append(ask, p.Profile)
		}
	}
	if err := s.access.Record(ctx, req, exits...); err != nil {
		return nil, err
	}
	// Then the policy, person by person at send time, each audited.
	fields := map[uuid.UUID]map[string]string{}
	for len(ask) > 0 {
		n := min(len(ask), activationBatch)
		got, err := s.access.Deliverables(ctx, req, ask[:n], name)
		if err != nil {
			return nil, err
		}
		maps.Copy(fields, got)
		ask = ask[n:]
	}
	var done []int64
	var outcomes []string
	for i, p := range pending {
		f, sent := fields[p.Profile]
		switch {
		case p.Change == "left":
		case held[i] == awaitingReview:
			out.AwaitingReview++
			continue
		case held[i] == "" && !sent:
			held[i] = "refused by the policy"
		}
		if held[i] != "" {
			done, outcomes = append(done, p.ID), append(outcomes, withheld+": "+held[i])
			out.Withheld++
			continue
		}
		if p.Change == "left" {
			f = nil // an exit carries no data, even of someone who entered again
		}
		out.Changes = append(out.Changes, Change{Profile: p.Profile, Change: p.Change, At: p.At, Fields: f})
		done, outcomes = append(done, p.ID), append(outcomes, "sent to "+destination)
	}
	out.Sent = len(out.Changes)
	if destination == CSVDestination {
		if out.CSV, err = changesCSV(out.Changes); err != nil {
			return nil, err
		}
	} else if len(out.Changes) > 0 {
		body, err := json.Marshal(map[string]any{"type": "segment.changes", "segment": name, "purpose": seg.Purpose, "changes": out.Changes})
		if err != nil {
			return nil, err
		}
		secrets, err := requests.OpenSecrets(s.vault, dest.ID, dest.KEK, dest.Wrapped, dest.Secret, dest.Previous)
		if err != nil {
			return nil, err
		}
		// Undelivered, nothing is marked: the next activation sends it again.
		if err := s.sender.Deliver(ctx, dest.URL, uuid.NewString(), secrets, body); err != nil {
			return nil, fmt.Errorf("deliver to %s: %w", destination, err)
		}
	}
	if err := s.store.MarkActivated(ctx, done, outcomes, now); err != nil {
		return nil, err
	}
	return out, nil
}

func changesCSV(cs []Change) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	head := append([]string{"profile_id", "change", "at"}, access.ActivationFields...)
	if err := w.Write(head); err != nil {
		return nil, err
	}
	for _, c := range cs {
		row := []string{c.Profile.String(), c.Change, c.At.UTC().Format(time.RFC3339)}
		for _, f := range access.ActivationFields {
			row = append(row, csvSafe(c.Fields[f]))
		}
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// csvSafe keeps a value from being read as a formula by a spreadsheet.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// Charts are the figures of the customer base: the Pareto curve, the
// lifecycle funnel, the tiers, retention cohorts and segment sizes, of
// the profiled customers only.
type Charts struct {
	Model     *crm.Model         `json:"model,omitempty"`
	Pareto    []crm.ParetoPoint  `json:"pareto"`
	Stages    []string           `json:"stages"`
	Lifecycle map[string]int     `json:"lifecycle"`
	Tiers     map[string]int     `json:"tiers"`
	Revenue   map[string]float64 `json:"tier_revenue"`
	Cohorts   []crm.Cohort       `json:"cohorts"`
	Segments  []crm.Segment      `json:"segments"`
	// Computing is the computation of traits waiting or running, if any:
	// the figures will be its own once it is done.
	Computing *crm.Computation `json:"computing,omitempty"`
}

// Charts reads the figures for the DPO and marketing: aggregates, no
// person; audited like any action.
func (s *Service) Charts(ctx context.Context, req access.Request) (*Charts, error) {
	out := &Charts{Stages: s.Stages()}
	err := s.gate(ctx, req, crm.ProfilingPurpose, "customer base charts", nil, func(*access.Allowed) (err error) {
		if out.Model, err = s.store.LatestModel(ctx); err != nil {
			return err
		}
		// The figures kept by the last full computation, as of its model;
		// read live only before the first.
		f := &figures{}
		kept := false
		if out.Model != nil {
			var b []byte
			if b, kept, err = s.store.ChartFigures(ctx, out.Model.ID); err != nil {
				return err
			}
			if kept {
				if err := json.Unmarshal(b, f); err != nil {
					return fmt.Errorf("chart figures of model %s: %w", out.Model.ID, err)
				}
			}
		}
		if !kept {
			if f, err = s.liveFigures(ctx, time.Now()); err != nil {
				return err
			}
		}
		out.Pareto, out.Lifecycle, out.Tiers, out.Revenue, out.Cohorts = f.Pareto, f.Lifecycle, f.Tiers, f.Revenue, f.Cohorts
		if out.Segments, err = s.store.Segments(ctx); err != nil {
			return err
		}
		if s.queue != nil {
			c, ok, err := s.queue.LatestComputation(ctx)
			if err != nil {
				return err
			}
			if ok && (c.State == "queued" || c.State == "running") {
				c.By = "" // who asked is the DPO's business
				out.Computing = &c
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
