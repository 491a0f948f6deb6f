package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/vault"
)

// Consent actions, as the policy names them.
const (
	ActionConsents      = "consents"
	ActionRecordConsent = "record_consent"
	ActionProof         = "proof"
)

// ErrUnchanged reports a statement that changes nothing: the person's
// current state for the purpose is already that (a replayed request).
var ErrUnchanged = derrors.New(derrors.ErrConflict, "consent unchanged")

// ConsentStore is what consent work reads and writes beyond the profile.
type ConsentStore interface {
	Notices(ctx context.Context, purpose string) ([]consent.Notice, error)
	CurrentNotices(ctx context.Context, t time.Time) (map[string]consent.Notice, error)
	AppendConsent(ctx context.Context, events []consent.Event) error
	ConsentMonths(ctx context.Context, since time.Time) ([]consent.MonthCount, error)
}

// consentPurpose is the purpose consent work is done under when staff
// declare none: keeping records of consent (Art. 7(1)).
const consentPurpose = "consent_management"

func consentRequest(req *Request) {
	if req.Purpose == "" && req.Principal.Kind == auth.Staff {
		req.Purpose = consentPurpose
	}
}

// consentAct runs consent work through the gate under its purpose
// (consent_management unless staff declare another).
func (s *Service) consentAct(ctx context.Context, req *Request, a Act, work func(*Allowed) error) (Grant, error) {
	consentRequest(req)
	return s.Guard(ctx, req, a, work)
}

// PurposeConsent is one purpose of a person's consent overview.
type PurposeConsent struct {
	Purpose     string          `json:"purpose"`
	Description string          `json:"description"`
	LegalBasis  string          `json:"legal_basis"`
	State       consent.State   `json:"state"`
	Default     bool            `json:"default"` // nothing said yet: the purpose's default applies
	Since       *time.Time      `json:"since,omitempty"`
	ExpiresAt   *time.Time      `json:"expires_at,omitempty"`
	Notice      *consent.Notice `json:"notice,omitempty"` // the notice in effect, to show before a grant
	Choices     []consent.State `json:"choices"`          // what the person may say now
	Event       *consent.Event  `json:"last_event,omitempty"`
	// Departments are those the DPO named to process data for the
	// purpose (Art. 13(1)(e): the recipients); none: not named.
	Departments []string `json:"departments,omitempty"`
}

// ConsentOverview is a person's current consent, purpose by purpose.
type ConsentOverview struct {
	ProfileID uuid.UUID        `json:"profile_id"`
	Purposes  []PurposeConsent `json:"purposes"`
	Access    Grant            `json:"access"`
}

// choices lists what a person may say about a purpose in a state.
func choices(p consent.Purpose, st consent.State) []consent.State {
	switch {
	case p.RequiresConsent && st == consent.Granted:
		return []consent.State{consent.Withdrawn}
	case p.RequiresConsent:
		return []consent.State{consent.Granted, consent.Denied}
	case p.AllowsObjection && st == consent.Objected:
		return []consent.State{consent.Granted}
	case p.AllowsObjection:
		return []consent.State{consent.Objected}
	}
	return []consent.State{}
}

// Consents reads a person's current consent per purpose, with the notice in
// effect for each purpose that needs consent.
func (s *Service) Consents(ctx context.Context, req Request, id uuid.UUID) (*ConsentOverview, error) {
	var out *ConsentOverview
	g, err := s.consentAct(ctx, &req, Act{Action: ActionConsents, Profiles: []uuid.UUID{id}}, func(a *Allowed) error {
		now := time.Now()
		notices, err := s.store.CurrentNotices(ctx, now)
		if err != nil {
			return err
		}
		out = &ConsentOverview{ProfileID: a.res.id, Purposes: []PurposeConsent{}}
		current := consent.Derive(a.cat.list, a.res.events, now)
		for _, p := range a.cat.list {
			c := current[p.ID]
			pc := PurposeConsent{Purpose: p.ID, Description: p.Description, LegalBasis: string(p.LegalBasis),
				State: c.State, Default: c.Default, Choices: choices(p, c.State), Event: redacted(c.Event), Departments: p.Departments}
			if c.Event != nil {
				pc.Since, pc.ExpiresAt = &c.Event.At, c.Event.ExpiresAt
			}
			if n, ok := notices[p.ID]; ok {
				pc.Notice = &n
			}
			out.Purposes = append(out.Purposes, pc)
		}
		a.Fields = []string{"consent"}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

// redacted copies an event without its sealed evidence.
func redacted(e *consent.Event) *consent.Event {
	if e == nil {
		return nil
	}
	c := *e
	c.Evidence = nil
	return &c
}

// ConsentHistory is every statement of a person, oldest first.
type ConsentHistory struct {
	ProfileID uuid.UUID       `json:"profile_id"`
	Events    []consent.Event `json:"events"`
	Access    Grant           `json:"access"`
}

// History reads a person's consent events.
func (s *Service) History(ctx context.Context, req Request, id uuid.UUID) (*ConsentHistory, error) {
	out := &ConsentHistory{}
	g, err := s.consentAct(ctx, &req, Act{Action: ActionConsents, Profiles: []uuid.UUID{id}}, func(a *Allowed) error {
		out.ProfileID, out.Events = a.res.id, make([]consent.Event, len(a.res.events))
		for i := range a.res.events {
			out.Events[i] = *redacted(&a.res.events[i])
		}
		consent.Sort(out.Events)
		a.Fields = []string{"consent"}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

// Statement is what a person said about a purpose, as a department or the
// person records it.
type Statement struct {
	Purpose       string            `json:"purpose"`
	State         consent.State     `json:"state"`
	NoticeVersion int               `json:"notice_version"`
	Method        consent.Method    `json:"method"`
	At            time.Time         `json:"at"`         // when it was said (default: now)
	ExpiresAt     *time.Time        `json:"expires_at"` // grants only
	Evidence      map[string]string `json:"evidence"`   // sealed: reference, client address, user agent...
	// Record, when set, is the record to attach the event to (a bulk
	// import names the department's record itself).
	Record uuid.UUID `json:"-"`
}

// MaxClockSkew is how far ahead of this server's clock a statement's time
// may be: a department's clock may run a little fast, never minutes.
const MaxClockSkew = 5 * time.Second

// MaxEvidenceBytes bounds the evidence of one statement.
const MaxEvidenceBytes = 8 << 10

// RecordConsent records a statement about a person's profile: checked
// against the catalogue and the notices, decided by the policy, audited,
// its evidence sealed under the key of the record it is attached to.
func (s *Service) RecordConsent(ctx context.Context, req Request, id uuid.UUID, st Statement) (*consent.Event, error) {
	consentRequest(&req)
	cat, err := s.checkPurpose(ctx, &req)
	if err != nil {
		return nil, err
	}
	p, ok := cat.purposes[st.Purpose]
	if !ok {
		return nil, fmt.Errorf("purpose %q is not in the catalogue: %w", clip(st.Purpose), consent.ErrUnknownPurpose)
	}
	if err := consent.Check(p, st.State, st.NoticeVersion); err != nil {
		return nil, err
	}
	switch {
	case req.Principal.Kind == auth.Customer:
		st.Method = consent.MethodSelfService
	case st.Method == "":
		st.Method = consent.MethodDepartmentForm
	default:
		if _, err := consent.ParseMethod(string(st.Method)); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	if st.At.IsZero() {
		st.At = now
	}
	if st.At.After(now.Add(MaxClockSkew)) {
		return nil, fmt.Errorf("at: a statement cannot come from the future (more than %s ahead of this server's clock): %w", MaxClockSkew, consent.ErrInvalid)
	}
	if st.ExpiresAt != nil && (st.State != consent.Granted || !st.ExpiresAt.After(st.At)) {
		return nil, fmt.Errorf("expires_at: only a grant expires, and after it was given: %w", consent.ErrInvalid)
	}
	if st.NoticeVersion > 0 {
		if err := s.checkNotice(ctx, p, st, req.Principal.Kind == auth.Customer); err != nil {
			return nil, err
		}
	} else if st.State == consent.Withdrawn || st.State == consent.Objected || st.State == consent.Granted {
		st.NoticeVersion = 0
	}
	evidence, err := json.Marshal(st.Evidence)
	if err != nil || len(evidence) > MaxEvidenceBytes {
		return nil, fmt.Errorf("evidence: at most %d bytes of text fields: %w", MaxEvidenceBytes, consent.ErrInvalid)
	}

	res, err := s.load(ctx, &req, ActionRecordConsent, id)
	if err != nil {
		return nil, err
	}
	// Without a record to attach to, the policy refuses a department
	// (it records consent on its own records only) as for an unknown
	// profile; whoever it allows learns why there is none.
	res.attach, err = s.attachTo(res, &req, st.Record, cat)
	unattached := err
	if err != nil && !errors.Is(err, errNoOwnRecord) && !errors.Is(err, errNotInProfile) {
		return nil, err
	}
	var e consent.Event
	_, err = s.Guard(ctx, &req, Act{Action: ActionRecordConsent, loaded: res}, func(a *Allowed) error {
		rec := a.res.attach
		if rec == nil {
			// Audited like a refusal: the answer says the record is not
			// in the profile.
			a.Outcome, a.Reason = audit.Denied, "the statement names a record that is not in the profile"
			return unattached
		}
		current := consent.Derive(cat.list, a.res.events, now)[p.ID]
		if !current.Default && current.State == st.State && (current.Event == nil || current.Event.NoticeVersion == st.NoticeVersion) {
			return fmt.Errorf("%s is already %s for this person; nothing was recorded: %w", p.ID, st.State, ErrUnchanged)
		}
		if st.State == consent.Withdrawn && current.State != consent.Granted {
			return fmt.Errorf("%s is %s for this person: there is no consent to withdraw; nothing was recorded: %w", p.ID, current.State, ErrUnchanged)
		}
		e = consent.Event{
			ID: uuid.Must(uuid.NewV7()), Record: rec.ID, Purpose: p.ID, State: st.State, NoticeVersion: st.NoticeVersion,
			Method: st.Method, Origin: origin(req.Principal), Actor: req.Principal.Actor(), At: st.At.UTC(), RecordedAt: now,
			ExpiresAt: st.ExpiresAt,
		}
		a.Fields = []string{"consent"}
		e.Evidence, err = s.sealEvidence(rec, evidence)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.store.AppendConsent(ctx, []consent.Event{e}); err != nil {
		return nil, err
	}
	return redacted(&e), nil
}

// checkNotice accepts the notice a statement names: one of the purpose's
// published versions in effect when the statement was made. A customer
// must answer the notice in effect now.
func (s *Service) checkNotice(ctx context.Context, p consent.Purpose, st Statement, current bool) error {
	ns, err := s.store.Notices(ctx, p.ID)
	if err != nil {
		return err
	}
	var inEffect *consent.Notice
	for i := range ns {
		if !ns[i].EffectiveAt.After(st.At) {
			inEffect = &ns[i] // versions are in order: the last one effective by then
		}
	}
	for _, n := range ns {
		if n.Version != st.NoticeVersion {
			continue
		}
		if n.EffectiveAt.After(st.At) {
			return fmt.Errorf("notice %d of %s took effect after the statement: %w", n.Version, p.ID, consent.ErrUnknownNotice)
		}
		if current && inEffect != nil && inEffect.Version != n.Version {
			return fmt.Errorf("notice %d of %s is superseded by version %d: show the current notice: %w", n.Version, p.ID, inEffect.Version, consent.ErrUnknownNotice)
		}
		return nil
	}
	return fmt.Errorf("%s has no notice version %d: %w", p.ID, st.NoticeVersion, consent.ErrUnknownNotice)
}

// errNoOwnRecord reports a department without a record in the profile:
// it has nothing to attach a statement to, and the policy refuses it.
var (
	errNoOwnRecord  = errors.New("no record of the department")
	errNotInProfile = fmt.Errorf("%w", ErrInvalid)
)

// attachTo chooses the record a statement is attached to: the one named,
// the customer's own record, the department's newest record in the
// profile, or, for the DPO, the profile's oldest record. Whether a
// department may attach to the record is the policy's decision.
func (s *Service) attachTo(res *resource, req *Request, named uuid.UUID, cat *catalogue) (*StoredRecord, error) {
	want := named
	if want == uuid.Nil && req.Principal.Kind == auth.Customer {
		want = req.SubjectRecord
	}
	if want != uuid.Nil {
		for i := range res.records {
			if res.records[i].ID == want {
				return &res.records[i], nil
			}
		}
		// Said only once the policy allowed (see RecordConsent): before,
		// it would tell whether a record is in a profile, and where a
		// merged-away id went.
		return nil, fmt.Errorf("record %s is not in profile %s: %w", want, res.asked, errNotInProfile)
	}
	var best *StoredRecord
	for i := range res.records {
		r := &res.records[i]
		if cat.sources[r.Source].Department == req.Principal.Department && (best == nil || r.UpdatedAt.After(best.UpdatedAt)) {
			best = r
		}
	}
	if best == nil && req.Principal.Kind == auth.Staff && !req.Principal.Has(auth.RoleDPO) {
		return nil, errNoOwnRecord
	}
	if best == nil && len(res.records) > 0 {
		best = &res.records[0] // records come in id order: the oldest
	}
	if best == nil {
		return nil, fmt.Errorf("profile %s has no records left: %w", res.asked, ErrNotFound)
	}
	return best, nil
}

func origin(p auth.Principal) string {
	if p.Kind == auth.Customer {
		return "self_service"
	}
	return p.Department
}

func (s *Service) sealEvidence(rec *StoredRecord, evidence []byte) ([]byte, error) {
	key, err := s.vault.OpenSubjectKey(rec.ID, rec.KEK, rec.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", rec.ID, err)
	}
	return key.Seal(vault.ContextEvidence, []vault.Item{{Tag: 1, Value: evidence}})
}

// ProofEvent is one consent event with everything that proves it.
type ProofEvent struct {
	consent.Event
	Source   string            `json:"source"`
	Notice   *consent.Notice   `json:"notice,omitempty"` // the exact text shown
	Evidence map[string]string `json:"evidence,omitempty"`
}

// Proof is the full proof of a person's consent, for the DPO.
type Proof struct {
	ProfileID   uuid.UUID                `json:"profile_id"`
	GeneratedAt time.Time                `json:"generated_at"`
	Current     map[string]consent.State `json:"current"`
	Events      []ProofEvent             `json:"events"`
	Conflicts   int                      `json:"conflicts"`
	Access      Grant                    `json:"access"`
}

// ConsentProof assembles every event of a person with the exact notice
// text shown and the evidence, opened.
func (s *Service) ConsentProof(ctx context.Context, req Request, id uuid.UUID) (*Proof, error) {
	var out *Proof
	g, err := s.consentAct(ctx, &req, Act{Action: ActionProof, Profiles: []uuid.UUID{id}}, func(a *Allowed) (err error) {
		out, err = s.proof(ctx, a.cat, a.res, a.Decision.AllowsField("consent_evidence"))
		a.Fields = []string{"consent", "consent_evidence"}
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

// HonourGPC records a Global Privacy Control signal (Sec-GPC: 1) as the
// person's objection to every purpose that sells or shares data: consent
// to such a purpose is withdrawn, a purpose resting on legitimate
// interests is objected to. Purposes already refused are left alone, so
// a browser sending the signal on every request records it once.
func (s *Service) HonourGPC(ctx context.Context, req Request, id uuid.UUID, evidence map[string]string) (int, error) {
	cat, err := s.checkPurpose(ctx, &req)
	if err != nil {
		return 0, err
	}
	res, err := s.load(ctx, &req, ActionRecordConsent, id)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	current := consent.Derive(cat.list, res.events, now)
	todo := consent.Refusals(cat.list, current, func(p consent.Purpose) bool { return p.Sharing }, req.Principal.Actor(), now)
	for i := range todo {
		todo[i].Method, todo[i].Origin = consent.MethodGPC, origin(req.Principal)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	_, err = s.Guard(ctx, &req, Act{Action: ActionRecordConsent, loaded: res}, func(a *Allowed) error {
		rec, err := s.attachTo(a.res, &req, uuid.Nil, cat)
		if err != nil {
			return err
		}
		sealed, err := json.Marshal(evidence)
		if err != nil {
			return err
		}
		for i := range todo {
			todo[i].Record = rec.ID
			if todo[i].Evidence, err = s.sealEvidence(rec, sealed); err != nil {
				return err
			}
		}
		a.Fields = []string{"consent"}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return 0, nil // the policy refused it (audited): the signal is not honoured here
	}
	if err != nil {
		return 0, err
	}
	return len(todo), s.store.AppendConsent(ctx, todo)
}

// proof assembles a profile's consent events, oldest first, each with the
// exact notice text shown and, when allowed, the evidence opened.
func (s *Service) proof(ctx context.Context, cat *catalogue, res *resource, withEvidence bool) (*Proof, error) {
	notices := map[string]map[int]consent.Notice{}
	records := map[uuid.UUID]*StoredRecord{}
	for i := range res.records {
		records[res.records[i].ID] = &res.records[i]
	}
	now := time.Now().UTC()
	out := &Proof{ProfileID: res.id, GeneratedAt: now, Current: map[string]consent.State{}, Events: []ProofEvent{}}
	for p, c := range consent.Derive(cat.list, res.events, now) {
		out.Current[p] = c.State
	}
	events := append([]consent.Event(nil), res.events...)
	consent.Sort(events)
	for _, e := range events {
		pe := ProofEvent{Event: e}
		pe.Evidence = nil
		rec := records[e.Record]
		if rec != nil {
			pe.Source = rec.Source
		}
		if e.NoticeVersion > 0 {
			if notices[e.Purpose] == nil {
				ns, err := s.store.Notices(ctx, e.Purpose)
				if err != nil {
					return nil, err
				}
				notices[e.Purpose] = map[int]consent.Notice{}
				for _, n := range ns {
					notices[e.Purpose][n.Version] = n
				}
			}
			if n, ok := notices[e.Purpose][e.NoticeVersion]; ok {
				pe.Notice = &n
			}
		}
		if len(e.Evidence) > 0 && rec != nil && withEvidence {
			key, err := s.vault.OpenSubjectKey(rec.ID, rec.KEK, rec.Wrapped)
			if err != nil {
				return nil, err
			}
			items, err := key.Open(vault.ContextEvidence, e.Evidence, nil)
			if err != nil || len(items) != 1 || json.Unmarshal(items[0].Value, &pe.Evidence) != nil {
				return nil, fmt.Errorf("consent event %s: evidence: %w", e.ID, vault.ErrCorrupt)
			}
		}
		pe.Event.Evidence = nil
		if e.Conflict {
			out.Conflicts++
		}
		out.Events = append(out.Events, pe)
	}
	return out, nil
}
