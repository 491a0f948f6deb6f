package httpapi_test

import (
	"strings"
	"testing"

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
