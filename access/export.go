package access

import (
	"context"
	"encoding/csv"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/resolver"
)

// ExportSchema names the version of the export package's JSON schema
// (documented in openapi.yaml as Export). A change that removes or
// renames a field is a new version.
const ExportSchema = "cdp.export/1"

// Export is everything an access (Art. 15) or portability (Art. 20)
// request delivers about a person.
type Export struct {
	Schema      string    `json:"schema"`
	Request     uuid.UUID `json:"request_id"`
	GeneratedAt time.Time `json:"generated_at"`
	// Profile is the golden profile, each attribute with its provenance.
	Profile *Profile `json:"profile"`
	// Records are every source record held about the person.
	Records []Record `json:"records"`
	// Consent is the consent history with the exact notice texts.
	Consent *Proof `json:"consent"`
	// Purposes are what the data is used for: legal basis, retention and
	// the person's state.
	Purposes []ExportPurpose `json:"purposes"`
	// Reads are who read the person's data, when and why (the audit log).
	Reads []ExportRead `json:"reads"`
	// Lineage is how the records were linked into the profile.
	Lineage *resolver.Lineage `json:"lineage"`
	// Timeline is every interaction of the person's records, with its
	// text.
	Timeline []Contact `json:"timeline"`
	// Profiling is what was computed about the person: traits, lifecycle
	// stages and segments with the values behind them, and the logic
	// involved (Art. 15(1)(h)).
	Profiling *ProfileTraits `json:"profiling"`
	Access    Grant          `json:"access"`
}

// ExportPurpose is a purpose as the export explains it.
type ExportPurpose struct {
	ID            string             `json:"id"`
	Description   string             `json:"description"`
	LegalBasis    consent.LegalBasis `json:"legal_basis"`
	RetentionDays int                `json:"retention_days"`
	State         consent.State      `json:"state"`
}

// ExportRead is one access to the person's data, from the audit log.
type ExportRead struct {
	At            time.Time `json:"at"`
	PrincipalKind string    `json:"principal_kind"`
	Principal     string    `json:"principal"`
	Department    string    `json:"department,omitempty"`
	Action        string    `json:"action"`
	Purpose       string    `json:"purpose"`
	Fields        []string  `json:"fields"`
	Outcome       string    `json:"outcome"`
}

// maxExportReads bounds the audit entries one export lists.
const maxExportReads = 100000

// ExportOf names what an export reads: the request it answers, the
// profile, and (for a customer's request) the records tied to them by
// evidence, which are all it delivers, whoever downloads it.
type ExportOf struct {
	Request uuid.UUID
	Profile uuid.UUID
	Scope   []uuid.UUID
}

// Export reads everything held about a person for an access (Art. 15) or
// portability (Art. 20) request: decided by the policy and audited like
// every read, once for the whole package.
func (s *Service) Export(ctx context.Context, req Request, of ExportOf) (*Export, error) {
	var out *Export
	g, err := s.Guard(ctx, &req, Act{Action: ActionExport, Profiles: []uuid.UUID{of.Profile}, Reason: "export of request " + of.Request.String()},
		func(a *Allowed) (err error) {
			res := a.res
			if len(of.Scope) > 0 {
				res.only(of.Scope)
			}
			out, a.Fields, err = s.export(ctx, &req, a.cat, res, a.Decision, of.Request)
			return err
		})
	if err != nil {
		return nil, err
	}
	out.Access = g
	out.Profile.Access, out.Consent.Access, out.Profiling.Access = g, g, g // one decision, one audit entry for the whole package
	return out, nil
}

func (s *Service) export(ctx context.Context, req *Request, cat *catalogue, res *resource, d policy.Decision, request uuid.UUID) (*Export, []string, error) {
	o, err := s.open(cat, res, d) // once: the profile and the records are built from the same opening
	if err != nil {
		return nil, nil, err
	}
	p, _ := s.goldenOf(cat, res, o, d)
	proof, err := s.proof(ctx, cat, res, d.AllowsField("consent_evidence") || req.Principal.Kind == auth.Customer)
	if err != nil {
		return nil, nil, err
	}
	lineage, err := s.store.ProfileLineage(ctx, res.id)
	if err != nil {
		return nil, nil, err
	}
	customer := req.Principal.Kind == auth.Customer
	if customer {
		// res.records are those their evidence covers.
		lineage = lineage.Only(func(id uuid.UUID) bool {
			return slices.ContainsFunc(res.records, func(r StoredRecord) bool { return r.ID == id })
		})
	}
	timeline, shown, err := s.contacts(ctx, cat, res, []string{"interaction:*", "interaction_attributes"}, nil, 100000)
	if err != nil {
		return nil, nil, err
	}
	profiled, derived, err := s.traitsOf(ctx, res, true, true)
	if err != nil {
		return nil, nil, err
	}
	shown = append(shown, derived...)
	out := &Export{Schema: ExportSchema, Request: request, GeneratedAt: time.Now().UTC(), Profile: p, Records: o.records,
		Consent: proof, Purposes: []ExportPurpose{}, Reads: []ExportRead{}, Lineage: lineage, Timeline: timeline, Profiling: profiled}
	if out.Records == nil {
		out.Records = []Record{}
	}
	for _, cp := range cat.list {
		out.Purposes = append(out.Purposes, ExportPurpose{ID: cp.ID, Description: cp.Description, LegalBasis: cp.LegalBasis,
			RetentionDays: cp.RetentionDays, State: proof.Current[cp.ID]})
	}
	// The current id's entries are those of every id the profile ever
	// had (the store follows merges), the request's profile included.
	for after := int64(0); len(out.Reads) < maxExportReads; {
		page, err := s.store.AuditEntries(ctx, audit.Query{Profile: res.id.String(), After: after, Limit: 5000})
		if err != nil {
			return nil, nil, err
		}
		for _, e := range page {
			if anotherCustomer(req, e) {
				continue
			}
			out.Reads = append(out.Reads, ExportRead{At: e.At, PrincipalKind: e.PrincipalKind, Principal: e.Principal,
				Department: e.Department, Action: e.Action, Purpose: e.Purpose, Fields: e.Fields, Outcome: e.Outcome})
		}
		if len(page) < 5000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	sort.SliceStable(out.Reads, func(i, j int) bool { return out.Reads[i].At.Before(out.Reads[j].At) })
	fields := o.fields()
	fields["consent"] = true
	for _, f := range shown {
		fields[f] = true
	}
	return out, sortedKeys(fields), nil
}

// WriteRecordsCSV writes an export's records as CSV: one row per record,
// the canonical columns of the import format, then the extra columns.
// A cell a spreadsheet would run as a formula is made inert (see inert).
func WriteRecordsCSV(w io.Writer, x *Export) error {
	cw := csv.NewWriter(w)
	header := []string{"record_id", "source", "department", "legal_basis", "source_id"}
	for _, f := range identity.Fields() {
		header = append(header, f.String())
	}
	extras := map[string]bool{}
	for _, r := range x.Records {
		for k := range r.Extra {
			extras[k] = true
		}
	}
	extraCols := sortedKeys(extras)
	header = append(header, extraCols...)
	for i := range header {
		header[i] = inert(header[i])
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range x.Records {
		row := []string{r.ID.String(), r.Source, r.Department, r.LegalBasis, r.SourceID}
		for _, f := range identity.Fields() {
			row = append(row, r.Attributes[f.String()])
		}
		for _, k := range extraCols {
			row = append(row, r.Extra[k])
		}
		for i := range row {
			row[i] = inert(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// inert defuses a CSV cell that a spreadsheet would take for a formula
// (OWASP's CSV injection): one starting with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe, which spreadsheets show as
// text and do not evaluate. A phone number such as +44... keeps its
// digits, behind the apostrophe.
func inert(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// ActionReads is a person's own look at who read their data.
const ActionReads = "reads"

// maxShownReads bounds the reads a person is shown on a page (the export
// has them all).
const maxShownReads = 500

// anotherCustomer tells, for a customer, an entry of another customer's:
// two customers whose records share a profile (matched alone, not by
// evidence) are not told of each other, their accounts or their reads.
func anotherCustomer(req *Request, e audit.Entry) bool {
	return req.Principal.Kind == auth.Customer && e.PrincipalKind == string(auth.Customer) && e.Principal != req.Principal.ID
}

// Reads lists who read a person's data, newest first, from the audit log:
// the person's own view (the policy allows it to them alone), itself
// audited.
func (s *Service) Reads(ctx context.Context, req Request, id uuid.UUID) ([]ExportRead, error) {
	var out []ExportRead
	_, err := s.Guard(ctx, &req, Act{Action: ActionReads, Profiles: []uuid.UUID{id}}, func(a *Allowed) error {
		for after := int64(0); ; {
			page, err := s.store.AuditEntries(ctx, audit.Query{Profile: a.res.id.String(), After: after, Limit: 5000})
			if err != nil {
				return err
			}
			for _, e := range page {
				if e.Action == ActionReads || e.Outcome != audit.Allowed || anotherCustomer(&req, e) {
					continue // their own look at this list, and refusals, tell them nothing
				}
				// Which department, never which employee: staff are
				// people too.
				out = append(out, ExportRead{At: e.At, PrincipalKind: e.PrincipalKind,
					Department: e.Department, Action: e.Action, Purpose: e.Purpose, Fields: e.Fields, Outcome: e.Outcome})
			}
			if len(page) < 5000 {
				break
			}
			after = page[len(page)-1].Seq
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
		if len(out) > maxShownReads {
			out = out[:maxShownReads]
		}
		a.Fields = []string{"reads"}
		return nil
	})
	return out, err
}
