package web

import (
	"encoding/csv"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/requests"
)

// The staff console (/console/): the DPO's request desk and breach
// questions, the stewards' review workbench, the departments' profile
// view. Staff sign in with Kratos accounts of the staff schema; their
// roles and department are granted in cdp (`cdp staff grant`). Every page
// reads through access with a declared purpose, audited like the API: the
// console adds no read path of its own.

// staffMember is a signed-in staff member.
type staffMember struct {
	Principal auth.Principal
	Email     string
	session   string
}

func (m *staffMember) Has(r string) bool { return m.Principal.Has(auth.Role(r)) }

type staffHandler func(c *fiber.Ctx, m *staffMember) error

// staff serves a console page to a signed-in staff member holding one of
// roles (none: any); anyone else is sent to sign in, and a staff member
// without the role is answered 404, like a page that does not exist.
func (s *Site) staff(h staffHandler, roles ...auth.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.cfg.Kratos == nil {
			return failWith(fiber.StatusServiceUnavailable, "error.no_kratos")
		}
		login := &kratos.Redirect{URL: s.cfg.Kratos.BrowserURL(kratos.Login, s.here(c), "")}
		cookie := strings.Clone(c.Get(fiber.HeaderCookie))
		if cookie == "" {
			return login
		}
		cs, err := s.cfg.Kratos.Session(c.UserContext(), "", cookie)
		var sf *kratos.SecondFactor
		switch {
		case errors.As(err, &sf):
			return &kratos.Redirect{URL: s.cfg.Kratos.BrowserURL(kratos.Login, s.here(c), "aal2")}
		case errors.Is(err, kratos.ErrUnauthenticated):
			return login
		case err != nil:
			return err
		}
		p, err := s.cfg.Access.Staff(c.UserContext(), cs, s.cfg.StaffSecondFactor)
		switch {
		case errors.Is(err, access.ErrSecondFactor):
			// Their roles need the second factor: set it up, or sign in
			// with it.
			return s.renderView(c, fiber.StatusForbidden, "console_second_factor", s.locale(c).T("console.second_factor"), view{},
				s.cfg.Kratos.BrowserURL(kratos.Login, s.here(c), "aal2"))
		case errors.Is(err, access.ErrForbidden):
			return failWith(fiber.StatusForbidden, "console.not_staff")
		case err != nil:
			return err
		}
		m := &staffMember{Principal: p, Email: cs.Email, session: cs.SessionID}
		c.Locals(localSignedIn, s.staffView(m))
		if len(roles) > 0 {
			allowed := false
			for _, r := range roles {
				allowed = allowed || p.Has(r)
			}
			if !allowed {
				return failWith(fiber.StatusNotFound, "error.not_found")
			}
		}
		return h(c, m)
	}
}

// staffRequest is how a staff member asks the read path, under purpose.
func (s *Site) staffRequest(c *fiber.Ctx, m *staffMember, purpose string) access.Request {
	return access.Request{Principal: m.Principal, Purpose: purpose,
		RequestID: strings.Clone(string(c.Response().Header.Peek("X-Request-ID"))), Client: strings.Clone(c.IP())}
}

// renderStaff writes a console page.
func (s *Site) renderStaff(c *fiber.Ctx, status int, page, title string, m *staffMember, data any) error {
	return s.renderView(c, status, page, title, s.staffView(m), data)
}

// staffView is the view of a page served to a staff member.
func (s *Site) staffView(m *staffMember) view {
	return view{Staff: m, Token: s.token(m.session)}
}

// overviewView is the console's front page.
type overviewView struct {
	Open, DueSoon, Overdue, Reviews int
	ByType                          []bar
	PerMonth                        stackChart
	Rates                           lineChart
}

type bar struct {
	Label string
	N     int
	Width int // of 300
	Y     int
}

// barsOf lays counts out as the rows of a horizontal bar chart, widths
// scaled to the largest.
func barsOf(labels []string, counts []int) []bar {
	mx := 0
	for _, n := range counts {
		mx = max(mx, n)
	}
	out := make([]bar, len(labels))
	for i := range labels {
		out[i] = bar{Label: labels[i], N: counts[i], Y: i * 28}
		if mx > 0 {
			out[i].Width = counts[i] * 300 / mx
		}
	}
	return out
}

// barChart is a titled horizontal bar chart (template "bars").
type barChart struct {
	ID, Title string
	Bars      []bar
}

// overview counts what waits: requests by deadline and type (a chart),
// the review backlog.
func (s *Site) overview(c *fiber.Ctx, m *staffMember) error {
	v := overviewView{}
	now := time.Now()
	if m.Has("dpo") {
		rs, err := s.cfg.Requests.ListRequests(c.UserContext(), s.staffRequest(c, m, ""), dsr.Filter{Now: now, Limit: 5000})
		if err != nil {
			return err
		}
		l := s.locale(c)
		v.PerMonth = requestsPerMonth(rs, now, func(t dsr.Type) string { return l.T("type." + string(t)) })
		ms, err := s.cfg.Access.ConsentMonths(c.UserContext(), s.staffRequest(c, m, ""), monthsBack(now, 12)[0])
		if err != nil {
			return err
		}
		var consentPurposes []string
		if ps, err := s.cfg.Access.Purposes(c.UserContext()); err == nil {
			for _, p := range ps {
				if p.RequiresConsent || p.AllowsObjection {
					consentPurposes = append(consentPurposes, p.ID)
				}
			}
		}
		v.Rates = consentRates(ms, consentPurposes, now)
		byType := map[dsr.Type]int{}
		for _, r := range rs {
			if r.State.Final() {
				continue
			}
			v.Open++
			byType[r.Type]++
			switch {
			case r.Due.Before(now):
				v.Overdue++
			case r.Due.Before(now.Add(7 * 24 * time.Hour)):
				v.DueSoon++
			}
		}
		var labels []string
		var counts []int
		for _, t := range requestTypes {
			labels, counts = append(labels, l.T("type."+string(t))), append(counts, byType[t])
		}
		v.ByType = barsOf(labels, counts)
	}
	if m.Has("steward") || m.Has("dpo") {
		rs, _, err := s.cfg.Access.Reviews(c.UserContext(), s.staffRequest(c, m, ""), uuid.Nil, 500, false)
		if err != nil && !errors.Is(err, access.ErrForbidden) {
			return err
		}
		v.Reviews = len(rs)
	}
	return s.renderStaff(c, fiber.StatusOK, "console_home", s.locale(c).T("console.title"), m, v)
}

// queueRow is a request in the DPO's queue.
type queueRow struct {
	dsr.Request
	DaysLeft int
	Urgent   bool // less than a quarter of its time left, or overdue
}

type queueView struct {
	Rows                         []queueRow
	State, Type, Channel, Before string
	Overdue, Unverified          bool
	States                       []dsr.State
	Types                        []dsr.Type
}

// queue is the DPO's request queue: actionable (verified) requests first
// by default, nearest deadline first, a red badge when less than a
// quarter of the time is left.
func (s *Site) queue(c *fiber.Ctx, m *staffMember) error {
	now := time.Now()
	f := dsr.Filter{Now: now, Limit: 500, Overdue: c.Query("overdue") == "1"}
	v := queueView{State: c.Query("state"), Type: c.Query("type"), Channel: c.Query("channel"), Before: c.Query("before"),
		Overdue: f.Overdue, Unverified: c.Query("unverified") == "1",
		States: dsr.States(), Types: []dsr.Type{dsr.Access, dsr.Portability, dsr.Rectification, dsr.Erasure, dsr.Restriction, dsr.Objection}}
	if v.State != "" {
		st, err := dsr.ParseState(v.State)
		if err != nil {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		f.State = st
	} else if !v.Unverified {
		f.State = dsr.Verified
	}
	if v.Type != "" {
		t, err := dsr.ParseType(v.Type)
		if err != nil {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		f.Type = t
	}
	if v.Before != "" {
		d, err := time.Parse("2006-01-02", v.Before)
		if err != nil {
			return failWith(fiber.StatusBadRequest, "console.breach_dates")
		}
		f.DueBefore = d
	}
	rs, err := s.cfg.Requests.ListRequests(c.UserContext(), s.staffRequest(c, m, ""), f)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if v.Channel != "" && r.Channel != v.Channel {
			continue
		}
		total := r.Due.Sub(r.ReceivedAt)
		left := r.Due.Sub(now)
		v.Rows = append(v.Rows, queueRow{Request: r, DaysLeft: int(left.Hours() / 24),
			Urgent: !r.State.Final() && (left < 0 || total > 0 && left < total/4)})
	}
	sort.SliceStable(v.Rows, func(i, j int) bool { return v.Rows[i].Due.Before(v.Rows[j].Due) })
	return s.renderStaff(c, fiber.StatusOK, "console_requests", s.locale(c).T("console.requests"), m, v)
}

type requestDetailView struct {
	*requests.View
	Person   *access.Profile
	Related  []dsr.Request
	Timeline []timelineItem
	Letter   string // the extension's letter to the person, drafted
}

// requestDetail is one request for the DPO: the person as compliance
// allows, its history, notices and report, and the actions.
func (s *Site) requestDetail(c *fiber.Ctx, m *staffMember) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	r, err := s.cfg.Requests.GetRequest(c.UserContext(), s.staffRequest(c, m, ""), id)
	if err != nil {
		return err
	}
	v := requestDetailView{View: r, Timeline: s.timeline(c, m, r)}
	if r.ExtendedBy > 0 {
		for _, e := range r.Events {
			if e.Reason != "" && e.To == r.State {
				v.Letter = s.locale(c).T("console.letter", "months", r.ExtendedBy, "due", r.Due.UTC().Format("2006-01-02"),
					"received", r.ReceivedAt.UTC().Format("2006-01-02"), "reason", e.Reason)
			}
		}
	}
	if p, err := s.cfg.Access.Profile(c.UserContext(), s.staffRequest(c, m, "compliance"), r.Profile); err == nil {
		v.Person = p
	}
	rel, err := s.cfg.Requests.ListRequests(c.UserContext(), s.staffRequest(c, m, ""), dsr.Filter{Profile: r.Profile, Now: time.Now(), Limit: 50})
	if err == nil {
		for _, x := range rel {
			if x.ID != r.ID {
				v.Related = append(v.Related, x)
			}
		}
	}
	return s.renderStaff(c, fiber.StatusOK, "console_request", s.locale(c).T("console.request"), m, v)
}

// takeStep is the DPO's step on a request: verify, approve, reject,
// extend.
func (s *Site) takeStep(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	step := requests.Step{Action: strings.Clone(c.FormValue("action")), Reason: strings.TrimSpace(c.FormValue("reason"))}
	if step.Action == "verify" {
		step.Verification = map[string]string{"method": clipText(c.FormValue("method"), 500)}
	}
	if step.Action == "extend" {
		step.Months, _ = strconv.Atoi(c.FormValue("months"))
	}
	if _, err := s.cfg.Requests.Take(c.UserContext(), s.staffRequest(c, m, ""), id, step); err != nil {
		return err
	}
	return c.Redirect("/console/requests/"+id.String()+"?done=step", fiber.StatusSeeOther)
}

// breachView answers a breach question (Art. 33/34).
type breachView struct {
	Principal, Department, From, To string
	Asked                           bool
	Entries                         []audit.Entry
	Persons                         int
	Fields                          []countOf
	Purposes                        []countOf
}

type countOf struct {
	Name string
	N    int
}

// breach answers "which persons and which fields did principal X read
// between T1 and T2" from the audit log: a table, a summary and the
// profile ids as CSV for the notification list.
func (s *Site) breach(c *fiber.Ctx, m *staffMember) error {
	v, err := s.breachAnswer(c, m)
	if err != nil {
		return err
	}
	if c.Params("format") == "csv" {
		persons := map[string]bool{}
		for _, e := range v.Entries {
			for _, p := range e.Profiles {
				persons[p] = true
			}
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="breach-affected-profiles.csv"`)
		w := csv.NewWriter(c.Response().BodyWriter())
		w.Write([]string{"profile_id"})
		for _, p := range sortedStrings(persons) {
			w.Write([]string{p})
		}
		w.Flush()
		return w.Error()
	}
	return s.renderStaff(c, fiber.StatusOK, "console_breach", s.locale(c).T("console.breach"), m, v)
}

func (s *Site) breachAnswer(c *fiber.Ctx, m *staffMember) (*breachView, error) {
	v := &breachView{Principal: strings.TrimSpace(c.Query("principal")), Department: strings.TrimSpace(c.Query("department")),
		From: c.Query("from"), To: c.Query("to")}
	if v.Principal == "" && v.Department == "" {
		return v, nil
	}
	v.Asked = true
	// A staff member is named as their actor (staff:<account id>) or by
	// the account id the audit log holds.
	q := audit.Query{Principal: strings.TrimPrefix(v.Principal, "staff:"), Department: v.Department, Limit: 1000}
	var err error
	if v.From != "" {
		if q.From, err = time.Parse("2006-01-02", v.From); err != nil {
			return nil, failWith(fiber.StatusBadRequest, "console.breach_dates")
		}
	}
	if v.To != "" {
		if q.To, err = time.Parse("2006-01-02", v.To); err != nil {
			return nil, failWith(fiber.StatusBadRequest, "console.breach_dates")
		}
		q.To = q.To.Add(24 * time.Hour) // the whole day
	}
	persons, fields, purposes := map[string]bool{}, map[string]int{}, map[string]int{}
	for {
		es, _, err := s.cfg.Access.AuditLog(c.UserContext(), s.staffRequest(c, m, ""), q)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Outcome != audit.Allowed || len(e.Profiles) == 0 {
				continue
			}
			v.Entries = append(v.Entries, e)
			for _, p := range e.Profiles {
				persons[p] = true
			}
			for _, f := range e.Fields {
				fields[f]++
			}
			purposes[e.Purpose]++
		}
		if len(es) < q.Limit || len(v.Entries) >= 20000 {
			break
		}
		q.After = es[len(es)-1].Seq
	}
	v.Persons = len(persons)
	v.Fields, v.Purposes = counts(fields), counts(purposes)
	return v, nil
}

func counts(m map[string]int) []countOf {
	out := make([]countOf, 0, len(m))
	for k, n := range m {
		out = append(out, countOf{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || out[i].N == out[j].N && out[i].Name < out[j].Name })
	return out
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type reviewView struct {
	Pairs    []reviewPair
	Disputes []identity.Dispute
}

type reviewPair struct {
	access.Review
	Rows      []pairRow
	Waterfall waterfall
}

type pairRow struct{ Field, A, B string }

// review is the stewards' workbench: the pairs side by side, with the
// values data_quality allows, and the customers' disputes.
func (s *Site) review(c *fiber.Ctx, m *staffMember) error {
	req := s.staffRequest(c, m, "")
	rs, _, err := s.cfg.Access.Reviews(c.UserContext(), req, uuid.Nil, 50, true)
	if err != nil {
		return err
	}
	v := reviewView{}
	for _, r := range rs {
		p := reviewPair{Review: r}
		prior, cs, err := s.cfg.Access.Explain(c.UserContext(), r)
		if err != nil {
			return err
		}
		p.Waterfall = drawWaterfall(prior, cs)
		names := map[string]bool{}
		for k := range r.ValuesA {
			names[k] = true
		}
		for k := range r.ValuesB {
			names[k] = true
		}
		for _, k := range sortedStrings(names) {
			p.Rows = append(p.Rows, pairRow{Field: k, A: r.ValuesA[k], B: r.ValuesB[k]})
		}
		sort.SliceStable(p.Rows, func(i, j int) bool { return fieldOrder(p.Rows[i].Field) < fieldOrder(p.Rows[j].Field) })
		v.Pairs = append(v.Pairs, p)
	}
	if v.Disputes, _, err = s.cfg.Access.Disputes(c.UserContext(), req, 50); err != nil {
		return err
	}
	return s.renderStaff(c, fiber.StatusOK, "console_review", s.locale(c).T("console.review"), m, v)
}

// decide settles a review pair or a dispute.
func (s *Site) decide(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	decision := c.FormValue("decision")
	if reason == "" {
		reason = "decided on the review workbench"
	}
	req := s.staffRequest(c, m, "")
	switch c.Params("kind") {
	case "pairs":
		if decision != "match" && decision != "distinct" {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		_, err = s.cfg.Access.Settle(c.UserContext(), req, id, decision == "match", reason)
	case "disputes":
		if decision != "split" && decision != "keep" {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		_, err = s.cfg.Access.SettleDispute(c.UserContext(), req, id, decision == "split", reason)
	default:
		return failWith(fiber.StatusNotFound, "error.not_found")
	}
	if err != nil {
		return err
	}
	return c.Redirect("/console/review?done=decided", fiber.StatusSeeOther)
}

type profilesView struct {
	Purpose  string
	Purposes []string
	Query    access.Lookup
	Asked    bool
	Found    []*access.Profile
	Profile  *access.Profile
	Fields   []fieldView
	Withheld []string
}

// purposesOf lists the purposes a staff member's roles may declare (those
// the catalogue holds; the policy decides each read).
func (s *Site) purposesOf(c *fiber.Ctx, m *staffMember) []string {
	ps, err := s.cfg.Access.Purposes(c.UserContext())
	if err != nil {
		return nil
	}
	return offered(ps, m)
}

// offered are the purposes of the catalogue offered to a staff member: a
// purpose the DPO named other departments for is not (the policy would
// refuse it).
func offered(ps []consent.Purpose, m *staffMember) []string {
	var out []string
	for _, p := range ps {
		named := len(p.Departments) == 0 || slices.Contains(p.Departments, m.Principal.Department) || m.Principal.Has(auth.RoleDPO)
		if p.ID != "self_service" && named {
			out = append(out, p.ID)
		}
	}
	return out
}

// purposeView is what a profile page says of purposes: those offered, and
// the one its address declares if the catalogue holds it. Any other text
// is not written on the page as a purpose ("reading for: call 0800 …");
// one the staff member may not declare goes on to the policy, which
// refuses it and audits the refusal.
func (s *Site) purposeView(c *fiber.Ctx, m *staffMember) profilesView {
	ps, err := s.cfg.Access.Purposes(c.UserContext())
	if err != nil {
		return profilesView{}
	}
	v := profilesView{Purposes: offered(ps, m)}
	if q := c.Query("purpose"); slices.ContainsFunc(ps, func(p consent.Purpose) bool { return p.ID == q }) {
		v.Purpose = strings.Clone(q)
	}
	return v
}

// profiles is the departments' profile search: a purpose first, then a
// lookup by email, phone or name; the purpose stays on every page. The
// lookup is a form posted with the session's token (checked by search):
// what was typed is personal data, and an address keeps it in the
// browser's history, in proxies' logs and in links passed on.
func (s *Site) profiles(c *fiber.Ctx, m *staffMember) error {
	v := s.purposeView(c, m)
	if c.Method() == fiber.MethodPost {
		field := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
		v.Query = access.Lookup{Email: field("email"), Phone: field("phone"), GivenName: field("given_name"),
			FamilyName: field("family_name"), BirthDate: field("birth_date"), Postcode: field("postcode"), City: field("city")}
	}
	if v.Purpose != "" && (v.Query != access.Lookup{}) {
		v.Asked = true
		found, err := s.cfg.Access.Find(c.UserContext(), s.staffRequest(c, m, v.Purpose), v.Query)
		if err != nil {
			return err
		}
		v.Found = found
	}
	return s.renderStaff(c, fiber.StatusOK, "console_profiles", s.locale(c).T("console.profiles"), m, v)
}

// search is the profile search's form posted.
func (s *Site) search(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	return s.profiles(c, m)
}

// profile shows a profile under the declared purpose: only the fields the
// decision allows, and which it withheld.
func (s *Site) profile(c *fiber.Ctx, m *staffMember) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	v := s.purposeView(c, m)
	if v.Purpose == "" {
		return s.renderStaff(c, fiber.StatusOK, "console_profiles", s.locale(c).T("console.profiles"), m, v)
	}
	p, err := s.cfg.Access.Profile(c.UserContext(), s.staffRequest(c, m, v.Purpose), id)
	if err != nil {
		return err
	}
	v.Profile = p
	shown := map[string]bool{}
	for name, a := range p.Attributes {
		v.Fields = append(v.Fields, fieldView{Name: name, Value: a.Value})
		shown[name] = true
	}
	sort.Slice(v.Fields, func(i, j int) bool { return fieldOrder(v.Fields[i].Name) < fieldOrder(v.Fields[j].Name) })
	allowed := map[string]bool{}
	for _, f := range p.Access.Fields {
		allowed[f] = true
	}
	for _, f := range identity.Fields() {
		if !allowed[f.String()] {
			v.Withheld = append(v.Withheld, f.String())
		}
	}
	return s.renderStaff(c, fiber.StatusOK, "console_profile", s.locale(c).T("console.profile"), m, v)
}

// mountConsole adds the console's routes.
func (s *Site) mountConsole(app fiber.Router) {
	k := app.Group("/console", s.secure)
	k.Get("/", s.handle(s.staff(s.overview)))
	k.Get("/requests", s.handle(s.staff(s.queue, auth.RoleDPO)))
	k.Get("/requests/:id", s.handle(s.staff(s.requestDetail, auth.RoleDPO)))
	k.Post("/requests/:id", s.handle(s.staff(s.takeStep, auth.RoleDPO)))
	k.Get("/breach", s.handle(s.staff(s.breach, auth.RoleDPO)))
	k.Get("/audit", s.handle(s.staff(s.auditPage, auth.RoleDPO)))
	k.Get("/consent", s.handle(s.staff(s.consentDesk, auth.RoleDPO)))
	k.Post("/consent/notices/:purpose", s.handle(s.staff(s.publishNotice, auth.RoleDPO)))
	k.Post("/consent/lift", s.handle(s.staff(s.liftSuppression, auth.RoleDPO)))
	k.Post("/consent/departments/:purpose", s.handle(s.staff(s.purposeDepartments, auth.RoleDPO)))
	k.Post("/audit/verify", s.handle(s.staff(s.verifyChain, auth.RoleDPO)))
	k.Get("/bulk", s.handle(s.staff(s.bulk, auth.RoleDPO)))
	k.Post("/bulk", s.handle(s.staff(s.bulk, auth.RoleDPO)))
	k.Get("/breach.:format", s.handle(s.staff(s.breach, auth.RoleDPO)))
	k.Get("/review", s.handle(s.staff(s.review, auth.RoleSteward, auth.RoleDPO)))
	k.Post("/review/:kind/:id", s.handle(s.staff(s.decide, auth.RoleSteward, auth.RoleDPO)))
	k.Get("/lineage/:id", s.handle(s.staff(s.stewardProfile, stewardRoles...)))
	k.Post("/lineage/:id/:act", s.handle(s.staff(s.stewardAct, stewardRoles...)))
	k.Get("/imports", s.handle(s.staff(s.imports, auth.RoleIngest)))
	k.Get("/profiles", s.handle(s.staff(s.profiles, auth.RoleReader, auth.RoleSteward, auth.RoleDPO)))
	k.Post("/profiles", s.handle(s.staff(s.search, auth.RoleReader, auth.RoleSteward, auth.RoleDPO)))
	k.Get("/profiles/:id", s.handle(s.staff(s.profile, auth.RoleReader, auth.RoleSteward, auth.RoleDPO)))
	k.Get("/customers", s.handle(s.staff(s.customers, auth.RoleReader, auth.RoleDPO)))
	k.Post("/customers/compute", s.handle(s.staff(s.computeTraits, auth.RoleDPO)))
	k.Post("/segments", s.handle(s.staff(s.segmentForm, auth.RoleReader, auth.RoleDPO)))
	k.Get("/segments/:name", s.handle(s.staff(s.segment, auth.RoleReader, auth.RoleDPO)))
	k.Post("/segments/:name/:act", s.handle(s.staff(s.segmentAct, auth.RoleReader, auth.RoleDPO)))
}

// imports is an ingest role's whole console: what arrived from its
// department's sources, day by day, over the last 90 days (counts only).
func (s *Site) imports(c *fiber.Ctx, m *staffMember) error {
	days, err := s.cfg.Access.ImportHistory(c.UserContext(), s.staffRequest(c, m, ""), time.Now().AddDate(0, 0, -90))
	if err != nil {
		return err
	}
	return s.renderStaff(c, fiber.StatusOK, "console_imports", s.locale(c).T("console.imports"), m, days)
}
