package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

type overview struct {
	ProfileID string `json:"profile_id"`
	Purposes  []struct {
		Purpose string   `json:"purpose"`
		State   string   `json:"state"`
		Default bool     `json:"default"`
		Choices []string `json:"choices"`
		Notice  *struct {
			Version int    `json:"version"`
			Text    string `json:"text"`
			SHA256  string `json:"sha256"`
		} `json:"notice"`
	} `json:"purposes"`
}

func (o overview) state(purpose string) string {
	for _, p := range o.Purposes {
		if p.Purpose == purpose {
			return p.State
		}
	}
	return "(absent)"
}

type proofBody struct {
	ProfileID string            `json:"profile_id"`
	Current   map[string]string `json:"current"`
	Conflicts int               `json:"conflicts"`
	Events    []struct {
		Purpose       string            `json:"purpose"`
		State         string            `json:"state"`
		Method        string            `json:"method"`
		Origin        string            `json:"origin"`
		Actor         string            `json:"actor"`
		NoticeVersion int               `json:"notice_version"`
		Conflict      bool              `json:"conflict"`
		Source        string            `json:"source"`
		Evidence      map[string]string `json:"evidence"`
		Notice        *struct {
			Text   string `json:"text"`
			SHA256 string `json:"sha256"`
		} `json:"notice"`
	} `json:"events"`
}

func (e *env) consentEvents() int64 {
	e.t.Helper()
	return pgtest.Count(e.t, e.owner, "SELECT count(*) FROM consent_events")
}

// The whole story of the issue: a customer logs in through a real Kratos,
// sees their consents with the notice text, grants marketing, and the
// marketing department can read them on its next request; they withdraw,
// and the next marketing read finds nobody. The DPO's proof reproduces the
// exact notice text and the sealed evidence of both statements.
func TestCustomerConsentIsEnforcedOnTheNextDepartmentRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	me := e.customer(person["email"])
	marketingRead := func() response {
		return e.get(e.tokens["marketing-reader"], "/v1/profiles/"+w.String()+"?purpose=marketing")
	}
	if r := marketingRead(); r.status != 404 {
		t.Fatalf("marketing read before consent: %d %s", r.status, r.body)
	}

	// The customer's own profile, read as the customer, audited as such.
	r := e.get(me.SessionToken, "/v1/me")
	var mine profileBody
	r.json(t, &mine)
	if r.status != 200 || mine.ID != w.String() || mine.Attributes["family_name"].Value != person["family_name"] {
		t.Fatalf("/v1/me: %d %s", r.status, r.body)
	}
	if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) != 1 || es[0].PrincipalKind != "customer" ||
		es[0].Principal != me.IdentityID || es[0].Purpose != "self_service" || es[0].Outcome != audit.Allowed {
		t.Errorf("audit of /v1/me: %+v", es)
	}

	var o overview
	r = e.get(me.SessionToken, "/v1/me/consents")
	r.json(t, &o)
	var notice string
	for _, p := range o.Purposes {
		if p.Purpose == "marketing" {
			if p.State != "denied" || !p.Default || p.Notice == nil || p.Notice.Version != 1 || !strings.Contains(p.Notice.Text, "newsletter") {
				t.Fatalf("marketing before consent: %+v", p)
			}
			notice = p.Notice.Text
		}
	}
	if notice == "" {
		t.Fatalf("no marketing purpose in %s", r.body)
	}

	put := func(state string, version int) response {
		body := fmt.Sprintf(`{"state":%q,"notice_version":%d}`, state, version)
		return e.do("PUT", "/v1/me/consents/marketing", me.SessionToken, "application/json", body)
	}
	if r := put("granted", 1); r.status != 200 {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	r = marketingRead()
	var seen profileBody
	r.json(t, &seen)
	_, phone := seen.Attributes["phone"]
	if r.status != 200 || seen.Attributes["email"].Value != person["email"] || phone || len(seen.Attributes) != 4 {
		t.Fatalf("marketing read after the grant: %d %s", r.status, r.body)
	}
	if r := put("withdrawn", 0); r.status != 200 {
		t.Fatalf("withdraw: %d %s", r.status, r.body)
	}
	if r := marketingRead(); r.status != 404 {
		t.Fatalf("marketing read after the withdrawal: %d %s", r.status, r.body)
	}

	var hist struct {
		Events []struct {
			State  string `json:"state"`
			Method string `json:"method"`
		} `json:"events"`
	}
	e.get(me.SessionToken, "/v1/me/consents/history").json(t, &hist)
	if len(hist.Events) != 2 || hist.Events[0].State != "granted" || hist.Events[1].State != "withdrawn" || hist.Events[0].Method != "self_service" {
		t.Errorf("history: %+v", hist)
	}

	var proof proofBody
	r = e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/consents/proof")
	r.json(t, &proof)
	if r.status != 200 || len(proof.Events) != 2 || proof.Current["marketing"] != "withdrawn" {
		t.Fatalf("proof: %d %s", r.status, r.body)
	}
	grant := proof.Events[0]
	if grant.Notice == nil || grant.Notice.Text != notice || grant.NoticeVersion != 1 {
		t.Errorf("the proof does not reproduce the notice shown: %+v", grant.Notice)
	}
	if grant.Evidence["kratos_identity"] != me.IdentityID || grant.Evidence["kratos_session"] != me.SessionID ||
		grant.Evidence["user_agent"] == "" || grant.Evidence["client_address"] == "" {
		t.Errorf("evidence of the grant: %+v", grant.Evidence)
	}
	// The evidence is sealed: the client address is nowhere in the table.
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM consent_events WHERE position(convert_to('127.0.0.1', 'UTF8') in evidence) > 0"); n != 0 {
		t.Errorf("%d consent events hold the client address in plaintext", n)
	}
	// Only the DPO proves.
	if r := e.get(e.tokens["sales-reader"], "/v1/profiles/"+w.String()+"/consents/proof"); r.status != 404 {
		t.Errorf("proof for a reader: %d", r.status)
	}
}

// Bad statements answer problem+json and write nothing.
func TestBadConsentIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	me := e.customer(person["email"])
	before := e.consentEvents()
	put := func(token, purpose, body string) response {
		return e.do("PUT", "/v1/me/consents/"+purpose, token, "application/json", body)
	}
	for _, c := range []struct {
		name, purpose, body string
		status              int
		typ                 string
	}{
		{"unknown purpose", "horoscopes", `{"state":"granted","notice_version":1}`, 404, "/problems/unknown-purpose"},
		{"no notice version", "marketing", `{"state":"granted"}`, 400, "/problems/invalid-consent"},
		{"notice that does not exist", "marketing", `{"state":"granted","notice_version":7}`, 422, "/problems/unknown-notice"},
		{"consent for a contract purpose", "billing", `{"state":"granted","notice_version":1}`, 422, "/problems/not-applicable"},
		{"objection where none is allowed", "billing", `{"state":"objected"}`, 422, "/problems/not-applicable"},
		{"unknown state", "marketing", `{"state":"maybe","notice_version":1}`, 400, "/problems/invalid-consent"},
		{"unknown field", "marketing", `{"state":"granted","notice_version":1,"at":"2020-01-01T00:00:00Z"}`, 400, "/problems/malformed-body"},
		{"nothing to withdraw", "marketing", `{"state":"withdrawn"}`, 409, "/problems/unchanged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, put(me.SessionToken, c.purpose, c.body), c.status, c.typ)
		})
	}
	for name, token := range map[string]string{"forged": "ory_st_forgedforgedforgedforgedforged", "staff token": e.tokens["all-roles"]} {
		t.Run(name+" session", func(t *testing.T) {
			wantProblem(t, put(token, "marketing", `{"state":"granted","notice_version":1}`), 401, "/problems/unauthenticated")
		})
	}
	if n := e.consentEvents(); n != before {
		t.Fatalf("refused statements wrote %d events", n-before)
	}

	t.Run("replay", func(t *testing.T) {
		body := `{"state":"granted","notice_version":1}`
		if r := put(me.SessionToken, "marketing", body); r.status != 200 {
			t.Fatalf("grant: %d %s", r.status, r.body)
		}
		wantProblem(t, put(me.SessionToken, "marketing", body), 409, "/problems/unchanged")
		if n := e.consentEvents(); n != before+1 {
			t.Fatalf("a replayed grant wrote %d events", n-before-1)
		}
	})
	t.Run("revoked session", func(t *testing.T) {
		// An account of its own: revoking sessions ends every session of
		// an identity, and the person's is shared by the tests of this
		// process.
		again := e.kratos.Account(t, "revoked-"+uuid.NewString()[:8]+"@example.org", "correct horse battery staple 7", "R", "V")
		e.kratos.RevokeSessions(t, again)
		wantProblem(t, put(again.SessionToken, "marketing", `{"state":"withdrawn"}`), 401, "/problems/unauthenticated")
		if n := e.consentEvents(); n != before+1 {
			t.Fatalf("a revoked session wrote %d events", n-before-1)
		}
	})
	t.Run("unverified address", func(t *testing.T) {
		// Anyone can sign up with someone else's address: nothing links
		// before the address is verified.
		c := e.kratos.Register(t, "unverified-"+uuid.NewString()[:8]+"@example.org", "correct horse battery staple 7", "W", "O")
		wantProblem(t, e.get(c.SessionToken, "/v1/me"), 403, "/problems/unverified")
	})
	t.Run("department statements", func(t *testing.T) {
		post := func(body string) response {
			return e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json", body)
		}
		wantProblem(t, post(`{"purpose":"marketing","state":"granted","notice_version":1,"method":"telepathy"}`), 400, "/problems/invalid-consent")
		wantProblem(t, post(`{"purpose":"marketing","state":"granted","notice_version":1,"at":"2099-01-01T00:00:00Z"}`), 400, "/problems/invalid-consent")
		wantProblem(t, post(`{"purpose":"marketing","state":"denied","notice_version":1,"expires_at":"2099-01-01T00:00:00Z"}`), 400, "/problems/invalid-consent")
		wantProblem(t, post(`{"purpose":"marketing","state":"granted","notice_version":1,"evidence":{"x":"`+strings.Repeat("a", 9000)+`"}}`), 400, "/problems/invalid-consent")
		// A record not in the profile: refused as the policy refuses a
		// department another's record, not told apart (it would say which
		// records a profile holds).
		wantProblem(t, post(`{"purpose":"marketing","state":"granted","notice_version":1,"record_id":"`+uuid.NewString()+`"}`), 404, "/problems/not-found")
		wantProblem(t, e.do("POST", "/v1/profiles/"+uuid.NewString()+"/consents", e.tokens["marketing-ingest"], "application/json",
			`{"purpose":"marketing","state":"granted","notice_version":1}`), 404, "/problems/not-found")
		// A reader may look, not record.
		wantProblem(t, e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["sales-reader"], "application/json",
			`{"purpose":"marketing","state":"granted","notice_version":1}`), 404, "/problems/not-found")
		if n := e.consentEvents(); n != before+1 {
			t.Fatalf("refused department statements wrote %d events", n-before-1)
		}
	})
}

// Departments record what they collected, with evidence and expiry; an
// expired grant no longer lets marketing read.
func TestDepartmentsRecordConsentWithExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	at := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	expires := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	r := e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json",
		`{"purpose":"marketing","state":"granted","notice_version":1,"method":"department_form","at":"`+at+`","expires_at":"`+expires+`",
		  "evidence":{"form":"signup-2026-03","reference":"F-1182"}}`)
	if r.status != 201 {
		t.Fatalf("record: %d %s", r.status, r.body)
	}
	var o overview
	e.get(e.tokens["marketing-reader"], "/v1/profiles/"+w.String()+"/consents").json(t, &o)
	if o.state("marketing") != "expired" {
		t.Fatalf("an expired grant is %q", o.state("marketing"))
	}
	if r := e.get(e.tokens["marketing-reader"], "/v1/profiles/"+w.String()+"?purpose=marketing"); r.status != 404 {
		t.Fatalf("marketing reads on an expired grant: %d", r.status)
	}
	r = e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json",
		`{"purpose":"marketing","state":"granted","notice_version":1,"method":"call_centre","evidence":{"call":"C-77"}}`)
	if r.status != 201 {
		t.Fatalf("record: %d %s", r.status, r.body)
	}
	if r := e.get(e.tokens["marketing-reader"], "/v1/profiles/"+w.String()+"?purpose=marketing"); r.status != 200 {
		t.Fatalf("marketing read on a fresh grant: %d %s", r.status, r.body)
	}
	var proof proofBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/consents/proof").json(t, &proof)
	if len(proof.Events) != 2 || proof.Events[0].Evidence["reference"] != "F-1182" || proof.Events[0].Origin != "marketing" ||
		proof.Events[0].Source != "newsletter" || proof.Events[1].Method != "call_centre" {
		t.Errorf("proof: %+v", proof)
	}
}

// A Global Privacy Control signal objects to every purpose that shares
// data, once.
func TestGlobalPrivacyControlObjectsToSharing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	me := e.customer(person["email"])
	if r := e.do("PUT", "/v1/me/consents/partner_sharing", me.SessionToken, "application/json", `{"state":"granted","notice_version":1}`); r.status != 200 {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	gpc := func() response {
		req := e.request("GET", "/v1/me/consents", me.SessionToken)
		req.Header.Set("Sec-GPC", "1")
		return e.send(req)
	}
	var o overview
	r := gpc()
	r.json(t, &o)
	if o.state("partner_sharing") != "withdrawn" || o.state("marketing") != "denied" {
		t.Fatalf("after Sec-GPC: partner_sharing %s, marketing %s: %d %s", o.state("partner_sharing"), o.state("marketing"), r.status, r.body)
	}
	n := e.consentEvents()
	gpc()
	if e.consentEvents() != n {
		t.Errorf("a repeated signal recorded again")
	}
	var proof proofBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/consents/proof").json(t, &proof)
	last := proof.Events[len(proof.Events)-1]
	if last.Method != "gpc" || last.Purpose != "partner_sharing" || last.Evidence["signal"] != "Sec-GPC: 1" {
		t.Errorf("GPC event: %+v", last)
	}
}

// A customer whom no profile knows gets one made from their Kratos
// traits; the link is in the lineage.
func TestNewCustomerGetsAProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seed()
	email := "newcomer-" + uuid.NewString()[:8] + "@example.org"
	c := e.kratos.Account(t, email, "correct horse battery staple 7", "Ottoline", "Vasquez-Pemberton")
	r := e.get(c.SessionToken, "/v1/me")
	var p profileBody
	r.json(t, &p)
	if r.status != 200 || p.Attributes["email"].Value != email || p.Attributes["family_name"].Value != "Vasquez-Pemberton" ||
		p.Attributes["email"].Source != "self_service" {
		t.Fatalf("/v1/me of a newcomer: %d %s", r.status, r.body)
	}
	// Linked once: the second request finds the same profile.
	var again profileBody
	e.get(c.SessionToken, "/v1/me").json(t, &again)
	if again.ID != p.ID {
		t.Fatalf("second /v1/me: profile %s, then %s", p.ID, again.ID)
	}
	r = e.get(e.tokens["steward"], "/v1/profiles/"+p.ID+"/lineage")
	if r.status != 200 || !strings.Contains(string(r.body), `"identity_linked"`) {
		t.Errorf("lineage does not show the identity link: %d %s", r.status, r.body)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records WHERE source = 'self_service'"); n != 1 {
		t.Errorf("%d self-service records", n)
	}
}

// Merging profiles that disagree: the most restrictive state wins, both
// sides' events stay, and the DPO sees the conflict.
func TestMergeCombinesConsentMostRestrictiveFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	record := func(id uuid.UUID, state string, version int) {
		t.Helper()
		r := e.do("POST", "/v1/profiles/"+id.String()+"/consents", e.tokens["dpo"], "application/json",
			fmt.Sprintf(`{"purpose":"marketing","state":%q,"notice_version":%d,"method":"call_centre"}`, state, version))
		if r.status != 201 {
			t.Fatalf("record: %d %s", r.status, r.body)
		}
	}
	record(w, "granted", 1)
	record(b, "granted", 1)
	record(b, "withdrawn", 0)
	bRecord := pgtest.Query(t, e.owner, "SELECT record_id::text FROM profile_members WHERE profile_id = '"+b.String()+"'")
	r := e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json",
		`{"profiles":["`+w.String()+`","`+b.String()+`"],"reason":"same person, confirmed by phone"}`)
	if r.status != 200 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	var o overview
	r = e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/consents")
	r.json(t, &o)
	survivor := o.ProfileID
	if o.state("marketing") != "withdrawn" {
		t.Fatalf("merged marketing state %q, want withdrawn", o.state("marketing"))
	}
	var conflicts struct {
		Conflicts []struct {
			ProfileID string `json:"profile_id"`
			Purpose   string `json:"purpose"`
			State     string `json:"state"`
			Method    string `json:"method"`
		} `json:"conflicts"`
	}
	r = e.get(e.tokens["dpo"], "/v1/consents/conflicts")
	r.json(t, &conflicts)
	if len(conflicts.Conflicts) != 1 || conflicts.Conflicts[0].ProfileID != survivor || conflicts.Conflicts[0].State != "withdrawn" ||
		conflicts.Conflicts[0].Method != "merge" {
		t.Fatalf("conflicts: %s", r.body)
	}
	wantProblem(t, e.get(e.tokens["steward"], "/v1/consents/conflicts"), 403, "/problems/forbidden")
	var proof proofBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+survivor+"/consents/proof").json(t, &proof)
	if len(proof.Events) != 4 || proof.Conflicts != 1 {
		t.Errorf("proof after merge: %d events, %d conflicts", len(proof.Events), proof.Conflicts)
	}
	// Re-resolving changes nothing: no second conflict.
	if r := e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json",
		`{"profiles":["`+w.String()+`","`+b.String()+`"],"reason":"again"}`); r.status >= 500 {
		t.Fatalf("merge again: %d %s", r.status, r.body)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM consent_events WHERE conflict"); n != 1 {
		t.Errorf("%d conflict events after a second merge", n)
	}
	// Split Bartholomew out again: the merge's ground is gone. Each part
	// has its own statements back: Wilhelmina granted, Bartholomew
	// withdrawn.
	if r := e.do("POST", "/v1/profiles/"+survivor+"/split", e.tokens["steward"], "application/json",
		`{"records":["`+bRecord+`"],"reason":"two people after all: different birth dates","reverse":true}`); r.status != 200 {
		t.Fatalf("split: %d %s", r.status, r.body)
	}
	var wo, bo overview
	e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/consents").json(t, &wo)
	e.get(e.tokens["dpo"], "/v1/profiles/"+b.String()+"/consents").json(t, &bo)
	if wo.state("marketing") != "granted" || bo.state("marketing") != "withdrawn" || wo.ProfileID == bo.ProfileID {
		t.Errorf("after the split: %s %s, %s %s", wo.ProfileID, wo.state("marketing"), bo.ProfileID, bo.state("marketing"))
	}
}

// The DPO keeps the catalogue: purposes with legal bases, notices that
// are never edited; others may read it.
func TestDPOManagesPurposesAndNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dpo := e.tokens["dpo"]
	post := func(token, path, body string) response { return e.do("POST", path, token, "application/json", body) }
	wantProblem(t, post(dpo, "/v1/purposes", `{"id":"surveys","description":"Surveys.","legal_basis":"whim","retention_days":30}`), 400, "/problems/invalid-consent")
	wantProblem(t, post(dpo, "/v1/purposes", `{"id":"Bad Id","description":"Surveys.","legal_basis":"consent","retention_days":30}`), 400, "/problems/invalid-consent")
	wantProblem(t, post(e.tokens["steward"], "/v1/purposes", `{"id":"surveys","description":"Surveys.","legal_basis":"consent","retention_days":30}`), 403, "/problems/forbidden")
	if r := post(dpo, "/v1/purposes", `{"id":"surveys","description":"Surveys.","legal_basis":"consent","retention_days":30}`); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	wantProblem(t, post(dpo, "/v1/purposes", `{"id":"surveys","description":"Surveys.","legal_basis":"consent","retention_days":30}`), 409, "/problems/conflict")
	wantProblem(t, post(dpo, "/v1/purposes/horoscopes/notices", `{"text":"Stars."}`), 404, "/problems/unknown-purpose")
	wantProblem(t, post(dpo, "/v1/purposes/surveys/notices", `{"text":"   "}`), 400, "/problems/invalid-consent")
	wantProblem(t, e.get(dpo, "/v1/purposes/horoscopes/notices"), 404, "/problems/unknown-purpose")
	for i, text := range []string{"May we ask how we did?", "May we ask, twice a year, how we did?"} {
		r := post(dpo, "/v1/purposes/surveys/notices", `{"text":"`+text+`"}`)
		var n struct {
			Version int `json:"version"`
		}
		r.json(t, &n)
		if r.status != 201 || n.Version != i+1 {
			t.Fatalf("publish %d: %d %s", i+1, r.status, r.body)
		}
	}
	var ns struct {
		Notices []struct {
			Version int    `json:"version"`
			Text    string `json:"text"`
		} `json:"notices"`
	}
	e.get(e.tokens["sales-reader"], "/v1/purposes/surveys/notices").json(t, &ns)
	if len(ns.Notices) != 2 || ns.Notices[0].Text != "May we ask how we did?" {
		t.Fatalf("notices: %+v", ns)
	}
	// Published notices cannot be edited, not even by the service's role.
	if err := pgtest.TryExec(t, pgtest.AppURL(t, e.owner), "UPDATE notices SET text = 'changed' WHERE purpose = 'surveys'"); err == nil {
		t.Error("the service's role could edit a published notice")
	}
	// The new purpose is decided on at once: a consent grant on it works.
	w, _ := e.seed()
	r := e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json",
		`{"purpose":"surveys","state":"granted","notice_version":2}`)
	if r.status != 201 {
		t.Fatalf("consent to the new purpose: %d %s", r.status, r.body)
	}
	// Its legal basis is fixed once people said something about it.
	wantProblem(t, e.do("PUT", "/v1/purposes/surveys", dpo, "application/json",
		`{"description":"Surveys.","legal_basis":"legitimate_interests","allows_objection":true,"retention_days":30}`), 409, "/problems/conflict")
}
