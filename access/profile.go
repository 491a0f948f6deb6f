package access

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/vault"
)

// Attribute is a golden value with its provenance.
type Attribute struct {
	Value      string    `json:"value"`
	Source     string    `json:"source"`
	RecordID   string    `json:"record_id"`
	Rule       string    `json:"rule"`
	RecordedAt time.Time `json:"recorded_at"`
	LegalBasis string    `json:"legal_basis"`
}

// Profile is a golden profile as one reader may see it.
type Profile struct {
	ID uuid.UUID `json:"id"`
	// Attributes holds the golden values the decision allows, by canonical
	// name; a department's own columns appear as "extra:<name>".
	Attributes map[string]Attribute `json:"attributes"`
	// Sources are the sources whose records served the answer.
	Sources []string `json:"sources"`
	Access  Grant    `json:"access"`
	// Score is, for a lookup by name, the share of the fields asked that
	// agree (1: all of them).
	Score *float64 `json:"score,omitempty"`
}

// Record is one source record as one reader may see it.
type Record struct {
	ID         uuid.UUID `json:"id"`
	Source     string    `json:"source"`
	Department string    `json:"department"`
	LegalBasis string    `json:"legal_basis"`
	SourceID   string    `json:"source_id,omitempty"`
	// Attributes are the values as the source sent them; Canonical the
	// canonical form of those that have one and differ (ISO 8601 dates,
	// E.164 phones, lower-case emails), which golden values use.
	Attributes map[string]string `json:"attributes"`
	Canonical  map[string]string `json:"canonical,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
	Version    int               `json:"version"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// ProfileRecords is a profile's source records as one reader may see them.
type ProfileRecords struct {
	ProfileID uuid.UUID `json:"profile_id"`
	Records   []Record  `json:"records"`
	Access    Grant     `json:"access"`
}

// opened is a profile's records opened under a decision.
type opened struct {
	inputs  []identity.GoldenInput
	records []Record
	sources []string
}

// open decrypts only what the decision allows: the allowed fields of the
// records of the allowed sources. Records of other sources stay sealed.
func (s *Service) open(cat *catalogue, res *resource, d policy.Decision) (*opened, error) {
	want := func(f identity.Field) bool { return d.AllowsField(f.String()) }
	withID, withExtra := d.AllowsField("source_id"), d.AllowsField("extra")
	o := &opened{}
	seen := map[string]bool{}
	for _, sr := range res.records {
		if !d.AllowsSource(sr.Source) {
			continue
		}
		rec, err := s.openRecord(&sr, want, withID, withExtra)
		if err != nil {
			return nil, err
		}
		src := cat.sources[sr.Source]
		out := Record{
			ID: sr.ID, Source: sr.Source, Department: src.Department, LegalBasis: src.LegalBasis,
			Attributes: map[string]string{}, Version: sr.Version, CreatedAt: sr.CreatedAt, UpdatedAt: sr.UpdatedAt,
		}
		if withID {
			out.SourceID = rec.SourceID
		}
		for _, f := range identity.Fields() {
			if v := rec.Get(f); v != "" && want(f) {
				out.Attributes[f.String()] = v
			}
		}
		// Golden values are built from canonical forms: one birth date
		// written three ways is one value, served as ISO 8601.
		for f, c := range s.canonical(&rec) {
			if out.Canonical == nil {
				out.Canonical = map[string]string{}
			}
			out.Canonical[f.String()] = c
			rec.Set(f, c)
		}
		o.inputs = append(o.inputs, identity.GoldenInput{
			RecordID: sr.ID.String(), Source: sr.Source, Priority: src.Priority, UpdatedAt: sr.UpdatedAt, Record: rec,
		})
		if extra := rec.Extra(); withExtra && len(extra) > 0 {
			out.Extra = make(map[string]string, len(extra))
			for _, x := range extra {
				out.Extra[x.Name] = x.Value
			}
		}
		o.records = append(o.records, out)
		if !seen[sr.Source] {
			seen[sr.Source] = true
			o.sources = append(o.sources, sr.Source)
		}
	}
	sort.Strings(o.sources)
	return o, nil
}

// canonical returns the canonical forms of a record's dates, phones and
// emails that differ from what the source sent: ISO 8601, E.164 (read in
// the record's country, else the default region) and lower case. A value
// with no canonical form (an impossible date) is left as it was sent.
func (s *Service) canonical(rec *identity.Record) map[identity.Field]string {
	var out map[identity.Field]string
	set := func(f identity.Field, c string) {
		if out == nil {
			out = map[identity.Field]string{}
		}
		out[f] = c
	}
	if v := rec.Get(identity.BirthDate); v != "" {
		if d, ok := identity.ParseDate(v, s.order); ok && d.Valid && d.ISO() != v {
			set(identity.BirthDate, d.ISO())
		}
	}
	if v := rec.Get(identity.Phone); v != "" {
		region := s.region
		if cc, ok := identity.CountryCode(rec.Get(identity.Country)); ok {
			region = cc
		}
		if p, ok := identity.NormalizePhone(v, region); ok && p != v {
			set(identity.Phone, p)
		}
	}
	if v := rec.Get(identity.Email); v != "" {
		if e, ok := identity.NormalizeEmail(v); ok && e != v {
			set(identity.Email, e)
		}
	}
	return out
}

// openRecord opens the wanted fields of one stored record under its own
// key (the source id and extra columns only when asked).
func (s *Service) openRecord(sr *StoredRecord, want func(identity.Field) bool, withID, withExtra bool) (identity.Record, error) {
	key, err := s.vault.OpenSubjectKey(sr.ID, sr.KEK, sr.Wrapped)
	if err != nil {
		return identity.Record{}, fmt.Errorf("record %s: %w", sr.ID, err)
	}
	rec, err := key.OpenRecord(sr.Attrs, want, withID, withExtra)
	if err != nil {
		return identity.Record{}, fmt.Errorf("record %s: %w", sr.ID, err)
	}
	return rec, nil
}

// fields names the fields the opened records show.
func (o *opened) fields() map[string]bool {
	fields := map[string]bool{}
	for _, r := range o.records {
		for f := range r.Attributes {
			fields[f] = true
		}
		if r.SourceID != "" {
			fields["source_id"] = true
		}
		if len(r.Extra) > 0 {
			fields["extra"] = true
		}
	}
	return fields
}

// golden builds the profile one decision allows.
func (s *Service) golden(cat *catalogue, res *resource, d policy.Decision) (*Profile, []string, error) {
	o, err := s.open(cat, res, d)
	if err != nil {
		return nil, nil, err
	}
	p, fields := s.goldenOf(cat, res, o, d)
	return p, fields, nil
}

// goldenOf builds the golden profile from records opened under d, and
// lists the fields it shows.
func (s *Service) goldenOf(cat *catalogue, res *resource, o *opened, d policy.Decision) (*Profile, []string) {
	p := &Profile{ID: res.id, Attributes: map[string]Attribute{}, Sources: o.sources}
	if p.Sources == nil {
		p.Sources = []string{}
	}
	fields := map[string]bool{}
	for name, g := range s.rules.Golden(o.inputs) {
		field := name
		if strings.HasPrefix(name, "extra:") {
			field = "extra"
		}
		if !d.AllowsField(field) {
			continue // survivorship never sees more than it was given; belt and braces
		}
		p.Attributes[name] = Attribute{
			Value: g.Value, Source: g.Source, RecordID: g.RecordID, Rule: string(g.Rule),
			RecordedAt: g.RecordedAt, LegalBasis: cat.sources[g.Source].LegalBasis,
		}
		fields[field] = true
	}
	return p, sortedKeys(fields)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func grant(req *Request, d policy.Decision, fields []string, e audit.Entry) Grant {
	if fields == nil {
		fields = []string{}
	}
	return Grant{Purpose: req.Purpose, DecisionID: d.ID, PolicyRevision: d.Revision, Fields: fields, AuditSeq: e.Seq}
}

// Profile reads a golden profile.
func (s *Service) Profile(ctx context.Context, req Request, id uuid.UUID) (*Profile, error) {
	var p *Profile
	g, err := s.Guard(ctx, &req, Act{Action: ActionRead, Profiles: []uuid.UUID{id}}, func(a *Allowed) (err error) {
		p, a.Fields, err = s.golden(a.cat, a.res, a.Decision)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.Access = g
	return p, nil
}

// Records reads a profile's source records.
func (s *Service) Records(ctx context.Context, req Request, id uuid.UUID) (*ProfileRecords, error) {
	out := &ProfileRecords{Records: []Record{}}
	g, err := s.Guard(ctx, &req, Act{Action: ActionRecords, Profiles: []uuid.UUID{id}}, func(a *Allowed) error {
		o, err := s.open(a.cat, a.res, a.Decision)
		if err != nil {
			return err
		}
		out.ProfileID, a.Fields = a.res.id, sortedKeys(o.fields())
		if o.records != nil {
			out.Records = o.records
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Access = g
	return out, nil
}

// Lookup is a search by a strong identifier.
type Lookup struct {
	Email string
	Phone string
	// By name: given and family name, optionally narrowed by birth date
	// or postcode, and ranked by how many of the fields asked agree (city
	// too). Candidates come from the blocking keys' blind indexes.
	GivenName, FamilyName, BirthDate, Postcode, City string
}

// byName tells whether the lookup is by name.
func (q Lookup) byName() bool {
	return q.GivenName != "" || q.FamilyName != "" || q.BirthDate != "" || q.Postcode != "" || q.City != ""
}

// MaxResults bounds the profiles one lookup returns.
const MaxResults = 20

// Find looks profiles up by email address or phone number, through blind
// indexes. The policy decides per profile; profiles it denies are left
// out; every profile returned has its own audit entry, and a lookup that
// returns nothing is audited too.
func (s *Service) Find(ctx context.Context, req Request, q Lookup) ([]*Profile, error) {
	cat, err := s.checkPurpose(ctx, &req)
	if err != nil {
		return nil, err
	}
	var kind, value string
	var sum []byte
	switch {
	case q.byName() && (q.Email != "" || q.Phone != ""):
		return nil, fmt.Errorf("look up by email, by phone or by name, one at a time: %w", ErrInvalid)
	case q.byName():
		if q.GivenName == "" || q.FamilyName == "" {
			return nil, fmt.Errorf("a lookup by name needs given_name and family_name: %w", ErrInvalid)
		}
		if kind, sum, err = s.nameKey(q); err != nil {
			return nil, err
		}
	case q.Email != "" && q.Phone != "":
		return nil, fmt.Errorf("look up by one of email or phone, not both: %w", ErrInvalid)
	case q.Email != "":
		e, ok := identity.NormalizeEmail(q.Email)
		if !ok {
			return nil, fmt.Errorf("email: not a valid email address: %w", ErrInvalid)
		}
		kind, value = "email", e
	case q.Phone != "":
		p, ok := identity.NormalizePhone(q.Phone, s.region)
		if !ok {
			return nil, fmt.Errorf("phone: not a possible phone number: %w", ErrInvalid)
		}
		kind, value = "phone", p
	default:
		return nil, fmt.Errorf("give email= or phone= to look profiles up: %w", ErrInvalid)
	}
	if sum == nil {
		sum = s.indexSum(kind, value)
	}
	ids, holders, err := s.store.ProfilesByIndex(ctx, kind, sum, MaxResults)
	if err != nil {
		return nil, err
	}
	var (
		found   []*Profile
		entries []audit.Entry
	)
	for i, id := range ids {
		cur, recs, events, err := s.store.ProfileRecords(ctx, id)
		if err != nil {
			continue // resolved away meanwhile
		}
		res := &resource{id: cur, records: recs, events: events}
		d, err := s.ask(ctx, cat, &req, ActionSearch, res)
		if err != nil {
			entries = append(entries, s.entry(&req, ActionSearch, []string{cur.String()}, d, audit.Denied, nil))
			if aerr := s.record(ctx, entries...); aerr != nil {
				return nil, aerr
			}
			return nil, err
		}
		if !d.Allow {
			entries = append(entries, s.entry(&req, ActionSearch, []string{cur.String()}, d, audit.Denied, nil))
			continue
		}
		if !slices.ContainsFunc(holders[i], d.AllowsSource) {
			// Only records of sources this reader may not see hold what
			// was asked (an address a consent-based source collected):
			// the person is not found by it, as if it were not there.
			continue
		}
		p, fields, err := s.golden(cat, res, d)
		if err != nil {
			return nil, err
		}
		p.Access = grant(&req, d, fields, audit.Entry{})
		if q.byName() {
			score := agreement(q, p, s.order)
			p.Score = &score
		}
		found = append(found, p)
		entries = append(entries, s.entry(&req, ActionSearch, []string{cur.String()}, d, audit.Allowed, fields))
	}
	if len(entries) == 0 {
		e := s.entry(&req, ActionSearch, nil, policy.Decision{}, audit.NotFound, nil)
		e.Reason = "no profile matches"
		entries = append(entries, e)
	}
	es, err := s.commit(ctx, entries...)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, e := range es {
		if e.Outcome == audit.Allowed {
			found[i].Access.AuditSeq = e.Seq
			i++
		}
	}
	if found == nil {
		found = []*Profile{}
	}
	// Best candidates first (a stable sort: ties stay in id order).
	sort.SliceStable(found, func(i, j int) bool {
		return found[i].Score != nil && found[j].Score != nil && *found[i].Score > *found[j].Score
	})
	return found, nil
}

// nameKey is the blocking key a lookup by name searches: family name with
// birth date, else with postcode, else with given name (the keys
// identity.CandidateRules index for every record).
func (s *Service) nameKey(q Lookup) (string, []byte, error) {
	var a identity.Attributes
	a.Set(identity.GivenName, q.GivenName)
	a.Set(identity.FamilyName, q.FamilyName)
	a.Set(identity.BirthDate, q.BirthDate)
	a.Set(identity.Postcode, q.Postcode)
	n := identity.Normalizer{DefaultRegion: s.region, DateOrder: s.order}.Normalize(&a)
	keys := identity.CandidateKeys(&n)
	for _, i := range []int{1, 2, 0} { // birth_date+family, postcode+family, given+family
		if keys[i] == "" {
			continue
		}
		kind := [3]string{"name_key", "birth_key", "place_key"}[i]
		return kind, s.vault.Index().SumString(vault.IndexBlock, identity.CandidateRules[i]+"\x00"+keys[i]), nil
	}
	return "", nil, fmt.Errorf("the name given cannot be searched (no letters?): %w", ErrInvalid)
}

// agreement is the share of the fields a lookup by name asked that the
// candidate's golden values (as the decision shows them) agree with: the
// given name alike (a nickname, a typo, an initial), the rest the same
// once normalised. A field the reader may not see does not agree.
func agreement(q Lookup, p *Profile, order identity.DateOrder) float64 {
	asked, agree := 0, 0
	check := func(want, got string, same func(a, b string) bool) {
		if want == "" {
			return
		}
		asked++
		if got != "" && same(want, got) {
			agree++
		}
	}
	key := func(a, b string) bool { return identity.NameKey(a) == identity.NameKey(b) }
	check(q.GivenName, p.Attributes["given_name"].Value, func(a, b string) bool { return !identity.GivenNamesDiffer(a, b) })
	check(q.FamilyName, p.Attributes["family_name"].Value, key)
	check(q.BirthDate, p.Attributes["birth_date"].Value, func(a, b string) bool {
		d, ok := identity.ParseDate(a, order)
		return ok && d.ISO() == b
	})
	check(q.Postcode, p.Attributes["postcode"].Value, func(a, b string) bool {
		return strings.ReplaceAll(strings.ToUpper(a), " ", "") == strings.ReplaceAll(strings.ToUpper(b), " ", "")
	})
	check(q.City, p.Attributes["city"].Value, key)
	if asked == 0 {
		return 0
	}
	return float64(agree) / float64(asked)
}

func (s *Service) indexSum(kind, value string) []byte {
	k := vault.IndexEmail
	if kind == "phone" {
		k = vault.IndexPhone
	}
	return s.vault.Index().SumString(k, value)
}
