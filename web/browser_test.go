package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/internal/browsertest"
	"github.com/cdp-project/cdp/internal/kratostest"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/web"
)

// site is the whole product as `cdp serve` wires it, on a real database,
// a real Kratos whose UI is these pages, and the real policy.
type site struct {
	url     string
	admin   *kratos.Admin
	app     *app.App
	owner   string
	mailbox *web.Mailbox
	tokens  map[string]string
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, false)
}

// newSiteWith is newSite; secondFactor makes readers, stewards and the DPO sign
// in to the console with TOTP.
func newSiteWith(t *testing.T, secondFactor bool) *site {
	t.Helper()
	ctx := context.Background()
	db, _, owner := pgtest.NewAppStore(t)
	v := pgtest.NewVault(t, db)
	pgtest.AddSources(t, db,
		identity.Source{Name: "sales", Department: "sales", Priority: 70, LegalBasis: "contract"},
		identity.Source{Name: "newsletter", Department: "marketing", Priority: 50, LegalBasis: "consent", Purposes: []string{"marketing"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	var tok [16]byte
	rand.Read(tok[:])
	mailToken := hex.EncodeToString(tok[:])
	k := kratostest.StartUI(t, url, mailToken)
	kc, err := kratos.New(k.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	a, err := app.New(app.Config{DB: db, Vault: v, Policy: pol, AuditKey: key, Normalizer: identity.Normalizer{DefaultRegion: "GB"},
		Jobs: jobs.Options{SweepEvery: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()); a.Close() })
	box := web.NewMailbox(mailToken)
	pages, err := web.New(web.Config{Access: a.Access, Requests: a.Requests, Profiling: a.Profiling, Kratos: kc, Mailbox: box, StaffSecondFactor: secondFactor,
		Chain: a.Chain})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(a.HTTP(httpapi.Config{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Sessions: kc, Pages: pages}))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	admin, err := kratos.NewAdmin(k.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{url: url, app: a, owner: owner, mailbox: box, tokens: map[string]string{}, admin: admin}
	for name, spec := range map[string]struct {
		dept  string
		roles []auth.Role
	}{
		"marketing-reader": {"marketing", []auth.Role{auth.RoleReader}},
		"dpo":              {"legal", []auth.Role{auth.RoleDPO}},
	} {
		tk, cred, err := auth.NewToken(name, spec.dept, spec.roles, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
		s.tokens[name] = cred
	}
	return s
}

// api calls the API with a token.
func (s *site) api(t *testing.T, method, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// code is the newest code the mailbox holds for an address.
func (s *site) code(t *testing.T, to string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, m := range s.mailbox.Mail() {
			if m.To == to && m.Code != "" {
				return m.Code
			}
		}
	}
	t.Fatalf("no mail with a code for %s", to)
	return ""
}

// page checks a page the journey reaches: its status, axe-core's verdict,
// and a screenshot for the reviewer.
func page(t *testing.T, b *browsertest.Browser, name string, status, want int) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: status %d, want %d at %s", name, status, want, b.Location(t))
	}
	b.Axe(t, name)
	b.Shot(t, name)
}

// The whole journey of a customer, in a real browser: register, verify
// with the code from the mailbox, see exactly their own data, grant then
// withdraw marketing consent (a department's marketing read answers 404
// right after), make an access request, have it approved, download the
// export, see who used their data, and sign out; every page accessible.
func TestPrivacyCenterJourney(t *testing.T) {
	s := newSite(t)
	email := "ada.quinlan@example.org"
	// Theirs: sales and the newsletter hold their address. A stranger's
	// record shares their family name, not their address.
	profiles := pgtest.Keep(t, s.app.DB, s.app.Vault,
		pgtest.Person("sales", "s-1", "Ada", "Quinlan", email, identity.Phone, "+44 7700 900123"),
		pgtest.Person("newsletter", "n-1", "Ada", "Quinlan", email),
		pgtest.Person("sales", "s-2", "Bertram", "Quinlan", "b.quinlan@example.net", identity.Phone, "+44 7700 900999"),
	)
	mine := profiles[0]

	b := browsertest.New(t)
	page(t, b, "home", b.Navigate(t, s.url+"/privacy/"), 200)
	page(t, b, "registration", b.ClickAndWait(t, `a[href="/privacy/registration"]`), 200)
	b.SetValue(t, `input[name="traits.email"]`, email)
	b.SetValue(t, `input[name="traits.name.first"]`, "Ada")
	b.SetValue(t, `input[name="traits.name.last"]`, "Quinlan")
	b.SetValue(t, `input[name="password"]`, "correct horse battery staple 42")
	b.ClickAndWait(t, `button[name="method"][value="password"]`)
	if loc := b.Location(t); !strings.Contains(loc, "/privacy/verification") {
		t.Fatalf("after registration at %s, want the verification page", loc)
	}
	page(t, b, "verification", 200, 200)
	b.SetValue(t, `input[name="code"]`, s.code(t, email))
	b.ClickAndWait(t, `button[name="method"][value="code"]`)
	page(t, b, "verified", 200, 200)

	// My data: theirs, none of the stranger's.
	page(t, b, "data", b.Navigate(t, s.url+"/privacy/data"), 200)
	html := b.HTML(t)
	for _, want := range []string{"Quinlan", "+44 7700 900123", "sales", "marketing"} {
		if !strings.Contains(html, want) {
			t.Errorf("my data lacks %q", want)
		}
	}
	for _, stranger := range []string{"Bertram", "900999", "b.quinlan"} {
		if strings.Contains(html, stranger) {
			t.Errorf("my data shows the stranger's %q", stranger)
		}
	}

	// This isn't me: the customer disputes a record they are shown; a
	// steward splits it out; the page shows the outcome.
	b.ClickAndWait(t, `form[action$="/dispute"] button`)
	page(t, b, "data-disputed", 200, 200)
	steward := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "steward", Department: "support", Roles: []auth.Role{auth.RoleSteward}}}
	open, _, err := s.app.Access.Disputes(context.Background(), steward, 10)
	if err != nil || len(open) != 1 {
		t.Fatalf("the stewards' disputes: %v %v", open, err)
	}
	if _, err := s.app.Access.SettleDispute(context.Background(), steward, open[0].ID, true, "the customer says it is not theirs"); err != nil {
		t.Fatal(err)
	}
	b.Navigate(t, s.url+"/privacy/data")
	if !strings.Contains(b.HTML(t), "no longer counts as yours") {
		t.Error("the data page does not show the dispute's outcome")
	}

	// Consent: granted, a marketing read is allowed; withdrawn, it is not.
	// The DPO named the marketing department for marketing: the page
	// says who uses the data (Art. 13(1)(e)).
	namer := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dpo", Department: "legal", Roles: []auth.Role{auth.RoleDPO}}}
	ps, err := s.app.Access.Purposes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.ID == "marketing" {
			change := access.ChangeOf(p)
			change.Departments = []string{"marketing"}
			if _, err := s.app.Access.SavePurpose(context.Background(), namer, change, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	page(t, b, "consents", b.Navigate(t, s.url+"/privacy/consents"), 200)
	if !strings.Contains(b.HTML(t), "departments that use it: marketing") {
		t.Error("the consents page does not say which departments use the data for marketing")
	}
	b.ClickAndWait(t, `form:has(input[name="purpose"][value="marketing"]) button`)
	if got := s.api(t, "GET", "/v1/profiles/"+mine.String()+"?purpose=marketing", s.tokens["marketing-reader"]); got != 200 {
		t.Fatalf("marketing read after the grant: %d, want 200", got)
	}
	page(t, b, "consents-granted", 200, 200)
	b.ClickAndWait(t, `form:has(input[name="purpose"][value="marketing"]) button`)
	if got := s.api(t, "GET", "/v1/profiles/"+mine.String()+"?purpose=marketing", s.tokens["marketing-reader"]); got != 404 {
		t.Fatalf("marketing read right after the withdrawal: %d, want 404", got)
	}

	// An access request, approved by the DPO, its export downloaded.
	page(t, b, "requests", b.Navigate(t, s.url+"/privacy/requests"), 200)
	b.Click(t, `input[name="type"][value="access"]`)
	b.ClickAndWait(t, `form[action="/privacy/requests"] button[type="submit"]`)
	loc := b.Location(t)
	id, err := uuid.Parse(strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], s.url+"/privacy/requests/"))
	if err != nil {
		t.Fatalf("after the request at %s: %v", loc, err)
	}
	page(t, b, "request", 200, 200)
	dpo := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dpo", Department: "legal", Roles: []auth.Role{auth.RoleDPO}}}
	if _, err := s.app.Requests.Take(context.Background(), dpo, id, requests.Step{Action: "approve"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		v, err := s.app.Requests.GetRequest(context.Background(), dpo, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.State == dsr.Completed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s still %s", id, v.State)
		}
	}
	page(t, b, "request-completed", b.Navigate(t, loc), 200)
	body, status := s.fetch(t, b, "/privacy/requests/"+id.String()+"/export.json")
	var x access.Export
	if status != 200 || json.Unmarshal(body, &x) != nil || len(x.Records) != 1 { // the other was split out
		t.Fatalf("export: %d, %d records: %.300s", status, len(x.Records), body)
	}
	if strings.Contains(string(body), "Bertram") {
		t.Fatal("the export holds the stranger's data")
	}

	// A request withdrawn before work began.
	b.Navigate(t, s.url+"/privacy/requests")
	b.Click(t, `input[name="type"][value="restriction"]`)
	b.ClickAndWait(t, `form[action="/privacy/requests"] button[type="submit"]`)
	b.ClickAndWait(t, `form[action$="/withdraw"] button`)
	page(t, b, "request-withdrawn", 200, 200)
	if !strings.Contains(b.HTML(t), "withdrawn") {
		t.Error("the withdrawn request does not say so")
	}

	// My contacts: an order the shop reported.
	im := crm.Importer{Vault: s.app.Vault, Store: s.app.DB}
	if _, err := im.Import(context.Background(), func(fn func(crm.Input) error) error {
		return crm.ReadCSV(strings.NewReader("source,source_id,record_source_id,type,channel,occurred_at,amount,currency,note\n"+
			"sales,o-77,s-1,order,web,2026-11-20T09:30:00Z,42.50,GBP,blue umbrella\n"), fn)
	}, nil); err != nil {
		t.Fatal(err)
	}
	page(t, b, "timeline", b.Navigate(t, s.url+"/privacy/timeline"), 200)
	if !strings.Contains(b.HTML(t), "blue umbrella") {
		t.Error("my contacts does not show the order")
	}

	// What is worked out about them: their figures and the logic; they
	// object, and nothing is left.
	dpoReq := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dana", Department: "compliance", Roles: []auth.Role{auth.RoleDPO}}}
	if _, err := s.app.Profiling.Compute(context.Background(), dpoReq); err != nil {
		t.Fatal(err)
	}
	page(t, b, "profiling", b.Navigate(t, s.url+"/privacy/profiling"), 200)
	if html := b.HTML(t); !strings.Contains(html, "42.50") || !strings.Contains(html, "How this works") {
		t.Error("the profiling page does not show the customer's figures and the logic")
	}
	b.ClickAndWait(t, `form[action="/privacy/consents"] input[value="objected"] ~ button`)
	page(t, b, "profiling-objected", 200, 200)
	if html := b.HTML(t); !strings.Contains(html, "You objected to profiling") || strings.Contains(html, "42.50") {
		t.Error("after the objection the page still shows figures, or does not say so")
	}
	if n := pgtest.Count(t, s.owner, "SELECT count(*) FROM profile_traits WHERE profile_id = $1", [16]byte(mine)); n != 0 {
		t.Error("traits kept after the objection")
	}

	// Who used my data: their own reads at least.
	page(t, b, "reads", b.Navigate(t, s.url+"/privacy/reads"), 200)
	if !strings.Contains(b.HTML(t), "<td>You</td>") {
		t.Error("who used my data does not list the customer's own reads")
	}

	// Account settings: password and the second factor (TOTP, its QR
	// code an image the CSP allows).
	page(t, b, "settings", b.Navigate(t, s.url+"/privacy/settings"), 200)
	if html := b.HTML(t); !strings.Contains(html, `name="totp_code"`) || !strings.Contains(html, `src="data:image/png;base64,`) {
		t.Error("the settings page offers no authenticator app set-up")
	}

	// Someone else's request looks like none.
	page(t, b, "not-found", b.Navigate(t, s.url+"/privacy/requests/"+uuid.NewString()), 404)

	// German, chosen on the page.
	b.Navigate(t, s.url+"/privacy/data")
	page(t, b, "data-de", b.ClickAndWait(t, `a[hreflang="de"]`), 200)
	if !strings.Contains(b.HTML(t), "Meine Daten") {
		t.Error("the German page is not in German")
	}

	// A form posted from another site is refused, even with the session.
	if _, status := s.post(t, b, "/privacy/consents", "http://evil.example"); status != http.StatusForbidden {
		t.Errorf("cross-site consent post: %d, want 403", status)
	}

	// Signing out is a form: a link of another site (a GET) only asks.
	page(t, b, "logout", b.Navigate(t, s.url+"/privacy/logout"), 200)
	if !strings.Contains(b.HTML(t), `name="csrf"`) {
		t.Error("the sign-out page has no form with the session's token")
	}
	if _, status := s.post(t, b, "/privacy/logout", "http://evil.example"); status != http.StatusForbidden {
		t.Errorf("cross-site sign-out: %d, want 403", status)
	}
	// Sign out from the header: the pages ask to sign in again.
	b.Navigate(t, s.url+"/privacy/")
	b.ClickAndWait(t, `header form[action="/privacy/logout"] button`)
	page(t, b, "signed-out", b.Navigate(t, s.url+"/privacy/"), 200)
	if !strings.Contains(b.HTML(t), `href="/privacy/login"`) {
		t.Error("signed out, the front page does not offer to sign in")
	}
	page(t, b, "login", b.ClickAndWait(t, `a[href="/privacy/login"]`), 200)
	page(t, b, "recovery", b.ClickAndWait(t, `a[href="/privacy/recovery"]`), 200)
}

// cookies are the browser's cookies for the site.
func (s *site) cookies(t *testing.T, b *browsertest.Browser) []*http.Cookie {
	t.Helper()
	res := browsertest.Get(t, b, chromedp.Action[network.GetCookiesResult](func(ctx context.Context, _ *chromedp.Target) (network.GetCookiesResult, error) {
		return chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.url}})
	}))
	var out []*http.Cookie
	for _, c := range res.Cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// fetch downloads a page with the browser's cookies.
func (s *site) fetch(t *testing.T, b *browsertest.Browser, path string) ([]byte, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	return s.send(t, b, req)
}

// post sends a consent form with the browser's cookies, from origin.
func (s *site) post(t *testing.T, b *browsertest.Browser, path, origin string) ([]byte, int) {
	t.Helper()
	return s.postForm(t, b, path, "purpose=marketing&state=granted", origin)
}

// postForm sends a form with the browser's cookies, from origin.
func (s *site) postForm(t *testing.T, b *browsertest.Browser, path, form, origin string) ([]byte, int) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	return s.send(t, b, req)
}

// send sends a request with the browser's cookies.
func (s *site) send(t *testing.T, b *browsertest.Browser, req *http.Request) ([]byte, int) {
	t.Helper()
	for _, c := range s.cookies(t, b) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return body, resp.StatusCode
}
