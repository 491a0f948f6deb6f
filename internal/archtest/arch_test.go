package archtest

import (
	"reflect"

	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/httpapi"
)

const module = "github.com/cdp-project/cdp"

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	Imports    []string
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// forbidden lists, per package, dependencies it must not have, directly or
// through others.
var forbidden = map[string][]string{
	// Domain packages: pure Go, testable in memory.
	"identity": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http"},
	"vault":    {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http"},
	"auth":     {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http"},
	"ingest":   {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http"},
	"derrors":  {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2"},
	"demo":     {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/identity"},
	"resolver": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http", module + "/postgres"},
	// Policy and audit decide and record; they neither store nor serve.
	"policy": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/postgres", module + "/vault"}, // OPA itself imports net/http; its network builtins are disabled
	"audit":  {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http", module + "/postgres", module + "/vault"},
	// The read path decides, opens and records; it neither stores nor
	// serves, and knows nothing of data-subject requests: they use it.
	"access": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/postgres", module + "/httpapi",
		module + "/requests", module + "/dsr", module + "/jobs"},
	// The request service goes through access for every person's data;
	// it neither stores nor serves.
	"requests": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/postgres", module + "/httpapi",
		module + "/jobs"},
	"consent": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http", module + "/postgres"},
	// The Kratos client asks Kratos about sessions; it stores and serves nothing.
	"kratos": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/postgres", module + "/access"},
	// Data-subject requests: the domain is pure, the job runner runs no SQL.
	"dsr":  {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http", module + "/postgres"},
	"jobs": {"github.com/gofiber/fiber/v2", module + "/postgres", module + "/httpapi", module + "/requests", module + "/access"},
	// The CRM's models and formats are pure: no store, no HTTP.
	"crm": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", "net/http", module + "/postgres"},
	// The CRM's service acts through access, like requests.
	"profiling": {"github.com/jackc/pgx/v5", "github.com/gofiber/fiber/v2", module + "/postgres", module + "/httpapi"},
	// The pages read through access and requests, like the API.
	"web": {"github.com/jackc/pgx/v5", module + "/postgres"},
	// The Kratos process manager runs programs; it speaks no SQL.
	"localkratos": {"github.com/jackc/pgx/v5", module + "/postgres"},
	// The HTTP layer never speaks SQL.
	"httpapi": {"github.com/jackc/pgx/v5", module + "/postgres"},
	// The store knows nothing of HTTP.
	"postgres": {"github.com/gofiber/fiber/v2", "net/http"},
	// The cluster manager runs programs, it speaks no SQL.
	"localpg": {"github.com/jackc/pgx/v5"},
}

func TestDependencyRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, dep := range forbidden[rel] {
			for _, d := range p.Deps {
				if d == dep || strings.HasPrefix(d, dep+"/") {
					t.Errorf("%s depends on %s (through %s)", rel, dep, d)
					break
				}
			}
		}
		// Only the store, its test helper, the job runner and the wiring
		// (app, the command) depend on pgx.
		if slices.Contains(p.Deps, "github.com/jackc/pgx/v5") &&
			!slices.Contains([]string{"postgres", "postgres/pgtest", "cmd/cdp", "jobs", "app"}, rel) {
			t.Errorf("%s depends on pgx: only package postgres speaks SQL", rel)
		}
		// Only the application builder wires: no other package (tests
		// aside) touches the store itself.
		for _, imp := range p.Imports {
			if imp == module+"/postgres" && !slices.Contains([]string{"app", "cmd/cdp", "postgres/pgtest"}, rel) {
				t.Errorf("%s imports postgres: only app (and the command) wire the store into the services", rel)
			}
		}
		// Only the HTTP layer, the pages and the wiring (app, the command)
		// depend on fiber.
		if slices.Contains(p.Deps, "github.com/gofiber/fiber/v2") && rel != "httpapi" && rel != "web" && rel != "cmd/cdp" && rel != "app" {
			t.Errorf("%s depends on fiber: only packages httpapi and web speak HTTP", rel)
		}
	}
}

func TestEveryPackageIsDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command "
		}
		if !strings.HasPrefix(p.Doc, strings.TrimSpace(want)) {
			t.Errorf("%s: package doc %q should start with %q", p.ImportPath, p.Doc, want)
		}
	}
}

// TestHTTPHoldsNoStores keeps the HTTP layer on services: its
// configuration names services (access, requests, the importer, the
// resolver, tokens, sessions), never a store to pass through.
func TestHTTPHoldsNoStores(t *testing.T) {
	typ := reflect.TypeOf(httpapi.Config{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if strings.HasSuffix(ft.Name(), "Store") || strings.HasSuffix(ft.PkgPath(), "/postgres") {
			t.Errorf("httpapi.Config.%s is a store (%s): give the server a service that holds it", f.Name, f.Type)
		}
	}
}
