package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/vault"
)

// jobActor is who carries out approved requests.
const jobActor = "system:jobs"

// Execute carries out an approved request, step by step, each step
// idempotent: run again after a crash, it finishes what is left. It is
// what a request's durable job runs.
func (s *Service) Execute(ctx context.Context, id uuid.UUID) error {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if r.State == dsr.Approved {
		// Redoable: lost in a crash, the request is approved again and its
		// job runs again.
		if err := s.store.Transition(ctx, id, dsr.Approved, dsr.InProgress, dsr.Change{Redoable: true},
			dsr.StoredEvent{Event: dsr.Event{Actor: jobActor, At: now}}); err != nil {
			return err
		}
		r.State = dsr.InProgress
	}
	if r.State != dsr.InProgress {
		return nil // decided, done or not approved: nothing to do
	}
	// Records a crash left in no profile join theirs first: an erasure
	// or an export must find every record of the person.
	if _, err := s.resolver.LinkOrphansNear(ctx, jobActor, r.Profile); err != nil {
		return err
	}
	var outcome any
	switch r.Type {
	case dsr.Erasure:
		catalogue, err := s.access.Purposes(ctx)
		if err != nil {
			return err
		}
		// The person's refusals written on erased records stay with the
		// records the profile keeps (a retention's or a legal hold's).
		rep, err := s.store.Erase(ctx, r.ID, r.Profile, now,
			func(events []consent.Event, gone func(uuid.UUID) bool, anchor uuid.UUID) []consent.Event {
				return consent.Outlive(catalogue, events, gone, anchor, jobActor, now)
			})
		if errors.Is(err, derrors.ErrNotFound) {
			// Gone before this request's turn: erased by another request
			// (done, then), or never there to erase.
			by, _, erased, eerr := s.store.ErasedBy(ctx, r.Profile)
			if eerr != nil {
				return eerr
			}
			if !erased {
				return fmt.Errorf("profile %s no longer exists: %w", r.Profile, dsr.ErrCannot)
			}
			outcome = map[string]string{"already_erased_by": by.String()}
			break
		}
		if err != nil {
			return err
		}
		s.access.Forget() // nothing cached may outlive the person
		// Their login accounts go too: neither their address nor their
		// name lives on in Kratos, and they can sign up again. A Kratos
		// that does not answer makes the job try again later.
		if s.accounts != nil {
			for _, a := range rep.Accounts {
				if err := s.accounts.DeleteAccount(ctx, a); err != nil {
					return err
				}
				rep.AccountsDeleted = append(rep.AccountsDeleted, a)
			}
		}
		settled, err := s.notify(ctx, r.ID, "erasure", rep)
		if err != nil || !settled {
			return err // the acknowledgements (or the DPO's override) queue the request again
		}
		outcome = rep
	case dsr.Restriction:
		if err := s.store.Restrict(ctx, r.ID, r.Profile, false); err != nil {
			return cannot(err)
		}
		outcome = map[string]string{"restricted": r.Profile.String()}
	case dsr.Objection:
		n, err := s.object(ctx, r.Request, now)
		if err != nil {
			return cannot(err)
		}
		outcome = map[string]int{"objections_recorded": n}
	case dsr.Access, dsr.Portability:
		outcome = map[string]time.Time{"export_until": now.Add(ExportValidity)}
	case dsr.Rectification:
		rep, done, err := s.rectify(ctx, r)
		if err != nil {
			return cannot(err)
		}
		settled, err := s.notify(ctx, r.ID, "rectification", rep)
		if err != nil || !settled {
			return err
		}
		outcome = done
	default:
		return fmt.Errorf("request %s: unknown type %q", id, r.Type)
	}
	b, _ := json.Marshal(outcome)
	// Redoable: every step above is idempotent, and River's durable
	// record of the job's completion, committed after this, flushes it;
	// lost before that, the job runs again and completes it again.
	return s.store.Transition(ctx, id, dsr.InProgress, dsr.Completed, dsr.Change{Outcome: string(b), Redoable: true},
		dsr.StoredEvent{Event: dsr.Event{Actor: jobActor, At: time.Now().UTC()}})
}

// OrphanGrace is how long before the previous sweep a sweep looks for
// records in no profile: longer than any write takes from making a
// record's id to committing it, and than the clocks of the machines that
// write records drift apart. Every record made within it is read again by
// each sweep (about a second a million, for the minutes after an import).
const OrphanGrace = 10 * time.Minute

// orphansFullEvery is how often a sweep reads every record all the same:
// the safety net under the assumptions of OrphanGrace.
const orphansFullEvery = 24 * time.Hour

// LinkOrphans links the records a crash left in no profile (see
// resolver.LinkOrphans): every record the first time and once a day,
// otherwise those made since the previous run began, less OrphanGrace.
// Reading every record took a second a million, on every sweep.
func (s *Service) LinkOrphans(ctx context.Context) (int, error) {
	s.orphans.Lock()
	defer s.orphans.Unlock()
	start, since := time.Now(), time.Time{}
	full := start.Sub(s.orphansFull) >= orphansFullEvery
	if !full {
		since = s.orphansSwept.Add(-OrphanGrace)
	}
	n, err := s.resolver.LinkOrphans(ctx, jobActor, since)
	if err == nil {
		s.orphansSwept = start
		if full {
			s.orphansFull = start
		}
	}
	return n, err
}

// cannot marks a missing profile as permanent: no retry brings it back.
func cannot(err error) error {
	if errors.Is(err, derrors.ErrNotFound) && !errors.Is(err, dsr.ErrCannot) {
		return fmt.Errorf("%w: %w", err, dsr.ErrCannot)
	}
	return err
}

// SubjectSource is the source of values the person gave themselves
// (rectification, Art. 16): it wins survivorship over every department.
const SubjectSource = "subject"

// object records an objection to the purposes of the request, or to every
// purpose that allows one; direct marketing is always covered (Art.
// 21(2)-(3): absolute), consent to it withdrawn. Purposes already refused
// are left alone, so running it twice records nothing new.
func (s *Service) object(ctx context.Context, r dsr.Request, now time.Time) (int, error) {
	catalogue, err := s.access.Purposes(ctx)
	if err != nil {
		return 0, err
	}
	cur, recs, events, err := s.store.ProfileRecords(ctx, r.Profile)
	if err != nil {
		return 0, err
	}
	if mine := only(recs, r.Scope); len(mine) > 0 {
		recs = mine // a customer's objection is theirs: recorded on their records
	} // none left (erased meanwhile, by a retention): it still stands for the profile they are in
	if len(recs) == 0 {
		return 0, fmt.Errorf("profile %s has no records: %w", cur, access.ErrNotFound)
	}
	current := consent.Derive(catalogue, events, now)
	todo := consent.Refusals(catalogue, current, func(p consent.Purpose) bool {
		return slices.Contains(r.Details.Purposes, p.ID) || p.ID == "marketing" || (len(r.Details.Purposes) == 0 && p.AllowsObjection)
	}, jobActor, now)
	for i := range todo {
		todo[i].Record, todo[i].Method, todo[i].Origin = recs[0].ID, consent.MethodRequest, "request:"+r.ID.String()
	}
	if len(todo) == 0 {
		return 0, nil
	}
	return len(todo), s.store.AppendConsent(ctx, todo)
}

// only keeps the records in scope.
func only(recs []identity.StoredRecord, scope []uuid.UUID) []identity.StoredRecord {
	var out []identity.StoredRecord
	for _, r := range recs {
		if slices.Contains(scope, r.ID) {
			out = append(out, r)
		}
	}
	return out
}

// notify sends the notices of a request to every recipient whose sources
// it concerns (Art. 17(2), 19), once, and reports whether all of them are
// settled: acknowledged, or overridden by the DPO.
func (s *Service) notify(ctx context.Context, request uuid.UUID, kind string, rep dsr.ErasureReport) (bool, error) {
	ns, err := s.store.CreateNotifications(ctx, request, kind, rep.Sources, func(id uuid.UUID, theirs []string) ([]byte, error) {
		// A recipient limited to some sources hears only of their
		// records: another department's record ids are none of its
		// business.
		records, sources := rep.Erased, rep.Sources
		if len(theirs) > 0 {
			records, sources = []uuid.UUID{}, []string{}
			for _, r := range rep.Erased {
				if src, ok := rep.RecordSources[r]; ok && slices.Contains(theirs, src) {
					records = append(records, r)
				}
			}
			for _, src := range rep.Sources {
				if slices.Contains(theirs, src) {
					sources = append(sources, src)
				}
			}
		}
		return json.Marshal(dsr.NoticePayload{Notification: id, Request: request, Kind: kind, Profile: rep.Profile,
			Records: records, Sources: sources, AckURL: "/v1/notices/" + id.String() + "/ack"})
	})
	if err != nil {
		return false, err
	}
	settled := true
	for _, n := range ns {
		if n.Kind != kind {
			continue // the DPO's desk heard of the request being filed: nothing to settle
		}
		if n.Status == dsr.NoticePending {
			if err := s.queue.Notify(ctx, n.ID); err != nil {
				return false, err
			}
		}
		settled = settled && n.Settled()
	}
	return settled, nil
}

// announce tells the recipients that hear of request_filed (the DPO's
// desk) that a customer filed a request: a signed webhook through the same
// outbox as notices, so the DPO need not poll. Ids, type and deadline only.
func (s *Service) announce(ctx context.Context, r dsr.Request) error {
	ns, err := s.store.CreateNotifications(ctx, r.ID, dsr.NoticeRequestFiled, nil, func(id uuid.UUID, _ []string) ([]byte, error) {
		due := r.Due
		return json.Marshal(dsr.NoticePayload{Notification: id, Request: r.ID, Kind: dsr.NoticeRequestFiled, Profile: r.Profile,
			Records: []uuid.UUID{}, Sources: []string{}, RequestType: r.Type, DueAt: &due})
	})
	if err != nil {
		return err
	}
	for _, n := range ns {
		if n.Kind == dsr.NoticeRequestFiled && n.Status == dsr.NoticePending {
			s.queue.Notify(ctx, n.ID) // written: if it cannot be queued now, the job sweep delivers it
		}
	}
	return nil
}

// FailRequest closes a request its job could not carry out: a permanent
// error, or every retry spent. The reason names ids and causes, no values.
func (s *Service) Fail(ctx context.Context, id uuid.UUID, cause error) error {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return err
	}
	if r.State != dsr.Approved && r.State != dsr.InProgress {
		return nil
	}
	key, err := s.requestKey(r)
	if err != nil {
		return err
	}
	reason, err := key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: []byte(cause.Error())}})
	if err != nil {
		return err
	}
	return s.store.Transition(ctx, id, r.State, dsr.Failed, dsr.Change{Outcome: "failed"},
		dsr.StoredEvent{Event: dsr.Event{Actor: jobActor, At: time.Now().UTC()}, Reason: reason})
}

// rectify enters a rectification's corrected values as a record of the
// source "subject" (its source id is the request's id, so doing it again
// changes nothing), which wins survivorship over every department, and
// makes sure the record belongs to the person's profile. The report names
// the profile's records and sources: their holders are told.
func (s *Service) rectify(ctx context.Context, r dsr.Stored) (dsr.ErasureReport, dsr.RectificationReport, error) {
	var rep dsr.ErasureReport
	var done dsr.RectificationReport
	key, err := s.requestKey(r)
	if err != nil {
		return rep, done, err
	}
	text, err := openText(key, r.Corrections)
	if err != nil {
		return rep, done, err
	}
	var values map[string]string
	if err := json.Unmarshal([]byte(text), &values); err != nil {
		return rep, done, fmt.Errorf("corrections: %w", vault.ErrCorrupt)
	}
	rec := identity.Record{Source: SubjectSource, SourceID: r.ID.String()}
	for name, v := range values {
		if p := ingest.ValueProblem(v); p != "" {
			return rep, done, fmt.Errorf("corrected %s %s: %w", name, p, dsr.ErrCannot)
		}
		if f, ok := identity.ParseField(name); ok {
			rec.Set(f, v)
		}
	}
	im := s.importer
	im.Actor, im.Sources, im.Progress = jobActor, nil, nil
	var created uuid.UUID
	var problems string
	_, err = im.Import(ctx, ingest.NewSliceReader([]ingest.Input{{Line: 1, Record: rec}}), func(res ingest.Result) {
		created = res.RecordID
		for _, p := range res.Problems {
			problems += p.String() + "; "
		}
	})
	if err != nil {
		return rep, done, err
	}
	if created == uuid.Nil {
		return rep, done, fmt.Errorf("the corrected values were refused: %s%w", problems, dsr.ErrCannot)
	}
	res, err := s.resolver.Link(ctx, jobActor, []uuid.UUID{created}, nil)
	if err != nil {
		return rep, done, err
	}
	cur, _, _, err := s.store.ProfileRecords(ctx, r.Profile)
	if err != nil {
		return rep, done, err
	}
	if p, ok := res.Members[created]; ok && p != cur {
		if _, err := s.resolver.Merge(ctx, jobActor, []uuid.UUID{cur, p}, "rectification request "+r.ID.String(), false); err != nil {
			return rep, done, err
		}
	}
	cur, recs, _, err := s.store.ProfileRecords(ctx, r.Profile)
	if err != nil {
		return rep, done, err
	}
	if len(r.Scope) > 0 {
		// A customer's rectification concerns their records, and the
		// one that carries the corrections.
		recs = only(recs, append(r.Scope[:len(r.Scope):len(r.Scope)], created))
	}
	rep = dsr.ErasureReport{Profile: cur, Erased: []uuid.UUID{}, Held: []dsr.HeldRecord{}, Sources: []string{}, RecordSources: map[uuid.UUID]string{}}
	done = dsr.RectificationReport{Profile: cur, Record: created, Fields: []string{}, Concerned: []uuid.UUID{}}
	for name := range values {
		done.Fields = append(done.Fields, name)
	}
	sort.Strings(done.Fields)
	seen := map[string]bool{}
	for _, sr := range recs {
		if sr.ID != created {
			done.Concerned = append(done.Concerned, sr.ID)
		}
		rep.Erased = append(rep.Erased, sr.ID)
		rep.RecordSources[sr.ID] = sr.Source
		if !seen[sr.Source] && sr.Source != SubjectSource {
			seen[sr.Source] = true
			rep.Sources = append(rep.Sources, sr.Source)
		}
	}
	done.Sources = rep.Sources
	return rep, done, nil
}

// retentionActor files the erasures of expired records.
const retentionActor = "system:retention"

// SweepRetention files an erasure request of its own for every profile
// holding records whose retention expired, scoped to those records, and
// queues it: the same job, proof and audit trail as an erasure the person
// asked for, minus the suppression (they may come back). It returns how
// many requests it filed.
func (s *Service) SweepRetention(ctx context.Context) (int, error) {
	now := time.Now().UTC()
	// Interactions past their retention go first: they are facts about a
	// person with a shelf life of their own (per source and type).
	if n, err := s.store.DeleteExpiredInteractions(ctx, now); err != nil {
		return 0, err
	} else if n > 0 {
		if err := s.access.Record(ctx, access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: retentionActor}},
			access.Note{Action: "retention", Outcome: audit.Allowed, Reason: fmt.Sprintf("deleted %d interactions past their retention", n)}); err != nil {
			return 0, err
		}
	}
	expired, err := s.store.ExpiredRecords(ctx, now, 5000)
	if err != nil {
		return 0, err
	}
	n := 0
	for profile, records := range expired {
		r := dsr.Request{ID: uuid.Must(uuid.NewV7()), Type: dsr.Erasure, State: dsr.Approved, Profile: profile, Channel: "retention",
			Scope: records, ReceivedAt: now, ReceivedBy: retentionActor, VerifiedAt: &now, UpdatedAt: now, Due: dsr.AddMonths(now, 1)}
		key, err := s.vault.NewSubjectKey(r.ID)
		if err != nil {
			return n, err
		}
		first := dsr.StoredEvent{Event: dsr.Event{To: dsr.Approved, Actor: retentionActor, At: now}}
		if first.Reason, err = key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: []byte("retention period expired")}}); err != nil {
			return n, err
		}
		if err := s.store.CreateRequest(ctx, dsr.Stored{Request: r, KEK: key.KEK, Wrapped: key.Wrapped}, first); err != nil {
			return n, err
		}
		n++
		if err := s.queue.Enqueue(ctx, r.ID); err != nil {
			return n, err // the sweep of requests queues it later
		}
	}
	return n, nil
}

// OpenRequests lists the requests that should have a job: approved or in
// progress (for the jobs' sweep).
func (s *Service) OpenRequests(ctx context.Context) ([]uuid.UUID, error) {
	return s.store.OpenRequestIDs(ctx)
}

// PendingNotices lists the notices not yet delivered (for the jobs'
// sweep).
func (s *Service) PendingNotices(ctx context.Context) ([]uuid.UUID, error) {
	return s.store.PendingNoticeIDs(ctx)
}
