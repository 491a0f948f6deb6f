package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
)

// Problem is an RFC 9457 problem details object. It is also an error, so a
// handler can return one directly.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError locates one problem in the request: a record line, a field,
// and why. It never echoes the offending value.
type FieldError struct {
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// problem builds a Problem of a documented type (see openapi.yaml).
func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: "/problems/" + slug, Title: title, Status: status, Detail: detail}
}

// errorTable maps errors to problems: precise sentinels first, then the
// kinds of package derrors. The first match wins; an error matching none is
// a 500 without details.
var errorTable = []struct {
	err    error
	status int
	slug   string
	title  string
	detail string // replaces the error's text when set
}{
	{access.ErrUnavailable, fiber.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the access could not be decided or audited, so nothing was returned; try again later"},
	{access.ErrPurpose, fiber.StatusBadRequest, "invalid-purpose", "Missing or unknown purpose", ""},
	{access.ErrGone, fiber.StatusGone, "erased", "Erased", ""},
	{requests.ErrExportExpired, fiber.StatusGone, "export-expired", "Export expired", ""},
	{access.ErrNotFound, fiber.StatusNotFound, "not-found", "Not found", ""},
	{dsr.ErrStepUp, fiber.StatusForbidden, "step-up-required", "Second factor required", ""},
	{dsr.ErrTransition, fiber.StatusConflict, "invalid-transition", "Not allowed in the request's state", ""},
	{dsr.ErrNotFound, fiber.StatusNotFound, "not-found", "Not found", ""},
	{dsr.ErrInvalid, fiber.StatusBadRequest, "invalid-request", "Invalid request", ""},
	{consent.ErrUnknownPurpose, fiber.StatusNotFound, "unknown-purpose", "Unknown purpose", ""},
	{consent.ErrUnknownNotice, fiber.StatusUnprocessableEntity, "unknown-notice", "Unknown or superseded notice", ""},
	{consent.ErrNotApplicable, fiber.StatusUnprocessableEntity, "not-applicable", "Not applicable to this purpose", ""},
	{consent.ErrInvalid, fiber.StatusBadRequest, "invalid-consent", "Invalid consent data", ""},
	{access.ErrUnchanged, fiber.StatusConflict, "unchanged", "Nothing to change", ""},
	{access.ErrUnverified, fiber.StatusForbidden, "unverified", "Email address not verified", ""},
	{access.ErrErasedAccount, fiber.StatusForbidden, "account-erased", "Account data erased", ""},
	{kratos.ErrUnavailable, fiber.StatusServiceUnavailable, "unavailable", "Sign-in unavailable",
		"Ory Kratos did not answer; try again later"},
	{resolver.ErrConflict, fiber.StatusConflict, "conflicting-decision", "Conflicting steward decision", ""},
	{ingest.ErrUnknownSource, fiber.StatusUnprocessableEntity, "unknown-source", "Unknown source", ""},
	{ingest.ErrForbiddenSource, fiber.StatusForbidden, "forbidden-source", "Source not writable by this department", ""},
	{ingest.ErrFormat, fiber.StatusBadRequest, "malformed-body", "Malformed request body", ""},
	{derrors.ErrUnauthenticated, fiber.StatusUnauthorized, "unauthenticated", "Authentication required", ""},
	{derrors.ErrForbidden, fiber.StatusForbidden, "forbidden", "Not allowed", ""},
	{derrors.ErrInvalid, fiber.StatusBadRequest, "invalid-request", "Invalid request", ""},
	{derrors.ErrUnprocessable, fiber.StatusUnprocessableEntity, "unprocessable", "Request cannot be processed", ""},
	{derrors.ErrNotFound, fiber.StatusNotFound, "not-found", "Not found", ""},
	{derrors.ErrConflict, fiber.StatusConflict, "conflict", "Conflict", ""},
	{derrors.ErrTooLarge, fiber.StatusRequestEntityTooLarge, "too-large", "Request too large", ""},
	{derrors.ErrUnavailable, fiber.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"a part of the service is unavailable; try again later"},
	// A request still running when a shutdown's time is up.
	{context.Canceled, fiber.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the service is stopping; try again later"},
}

// errorHandler turns every error a handler returns into problem+json.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := s.toProblem(c, err)
	p.RequestID = requestID(c)
	if p.RequestID == "" {
		// fasthttp rejected the request before any handler ran (body too
		// large): give the answer an id of its own.
		p.RequestID = newRequestID()
		c.Set("X-Request-ID", p.RequestID)
	}
	if p.Instance == "" {
		p.Instance = c.Route().Path
	}
	if p.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="cdp"`)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(p.Status).JSON(p, "application/problem+json")
}

func (s *Server) toProblem(c *fiber.Ctx, err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		return &cp
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return problem(fe.Code, "not-found", "Not found", "no such route")
		case fiber.StatusMethodNotAllowed:
			return problem(fe.Code, "method-not-allowed", "Method not allowed", "")
		case fiber.StatusRequestEntityTooLarge:
			return problem(fe.Code, "body-too-large", "Request body too large",
				fmt.Sprintf("the body limit is %d bytes", s.maxBody))
		}
		return problem(fe.Code, "http-error", fe.Message, "")
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			detail := err.Error()
			if e.detail != "" {
				detail = e.detail
				// The cause stays in the logs, with the request id.
				s.log.WarnContext(c.UserContext(), "request refused", slog.String("request_id", requestID(c)),
					slog.String("route", c.Route().Path), slog.String("error", err.Error()))
			}
			return problem(e.status, e.slug, e.title, detail)
		}
	}
	// Unexpected: log it (errors carry ids and field names, not values) and
	// answer without details.
	s.log.ErrorContext(c.UserContext(), "request failed",
		slog.String("request_id", requestID(c)), slog.String("route", c.Route().Path), slog.String("error", err.Error()))
	return problem(fiber.StatusInternalServerError, "internal", "Internal error", "")
}
