package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/vault"
)

// SelfServiceSource is the source of the records created from customers'
// own accounts, when no profile holds their verified email yet.
const SelfServiceSource = "self_service"

// ErrUnverified reports a customer whose email address is not verified:
// nothing links them to a profile before it is.
var ErrUnverified = derrors.New(derrors.ErrForbidden, "email address not verified")

// CustomerStore is what linking customers reads and writes.
type CustomerStore interface {
	CustomerLink(ctx context.Context, identity uuid.UUID) (uuid.UUID, error)
	LinkCustomer(ctx context.Context, identity, record uuid.UUID, emailIndex []byte, how string) (uuid.UUID, error)
	// RecordsByIndex returns the records (and their profiles) holding a
	// blind index of kind ("email", "phone").
	RecordsByIndex(ctx context.Context, kind string, sum []byte, limit int) (records, profiles []uuid.UUID, err error)
	RecordProfile(ctx context.Context, record uuid.UUID) (uuid.UUID, error)
	// Suppressed says since when an identifier is suppressed, if it is.
	Suppressed(ctx context.Context, kind string, sum []byte) (time.Time, bool, error)
	// LiftSuppression lifts the suppression of an erased identifier.
	LiftSuppression(ctx context.Context, kind string, sum []byte, by string) (bool, error)
}

// ErrErasedAccount reports a customer whose data was erased and whose
// account predates the erasure: nothing is recreated from it; signing up
// again is a new start.
var ErrErasedAccount = derrors.New(derrors.ErrForbidden, "erased")

// Link returns the record and profile that stand for a customer, linking
// them on first use: to the profile holding their verified email address
// when exactly one does (a blind-index lookup), else to a new record made
// from their Kratos traits, resolved like any other. The link is noted in
// the profile's lineage. An unverified address links to nothing: anyone
// can type someone else's address.
func (s *Service) Link(ctx context.Context, cs CustomerStore, im ingest.Importer, c auth.CustomerSession) (record, profile uuid.UUID, err error) {
	record, err = cs.CustomerLink(ctx, c.IdentityID)
	if err == nil {
		profile, err = cs.RecordProfile(ctx, record)
		if err == nil || !errors.Is(err, derrors.ErrNotFound) {
			return record, profile, err
		}
		// The record is not resolved yet (a failed run): resolve it now.
		return s.resolveCustomer(ctx, c, record)
	}
	if !errors.Is(err, derrors.ErrNotFound) {
		return uuid.Nil, uuid.Nil, err
	}
	if !c.EmailVerified {
		return uuid.Nil, uuid.Nil, fmt.Errorf("verify the email address of your account first: %w", ErrUnverified)
	}
	email, ok := identity.NormalizeEmail(c.Email)
	if !ok {
		return uuid.Nil, uuid.Nil, fmt.Errorf("the email address of your account is not usable: %w", ErrUnverified)
	}
	sum := s.vault.Index().SumString(vault.IndexEmail, email)
	records, profiles, err := cs.RecordsByIndex(ctx, "email", sum, 20)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if distinct(profiles) == 1 {
		linked, err := cs.LinkCustomer(ctx, c.IdentityID, records[0], sum, "verified_email")
		if err != nil {
			return uuid.Nil, uuid.Nil, err
		}
		profile, err := cs.RecordProfile(ctx, linked)
		return linked, profile, err
	}
	// No profile holds the address, or several do (a shared address):
	// the customer's own record joins whatever resolution says. A person
	// who was erased and signs up again gives a new lawful basis (the new
	// account's contract): their verified address is no longer suppressed.
	// An account older than the erasure is not a new sign-up: nothing of
	// the person is recreated from it.
	if since, suppressed, err := cs.Suppressed(ctx, "email", sum); err != nil {
		return uuid.Nil, uuid.Nil, err
	} else if suppressed {
		if !c.IdentityCreatedAt.After(since) {
			return uuid.Nil, uuid.Nil, fmt.Errorf("the data of this account was erased on %s; sign up again to start anew: %w",
				since.UTC().Format(time.DateOnly), ErrErasedAccount)
		}
		if _, err := cs.LiftSuppression(ctx, "email", sum, "customer:"+c.IdentityID.String()); err != nil {
			return uuid.Nil, uuid.Nil, err
		}
	}
	im.Actor = "customer:" + c.IdentityID.String()
	im.Sources = nil
	im.Progress = nil
	var rec identity.Record
	rec.Source, rec.SourceID = SelfServiceSource, c.IdentityID.String()
	// Traits reach the importer without a reader's checks: a name Kratos
	// accepted but no department could send is left out.
	for f, v := range map[identity.Field]string{identity.Email: c.Email, identity.GivenName: c.GivenName, identity.FamilyName: c.FamilyName} {
		if v != "" && ingest.ValueProblem(v) == "" {
			rec.Set(f, v)
		}
	}
	var created uuid.UUID
	_, err = im.Import(ctx, ingest.NewSliceReader([]ingest.Input{{Line: 1, Record: rec}}), func(r ingest.Result) { created = r.RecordID })
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if created == uuid.Nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("the account's traits were refused as a record: %w", ErrInvalid)
	}
	// Resolved before it is linked, so that the link is noted in the
	// lineage of the profile the record joined. Concurrent first requests
	// of one customer write the same record (its source id is the Kratos
	// identity), and the first link stands.
	if _, profile, err = s.resolveCustomer(ctx, c, created); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	linked, err := cs.LinkCustomer(ctx, c.IdentityID, created, sum, "new_profile")
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if linked != created {
		profile, err = cs.RecordProfile(ctx, linked)
	}
	return linked, profile, err
}

func (s *Service) resolveCustomer(ctx context.Context, c auth.CustomerSession, record uuid.UUID) (uuid.UUID, uuid.UUID, error) {
	rep, err := s.resolver.Incremental(ctx, "customer:"+c.IdentityID.String(), []uuid.UUID{record})
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	p, ok := rep.Members[record]
	if !ok {
		return uuid.Nil, uuid.Nil, fmt.Errorf("record %s was not resolved: %w", record, ErrUnavailable)
	}
	return record, p, nil
}

func distinct(ids []uuid.UUID) int {
	seen := map[uuid.UUID]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	return len(seen)
}
