package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/internal/kratostest"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/vault"
	"github.com/cdp-project/cdp/webhook"
)

type env struct {
	t      *testing.T
	srv    *httpapi.Server
	url    string
	db     *postgres.DB // the service's role
	owner  string       // the schema owner's URL, to simulate damage
	audit  *audit.Writer
	logs   *pgtest.Buffer
	tokens map[string]string // by name
	kratos *kratostest.Server
	vault  *vault.Vault
	pub    ed25519.PublicKey // of the audit checkpoints
}

// newEnv serves the whole API as production wires it: the service's
// database role, the embedded policy, the audit writer, the resolver.
func newEnv(t *testing.T, ready ...httpapi.Check) *env {
	t.Helper()
	return newEnvWith(t, nil, ready...)
}

// newEnvWith is newEnv with the application's configuration adjusted.
func newEnvWith(t *testing.T, configure func(*app.Config), ready ...httpapi.Check) *env {
	t.Helper()
	return buildEnv(t, configure, false, ready...)
}

// newEnvDeletingAccounts is newEnv whose erasures delete customers' Kratos
// accounts. The Kratos is shared by the tests of the process: a test
// using it erases customers of addresses of its own.
func newEnvDeletingAccounts(t *testing.T) *env {
	t.Helper()
	return buildEnv(t, nil, true)
}

func buildEnv(t *testing.T, configure func(*app.Config), deleteAccounts bool, ready ...httpapi.Check) *env {
	t.Helper()
	db, _, owner := pgtest.NewAppStore(t)
	ctx := context.Background()
	v := pgtest.NewVault(t, db)
	for _, s := range []identity.Source{
		{Name: "sales", Department: "sales", Priority: 70},
		{Name: "billing", Department: "billing", Priority: 90, UniqueRecords: true},
		{Name: "newsletter", Department: "marketing", Priority: 50, LegalBasis: "consent", Purposes: []string{"marketing"}},
	} {
		if _, err := db.AddSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, db: db, owner: owner, logs: &pgtest.Buffer{}, tokens: map[string]string{}}
	for name, spec := range map[string]struct {
		dept  string
		roles []auth.Role
	}{
		"sales-ingest":     {"sales", []auth.Role{auth.RoleIngest}},
		"sales-reader":     {"sales", []auth.Role{auth.RoleReader}},
		"billing-ingest":   {"billing", []auth.Role{auth.RoleIngest}},
		"marketing-ingest": {"marketing", []auth.Role{auth.RoleIngest}},
		"support-reader":   {"support", []auth.Role{auth.RoleReader}},
		"marketing-reader": {"marketing", []auth.Role{auth.RoleReader}},
		"steward":          {"support", []auth.Role{auth.RoleSteward}},
		"dpo":              {"legal", []auth.Role{auth.RoleDPO}},
		"all-roles":        {"sales", auth.Roles()},
	} {
		tok, cred, err := auth.NewToken(name, spec.dept, spec.roles, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = cred
	}
	expired, cred, _ := auth.NewToken("old", "sales", []auth.Role{auth.RoleIngest}, time.Nanosecond)
	db.CreateToken(ctx, expired)
	e.tokens["expired"] = cred

	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	pub, signer, _ := ed25519.GenerateKey(rand.Reader)
	e.vault, e.pub = v, pub
	e.kratos = kratostest.Start(t)
	sessions, err := kratos.New(e.kratos.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	if ready == nil {
		ready = []httpapi.Check{{Name: "database", Check: db.Ping}}
	}
	acfg := app.Config{
		DB: db, Vault: v, Policy: pol, AuditKey: signer, Normalizer: identity.Normalizer{DefaultRegion: "GB"},
		Sender: webhook.NewClient(webhook.Options{AllowLocal: true}),
		Jobs: jobs.Options{RetentionEvery: time.Second, SweepEvery: time.Hour,
			Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
	}
	if deleteAccounts {
		if acfg.Accounts, err = kratos.NewAdmin(e.kratos.AdminURL); err != nil {
			t.Fatal(err)
		}
	}
	if configure != nil {
		configure(&acfg)
	}
	a, err := app.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	e.audit = a.Audit
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	cfg := a.HTTP(httpapi.Config{
		Log:      slog.New(slog.NewJSONHandler(e.logs, nil)),
		Registry: prometheus.NewRegistry(),
		Ready:    ready,
		// A small limit to test oversized bodies.
		MaxBodyBytes: 64 << 10,
		Sessions:     sessions,
	})
	e.srv = httpapi.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(ln)
	t.Cleanup(func() {
		e.srv.Shutdown(context.Background())
		e.audit.Close()
	})
	e.url = "http://" + ln.Addr().String()
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

func (e *env) do(method, path, token, contentType string, body string) response {
	e.t.Helper()
	req := e.request(method, path, token)
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	header := req.Header.Clone()
	r := e.send(req)
	checkContract(e.t, method, e.url+path, header, body, r)
	return r
}

// request builds a request with a staff token or, for a token of Kratos's
// form, a customer's session.
func (e *env) request(method, path, token string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(token, "ory_st_"):
		req.Header.Set("X-Session-Token", token)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Line   int    `json:"line"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func (e *env) wantProblem(r response, status int, typ string) problem {
	return wantProblem(e.t, r, status, typ)
}

func wantProblem(t *testing.T, r response, status int, typ string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	var p problem
	r.json(t, &p)
	if p.Type != typ || p.Status != status || p.Title == "" || p.RequestID == "" {
		t.Errorf("problem %+v, want type %s", p, typ)
	}
	return p
}

type ingestResponse struct {
	Summary map[string]int `json:"summary"`
	Results []struct {
		Line     int    `json:"line"`
		Status   string `json:"status"`
		RecordID string `json:"record_id"`
		Errors   []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"errors"`
	} `json:"results"`
}

func (e *env) recordCount() int64 {
	n, err := e.db.RecordCount(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestPostRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `[
		{"source":"sales","source_id":"S-1","given_name":"Anna","family_name":"Schmidt","email":"anna@example.com","birth_date":"31/02/1980"},
		{"source":"sales","given_name":"No Id"},
		{"source":"sales","source_id":"S-3","full_name":"Ben Jones","phone":"07700 900123","loyalty":"gold"}
	]`
	r := e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got ingestResponse
	r.json(t, &got)
	if got.Summary["created"] != 2 || got.Summary["rejected"] != 1 || len(got.Results) != 3 {
		t.Fatalf("response %s", r.body)
	}
	if got.Results[1].Status != "rejected" || got.Results[1].Line != 2 || got.Results[1].Errors[0].Field != "source_id" {
		t.Errorf("rejection %+v", got.Results[1])
	}
	if got.Results[0].RecordID == "" {
		t.Error("no record id for a created record")
	}
	// Re-sending is idempotent.
	r = e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", body)
	r.json(t, &got)
	if got.Summary["unchanged"] != 2 || got.Summary["created"] != 0 {
		t.Errorf("re-send: %s", r.body)
	}
	if n := e.recordCount(); n != 2 {
		t.Errorf("%d records stored, want 2", n)
	}
}

func TestPostRecordsNDJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"source_id":"1","given_name":"Anna"}` + "\n" + `{"source_id":"2",` + "\n" + `{"source_id":"3","given_name":"Carl"}`
	r := e.do("POST", "/v1/records?source=sales", e.tokens["sales-ingest"], "application/x-ndjson; charset=utf-8", body)
	var got ingestResponse
	r.json(t, &got)
	if r.status != 200 || got.Summary["created"] != 2 || got.Results[1].Status != "rejected" || got.Results[1].Line != 2 {
		t.Fatalf("status %d: %s\n%s", r.status, r.body, e.logs)
	}
}

func TestPostRecordsBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := `{"source":"sales","source_id":"1","given_name":"Anna"}`
	tests := []struct {
		name, token, ctype, body string
		status                   int
		typ                      string
	}{
		{"no token", "", "application/json", "[" + good + "]", 401, "/problems/unauthenticated"},
		{"garbage token", "cdp_nope", "application/json", "[" + good + "]", 401, "/problems/unauthenticated"},
		{"unknown token", "cdp_aaaaaaaaaaaa_" + strings.Repeat("A", 43), "application/json", "[" + good + "]", 401, "/problems/unauthenticated"},
		{"expired token", e.tokens["expired"], "application/json", "[" + good + "]", 401, "/problems/unauthenticated"},
		{"wrong role", e.tokens["sales-reader"], "application/json", "[" + good + "]", 403, "/problems/forbidden"},
		{"content type", e.tokens["sales-ingest"], "text/csv", "source,source_id\n", 415, "/problems/unsupported-media-type"},
		{"no content type", e.tokens["sales-ingest"], "", "[" + good + "]", 415, "/problems/unsupported-media-type"},
		{"invalid utf-8", e.tokens["sales-ingest"], "application/json", `[{"source":"sales","source_id":"1","given_name":"Zo` + "\xff" + `"}]`, 400, "/problems/invalid-utf8"},
		{"not an array", e.tokens["sales-ingest"], "application/json", good, 400, "/problems/malformed-body"},
		{"broken array", e.tokens["sales-ingest"], "application/json", "[" + good + ",", 400, "/problems/malformed-body"},
		{"unknown source", e.tokens["sales-ingest"], "application/json", `[` + good + `,{"source":"hr","source_id":"2","given_name":"B"}]`, 422, "/problems/unknown-source"},
		{"other department", e.tokens["billing-ingest"], "application/json", "[" + good + "]", 403, "/problems/forbidden-source"},
		{"bad source parameter", e.tokens["sales-ingest"], "application/json", "[" + good + "]", 400, "/problems/invalid-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1/records"
			if tt.name == "bad source parameter" {
				path += "?source=%20x"
			}
			r := e.do("POST", path, tt.token, tt.ctype, tt.body)
			p := wantProblem(t, r, tt.status, tt.typ)
			if strings.Contains(string(r.body), "Anna") || strings.Contains(string(r.body), "Zo") {
				t.Errorf("error body echoes a personal value: %s", r.body)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.typ == "/problems/unknown-source" && (len(p.Errors) != 1 || p.Errors[0].Line != 2) {
				t.Errorf("unknown source errors %+v, want line 2 named", p.Errors)
			}
		})
	}
	if n := e.recordCount(); n != 0 {
		t.Errorf("%d records written by rejected requests", n)
	}
}

// TestBodyTooLarge sends only the headers of an oversized request: the
// server must answer 413 from the declared length without reading the body.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/records HTTP/1.1\r\nHost: cdp\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n[", e.tokens["sales-ingest"], 1<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	wantProblem(t, response{status: resp.StatusCode, header: resp.Header, body: b}, 413, "/problems/body-too-large")
}

func TestTooManyRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("[")
	for i := range 10001 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{}`)
	}
	b.WriteString("]")
	// Within the byte limit of this test server (64 KiB)? No: 10001 "{}," is 30 KB.
	r := e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", b.String())
	e.wantProblem(r, 413, "/problems/too-many-records")
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("GET", "/healthz", "", "", ""); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	r := e.do("GET", "/readyz", "", "", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"database":"ok"`) {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", `[{"source":"sales","source_id":"1","given_name":"A"}]`)
	r = e.do("GET", "/metrics", "", "", "")
	for _, want := range []string{`cdp_http_requests_total{method="GET",route="/readyz",status="200"} 1`, `cdp_ingest_records_total{status="created"} 1`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if r := e.do("GET", "/openapi.yaml", "", "", ""); r.status != 200 || !bytes.Contains(r.body, []byte("/v1/records")) {
		t.Errorf("openapi %d", r.status)
	}
	e.wantProblem(e.do("GET", "/nowhere", "", "", ""), 404, "/problems/not-found")
}

func TestReadyzFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Check{Name: "keys", Check: func(context.Context) error { return errors.New("no key loaded") }})
	p := e.wantProblem(e.do("GET", "/readyz", "", "", ""), 503, "/problems/not-ready")
	if len(p.Errors) != 1 || p.Errors[0].Field != "keys" {
		t.Errorf("errors %+v", p.Errors)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.url+"/healthz", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID %q, want the caller's", got)
	}
	req.Header.Set("X-Request-ID", "evil\"id with spaces")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("X-Request-ID %q, want a fresh one", got)
	}
}

// TestLogsHoldNoPersonalData sends personal data through every path that
// logs, then searches the log for it.
func TestLogsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secrets := []string{"Wilhelmina", "Oyelaran-Brightwater", "wilhelmina.ob@example.org", "7700900987", "17 Quayside Lane"}
	body := `[{"source":"sales","source_id":"wilhelmina.ob@example.org","given_name":"Wilhelmina","family_name":"Oyelaran-Brightwater",` +
		`"email":"wilhelmina.ob@example.org","phone":"07700 900987","street":"17 Quayside Lane"},` +
		`{"source":"sales","source_id":"x","given_name":"Wilhelmina` + "\x01" + `"}]`
	e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", body)
	e.do("POST", "/v1/records?email=wilhelmina.ob@example.org", e.tokens["sales-ingest"], "application/json", body)
	e.do("POST", "/v1/records", e.tokens["billing-ingest"], "application/json", body)
	e.do("GET", "/v1/profiles?email=wilhelmina.ob@example.org", "", "", "")
	logs := e.logs.String()
	if testing.Verbose() {
		t.Log(logs)
	}
	if !strings.Contains(logs, `"route":"/v1/records"`) {
		t.Fatalf("no request logged: %s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log holds %q:\n%s", s, logs)
		}
	}
}
