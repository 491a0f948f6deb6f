package httpapi_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// walkSegment is the segment the route walk creates: everyone profiled,
// for a purpose the walk's token may declare.
const walkSegment = `{"name":"walkers","purpose":"profiling","condition":"interactions >= 0","description":"Everyone, for the walk"}`

// routeCall is how the route walk calls one route.
type routeCall struct {
	path, ctype, body string
	customer          bool // with the customer's Kratos session instead of the staff token
}

// routeCalls says, for every route of the API, how to call it with
// arguments that reach its data. A route missing here fails the walk:
// whoever adds a route must say how it is reached.
func routeCalls(w, b uuid.UUID, request, myRequest string) map[string][]routeCall {
	wp := "/v1/profiles/" + w.String()
	return map[string][]routeCall{
		"GET /healthz":      {{path: "/healthz"}},
		"GET /readyz":       {{path: "/readyz"}},
		"GET /metrics":      {{path: "/metrics"}},
		"GET /openapi.yaml": {{path: "/openapi.yaml"}},
		"POST /v1/records":  {{path: "/v1/records", ctype: "application/json", body: seedSales}},
		"GET /v1/profiles": {
			{path: "/v1/profiles?purpose=fraud_prevention&email=wilhelmina.ob@example.org"},
			{path: "/v1/profiles?purpose=fraud_prevention&phone=07700900987"},
		},
		"GET /v1/profiles/:id":            {{path: "/v1/profiles/" + w.String() + "?purpose=fraud_prevention"}},
		"GET /v1/profiles/:id/records":    {{path: "/v1/profiles/" + w.String() + "/records?purpose=fraud_prevention"}},
		"GET /v1/profiles/:id/lineage":    {{path: "/v1/profiles/" + w.String() + "/lineage"}},
		"GET /v1/profiles/:id/timeline":   {{path: "/v1/profiles/" + w.String() + "/timeline?purpose=fraud_prevention"}},
		"GET /v1/profiles/:id/traits":     {{path: wp + "/traits?purpose=profiling"}},
		"POST /v1/traits/compute":         {{path: "/v1/traits/compute"}},
		"GET /v1/traits/computations/:id": {{path: "/v1/traits/computations/1"}},
		"GET /v1/crm/charts":              {{path: "/v1/crm/charts"}},
		"GET /v1/segments":                {{path: "/v1/segments"}},
		"POST /v1/segments":               {{path: "/v1/segments", ctype: "application/json", body: walkSegment}},
		"POST /v1/segments/preview":       {{path: "/v1/segments/preview", ctype: "application/json", body: walkSegment}},
		"GET /v1/segments/:name":          {{path: "/v1/segments/walkers"}},
		"DELETE /v1/segments/:name":       {{path: "/v1/segments/nobody"}},
		"POST /v1/segments/:name/refresh": {{path: "/v1/segments/walkers/refresh"}},
		"GET /v1/segments/:name/members":  {{path: "/v1/segments/walkers/members"}},
		"POST /v1/segments/:name/members/:profile/review": {{path: "/v1/segments/walkers/members/" + w.String() + "/review",
			ctype: "application/json", body: `{"approve":true}`}},
		"POST /v1/segments/:name/activate": {{path: "/v1/segments/walkers/activate?destination=csv"}},
		"POST /v1/events": {{path: "/v1/events", ctype: "text/csv",
			body: "source,source_id,record_source_id,type,channel,occurred_at,note\nsales,walk-1,sales-cust-88231,ticket,phone,2026-03-02,walking\n"}},
		"GET /v1/review":   {{path: "/v1/review"}},
		"GET /v1/disputes": {{path: "/v1/disputes"}},
		"POST /v1/disputes/:id/settle": {{path: "/v1/disputes/" + uuid.NewString() + "/settle", ctype: "application/json",
			body: `{"outcome":"keep","reason":"walking every route"}`}},
		"GET /v1/audit": {{path: "/v1/audit?profile=" + w.String()}},
		"POST /v1/review/:pair": {{path: "/v1/review/" + uuid.NewString(), ctype: "application/json",
			body: `{"decision":"distinct","reason":"walk"}`}},
		"POST /v1/profiles/merge": {{path: "/v1/profiles/merge", ctype: "application/json",
			body: `{"profiles":["` + w.String() + `","` + b.String() + `"],"reason":"walk"}`}},
		"POST /v1/profiles/:id/split": {{path: "/v1/profiles/" + w.String() + "/split", ctype: "application/json",
			body: `{"records":["` + uuid.NewString() + `"],"reason":"walk"}`}},

		"GET /v1/profiles/:id/consents":       {{path: wp + "/consents"}},
		"GET /v1/profiles/:id/consents/proof": {{path: wp + "/consents/proof"}},
		"POST /v1/profiles/:id/consents": {{path: wp + "/consents", ctype: "application/json",
			body: `{"purpose":"partner_sharing","state":"granted","notice_version":1,"method":"call_centre","evidence":{"call":"c-1"}}`}},
		"GET /v1/consents/conflicts":   {{path: "/v1/consents/conflicts"}},
		"GET /v1/purposes":             {{path: "/v1/purposes"}},
		"GET /v1/purposes/:id/notices": {{path: "/v1/purposes/marketing/notices"}},
		"POST /v1/purposes": {{path: "/v1/purposes", ctype: "application/json",
			body: `{"id":"surveys","description":"Customer satisfaction surveys.","legal_basis":"consent","retention_days":365}`}},
		"PUT /v1/purposes/:id": {{path: "/v1/purposes/surveys", ctype: "application/json",
			body: `{"description":"Customer satisfaction surveys by email.","legal_basis":"consent","retention_days":365}`}},
		"POST /v1/purposes/:id/notices": {{path: "/v1/purposes/surveys/notices", ctype: "application/json",
			body: `{"text":"May we ask you, now and then, how we did?"}`}},

		"POST /v1/requests": {{path: "/v1/requests", ctype: "application/json",
			body: `{"type":"portability","profile_id":"` + w.String() + `","verification":{"method":"walk"}}`}},
		"GET /v1/requests":            {{path: "/v1/requests?state=completed"}},
		"GET /v1/requests/:id":        {{path: "/v1/requests/" + request}},
		"GET /v1/requests/:id/export": {{path: "/v1/requests/" + request + "/export"}, {path: "/v1/requests/" + request + "/export?format=csv"}},
		"POST /v1/notices/:id/ack":    {{path: "/v1/notices/" + uuid.NewString() + "/ack"}},
		"POST /v1/suppressions/lift": {{path: "/v1/suppressions/lift", ctype: "application/json",
			body: `{"kind":"email","value":"nobody@example.org","reason":"walking every route"}`}},
		"POST /v1/requests/:id/:action": {{path: "/v1/requests/" + request + "/extend", ctype: "application/json",
			body: `{"months":1,"reason":"walking every route of the API"}`}},

		// A customer: Wilhelmina herself, logged in through Kratos.
		"GET /v1/me":                  {{path: "/v1/me", customer: true}},
		"GET /v1/me/records":          {{path: "/v1/me/records", customer: true}},
		"GET /v1/me/consents":         {{path: "/v1/me/consents", customer: true}},
		"GET /v1/me/consents/history": {{path: "/v1/me/consents/history", customer: true}},
		"PUT /v1/me/consents/:purpose": {{path: "/v1/me/consents/marketing", customer: true, ctype: "application/json",
			body: `{"state":"granted","notice_version":1}`}},
		"POST /v1/me/requests":              {{path: "/v1/me/requests", customer: true, ctype: "application/json", body: `{"type":"restriction"}`}},
		"GET /v1/me/requests":               {{path: "/v1/me/requests", customer: true}},
		"POST /v1/me/requests/:id/withdraw": {{path: "/v1/me/requests/" + uuid.NewString() + "/withdraw", customer: true}},
		"POST /v1/me/records/:id/dispute":   {{path: "/v1/me/records/" + uuid.NewString() + "/dispute", customer: true}},
		"GET /v1/me/disputes":               {{path: "/v1/me/disputes", customer: true}},
		"GET /v1/me/timeline":               {{path: "/v1/me/timeline", customer: true}},
		"GET /v1/me/traits":                 {{path: "/v1/me/traits", customer: true}},
		"GET /v1/me/requests/:id":           {{path: "/v1/me/requests/" + myRequest, customer: true}},
		"GET /v1/me/requests/:id/export":    {{path: "/v1/me/requests/" + myRequest + "/export", customer: true}},
	}
}

// TestEveryRouteDecidesAndAuditsBeforePersonalData walks every route of
// the API with a token holding every role and a purpose that sees almost
// everything. Wherever a response carries one of the person's values, the
// audit log must hold a committed, allowed entry of that very request
// naming the field. Then it walks them again with audit writes failing:
// no response may carry any of the values.
func TestEveryRouteDecidesAndAuditsBeforePersonalData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	me := e.customer(person["email"])
	request := e.intake("access", w, true, "")
	e.complete(request.ID)
	r := e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"access"}`)
	var mine requestBody
	r.json(t, &mine)
	e.complete(mine.ID)
	calls := routeCalls(w, b, request.ID, mine.ID)

	var routes []string
	for _, r := range e.srv.App().GetRoutes(true) {
		if r.Method == "HEAD" {
			continue // fiber answers HEAD with the GET handler, minus the body
		}
		key := r.Method + " " + r.Path
		if _, ok := calls[key]; !ok {
			t.Errorf("route %s is not walked: add it to routeCalls", key)
		}
		routes = append(routes, key)
	}
	sort.Strings(routes)
	// Mutating routes last, so reads see the seeded profiles.
	sort.SliceStable(routes, func(i, j int) bool {
		return strings.HasPrefix(routes[i], "GET") && !strings.HasPrefix(routes[j], "GET")
	})

	walk := func(t *testing.T, auditWorks bool) {
		shown := 0
		for _, route := range routes {
			for _, c := range calls[route] {
				method := strings.Fields(route)[0]
				token := e.tokens["all-roles"]
				if c.customer {
					token = me.SessionToken
				}
				r := e.do(method, c.path, token, c.ctype, c.body)
				if r.status >= 500 && auditWorks {
					t.Errorf("%s %s: %d %s", method, c.path, r.status, r.body)
				}
				var leaked []string
				for field, v := range person {
					if strings.Contains(string(r.body), v) {
						leaked = append(leaked, field)
					}
				}
				if len(leaked) == 0 {
					if testing.Verbose() {
						t.Logf("%s %s: %d %.300s", method, c.path, r.status, r.body)
					}
					continue
				}
				shown++
				if !auditWorks {
					t.Errorf("%s %s returned %v with the audit log failing: %s", method, c.path, leaked, r.body)
					continue
				}
				es := e.entriesOf(r.header.Get("X-Request-ID"))
				allowed := map[string]bool{}
				for _, en := range es {
					if en.Outcome == audit.Allowed && en.DecisionID != "" && en.PolicyRevision != "" {
						for _, f := range en.Fields {
							allowed[f] = true
						}
					}
				}
				for _, f := range leaked {
					if !allowed[f] {
						t.Errorf("%s %s returned %s without an audit entry naming it (entries %+v)", method, c.path, f, es)
					}
				}
			}
		}
		if auditWorks && shown < 4 {
			t.Errorf("only %d responses carried personal data: the walk does not reach the data", shown)
		}
	}
	t.Run("audit failing", func(t *testing.T) {
		pgtest.Exec(t, e.owner, "REVOKE INSERT ON audit_log FROM cdp_app")
		defer pgtest.Exec(t, e.owner, "GRANT INSERT ON audit_log TO cdp_app")
		walk(t, false)
	})
	t.Run("audit working", func(t *testing.T) { walk(t, true) })
	// Every route logged its request, the customer's and the jobs' work
	// included: none of it holds a value of the person.
	logs := e.logs.String()
	for field, v := range person {
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the person's %s", field)
		}
	}
}
