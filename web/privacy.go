package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
)

// statusOf is the page answer of an error: its status and message key.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, dsr.ErrStepUp):
		return fiber.StatusForbidden, "error.step_up"
	case errors.Is(err, resolver.ErrConflict):
		return fiber.StatusConflict, "error.conflicting_decision"
	case errors.Is(err, access.ErrSettled):
		return fiber.StatusConflict, "error.settled"
	case errors.Is(err, dsr.ErrTransition):
		return fiber.StatusConflict, "error.transition"
	case errors.Is(err, consent.ErrUnknownNotice):
		// The DPO published a new notice while the page was open.
		return fiber.StatusConflict, "error.notice_changed"
	case errors.Is(err, requests.ErrExportExpired):
		return fiber.StatusGone, "error.export_expired"
	case errors.Is(err, derrors.ErrNotFound):
		return fiber.StatusNotFound, "error.not_found"
	case errors.Is(err, derrors.ErrInvalid), errors.Is(err, derrors.ErrUnprocessable):
		return fiber.StatusUnprocessableEntity, "error.invalid"
	case errors.Is(err, derrors.ErrConflict):
		return fiber.StatusConflict, "error.conflict"
	case errors.Is(err, derrors.ErrForbidden):
		return fiber.StatusForbidden, "error.forbidden"
	case errors.Is(err, derrors.ErrUnavailable):
		return fiber.StatusServiceUnavailable, "error.unavailable"
	}
	return fiber.StatusInternalServerError, "error.internal"
}

// customerHandler is a page of a signed-in customer.
type customerHandler func(c *fiber.Ctx, cu *access.Customer) error

// customer finds who is signed in: nil, nil when nobody is; a Redirect
// to the second factor when their session needs it.
func (s *Site) customer(c *fiber.Ctx) (*access.Customer, error) {
	if s.cfg.Kratos == nil {
		return nil, failWith(fiber.StatusServiceUnavailable, "error.no_kratos")
	}
	cookie := strings.Clone(c.Get(fiber.HeaderCookie))
	if cookie == "" {
		return nil, nil
	}
	cs, err := s.cfg.Kratos.Session(c.UserContext(), "", cookie)
	var sf *kratos.SecondFactor
	switch {
	case errors.As(err, &sf):
		return nil, &kratos.Redirect{URL: s.cfg.Kratos.BrowserURL(kratos.Login, s.here(c), "aal2")}
	case errors.Is(err, kratos.ErrUnauthenticated):
		return nil, nil
	case err != nil:
		return nil, err
	}
	cu, err := s.cfg.Access.SignIn(c.UserContext(), cs)
	if err != nil {
		return &cu, err
	}
	if c.Get("Sec-GPC") == "1" {
		// A browser's Global Privacy Control is the person's objection to
		// selling and sharing, recorded before anything is shown.
		ev := map[string]string{"signal": "Sec-GPC: 1", "channel": "privacy_center", "user_agent": clipText(c.Get(fiber.HeaderUserAgent), 256)}
		if _, err := s.cfg.Access.HonourGPC(c.UserContext(), s.request(c, &cu), cu.Profile, ev); err != nil {
			return nil, err
		}
	}
	return &cu, nil
}

// here is the absolute URL of this page, where Kratos sends the browser
// back.
func (s *Site) here(c *fiber.Ctx) string { return c.BaseURL() + c.OriginalURL() }

// signedIn serves a page to a signed-in customer, and sends anyone else
// to sign in first.
func (s *Site) signedIn(h customerHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cu, err := s.customer(c)
		switch {
		case errors.Is(err, access.ErrErasedAccount):
			return failWith(fiber.StatusGone, "error.erased")
		case errors.Is(err, access.ErrUnverified):
			return s.render(c, fiber.StatusForbidden, "unverified", s.locale(c).T("unverified.title"), nil, nil)
		case err != nil:
			return err
		case cu == nil:
			return c.Redirect(s.cfg.Kratos.BrowserURL(kratos.Login, s.here(c), ""), fiber.StatusSeeOther)
		}
		c.Locals(localSignedIn, s.customerView(cu))
		return h(c, cu)
	}
}

// signedInOrErased is signedIn for the pages an erased customer still
// sees: their requests, the erasure above all.
func (s *Site) signedInOrErased(h customerHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cu, err := s.customer(c)
		if errors.Is(err, access.ErrErasedAccount) && cu != nil {
			c.Locals(localSignedIn, s.customerView(cu))
			return h(c, cu)
		}
		return s.signedIn(h)(c)
	}
}

// request is how the customer asks the read path.
func (s *Site) request(c *fiber.Ctx, cu *access.Customer) access.Request {
	return cu.Request(strings.Clone(string(c.Response().Header.Peek("X-Request-ID"))), strings.Clone(c.IP()))
}

// home is the privacy center's front page.
func (s *Site) home(c *fiber.Ctx) error {
	l := s.locale(c)
	if s.cfg.Kratos == nil {
		return s.render(c, fiber.StatusOK, "home", l.T("home.title"), nil, homeView{NoKratos: true})
	}
	cu, err := s.customer(c)
	switch {
	case errors.Is(err, access.ErrErasedAccount):
		return s.render(c, fiber.StatusOK, "home", l.T("home.title"), nil, homeView{Erased: true})
	case errors.Is(err, access.ErrUnverified):
		return s.render(c, fiber.StatusOK, "unverified", l.T("unverified.title"), nil, nil)
	case err != nil:
		return err
	}
	v := homeView{GPC: c.Get("Sec-GPC") == "1"}
	if cu == nil {
		v.Login = "/privacy/login"
		v.Register = "/privacy/registration"
	}
	return s.render(c, fiber.StatusOK, "home", l.T("home.title"), cu, v)
}

type homeView struct {
	NoKratos, Erased, GPC bool
	Login, Register       string
}

// departmentView is what one department holds about the customer.
type departmentView struct {
	Department string
	LegalBasis string
	Purposes   []purposeView
	Records    []recordView
}

type purposeView struct {
	ID            string
	Description   string
	RetentionDays int
}

type recordView struct {
	ID         uuid.UUID
	Disputable bool   // not the record the account stands on
	Dispute    string // the state of the customer's dispute of it, if any
	Source     string
	Arrived    time.Time
	Updated    time.Time
	Attributes []fieldView
}

type fieldView struct {
	Name, Value string
}

type goldenView struct {
	Name, Value, Source, Rule string
}

type dataView struct {
	Golden      []goldenView
	Departments []departmentView
	Disputes    []identity.Dispute
}

// myData shows every value held about the customer, within their proven
// scope, by department, with why it is held and for how long; and their
// golden profile with where each value came from.
func (s *Site) myData(c *fiber.Ctx, cu *access.Customer) error {
	ctx := c.UserContext()
	req := s.request(c, cu)
	recs, err := s.cfg.Access.Records(ctx, req, cu.Profile)
	if err != nil {
		return err
	}
	var golden []goldenView
	if p, err := s.cfg.Access.Profile(ctx, req, cu.Profile); err == nil {
		golden = goldenOf(p)
	} else if !errors.Is(err, access.ErrNotFound) {
		return err
	}
	sources, err := s.cfg.Access.Sources(ctx)
	if err != nil {
		return err
	}
	purposes, err := s.cfg.Access.Purposes(ctx)
	if err != nil {
		return err
	}
	disputes, err := s.cfg.Access.MyDisputes(ctx, cu.Session.IdentityID)
	if err != nil {
		return err
	}
	disputed := map[uuid.UUID]string{}
	for i := len(disputes) - 1; i >= 0; i-- { // the newest last: it stands
		disputed[disputes[i].Record] = disputes[i].State
	}
	bySource := map[string]identity.Source{}
	for _, src := range sources {
		bySource[src.Name] = src
	}
	byDept := map[string]*departmentView{}
	var order []string
	for _, r := range recs.Records {
		d, ok := byDept[r.Department]
		if !ok {
			d = &departmentView{Department: r.Department, LegalBasis: r.LegalBasis}
			src := bySource[r.Source]
			for _, p := range purposes {
				if containsString(src.Purposes, p.ID) || len(src.Purposes) == 0 && string(p.LegalBasis) == r.LegalBasis {
					d.Purposes = append(d.Purposes, purposeView{ID: p.ID, Description: p.Description, RetentionDays: p.RetentionDays})
				}
			}
			byDept[r.Department] = d
			order = append(order, r.Department)
		}
		rv := recordView{ID: r.ID, Source: r.Source, Arrived: r.CreatedAt, Updated: r.UpdatedAt, Dispute: disputed[r.ID],
			Disputable: r.ID != cu.Record && r.Source != access.SelfServiceSource}
		for name, v := range r.Attributes {
			rv.Attributes = append(rv.Attributes, fieldView{Name: name, Value: v})
		}
		sort.Slice(rv.Attributes, func(i, j int) bool { return fieldOrder(rv.Attributes[i].Name) < fieldOrder(rv.Attributes[j].Name) })
		d.Records = append(d.Records, rv)
	}
	sort.Strings(order)
	v := dataView{Golden: golden, Disputes: disputes}
	for _, name := range order {
		v.Departments = append(v.Departments, *byDept[name])
	}
	return s.render(c, fiber.StatusOK, "data", s.locale(c).T("data.title"), cu, v)
}

// fieldOrder sorts fields the way a person reads them: names first.
func fieldOrder(name string) string {
	if f, ok := identity.ParseField(name); ok {
		return fmt.Sprintf("%03d", int(f))
	}
	return "999" + name
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type consentsView struct {
	Overview *access.ConsentOverview
	History  *access.ConsentHistory
	GPC      bool
}

// myConsents shows each purpose with the notice in effect, the current
// state and one control to change it, and the customer's statements.
func (s *Site) myConsents(c *fiber.Ctx, cu *access.Customer) error {
	ctx := c.UserContext()
	req := s.request(c, cu)
	o, err := s.cfg.Access.Consents(ctx, req, cu.Profile)
	if err != nil {
		return err
	}
	h, err := s.cfg.Access.History(ctx, req, cu.Profile)
	if err != nil {
		return err
	}
	sort.SliceStable(h.Events, func(i, j int) bool { return h.Events[i].At.After(h.Events[j].At) })
	return s.render(c, fiber.StatusOK, "consents", s.locale(c).T("consents.title"), cu,
		consentsView{Overview: o, History: h, GPC: c.Get("Sec-GPC") == "1"})
}

// changeConsent records what the customer said about one purpose: as
// easy to withdraw as to grant (Art. 7(3)), with the notice they saw.
func (s *Site) changeConsent(c *fiber.Ctx, cu *access.Customer) error {
	if err := s.checkForm(c, cu.Session.SessionID); err != nil {
		return err
	}
	version, _ := strconv.Atoi(c.FormValue("notice_version"))
	st := access.Statement{
		Purpose: strings.Clone(c.FormValue("purpose")), State: consent.State(strings.Clone(c.FormValue("state"))), NoticeVersion: version,
		Evidence: map[string]string{"channel": "privacy_center", "user_agent": clipText(c.Get(fiber.HeaderUserAgent), 256)},
	}
	if _, err := s.cfg.Access.RecordConsent(c.UserContext(), s.request(c, cu), cu.Profile, st); err != nil && !errors.Is(err, access.ErrUnchanged) {
		return err
	}
	if c.FormValue("back") == "profiling" {
		return c.Redirect("/privacy/profiling?done=consent", fiber.StatusSeeOther)
	}
	return c.Redirect("/privacy/consents?done=consent", fiber.StatusSeeOther)
}

type requestsView struct {
	Requests []dsr.Request
	Types    []dsr.Type
	Fields   []string
	Purposes []consent.Purpose
	Erased   bool
}

// myRequests lists the customer's requests and lets them make one.
func (s *Site) myRequests(c *fiber.Ctx, cu *access.Customer) error {
	rs, err := s.cfg.Requests.ListMyRequests(c.UserContext(), cu.Session.IdentityID)
	if err != nil {
		return err
	}
	v := requestsView{Requests: rs, Erased: cu.Profile == uuid.Nil,
		Types: []dsr.Type{dsr.Access, dsr.Portability, dsr.Rectification, dsr.Erasure, dsr.Restriction, dsr.Objection}}
	for _, f := range identity.Fields() {
		v.Fields = append(v.Fields, f.String())
	}
	if ps, err := s.cfg.Access.Purposes(c.UserContext()); err == nil {
		for _, p := range ps {
			if p.AllowsObjection || p.RequiresConsent {
				v.Purposes = append(v.Purposes, p)
			}
		}
	}
	return s.render(c, fiber.StatusOK, "requests", s.locale(c).T("requests.title"), cu, v)
}

// newRequest makes a request; a second factor first where required.
func (s *Site) newRequest(c *fiber.Ctx, cu *access.Customer) error {
	if err := s.checkForm(c, cu.Session.SessionID); err != nil {
		return err
	}
	in := requests.Intake{Type: dsr.Type(strings.Clone(c.FormValue("type"))), Profile: cu.Profile}
	if in.Type == dsr.Objection {
		args := c.Request().PostArgs()
		for _, v := range args.PeekMulti("purposes") {
			in.Purposes = append(in.Purposes, string(v))
		}
	}
	if in.Type == dsr.Rectification {
		in.Values = map[string]string{}
		for _, f := range identity.Fields() {
			if v := strings.TrimSpace(c.FormValue("value_" + f.String())); v != "" {
				in.Values[f.String()] = strings.Clone(v)
			}
		}
		if len(in.Values) == 0 {
			return failWith(fiber.StatusUnprocessableEntity, "requests.rectify_empty")
		}
	}
	v, err := s.cfg.Requests.NewMyRequest(c.UserContext(), s.request(c, cu), in, cu.Session)
	if errors.Is(err, dsr.ErrStepUp) {
		return &kratos.Redirect{URL: s.cfg.Kratos.BrowserURL(kratos.Login, c.BaseURL()+"/privacy/requests", "aal2")}
	}
	if err != nil {
		return err
	}
	return c.Redirect("/privacy/requests/"+v.ID.String()+"?done=request", fiber.StatusSeeOther)
}

type requestView struct {
	*requests.View
	Exportable   bool
	Withdrawable bool
}

// myRequest follows one request: its steps and its due date.
func (s *Site) myRequest(c *fiber.Ctx, cu *access.Customer) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	v, err := s.cfg.Requests.GetMyRequest(c.UserContext(), s.request(c, cu), id)
	if err != nil {
		return err
	}
	exportable := (v.Type == dsr.Access || v.Type == dsr.Portability) && v.State == dsr.Completed &&
		v.ClosedAt != nil && time.Since(*v.ClosedAt) < requests.ExportValidity
	return s.render(c, fiber.StatusOK, "request", s.locale(c).T("request.title"), cu,
		requestView{View: v, Exportable: exportable, Withdrawable: dsr.CanMove(v.State, dsr.Withdrawn)})
}

// myExport downloads a completed access or portability request's export.
func (s *Site) myExport(c *fiber.Ctx, cu *access.Customer) error {
	id, err := uuid.Parse(c.Params("id"))
	format := c.Params("format")
	if err != nil || format != "json" && format != "csv" {
		return failWith(fiber.StatusNotFound, "error.not_found")
	}
	x, err := s.cfg.Requests.DownloadExport(c.UserContext(), s.request(c, cu), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="cdp-export-`+id.String()+`.`+format+`"`)
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		return access.WriteRecordsCSV(c.Response().BodyWriter(), x)
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// dispute is the customer's "this isn't me" about a record they are
// shown: a case for the stewards, whose outcome the data page shows.
func (s *Site) dispute(c *fiber.Ctx, cu *access.Customer) error {
	if err := s.checkForm(c, cu.Session.SessionID); err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Access.Dispute(c.UserContext(), s.request(c, cu), id); err != nil {
		return err
	}
	return c.Redirect("/privacy/data?done=dispute", fiber.StatusSeeOther)
}

// withdraw withdraws one of the customer's requests before work began.
func (s *Site) withdraw(c *fiber.Ctx, cu *access.Customer) error {
	if err := s.checkForm(c, cu.Session.SessionID); err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Requests.WithdrawMine(c.UserContext(), s.request(c, cu), id); err != nil {
		return err
	}
	return c.Redirect("/privacy/requests/"+id.String()+"?done=withdrawn", fiber.StatusSeeOther)
}

// myReads shows who read the customer's data: which department, for
// which purpose, when, which fields.
func (s *Site) myReads(c *fiber.Ctx, cu *access.Customer) error {
	reads, err := s.cfg.Access.Reads(c.UserContext(), s.request(c, cu), cu.Profile)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "reads", s.locale(c).T("reads.title"), cu, reads)
}

func clipText(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(strings.Clone(s), "")
}

// myTimeline shows the customer's own interactions with every
// department, newest first.
func (s *Site) myTimeline(c *fiber.Ctx, cu *access.Customer) error {
	t, err := s.cfg.Access.Timeline(c.UserContext(), s.request(c, cu), cu.Profile, 500)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "timeline", s.locale(c).T("timeline.title"), cu, t)
}

// profilingView is what the customer sees of their profiling.
type profilingView struct {
	*access.ProfileTraits
	// Objected: they objected to profiling; they may take it back.
	Objected bool
	Logic    []int
}

// myProfiling shows what is worked out about the customer from their
// contacts, the segments they are in and why, and the logic involved;
// they may object to it here (Art. 21).
func (s *Site) myProfiling(c *fiber.Ctx, cu *access.Customer) error {
	t, err := s.cfg.Access.Traits(c.UserContext(), s.request(c, cu), cu.Profile)
	if err != nil {
		return err
	}
	v := profilingView{ProfileTraits: t}
	for i := range t.Logic { // the same points as the API's, translated (profiling.logic.N)
		v.Logic = append(v.Logic, i+1)
	}
	if o, err := s.cfg.Access.Consents(c.UserContext(), s.request(c, cu), cu.Profile); err == nil {
		for _, p := range o.Purposes {
			if p.Purpose == crm.ProfilingPurpose && p.State == consent.Objected {
				v.Objected = true
			}
		}
	}
	return s.render(c, fiber.StatusOK, "profiling", s.locale(c).T("profiling.title"), cu, v)
}
