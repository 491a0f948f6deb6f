package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/crm"
)

var errTooManyEvents = errors.New("too many interactions")

type eventsResponse struct {
	Results []crm.Result `json:"results"`
	Summary struct {
		Created   int `json:"created"`
		Unchanged int `json:"unchanged"`
		Rejected  int `json:"rejected"`
	} `json:"summary"`
}

// postEvents takes a department's interactions for its own sources:
// each checked and tied to its customer record, sealed, written once by
// (source, source_id); bad lines rejected with their field and reason,
// never blocking the good ones.
func (s *Server) postEvents(c *fiber.Ctx) error {
	p := principal(c)
	mediaType, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	body := c.Body()
	if !utf8.Valid(body) {
		return problem(fiber.StatusBadRequest, "invalid-utf8", "Body is not valid UTF-8", "the request body must be UTF-8 encoded")
	}
	var read func(fn func(crm.Input) error) error
	switch mediaType {
	case "application/json":
		read = func(fn func(crm.Input) error) error { return crm.ReadJSON(bytes.NewReader(body), fn) }
	case "application/x-ndjson", "application/ndjson", "application/jsonl":
		read = func(fn func(crm.Input) error) error { return crm.ReadNDJSON(bytes.NewReader(body), fn) }
	case "text/csv":
		read = func(fn func(crm.Input) error) error { return crm.ReadCSV(bytes.NewReader(body), fn) }
	default:
		return problem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send application/json (an array of interactions), application/x-ndjson or text/csv")
	}
	n := 0
	bounded := func(fn func(crm.Input) error) error {
		return read(func(in crm.Input) error {
			if n++; n > s.maxRecords {
				return errTooManyEvents
			}
			return fn(in)
		})
	}
	owner, err := s.sourceOwners(c)
	if err != nil {
		return err
	}
	im := s.events
	im.Sources = func(name string) error {
		switch dept, ok := owner[name]; {
		case !ok:
			return fmt.Errorf("%q is not a registered source", name)
		case dept != p.Department:
			return fmt.Errorf("%q belongs to another department", name)
		}
		return nil
	}
	req := accessRequest(c)
	if err := s.access.RecordWriteIntent(c.UserContext(), req, "POST /v1/events", -1, []string{"interaction"}); err != nil {
		return err
	}
	resp := eventsResponse{Results: []crm.Result{}}
	sum, err := im.Import(c.UserContext(), bounded, func(r crm.Result) { resp.Results = append(resp.Results, r) })
	switch {
	case errors.Is(err, errTooManyEvents):
		return problem(fiber.StatusRequestEntityTooLarge, "too-many-records", "Too many interactions",
			fmt.Sprintf("a request may carry at most %d interactions; the first %d were taken", s.maxRecords, sum.Created+sum.Unchanged+sum.Rejected))
	case errors.Is(err, crm.ErrFormat):
		return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body", err.Error())
	case err != nil:
		return err
	}
	resp.Summary.Created, resp.Summary.Unchanged, resp.Summary.Rejected = sum.Created, sum.Unchanged, sum.Rejected
	done, cancel := finishing(c) // committed: audited even if a shutdown cancels the request
	defer cancel()
	if err := s.access.RecordWrite(done, req, access.Write{What: "POST /v1/events", Created: sum.Created,
		Unchanged: sum.Unchanged, Fields: []string{"interaction"}}); err != nil {
		return err
	}
	return c.JSON(resp)
}

// getTimeline reads a person's interactions under the declared purpose.
func (s *Server) getTimeline(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such profile")
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	t, err := s.access.Timeline(c.UserContext(), accessRequest(c), id, limit)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// getMyTimeline reads the customer's own interactions.
func (s *Server) getMyTimeline(c *fiber.Ctx) error {
	req := customerRequest(c)
	limit, _ := strconv.Atoi(c.Query("limit"))
	t, err := s.access.Timeline(c.UserContext(), req, req.Subject, limit)
	if err != nil {
		return err
	}
	return c.JSON(t)
}
