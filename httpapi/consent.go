package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
)

// SessionChecker tells whose Ory Kratos session a token or cookie is.
type SessionChecker interface {
	Session(ctx context.Context, token, cookie string) (auth.CustomerSession, error)
}

const (
	localSession = "customer_session"
	localSubject = "customer_subject"

	// SessionCookie is the cookie of Kratos browser sessions.
	SessionCookie = "ory_kratos_session"
)

type subject struct {
	record, profile uuid.UUID
	evidence        *access.Evidence
}

// crossOrigin tells a request of another origin (Go's
// CrossOriginProtection, as the pages use it).
var crossOrigin = http.NewCrossOriginProtection()

// customer authenticates a data subject by their Kratos session (the
// X-Session-Token header of native apps, or the ory_kratos_session cookie
// of browsers) and links them to their profile. A Sec-GPC: 1 header
// records their objection to selling and sharing before anything else.
//
// Cookies and CSRF: a change made with the cookie must come from a page
// of this origin (crossOrigin); a route with a body also takes
// application/json only, which a cross-site form cannot send without a
// CORS preflight, and the server answers no preflight.
func (s *Server) customer(c *fiber.Ctx) error {
	if s.sessions == nil {
		return problem(fiber.StatusServiceUnavailable, "unavailable", "Customer sign-in not configured",
			"this service has no Ory Kratos to check sessions with (CDP_KRATOS_PUBLIC_URL)")
	}
	token := strings.Clone(strings.TrimSpace(c.Get("X-Session-Token")))
	var cookie string
	if v := c.Cookies(SessionCookie); v != "" && token == "" {
		cookie = SessionCookie + "=" + strings.Clone(v)
	}
	if token == "" && cookie == "" {
		return problem(fiber.StatusUnauthorized, "unauthenticated", "Authentication required",
			"log in through Ory Kratos and send the session as 'X-Session-Token' or the ory_kratos_session cookie")
	}
	if cookie != "" && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		// The browser sends the cookie with a form another site posts
		// here too; a change comes only from a page of this origin (the
		// browser's Sec-Fetch-Site, else Origin against Host), as on the
		// pages. A route that reads no body (a withdrawal, a dispute) had
		// no other defence.
		r, err := adaptor.ConvertRequest(c, false)
		if err != nil || crossOrigin.Check(r) != nil {
			return problem(fiber.StatusForbidden, "cross-origin", "Cross-origin request refused",
				"a change with the session cookie must come from a page of this site; other clients send 'X-Session-Token'")
		}
	}
	cs, err := s.sessions.Session(c.UserContext(), token, cookie)
	if err != nil {
		return err
	}
	c.Locals(localPrincipal, cs.Principal())
	cu, err := s.access.SignIn(c.UserContext(), cs)
	prof := cu.Profile
	if errors.Is(err, access.ErrErasedAccount) && c.Method() == fiber.MethodGet && strings.HasPrefix(c.Path(), "/v1/me/requests") {
		// Erased, they still follow their requests: the erasure itself
		// above all. Nothing of them is read or recreated.
		c.Locals(localSession, cs)
		return c.Next()
	}
	if err != nil {
		return err
	}
	c.Locals(localSession, cs)
	c.Locals(localSubject, subject{record: cu.Record, profile: cu.Profile, evidence: cu.Evidence})
	if c.Get("Sec-GPC") == "1" {
		n, err := s.access.HonourGPC(c.UserContext(), customerRequest(c), prof, s.evidence(c, cs, "Sec-GPC: 1"))
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.InfoContext(c.UserContext(), "global privacy control honoured", slog.String("request_id", requestID(c)),
				slog.String("profile", prof.String()), slog.Int("purposes", n))
		}
	}
	return c.Next()
}

// customerRequest is accessRequest for a customer: the subject is their
// own profile, the purpose self-service.
func customerRequest(c *fiber.Ctx) access.Request {
	req := accessRequest(c)
	req.Purpose = "" // customers read for themselves: the read path says self_service
	if sub, ok := c.Locals(localSubject).(subject); ok {
		req.Subject, req.SubjectRecord, req.Evidence = sub.profile, sub.record, sub.evidence
	}
	return req
}

// evidence is what proves a customer's statement, sealed with it.
func (s *Server) evidence(c *fiber.Ctx, cs auth.CustomerSession, signal string) map[string]string {
	ev := map[string]string{
		"kratos_identity": cs.IdentityID.String(),
		"kratos_session":  cs.SessionID,
		"aal":             cs.AAL,
		"client_address":  strings.Clone(c.IP()),
		"user_agent":      clipString(string(c.Request().Header.UserAgent()), 512),
		"request_id":      requestID(c),
	}
	if signal != "" {
		ev["signal"] = signal
	}
	return ev
}

func clipString(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(strings.Clone(s), "")
}

func (s *Server) getMe(c *fiber.Ctx) error {
	req := customerRequest(c)
	p, err := s.access.Profile(c.UserContext(), req, req.Subject)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getMyRecords(c *fiber.Ctx) error {
	req := customerRequest(c)
	rs, err := s.access.Records(c.UserContext(), req, req.Subject)
	if err != nil {
		return err
	}
	return c.JSON(rs)
}

func (s *Server) getMyConsents(c *fiber.Ctx) error {
	req := customerRequest(c)
	o, err := s.access.Consents(c.UserContext(), req, req.Subject)
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func (s *Server) getMyConsentHistory(c *fiber.Ctx) error {
	req := customerRequest(c)
	h, err := s.access.History(c.UserContext(), req, req.Subject)
	if err != nil {
		return err
	}
	return c.JSON(h)
}

// myConsentRequest is what a customer says about a purpose: withdrawing
// takes the same one field as granting.
type myConsentRequest struct {
	State         consent.State `json:"state"`
	NoticeVersion int           `json:"notice_version"`
}

func (s *Server) putMyConsent(c *fiber.Ctx) error {
	var body myConsentRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	req := customerRequest(c)
	cs, _ := c.Locals(localSession).(auth.CustomerSession)
	st := access.Statement{Purpose: strings.Clone(c.Params("purpose")), State: body.State, NoticeVersion: body.NoticeVersion,
		Evidence: s.evidence(c, cs, "")}
	e, err := s.access.RecordConsent(c.UserContext(), req, req.Subject, st)
	if err != nil {
		return err
	}
	return c.JSON(e)
}

// consentRequest is a statement a department collected.
type consentRequest struct {
	Purpose       string            `json:"purpose"`
	State         consent.State     `json:"state"`
	NoticeVersion int               `json:"notice_version"`
	Method        consent.Method    `json:"method"`
	At            *time.Time        `json:"at"`
	ExpiresAt     *time.Time        `json:"expires_at"`
	RecordID      *uuid.UUID        `json:"record_id"`
	Evidence      map[string]string `json:"evidence"`
}

func (s *Server) postProfileConsent(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	var body consentRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	st := access.Statement{Purpose: body.Purpose, State: body.State, NoticeVersion: body.NoticeVersion, Method: body.Method,
		ExpiresAt: body.ExpiresAt, Evidence: body.Evidence}
	if body.At != nil {
		st.At = *body.At
	}
	if body.RecordID != nil {
		st.Record = *body.RecordID
	}
	e, err := s.access.RecordConsent(c.UserContext(), accessRequest(c), id, st)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (s *Server) getProfileConsents(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	o, err := s.access.Consents(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func (s *Server) getConsentProof(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.access.ConsentProof(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

type purposeList struct {
	Purposes []consent.Purpose `json:"purposes"`
}

// getPurposes lists the catalogue: what personal data may be used for is
// no secret, and holds no personal data.
func (s *Server) getPurposes(c *fiber.Ctx) error {
	ps, err := s.access.Purposes(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(purposeList{Purposes: ps})
}

func (s *Server) postPurpose(c *fiber.Ctx) error {
	var body access.PurposeChange
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	p, err := s.access.SavePurpose(c.UserContext(), accessRequest(c), body, true)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (s *Server) putPurpose(c *fiber.Ctx) error {
	var body access.PurposeChange
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	if body.ID != "" && body.ID != id {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "id: the body names another purpose than the path")
	}
	body.ID = id
	p, err := s.access.SavePurpose(c.UserContext(), accessRequest(c), body, false)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

type noticeList struct {
	Notices []consent.Notice `json:"notices"`
}

func (s *Server) getNotices(c *fiber.Ctx) error {
	id := c.Params("id")
	ns, err := s.access.Notices(c.UserContext(), id)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		ps, err := s.access.Purposes(c.UserContext())
		if err != nil {
			return err
		}
		known := false
		for _, p := range ps {
			known = known || p.ID == id
		}
		if !known {
			return problem(fiber.StatusNotFound, "unknown-purpose", "Unknown purpose", "no such purpose in the catalogue")
		}
	}
	if ns == nil {
		ns = []consent.Notice{}
	}
	return c.JSON(noticeList{Notices: ns})
}

type noticeRequest struct {
	Text        string     `json:"text"`
	EffectiveAt *time.Time `json:"effective_at"`
}

func (s *Server) postNotice(c *fiber.Ctx) error {
	var body noticeRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	var at time.Time
	if body.EffectiveAt != nil {
		at = *body.EffectiveAt
	}
	n, err := s.access.PublishNotice(c.UserContext(), accessRequest(c), strings.Clone(c.Params("id")), body.Text, at)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(n)
}

type conflictList struct {
	Conflicts []consent.Conflict `json:"conflicts"`
	Access    access.Grant       `json:"access"`
}

func (s *Server) getConflicts(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	cs, g, err := s.access.Conflicts(c.UserContext(), accessRequest(c), limit)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []consent.Conflict{}
	}
	return c.JSON(conflictList{Conflicts: cs, Access: g})
}
