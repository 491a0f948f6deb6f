package httpapi_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// TestSegmentsAnswerBadInputClearly: every way into segments refuses what
// cannot be with a problem that says why, and writes nothing.
func TestSegmentsAnswerBadInputClearly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seed()
	mkt, dpo := e.tokens["marketing-reader"], e.tokens["dpo"]
	post := func(tok, path, body string) response { return e.do("POST", path, tok, "application/json", body) }
	for _, c := range []struct {
		name, body, detail string
	}{
		{"not CEL", `{"name":"x1","purpose":"marketing","condition":"orders >= ","description":"d"}`, "invalid condition"},
		{"not true or false", `{"name":"x1","purpose":"marketing","condition":"revenue","description":"d"}`, "not true or false"},
		{"a wrong type", `{"name":"x1","purpose":"marketing","condition":"orders >= \"three\"","description":"d"}`, "invalid condition"},
		{"an unknown trait", `{"name":"x1","purpose":"marketing","condition":"shoe_size > 40","description":"d"}`, "undeclared reference"},
		{"an unknown purpose", `{"name":"x1","purpose":"astrology","condition":"orders > 1","description":"d"}`, "not in the catalogue"},
		{"a bad name", `{"name":"X 1","purpose":"marketing","condition":"orders > 1","description":"d"}`, "name:"},
		{"no description", `{"name":"x1","purpose":"marketing","condition":"orders > 1"}`, "description:"},
	} {
		p := e.wantProblem(post(mkt, "/v1/segments", c.body), 400, "/problems/invalid-request")
		if !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %q, want it to say %q", c.name, p.Detail, c.detail)
		}
	}
	e.wantProblem(post(mkt, "/v1/segments", `{"name":`), 400, "/problems/malformed-body")
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM segments"); n != 0 {
		t.Fatalf("%d segments after refused requests", n)
	}
	// A purpose the roles may not declare: refused, audited.
	e.wantProblem(post(mkt, "/v1/segments", `{"name":"fraudsters","purpose":"fraud_prevention","condition":"returns > 3","description":"d"}`),
		403, "/problems/forbidden")
	ok := `{"name":"loyal","purpose":"marketing","condition":"orders >= 3","description":"Three orders or more"}`
	if r := post(mkt, "/v1/segments", ok); r.status != 201 {
		t.Fatalf("a good segment: %d %s", r.status, r.body)
	}
	e.wantProblem(post(mkt, "/v1/segments", ok), 409, "/problems/conflict")
	e.wantProblem(e.get(mkt, "/v1/segments/nobody"), 404, "/problems/not-found")
	e.wantProblem(post(mkt, "/v1/segments/loyal/activate", ""), 400, "/problems/invalid-request")
	e.wantProblem(post(mkt, "/v1/segments/loyal/activate?destination=nowhere", ""), 404, "/problems/not-found")
	e.wantProblem(post(mkt, "/v1/segments/loyal/members/"+uuid.NewString()+"/review", `{}`), 400, "/problems/invalid-request")
	e.wantProblem(post(mkt, "/v1/segments/loyal/members/"+uuid.NewString()+"/review", `{"approve":true}`), 400, "/problems/invalid-request")
	e.wantProblem(e.get(mkt, "/v1/segments/loyal/members?after=yesterday"), 400, "/problems/invalid-request")
	e.wantProblem(post(mkt, "/v1/traits/compute", ""), 403, "/problems/forbidden")
	if r := post(dpo, "/v1/traits/compute", ""); r.status != 200 {
		t.Errorf("the DPO computes traits: %d %s", r.status, r.body)
	}
}
