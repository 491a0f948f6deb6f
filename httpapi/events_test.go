package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// A department sends its interactions; each purpose sees its own kinds of
// contact on the person's timeline, their text only where allowed; the
// person sees theirs; an erasure takes them all.
func TestInteractionsOnTheTimeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	csv := "source,source_id,record_source_id,type,channel,occurred_at,amount,currency,satisfaction,note\n" +
		"sales,o-1,sales-cust-88231,order,web,2026-03-01T10:00:00Z,42.50,GBP,,gift wrap please\n" +
		"sales,t-1,sales-cust-88231,ticket,phone,2026-03-02,,,2,the parcel arrived late\n" +
		"sales,c-1,sales-cust-88231,campaign_response,email,2026-03-03,,,,clicked spring offer\n" +
		"sales,x-1,nobody-here,order,web,2026-03-04,1,GBP,,\n" +
		"sales,x-2,sales-cust-88231,order,web,not a date,,,,\n"
	r := e.do("POST", "/v1/events", e.tokens["sales-ingest"], "text/csv", csv)
	var got struct {
		Summary struct{ Created, Unchanged, Rejected int } `json:"summary"`
	}
	r.json(t, &got)
	if r.status != 200 || got.Summary.Created != 3 || got.Summary.Rejected != 2 {
		t.Fatalf("events: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/events", e.tokens["sales-ingest"], "text/csv", csv); !strings.Contains(string(r.body), `"unchanged":3`) {
		t.Errorf("the same events again: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/events", e.tokens["billing-ingest"], "text/csv", csv); !strings.Contains(string(r.body), "another department") {
		t.Errorf("another department's source: %d %s", r.status, r.body)
	}
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM interactions WHERE attrs IS NOT NULL AND position('arrived late'::bytea in attrs) > 0"); n != 0 {
		t.Error("an interaction's text is stored in the clear")
	}

	timeline := func(token, purpose string) (int, map[string]bool, string) {
		r := e.get(token, "/v1/profiles/"+w.String()+"/timeline?purpose="+purpose)
		var tl struct {
			Contacts []struct {
				Type string `json:"type"`
			} `json:"contacts"`
		}
		json.Unmarshal(r.body, &tl)
		types := map[string]bool{}
		for _, c := range tl.Contacts {
			types[c.Type] = true
		}
		return r.status, types, string(r.body)
	}
	status, types, body := timeline(e.tokens["support-reader"], "support")
	if status != 200 || !types["order"] || !types["ticket"] || types["campaign_response"] || !strings.Contains(body, "arrived late") {
		t.Errorf("support's timeline: %d %v %s", status, types, body)
	}
	if status, _, _ := timeline(e.tokens["marketing-reader"], "marketing"); status != 404 {
		t.Errorf("marketing without consent: %d, want 404", status)
	}
	status, types, body = timeline(e.tokens["support-reader"], "analytics")
	if status != 200 || !types["campaign_response"] || strings.Contains(body, "arrived late") {
		t.Errorf("analytics' timeline: %d %v %s", status, types, body)
	}

	me := e.customer(person["email"])
	if r := e.get(me.SessionToken, "/v1/me/timeline"); r.status != 200 || !strings.Contains(string(r.body), "gift wrap") {
		t.Errorf("the customer's own timeline: %d %s", r.status, r.body)
	}

	// The person's export carries their timeline, with its text.
	x := e.intake("access", w, true, "")
	e.complete(x.ID)
	if r := e.get(e.tokens["dpo"], "/v1/requests/"+x.ID+"/export"); !strings.Contains(string(r.body), `"timeline"`) ||
		!strings.Contains(string(r.body), "arrived late") {
		t.Errorf("the export lacks the timeline: %d %.300s", r.status, r.body)
	}

	// Erased, the person's interactions go with their records.
	e.complete(e.intake("erasure", w, true, "").ID)
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM interactions"); n != 0 {
		t.Errorf("%d interactions outlive the erasure", n)
	}
}
