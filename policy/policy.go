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
	"github.com/open-policy-agent/opa/v1/ast"
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
	memo     *memo // nil: every decision is evaluated
}

// Option tunes Load.
type Option func(*loadOptions)

type loadOptions struct{ noMemo bool }

// WithoutMemo evaluates every decision, even for an input decided before
// (for measuring the evaluation itself).
func WithoutMemo() Option { return func(o *loadOptions) { o.noMemo = true } }

// Load compiles the policy: the embedded files when dir is "", else every
// *.rego file of dir except tests (*_test.rego).
func Load(ctx context.Context, dir string, options ...Option) (*Engine, error) {
	var lo loadOptions
	for _, o := range options {
		o(&lo)
	}
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
	var parsed []*ast.Module
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
		if m, err := ast.ParseModuleWithOpts(filepath.Base(f), string(data), ast.ParserOptions{RegoVersion: ast.RegoV1}); err == nil {
			parsed = append(parsed, m)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no policy files in %s: %w", origin, ErrPolicy)
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile policy from %s: %w: %w", origin, ErrPolicy, err)
	}
	e := &Engine{query: q, revision: hex.EncodeToString(h.Sum(nil))[:16], origin: origin}
	if use := analyse(parsed); use.memoisable && len(parsed) == n && !lo.noMemo {
		e.memo = &memo{use: use, m: map[string]Decision{}}
	}
	return e, nil
}

// Stats reports how many decisions were evaluated and how many were
// answered from the memo of earlier identical inputs.
func (e *Engine) Stats() (evaluated, memoised int64) {
	if e.memo == nil {
		return 0, 0
	}
	return e.memo.misses.Load(), e.memo.hits.Load()
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
	// Departments are the only departments whose staff may declare the
	// purpose (empty: any), as the DPO named them.
	Departments []string
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
	// Record is, for record_consent, the record a statement is attached
	// to (nil otherwise).
	Record *RecordRef
}

// RecordRef names one record of a profile as the policy sees it.
type RecordRef struct {
	Source     string
	Department string
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
// Every decision gets its own id, also when its content comes from the
// memo of an identical input.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	id := uuid.Must(uuid.NewV7()).String()
	if e.memo == nil {
		return e.evaluate(ctx, in, id)
	}
	key := e.memo.key(&in)
	if d, ok := e.memo.get(key); ok {
		d.ID = id
		return d, nil
	}
	d, err := e.evaluate(ctx, in, id)
	if err == nil {
		e.memo.put(key, d)
	}
	return d, err
}

func (e *Engine) evaluate(ctx context.Context, in Input, id string) (Decision, error) {
	d := Decision{ID: id, Revision: e.revision, Reason: "policy error"}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(in.value()))
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
	fields, errF := stringList(obj["fields"])
	sources, errS := stringList(obj["sources"])
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

func stringList(v any) ([]string, error) {
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

// value builds the input as an OPA value directly: converting Go maps
// through JSON-like interfaces costs as much as a third of a decision.
func (in Input) value() ast.Value {
	str := ast.StringTerm
	roles := make([]*ast.Term, len(in.Principal.Roles))
	for i, r := range in.Principal.Roles {
		roles[i] = str(string(r))
	}
	purposes := ast.NewObject()
	for id, p := range in.Purposes {
		depts := make([]*ast.Term, len(p.Departments))
		for i, d := range p.Departments {
			depts[i] = str(d)
		}
		purposes.Insert(str(id), ast.ObjectTerm(
			ast.Item(str("legal_basis"), str(p.LegalBasis)),
			ast.Item(str("requires_consent"), ast.BooleanTerm(p.RequiresConsent)),
			ast.Item(str("allows_objection"), ast.BooleanTerm(p.AllowsObjection)),
			ast.Item(str("departments"), ast.ArrayTerm(depts...)),
		))
	}
	consent := ast.NewObject()
	for p, st := range in.Resource.Consent {
		consent.Insert(str(p), str(st))
	}
	sources := make([]*ast.Term, len(in.Resource.Sources))
	for i, s := range in.Resource.Sources {
		ps := make([]*ast.Term, len(s.Purposes))
		for j, p := range s.Purposes {
			ps[j] = str(p)
		}
		sources[i] = ast.ObjectTerm(
			ast.Item(str("name"), str(s.Name)),
			ast.Item(str("department"), str(s.Department)),
			ast.Item(str("legal_basis"), str(s.LegalBasis)),
			ast.Item(str("purposes"), ast.ArrayTerm(ps...)),
		)
	}
	resource := ast.NewObject(
		ast.Item(str("profile_id"), str(in.Resource.ProfileID)),
		ast.Item(str("self"), ast.BooleanTerm(in.Resource.Self)),
		ast.Item(str("consent"), ast.NewTerm(consent)),
		ast.Item(str("restricted"), ast.BooleanTerm(in.Resource.Restricted)),
		ast.Item(str("legal_hold"), ast.BooleanTerm(in.Resource.LegalHold)),
		ast.Item(str("sources"), ast.ArrayTerm(sources...)),
	)
	if r := in.Resource.Record; r != nil {
		resource.Insert(str("record"), ast.ObjectTerm(
			ast.Item(str("source"), str(r.Source)),
			ast.Item(str("department"), str(r.Department)),
		))
	}
	return ast.NewObject(
		ast.Item(str("principal"), ast.ObjectTerm(
			ast.Item(str("kind"), str(string(in.Principal.Kind))),
			ast.Item(str("id"), str(in.Principal.ID)),
			ast.Item(str("department"), str(in.Principal.Department)),
			ast.Item(str("roles"), ast.ArrayTerm(roles...)),
		)),
		ast.Item(str("action"), str(in.Action)),
		ast.Item(str("purpose"), str(in.Purpose)),
		ast.Item(str("purposes"), ast.NewTerm(purposes)),
		ast.Item(str("resource"), ast.NewTerm(resource)),
	)
}
