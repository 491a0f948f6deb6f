package web

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/requests"
)

// Chain is the audit log's hash chain as the DPO sees it (app.Chain).
type Chain interface {
	State(ctx context.Context) (audit.ChainState, error)
	Verify()
}

type auditView struct {
	Profile, Principal, Purpose, From, To string
	Asked                                 bool
	Entries                               []audit.Entry
	Chain                                 *audit.ChainState
}

// auditPage searches the audit log (by profile, principal, purpose and
// time) and shows the chain's state, with a button that verifies it.
func (s *Site) auditPage(c *fiber.Ctx, m *staffMember) error {
	v := auditView{Profile: strings.TrimSpace(c.Query("profile")), Principal: strings.TrimSpace(c.Query("principal")),
		Purpose: strings.TrimSpace(c.Query("purpose")), From: c.Query("from"), To: c.Query("to")}
	if s.cfg.Chain != nil {
		st, err := s.cfg.Chain.State(c.UserContext())
		if err != nil {
			return err
		}
		v.Chain = &st
	}
	if v.Profile != "" || v.Principal != "" || v.Purpose != "" || v.From != "" || v.To != "" {
		v.Asked = true
		q := audit.Query{Profile: v.Profile, Principal: strings.TrimPrefix(v.Principal, "staff:"), Purpose: v.Purpose, Limit: 500}
		var err error
		if v.From != "" {
			if q.From, err = time.Parse("2006-01-02", v.From); err != nil {
				return failWith(fiber.StatusBadRequest, "console.breach_dates")
			}
		}
		if v.To != "" {
			if q.To, err = time.Parse("2006-01-02", v.To); err != nil {
				return failWith(fiber.StatusBadRequest, "console.breach_dates")
			}
			q.To = q.To.Add(24 * time.Hour)
		}
		if v.Entries, _, err = s.cfg.Access.AuditLog(c.UserContext(), s.staffRequest(c, m, ""), q); err != nil {
			return err
		}
	}
	return s.renderStaff(c, fiber.StatusOK, "console_audit", s.locale(c).T("console.audit"), m, v)
}

// verifyChain starts a verification of the chain in the background.
func (s *Site) verifyChain(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	if s.cfg.Chain == nil {
		return failWith(fiber.StatusServiceUnavailable, "error.unavailable")
	}
	if err := s.cfg.Access.Record(c.UserContext(), s.staffRequest(c, m, "compliance"), access.Note{Action: access.ActionAudit,
		Outcome: audit.Allowed, Reason: "verify the audit chain"}); err != nil {
		return err
	}
	s.cfg.Chain.Verify()
	return c.Redirect("/console/audit?done=verifying", fiber.StatusSeeOther)
}

// bulkView previews a bulk step on the requests a filter selects: which
// it will take, which it skips and why.
type bulkView struct {
	Action string
	Type   string
	Take   []dsr.Request
	Skip   []skipped
	Done   int
}

type skipped struct {
	dsr.Request
	Why string
}

// bulk approves or rejects the requests of a type (verified ones for an
// approval, received or verified for a rejection): first a preview, then,
// confirmed, the step on each, every one audited like one by one.
func (s *Site) bulk(c *fiber.Ctx, m *staffMember) error {
	action := c.FormValue("action", c.Query("action"))
	if action != "approve" && action != "reject" {
		return failWith(fiber.StatusBadRequest, "error.invalid")
	}
	v := bulkView{Action: action, Type: c.FormValue("type", c.Query("type"))}
	f := dsr.Filter{Now: time.Now(), Limit: 500}
	if v.Type != "" {
		t, err := dsr.ParseType(v.Type)
		if err != nil {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		f.Type = t
	}
	rs, err := s.cfg.Requests.ListRequests(c.UserContext(), s.staffRequest(c, m, ""), f)
	if err != nil {
		return err
	}
	for _, r := range rs {
		switch {
		case r.State.Final() || r.State == dsr.Approved || r.State == dsr.InProgress:
			continue // nothing to decide: not listed
		case action == "approve" && r.State == dsr.Received:
			v.Skip = append(v.Skip, skipped{r, "console.skip_unverified"})
		case r.DuplicateOf != nil && action == "approve":
			v.Skip = append(v.Skip, skipped{r, "console.skip_duplicate"})
		default:
			v.Take = append(v.Take, r)
		}
	}
	sort.Slice(v.Take, func(i, j int) bool { return v.Take[i].Due.Before(v.Take[j].Due) })
	if c.Method() != fiber.MethodPost || c.FormValue("confirm") != "1" {
		return s.renderStaff(c, fiber.StatusOK, "console_bulk", s.locale(c).T("console.bulk"), m, v)
	}
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	// Only the requests the DPO saw in the preview and confirmed: one
	// that arrived since (or became eligible) waits for a look of its own.
	seen := map[string]bool{}
	for _, id := range c.Request().PostArgs().PeekMulti("id") {
		seen[string(id)] = true
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	for _, r := range v.Take {
		if !seen[r.ID.String()] {
			continue
		}
		_, err := s.cfg.Requests.Take(c.UserContext(), s.staffRequest(c, m, ""), r.ID, requests.Step{Action: action, Reason: reason})
		if errors.Is(err, dsr.ErrInvalid) {
			return failWith(fiber.StatusUnprocessableEntity, "console.reject_reason_short")
		}
		if err != nil && !errors.Is(err, dsr.ErrTransition) {
			return err
		}
		if err == nil {
			v.Done++
		}
	}
	return c.Redirect(fmt.Sprintf("/console/requests?done=bulk&n=%d", v.Done), fiber.StatusSeeOther)
}

// timelineItem is one line of a request's timeline: a step of the
// request, or an audit entry of the work done for it.
type timelineItem struct {
	At    time.Time
	What  string
	Actor string
	Audit bool
}

// timeline merges a request's steps with the audit entries that name it.
func (s *Site) timeline(c *fiber.Ctx, m *staffMember, r *requests.View) []timelineItem {
	var out []timelineItem
	for _, e := range r.Events {
		what := string(e.To)
		if e.Reason != "" {
			what += ": " + e.Reason
		}
		out = append(out, timelineItem{At: e.At, What: what, Actor: e.Actor})
	}
	es, _, err := s.cfg.Access.AuditLog(c.UserContext(), s.staffRequest(c, m, ""), audit.Query{Profile: r.Profile.String(), Limit: 500})
	if err == nil {
		id := r.ID.String()
		for _, e := range es {
			if strings.Contains(e.Reason, id) {
				out = append(out, timelineItem{At: e.At, What: e.Action + " · " + e.Outcome + " · " + e.Reason,
					Actor: e.PrincipalKind + ":" + e.Principal, Audit: true})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
