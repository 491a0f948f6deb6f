// Package requests carries out data-subject requests (GDPR Art. 15-22):
// intake from the DPO or from the person, verification, the DPO's
// decisions, the Art. 12(3) clock, and the durable execution of approved
// requests (erasure, restriction, objection, rectification, access and
// portability) with the notices to the recipients (Art. 17(2), 19).
//
// Every step that concerns a person goes through the gate of package
// access (access.Service.Guard): the DPO's work is decided under the
// purpose compliance and audited, a customer's under self_service, and an
// export is read through access like any other read. The request's states
// and deadlines are package dsr's; the store and the job queue are
// interfaces this package declares (postgres.DB, jobs.Runner).
package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// Request actions, as the policy and the audit log name them.
const (
	ActionRequests = "requests" // the DPO handles requests
	ActionRequest  = "request"  // a customer makes one
	// ActionAcknowledge is a recipient's acknowledgement of a notice.
	ActionAcknowledge = "acknowledge_notice"
)

// Store is what the request service reads and writes (postgres.DB).
type Store interface {
	CreateRequest(ctx context.Context, r dsr.Stored, first dsr.StoredEvent) error
	Request(ctx context.Context, id uuid.UUID) (dsr.Stored, error)
	Requests(ctx context.Context, f dsr.Filter) ([]dsr.Stored, error)
	RequestEvents(ctx context.Context, id uuid.UUID) ([]dsr.StoredEvent, error)
	EarlierRequest(ctx context.Context, profile uuid.UUID, customer *uuid.UUID, typ dsr.Type, since time.Time) (uuid.UUID, bool, error)
	Transition(ctx context.Context, id uuid.UUID, from, to dsr.State, c dsr.Change, e dsr.StoredEvent) error
	Notifications(ctx context.Context, request uuid.UUID) ([]dsr.Notification, error)
	OverrideNotices(ctx context.Context, request uuid.UUID) (int, error)
	OpenRequestIDs(ctx context.Context) ([]uuid.UUID, error)

	// ProfileRecords and ErasedBy find the profile a request concerns
	// (ids only: nothing is opened here).
	ProfileRecords(ctx context.Context, id uuid.UUID) (uuid.UUID, []identity.StoredRecord, []consent.Event, error)
	ErasedBy(ctx context.Context, profile uuid.UUID) (uuid.UUID, time.Time, bool, error)

	// Carrying requests out.
	// Erase erases; keep gives the consent events to write on a record the
	// profile keeps (anchor), from the profile's events and the records
	// erased (gone), in the erasure's transaction.
	Erase(ctx context.Context, request, profile uuid.UUID, now time.Time,
		keep consent.Keep) (dsr.ErasureReport, error)
	Restrict(ctx context.Context, request, profile uuid.UUID, lift bool) error
	AppendConsent(ctx context.Context, events []consent.Event) error
	ExpiredRecords(ctx context.Context, now time.Time, limit int) (map[uuid.UUID][]uuid.UUID, error)
	DeleteExpiredInteractions(ctx context.Context, now time.Time) (int64, error)
	LiftSuppression(ctx context.Context, kind string, sum []byte, by string) (bool, error)

	// Notices to recipients.
	// CreateNotifications writes one notice of kind per recipient that
	// hears of it and is concerned by sources; payload builds each from
	// its id and the recipient's own sources (none: every source).
	CreateNotifications(ctx context.Context, request uuid.UUID, kind string, sources []string, payload func(id uuid.UUID, recipientSources []string) ([]byte, error)) ([]dsr.Notification, error)
	Outgoing(ctx context.Context, id uuid.UUID) (dsr.Outgoing, error)
	NoticeAttempt(ctx context.Context, id uuid.UUID, deliveryErr string) error
	AcknowledgeNotice(ctx context.Context, id uuid.UUID, department string) (uuid.UUID, error)
	PendingNoticeIDs(ctx context.Context) ([]uuid.UUID, error)

	// The DPO's view of who hears of requests and what is held back.
	Recipients(ctx context.Context) ([]dsr.Recipient, error)
	LegalHolds(ctx context.Context) ([]dsr.LegalHold, error)
}

// Queue runs approved requests and delivers their notices as durable
// jobs (jobs.Runner).
type Queue interface {
	Enqueue(ctx context.Context, request uuid.UUID) error
	Notify(ctx context.Context, notice uuid.UUID) error
}

// Sender delivers a signed notice (webhook.Client).
type Sender interface {
	Deliver(ctx context.Context, url, id string, secrets []string, body []byte) error
}

// Accounts deletes customers' login accounts (kratos.Admin).
type Accounts interface {
	DeleteAccount(ctx context.Context, id uuid.UUID) error
}

// Config builds a Service. Every field is required unless marked optional.
type Config struct {
	Store  Store
	Access *access.Service
	Vault  *vault.Vault
	// Resolver links a rectification's corrected values into the
	// person's profile, and records a crash left in no profile.
	Resolver *resolver.Resolver
	// Importer is the template of the import pipeline a rectification's
	// values are entered with.
	Importer ingest.Importer
	Queue    Queue
	// Sender delivers notices (optional: a service that runs no jobs).
	Sender Sender
	// Accounts deletes erased customers' accounts (optional: without it
	// the accounts are only listed in the report).
	Accounts Accounts
	// DefaultRegion reads phone numbers without a country prefix (optional: "GB").
	DefaultRegion string
	// StepUp requires customers to log in with a second factor (AAL2)
	// for the request types in StepUp.
	StepUp bool
}

// Service is the data-subject request service.
type Service struct {
	store    Store
	access   *access.Service
	vault    *vault.Vault
	resolver *resolver.Resolver
	importer ingest.Importer
	queue    Queue
	sender   Sender
	accounts Accounts
	region   string
	stepUp   bool

	orphans      sync.Mutex // one orphan sweep at a time
	orphansSwept time.Time  // when the last orphan sweep that succeeded began
	orphansFull  time.Time  // when the last one that read every record began
}

// New builds the request service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, access: cfg.Access, vault: cfg.Vault, resolver: cfg.Resolver, importer: cfg.Importer,
		queue: cfg.Queue, sender: cfg.Sender, accounts: cfg.Accounts, region: cfg.DefaultRegion, stepUp: cfg.StepUp}
	if s.region == "" {
		s.region = "GB"
	}
	return s
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

// View is a request with its history, reasons opened.
type View struct {
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

// desk runs the DPO's request work (purpose compliance) through the gate,
// decided before anything is loaded: whoever may not handle requests
// learns nothing, not even whether a profile or request exists
// (dsr.ErrNotFound where a person is concerned, else ErrForbidden), and
// the refusal is audited with the ids they named. work (optional) finds
// the profile the work concerns and names it for the audit entry, which
// is committed before anything leaves.
func (s *Service) desk(ctx context.Context, req *access.Request, named []string, what string, person bool, work func(*access.Allowed) error) error {
	req.Purpose = "compliance"
	_, err := s.access.Guard(ctx, req, access.Act{Action: ActionRequests, Named: named, Reason: what, StaffOnly: true,
		Refused: func(d policy.Decision) error {
			if person {
				return fmt.Errorf("%w", dsr.ErrNotFound)
			}
			return fmt.Errorf("%s: %w", d.Reason, access.ErrForbidden)
		}}, work)
	return err
}

// NewRequest takes a request the DPO received on behalf of a person.
func (s *Service) NewRequest(ctx context.Context, req access.Request, in Intake) (*View, error) {
	if err := s.checkIntake(ctx, in); err != nil {
		return nil, err
	}
	var cur uuid.UUID
	err := s.desk(ctx, &req, []string{in.Profile.String()}, "intake "+string(in.Type), true, func(a *access.Allowed) error {
		var err error
		cur, _, _, err = s.store.ProfileRecords(ctx, in.Profile)
		if errors.Is(err, derrors.ErrNotFound) {
			a.Outcome = audit.NotFound
			if by, at, erased, err := s.store.ErasedBy(ctx, in.Profile); err != nil {
				return err
			} else if erased {
				return fmt.Errorf("profile %s was erased on %s by request %s: %w", in.Profile, at.UTC().Format(time.RFC3339), by, access.ErrGone)
			}
			return fmt.Errorf("profile %s: %w", in.Profile, access.ErrNotFound)
		}
		a.Named = []string{cur.String()}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.intake(ctx, req, in, cur, nil, "dpo", in.Verification, nil)
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
	catalogue, err := s.access.Purposes(ctx)
	if err != nil {
		return err
	}
	for _, p := range in.Purposes {
		i := slices.IndexFunc(catalogue, func(c consent.Purpose) bool { return c.ID == p })
		if i < 0 {
			return fmt.Errorf("purposes: %q is not in the catalogue: %w", clip(p), dsr.ErrInvalid)
		}
		if pp := catalogue[i]; !pp.AllowsObjection && !pp.RequiresConsent {
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
func (s *Service) NewMyRequest(ctx context.Context, req access.Request, in Intake, session auth.CustomerSession) (*View, error) {
	if err := s.checkIntake(ctx, in); err != nil {
		return nil, err
	}
	if s.stepUp && slices.Contains(StepUp, in.Type) && session.AAL != "aal2" {
		return nil, fmt.Errorf("a %s request needs a login with a second factor (AAL2); this session is %s: %w", in.Type, session.AAL, dsr.ErrStepUp)
	}
	// The request reaches only the records tied to the customer by
	// evidence: their erasure, restriction or export never touches a
	// record that joined their profile by matching alone.
	var profile uuid.UUID
	var scope []uuid.UUID
	_, err := s.access.Guard(ctx, &req, access.Act{Action: ActionRequest, Profiles: []uuid.UUID{req.Subject}}, func(a *access.Allowed) error {
		profile = a.Profiles[0]
		for _, r := range a.Records() {
			scope = append(scope, r.ID)
		}
		if len(scope) == 0 {
			a.Outcome = audit.Allowed
			return fmt.Errorf("nothing held here is tied to your account by a verified address yet: %w", access.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	id := session.IdentityID
	evidence := map[string]string{"method": "kratos_session", "kratos_identity": id.String(), "kratos_session": session.SessionID, "aal": session.AAL}
	v, err := s.intake(ctx, req, in, profile, &id, "self_service", evidence, scope)
	if err != nil {
		return v, err
	}
	if err := s.announce(ctx, v.Request); err != nil {
		return nil, fmt.Errorf("request %s is filed, but the DPO's desk could not be told: %w", v.ID, err)
	}
	return v, nil
}

func (s *Service) intake(ctx context.Context, req access.Request, in Intake, profile uuid.UUID, customer *uuid.UUID,
	channel string, evidence map[string]string, scope []uuid.UUID) (*View, error) {
	now := time.Now().UTC()
	r := dsr.Request{
		ID: uuid.Must(uuid.NewV7()), Type: in.Type, State: dsr.Received, Profile: profile, Customer: customer, Channel: channel, Scope: scope,
		Details: dsr.Details{Purposes: in.Purposes}, ReceivedAt: now, ReceivedBy: req.Principal.Actor(), UpdatedAt: now,
	}
	if dup, ok, err := s.store.EarlierRequest(ctx, profile, customer, in.Type, now.Add(-dsr.DuplicateWindow)); err != nil {
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
	if err := s.store.CreateRequest(ctx, stored, first); err != nil {
		return nil, err
	}
	return s.view(ctx, r.ID, req.Principal.Kind == auth.Staff)
}

func sealJSON(key *vault.SubjectKey, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > access.MaxEvidenceBytes {
		return nil, fmt.Errorf("at most %d bytes of text: %w", access.MaxEvidenceBytes, dsr.ErrInvalid)
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
func (s *Service) view(ctx context.Context, id uuid.UUID, dpo bool) (*View, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	key, err := s.requestKey(r)
	if err != nil {
		return nil, err
	}
	es, err := s.store.RequestEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &View{Request: r.Request, Overdue: r.Overdue(time.Now()), Events: make([]EventView, len(es))}
	if !dpo && r.DuplicateOf != nil {
		// The earlier request of the same person may be one the DPO or
		// a department filed: the customer is told only of their own.
		if earlier, err := s.store.Request(ctx, *r.DuplicateOf); err != nil || earlier.Customer == nil || r.Customer == nil || *earlier.Customer != *r.Customer {
			v.Request.DuplicateOf = nil
		}
	}
	if v.Notices, err = s.store.Notifications(ctx, id); err != nil {
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
func (s *Service) GetRequest(ctx context.Context, req access.Request, id uuid.UUID) (*View, error) {
	if _, err := s.gated(ctx, &req, id, "read request "+id.String()); err != nil {
		return nil, err
	}
	return s.view(ctx, id, true)
}

// gated loads a request for the DPO's work on it: decided before it is
// loaded, audited with its profile once it is.
func (s *Service) gated(ctx context.Context, req *access.Request, id uuid.UUID, reason string) (dsr.Stored, error) {
	var r dsr.Stored
	err := s.desk(ctx, req, nil, reason, true, func(a *access.Allowed) (err error) {
		if r, err = s.store.Request(ctx, id); err != nil {
			return err
		}
		a.Named = []string{r.Profile.String()}
		return nil
	})
	return r, err
}

// GetMyRequest reads one of a customer's own requests.
func (s *Service) GetMyRequest(ctx context.Context, req access.Request, id uuid.UUID) (*View, error) {
	if _, err := s.mine(ctx, req, id); err != nil {
		return nil, err
	}
	return s.view(ctx, id, false)
}

// mine loads one of a customer's own requests; someone else's looks like
// none, and the refusal is audited.
func (s *Service) mine(ctx context.Context, req access.Request, id uuid.UUID) (dsr.Stored, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil && !errors.Is(err, derrors.ErrNotFound) {
		return r, err
	}
	if err != nil || r.Customer == nil || r.Customer.String() != req.Principal.ID {
		if err := s.access.Record(ctx, req, access.Note{Action: ActionRequest, Outcome: audit.Denied,
			Reason: "not a request of this customer: " + id.String()}); err != nil {
			return r, err
		}
		return r, fmt.Errorf("request %s: %w", id, dsr.ErrNotFound)
	}
	return r, nil
}

// WithdrawMine withdraws one of a customer's own requests, as long as no
// work on it began (received or verified): it closes, audited, and
// nothing is done. Someone else's request looks like none.
func (s *Service) WithdrawMine(ctx context.Context, req access.Request, id uuid.UUID) (*View, error) {
	r, err := s.mine(ctx, req, id)
	if err != nil {
		return nil, err
	}
	if !dsr.CanMove(r.State, dsr.Withdrawn) {
		return nil, fmt.Errorf("a %s request can no longer be withdrawn: %w", r.State, dsr.ErrTransition)
	}
	if err := s.access.Record(ctx, req, access.Note{Action: ActionRequest, Outcome: audit.Allowed, Profiles: []string{r.Profile.String()},
		Reason: "withdrew request " + id.String()}); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if err := s.store.Transition(ctx, id, r.State, dsr.Withdrawn, dsr.Change{Outcome: "withdrawn"},
		dsr.StoredEvent{Event: dsr.Event{Actor: req.Principal.Actor(), At: now}}); err != nil {
		return nil, err
	}
	return s.view(ctx, id, false)
}

// Recipients lists the recipients notices go to, for the DPO.
func (s *Service) Recipients(ctx context.Context, req access.Request) ([]dsr.Recipient, error) {
	if err := s.desk(ctx, &req, nil, "list recipients", false, nil); err != nil {
		return nil, err
	}
	return s.store.Recipients(ctx)
}

// LegalHolds lists the legal holds in force, for the DPO.
func (s *Service) LegalHolds(ctx context.Context, req access.Request) ([]dsr.LegalHold, error) {
	if err := s.desk(ctx, &req, nil, "list legal holds", false, nil); err != nil {
		return nil, err
	}
	return s.store.LegalHolds(ctx)
}

// ListRequests lists requests for the DPO.
func (s *Service) ListRequests(ctx context.Context, req access.Request, f dsr.Filter) ([]dsr.Request, error) {
	if err := s.desk(ctx, &req, nil, "list requests", false, nil); err != nil {
		return nil, err
	}
	return listed(s.store.Requests(ctx, f))
}

// ListMyRequests lists a customer's own requests.
func (s *Service) ListMyRequests(ctx context.Context, customer uuid.UUID) ([]dsr.Request, error) {
	return listed(s.store.Requests(ctx, dsr.Filter{Customer: customer, Limit: 200, Now: time.Now()}))
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

// Step is the DPO's step on a request.
type Step struct {
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
func (s *Service) Take(ctx context.Context, req access.Request, id uuid.UUID, dec Step) (*View, error) {
	if len(dec.Reason) > MaxReasonBytes {
		return nil, fmt.Errorf("reason: at most %d bytes: %w", MaxReasonBytes, dsr.ErrInvalid)
	}
	r, err := s.gated(ctx, &req, id, dec.Action+" request "+id.String())
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
		if _, err := s.store.OverrideNotices(ctx, id); err != nil {
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
		if err := s.store.Restrict(ctx, id, r.Profile, true); err != nil {
			return nil, err
		}
		s.access.Forget()
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
	if err := s.store.Transition(ctx, id, from, to, c, e); err != nil {
		return nil, err
	}
	if to == dsr.Approved || dec.Action == "override" {
		if err := s.queue.Enqueue(ctx, id); err != nil {
			// Approved and recorded; the sweeper queues it on its next round.
			return nil, fmt.Errorf("request %s is approved, its job will be queued shortly: %w", id, err)
		}
	}
	return s.view(ctx, id, true)
}

// Lift is the DPO's lifting of a suppression: the person came back under
// a new lawful basis (a new contract, fresh consent).
type Lift struct {
	Kind   string `json:"kind"`  // email, phone or national_id
	Value  string `json:"value"` // hashed at once with the index key, never stored
	Reason string `json:"reason"`
}

// LiftSuppression lifts the suppression of one identifier, audited.
// ErrNotFound when it is not suppressed.
func (s *Service) LiftSuppression(ctx context.Context, req access.Request, l Lift) error {
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
	if err := s.desk(ctx, &req, nil, "lift suppression of an "+l.Kind, false, nil); err != nil {
		return err
	}
	lifted, err := s.store.LiftSuppression(ctx, l.Kind, sum, req.Principal.Actor())
	if err != nil {
		return err
	}
	if !lifted {
		return fmt.Errorf("this %s is not suppressed: %w", l.Kind, access.ErrNotFound)
	}
	return nil
}

// clip bounds a caller's value echoed in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// OpenSecrets opens a recipient's signing secret, and the one being
// rotated out while it still signs: the secrets a delivery signs with.
func OpenSecrets(v *vault.Vault, recipient uuid.UUID, kek int32, wrapped, secret, previous []byte) ([]string, error) {
	key, err := v.OpenSubjectKey(recipient, kek, wrapped)
	if err != nil {
		return nil, err
	}
	s, err := openText(key, secret)
	if err != nil {
		return nil, err
	}
	out := []string{s}
	if previous != nil {
		p, err := openText(key, previous)
		if err != nil {
			return nil, err
		}
		out = append(out, p) // rotating: both sign
	}
	return out, nil
}
