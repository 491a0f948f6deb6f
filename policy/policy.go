// Package policy decides, with Open Policy Agent, who may read which fields
// of a person's profile for which purpose.
//
// The policies are Rego files embedded from rego/ (or read from a directory
// that overrides them, CDP_POLICY_DIR), compiled once into a prepared query
// and evaluated per request. Network builtins are disabled: a policy cannot
// call out. The answer is a Decision, never a bare boolean: whether to
// allow, which fields and which sources' data may be read, why, and an id
// that the audit entry of the request carries. An evaluation error or an
// undefined result is a denial.
//
// The revision of the loaded policy (a SHA-256 of its files) goes into
// every audit entry, so an auditor knows which rules decided.
//
// policy imports OPA and auth; never a database or HTTP package.
package policy

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
)

//go:embed rego/*.rego
var embedded embed.FS

// ErrPolicy reports a policy that does not load or does not evaluate.
var ErrPolicy = derrors.New(derrors.ErrUnavailable, "policy error")

// Query is the rule every policy set must define.
const Query = "data.cdp.access.decision"

// Engine evaluates the access policy.
type Engine struct {
	query    rego.PreparedEvalQuery
	revision string
	origin   string
}

// Load compiles the policy: the embedded files when dir is "", else every
// *.rego file of dir except tests (*_test.rego).
func Load(ctx context.Context, dir string) (*Engine, error) {
	var fsys fs.FS = embedded
	root := "rego"
	origin := "embedded"
	if dir != "" {
		fsys, root, origin = os.DirFS(dir), ".", dir
	}
	files, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(root, "*.rego")))
	if err != nil {
		return nil, fmt.Errorf("policy files: %w", err)
	}
	sort.Strings(files)
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.UnsafeBuiltins(map[string]struct{}{"http.send": {}, "net.lookup_ip_addr": {}, "opa.runtime": {}}),
		rego.StrictBuiltinErrors(true),
	}
	h := sha256.New()
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("policy file %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(data))
		h.Write(data)
		opts = append(opts, rego.Module(filepath.Base(f), string(data)))
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no policy files in %s: %w", origin, ErrPolicy)
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile policy from %s: %w: %w", origin, ErrPolicy, err)
	}
	return &Engine{query: q, revision: hex.EncodeToString(h.Sum(nil))[:16], origin: origin}, nil
}

// Revision identifies the loaded policy files.
func (e *Engine) Revision() string { return e.revision }

// Origin says where the policy came from ("embedded" or a directory).
func (e *Engine) Origin() string { return e.origin }

// Purpose is a purpose of the catalogue as the policy sees it.
type Purpose struct {
	LegalBasis      string
	RequiresConsent bool
	AllowsObjection bool
}

// Source describes one source of a profile's records.
type Source struct {
	Name       string
	Department string
	LegalBasis string
	Purposes   []string
}

// Resource is what a request is about.
type Resource struct {
	ProfileID  string
	Self       bool              // the principal is the data subject
	Consent    map[string]string // purpose -> granted, denied, withdrawn, objected, expired
	Restricted bool
	LegalHold  bool
	Sources    []Source
}

// Input is one question to the policy.
type Input struct {
	Principal auth.Principal
	Action    string
	Purpose   string
	Purposes  map[string]Purpose
	Resource  Resource
}

// Decision is the policy's answer.
type Decision struct {
	ID       string   `json:"decision_id"`
	Allow    bool     `json:"allow"`
	Fields   []string `json:"fields"`
	Sources  []string `json:"sources"`
	Reason   string   `json:"reason"`
	Revision string   `json:"policy_revision"`
}

// AllowsField reports whether the decision lets field be read.
func (d Decision) AllowsField(field string) bool {
	i := sort.SearchStrings(d.Fields, field)
	return i < len(d.Fields) && d.Fields[i] == field
}

// AllowsSource reports whether the decision lets source's data be read.
func (d Decision) AllowsSource(source string) bool {
	i := sort.SearchStrings(d.Sources, source)
	return i < len(d.Sources) && d.Sources[i] == source
}

// Decide evaluates the policy. On any error the returned decision denies.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	d := Decision{ID: uuid.Must(uuid.NewV7()).String(), Revision: e.revision, Reason: "policy error"}
	rs, err := e.query.Eval(ctx, rego.EvalInput(in.value()))
	if err != nil {
		return d, fmt.Errorf("evaluate policy: %w: %w", ErrPolicy, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return d, fmt.Errorf("policy decision undefined: %w", ErrPolicy)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return d, fmt.Errorf("policy decision is not an object: %w", ErrPolicy)
	}
	allow, ok := obj["allow"].(bool)
	if !ok {
		return d, fmt.Errorf("policy decision has no boolean allow: %w", ErrPolicy)
	}
	reason, _ := obj["reason"].(string)
	fields, errF := strings_(obj["fields"])
	sources, errS := strings_(obj["sources"])
	if err := errors.Join(errF, errS); err != nil {
		return d, fmt.Errorf("policy decision: %w: %w", ErrPolicy, err)
	}
	sort.Strings(fields)
	sort.Strings(sources)
	d.Allow, d.Reason, d.Fields, d.Sources = allow, reason, fields, sources
	if !allow {
		d.Fields, d.Sources = nil, nil
	}
	return d, nil
}

func strings_(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %T", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("not a string: %T", x)
		}
		out[i] = s
	}
	return out, nil
}

// value turns the input into the JSON-like value OPA evaluates.
func (in Input) value() map[string]any {
	roles := make([]any, len(in.Principal.Roles))
	for i, r := range in.Principal.Roles {
		roles[i] = string(r)
	}
	purposes := make(map[string]any, len(in.Purposes))
	for id, p := range in.Purposes {
		purposes[id] = map[string]any{"legal_basis": p.LegalBasis, "requires_consent": p.RequiresConsent, "allows_objection": p.AllowsObjection}
	}
	consent := make(map[string]any, len(in.Resource.Consent))
	for p, s := range in.Resource.Consent {
		consent[p] = s
	}
	sources := make([]any, len(in.Resource.Sources))
	for i, s := range in.Resource.Sources {
		ps := make([]any, len(s.Purposes))
		for j, p := range s.Purposes {
			ps[j] = p
		}
		sources[i] = map[string]any{"name": s.Name, "department": s.Department, "legal_basis": s.LegalBasis, "purposes": ps}
	}
	return map[string]any{
		"principal": map[string]any{
			"kind": string(in.Principal.Kind), "id": in.Principal.ID,
			"department": in.Principal.Department, "roles": roles,
		},
		"action":   in.Action,
		"purpose":  in.Purpose,
		"purposes": purposes,
		"resource": map[string]any{
			"profile_id": in.Resource.ProfileID, "self": in.Resource.Self, "consent": consent,
			"restricted": in.Resource.Restricted, "legal_hold": in.Resource.LegalHold, "sources": sources,
		},
	}
}
