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

// StaffSchema is the Kratos identity schema of staff accounts.
const StaffSchema = "staff"

// Customer is a signed-in customer as the read path knows them: their
// Kratos session, the record and the profile linked to them, and the
// evidence that ties records to them (what they are shown).
type Customer struct {
	Session  auth.CustomerSession
	Record   uuid.UUID
	Profile  uuid.UUID
	Evidence *Evidence
}

// SignIn links a customer's session to the record and profile that stand
// for them (see Link). ErrErasedAccount: their data was erased; ErrUnverified: their address is not verified yet.
func (s *Service) SignIn(ctx context.Context, cs auth.CustomerSession) (Customer, error) {
	if cs.Schema == StaffSchema {
		return Customer{Session: cs}, fmt.Errorf("a staff account is no customer's: sign in to the privacy center with a customer account: %w", ErrForbidden)
	}
	rec, prof, err := s.Link(ctx, cs)
	if err != nil {
		return Customer{Session: cs}, err
	}
	return Customer{Session: cs, Record: rec, Profile: prof, Evidence: s.Evidence(cs)}, nil
}

// Request is how a customer asks the read path: for themselves, under
// self_service.
func (c Customer) Request(requestID, client string) Request {
	return Request{Principal: c.Session.Principal(), RequestID: requestID, Client: client,
		Subject: c.Profile, SubjectRecord: c.Record, Evidence: c.Evidence}
}

// ErrErasedAccount reports a customer whose data was erased and whose
// account predates the erasure: nothing is recreated from it; signing up
// again is a new start.
var ErrErasedAccount = derrors.New(derrors.ErrForbidden, "erased")

// Link returns the record and profile that stand for a customer, linking
// them on first use: to a record holding their verified email address
// when exactly one profile holds it and the record does not contradict
// them (a blind-index lookup), else to a new record made from their Kratos
// traits, which joins a profile only through their verified address or a
// steward's decision, never by a name match. The link is noted in the
// profile's lineage. An unverified address links to nothing: anyone can
// type someone else's address. What the customer then sees of the profile
// is narrowed to the records tied to them by evidence (see scope).
func (s *Service) Link(ctx context.Context, c auth.CustomerSession) (record, profile uuid.UUID, err error) {
	cs := s.store
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
	if held, err := s.held(ctx, sum, c.GivenName); err != nil {
		return uuid.Nil, uuid.Nil, err
	} else if held != uuid.Nil {
		linked, err := cs.LinkCustomer(ctx, c.IdentityID, held, sum, "verified_email")
		if err != nil {
			return uuid.Nil, uuid.Nil, err
		}
		profile, err := cs.RecordProfile(ctx, linked)
		return linked, profile, err
	}
	// Nothing holding the address is theirs by evidence (no record holds
	// it, or the people holding it cannot be told apart): the customer's own record
	// links only through their verified address or a steward's decision
	// (the self-service source links by identifier only). A person
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
	im := s.importer
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

// held returns a record of the customer's by evidence: one holding their
// verified address that does not contradict them, when all such records
// are in one profile (uuid.Nil: none).
func (s *Service) held(ctx context.Context, sum []byte, givenName string) (uuid.UUID, error) {
	records, profiles, err := s.store.RecordsByIndex(ctx, "email", sum, maxEvidenceRecords+1)
	if err != nil || len(records) == 0 || len(records) > maxEvidenceRecords {
		return uuid.Nil, err
	}
	in := map[uuid.UUID]uuid.UUID{} // record -> profile
	for i, r := range records {
		in[r] = profiles[i]
	}
	var candidates []*StoredRecord
	loaded := map[uuid.UUID]bool{}
	for _, p := range profiles {
		if loaded[p] {
			continue
		}
		loaded[p] = true
		_, recs, _, err := s.store.ProfileRecords(ctx, p)
		if err != nil {
			return uuid.Nil, err
		}
		for i := range recs {
			if _, ok := in[recs[i].ID]; ok && recs[i].Source != SelfServiceSource {
				candidates = append(candidates, &recs[i])
			}
		}
	}
	ids, err := s.evidenced(candidates, givenName)
	if err != nil || len(ids) == 0 {
		return uuid.Nil, err
	}
	for _, id := range ids[1:] {
		if in[id] != in[ids[0]] {
			return uuid.Nil, nil
		}
	}
	return ids[0], nil
}

func (s *Service) resolveCustomer(ctx context.Context, c auth.CustomerSession, record uuid.UUID) (uuid.UUID, uuid.UUID, error) {
	rep, err := s.resolver.Link(ctx, "customer:"+c.IdentityID.String(), []uuid.UUID{record}, nil)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	p, ok := rep.Members[record]
	if !ok {
		return uuid.Nil, uuid.Nil, fmt.Errorf("record %s was not resolved: %w", record, ErrUnavailable)
	}
	return record, p, nil
}

// Evidence is what ties records to a customer: the identifiers their
// Kratos account verified, and the account itself.
type Evidence struct {
	// Identity is their Kratos identity: their own self-service record
	// carries it as its source id.
	Identity uuid.UUID
	// EmailIndex is the blind index of their verified email address; nil
	// when the account's address is not verified.
	EmailIndex []byte
	// GivenName is the given name of their account, the test a record
	// holding a shared address must pass.
	GivenName string
}

// Evidence builds the evidence of a customer's session.
func (s *Service) Evidence(c auth.CustomerSession) *Evidence {
	ev := &Evidence{Identity: c.IdentityID, GivenName: c.GivenName}
	if email, ok := identity.NormalizeEmail(c.Email); ok && c.EmailVerified {
		ev.EmailIndex = s.vault.Index().SumString(vault.IndexEmail, email)
	}
	return ev
}

// maxEvidenceRecords bounds the records one verified address may tie to
// a customer; an address held more often than this is no evidence of one
// person.
const maxEvidenceRecords = 50

// scope narrows a profile loaded for a customer to the records tied to
// them by evidence of identity (Art. 12(6), 15: data is disclosed only to
// the person it is about):
//
//   - their own self-service record (its source id is their Kratos
//     identity);
//   - records holding the email address their account verified, unless
//     the record contradicts them (a given name that clearly differs from
//     their account's), and only while those records do not contradict
//     each other (different given names, national ids or birth dates: a
//     household sharing an address, where nobody can tell whose is whose);
//   - records a steward or the DPO confirmed as the same person as one of
//     the above (a must-link decision), transitively.
//
// Name similarity and match weights are never evidence: a record that
// joined the profile only by matching is not shown. The profile stays one
// profile for departments; this is what its person may see of it. Consent
// events follow their records.
func (s *Service) scope(ctx context.Context, req *Request, res *resource) error {
	ev := req.Evidence
	keep := map[uuid.UUID]bool{}
	if ev != nil {
		inProfile := make(map[uuid.UUID]*StoredRecord, len(res.records))
		for i := range res.records {
			inProfile[res.records[i].ID] = &res.records[i]
		}
		var candidates []*StoredRecord
		if ev.EmailIndex != nil {
			ids, _, err := s.store.RecordsByIndex(ctx, "email", ev.EmailIndex, maxEvidenceRecords+1)
			if err != nil {
				return err
			}
			if len(ids) <= maxEvidenceRecords {
				for _, id := range ids {
					if r := inProfile[id]; r != nil && r.Source != SelfServiceSource {
						candidates = append(candidates, r)
					}
				}
			}
		}
		held, err := s.evidenced(candidates, ev.GivenName)
		if err != nil {
			return err
		}
		for _, id := range held {
			keep[id] = true
		}
		for _, r := range res.records {
			if r.Source != SelfServiceSource {
				continue
			}
			rec, err := s.openRecord(&r, func(identity.Field) bool { return false }, true, false)
			if err != nil {
				return err
			}
			if rec.SourceID == ev.Identity.String() {
				keep[r.ID] = true
			}
		}
		if len(keep) > 0 && len(res.records) > len(keep) {
			ids := make([]uuid.UUID, len(res.records))
			for i, r := range res.records {
				ids[i] = r.ID
			}
			cs, err := s.store.Constraints(ctx, ids)
			if err != nil {
				return err
			}
			for grew := true; grew; {
				grew = false
				for _, c := range cs {
					a, b := uuid.MustParse(c.A), uuid.MustParse(c.B)
					if c.Same && keep[a] != keep[b] {
						keep[a], keep[b], grew = true, true, true
					}
				}
			}
		}
	}
	res.keep(keep)
	if req.SubjectRecord != uuid.Nil && !keep[req.SubjectRecord] {
		// Linked before evidence was required: their statements go to a
		// record of theirs, or nowhere.
		req.SubjectRecord = uuid.Nil
		if len(res.records) > 0 {
			req.SubjectRecord = res.records[0].ID
		}
	}
	return nil
}

// keep narrows a resource to the records kept, and the consent events
// attached to them.
func (res *resource) keep(keep map[uuid.UUID]bool) {
	records := res.records[:0:0]
	for _, r := range res.records {
		if keep[r.ID] {
			records = append(records, r)
		}
	}
	events := res.events[:0:0]
	for _, e := range res.events {
		if keep[e.Record] {
			events = append(events, e)
		}
	}
	res.records, res.events = records, events
}

// only narrows a resource to the records named.
func (res *resource) only(ids []uuid.UUID) {
	keep := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		keep[id] = true
	}
	res.keep(keep)
}

// evidenced returns the records holding a customer's verified address
// that are theirs by evidence: none that contradicts the account's given
// name, and none at all when the rest contradict each other (several
// people, and nothing tells whose record is whose).
func (s *Service) evidenced(candidates []*StoredRecord, givenName string) ([]uuid.UUID, error) {
	want := func(f identity.Field) bool {
		return f == identity.GivenName || f == identity.BirthDate || f == identity.NationalID
	}
	account := &identity.Record{}
	account.Set(identity.GivenName, givenName)
	var kept []identity.Record
	var ids []uuid.UUID
	for _, r := range candidates {
		rec, err := s.openRecord(r, want, false, false)
		if err != nil {
			return nil, err
		}
		if identity.Contradict(account, &rec) {
			continue
		}
		kept, ids = append(kept, rec), append(ids, r.ID)
	}
	for i := range kept {
		for j := i + 1; j < len(kept); j++ {
			if identity.Contradict(&kept[i], &kept[j]) {
				return nil, nil
			}
		}
	}
	return ids, nil
}
