package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// "This isn't me": a customer disputes a record they are shown; a
// stranger's record is none of theirs to dispute. The stewards see the
// dispute and split the record out; the customer sees the outcome and no
// longer the record. A reader may not settle it, and a dispute is settled
// once.
func TestCustomerDisputesARecordStewardsSplitIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, bart := e.seed()
	me := e.customer(person["email"])
	e.get(me.SessionToken, "/v1/me") // links the account
	disputed := e.recordOf(w, "billing")
	if r := e.do("POST", "/v1/me/records/"+pgtest.Query(t, e.owner, "SELECT record_id::text FROM customer_links WHERE kratos_identity = '"+me.IdentityID+"'")+"/dispute", me.SessionToken, "", ""); r.status != 400 {
		t.Fatalf("disputing the record the account is linked to: %d %s, want 400", r.status, r.body)
	}
	if r := e.do("POST", "/v1/me/records/"+e.recordOf(bart, "sales")+"/dispute", me.SessionToken, "", ""); r.status != 404 {
		t.Fatalf("disputing a stranger's record: %d %s", r.status, r.body)
	}
	var d struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	r := e.do("POST", "/v1/me/records/"+disputed+"/dispute", me.SessionToken, "", "")
	r.json(t, &d)
	if r.status != 201 || d.State != "open" {
		t.Fatalf("dispute: %d %s", r.status, r.body)
	}
	again := e.do("POST", "/v1/me/records/"+disputed+"/dispute", me.SessionToken, "", "")
	if again.status != 201 || !strings.Contains(string(again.body), d.ID) {
		t.Fatalf("disputing again: %d %s, want the open dispute %s", again.status, again.body, d.ID)
	}
	if r := e.get(e.tokens["steward"], "/v1/disputes"); r.status != 200 || !strings.Contains(string(r.body), d.ID) {
		t.Fatalf("the stewards' disputes: %d %s", r.status, r.body)
	}
	settle := `{"outcome":"split","reason":"the customer says this record is not theirs"}`
	if r := e.do("POST", "/v1/disputes/"+d.ID+"/settle", e.tokens["sales-reader"], "application/json", settle); r.status != 404 {
		t.Fatalf("a reader settles a dispute: %d %s, want 404", r.status, r.body)
	}
	if r := e.do("POST", "/v1/disputes/"+d.ID+"/settle", e.tokens["steward"], "application/json", settle); r.status != 200 ||
		!strings.Contains(string(r.body), `"state":"split"`) {
		t.Fatalf("settle: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/disputes/"+d.ID+"/settle", e.tokens["steward"], "application/json", settle); r.status != 409 {
		t.Fatalf("settling again: %d %s, want 409", r.status, r.body)
	}
	if r := e.get(me.SessionToken, "/v1/me/disputes"); r.status != 200 || !strings.Contains(string(r.body), `"state":"split"`) {
		t.Fatalf("my disputes: %d %s", r.status, r.body)
	}
	if r := e.get(me.SessionToken, "/v1/me/records"); strings.Contains(string(r.body), disputed) {
		t.Fatalf("the split record is still shown to the customer: %s", r.body)
	}
}

// The probe of 2026-12-04: any token could ask whether a dispute exists
// and how it was settled (a settled one answered 409, an unknown one 404,
// an open one 404 naming the disputing customer's profile), unaudited. A
// principal who may not settle disputes is refused before the dispute is
// looked at, the same way whatever the id, and the refusal is audited.
func TestSettlingIsRefusedBeforeTheDisputeIsLookedAt(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	me := e.customer(person["email"])
	e.get(me.SessionToken, "/v1/me")
	open := func() string {
		var d struct {
			ID string `json:"id"`
		}
		e.do("POST", "/v1/me/records/"+e.recordOf(w, "billing")+"/dispute", me.SessionToken, "", "").json(t, &d)
		if d.ID == "" {
			t.Fatal("no dispute opened")
		}
		return d.ID
	}
	settle := `{"outcome":"keep","reason":"checked with the customer"}`
	settled := open()
	if r := e.do("POST", "/v1/disputes/"+settled+"/settle", e.tokens["steward"], "application/json", settle); r.status != 200 {
		t.Fatalf("the steward settles: %d %s", r.status, r.body)
	}
	pending := open()
	unknown := "01950000-0000-7000-8000-000000000000"
	for _, tok := range []string{"sales-ingest", "sales-reader"} {
		var answers []string
		for _, id := range []string{settled, pending, unknown} {
			r := e.do("POST", "/v1/disputes/"+id+"/settle", e.tokens[tok], "application/json", settle)
			if strings.Contains(string(r.body), w.String()) {
				t.Errorf("%s: the refusal names the customer's profile: %s", tok, r.body)
			}
			var pr struct{ Type, Detail string }
			r.json(t, &pr)
			body := strings.ReplaceAll(pr.Type+" "+pr.Detail, id, "ID")
			answers = append(answers, fmt.Sprintf("%d %s", r.status, body))
			if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) == 0 || es[0].Outcome != audit.Denied {
				t.Errorf("%s settling %s: the refusal is not audited (%+v)", tok, id, es)
			}
		}
		if answers[0] != answers[1] || answers[1] != answers[2] || strings.HasPrefix(answers[0], "200") {
			t.Errorf("%s tells disputes apart: %q", tok, answers)
		}
	}
}
