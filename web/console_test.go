package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/internal/browsertest"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
)

// staffAccount makes a staff account with a grant; it returns its id.
func (s *site) staffAccount(t *testing.T, email, dept string, roles ...auth.Role) uuid.UUID {
	t.Helper()
	id, _, err := s.admin.StaffAccount(context.Background(), email, "Test "+string(roles[0]), "staff password 1984 gull")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.DB.GrantStaff(context.Background(), id, dept, roles, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return id
}

// signIn signs a browser in with a password, from a console page.
func (s *site) signIn(t *testing.T, b *browsertest.Browser, email, path string) {
	t.Helper()
	b.Navigate(t, s.url+path)
	b.SetValue(t, `input[name="identifier"]`, email)
	b.SetValue(t, `input[name="password"]`, "staff password 1984 gull")
	b.ClickAndWait(t, `button[name="method"][value="password"]`)
}

// The staff console in a real browser: a DPO sets up TOTP, signs in with
// it, approves an erasure from the queue and sees it complete, answers a
// breach question and downloads its CSV; a steward decides a review pair;
// a reader opens a profile for support without the national id, and for
// marketing sees nothing; a reader cannot reach the DPO's pages; a
// cross-site post is refused. Every page passes axe-core.
func TestStaffConsoleJourney(t *testing.T) {
	s := newSiteWith(t, true)
	ctx := context.Background()
	profiles := pgtest.Keep(t, s.app.DB, s.app.Vault,
		pgtest.Person("sales", "s-1", "Oswin", "Farthingale", "oswin.f@example.org", identity.NationalID, "QQ 98 76 54 A", identity.BirthDate, "1979-05-04"),
		pgtest.Person("sales", "s-2", "Perpetua", "Gallowglass", "p.gallowglass@example.org", identity.BirthDate, "1990-01-02"),
		pgtest.Person("sales", "s-3", "Quentin", "Marchbank", "q.marchbank@example.org"),
	)
	// A sign-up with a known name and another address waits for a steward.
	pgtest.Keep(t, s.app.DB, s.app.Vault, pgtest.Person("self_service", uuid.NewString(), "Perpetua", "Gallowglass", "perpetua@example.net",
		identity.BirthDate, "1990-01-02"))
	dpoReq := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "intake", Department: "legal", Roles: []auth.Role{auth.RoleDPO}}}
	erasure, err := s.app.Requests.NewRequest(ctx, dpoReq, requests.Intake{Type: dsr.Erasure, Profile: profiles[2],
		Verification: map[string]string{"method": "letter with signature"}})
	if err != nil {
		t.Fatal(err)
	}
	s.staffAccount(t, "dpo@corp.example", "compliance", auth.RoleDPO)
	reader := s.staffAccount(t, "reader@corp.example", "support", auth.RoleReader)
	s.staffAccount(t, "steward@corp.example", "support", auth.RoleSteward)

	// The DPO: password, then asked for the second factor they have not
	// set up; they set it up in their account settings, and sign in with
	// it.
	dpo := browsertest.New(t)
	s.signIn(t, dpo, "dpo@corp.example", "/console/")
	page(t, dpo, "console-second-factor-needed", 403, 403)
	s.withTOTP(t, dpo, "dpo@corp.example", "/console/")
	page(t, dpo, "console-overview", 200, 200)

	// The queue: the verified erasure, approved, carried out.
	page(t, dpo, "console-requests", dpo.Navigate(t, s.url+"/console/requests"), 200)
	page(t, dpo, "console-request", dpo.ClickAndWait(t, `a[href="/console/requests/`+erasure.ID.String()+`"]`), 200)
	dpo.ClickAndWait(t, `input[name="action"][value="approve"] ~ button`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		dpo.Navigate(t, s.url+"/console/requests/"+erasure.ID.String())
		if strings.Contains(dpo.HTML(t), "<dd>completed</dd>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the approved erasure did not complete")
		}
	}
	page(t, dpo, "console-request-completed", 200, 200)

	// The reader: support shows no national id; marketing shows nothing.
	// A reader reads people's data: the second factor too.
	rd := browsertest.New(t)
	s.signIn(t, rd, "reader@corp.example", "/console/profiles")
	if strings.Contains(rd.HTML(t), `name="purpose"`) {
		t.Error("a reader signed in with a password alone reaches the profile search")
	}
	s.withTOTP(t, rd, "reader@corp.example", "/console/profiles")
	page(t, rd, "console-profiles", 200, 200)
	// A search is a form posted with the session's token: what was
	// typed stays out of the address, the history and the server logs,
	// and a link with a name in its query searches nothing.
	if rd.Navigate(t, s.url+"/console/profiles?purpose=support&given_name=Oswin&family_name=Farthingale&birth_date=1979-05-04"); strings.Contains(rd.HTML(t), profiles[0].String()) {
		t.Error("a link with a name in its query ran a search")
	}
	if rd.Navigate(t, s.url+"/console/profiles?purpose=Call+0800+123456+now"); strings.Contains(rd.HTML(t), "0800") {
		t.Error("the page writes a text from its address as the purpose read for")
	}
	rd.Navigate(t, s.url+"/console/profiles?purpose=support")
	rd.SetValue(t, "#q-given", "Oswin")
	rd.SetValue(t, "#q-family", "Farthingale")
	rd.SetValue(t, "#q-birth", "1979-05-04")
	page(t, rd, "console-search", rd.ClickAndWait(t, "form.filters button[type=submit]"), 200)
	if loc := rd.Location(t); strings.Contains(loc, "Oswin") || strings.Contains(loc, "1979") {
		t.Errorf("the search put what was typed in the address: %s", loc)
	}
	// Support may not see the birth date: the agreement counts what it
	// may compare (2 of 3 fields).
	if html := rd.HTML(t); !strings.Contains(html, profiles[0].String()) || !strings.Contains(html, "67%") {
		t.Error("a search by name and birth date does not find the person with their agreement")
	}
	page(t, rd, "console-profile-support", rd.Navigate(t, s.url+"/console/profiles/"+profiles[0].String()+"?purpose=support"), 200)
	html := rd.HTML(t)
	if !strings.Contains(html, "Farthingale") || strings.Contains(html, "98 76 54") {
		t.Errorf("support view: want the name and no national id")
	}
	if !strings.Contains(html, "National id") {
		t.Error("support view does not say the national id was withheld")
	}
	page(t, rd, "console-profile-marketing", rd.Navigate(t, s.url+"/console/profiles/"+profiles[0].String()+"?purpose=marketing"), 404)
	if strings.Contains(rd.HTML(t), "Farthingale") {
		t.Error("marketing without consent sees the person")
	}
	if got := rd.Navigate(t, s.url+"/console/requests"); got != 404 {
		t.Errorf("a reader on the DPO's queue: %d, want 404", got)
	}
	if html := rd.HTML(t); !strings.Contains(html, `action="/privacy/logout"`) || !strings.Contains(html, "reader@corp.example") {
		t.Error("the error page of a signed-in staff member has no sign-out")
	}
	if got := rd.Navigate(t, s.url+"/console/breach"); got != 404 {
		t.Errorf("a reader on the breach questions: %d, want 404", got)
	}

	// The customer base: the DPO computes traits; the reader sees the
	// charts, is told why a condition does not compile, previews a
	// segment and creates it.
	im := crm.Importer{Vault: s.app.Vault, Store: s.app.DB}
	var orders strings.Builder
	orders.WriteString("source,source_id,record_source_id,type,channel,occurred_at,amount,currency\n")
	for k := 0; k < 6; k++ {
		fmt.Fprintf(&orders, "sales,o-%d,s-1,order,web,%s,%d.00,GBP\n", k, time.Now().AddDate(0, -k, -3).Format(time.DateOnly), 40+10*k)
	}
	orders.WriteString("sales,o-9,s-2,order,store," + time.Now().AddDate(0, -8, 0).Format(time.DateOnly) + ",15.00,GBP\n")
	if _, err := im.Import(ctx, func(fn func(crm.Input) error) error { return crm.ReadCSV(strings.NewReader(orders.String()), fn) }, nil); err != nil {
		t.Fatal(err)
	}
	dpo.Navigate(t, s.url+"/console/customers")
	page(t, dpo, "console-customers-queued", dpo.ClickAndWait(t, `form[action="/console/customers/compute"] button`), 200)
	if html := dpo.HTML(t); !strings.Contains(html, "The computation was queued") {
		t.Error("the DPO is not told the computation was queued")
	}
	// It runs as a job; the charts are its own once it is done.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		rd.Navigate(t, s.url+"/console/customers")
		if strings.Contains(rd.HTML(t), "<polyline") || time.Now().After(deadline) {
			break
		}
	}
	page(t, rd, "console-customers", rd.Navigate(t, s.url+"/console/customers"), 200)
	if html := rd.HTML(t); !strings.Contains(html, "<polyline") || !strings.Contains(html, "of revenue") {
		t.Error("the customers page draws no Pareto curve")
	}
	rd.SetValue(t, `#seg-name`, "loyal")
	rd.SetValue(t, `#seg-purpose`, "support")
	rd.SetValue(t, `#seg-condition`, `orders >= "three"`)
	rd.SetValue(t, `#seg-description`, "Customers with three orders or more")
	page(t, rd, "console-segment-invalid", rd.ClickAndWait(t, `button[name="do"][value="preview"]`), 422)
	if !strings.Contains(rd.HTML(t), "invalid condition") {
		t.Error("a condition that does not compile is not explained")
	}
	rd.SetValue(t, `#seg-condition`, "orders >= 3")
	page(t, rd, "console-segment-preview", rd.ClickAndWait(t, `button[name="do"][value="preview"]`), 200)
	if !strings.Contains(rd.HTML(t), "1 people would be in it") {
		t.Error("the preview does not count the one loyal customer")
	}
	page(t, rd, "console-segment", rd.ClickAndWait(t, `button[name="do"][value="create"]`), 200)
	if html := rd.HTML(t); !strings.Contains(html, profiles[0].String()) || strings.Contains(html, profiles[1].String()) {
		t.Error("the new segment does not hold exactly the loyal customer")
	}

	// An ingest role's console is its sources' import history, nothing
	// more.
	ing := browsertest.New(t)
	s.staffAccount(t, "ingest@corp.example", "sales", auth.RoleIngest)
	s.signIn(t, ing, "ingest@corp.example", "/console/imports")
	page(t, ing, "console-imports", 200, 200)
	if !strings.Contains(ing.HTML(t), "<td>sales</td>") {
		t.Error("the import history does not show the department's source")
	}
	if got := ing.Navigate(t, s.url+"/console/profiles"); got != 404 {
		t.Errorf("an ingest role on the profile search: %d, want 404", got)
	}

	// A breach question about the reader: the person they read, as CSV.
	page(t, dpo, "console-breach", dpo.Navigate(t, s.url+"/console/breach?principal=staff:"+reader.String()), 200)
	if html := dpo.HTML(t); !strings.Contains(html, "1 persons affected") {
		t.Errorf("breach by principal: want 1 person")
	}
	dpo.Navigate(t, s.url+"/console/breach?department=support")
	if !strings.Contains(dpo.HTML(t), "1 persons affected") {
		t.Errorf("breach by department: want 1 person")
	}
	dpo.Navigate(t, s.url+"/console/breach?principal=staff:"+reader.String())
	if !strings.Contains(dpo.HTML(t), "1 persons affected") {
		t.Errorf("breach summary: want 1 person")
	}
	body, status := s.fetch(t, dpo, "/console/breach.csv?principal=staff:"+reader.String())
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != 200 || err != nil || len(rows) != 2 || rows[1][0] != profiles[0].String() {
		t.Fatalf("breach CSV: %d %v %q", status, err, body)
	}
	// The audit log: a search, and the chain verified in the background.
	page(t, dpo, "console-audit", dpo.Navigate(t, s.url+"/console/audit?principal=staff:"+reader.String()), 200)
	dpo.ClickAndWait(t, `form[action="/console/audit/verify"] button`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		dpo.Navigate(t, s.url+"/console/audit")
		if strings.Contains(dpo.HTML(t), "intact:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chain's verification did not finish: %.2000s", dpo.HTML(t))
		}
	}
	page(t, dpo, "console-audit-verified", 200, 200)

	// Consent: the proof of a person, and a notice's new version published
	// after a look at what it changes.
	page(t, dpo, "console-consent", dpo.Navigate(t, s.url+"/console/consent?profile="+profiles[0].String()), 200)
	dpo.Run(t, chromedp.SetAttributeValue(chromedp.CSS(`details:has(form[action="/console/consent/notices/marketing"])`), "open", ""))
	dpo.SetValue(t, `#n-marketing`, "Newsletters and offers by email, at most once a week.")
	page(t, dpo, "console-notice-diff", dpo.ClickAndWait(t, `form[action="/console/consent/notices/marketing"] button`), 200)
	if !strings.Contains(dpo.HTML(t), "<ins>") {
		t.Error("the notice's preview shows no change")
	}
	dpo.ClickAndWait(t, `form[action="/console/consent/notices/marketing"] button[type="submit"]`)
	if n := pgtest.Count(t, s.owner, "SELECT count(*) FROM notices WHERE purpose = 'marketing'"); n != 2 {
		t.Errorf("%d marketing notices after publishing, want 2", n)
	}

	// The DPO names the departments of billing: the support reader, who
	// read under it before, is refused it now.
	if got := rd.Navigate(t, s.url+"/console/profiles/"+profiles[0].String()+"?purpose=billing"); got != 200 {
		t.Fatalf("the premise fails: the support reader under billing: %d", got)
	}
	dpo.Navigate(t, s.url+"/console/consent")
	dpo.Run(t, chromedp.SetAttributeValue(chromedp.CSS(`details:has(form[action="/console/consent/departments/billing"])`), "open", ""))
	dpo.SetValue(t, `#d-billing`, "Billing, sales")
	if got := dpo.ClickAndWait(t, `form[action="/console/consent/departments/billing"] button`); got != 422 {
		t.Errorf("departments with a capital letter: %d, want 422", got)
	}
	dpo.Navigate(t, s.url+"/console/consent")
	dpo.Run(t, chromedp.SetAttributeValue(chromedp.CSS(`details:has(form[action="/console/consent/departments/billing"])`), "open", ""))
	dpo.SetValue(t, `#d-billing`, "billing, sales")
	page(t, dpo, "console-purpose-departments", dpo.ClickAndWait(t, `form[action="/console/consent/departments/billing"] button`), 200)
	if n := pgtest.Count(t, s.owner, "SELECT count(*) FROM purposes WHERE id = 'billing' AND departments = '{billing,sales}'"); n != 1 {
		t.Error("the departments of billing were not saved")
	}
	if got := rd.Navigate(t, s.url+"/console/profiles/"+profiles[0].String()+"?purpose=billing"); got != 404 {
		t.Errorf("the support reader under billing, named for billing and sales: %d, want 404", got)
	}

	// Bulk: a preview says which requests an approval takes and which it
	// skips (an unverified one), then approves.
	unverified, err := s.app.Requests.NewRequest(ctx, dpoReq, requests.Intake{Type: dsr.Access, Profile: profiles[0]})
	if err != nil {
		t.Fatal(err)
	}
	verified, err := s.app.Requests.NewRequest(ctx, dpoReq, requests.Intake{Type: dsr.Access, Profile: profiles[1],
		Verification: map[string]string{"method": "video call"}})
	if err != nil {
		t.Fatal(err)
	}
	page(t, dpo, "console-bulk", dpo.Navigate(t, s.url+"/console/bulk?action=approve&type=access"), 200)
	if html := dpo.HTML(t); !strings.Contains(html, verified.ID.String()) || !strings.Contains(html, "not verified yet") ||
		!strings.Contains(html, unverified.ID.String()) {
		t.Fatal("the bulk preview does not list the request it takes and the one it skips with why")
	}
	// A request verified after the preview was shown is not in what the
	// DPO confirms (the web probe of 2026-12-04: the confirmation ran the
	// filter again and approved whatever matched then).
	newcomer := pgtest.Keep(t, s.app.DB, s.app.Vault, pgtest.Person("sales", "s-4", "Rosalind", "Thistlewood", "r.thistlewood@example.org"))
	late, err := s.app.Requests.NewRequest(ctx, dpoReq, requests.Intake{Type: dsr.Access, Profile: newcomer[0],
		Verification: map[string]string{"method": "video call"}})
	if err != nil {
		t.Fatal(err)
	}
	dpo.ClickAndWait(t, `form[action="/console/bulk"] button`)
	if v, err := s.app.Requests.GetRequest(ctx, dpoReq, verified.ID); err != nil || v.State == dsr.Verified {
		t.Errorf("bulk approval: the verified request is %v (%v)", v.State, err)
	}
	if v, err := s.app.Requests.GetRequest(ctx, dpoReq, late.ID); err != nil || v.State != dsr.Verified {
		t.Errorf("bulk approval took a request the DPO never saw: %v (%v)", v.State, err)
	}
	if v, _ := s.app.Requests.GetRequest(ctx, dpoReq, unverified.ID); v.State != dsr.Received {
		t.Errorf("bulk approval touched the unverified request: %s", v.State)
	}

	if _, status := s.postForm(t, dpo, "/console/requests/"+erasure.ID.String(), "action=approve", "http://evil.example"); status != 403 {
		t.Errorf("a cross-site post to the console: %d, want 403", status)
	}

	// The steward decides the waiting pair (with their second factor too).
	st := browsertest.New(t)
	s.signIn(t, st, "steward@corp.example", "/console/review")
	s.withTOTP(t, st, "steward@corp.example", "/console/review")
	page(t, st, "console-review", 200, 200)
	if !strings.Contains(st.HTML(t), "Gallowglass") {
		t.Fatal("the review pair's values are not shown side by side")
	}
	st.Run(t, chromedp.SetAttributeValue(chromedp.CSS(`section.pair details`), "open", ""))
	page(t, st, "console-review-waterfall", 200, 200)
	if html := st.HTML(t); !strings.Contains(html, `class="up"`) || !strings.Contains(html, "given_name") {
		t.Error("the pair's waterfall does not show the comparisons' weights")
	}
	st.ClickAndWait(t, `button[name="decision"][value="match"]`)
	page(t, st, "console-review-decided", 200, 200)
	if n := pgtest.Count(t, s.owner, "SELECT count(*) FROM steward_decisions"); n != 1 {
		t.Errorf("%d steward decisions, want 1", n)
	}

	// The merged profile's lineage, drawn; the sign-up split out again.
	page(t, st, "console-lineage", st.Navigate(t, s.url+"/console/lineage/"+profiles[1].String()), 200)
	if !browsertest.Get(t, st, chromedp.Evaluate[bool](`(() => {
		for (const tr of document.querySelectorAll('form[action$="/split"] tbody tr')) {
			if (tr.textContent.includes('self_service')) { tr.querySelector('input[type=checkbox]').checked = true; return true }
		}
		return false })()`)) {
		t.Fatal("the lineage page does not list the sign-up's record")
	}
	st.SetValue(t, `#split-reason`, "a namesake: the addresses differ")
	// The match decided a moment ago says otherwise: refused, until the
	// steward says they overturn it.
	page(t, st, "console-split-conflict", st.ClickAndWait(t, `form[action$="/split"] button[type="submit"]`), 409)
	st.Navigate(t, s.url+"/console/lineage/"+profiles[1].String())
	browsertest.Get(t, st, chromedp.Evaluate[bool](`(() => {
		for (const tr of document.querySelectorAll('form[action$="/split"] tbody tr')) {
			if (tr.textContent.includes('self_service')) { tr.querySelector('input[type=checkbox]').checked = true; return true }
		}
		return false })()`))
	st.SetValue(t, `#split-reason`, "a namesake: the addresses differ")
	st.Click(t, `#split-reverse`)
	page(t, st, "console-lineage-split", st.ClickAndWait(t, `form[action$="/split"] button[type="submit"]`), 200)
	if n := pgtest.Count(t, s.owner, "SELECT count(*) FROM steward_decisions"); n != 2 {
		t.Errorf("%d steward decisions after the split, want 2", n)
	}
}

// withTOTP sets up an authenticator app for a signed-in staff member,
// signs them out and in again with their password and a code from it,
// and lands on path.
func (s *site) withTOTP(t *testing.T, b *browsertest.Browser, email, path string) {
	t.Helper()
	b.Navigate(t, s.url+"/privacy/settings")
	secret := strings.TrimSpace(b.Text(t, `p.secret code`))
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.SetValue(t, `input[name="totp_code"]`, code)
	b.ClickAndWait(t, `button[name="method"][value="totp"]`)
	b.Navigate(t, s.url+"/privacy/logout")
	b.ClickAndWait(t, `main form[action="/privacy/logout"] button`)
	s.signIn(t, b, email, path)
	// The next period's code (Kratos accepts one period of skew), so as
	// not to present the set-up's code twice.
	if code, err = totp.GenerateCode(secret, time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	b.SetValue(t, `input[name="totp_code"]`, code)
	b.ClickAndWait(t, `button[name="method"][value="totp"]`)
	if loc := b.Location(t); !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], path) {
		t.Fatalf("after the second factor at %s, want %s", loc, path)
	}
}
