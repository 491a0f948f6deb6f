package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/cdp-project/cdp/auth"
)

// TestRegoUnitTests runs the policy's own test_ rules with OPA's tester.
func TestRegoUnitTests(t *testing.T) {
	results, err := tester.Run(context.Background(), "rego")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 10 {
		t.Fatalf("only %d Rego tests ran", len(results))
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("Rego test %s failed: %v", r.Name, r.Error)
		}
	}
}

var catalogue = map[string]Purpose{
	"support":      {LegalBasis: "contract"},
	"marketing":    {LegalBasis: "consent", RequiresConsent: true, AllowsObjection: true},
	"legal_claims": {LegalBasis: "legal_obligation"},
}

func input(roles []auth.Role, purpose string, consent map[string]string) Input {
	return Input{
		Principal: auth.Principal{Kind: auth.Staff, ID: "alice", Department: "support", Roles: roles},
		Action:    "read",
		Purpose:   purpose,
		Purposes:  catalogue,
		Resource: Resource{ProfileID: "p1", Consent: consent, Sources: []Source{
			{Name: "billing", LegalBasis: "contract"},
			{Name: "newsletter", LegalBasis: "consent", Purposes: []string{"marketing"}},
		}},
	}
}

func TestDecide(t *testing.T) {
	e, err := Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      Input
		allow   bool
		fields  string
		sources string
	}{
		{"support reads contact details", input([]auth.Role{auth.RoleReader}, "support", nil), true,
			"address_line2,city,country,email,family_name,full_name,given_name,phone,postcode,region,source_id,street", "billing"},
		{"marketing without consent", input([]auth.Role{auth.RoleReader}, "marketing", map[string]string{"marketing": "withdrawn"}), false, "", ""},
		{"marketing with consent", input([]auth.Role{auth.RoleReader}, "marketing", map[string]string{"marketing": "granted"}), true,
			"email,family_name,full_name,given_name", "billing,newsletter"},
		{"a reader may not claim legal claims", input([]auth.Role{auth.RoleReader}, "legal_claims", nil), false, "", ""},
		{"the DPO may", input([]auth.Role{auth.RoleDPO}, "legal_claims", nil), true,
			"address_line2,birth_date,city,country,email,extra,family_name,full_name,gender,given_name,national_id,phone,postcode,region,source_id,street", "billing"},
		{"unknown purpose", input([]auth.Role{auth.RoleDPO}, "curiosity", nil), false, "", ""},
		{"an ingest token reads nothing", input([]auth.Role{auth.RoleIngest}, "support", nil), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || strings.Join(d.Fields, ",") != tt.fields || strings.Join(d.Sources, ",") != tt.sources {
				t.Errorf("decision %+v; want allow %v fields %q sources %q", d, tt.allow, tt.fields, tt.sources)
			}
			if d.ID == "" || d.Revision != e.Revision() || d.Reason == "" {
				t.Errorf("decision lacks id, revision or reason: %+v", d)
			}
			if !d.Allow && (len(d.Fields) > 0 || len(d.Sources) > 0) {
				t.Error("a denial names fields")
			}
		})
	}
	d, _ := e.Decide(context.Background(), input([]auth.Role{auth.RoleReader}, "support", nil))
	if !d.AllowsField("email") || d.AllowsField("national_id") || !d.AllowsSource("billing") || d.AllowsSource("newsletter") {
		t.Errorf("AllowsField/AllowsSource disagree with %+v", d)
	}
}

func TestOverrideDirectoryAndFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A policy that allows everything with one field.
	os.WriteFile(filepath.Join(dir, "open.rego"), []byte(`package cdp.access
import rego.v1
decision := {"allow": true, "fields": ["email"], "sources": ["x"], "reason": "open"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "open_test.rego"), []byte("this is not rego, and tests are not loaded"), 0o644)
	e, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	embeddedEngine, _ := Load(ctx, "")
	if e.Revision() == embeddedEngine.Revision() || e.Origin() != dir {
		t.Error("the override has the embedded revision")
	}
	d, err := e.Decide(ctx, input(nil, "support", nil))
	if err != nil || !d.Allow || d.Reason != "open" {
		t.Fatalf("override decision %+v, %v", d, err)
	}

	// A policy whose decision is undefined denies.
	os.WriteFile(filepath.Join(dir, "open.rego"), []byte("package cdp.access\nimport rego.v1\ndecision := 1 if { false }\n"), 0o644)
	e, err = Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e.Decide(ctx, input(nil, "support", nil)); !errors.Is(err, ErrPolicy) || d.Allow {
		t.Fatalf("undefined decision: %+v, %v", d, err)
	}
	// A policy of the wrong shape denies.
	os.WriteFile(filepath.Join(dir, "open.rego"), []byte("package cdp.access\nimport rego.v1\ndecision := true\n"), 0o644)
	e, _ = Load(ctx, dir)
	if d, err := e.Decide(ctx, input(nil, "support", nil)); !errors.Is(err, ErrPolicy) || d.Allow {
		t.Fatalf("boolean decision: %+v, %v", d, err)
	}
	// A policy that calls out does not compile.
	os.WriteFile(filepath.Join(dir, "open.rego"), []byte(`package cdp.access
import rego.v1
decision := http.send({"method": "get", "url": "http://example.com"})
`), 0o644)
	if _, err := Load(ctx, dir); !errors.Is(err, ErrPolicy) {
		t.Fatalf("http.send policy loaded: %v", err)
	}
	// A broken policy does not load.
	os.WriteFile(filepath.Join(dir, "open.rego"), []byte("package cdp.access\ndecision := {"), 0o644)
	if _, err := Load(ctx, dir); !errors.Is(err, ErrPolicy) {
		t.Fatalf("broken policy: %v", err)
	}
	if _, err := Load(ctx, t.TempDir()); !errors.Is(err, ErrPolicy) {
		t.Fatalf("empty directory: %v", err)
	}
}

func TestMemoIsExact(t *testing.T) {
	ctx := context.Background()
	e, err := Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.memo == nil || e.memo.use.profileID || e.memo.use.principalID {
		t.Fatalf("the embedded policy reads no profile or principal id, so it is memoised without them: %+v", e.memo)
	}
	in := input([]auth.Role{auth.RoleReader}, "marketing", map[string]string{"marketing": "granted"})
	first, _ := e.Decide(ctx, in)
	in.Resource.ProfileID, in.Principal.ID = "p2", "bob"
	second, _ := e.Decide(ctx, in)
	if evaluated, memoised := e.Stats(); evaluated != 1 || memoised != 1 {
		t.Fatalf("stats %d evaluated, %d memoised", evaluated, memoised)
	}
	if first.ID == second.ID || strings.Join(first.Fields, ",") != strings.Join(second.Fields, ",") || !second.Allow {
		t.Errorf("memoised decision %+v after %+v", second, first)
	}
	// Anything the decision depends on is in the key.
	in.Resource.Consent = map[string]string{"marketing": "withdrawn"}
	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Error("a withdrawn consent got the memoised allow")
	}
	in.Resource.Consent = map[string]string{"marketing": "granted"}
	in.Principal.Roles = []auth.Role{auth.RoleIngest}
	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Error("another role got the memoised allow")
	}
	in.Principal.Roles = []auth.Role{auth.RoleReader}
	in.Purposes = map[string]Purpose{"marketing": {LegalBasis: "consent", RequiresConsent: true, AllowsObjection: true, Departments: []string{"marketing"}}}
	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Error("a purpose bound to another department got the memoised allow")
	}

	dir := t.TempDir()
	write := func(src string) *Engine {
		t.Helper()
		os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package cdp.access\nimport rego.v1\n"+src), 0o644)
		e, err := Load(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// A policy that reads the profile id keys its memo by it.
	e = write(`decision := {"allow": input.resource.profile_id == "p1", "fields": ["email"], "sources": [], "reason": "only p1"}`)
	in.Resource.ProfileID = "p1"
	if d, _ := e.Decide(ctx, in); !d.Allow {
		t.Fatal("p1 denied")
	}
	in.Resource.ProfileID = "p2"
	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Error("p2 got p1's decision")
	}
	for name, src := range map[string]string{
		"whole input": `decision := {"allow": count(input) > 0, "fields": [], "sources": [], "reason": "x"}`,
		"input value": "x := input\ndecision := {\"allow\": x.resource.profile_id == \"p1\", \"fields\": [], \"sources\": [], \"reason\": \"x\"}",
		"dynamic key": "k := \"resource\"\ndecision := {\"allow\": input[k].profile_id == \"p1\", \"fields\": [], \"sources\": [], \"reason\": \"x\"}",
		"time":        `decision := {"allow": time.now_ns() > 0, "fields": [], "sources": [], "reason": "x"}`,
	} {
		if e := write(src); e.memo != nil {
			t.Errorf("%s: a policy that may depend on more than the key is memoised", name)
		}
	}
}

// BenchmarkEvaluate measures one evaluation of the embedded policy by
// OPA; BenchmarkDecide a decision whose input was decided before (the
// memo).
func BenchmarkEvaluate(b *testing.B) { benchDecide(b, WithoutMemo()) }

func BenchmarkDecide(b *testing.B) { benchDecide(b) }

func benchDecide(b *testing.B, opts ...Option) {
	e, err := Load(context.Background(), "", opts...)
	if err != nil {
		b.Fatal(err)
	}
	in := input([]auth.Role{auth.RoleReader}, "marketing", map[string]string{"marketing": "granted"})
	b.ReportAllocs()
	for b.Loop() {
		if d, err := e.Decide(context.Background(), in); err != nil || !d.Allow {
			b.Fatal(d, err)
		}
	}
}
