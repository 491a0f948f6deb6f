package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/vault"
)

// Request actions, as the policy names them.
const (
	ActionRequests = "requests" // the DPO handles requests
	ActionRequest  = "request"  // a customer makes one
	ActionExport   = "export"
)

// RequestStore keeps data-subject requests.
type RequestStore interface {
	CreateRequest(ctx context.Context, r dsr.Stored, first dsr.StoredEvent) error
	Request(ctx context.Context, id uuid.UUID) (dsr.Stored, error)
	Requests(ctx context.Context, f dsr.Filter) ([]dsr.Stored, error)
	RequestEvents(ctx context.Context, id uuid.UUID) ([]dsr.StoredEvent, error)
	EarlierRequest(ctx context.Context, profile uuid.UUID, customer *uuid.UUID, typ dsr.Type, since time.Time) (uuid.UUID, bool, error)
	Transition(ctx context.Context, id uuid.UUID, from, to dsr.State, c dsr.Change, e dsr.StoredEvent) error
	Notifications(ctx context.Context, request uuid.UUID) ([]dsr.Notification, error)
	OverrideNotices(ctx context.Context, request uuid.UUID) (int, error)
	Restrict(ctx context.Context, request, profile uuid.UUID, lift bool) error
	Announcer
}

// Queue runs approved requests and delivers their notices as durable
// jobs.
type Queue interface {
	Enqueue(ctx context.Context, request uuid.UUID) error
	Notify(ctx context.Context, notice uuid.UUID) error
}

// Intake is a new request.
type Intake struct {
	Type     dsr.Type  `json:"type"`
	Profile  uuid.UUID `json:"profile_id"`
	Purposes []string  `json:"purposes"` // objection: the purposes objected to
	// Verification is how the DPO verified the person's identity (sealed);
	// none: the request waits for verification and its clock stops.
	Verification map[string]string `json:"verification"`
	// Values are a rectification's corrected values, by canonical field
	// name (given_name, email, street...); sealed until the job applies
	// them.
	Values map[string]string `json:"values"`
}

// RequestView is a request with its history, reasons opened.
type RequestView struct {
	dsr.Request
	Overdue      bool              `json:"overdue"`
	Events       []EventView       `json:"events"`
	Verification map[string]string `json:"verification,omitempty"` // the DPO only
	// Notices are the erasure or rectification notices to the recipients,
	// with their status: the request completes when each is acknowledged
	// or the DPO overrides the rest.
	Notices []dsr.Notification `json:"notices"`
}

// EventView is a transition with its reason.
type EventView struct {
	dsr.Event
	Reason string `json:"reason,omitempty"`
}

// StepUp lists the request types that need a second factor (AAL2) when a
// customer makes them, when configured.
var StepUp = []dsr.Type{dsr.Erasure, dsr.Access, dsr.Portability}

// requestGate decides the DPO's request work (purpose compliance) before
// anything is loaded: whoever may not handle requests learns nothing, not
// even whether a profile or request exists (ErrNotFound, or ErrForbidden
// where no person is concerned), and the refusal is audited with the ids
// they named.
func (s *Service) requestGate(ctx context.Context, req *Request, named []string, what string, person bool) (policy.Decision, error) {
	req.Purpose = "compliance"
	cat, err := s.checkPurpose(ctx, req)
	if err != nil {
		return policy.Decision{}, err
	}
	d, err := s.decide(ctx, cat, req, ActionRequests, nil)
	if err != nil {
		return d, err
	}
	if !d.Allow || req.Principal.Kind != auth.Staff {
		e := s.entry(req, ActionRequests, named, d, audit.Denied, nil)
		if req.Principal.Kind != auth.Staff {
			e.Reason = "requests are handled by the DPO"
		}
		e.Reason += "; refused: " + what
		if err := s.record(ctx, e); err != nil {
			return d, err
		}
		if person {
			return d, fmt.Errorf("%w", dsr.ErrNotFound)
		}
		return d, fmt.Errorf("%s: %w", d.Reason, ErrForbidden)
	}
	return d, nil
}

// requestWork audits the DPO's allowed request work with the profiles it
// concerns.
func (s *Service) requestWork(ctx context.Context, req *Request, d policy.Decision, profiles []uuid.UUID, reason string) error {
	e := s.entry(req, ActionRequests, idStrings(profiles), d, audit.Allowed, nil)
	e.Reason = reason
	return s.record(ctx, e)
}

// requestDecision is requestGate and requestWork together, for work whose
// profiles are known before anything is loaded.
func (s *Service) requestDecision(ctx context.Context, req *Request, profiles []uuid.UUID, reason string) error {
	d, err := s.requestGate(ctx, req, idStrings(profiles), reason, len(profiles) > 0)
	if err != nil {
		return err
	}
	return s.requestWork(ctx, req, d, profiles, reason)
}

// NewRequest takes a request the DPO received on behalf of a person.
func (s *Service) NewRequest(ctx context.Context, req Request, store RequestStore, in Intake) (*RequestView, error) {
	if err := s.checkIntake(ctx, in); err != nil {
		return nil, err
	}
	d, err := s.requestGate(ctx, &req, []string{in.Profile.String()}, "intake "+string(in.Type), true)
	if err != nil {
		return nil, err
	}
	cur, _, _, err := s.store.ProfileRecords(ctx, in.Profile)
	if errors.Is(err, derrors.ErrNotFound) {
		if err := s.record(ctx, s.entry(&req, ActionRequests, []string{in.Profile.String()}, d, audit.NotFound, nil)); err != nil {
			return nil, err
		}
		if by, at, erased, err := s.store.ErasedBy(ctx, in.Profile); err != nil {
			return nil, err
		} else if erased {
			return nil, fmt.Errorf("profile %s was erased on %s by request %s: %w", in.Profile, at.UTC().Format(time.RFC3339), by, ErrGone)
		}
		return nil, fmt.Errorf("profile %s: %w", in.Profile, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := s.requestWork(ctx, &req, d, []uuid.UUID{cur}, "intake "+string(in.Type)); err != nil {
		return nil, err
	}
	return s.intake(ctx, req, store, in, cur, nil, "dpo", in.Verification, nil)
}

// checkIntake checks a new request: its type, the purposes of an
// objection against the catalogue, the values of a rectification.
func (s *Service) checkIntake(ctx context.Context, in Intake) error {
	if _, err := dsr.ParseType(string(in.Type)); err != nil {
		return err
	}
	if in.Type == dsr.Rectification {
		if len(in.Values) == 0 {
			return fmt.Errorf("values: a rectification names the corrected values: %w", dsr.ErrInvalid)
		}
		for name, v := range in.Values {
			if _, ok := identity.ParseField(name); !ok {
				return fmt.Errorf("values: %q is not a canonical field: %w", clip(name), dsr.ErrInvalid)
			}
			if v == "" {
				return fmt.Errorf("values: %s is empty: %w", name, dsr.ErrInvalid)
			}
			if p := ingest.ValueProblem(v); p != "" {
				return fmt.Errorf("values: %s %s: %w", name, p, dsr.ErrInvalid)
			}
		}
	} else if len(in.Values) > 0 {
		return fmt.Errorf("values: only a rectification has values: %w", dsr.ErrInvalid)
	}
	if in.Type != dsr.Objection {
		if len(in.Purposes) > 0 {
			return fmt.Errorf("purposes: only an objection names purposes: %w", dsr.ErrInvalid)
		}
		return nil
	}
	cat, err := s.catalogue_(ctx)
	if err != nil {
		return err
	}
	for _, p := range in.Purposes {
		pp, ok := cat.purposes[p]
		if !ok {
			return fmt.Errorf("purposes: %q is not in the catalogue: %w", clip(p), dsr.ErrInvalid)
		}
		if !pp.AllowsObjection && !pp.RequiresConsent {
			return fmt.Errorf("purposes: %s rests on %s and allows no objection (Art. 21): %w", p, pp.LegalBasis, dsr.ErrInvalid)
		}
	}
	return nil
}

// NewMyRequest takes a customer's own request: their Kratos session
// verified who they are. Erasure and exports may need a second factor.
//
// The recipients that hear of request_filed (the DPO's desk) are told
// through the outbox (q: optional).
func (s *Service) NewMyRequest(ctx context.Context, req Request, store RequestStore, q Queue, in Intake, session auth.CustomerSession, stepUp bool) (*RequestView, error) {
	if err := s.checkIntake(ctx, in); err != nil {
		return nil, err
	}
	if stepUp && slices.Contains(StepUp, in.Type) && session.AAL != "aal2" {
		return nil, fmt.Errorf("a %s request needs a login with a second factor (AAL2); this session is %s: %w", in.Type, session.AAL, dsr.ErrStepUp)
	}
	cat, err := s.checkPurpose(ctx, &req)
	if err != nil {
		return nil, err
	}
	res, d, err := s.authorize(ctx, cat, &req, ActionRequest, req.Subject)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.entry(&req, ActionRequest, []string{res.id.String()}, d, audit.Allowed, nil)); err != nil {
		return nil, err
	}
	if len(res.records) == 0 {
		return nil, fmt.Errorf("nothing held here is tied to your account by a verified address yet: %w", ErrNotFound)
	}
	// The request reaches only the records tied to the customer by
	// evidence: their erasure, restriction or export never touches a
	// record that joined their profile by matching alone.
	scope := make([]uuid.UUID, len(res.records))
	for i, r := range res.records {
		scope[i] = r.ID
	}
	id := session.IdentityID
	evidence := map[string]string{"method": "kratos_session", "kratos_identity": id.String(), "kratos_session": session.SessionID, "aal": session.AAL}
	v, err := s.intake(ctx, req, store, in, res.id, &id, "self_service", evidence, scope)
	if err != nil || q == nil {
		return v, err
	}
	if err := s.announce(ctx, store, q, v.Request); err != nil {
		return nil, fmt.Errorf("request %s is filed, but the DPO's desk could not be told: %w", v.ID, err)
	}
	return v, nil
}

func (s *Service) intake(ctx context.Context, req Request, store RequestStore, in Intake, profile uuid.UUID, customer *uuid.UUID,
	channel string, evidence map[string]string, scope []uuid.UUID) (*RequestView, error) {
	now := time.Now().UTC()
	r := dsr.Request{
		ID: uuid.Must(uuid.NewV7()), Type: in.Type, State: dsr.Received, Profile: profile, Customer: customer, Channel: channel, Scope: scope,
		Details: dsr.Details{Purposes: in.Purposes}, ReceivedAt: now, ReceivedBy: req.Principal.Actor(), UpdatedAt: now,
	}
	if dup, ok, err := store.EarlierRequest(ctx, profile, customer, in.Type, now.Add(-dsr.DuplicateWindow)); err != nil {
		return nil, err
	} else if ok {
		r.DuplicateOf = &dup // linked, never a shortcut: it is verified and decided like any other
	}
	key, err := s.vault.NewSubjectKey(r.ID)
	if err != nil {
		return nil, err
	}
	stored := dsr.Stored{Request: r, KEK: key.KEK, Wrapped: key.Wrapped}
	first := dsr.StoredEvent{Event: dsr.Event{To: dsr.Received, Actor: req.Principal.Actor(), At: now}}
	if len(evidence) > 0 {
		if stored.Evidence, err = sealJSON(key, evidence); err != nil {
			return nil, err
		}
		stored.State, stored.VerifiedAt = dsr.Verified, &now
		first.To = dsr.Verified
	}
	stored.Due = dsr.Due(now, stored.VerifiedAt, 0, now)
	if len(in.Values) > 0 {
		if stored.Corrections, err = sealJSON(key, in.Values); err != nil {
			return nil, err
		}
	}
	if err := store.CreateRequest(ctx, stored, first); err != nil {
		return nil, err
	}
	return s.view(ctx, store, r.ID, req.Principal.Kind == auth.Staff)
}

func sealJSON(key *vault.SubjectKey, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEvidenceBytes {
		return nil, fmt.Errorf("at most %d bytes of text: %w", MaxEvidenceBytes, dsr.ErrInvalid)
	}
	return key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: b}})
}

func (s *Service) requestKey(r dsr.Stored) (*vault.SubjectKey, error) {
	return s.vault.OpenSubjectKey(r.ID, r.KEK, r.Wrapped)
}

func openText(key *vault.SubjectKey, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	items, err := key.Open(vault.ContextNote, sealed, nil)
	if err != nil || len(items) != 1 {
		return "", fmt.Errorf("sealed text: %w", vault.ErrCorrupt)
	}
	return string(items[0].Value), nil
}

// view reads a request with its history; the verification evidence only
// for the DPO.
func (s *Service) view(ctx context.Context, store RequestStore, id uuid.UUID, dpo bool) (*RequestView, error) {
	r, err := store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	key, err := s.requestKey(r)
	if err != nil {
		return nil, err
	}
	es, err := store.RequestEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &RequestView{Request: r.Request, Overdue: r.Overdue(time.Now()), Events: make([]EventView, len(es))}
	if v.Notices, err = store.Notifications(ctx, id); err != nil {
		return nil, err
	}
	for i, e := range es {
		v.Events[i].Event = e.Event
		if v.Events[i].Reason, err = openText(key, e.Reason); err != nil {
			return nil, err
		}
	}
	if dpo && len(r.Evidence) > 0 {
		text, err := openText(key, r.Evidence)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(text), &v.Verification); err != nil {
			return nil, fmt.Errorf("verification: %w", vault.ErrCorrupt)
		}
	}
	return v, nil
}

// GetRequest reads a request for the DPO.
func (s *Service) GetRequest(ctx context.Context, req Request, store RequestStore, id uuid.UUID) (*RequestView, error) {
	if _, err := s.gatedRequest(ctx, &req, store, id, "read request "+id.String()); err != nil {
		return nil, err
	}
	return s.view(ctx, store, id, true)
}

// gatedRequest loads a request for the DPO's work on it: decided before
// it is loaded, audited with its profile once it is.
func (s *Service) gatedRequest(ctx context.Context, req *Request, store RequestStore, id uuid.UUID, reason string) (dsr.Stored, error) {
	d, err := s.requestGate(ctx, req, nil, reason, true)
	if err != nil {
		return dsr.Stored{}, err
	}
	r, err := store.Request(ctx, id)
	if err != nil {
		return r, err
	}
	return r, s.requestWork(ctx, req, d, []uuid.UUID{r.Profile}, reason)
}

// GetMyRequest reads one of a customer's own requests.
func (s *Service) GetMyRequest(ctx context.Context, req Request, store RequestStore, id uuid.UUID) (*RequestView, error) {
	if _, err := s.myRequest(ctx, req, store, id); err != nil {
		return nil, err
	}
	return s.view(ctx, store, id, false)
}

// myRequest loads one of a customer's own requests; someone else's looks
// like none, and the refusal is audited.
func (s *Service) myRequest(ctx context.Context, req Request, store RequestStore, id uuid.UUID) (dsr.Stored, error) {
	r, err := store.Request(ctx, id)
	if err != nil && !errors.Is(err, derrors.ErrNotFound) {
		return r, err
	}
	if err != nil || r.Customer == nil || r.Customer.String() != req.Principal.ID {
		e := s.entry(&req, ActionRequest, nil, policy.Decision{}, audit.Denied, nil)
		e.Reason = "not a request of this customer: " + id.String()
		if err := s.record(ctx, e); err != nil {
			return r, err
		}
		return r, fmt.Errorf("request %s: %w", id, dsr.ErrNotFound)
	}
	return r, nil
}

// ListRequests lists requests for the DPO.
func (s *Service) ListRequests(ctx context.Context, req Request, store RequestStore, f dsr.Filter) ([]dsr.Request, error) {
	if err := s.requestDecision(ctx, &req, nil, "list requests"); err != nil {
		return nil, err
	}
	return listed(store.Requests(ctx, f))
}

// ListMyRequests lists a customer's own requests.
func (s *Service) ListMyRequests(ctx context.Context, store RequestStore, customer uuid.UUID) ([]dsr.Request, error) {
	return listed(store.Requests(ctx, dsr.Filter{Customer: customer, Limit: 200, Now: time.Now()}))
}

func listed(rs []dsr.Stored, err error) ([]dsr.Request, error) {
	if err != nil {
		return nil, err
	}
	out := make([]dsr.Request, len(rs))
	for i := range rs {
		out[i] = rs[i].Request
	}
	return out, nil
}

// Decision is the DPO's step on a request.
type Decision struct {
	Action       string            `json:"action"` // verify, approve, reject, extend
	Reason       string            `json:"reason"`
	Verification map[string]string `json:"verification"` // verify
	Months       int               `json:"months"`       // extend
}

// MaxReasonBytes bounds a reason.
const MaxReasonBytes = 2000

// DecideRequest moves a request one step: verify (with the evidence of
// how), approve (its job is queued), reject (with a reason), extend (once,
// by up to two months, with a reason the person is told).
func (s *Service) DecideRequest(ctx context.Context, req Request, store RequestStore, q Queue, id uuid.UUID, dec Decision) (*RequestView, error) {
	if len(dec.Reason) > MaxReasonBytes {
		return nil, fmt.Errorf("reason: at most %d bytes: %w", MaxReasonBytes, dsr.ErrInvalid)
	}
	r, err := s.gatedRequest(ctx, &req, store, id, dec.Action+" request "+id.String())
	if err != nil {
		return nil, err
	}
	key, err := s.requestKey(r)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	e := dsr.StoredEvent{Event: dsr.Event{Actor: req.Principal.Actor(), At: now}}
	if dec.Reason != "" {
		if e.Reason, err = key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: []byte(dec.Reason)}}); err != nil {
			return nil, err
		}
	}
	var c dsr.Change
	from, to := r.State, r.State
	switch dec.Action {
	case "verify":
		if len(dec.Verification) == 0 {
			return nil, fmt.Errorf("verification: say how the person's identity was verified: %w", dsr.ErrInvalid)
		}
		if c.Evidence, err = sealJSON(key, dec.Verification); err != nil {
			return nil, err
		}
		to, c.VerifiedAt = dsr.Verified, &now
		due := dsr.Due(r.ReceivedAt, &now, r.ExtendedBy, now)
		c.Due = &due
	case "approve":
		to = dsr.Approved
	case "reject":
		if len(dec.Reason) < 10 {
			return nil, fmt.Errorf("reason: a rejection tells the person why (Art. 12(4)), at least 10 bytes: %w", dsr.ErrInvalid)
		}
		to, c.Outcome = dsr.Rejected, "rejected"
	case "override":
		if r.State != dsr.InProgress {
			return nil, fmt.Errorf("only a request in progress waits for acknowledgements: %w", dsr.ErrTransition)
		}
		if len(dec.Reason) < 10 {
			return nil, fmt.Errorf("reason: say why the request completes without every acknowledgement, at least 10 bytes: %w", dsr.ErrInvalid)
		}
		if _, err := store.OverrideNotices(ctx, id); err != nil {
			return nil, err
		}
	case "lift":
		// Art. 18(3): a restriction ends when its ground does (the
		// accuracy verified, the objection decided); the person is told.
		if r.Type != dsr.Restriction || r.State != dsr.Completed {
			return nil, fmt.Errorf("only a completed restriction is lifted: %w", dsr.ErrTransition)
		}
		if len(dec.Reason) < 10 {
			return nil, fmt.Errorf("reason: why the restriction ends, at least 10 bytes: %w", dsr.ErrInvalid)
		}
		if err := store.Restrict(ctx, id, r.Profile, true); err != nil {
			return nil, err
		}
		s.Forget()
	case "extend":
		if err := dsr.CheckExtension(&r.Request, dec.Months, dec.Reason, now); err != nil {
			return nil, err
		}
		c.Extend = dec.Months
		due := dsr.Due(r.ReceivedAt, r.VerifiedAt, dec.Months, now)
		c.Due = &due
	default:
		return nil, fmt.Errorf("action %q: want verify, approve, reject, extend, override or lift: %w", clip(dec.Action), dsr.ErrInvalid)
	}
	if from != to && !dsr.CanMove(from, to) {
		hint := ""
		if from == dsr.Received && to == dsr.Approved {
			hint = " (verify the person's identity first: POST .../verify with how)"
		}
		return nil, fmt.Errorf("a %s request cannot be %s%s: %w", from, dec.Action+"d", hint, dsr.ErrTransition)
	}
	if err := store.Transition(ctx, id, from, to, c, e); err != nil {
		return nil, err
	}
	if to == dsr.Approved || dec.Action == "override" {
		if err := q.Enqueue(ctx, id); err != nil {
			// Approved and recorded; the sweeper queues it on its next round.
			return nil, fmt.Errorf("request %s is approved, its job will be queued shortly: %w", id, err)
		}
	}
	return s.view(ctx, store, id, true)
}

// Lift is the DPO's lifting of a suppression: the person came back under
// a new lawful basis (a new contract, fresh consent).
type Lift struct {
	Kind   string `json:"kind"`  // email, phone or national_id
	Value  string `json:"value"` // hashed at once with the index key, never stored
	Reason string `json:"reason"`
}

// Suppressions lifts suppressions.
type Suppressions interface {
	LiftSuppression(ctx context.Context, kind string, sum []byte, by string) (bool, error)
}

// LiftSuppression lifts the suppression of one identifier, audited.
// ErrNotFound when it is not suppressed.
func (s *Service) LiftSuppression(ctx context.Context, req Request, store Suppressions, l Lift) error {
	var sum []byte
	switch l.Kind {
	case "email":
		if v, ok := identity.NormalizeEmail(l.Value); ok {
			sum = s.vault.Index().SumString(vault.IndexEmail, v)
		}
	case "phone":
		if v, ok := identity.NormalizePhone(l.Value, s.region); ok {
			sum = s.vault.Index().SumString(vault.IndexPhone, v)
		}
	case "national_id":
		if v := identity.NormalizeNationalID(l.Value); v != "" {
			sum = s.vault.Index().SumString(vault.IndexNationalID, v)
		}
	default:
		return fmt.Errorf("kind: want email, phone or national_id: %w", dsr.ErrInvalid)
	}
	if sum == nil {
		return fmt.Errorf("value: not a usable %s: %w", l.Kind, dsr.ErrInvalid)
	}
	if len(l.Reason) < 10 || len(l.Reason) > MaxReasonBytes {
		return fmt.Errorf("reason: the new lawful basis, 10 to %d bytes: %w", MaxReasonBytes, dsr.ErrInvalid)
	}
	if err := s.requestDecision(ctx, &req, nil, "lift suppression of an "+l.Kind); err != nil {
		return err
	}
	lifted, err := store.LiftSuppression(ctx, l.Kind, sum, req.Principal.Actor())
	if err != nil {
		return err
	}
	if !lifted {
		return fmt.Errorf("this %s is not suppressed: %w", l.Kind, ErrNotFound)
	}
	return nil
}
