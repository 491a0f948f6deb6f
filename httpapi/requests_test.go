package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/vault"
	"github.com/cdp-project/cdp/webhook"
)

type requestBody struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	State       string `json:"state"`
	ProfileID   string `json:"profile_id"`
	Channel     string `json:"channel"`
	DueAt       string `json:"due_at"`
	DuplicateOf string `json:"duplicate_of"`
	Outcome     string `json:"outcome"`
	Overdue     bool   `json:"overdue"`
	Events      []struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Actor  string `json:"actor"`
		Reason string `json:"reason"`
	} `json:"events"`
	Verification map[string]string `json:"verification"`
}

// intake files a request as the DPO; verified when verification is set.
func (e *env) intake(typ string, profile uuid.UUID, verified bool, extra string) requestBody {
	e.t.Helper()
	body := fmt.Sprintf(`{"type":%q,"profile_id":%q%s`, typ, profile, extra)
	if verified {
		body += `,"verification":{"method":"id_document","reference":"seen at the counter, ticket 5521"}`
	}
	r := e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json", body+"}")
	var out requestBody
	r.json(e.t, &out)
	if r.status != 201 {
		e.t.Fatalf("intake: %d %s", r.status, r.body)
	}
	return out
}

func (e *env) act(id, action, body string) response {
	e.t.Helper()
	return e.do("POST", "/v1/requests/"+id+"/"+action, e.tokens["dpo"], "application/json", body)
}

// waitState polls a request until it reaches state.
func (e *env) waitState(id, state string) requestBody {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out requestBody
		r := e.get(e.tokens["dpo"], "/v1/requests/"+id)
		r.json(e.t, &out)
		if out.State == state {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("request %s is %s after 30s, want %s: %s", id, out.State, state, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// complete takes a verified request through approval to completion.
func (e *env) complete(id string) requestBody {
	e.t.Helper()
	if r := e.act(id, "approve", ""); r.status != 200 {
		e.t.Fatalf("approve: %d %s", r.status, r.body)
	}
	return e.waitState(id, "completed")
}

// An access request from intake to download: the export holds the golden
// profile with provenance, every record, the consent history with notice
// texts, purposes with legal bases and retention, who read the data, and
// the lineage; the download is audited.
func TestAccessRequestFromIntakeToDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	if r := e.get(e.tokens["sales-reader"], "/v1/profiles/"+w.String()+"?purpose=support"); r.status != 200 {
		t.Fatalf("read: %d", r.status)
	}
	if r := e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json",
		`{"purpose":"marketing","state":"granted","notice_version":1}`); r.status != 201 {
		t.Fatalf("consent: %d %s", r.status, r.body)
	}
	req := e.intake("access", w, false, "")
	if req.State != "received" || req.Channel != "dpo" {
		t.Fatalf("unverified intake: %+v", req)
	}
	wantProblem(t, e.act(req.ID, "approve", ""), 409, "/problems/invalid-transition")
	wantProblem(t, e.get(e.tokens["dpo"], "/v1/requests/"+req.ID+"/export"), 409, "/problems/invalid-transition")
	r := e.act(req.ID, "verify", `{"verification":{"method":"video_call","reference":"call 77"}}`)
	var v requestBody
	r.json(t, &v)
	if r.status != 200 || v.State != "verified" || v.Verification["method"] != "video_call" {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	done := e.complete(req.ID)
	states := []string{}
	for _, ev := range done.Events {
		states = append(states, ev.To)
	}
	if strings.Join(states, ",") != "received,verified,approved,in_progress,completed" {
		t.Errorf("history: %v", states)
	}

	r = e.get(e.tokens["dpo"], "/v1/requests/"+req.ID+"/export")
	var x struct {
		Schema  string `json:"schema"`
		Profile struct {
			Attributes map[string]struct {
				Value  string `json:"value"`
				Source string `json:"source"`
				Rule   string `json:"rule"`
			} `json:"attributes"`
		} `json:"profile"`
		Records []struct {
			Source string `json:"source"`
		} `json:"records"`
		Consent struct {
			Events []struct {
				Notice struct {
					Text string `json:"text"`
				} `json:"notice"`
			} `json:"events"`
		} `json:"consent"`
		Purposes []struct {
			ID            string `json:"id"`
			LegalBasis    string `json:"legal_basis"`
			RetentionDays int    `json:"retention_days"`
			State         string `json:"state"`
		} `json:"purposes"`
		Reads []struct {
			Principal string `json:"principal"`
			Purpose   string `json:"purpose"`
			Action    string `json:"action"`
		} `json:"reads"`
		Lineage struct {
			Records []any `json:"records"`
		} `json:"lineage"`
	}
	r.json(t, &x)
	if r.status != 200 || x.Schema != "cdp.export/1" {
		t.Fatalf("export: %d %.500s", r.status, r.body)
	}
	// The package's shape is the contract of cdp.export/1.
	golden(t, "export-v1.shape", shape(t, r.body))
	if a := x.Profile.Attributes["family_name"]; a.Value != person["family_name"] || a.Source == "" || a.Rule == "" {
		t.Errorf("golden attribute without provenance: %+v", a)
	}
	if a := x.Profile.Attributes["national_id"]; a.Value != person["national_id"] {
		t.Errorf("the export leaves out the national id: %+v", a)
	}
	if len(x.Records) != 3 || len(x.Lineage.Records) != 3 {
		t.Errorf("%d records, %d in the lineage, want 3", len(x.Records), len(x.Lineage.Records))
	}
	if len(x.Consent.Events) != 1 || !strings.Contains(x.Consent.Events[0].Notice.Text, "newsletter") {
		t.Errorf("consent history: %+v", x.Consent)
	}
	found := false
	for _, p := range x.Purposes {
		if p.ID == "marketing" && (p.LegalBasis != "consent" || p.RetentionDays <= 0 || p.State != "granted") {
			t.Errorf("marketing purpose: %+v", p)
		}
		found = found || p.ID == "marketing"
	}
	if !found {
		t.Error("no purposes in the export")
	}
	readBySales := false
	for _, rd := range x.Reads {
		readBySales = readBySales || rd.Principal == "sales-reader" && rd.Purpose == "support" && rd.Action == "read"
	}
	if !readBySales {
		t.Errorf("the export does not say that sales read the profile: %+v", x.Reads)
	}
	exported := false
	for _, en := range e.entriesOf(r.header.Get("X-Request-ID")) {
		exported = exported || en.Action == "export" && en.Outcome == "allowed" && len(en.Fields) > 5
	}
	if !exported {
		t.Errorf("the download is not audited with its fields")
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("the export may be cached")
	}
	r = e.get(e.tokens["dpo"], "/v1/requests/"+req.ID+"/export?format=csv")
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || len(lines) != 4 || !strings.HasPrefix(lines[0], "record_id,source,") || !strings.Contains(string(r.body), person["street"]) {
		t.Errorf("CSV export: %d %s", r.status, r.body)
	}
	// Not for anyone else, who cannot tell it exists.
	wantProblem(t, e.get(e.tokens["sales-reader"], "/v1/requests/"+req.ID+"/export"), 404, "/problems/not-found")
	wantProblem(t, e.get(e.tokens["sales-reader"], "/v1/requests"), 403, "/problems/forbidden")
}

// Erasure: crypto-shredding, suppression, 404 for everyone but 410 for
// the DPO, and no remaining key opens the person's ciphertexts.
func TestErasureDestroysKeysSuppressesAndTombstones(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	me := e.customer(person["email"])
	if r := e.do("PUT", "/v1/me/consents/marketing", me.SessionToken, "application/json", `{"state":"granted","notice_version":1}`); r.status != 200 {
		t.Fatalf("grant: %d", r.status)
	}
	sealed := e.sealedRecords(w)
	if len(sealed) != 3 {
		t.Fatalf("%d records before erasure", len(sealed))
	}
	req := e.intake("erasure", w, true, "")
	done := e.complete(req.ID)
	var rep struct {
		Erased     []string `json:"erased_records"`
		Held       []any    `json:"held_records"`
		Suppressed int      `json:"suppressed_identifiers"`
	}
	json.Unmarshal([]byte(done.Outcome), &rep)
	if len(rep.Erased) != 3 || len(rep.Held) != 0 || rep.Suppressed < 3 {
		t.Errorf("erasure report: %s", done.Outcome)
	}
	for table, q := range map[string]string{
		"records":        "SELECT count(*) FROM records",
		"consent_events": "SELECT count(*) FROM consent_events",
		"customer_links": "SELECT count(*) FROM customer_links",
		"profiles":       "SELECT count(*) FROM profiles WHERE id = '" + w.String() + "'",
	} {
		want := int64(0)
		if table == "records" {
			want = 1 // Bartholomew's
		}
		if n := pgtest.Count(t, e.owner, q); n != want {
			t.Errorf("%s: %d rows left, want %d", table, n, want)
		}
	}
	// The erased ids are kept, so that no record can come back under one
	// (migration 0023).
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM erased_records"); n != int64(len(rep.Erased)) {
		t.Errorf("%d erased record ids kept, want %d", n, len(rep.Erased))
	}
	// No key left in the database opens any of the person's ciphertexts.
	for _, k := range e.remainingKeys() {
		for _, s := range sealed {
			if _, err := k.Open(vault.ContextAttributes, s, nil); err == nil {
				t.Fatal("a remaining key opens the erased person's data")
			}
		}
	}
	wantProblem(t, e.get(e.tokens["sales-reader"], "/v1/profiles/"+w.String()+"?purpose=support"), 404, "/problems/not-found")
	wantProblem(t, e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"?purpose=compliance"), 410, "/problems/erased")
	if r := e.get(e.tokens["sales-reader"], "/v1/profiles/"+b.String()+"?purpose=support"); r.status != 200 {
		t.Errorf("the other customer: %d", r.status)
	}
	// A department re-sending the person is answered 'suppressed'; the
	// other customer of the batch is not.
	r := e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json", seedSales)
	var ing struct {
		Summary struct {
			Suppressed int `json:"suppressed"`
			Unchanged  int `json:"unchanged"`
		} `json:"summary"`
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	r.json(t, &ing)
	if r.status != 200 || ing.Summary.Suppressed != 1 || ing.Summary.Unchanged != 1 || ing.Results[0].Status != "suppressed" {
		t.Errorf("re-ingest: %d %s", r.status, r.body)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records"); n != 1 {
		t.Errorf("re-ingest recreated the person: %d records", n)
	}
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json",
		`{"type":"access","profile_id":"`+w.String()+`"}`), 410, "/problems/erased")
	// A new lawful basis lifts a suppression explicitly: the DPO records
	// one (or the person signs up again: TestCustomerErasesThemselves).
	lift := func(body string) response {
		return e.do("POST", "/v1/suppressions/lift", e.tokens["dpo"], "application/json", body)
	}
	wantProblem(t, lift(`{"kind":"phone","value":"`+person["phone"]+`","reason":"x"}`), 400, "/problems/invalid-request")
	wantProblem(t, lift(`{"kind":"shoe","value":"9","reason":"signed a new contract on 2026-11-01"}`), 400, "/problems/invalid-request")
	if r := lift(`{"kind":"phone","value":"` + person["phone"] + `","reason":"signed a new contract on 2026-11-01"}`); r.status != 204 {
		t.Errorf("lift: %d %s", r.status, r.body)
	}
	wantProblem(t, lift(`{"kind":"phone","value":"`+person["phone"]+`","reason":"signed a new contract on 2026-11-01"}`), 404, "/problems/not-found")
	wantProblem(t, e.do("POST", "/v1/suppressions/lift", e.tokens["sales-reader"], "application/json",
		`{"kind":"email","value":"a@b.c","reason":"signed a new contract"}`), 403, "/problems/forbidden")
	// The audit log still verifies and names only ids.
	if err := e.verifyAudit(); err != nil {
		t.Errorf("audit chain after erasure: %v", err)
	}
}

// sealedRecords returns the sealed attributes of a profile's records.
func (e *env) sealedRecords(profile uuid.UUID) [][]byte {
	e.t.Helper()
	_, recs, _, err := e.db.ProfileRecords(context.Background(), profile)
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, r := range recs {
		out = append(out, r.Attrs)
	}
	return out
}

// Legal holds keep records, restricted, through an erasure; restriction
// requests restrict; objections object.
func TestHoldsRestrictionsAndObjections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	if _, err := e.db.AddLegalHold(context.Background(), postgres.LegalHold{ID: uuid.New(), Source: "billing",
		Obligation: "invoices kept for 10 years (tax law)", RetainDays: 3653, CreatedBy: "staff:dpo"}); err != nil {
		t.Fatal(err)
	}
	done := e.complete(e.intake("erasure", w, true, "").ID)
	if !strings.Contains(done.Outcome, "invoices kept for 10 years") {
		t.Errorf("the completion does not list the held record with its reason: %s", done.Outcome)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records WHERE source = 'billing'"); n != 1 {
		t.Errorf("held billing record: %d", n)
	}
	wantProblem(t, e.get(e.tokens["sales-reader"], "/v1/profiles/"+w.String()+"?purpose=billing"), 404, "/problems/not-found")
	if r := e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"?purpose=legal_claims"); r.status != 200 {
		t.Errorf("legal claims on held records: %d %s", r.status, r.body)
	}

	// Restriction of Bartholomew: only legal claims read him.
	e.complete(e.intake("restriction", b, true, "").ID)
	wantProblem(t, e.get(e.tokens["sales-reader"], "/v1/profiles/"+b.String()+"?purpose=support"), 404, "/problems/not-found")
	if r := e.get(e.tokens["dpo"], "/v1/profiles/"+b.String()+"?purpose=legal_claims"); r.status != 200 {
		t.Errorf("legal claims on a restricted profile: %d", r.status)
	}
	// Lifted once its ground is gone: readable again at once.
	restriction := e.intake("restriction", b, true, "")
	wantProblem(t, e.act(restriction.ID, "lift", `{"reason":"not yet"}`), 409, "/problems/invalid-transition")
	e.complete(restriction.ID)
	wantProblem(t, e.act(restriction.ID, "lift", `{"reason":"x"}`), 400, "/problems/invalid-request")
	for _, q := range []string{`SELECT id::text FROM dsr_requests WHERE type = 'restriction' AND state = 'completed'`} {
		for _, id := range strings.Split(pgtest.Query(t, e.owner, "SELECT string_agg(id::text, ',') FROM ("+q+") x"), ",") {
			if r := e.act(id, "lift", `{"reason":"the address was verified as accurate"}`); r.status != 200 {
				t.Fatalf("lift: %d %s", r.status, r.body)
			}
		}
	}
	if r := e.get(e.tokens["sales-reader"], "/v1/profiles/"+b.String()+"?purpose=support"); r.status != 200 {
		t.Errorf("support read after the restrictions were lifted: %d", r.status)
	}

	// An objection to analytics; direct marketing is always covered.
	e.complete(e.intake("objection", b, true, `,"purposes":["analytics"]`).ID)
	var o overview
	e.get(e.tokens["dpo"], "/v1/profiles/"+b.String()+"/consents").json(t, &o)
	if o.state("analytics") != "objected" {
		t.Errorf("analytics after the objection: %s", o.state("analytics"))
	}
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json",
		`{"type":"objection","profile_id":"`+b.String()+`","purposes":["billing"]}`), 400, "/problems/invalid-request")
}

// The lifecycle's rules: bad input, wrong order, one extension, the
// overdue list, duplicates, and customers' own requests.
func TestRequestLifecycleRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	dpo := e.tokens["dpo"]
	for name, c := range map[string]struct {
		body   string
		status int
		typ    string
	}{
		"unknown type":    {`{"type":"forget_me_not","profile_id":"` + w.String() + `"}`, 400, "/problems/invalid-request"},
		"unknown profile": {`{"type":"access","profile_id":"` + uuid.NewString() + `"}`, 404, "/problems/not-found"},
		"unknown field":   {`{"type":"access","profile_id":"` + w.String() + `","urgent":true}`, 400, "/problems/malformed-body"},
	} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, e.do("POST", "/v1/requests", dpo, "application/json", c.body), c.status, c.typ)
		})
	}
	first := e.intake("erasure", w, true, "")
	second := e.intake("erasure", w, true, "")
	if second.DuplicateOf != first.ID || second.State != "verified" {
		t.Errorf("duplicate: %+v", second)
	}
	wantProblem(t, e.act(second.ID, "reject", `{"reason":"dup"}`), 400, "/problems/invalid-request")
	if r := e.act(second.ID, "reject", `{"reason":"a duplicate of the request received the same day"}`); r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	wantProblem(t, e.act(second.ID, "approve", ""), 409, "/problems/invalid-transition")
	wantProblem(t, e.act(first.ID, "extend", `{"months":3,"reason":"twelve years of records in four systems"}`), 400, "/problems/invalid-request")
	r := e.act(first.ID, "extend", `{"months":2,"reason":"twelve years of records in four systems"}`)
	var ext requestBody
	r.json(t, &ext)
	if r.status != 200 || ext.DueAt <= first.DueAt {
		t.Fatalf("extend: %d %s", r.status, r.body)
	}
	wantProblem(t, e.act(first.ID, "extend", `{"months":1,"reason":"twelve years of records in four systems"}`), 409, "/problems/invalid-transition")
	wantProblem(t, e.act(first.ID, "shred", ""), 400, "/problems/invalid-request")
	wantProblem(t, e.act(uuid.NewString(), "approve", ""), 404, "/problems/not-found")

	// Overdue: a request whose deadline passed (moved back in time here).
	late := e.intake("access", w, true, "")
	pgtest.Exec(t, e.owner, "UPDATE dsr_requests SET due_at = now() - interval '1 day' WHERE id = '"+late.ID+"'")
	var list struct {
		Requests []requestBody `json:"requests"`
	}
	e.get(dpo, "/v1/requests?overdue=true").json(t, &list)
	if len(list.Requests) != 1 || list.Requests[0].ID != late.ID {
		t.Errorf("overdue list: %+v", list.Requests)
	}
	e.get(dpo, "/v1/requests?state=rejected").json(t, &list)
	if len(list.Requests) != 1 || list.Requests[0].ID != second.ID {
		t.Errorf("rejected list: %+v", list.Requests)
	}
	e.get(dpo, "/v1/requests?due_before="+time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)).json(t, &list)
	if len(list.Requests) != 1 {
		t.Errorf("due_before: %+v", list.Requests)
	}
	wantProblem(t, e.get(dpo, "/v1/requests?state=lost"), 400, "/problems/invalid-request")

	// A customer's own request: verified by the session, visible to them
	// with its history, someone else's is not theirs.
	me := e.customer(person["email"])
	r = e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"access"}`)
	var mine requestBody
	r.json(t, &mine)
	if r.status != 201 || mine.State != "verified" || mine.Channel != "self_service" || mine.Verification != nil {
		t.Fatalf("customer intake: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("POST", "/v1/me/requests", me.SessionToken, "application/json",
		`{"type":"access","profile_id":"`+uuid.NewString()+`"}`), 400, "/problems/invalid-request")
	e.complete(mine.ID)
	if r := e.get(me.SessionToken, "/v1/me/requests/"+mine.ID+"/export"); r.status != 200 || !strings.Contains(string(r.body), person["national_id"]) {
		t.Errorf("customer export: %d %.300s", r.status, r.body)
	}
	e.get(me.SessionToken, "/v1/me/requests").json(t, &list)
	if len(list.Requests) != 1 || list.Requests[0].ID != mine.ID {
		t.Errorf("my requests: %+v", list.Requests)
	}
	wantProblem(t, e.get(me.SessionToken, "/v1/me/requests/"+first.ID), 404, "/problems/not-found")
	wantProblem(t, e.get(me.SessionToken, "/v1/me/requests/"+first.ID+"/export"), 404, "/problems/not-found")

	// Withdrawing: a request whose work began (here done) cannot be, and
	// stays as it was; one not yet worked on can, once.
	wantProblem(t, e.do("POST", "/v1/me/requests/"+mine.ID+"/withdraw", me.SessionToken, "", ""), 409, "/problems/invalid-transition")
	var after requestBody
	e.get(me.SessionToken, "/v1/me/requests/"+mine.ID).json(t, &after)
	if after.State != "completed" {
		t.Errorf("a completed request after a refused withdrawal: %s", after.State)
	}
	r = e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"restriction"}`)
	var fresh requestBody
	r.json(t, &fresh)
	if r := e.do("POST", "/v1/me/requests/"+fresh.ID+"/withdraw", me.SessionToken, "", ""); r.status != 200 {
		t.Fatalf("withdrawing a request not yet worked on: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("POST", "/v1/me/requests/"+fresh.ID+"/withdraw", me.SessionToken, "", ""), 409, "/problems/invalid-transition")
}

// remainingKeys opens every subject key left in the database: records',
// requests' and steward notes'.
func (e *env) remainingKeys() []*vault.SubjectKey {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.owner)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, kek_id, wrapped_key FROM records WHERE wrapped_key IS NOT NULL
		UNION ALL SELECT id, kek_id, wrapped_key FROM dsr_requests UNION ALL SELECT id, kek_id, wrapped_key FROM steward_decisions`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var keys []*vault.SubjectKey
	for rows.Next() {
		var id [16]byte
		var kek int32
		var wrapped []byte
		if err := rows.Scan(&id, &kek, &wrapped); err != nil {
			e.t.Fatal(err)
		}
		k, err := e.vault.OpenSubjectKey(id, kek, wrapped)
		if err != nil {
			e.t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		e.t.Fatal("no keys left at all: the test proves nothing")
	}
	return keys
}

// verifyAudit walks the whole audit chain against the signed checkpoints.
func (e *env) verifyAudit() error {
	ctx := context.Background()
	e.audit.Close() // signs the last checkpoint
	cps, err := e.db.AuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	v, err := audit.NewVerifier(e.pub, cps)
	if err != nil {
		return err
	}
	var after int64
	for {
		page, err := e.db.AuditEntries(ctx, audit.Query{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for i := range page {
			if err := v.Next(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	_, err = v.Finish()
	return err
}

// recipient registers a webhook recipient for sources and returns what it
// received.
type inbox struct {
	mu       sync.Mutex
	notices  []dsr.NoticePayload
	status   int
	verified bool
	others   []*standardwebhooks.Webhook // more secrets every notice must verify under
	latest   string                      // the newest secret, which signs the legacy header
}

func (e *env) recipient(name, dept string, sources []string, events ...string) *inbox {
	e.t.Helper()
	box := &inbox{status: 200}
	secret := webhook.NewSecret()
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		box.mu.Lock()
		defer box.mu.Unlock()
		// Checked as an off-the-shelf Standard Webhooks receiver would,
		// and by the legacy header too (under the newest secret).
		if err := verifier.Verify(body, r.Header); err != nil {
			w.WriteHeader(401)
			return
		}
		for _, v := range box.others {
			if err := v.Verify(body, r.Header); err != nil {
				w.WriteHeader(401)
				return
			}
		}
		if err := webhook.Verify([]byte(box.newest(secret)), body, r.Header.Get("X-CDP-Signature"), time.Now(), time.Minute); err != nil {
			w.WriteHeader(401)
			return
		}
		box.verified = true
		var p dsr.NoticePayload
		json.Unmarshal(body, &p)
		box.notices = append(box.notices, p)
		w.WriteHeader(box.status)
	}))
	e.t.Cleanup(srv.Close)
	r := postgres.SealedRecipient{Recipient: dsr.Recipient{ID: uuid.New(), Name: name, Department: dept, URL: srv.URL, Sources: sources, Events: events}}
	if r.KEK, r.Wrapped, r.Secret, err = requests.SealSecret(e.vault, r.ID, []byte(secret)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.AddRecipient(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return box
}

// also makes the inbox check a second secret too (a rotation).
func (b *inbox) also(secret string) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.others, b.latest = append(b.others, v), secret
}

func (b *inbox) newest(first string) string {
	if b.latest != "" {
		return b.latest
	}
	return first
}

func (b *inbox) received() []dsr.NoticePayload {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]dsr.NoticePayload(nil), b.notices...)
}

// Erasure notices (Art. 17(2), 19): each department holding records gets
// a signed notice with the record ids; the request completes once each
// acknowledged, or when the DPO overrides an unreachable one.
func TestErasureNoticesWaitForAcknowledgements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	sales := e.recipient("sales-crm", "sales", []string{"sales"})
	billing := e.recipient("billing-erp", "billing", []string{"billing"})
	support := e.recipient("support-desk", "support", []string{"support"}) // holds nothing of her
	billing.status = 500                                                   // down

	req := e.intake("erasure", w, true, "")
	if r := e.act(req.ID, "approve", ""); r.status != 200 {
		t.Fatalf("approve: %d", r.status)
	}
	var v requestBody
	deadline := time.Now().Add(30 * time.Second)
	for len(sales.received()) == 0 || len(billing.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("notices not delivered: sales %d, billing %d", len(sales.received()), len(billing.received()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each is told of its own sources' records only.
	n := sales.received()[0]
	if n.Kind != "erasure" || n.Request.String() != req.ID || len(n.Records) != 1 || len(n.Sources) != 1 || n.Sources[0] != "sales" || !sales.verified {
		t.Errorf("notice: %+v", n)
	}
	if bn := billing.received()[0]; len(bn.Records) != 1 || len(bn.Sources) != 1 || bn.Sources[0] != "billing" {
		t.Errorf("billing's notice: %+v", bn)
	}
	if len(support.received()) != 0 {
		t.Error("a department holding nothing of the person was notified")
	}
	var full struct {
		State   string `json:"state"`
		Notices []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Name   string `json:"recipient"`
		} `json:"notices"`
	}
	e.get(e.tokens["dpo"], "/v1/requests/"+req.ID).json(t, &full)
	if full.State != "in_progress" || len(full.Notices) != 2 {
		t.Fatalf("before acknowledgements: %+v", full)
	}
	// Another department cannot acknowledge sales's notice, nor can a
	// reader of sales: only its system (ingest) or the DPO, audited.
	wantProblem(t, e.do("POST", "/v1/notices/"+n.Notification.String()+"/ack", e.tokens["billing-ingest"], "", ""), 404, "/problems/not-found")
	wantProblem(t, e.do("POST", "/v1/notices/"+n.Notification.String()+"/ack", e.tokens["sales-reader"], "", ""), 404, "/problems/not-found")
	acks := func(outcome string) int {
		k := 0
		for _, en := range e.auditEntries() {
			if en.Action == "acknowledge_notice" && en.Outcome == outcome {
				k++
			}
		}
		return k
	}
	if acks("denied") != 2 {
		t.Errorf("%d refused acknowledgements audited, want 2", acks("denied"))
	}
	if r := e.do("POST", "/v1/notices/"+n.Notification.String()+"/ack", e.tokens["sales-ingest"], "", ""); r.status != 204 {
		t.Fatalf("ack: %d %s", r.status, r.body)
	}
	if acks("allowed") != 1 {
		t.Errorf("the acknowledgement is not audited")
	}
	time.Sleep(300 * time.Millisecond)
	e.get(e.tokens["dpo"], "/v1/requests/"+req.ID).json(t, &full)
	if full.State != "in_progress" {
		t.Fatalf("completed with billing's notice unacknowledged: %+v", full)
	}
	wantProblem(t, e.act(req.ID, "override", `{"reason":"x"}`), 400, "/problems/invalid-request")
	if r := e.act(req.ID, "override", `{"reason":"billing's ERP is retired; its records were erased by hand, ticket 88"}`); r.status != 200 {
		t.Fatalf("override: %d %s", r.status, r.body)
	}
	v = e.waitState(req.ID, "completed")
	last := v.Events[len(v.Events)-2]
	if !strings.Contains(last.Reason, "retired") {
		t.Errorf("the override's reason is not in the history: %+v", v.Events)
	}
	_ = b
}

// Rectification: the person's corrected values win over every
// department's, and the departments holding the profile are told.
func TestRectificationWinsSurvivorshipAndNotifies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	sales := e.recipient("sales-crm", "sales", []string{"sales"})
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json",
		`{"type":"rectification","profile_id":"`+w.String()+`","values":{"shoe_size":"9"}}`), 400, "/problems/invalid-request")
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json",
		`{"type":"rectification","profile_id":"`+w.String()+`"}`), 400, "/problems/invalid-request")
	req := e.intake("rectification", w, true, `,"values":{"street":"4 Harbour Walk","postcode":"LS2 7EW"}`)
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM dsr_requests WHERE position(convert_to('Harbour', 'UTF8') in corrections) > 0"); n != 0 {
		t.Error("the corrected values are stored in plaintext")
	}
	if r := e.act(req.ID, "approve", ""); r.status != 200 {
		t.Fatalf("approve: %d", r.status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sales.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the rectification notice never came")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := sales.received()[0]
	if n.Kind != "rectification" || len(n.Records) != 1 { // its own record only
		t.Errorf("notice: %+v", n)
	}
	if r := e.do("POST", "/v1/notices/"+n.Notification.String()+"/ack", e.tokens["sales-ingest"], "", ""); r.status != 204 {
		t.Fatalf("ack: %d", r.status)
	}
	done := e.waitState(req.ID, "completed")
	// Its outcome says what a rectification did, not what an erasure does.
	if strings.Contains(done.Outcome, "erased") || !strings.Contains(done.Outcome, `"corrected_fields":["postcode","street"]`) {
		t.Errorf("outcome: %s", done.Outcome)
	}
	var p profileBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"?purpose=compliance").json(t, &p)
	if a := p.Attributes["street"]; a.Value != "4 Harbour Walk" || a.Source != "subject" {
		t.Errorf("street after rectification: %+v", a)
	}
	if a := p.Attributes["family_name"]; a.Value != person["family_name"] {
		t.Errorf("an attribute the person did not correct changed: %+v", a)
	}
}

// Retention: records kept past their source's retention are erased by
// requests the system files itself, with the same trail; the person is not
// suppressed.
func TestRetentionErasesExpiredRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	if err := e.db.SetRetention(context.Background(), "sales", 365); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, e.owner, "UPDATE records SET updated_at = now() - interval '400 days' WHERE source = 'sales'")
	var list struct {
		Requests []requestBody `json:"requests"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.get(e.tokens["dpo"], "/v1/requests?state=completed").json(t, &list)
		if len(list.Requests) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention erasures: %+v", list.Requests)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range list.Requests {
		if r.Channel != "retention" || r.Type != "erasure" {
			t.Errorf("request %+v", r)
		}
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records WHERE source = 'sales'"); n != 0 {
		t.Errorf("%d expired sales records left", n)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records"); n != 2 {
		t.Errorf("%d records left, want billing's and the newsletter's", n)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM suppressions"); n != 0 {
		t.Errorf("retention suppressed %d identifiers", n)
	}
	if r := e.get(e.tokens["dpo"], "/v1/profiles/"+w.String()+"?purpose=compliance"); r.status != 200 {
		t.Errorf("the rest of Wilhelmina's profile: %d", r.status)
	}
	wantProblem(t, e.get(e.tokens["dpo"], "/v1/profiles/"+b.String()+"?purpose=compliance"), 410, "/problems/erased")
}

// With step-up on, a customer logged in with a password only (AAL1) may
// not ask for erasure or an export; other requests are fine.
func TestStepUpForErasureAndExports(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *app.Config) { c.StepUp = true })
	e.seed()
	me := e.customer(person["email"])
	for _, typ := range []string{"erasure", "access", "portability"} {
		wantProblem(t, e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"`+typ+`"}`), 403, "/problems/step-up-required")
	}
	if r := e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"restriction"}`); r.status != 201 {
		t.Errorf("restriction: %d %s", r.status, r.body)
	}
}

// A customer erases themselves from their account: their records go, and
// so does their Kratos account (neither their address nor their name
// lives on there), listed in the request's report. Signing up again with
// the same address is a new lawful basis: it is no longer suppressed and
// a new profile starts.
func TestCustomerErasesThemselvesAndComesBack(t *testing.T) {
	t.Parallel()
	e := newEnvDeletingAccounts(t)
	email := "phoenix-" + uuid.NewString()[:8] + "@example.org"
	r := e.do("POST", "/v1/records", e.tokens["sales-ingest"], "application/json",
		`[{"source":"sales","source_id":"s-`+email+`","given_name":"Phoebe","family_name":"Nix","email":"`+email+`","phone":"07700 900444"}]`)
	if r.status != 200 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	me := e.kratos.Account(t, email, "correct horse battery staple 7", "Phoebe", "Nix")
	var mine requestBody
	r = e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"erasure"}`)
	r.json(t, &mine)
	if r.status != 201 {
		t.Fatalf("erasure request: %d %s", r.status, r.body)
	}
	done := e.complete(mine.ID)
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records"); n != 0 {
		t.Fatalf("%d records left", n)
	}
	if !strings.Contains(done.Outcome, `"customer_accounts_deleted":["`+me.IdentityID+`"]`) {
		t.Errorf("the report does not list the deleted account: %s", done.Outcome)
	}
	resp, err := http.Get(e.kratos.AdminURL + "/admin/identities/" + me.IdentityID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the Kratos identity of the erased customer: %d, want 404", resp.StatusCode)
	}
	wantProblem(t, e.get(me.SessionToken, "/v1/me"), 401, "/problems/unauthenticated")
	time.Sleep(1100 * time.Millisecond) // a new account is created after the erasure, to the second
	again := e.kratos.Account(t, email, "correct horse battery staple 8", "Phoebe", "Nix")
	if again.IdentityID == me.IdentityID {
		t.Fatal("signing up again found the old account")
	}
	r = e.get(again.SessionToken, "/v1/me")
	var fresh profileBody
	r.json(t, &fresh)
	if r.status != 200 || fresh.Attributes["email"].Source != "self_service" || fresh.Attributes["email"].Value != email {
		t.Fatalf("signing up again: %d %s", r.status, r.body)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM suppressions WHERE kind = 'email' AND lifted_at IS NULL"); n != 0 {
		t.Errorf("the address is still suppressed")
	}
	var list struct {
		Requests []requestBody `json:"requests"`
	}
	e.get(again.SessionToken, "/v1/me/requests").json(t, &list)
	if len(list.Requests) != 0 {
		t.Errorf("the new account sees the old account's requests: %+v", list.Requests)
	}
}

// A request that cannot be carried out fails, with its cause, instead of
// staying in progress: an objection for a person erased meanwhile. An
// erasure of someone already erased completes, naming the request that
// did it.
func TestRequestThatCannotBeDoneFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json",
		`{"type":"rectification","profile_id":"`+w.String()+`","values":{"family_name":"Bright\u0001water"}}`), 400, "/problems/invalid-request")
	objection := e.intake("objection", w, true, "")
	second := e.intake("erasure", w, true, "")
	first := e.complete(e.intake("erasure", w, true, "").ID)
	if r := e.act(objection.ID, "approve", ""); r.status != 200 {
		t.Fatalf("approve: %d", r.status)
	}
	v := e.waitState(objection.ID, "failed")
	last := v.Events[len(v.Events)-1]
	if last.To != "failed" || last.Actor != "system:jobs" || !strings.Contains(last.Reason, w.String()) {
		t.Errorf("failure: %+v", last)
	}
	done := e.complete(second.ID)
	if !strings.Contains(done.Outcome, first.ID) {
		t.Errorf("a second erasure: %s", done.Outcome)
	}
}

// Approving a request not verified yet says what to do first.
func TestApprovingAnUnverifiedRequestSaysVerifyFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	req := e.intake("access", w, false, "")
	p := wantProblem(t, e.act(req.ID, "approve", ""), 409, "/problems/invalid-transition")
	if !strings.Contains(p.Detail, "verify") {
		t.Errorf("detail %q does not say to verify first", p.Detail)
	}
}

// A customer's request reaches the DPO without polling: the DPO's desk
// (a recipient of request_filed) gets a signed notice through the outbox,
// the metric counts it as awaiting a decision, and it does not hold up
// the request's own notices.
func TestTheDPOIsToldOfACustomersRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seed()
	desk := e.recipient("dpo-desk", "compliance", nil, "request_filed")
	sales := e.recipient("sales-crm", "sales", []string{"sales"}) // erasure and rectification only
	me := e.customer(person["email"])
	r := e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"restriction"}`)
	var mine requestBody
	r.json(t, &mine)
	if r.status != 201 {
		t.Fatalf("customer request: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(desk.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the DPO's desk was not told")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := desk.received()[0]
	if n.Kind != "request_filed" || n.Request.String() != mine.ID || n.RequestType != "restriction" || n.DueAt == nil || len(n.Records) != 0 {
		t.Errorf("notice: %+v", n)
	}
	if len(sales.received()) != 0 {
		t.Errorf("a department heard of the filing: %+v", sales.received())
	}
	// The request completes without anyone acknowledging that notice.
	e.complete(mine.ID)
}
