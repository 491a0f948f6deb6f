package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/internal/kratostest"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// The seeded person: one customer known to sales, billing and the
// newsletter, and a second customer known to sales only.
var person = map[string]string{
	"given_name":  "Wilhelmina",
	"family_name": "Oyelaran-Brightwater",
	"email":       "wilhelmina.ob@example.org",
	"phone":       "07700 900987",
	"street":      "17 Quayside Lane",
	"postcode":    "LS1 4AP",
	"birth_date":  "1984-03-12",
	"national_id": "QQ 12 34 56 C",
	"source_id":   "sales-cust-88231",
}

const seedSales = `[
	{"source":"sales","source_id":"sales-cust-88231","given_name":"Wilhelmina","family_name":"Oyelaran-Brightwater",
	 "email":"wilhelmina.ob@example.org","phone":"07700 900987","street":"17 Quayside Lane","postcode":"LS1 4AP","city":"Leeds",
	 "birth_date":"1984-03-12","national_id":"QQ 12 34 56 C","country":"GB"},
	{"source":"sales","source_id":"sales-cust-10077","given_name":"Bartholomew","family_name":"Quenby",
	 "email":"b.quenby@example.net","phone":"07700 900555","street":"2 Mill Row","postcode":"YO1 7HH","city":"York","country":"GB"}
]`

const seedBilling = `[{"source":"billing","source_id":"inv-5521","full_name":"Wilhelmina Oyelaran-Brightwater",
	"email":"wilhelmina.ob@example.org","street":"17 Quayside Lane","postcode":"LS1 4AP","city":"Leeds","country":"GB"}]`

const seedNewsletter = `[{"source":"newsletter","source_id":"nl-9","given_name":"Wilhelmina","email":"wilhelmina.ob@example.org"}]`

// seed ingests the customers and returns the profile ids of the two people.
func (e *env) seed() (wilhelmina, bartholomew uuid.UUID) {
	e.t.Helper()
	var first uuid.UUID
	for _, b := range []struct{ token, body string }{
		{"sales-ingest", seedSales}, {"billing-ingest", seedBilling}, {"marketing-ingest", seedNewsletter},
	} {
		r := e.do("POST", "/v1/records", e.tokens[b.token], "application/json", b.body)
		if r.status != 200 {
			e.t.Fatalf("seed: %d %s", r.status, r.body)
		}
		var got struct {
			Resolution struct {
				Resolved bool `json:"resolved"`
			} `json:"resolution"`
			Results []struct {
				RecordID string `json:"record_id"`
			} `json:"results"`
		}
		r.json(e.t, &got)
		if !got.Resolution.Resolved {
			e.t.Fatalf("seed not resolved: %s", r.body)
		}
		for i, res := range got.Results {
			// An ingest token is not told profiles: the test reads them.
			id, err := uuid.Parse(pgtest.Query(e.t, e.owner, "SELECT profile_id::text FROM profile_members WHERE record_id = '"+res.RecordID+"'"))
			if err != nil {
				e.t.Fatalf("seed: record without profile: %s", r.body)
			}
			switch {
			case b.token == "sales-ingest" && i == 0:
				first = id
			case b.token == "sales-ingest" && i == 1:
				bartholomew = id
			case id != first:
				e.t.Fatalf("the %s record did not join the profile of its person: %s", b.token, r.body)
			}
		}
	}
	return first, bartholomew
}

func (e *env) get(token, path string) response {
	e.t.Helper()
	return e.do("GET", path, token, "", "")
}

type profileBody struct {
	ID         string `json:"id"`
	Attributes map[string]struct {
		Value      string `json:"value"`
		Source     string `json:"source"`
		RecordID   string `json:"record_id"`
		Rule       string `json:"rule"`
		LegalBasis string `json:"legal_basis"`
	} `json:"attributes"`
	Sources []string `json:"sources"`
	Access  struct {
		Purpose    string   `json:"purpose"`
		DecisionID string   `json:"decision_id"`
		Fields     []string `json:"fields"`
		AuditSeq   int64    `json:"audit_seq"`
	} `json:"access"`
}

// auditEntries reads the whole audit log.
func (e *env) auditEntries() []audit.Entry {
	e.t.Helper()
	es, err := e.db.AuditEntries(context.Background(), audit.Query{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) entriesOf(requestID string) []audit.Entry {
	var out []audit.Entry
	for _, en := range e.auditEntries() {
		if en.RequestID == requestID {
			out = append(out, en)
		}
	}
	return out
}

func TestReadProfileThroughPolicyAndAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()

	r := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=support")
	if r.status != 200 {
		t.Fatalf("support read: %d %s", r.status, r.body)
	}
	var p profileBody
	r.json(t, &p)
	if p.ID != w.String() || p.Attributes["email"].Value != person["email"] || p.Attributes["phone"].Value != "+447700900987" {
		t.Errorf("support read %s", r.body)
	}
	for _, hidden := range []string{"national_id", "birth_date"} {
		if _, ok := p.Attributes[hidden]; ok || strings.Contains(string(r.body), person[hidden]) {
			t.Errorf("support read shows %s: %s", hidden, r.body)
		}
	}
	// The newsletter collected its data under consent, for marketing only.
	if strings.Join(p.Sources, ",") != "billing,sales" {
		t.Errorf("sources %v, want billing and sales only", p.Sources)
	}
	if a := p.Attributes["street"]; a.Source != "billing" || a.LegalBasis != "contract" || a.Rule == "" || a.RecordID == "" {
		t.Errorf("street provenance %+v: billing has the highest priority", a)
	}

	es := e.entriesOf(r.header.Get("X-Request-ID"))
	if len(es) != 1 {
		t.Fatalf("%d audit entries for the read", len(es))
	}
	en := es[0]
	if en.Outcome != audit.Allowed || en.Action != "read" || en.Purpose != "support" || en.Principal != "support-reader" ||
		en.Department != "support" || en.DecisionID != p.Access.DecisionID || en.Seq != p.Access.AuditSeq ||
		len(en.Profiles) != 1 || en.Profiles[0] != w.String() || en.PolicyRevision == "" || len(en.Client) != 32 {
		t.Errorf("audit entry %+v for response %s", en, r.body)
	}
	if strings.Join(en.Fields, ",") != strings.Join(p.Access.Fields, ",") || !contains(en.Fields, "email") || contains(en.Fields, "national_id") {
		t.Errorf("audited fields %v, returned %v", en.Fields, p.Access.Fields)
	}
	if strings.Contains(en.Client, "127.0.0.1") {
		t.Error("the client address is stored in clear")
	}

	t.Run("X-Purpose header", func(t *testing.T) {
		r := e.do("GET", "/v1/profiles/"+w.String(), e.tokens["support-reader"], "", "")
		e.wantProblem(r, 400, "/problems/invalid-purpose")
		req := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=analytics")
		var p profileBody
		req.json(t, &p)
		if _, ok := p.Attributes["birth_date"]; !ok || p.Attributes["email"].Value != "" {
			t.Errorf("analytics sees %s", req.body)
		}
	})

	t.Run("bad purposes", func(t *testing.T) {
		for _, q := range []string{"", "?purpose=", "?purpose=curiosity", "?purpose=self_service"} {
			r := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+q)
			if r.status == 200 {
				t.Errorf("%q: read allowed: %s", q, r.body)
				continue
			}
			if strings.Contains(string(r.body), person["email"]) {
				t.Errorf("%q: error shows data", q)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDenialsLookLikeUnknownProfiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	unknown := uuid.New()
	tests := []struct {
		name, token, purpose string
	}{
		{"marketing without consent", "support-reader", "marketing"},
		{"a purpose the role may not declare", "support-reader", "legal_claims"},
		{"an ingest token", "sales-ingest", "support"},
		{"a steward reading for billing", "steward", "billing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			denied := e.get(e.tokens[tt.token], "/v1/profiles/"+w.String()+"?purpose="+tt.purpose)
			missing := e.get(e.tokens[tt.token], "/v1/profiles/"+unknown.String()+"?purpose="+tt.purpose)
			pd := e.wantProblem(denied, 404, "/problems/not-found")
			pm := e.wantProblem(missing, 404, "/problems/not-found")
			if strings.ReplaceAll(pd.Detail, w.String(), "ID") != strings.ReplaceAll(pm.Detail, unknown.String(), "ID") || pd.Title != pm.Title {
				t.Errorf("a denial differs from an unknown profile:\n%s\n%s", denied.body, missing.body)
			}
			es := e.entriesOf(denied.header.Get("X-Request-ID"))
			if len(es) != 1 || es[0].Outcome != audit.Denied || es[0].Reason == "" || len(es[0].Fields) != 0 {
				t.Errorf("denial audited as %+v", es)
			}
			es = e.entriesOf(missing.header.Get("X-Request-ID"))
			if len(es) != 1 || es[0].Outcome != audit.NotFound {
				t.Errorf("unknown profile audited as %+v", es)
			}
		})
	}
}

func TestSearchDecidesAndAuditsPerProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	for _, q := range []string{"email=" + url.QueryEscape("  Wilhelmina.OB@example.org "), "phone=" + url.QueryEscape("+44 7700 900987")} {
		r := e.get(e.tokens["support-reader"], "/v1/profiles?purpose=support&"+q)
		var got struct {
			Profiles []profileBody `json:"profiles"`
		}
		r.json(t, &got)
		if r.status != 200 || len(got.Profiles) != 1 || got.Profiles[0].ID != w.String() || got.Profiles[0].Attributes["email"].Value == "" {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		es := e.entriesOf(r.header.Get("X-Request-ID"))
		if len(es) != 1 || es[0].Action != "search" || es[0].Outcome != audit.Allowed || es[0].Seq != got.Profiles[0].Access.AuditSeq {
			t.Errorf("search audited as %+v", es)
		}
	}
	// A lookup that finds nothing is audited too; a denied profile is left
	// out but audited.
	r := e.get(e.tokens["support-reader"], "/v1/profiles?purpose=support&email=nobody@example.com")
	if r.status != 200 || !strings.Contains(string(r.body), `"profiles":[]`) {
		t.Errorf("no match: %d %s", r.status, r.body)
	}
	if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) != 1 || es[0].Outcome != audit.NotFound {
		t.Errorf("empty search audited as %+v", es)
	}
	r = e.get(e.tokens["support-reader"], "/v1/profiles?purpose=marketing&email=wilhelmina.ob@example.org")
	if r.status != 200 || !strings.Contains(string(r.body), `"profiles":[]`) {
		t.Errorf("denied match: %d %s", r.status, r.body)
	}
	if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) != 1 || es[0].Outcome != audit.Denied || es[0].Profiles[0] != w.String() {
		t.Errorf("denied search audited as %+v", es)
	}
	for _, q := range []string{"email=not-an-address", "phone=12", "email=a@example.org&phone=07700900987", ""} {
		r := e.get(e.tokens["support-reader"], "/v1/profiles?purpose=support&"+q)
		e.wantProblem(r, 400, "/problems/invalid-request")
		if strings.Contains(string(r.body), "not-an-address") {
			t.Errorf("error echoes the value: %s", r.body)
		}
	}
}

func TestRecordsAreMinimised(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	r := e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"/records?purpose=legal_claims")
	var got struct {
		Records []struct {
			Source     string            `json:"source"`
			SourceID   string            `json:"source_id"`
			Attributes map[string]string `json:"attributes"`
			LegalBasis string            `json:"legal_basis"`
		} `json:"records"`
		Access struct {
			Fields []string `json:"fields"`
		} `json:"access"`
	}
	r.json(t, &got)
	if r.status != 200 || len(got.Records) != 2 {
		t.Fatalf("legal claims: %d %s", r.status, r.body)
	}
	sort.Slice(got.Records, func(i, j int) bool { return got.Records[i].Source < got.Records[j].Source })
	if s := got.Records[1]; s.Source != "sales" || s.SourceID != person["source_id"] || s.Attributes["national_id"] != person["national_id"] {
		t.Errorf("sales record %+v", s)
	}
	es := e.entriesOf(r.header.Get("X-Request-ID"))
	if len(es) != 1 || !contains(es[0].Fields, "national_id") || !contains(es[0].Fields, "source_id") {
		t.Errorf("records audited as %+v", es)
	}
	r = e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"/records?purpose=billing")
	got.Records = nil
	r.json(t, &got)
	for _, rec := range got.Records {
		if _, ok := rec.Attributes["phone"]; ok {
			t.Errorf("billing sees a phone number: %s", r.body)
		}
	}
	if strings.Contains(string(r.body), person["national_id"]) || strings.Contains(string(r.body), person["birth_date"]) {
		t.Errorf("billing sees more than it needs: %s", r.body)
	}
}

func TestStewardsMergeSplitAndReview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	merge := `{"profiles":["` + w.String() + `","` + b.String() + `"],"reason":"same customer, confirmed by phone"}`
	if r := e.do("POST", "/v1/profiles/merge", e.tokens["support-reader"], "application/json", merge); r.status != 404 {
		t.Errorf("a reader merged: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json", merge)
	if r.status != 200 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	// The merged-away id leads to the surviving profile.
	r = e.get(e.tokens["steward"], "/v1/profiles/"+b.String()+"/lineage")
	var l struct {
		ProfileID string `json:"profile_id"`
		Records   []struct {
			ID     string `json:"id"`
			Source string `json:"source"`
		} `json:"records"`
		Links     []map[string]any `json:"links"`
		Decisions []struct {
			Kind  string `json:"kind"`
			Actor string `json:"actor"`
			Note  string `json:"note"`
		} `json:"decisions"`
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
	}
	r.json(t, &l)
	if r.status != 200 || len(l.Records) != 4 || len(l.Decisions) != 1 || l.Decisions[0].Kind != "merge" ||
		l.Decisions[0].Note != "same customer, confirmed by phone" || l.Decisions[0].Actor != "staff:steward" || len(l.Events) == 0 {
		t.Fatalf("lineage after merge: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), person["email"]) || strings.Contains(string(r.body), "Wilhelmina") {
		t.Errorf("the lineage shows attributes: %s", r.body)
	}
	var bart string
	for _, rec := range l.Records {
		if rec.Source == "sales" {
			bart = rec.ID // one of the two sales records; split it out
		}
	}
	// The split contradicts the merge: refused unless the steward says it
	// reverses it, which the lineage then shows.
	split := `{"records":["` + bart + `"],"reason":"two people after all"}`
	r = e.do("POST", "/v1/profiles/"+l.ProfileID+"/split", e.tokens["steward"], "application/json", split)
	e.wantProblem(r, 409, "/problems/conflicting-decision")
	split = `{"records":["` + bart + `"],"reason":"two people after all","reverse":true}`
	r = e.do("POST", "/v1/profiles/"+l.ProfileID+"/split", e.tokens["steward"], "application/json", split)
	if r.status != 200 {
		t.Fatalf("split: %d %s", r.status, r.body)
	}
	if r := e.get(e.tokens["steward"], "/v1/profiles/"+l.ProfileID+"/lineage"); !strings.Contains(string(r.body), `"reverses":true`) {
		t.Errorf("the lineage does not show the reversal: %s", r.body)
	}
	// A merge that contradicts the split is a conflict and changes nothing.
	r = e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json", merge)
	e.wantProblem(r, 409, "/problems/conflicting-decision")

	bad := []struct{ path, body string }{
		{"/v1/profiles/merge", `{"profiles":["` + w.String() + `"],"reason":"x"}`},
		{"/v1/profiles/merge", `{"profiles":["` + w.String() + `","` + b.String() + `"]}`},
		{"/v1/profiles/merge", `{"profiles":"all","reason":"x"}`},
		{"/v1/profiles/merge", `{"profiles":[],"reason":"x","extra":1}`},
		{"/v1/profiles/" + l.ProfileID + "/split", `{"records":[],"reason":"x"}`},
		{"/v1/review/" + uuid.NewString(), `{"decision":"perhaps","reason":"x"}`},
	}
	for _, tt := range bad {
		r := e.do("POST", tt.path, e.tokens["steward"], "application/json", tt.body)
		if r.status < 400 || r.status >= 500 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s", tt.path, tt.body, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/review/"+uuid.NewString(), e.tokens["steward"], "application/json", `{"decision":"match","reason":"x"}`); r.status != 404 {
		t.Errorf("unknown pair: %d %s", r.status, r.body)
	}
	// A principal who may not decide is refused before the pair is looked
	// at, and the refusal is audited (the probe of 2026-12-04).
	r = e.do("POST", "/v1/review/"+uuid.NewString(), e.tokens["sales-ingest"], "application/json", `{"decision":"match","reason":"x"}`)
	if es := e.entriesOf(r.header.Get("X-Request-ID")); r.status != 404 || len(es) != 1 || es[0].Outcome != audit.Denied {
		t.Errorf("an ingest token decides an unknown pair: %d %s, audited %+v", r.status, r.body, es)
	}
	r = e.get(e.tokens["steward"], "/v1/review")
	if r.status != 200 || !strings.Contains(string(r.body), `"pairs":[`) {
		t.Errorf("review list: %d %s", r.status, r.body)
	}
	for _, q := range []string{"limit=0", "limit=501", "after=nope", "values=maybe"} {
		e.wantProblem(e.get(e.tokens["steward"], "/v1/review?"+q), 400, "/problems/invalid-request")
	}
	if r := e.get(e.tokens["support-reader"], "/v1/review?purpose=support"); r.status != 403 {
		t.Errorf("a reader lists review pairs: %d %s", r.status, r.body)
	}
}

func TestAuditLogIsForTheDPO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=support")
	e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=billing")

	if r := e.get(e.tokens["support-reader"], "/v1/audit?profile="+w.String()); r.status != 403 {
		t.Errorf("a reader reads the audit log: %d %s", r.status, r.body)
	}
	r := e.get(e.tokens["dpo"], "/v1/audit?profile="+w.String()+"&principal=support-reader&purpose=billing")
	var got struct {
		Entries []audit.Entry `json:"entries"`
	}
	r.json(t, &got)
	if r.status != 200 || len(got.Entries) != 1 || got.Entries[0].Purpose != "billing" {
		t.Fatalf("who read this person's data: %d %s", r.status, r.body)
	}
	// The DPO's question is itself audited.
	es := e.entriesOf(r.header.Get("X-Request-ID"))
	if len(es) != 1 || es[0].Action != "audit" || es[0].Purpose != "compliance" || es[0].Profiles[0] != w.String() {
		t.Errorf("audit query audited as %+v", es)
	}
	r = e.get(e.tokens["dpo"], "/v1/audit?principal=support-reader&from=2020-01-01&to=2999-01-01T00:00:00Z")
	r.json(t, &got)
	if r.status != 200 || len(got.Entries) < 2 {
		t.Errorf("what did this principal read: %d %s", r.status, r.body)
	}
	// What did a department read: its principals' entries only.
	r = e.get(e.tokens["dpo"], "/v1/audit?department=support&limit=1000")
	r.json(t, &got)
	if r.status != 200 || len(got.Entries) < 2 {
		t.Errorf("what did this department read: %d %s", r.status, r.body)
	}
	for _, en := range got.Entries {
		if en.Department != "support" {
			t.Errorf("an entry of department %q answered a question about support", en.Department)
		}
	}
	for _, q := range []string{"from=yesterday", "profile=42", "limit=-1", "limit=0", "after=x", "from=2026-02-01&to=2026-01-01"} {
		e.wantProblem(e.get(e.tokens["dpo"], "/v1/audit?"+q), 400, "/problems/invalid-request")
	}
}

func TestReadsFailClosedWhenAuditFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	pgtest.Exec(t, e.owner, "REVOKE INSERT ON audit_log FROM cdp_app")
	for _, path := range []string{
		"/v1/profiles/" + w.String() + "?purpose=support",
		"/v1/profiles/" + w.String() + "/records?purpose=support",
		"/v1/profiles?purpose=support&email=wilhelmina.ob@example.org",
		"/v1/profiles/" + uuid.NewString() + "?purpose=support",
		"/v1/profiles/" + w.String() + "?purpose=marketing",
	} {
		r := e.get(e.tokens["support-reader"], path)
		e.wantProblem(r, 503, "/problems/unavailable")
		for _, v := range person {
			if strings.Contains(string(r.body), v) {
				t.Errorf("%s: a failed read returned %q", path, v)
			}
		}
	}
	// Writes are audited before they happen: with the audit log down a
	// write is refused and writes nothing, while the rest of the database
	// works.
	before := e.recordCount()
	e.wantProblem(e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", `[{"source":"sales","source_id":"z","given_name":"Zed"}]`),
		503, "/problems/unavailable")
	if n := e.recordCount(); n != before {
		t.Errorf("a write with the audit log down stored %d records", n-before)
	}
	pgtest.Exec(t, e.owner, "GRANT INSERT ON audit_log TO cdp_app")
	if r := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=support"); r.status != 200 {
		t.Errorf("after the audit log recovered: %d %s", r.status, r.body)
	}
}

// decodeJSON is for tests that only need one field.
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return m
}

// customer returns a verified Kratos customer with a fresh session.
func (e *env) customer(email string) kratostest.Customer {
	e.t.Helper()
	return e.kratos.Account(e.t, email, "correct horse battery staple 7", "Wilhelmina", "Oyelaran-Brightwater")
}
