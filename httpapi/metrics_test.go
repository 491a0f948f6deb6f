package httpapi_test

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Mixed traffic over every route, several rounds, then a scrape: it
// answers 200, parses, and holds every series once, each labelled with a
// real method and route (fiber's strings are reused buffers: a label kept
// without copying turned into "GETT" and duplicated series).
func TestMetricsSurviveMixedTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	me := e.customer(person["email"])
	request := e.intake("access", w, true, "")
	e.complete(request.ID)
	calls := routeCalls(w, b, request.ID, request.ID)
	var routes []string
	for route := range calls {
		routes = append(routes, route)
	}
	sort.Strings(routes)
	for round := 0; round < 3; round++ {
		for _, route := range routes {
			for _, c := range calls[route] {
				token := e.tokens["all-roles"]
				if c.customer {
					token = me.SessionToken
				}
				e.do(strings.Fields(route)[0], c.path, token, c.ctype, c.body)
			}
		}
	}
	r := e.get("", "/metrics")
	if r.status != 200 {
		t.Fatalf("scrape: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	methods := map[string]bool{"GET": true, "POST": true, "PUT": true, "HEAD": true, "DELETE": true, "OPTIONS": true, "PATCH": true}
	seen := map[string]bool{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var key strings.Builder
			key.WriteString(name)
			for _, l := range m.GetLabel() {
				key.WriteString("," + l.GetName() + "=" + l.GetValue())
				if l.GetName() == "method" && !methods[l.GetValue()] {
					t.Errorf("%s: method label %q", name, l.GetValue())
				}
				if l.GetName() == "route" && !strings.HasPrefix(l.GetValue(), "/") {
					t.Errorf("%s: route label %q", name, l.GetValue())
				}
			}
			if seen[key.String()] {
				t.Errorf("series %s appears twice", key.String())
			}
			seen[key.String()] = true
		}
	}
	if _, ok := families["cdp_http_requests_total"]; !ok {
		t.Errorf("no request counter in the scrape (%d series)", len(seen))
	}
}
