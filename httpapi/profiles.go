package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
)

// accessRequest describes the caller for the read path: who, why (the
// purpose from ?purpose= or X-Purpose), the request id and the client
// address. Everything is copied: fiber reuses its buffers.
func accessRequest(c *fiber.Ctx) access.Request {
	purpose := c.Query("purpose")
	if purpose == "" {
		purpose = c.Get("X-Purpose")
	}
	return access.Request{
		Principal: principal(c),
		Purpose:   strings.Clone(strings.TrimSpace(purpose)),
		RequestID: requestID(c),
		Client:    strings.Clone(c.IP()),
	}
}

// profileID parses the :id parameter. A malformed id is as unknown as a
// well-formed one that matches nothing.
func profileID(c *fiber.Ctx, param string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params(param))
	if err != nil {
		return uuid.Nil, problem(fiber.StatusNotFound, "not-found", "Not found", "no such "+param)
	}
	return id, nil
}

func (s *Server) getProfile(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.access.Profile(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getProfileRecords(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	rs, err := s.access.Records(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(rs)
}

func (s *Server) getProfileLineage(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	l, err := s.access.Lineage(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(l)
}

type searchResponse struct {
	Profiles []*access.Profile `json:"profiles"`
}

func (s *Server) findProfiles(c *fiber.Ctx) error {
	q := access.Lookup{Email: strings.Clone(c.Query("email")), Phone: strings.Clone(c.Query("phone")),
		GivenName: strings.Clone(c.Query("given_name")), FamilyName: strings.Clone(c.Query("family_name")),
		BirthDate: strings.Clone(c.Query("birth_date")), Postcode: strings.Clone(c.Query("postcode")), City: strings.Clone(c.Query("city"))}
	ps, err := s.access.Find(c.UserContext(), accessRequest(c), q)
	if err != nil {
		return err
	}
	return c.JSON(searchResponse{Profiles: ps})
}

// decodeBody reads a JSON object into v, refusing unknown fields.
func decodeBody(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return problem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send application/json")
	}
	if !utf8.Valid(c.Body()) {
		// encoding/json would replace the bytes silently: what was sent
		// is not what would be stored.
		return problem(fiber.StatusBadRequest, "invalid-utf8", "Body is not valid UTF-8", "the request body must be UTF-8 encoded")
	}
	dec := json.NewDecoder(strings.NewReader(string(c.Body())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body", jsonError(err))
	}
	if dec.More() {
		return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body", "one JSON object expected")
	}
	if path, ok := nulAt(reflect.ValueOf(v), ""); ok {
		return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body",
			"field "+strings.TrimPrefix(path, ".")+": text may not hold a NUL (\\u0000)")
	}
	return nil
}

// nulAt finds a string holding a NUL in a decoded body, and names where.
func nulAt(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulAt(v.Elem(), path)
		}
	case reflect.String:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if p, ok := nulAt(v.Field(i), path+"."+name); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p, ok := nulAt(v.Index(i), path+"."+strconv.Itoa(i)); ok {
				return p, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := fmt.Sprint(it.Key().Interface())
			if strings.IndexByte(k, 0) >= 0 {
				return path, true
			}
			if p, ok := nulAt(it.Value(), path+"."+clipString(k, 32)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// jsonError describes a decoding error without echoing values.
func jsonError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return "field " + typeErr.Field + ": wrong type, want " + typeErr.Type.String()
	case errors.As(err, &syntaxErr):
		return "invalid JSON at byte " + strconv.FormatInt(syntaxErr.Offset, 10)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}

type mergeRequest struct {
	Profiles []uuid.UUID `json:"profiles"`
	Reason   string      `json:"reason"`
	// Reverse overturns an earlier steward decision that the records are
	// different people; it is recorded with the decision.
	Reverse bool `json:"reverse"`
}

func (s *Server) mergeProfiles(c *fiber.Ctx) error {
	var body mergeRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	rep, err := s.access.Merge(c.UserContext(), accessRequest(c), body.Profiles, body.Reason, body.Reverse)
	if err != nil {
		return err
	}
	return c.JSON(rep)
}

type splitRequest struct {
	Records []uuid.UUID `json:"records"`
	Reason  string      `json:"reason"`
	// Reverse overturns an earlier steward decision that the records are
	// the same person; it is recorded with the decision.
	Reverse bool `json:"reverse"`
}

func (s *Server) splitProfile(c *fiber.Ctx) error {
	id, err := profileID(c, "id")
	if err != nil {
		return err
	}
	var body splitRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	rep, err := s.access.Split(c.UserContext(), accessRequest(c), id, body.Records, body.Reason, body.Reverse)
	if err != nil {
		return err
	}
	return c.JSON(rep)
}

type reviewList struct {
	Pairs  []access.Review `json:"pairs"`
	Next   string          `json:"next,omitempty"`
	Access access.Grant    `json:"access"`
}

func (s *Server) listReview(c *fiber.Ctx) error {
	var after uuid.UUID
	if a := c.Query("after"); a != "" {
		var err error
		if after, err = uuid.Parse(a); err != nil {
			return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "after: not a review pair id")
		}
	}
	limit, err := queryInt(c, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	values := false
	switch c.Query("values") {
	case "", "false":
	case "true":
		values = true
	default:
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "values: want true or false")
	}
	rs, g, err := s.access.Reviews(c.UserContext(), accessRequest(c), after, limit, values)
	if err != nil {
		return err
	}
	out := reviewList{Pairs: rs, Access: g}
	if len(rs) > 0 && len(rs) == limit {
		out.Next = rs[len(rs)-1].ID.String()
	}
	return c.JSON(out)
}

type decideRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *Server) decideReview(c *fiber.Ctx) error {
	pair, err := uuid.Parse(c.Params("pair"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such review pair")
	}
	var body decideRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	var same bool
	switch body.Decision {
	case "match":
		same = true
	case "distinct":
	default:
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", `decision: want "match" or "distinct"`)
	}
	rep, err := s.access.Settle(c.UserContext(), accessRequest(c), pair, same, body.Reason)
	if err != nil {
		return err
	}
	return c.JSON(rep)
}

type auditResponse struct {
	Entries []audit.Entry `json:"entries"`
	Next    int64         `json:"next,omitempty"`
	Access  access.Grant  `json:"access"`
}

// getAudit answers the DPO's questions about the audit log. Here
// ?purpose= filters the entries; the DPO's own purpose is compliance.
func (s *Server) getAudit(c *fiber.Ctx) error {
	q := audit.Query{
		Profile:    strings.Clone(c.Query("profile")),
		Principal:  strings.Clone(c.Query("principal")),
		Department: strings.Clone(c.Query("department")),
		Purpose:    strings.Clone(c.Query("purpose")),
	}
	var err error
	if q.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if q.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	after, err := queryInt(c, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	q.After = int64(after)
	if q.Limit, err = queryInt(c, "limit", 100, 1, 1000); err != nil {
		return err
	}
	req := accessRequest(c)
	es, g, err := s.access.AuditLog(c.UserContext(), req, q)
	if err != nil {
		return err
	}
	out := auditResponse{Entries: es, Access: g}
	if len(es) > 0 && len(es) == q.Limit {
		out.Next = es[len(es)-1].Seq
	}
	return c.JSON(out)
}

func queryInt(c *fiber.Ctx, name string, def, min, max int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, problem(fiber.StatusBadRequest, "invalid-request", "Invalid request",
			fmt.Sprintf("%s: want a whole number from %d to %d", name, min, max))
	}
	return n, nil
}

func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if d, derr := time.Parse(time.DateOnly, v); derr == nil {
			return d, nil
		}
		return time.Time{}, problem(fiber.StatusBadRequest, "invalid-request", "Invalid request",
			name+": want an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31)")
	}
	return t, nil
}
