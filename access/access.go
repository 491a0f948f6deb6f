// Package access is the gate every read of personal data passes, over
// HTTP, the CLI and request exports alike, and the reads themselves. One
// guard (Service.Guard) runs every action the same way:
//
//	validate the purpose -> load the sealed profile (a customer's narrowed
//	  to the records tied to them by evidence) -> policy decision (OPA)
//	  -> a denial audited and refused -> the work: open only the allowed
//	  fields of the allowed sources, minimise -> audit entry committed
//	  -> hand the result to the caller
//
// Nothing else in cdp opens sealed attributes for a reader. A denial looks
// exactly like an unknown profile (ErrNotFound), so a caller cannot learn
// that a person exists; it is audited all the same. When the audit entry
// cannot be committed the action fails (ErrUnavailable) and its result is
// dropped: nothing leaves without a durable record of who read what, why,
// on which decision.
//
// The reads are profiles, records, search, lineage, the review queue,
// consent (overview, history, proof, statements), the purpose catalogue,
// the DPO's audit queries, customers' links to their records, and the
// export of an access or portability request. Steward actions (merge,
// split, review decisions) and writes of records are decided and audited
// here too. Data-subject requests live in package requests, which uses
// this gate; access knows nothing of them.
//
// access imports the domain packages (auth, policy, audit, consent,
// identity, ingest, resolver, vault) and declares the Store it reads;
// never a database or HTTP package.
package access

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// Sentinel errors.
var (
	// ErrNotFound reports a profile that does not exist or that the caller
	// may not see: the two are indistinguishable on purpose.
	ErrNotFound = derrors.New(derrors.ErrNotFound, "profile not found")
	// ErrPurpose reports a missing or unknown purpose.
	ErrPurpose = derrors.New(derrors.ErrInvalid, "purpose")
	// ErrInvalid reports another invalid request value.
	ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid request")
	// ErrForbidden reports an action the caller may not take where denying
	// reveals nothing about a person (the audit log).
	ErrForbidden = derrors.ErrForbidden
	// ErrUnavailable reports that the read could not be audited or decided:
	// it did not happen.
	ErrUnavailable = derrors.New(derrors.ErrUnavailable, "access unavailable")
	// ErrGone reports, to the DPO only, a profile that was erased; anyone
	// else is told it does not exist.
	ErrGone = derrors.New(derrors.ErrNotFound, "profile erased")
)

// Actions, as the policy and the audit log name them.
const (
	ActionRead    = "read"
	ActionSearch  = "search"
	ActionRecords = "records"
	ActionLineage = "lineage"
	ActionReview  = "review"
	ActionMerge   = "merge"
	ActionSplit   = "split"
	ActionDecide  = "decide"
	ActionAudit   = "audit"
	ActionExport  = "export"
)

// Request says who asks and why.
type Request struct {
	Principal auth.Principal
	Purpose   string
	RequestID string
	// Client is the caller's network address; the audit log keeps a keyed
	// hash of it, never the address.
	Client string
	// Subject is, for a customer, the profile their identity is linked to,
	// and SubjectRecord the record that links it.
	Subject       uuid.UUID
	SubjectRecord uuid.UUID
	// Evidence is, for a customer, what ties records to them. A customer
	// is shown only the records it covers, never the whole profile (see
	// scope); without it they are shown nothing.
	Evidence *Evidence
}

// StoredRecord is a source record as stored: sealed.
type StoredRecord = identity.StoredRecord

// Store is what the read path reads, and the few things it writes on a
// person's behalf (consent statements, the catalogue, customers' links).
type Store interface {
	ReadStore
	ConsentStore
	CatalogueStore
	CustomerStore
	ReviewStore
	DisputeStore
	StaffGrant(ctx context.Context, identity uuid.UUID) (auth.StaffGrant, error)
	SourceDays(ctx context.Context, sources []string, since time.Time) ([]identity.SourceDay, error)
	TimelineStore
	ProfilingStore
}

// ReadStore is what reading profiles reads.
type ReadStore interface {
	// ProfileRecords returns the current id of a profile (following
	// merges), its records and their consent events. ErrNotFound when
	// there is no such profile.
	ProfileRecords(ctx context.Context, id uuid.UUID) (uuid.UUID, []StoredRecord, []consent.Event, error)
	// ProfilesByIndex returns the profiles holding a record whose blind
	// index of kind ("email", "phone", a blocking key) is sum, at most
	// limit, and for each the sources of the records that hold it.
	ProfilesByIndex(ctx context.Context, kind string, sum []byte, limit int) ([]uuid.UUID, [][]string, error)
	Sources(ctx context.Context) ([]identity.Source, error)
	Purposes(ctx context.Context) ([]consent.Purpose, error)
	// ProfileLineage returns the history of a profile.
	ProfileLineage(ctx context.Context, id uuid.UUID) (*resolver.Lineage, error)
	// OpenReviews returns undecided review pairs, most likely first, after
	// the given pair (paging; uuid.Nil: from the start).
	OpenReviews(ctx context.Context, after uuid.UUID, limit int) ([]Review, error)
	// ReviewPair returns one review pair.
	ReviewPair(ctx context.Context, id uuid.UUID) (resolver.OpenReview, error)
	AuditEntries(ctx context.Context, q audit.Query) ([]audit.Entry, error)
	// ErasedBy reports whether a profile id was erased, by which request.
	ErasedBy(ctx context.Context, profile uuid.UUID) (uuid.UUID, time.Time, bool, error)
	// RecordsByIndex returns the records (and their profiles) holding a
	// blind index of kind ("email", "phone"), at most limit.
	RecordsByIndex(ctx context.Context, kind string, sum []byte, limit int) (records, profiles []uuid.UUID, err error)
	// Constraints returns the steward constraints among the given records.
	Constraints(ctx context.Context, ids []uuid.UUID) ([]identity.Constraint, error)
}

// Decider decides access (policy.Engine).
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	Revision() string
}

// Recorder makes audit entries durable (audit.Writer).
type Recorder interface {
	RecordAll(ctx context.Context, es []audit.Entry) ([]audit.Entry, error)
}

// Config builds a Service. Every field is required unless marked optional.
type Config struct {
	Store    Store
	Vault    *vault.Vault
	Policy   Decider
	Audit    Recorder
	Resolver *resolver.Resolver
	// Survivorship chooses golden values (optional: the default rules).
	Survivorship identity.Survivorship
	// DefaultRegion reads phone numbers without a country prefix in
	// lookups and answers (optional: "GB").
	DefaultRegion string
	// DateOrder reads dates such as 01/02/1980 in answers (optional: DMY).
	DateOrder identity.DateOrder
	// CatalogueTTL is how long sources and purposes are cached (optional:
	// two seconds).
	CatalogueTTL time.Duration
	// Importer is the template of the import pipeline that enters a new
	// customer's own record (optional: customers are only linked to
	// records that exist).
	Importer ingest.Importer
}

// Service is the read path.
type Service struct {
	store    Store
	vault    *vault.Vault
	policy   Decider
	audit    Recorder
	resolver *resolver.Resolver
	importer ingest.Importer
	rules    identity.Survivorship
	region   string
	order    identity.DateOrder
	ttl      time.Duration

	mu        sync.Mutex
	loadedAt  time.Time
	catalogue *catalogue
}

// New builds the read path.
func New(cfg Config) *Service {
	s := &Service{
		store: cfg.Store, vault: cfg.Vault, policy: cfg.Policy, audit: cfg.Audit, resolver: cfg.Resolver, importer: cfg.Importer,
		rules: cfg.Survivorship, region: cfg.DefaultRegion, order: cfg.DateOrder, ttl: cfg.CatalogueTTL,
	}
	if s.rules == nil {
		s.rules = identity.DefaultSurvivorship()
	}
	if s.region == "" {
		s.region = "GB"
	}
	if s.ttl <= 0 {
		s.ttl = 2 * time.Second
	}
	return s
}

// PolicyRevision identifies the policy that decides.
func (s *Service) PolicyRevision() string { return s.policy.Revision() }

// catalogue is the cached view of sources and purposes the policy needs.
type catalogue struct {
	sources  map[string]identity.Source
	purposes map[string]consent.Purpose
	list     []consent.Purpose
	input    map[string]policy.Purpose
}

func (s *Service) loadCatalogue(ctx context.Context) (*catalogue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catalogue != nil && time.Since(s.loadedAt) < s.ttl {
		return s.catalogue, nil
	}
	srcs, err := s.store.Sources(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := s.store.Purposes(ctx)
	if err != nil {
		return nil, err
	}
	c := &catalogue{
		sources:  make(map[string]identity.Source, len(srcs)),
		purposes: make(map[string]consent.Purpose, len(ps)),
		input:    make(map[string]policy.Purpose, len(ps)),
		list:     ps,
	}
	for _, src := range srcs {
		c.sources[src.Name] = src
	}
	for _, p := range ps {
		c.purposes[p.ID] = p
		c.input[p.ID] = policy.Purpose{LegalBasis: string(p.LegalBasis), RequiresConsent: p.RequiresConsent, AllowsObjection: p.AllowsObjection,
			Departments: p.Departments}
	}
	s.catalogue, s.loadedAt = c, time.Now()
	return c, nil
}

// Purposes returns the purpose catalogue (cached for a moment).
func (s *Service) Purposes(ctx context.Context) ([]consent.Purpose, error) {
	c, err := s.loadCatalogue(ctx)
	if err != nil {
		return nil, err
	}
	return c.list, nil
}

// Sources returns the registered sources, as stored now.
func (s *Service) Sources(ctx context.Context) ([]identity.Source, error) {
	return s.store.Sources(ctx)
}

// Forget drops the cached catalogue (after a change to sources or
// purposes), so the next request reads it anew.
func (s *Service) Forget() {
	s.mu.Lock()
	s.catalogue = nil
	s.mu.Unlock()
}

// checkPurpose validates the declared purpose.
func (s *Service) checkPurpose(ctx context.Context, req *Request) (*catalogue, error) {
	cat, err := s.loadCatalogue(ctx)
	if err != nil {
		return nil, err
	}
	if req.Principal.Kind == auth.Customer {
		if req.Purpose == "" {
			req.Purpose = consent.SelfService
		}
		return cat, nil
	}
	if req.Purpose == "" {
		return nil, fmt.Errorf("declare why you read personal data: ?purpose= or the X-Purpose header, one of %s: %w", purposeList(cat), ErrPurpose)
	}
	if _, ok := cat.purposes[req.Purpose]; !ok {
		return nil, fmt.Errorf("unknown purpose %q: want one of %s: %w", clip(req.Purpose), purposeList(cat), ErrPurpose)
	}
	return cat, nil
}

func purposeList(c *catalogue) string {
	ids := make([]string, 0, len(c.purposes))
	for id := range c.purposes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}

// clip bounds a caller's value echoed in an error (purposes are ids, not
// personal data, but a caller may send anything).
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// resource is a loaded profile.
type resource struct {
	id uuid.UUID
	// asked is the id it was asked by (id is where a merge led): a denial
	// names it, so that it looks like an unknown profile's.
	asked   uuid.UUID
	records []StoredRecord
	events  []consent.Event
	// attach is the record a consent statement is attached to (the
	// policy decides whose it is).
	attach *StoredRecord
	// timeline is the newest interactions of the records, when they were
	// read with them (timelineRead; see Timeline).
	timeline     []crm.Stored
	timelineRead bool
}

// ask asks the policy about one profile (or, with none, about the action alone).
func (s *Service) ask(ctx context.Context, cat *catalogue, req *Request, action string, res *resource) (policy.Decision, error) {
	// The policy sees the declared purpose's catalogue entry (none when it
	// is not in the catalogue) and the person's state for every purpose.
	in := policy.Input{
		Principal: req.Principal,
		Action:    action,
		Purpose:   req.Purpose,
		Purposes:  map[string]policy.Purpose{},
		Resource:  policy.Resource{Consent: make(map[string]string, len(cat.purposes))},
	}
	if p, ok := cat.input[req.Purpose]; ok {
		in.Purposes[req.Purpose] = p
	}
	if res != nil {
		in.Resource.ProfileID = res.id.String()
		in.Resource.Self = req.Principal.Kind == auth.Customer && req.Subject != uuid.Nil && req.Subject == res.id
		seen := map[string]bool{}
		for _, r := range res.records {
			switch r.Restriction {
			case "restriction":
				in.Resource.Restricted = true
			case "legal_hold":
				in.Resource.Restricted, in.Resource.LegalHold = true, true
			}
			if seen[r.Source] {
				continue
			}
			seen[r.Source] = true
			src := cat.sources[r.Source]
			in.Resource.Sources = append(in.Resource.Sources, policy.Source{
				Name: r.Source, Department: src.Department, LegalBasis: src.LegalBasis, Purposes: src.Purposes,
			})
		}
	}
	if res != nil && res.attach != nil {
		in.Resource.Record = &policy.RecordRef{Source: res.attach.Source, Department: cat.sources[res.attach.Source].Department}
	}
	// In name order: equal resources make equal inputs (the policy's memo).
	sort.Slice(in.Resource.Sources, func(i, j int) bool { return in.Resource.Sources[i].Name < in.Resource.Sources[j].Name })
	// The person's state for every purpose, derived from their events
	// (each purpose's default until they said something).
	var events []consent.Event
	if res != nil {
		events = res.events
	}
	for id, c := range consent.Derive(cat.list, events, time.Now()) {
		in.Resource.Consent[id] = string(c.State)
	}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return d, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return d, nil
}

// idStrings is profile ids as audit entries name them.
func idStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// entry is the audit entry of one decision.
func (s *Service) entry(req *Request, action string, profiles []string, d policy.Decision, outcome string, fields []string) audit.Entry {
	reason, revision := d.Reason, d.Revision
	if outcome == audit.NotFound {
		reason = "no such profile"
	}
	if revision == "" {
		revision = s.policy.Revision() // no decision was made
	}
	return audit.Entry{
		PrincipalKind:  string(req.Principal.Kind),
		Principal:      req.Principal.ID,
		Department:     req.Principal.Department,
		Action:         action,
		Purpose:        req.Purpose,
		Profiles:       profiles,
		Fields:         fields,
		DecisionID:     d.ID,
		PolicyRevision: revision,
		RequestID:      req.RequestID,
		Client:         s.client(req.Client),
		Outcome:        outcome,
		Reason:         reason,
	}
}

// client pseudonymises a network address: a keyed hash, the same for the
// same address, useless without the index key.
func (s *Service) client(addr string) string {
	if addr == "" {
		return ""
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	return hex.EncodeToString(s.vault.Index().SumString(vault.IndexClient, addr))
}

// load reads a profile's sealed records; a missing profile is audited as
// such and reported as ErrNotFound.
func (s *Service) load(ctx context.Context, req *Request, action string, id uuid.UUID) (*resource, error) {
	return s.loadFrom(ctx, req, action, id, s.store.ProfileRecords)
}

// loadFrom is load with the read it makes.
func (s *Service) loadFrom(ctx context.Context, req *Request, action string, id uuid.UUID,
	read func(context.Context, uuid.UUID) (uuid.UUID, []StoredRecord, []consent.Event, error)) (*resource, error) {
	cur, recs, events, err := read(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		if err := s.record(ctx, s.entry(req, action, []string{id.String()}, policy.Decision{}, audit.NotFound, nil)); err != nil {
			return nil, err
		}
		if req.Principal.Kind == auth.Staff && req.Principal.Has(auth.RoleDPO) {
			if by, at, erased, err := s.store.ErasedBy(ctx, id); err != nil {
				return nil, err
			} else if erased {
				return nil, fmt.Errorf("profile %s was erased on %s by request %s: %w", id, at.UTC().Format(time.RFC3339), by, ErrGone)
			}
		}
		return nil, fmt.Errorf("profile %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	res := &resource{id: cur, asked: id, records: recs, events: events}
	if req.Principal.Kind == auth.Customer {
		if err := s.scope(ctx, req, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// authorize loads and decides one profile; a denial is audited and
// reported as ErrNotFound. The allowed decision is returned unaudited: the
// caller audits it with the fields it returns.
func (s *Service) authorize(ctx context.Context, cat *catalogue, req *Request, action string, id uuid.UUID) (*resource, policy.Decision, error) {
	res, err := s.load(ctx, req, action, id)
	if err != nil {
		return nil, policy.Decision{}, err
	}
	return s.authorizeLoaded(ctx, cat, req, action, id, res)
}

// authorizeLoaded decides a loaded profile, as authorize does.
func (s *Service) authorizeLoaded(ctx context.Context, cat *catalogue, req *Request, action string, id uuid.UUID, res *resource) (*resource, policy.Decision, error) {
	d, err := s.ask(ctx, cat, req, action, res)
	if err != nil {
		if aerr := s.record(ctx, s.entry(req, action, []string{res.id.String()}, d, audit.Denied, nil)); aerr != nil {
			return nil, d, aerr
		}
		return nil, d, err
	}
	if !d.Allow {
		if err := s.record(ctx, s.entry(req, action, []string{res.id.String()}, d, audit.Denied, nil)); err != nil {
			return nil, d, err
		}
		return nil, d, fmt.Errorf("profile %s: %w", id, ErrNotFound)
	}
	return res, d, nil
}

// Grant is what a response says about the decision that allowed it.
type Grant struct {
	Purpose        string   `json:"purpose"`
	DecisionID     string   `json:"decision_id"`
	PolicyRevision string   `json:"policy_revision"`
	Fields         []string `json:"fields"`
	AuditSeq       int64    `json:"audit_seq"`
}
