// Package dsr models data-subject requests (GDPR Art. 15-21): their types,
// the states they move through and who may move them, and their deadlines
// under Art. 12(3): one calendar month from receipt, extendable once by up
// to two further months with a reason, the clock stopped while the
// person's identity is being verified.
//
// dsr imports the standard library, uuid and derrors only; the store
// keeps requests, package jobs carries them out.
package dsr

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors.
var (
	ErrInvalid    = derrors.New(derrors.ErrInvalid, "invalid request")
	ErrTransition = derrors.New(derrors.ErrConflict, "not allowed in the request's state")
	ErrNotFound   = derrors.New(derrors.ErrNotFound, "no such request")
	ErrStepUp     = derrors.New(derrors.ErrForbidden, "a stronger login is required")
	// ErrCannot reports a request that cannot be carried out however
	// often it is tried (corrected values the import refuses): it fails.
	ErrCannot = errors.New("the request cannot be carried out")
)

// Type is what the person asks for.
type Type string

// The request types and the articles that grant them.
const (
	Access        Type = "access"        // Art. 15
	Portability   Type = "portability"   // Art. 20
	Rectification Type = "rectification" // Art. 16
	Erasure       Type = "erasure"       // Art. 17
	Restriction   Type = "restriction"   // Art. 18
	Objection     Type = "objection"     // Art. 21
)

// Types lists every type.
func Types() []Type {
	return []Type{Access, Portability, Rectification, Erasure, Restriction, Objection}
}

// Article names the GDPR article of a type.
func (t Type) Article() string {
	return map[Type]string{Access: "Art. 15", Portability: "Art. 20", Rectification: "Art. 16", Erasure: "Art. 17",
		Restriction: "Art. 18", Objection: "Art. 21"}[t]
}

// ParseType parses a request type.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("type %q: want access, portability, rectification, erasure, restriction or objection: %w", s, ErrInvalid)
}

// State is where a request stands.
type State string

// The states, in order. Rejected, Completed and Failed are final.
const (
	Received   State = "received" // waiting for the person's identity to be verified: the clock stops
	Verified   State = "verified" // identity verified, waiting for the DPO's decision
	Approved   State = "approved" // approved, its job is queued
	Rejected   State = "rejected" // refused, with a reason (Art. 12(4), (5))
	InProgress State = "in_progress"
	Completed  State = "completed"
	Failed     State = "failed"
	Withdrawn  State = "withdrawn" // the person withdrew it before any work began
)

// States lists every state, in order.
func States() []State {
	return []State{Received, Verified, Approved, Rejected, InProgress, Completed, Failed, Withdrawn}
}

// ParseState reads a state's name.
func ParseState(s string) (State, error) {
	for _, st := range States() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("state %q: want received, verified, approved, rejected, in_progress, completed, failed or withdrawn: %w", s, ErrInvalid)
}

// Final reports whether nothing follows the state.
func (s State) Final() bool { return s == Rejected || s == Completed || s == Failed || s == Withdrawn }

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	Received:   {Verified, Rejected, Withdrawn},
	Verified:   {Approved, Rejected, Withdrawn},
	Approved:   {InProgress, Failed},
	InProgress: {Completed, Failed},
}

// CanMove reports whether a request may move from one state to another.
func CanMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Request is one data-subject request.
type Request struct {
	ID      uuid.UUID `json:"id"`
	Type    Type      `json:"type"`
	State   State     `json:"state"`
	Profile uuid.UUID `json:"profile_id"`
	// Customer is the Kratos identity of a request made through /v1/me.
	Customer *uuid.UUID `json:"customer,omitempty"`
	// Channel says how it came: self_service, dpo, or retention (a
	// system request erasing records whose retention expired).
	Channel string `json:"channel"`
	// Scope names the records the request reaches (empty: the whole
	// profile, as for a request the DPO verified): a retention erasure's
	// expired records, or, for a customer's own request, the records tied
	// to them by evidence of identity when they made it.
	Scope []uuid.UUID `json:"scope,omitempty"`
	// Details are what the type needs: the purposes objected to, the
	// corrected values of a rectification (sealed, not here), the scope.
	Details    Details    `json:"details"`
	ReceivedAt time.Time  `json:"received_at"`
	ReceivedBy string     `json:"received_by"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	Due        time.Time  `json:"due_at"`
	ExtendedBy int        `json:"extended_months,omitempty"`
	// DuplicateOf links a request to an earlier one of the same person
	// and type within the duplicate window.
	DuplicateOf *uuid.UUID `json:"duplicate_of,omitempty"`
	Outcome     string     `json:"outcome,omitempty"` // the reason of a rejection or failure, the summary of a completion
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Details are the type-specific parts of a request.
type Details struct {
	// Purposes an objection covers (default: every purpose that allows
	// one, direct marketing always).
	Purposes []string `json:"purposes,omitempty"`
	// Note is the person's own words, sealed in the store; never logged.
	Note string `json:"-"`
}

// Event is one transition of a request.
type Event struct {
	Request uuid.UUID `json:"request_id"`
	Seq     int       `json:"seq"`
	From    State     `json:"from,omitempty"`
	To      State     `json:"to"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// AddMonths adds calendar months to t: the same day of the month, or the
// month's last day when it has no such day (31 January + 1 month = 28 or
// 29 February), at the same time of day.
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// Due computes a request's deadline: one calendar month after receipt
// plus the extension, pushed back by the time spent waiting for identity
// verification (the clock stops then). A request still waiting has its
// deadline as if verified now.
func Due(received time.Time, verified *time.Time, extensionMonths int, now time.Time) time.Time {
	due := AddMonths(received, 1+extensionMonths)
	end := now
	if verified != nil {
		end = *verified
	}
	if paused := end.Sub(received); paused > 0 {
		due = due.Add(paused)
	}
	return due
}

// MaxExtensionMonths is how far Art. 12(3) lets a deadline be extended.
const MaxExtensionMonths = 2

// CheckExtension validates an extension: once, by one or two months, with
// a reason, before the deadline passed (the person must be told within
// the first month).
func CheckExtension(r *Request, months int, reason string, now time.Time) error {
	switch {
	case r.State.Final():
		return fmt.Errorf("request %s is %s: %w", r.ID, r.State, ErrTransition)
	case r.ExtendedBy > 0:
		return fmt.Errorf("request %s was extended already; Art. 12(3) allows one extension: %w", r.ID, ErrTransition)
	case months < 1 || months > MaxExtensionMonths:
		return fmt.Errorf("months: 1 or 2 (Art. 12(3)): %w", ErrInvalid)
	case len(reason) < 10 || len(reason) > 2000:
		return fmt.Errorf("reason: the person is told why, 10 to 2000 bytes: %w", ErrInvalid)
	case now.After(r.Due):
		return fmt.Errorf("request %s is overdue; an extension must be decided within the first month: %w", r.ID, ErrTransition)
	}
	return nil
}

// Overdue reports whether an open request passed its deadline.
// A request waiting for identity verification is never overdue: its clock
// stands still.
func (r *Request) Overdue(now time.Time) bool {
	return !r.State.Final() && r.State != Received && now.After(r.Due)
}

// DuplicateWindow is how far back an earlier request of the same person
// and type makes a new one a duplicate.
const DuplicateWindow = 30 * 24 * time.Hour

// Stored is a data-subject request as stored: its free text sealed
// under its own key.
type Stored struct {
	Request
	KEK      int32
	Wrapped  []byte
	Evidence []byte // sealed verification evidence
	Result   []byte // what carrying it out did (JSON, ids only), when done
	// Corrections are a rectification's corrected values (JSON), sealed.
	Corrections []byte
}

// StoredEvent is a transition with its reason sealed.
type StoredEvent struct {
	Event
	Reason []byte
}

// Filter selects requests for the DPO's list.
type Filter struct {
	State     State
	Type      Type
	Overdue   bool // open and past the deadline at Now
	DueBefore time.Time
	Profile   uuid.UUID
	Customer  uuid.UUID
	Now       time.Time
	Limit     int
}

// Change is what a transition changes besides the state.
type Change struct {
	VerifiedAt *time.Time
	Due        *time.Time
	Extend     int    // months added to the deadline
	Outcome    string // set when not empty
	Evidence   []byte // sealed verification evidence, set when not nil
	// Redoable marks a change that the job making it makes again if a
	// crash loses it (going in progress, or completed by the job): the
	// store may commit it without waiting for the disk, and the next
	// durable commit makes it durable too.
	Redoable bool
}

// HeldRecord is a record an erasure kept under a legal hold (Art. 17(3)).
type HeldRecord struct {
	Record      uuid.UUID `json:"record_id"`
	Source      string    `json:"source"`
	Obligation  string    `json:"obligation"`
	RetainUntil time.Time `json:"retain_until"`
}

// ErasureReport is what one erasure did. It holds ids only.
type ErasureReport struct {
	Profile    uuid.UUID    `json:"profile_id"`
	Erased     []uuid.UUID  `json:"erased_records"`
	Held       []HeldRecord `json:"held_records"`
	Suppressed int          `json:"suppressed_identifiers"`
	Sources    []string     `json:"sources"` // the sources that held erased records: the recipients of the notice
	// RecordSources gives each erased record's source, so that a
	// recipient limited to some sources is told only of their records.
	RecordSources map[uuid.UUID]string `json:"record_sources,omitempty"`
	// Accounts are the customer accounts (Kratos identities) linked to the
	// erased records; AccountsDeleted those deleted from Kratos so far.
	Accounts        []uuid.UUID `json:"customer_accounts,omitempty"`
	AccountsDeleted []uuid.UUID `json:"customer_accounts_deleted,omitempty"`
	// RefusalsKept counts the refusals (withdrawals, objections, denials)
	// that were on erased records and were re-stated on a record the
	// profile keeps (consent.Outlive): the person's refusals stand.
	RefusalsKept int `json:"refusals_kept,omitempty"`
	// RestrictionsKept counts the restrictions (Art. 18) that erased
	// records were under and that a record the profile keeps now carries.
	RestrictionsKept int `json:"restrictions_kept,omitempty"`
	// RefusalsStanding counts the refusals kept by identifier when a
	// retention erased every record of the person (one per blind index
	// of a strong identifier and purpose): a record that comes back
	// with one of those identifiers carries them again.
	RefusalsStanding int  `json:"refusals_standing,omitempty"`
	Done             bool `json:"-"` // the profile was erased by this request before: nothing left to do
}

// RectificationReport is what a rectification did: the record of the
// source "subject" that carries the corrected values (by field name, never
// the values), in which profile, and the records of the departments told
// to correct theirs.
type RectificationReport struct {
	Profile   uuid.UUID   `json:"profile_id"`
	Record    uuid.UUID   `json:"corrections_record"`
	Fields    []string    `json:"corrected_fields"`
	Concerned []uuid.UUID `json:"records_concerned"`
	Sources   []string    `json:"sources_told"`
}

// Recipient is a department or downstream system told of erasures and
// rectifications (Art. 17(2), 19) through a signed webhook.
type Recipient struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	Department string    `json:"department"`
	URL        string    `json:"url"`
	Sources    []string  `json:"sources"` // notified when records of these sources are concerned; empty: always
	// Events are what it hears of: erasure, rectification (the default),
	// request_filed (a customer filed a request: the DPO's desk).
	Events     []string   `json:"events"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// Notification states.
const (
	NoticePending      = "pending"
	NoticeDelivered    = "delivered"
	NoticeAcknowledged = "acknowledged"
	NoticeOverridden   = "overridden"
)

// Notification is one notice of a request to one recipient.
type Notification struct {
	ID             uuid.UUID  `json:"id"`
	Request        uuid.UUID  `json:"request_id"`
	Recipient      uuid.UUID  `json:"recipient_id"`
	RecipientName  string     `json:"recipient"`
	Kind           string     `json:"kind"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"last_error,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}

// Settled reports whether a notice no longer holds its request open.
func (n Notification) Settled() bool {
	return n.Status == NoticeAcknowledged || n.Status == NoticeOverridden
}

// NoticePayload is the body of a notice: ids only. A department finds its
// records by the record ids its ingest calls were answered with.
type NoticePayload struct {
	Notification uuid.UUID   `json:"notification_id"`
	Request      uuid.UUID   `json:"request_id"`
	Kind         string      `json:"kind"`
	Profile      uuid.UUID   `json:"profile_id"`
	Records      []uuid.UUID `json:"record_ids"`
	Sources      []string    `json:"sources"`
	AckURL       string      `json:"ack_path,omitempty"`
	// RequestType and DueAt tell the DPO's desk what a request_filed
	// notice is about.
	RequestType Type       `json:"request_type,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`
}

// Notice kinds.
const (
	NoticeErasure       = "erasure"
	NoticeRectification = "rectification"
	NoticeRequestFiled  = "request_filed"
)

// Outgoing is a notice ready to deliver: its recipient's URL and HMAC
// secret, sealed under the recipient's key.
type Outgoing struct {
	Notification
	URL     string
	Payload []byte
	KEK     int32
	Wrapped []byte
	Secret  []byte
	// Previous is the secret being rotated out, while it still signs
	// (nil otherwise); sealed like Secret.
	Previous []byte
}

// LegalHold is a department's obligation to keep a source's records.
type LegalHold struct {
	ID         uuid.UUID  `json:"id"`
	Source     string     `json:"source"`
	Obligation string     `json:"obligation"`
	RetainDays int        `json:"retain_days"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LiftedAt   *time.Time `json:"lifted_at,omitempty"`
}
