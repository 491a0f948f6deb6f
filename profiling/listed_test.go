package profiling

import (
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/policy"
)

// Under a purpose that does not see traits, a segment's history keeps who
// entered or left and when, and withholds why: the reason (trait values,
// an objection) and the activation's note of why a change was held back.
// Every profile listed is named in the audit entry.
func TestListedWithholdsWhyUnlessThePurposeSeesTraits(t *testing.T) {
	p, q := uuid.New(), uuid.New()
	history := func() []crm.HistoryEntry {
		return []crm.HistoryEntry{
			{Profile: p, Change: "entered", Reason: "condition holds: revenue = 4321.09", Activation: "withheld: objection to profiling"},
			{Profile: p, Change: "left", Reason: "objection to profiling", Activation: "sent to csv"},
		}
	}
	a := &access.Allowed{Decision: policy.Decision{Fields: []string{}}}
	h := history()
	listed(a, h, []crm.Member{{Profile: q}})
	for _, e := range h {
		if e.Reason != "" || (e.Activation != "withheld" && e.Activation != "sent to csv") {
			t.Errorf("withheld under a purpose without traits: %+v", e)
		}
	}
	if len(a.Named) != 2 || a.Named[0] != p.String() || a.Named[1] != q.String() || len(a.Fields) != 0 {
		t.Errorf("named %v, fields %v; want both profiles once, no field", a.Named, a.Fields)
	}
	a = &access.Allowed{Decision: policy.Decision{Fields: []string{"traits"}}}
	h = history()
	listed(a, h, nil)
	if h[0].Reason == "" || h[0].Activation != "withheld: objection to profiling" || len(a.Fields) != 1 {
		t.Errorf("shown under a purpose that sees traits: %+v, fields %v", h[0], a.Fields)
	}
}
