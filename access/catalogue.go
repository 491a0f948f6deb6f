package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
)

// Catalogue actions, as the policy names them.
const (
	ActionConflicts = "conflicts"
	ActionCatalogue = "catalogue"
)

// CatalogueStore is where purposes and notices are kept.
type CatalogueStore interface {
	Purposes(ctx context.Context) ([]consent.Purpose, error)
	CreatePurpose(ctx context.Context, p consent.Purpose) (consent.Purpose, error)
	UpdatePurpose(ctx context.Context, p consent.Purpose) (consent.Purpose, error)
	Notices(ctx context.Context, purpose string) ([]consent.Notice, error)
	PublishNotice(ctx context.Context, n consent.Notice) (consent.Notice, error)
	ConsentConflicts(ctx context.Context, limit int) ([]consent.Conflict, error)
}

// dpoAction decides an action on no profile under the purpose compliance,
// and audits it, allowed or denied, with reason as the entry's reason.
func (s *Service) dpoAction(ctx context.Context, req *Request, action, reason string) (Grant, error) {
	req.Purpose = "compliance"
	return s.Guard(ctx, req, Act{Action: action, Reason: reason, StaffOnly: true}, nil)
}

// Conflicts lists the consent conflicts that merges left for the DPO,
// newest first.
func (s *Service) Conflicts(ctx context.Context, req Request, limit int) ([]consent.Conflict, Grant, error) {
	g, err := s.dpoAction(ctx, &req, ActionConflicts, "consent conflicts")
	if err != nil {
		return nil, g, err
	}
	out, err := s.store.ConsentConflicts(ctx, limit)
	if err != nil {
		return nil, g, err
	}
	for i := range out {
		out[i].Evidence = nil
	}
	return out, g, nil
}

// PurposeChange is a purpose as the DPO creates or changes it.
type PurposeChange struct {
	ID              string             `json:"id"`
	Description     string             `json:"description"`
	LegalBasis      consent.LegalBasis `json:"legal_basis"`
	AllowsObjection bool               `json:"allows_objection"`
	RetentionDays   int                `json:"retention_days"`
	Sharing         bool               `json:"sharing"`
	// Departments are the only departments whose staff may declare the
	// purpose (empty: any).
	Departments []string `json:"departments"`
}

// ChangeOf is a purpose as it stands, to change some of it.
func ChangeOf(p consent.Purpose) PurposeChange {
	return PurposeChange{ID: p.ID, Description: p.Description, LegalBasis: p.LegalBasis, AllowsObjection: p.AllowsObjection,
		RetentionDays: p.RetentionDays, Sharing: p.Sharing, Departments: p.Departments}
}

// SavePurpose creates a purpose (create) or changes one. The policy's
// cached view of the catalogue is dropped, so the next decision uses it.
func (s *Service) SavePurpose(ctx context.Context, req Request, c PurposeChange, create bool) (consent.Purpose, error) {
	p := consent.Purpose{ID: c.ID, Description: c.Description, LegalBasis: c.LegalBasis, AllowsObjection: c.AllowsObjection,
		RetentionDays: c.RetentionDays, Sharing: c.Sharing}
	if err := p.Validate(); err != nil {
		return p, err
	}
	if len(c.Departments) > 0 && p.ID == consentPurpose {
		// Every department keeps the records of the consent it collects
		// under it (Art. 7(1)): it is not one department's processing.
		return p, fmt.Errorf("departments: %s is every department's record of consent; it names none: %w", consentPurpose, consent.ErrInvalid)
	}
	for _, d := range c.Departments {
		if err := auth.ValidateDepartment(d); err != nil {
			return p, fmt.Errorf("departments: %w", err)
		}
	}
	p.Departments = slices.Compact(slices.Sorted(slices.Values(c.Departments)))
	verb := "update"
	if create {
		verb = "create"
	}
	what := verb + " purpose " + p.ID
	if len(p.Departments) > 0 {
		what += " (departments " + strings.Join(p.Departments, ", ") + ")"
	} else {
		what += " (any department)"
	}
	if _, err := s.dpoAction(ctx, &req, ActionCatalogue, what); err != nil {
		return p, err
	}
	var err error
	if create {
		p, err = s.store.CreatePurpose(ctx, p)
	} else {
		p, err = s.store.UpdatePurpose(ctx, p)
	}
	s.Forget()
	return p, err
}

// PublishNotice publishes a new version of a purpose's notice, in effect
// from effective (default: now). Published versions never change. Any
// purpose may have a notice (Art. 13 informs of every purpose); a grant of
// consent must name the one it answered.
func (s *Service) PublishNotice(ctx context.Context, req Request, purpose, text string, effective time.Time) (consent.Notice, error) {
	if effective.IsZero() {
		effective = time.Now()
	}
	n, err := consent.NewNotice(purpose, text, effective, req.Principal.Actor())
	if err != nil {
		return n, err
	}
	cat, err := s.loadCatalogue(ctx)
	if err != nil {
		return n, err
	}
	if _, ok := cat.purposes[purpose]; !ok {
		return n, fmt.Errorf("purpose %q is not in the catalogue: %w", clip(purpose), consent.ErrUnknownPurpose)
	}
	if _, err := s.dpoAction(ctx, &req, ActionCatalogue, "publish notice of "+purpose); err != nil {
		return n, err
	}
	return s.store.PublishNotice(ctx, n)
}

// Notices lists a purpose's notice versions, oldest first (not personal
// data: what every person is shown).
func (s *Service) Notices(ctx context.Context, purpose string) ([]consent.Notice, error) {
	return s.store.Notices(ctx, purpose)
}

// ConsentMonths counts the statements of the last months by purpose and
// state, for the DPO (counts only; audited like the conflicts).
func (s *Service) ConsentMonths(ctx context.Context, req Request, since time.Time) ([]consent.MonthCount, error) {
	if _, err := s.dpoAction(ctx, &req, ActionConflicts, "consent rates"); err != nil {
		return nil, err
	}
	return s.store.ConsentMonths(ctx, since)
}
