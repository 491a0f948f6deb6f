package httpapi

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/requests"
)

type requestList struct {
	Requests []dsr.Request `json:"requests"`
}

func requestParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, problem(fiber.StatusNotFound, "not-found", "Not found", "no such request")
	}
	return id, nil
}

// postRequest takes a request the DPO received on a person's behalf.
func (s *Server) postRequest(c *fiber.Ctx) error {
	var body requests.Intake
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	v, err := s.requests.NewRequest(c.UserContext(), accessRequest(c), body)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

// listRequests answers the DPO's questions: ?state=, ?type=,
// ?overdue=true, ?due_before=, ?profile=.
func (s *Server) listRequests(c *fiber.Ctx) error {
	f := dsr.Filter{State: dsr.State(c.Query("state")), Type: dsr.Type(c.Query("type")), Now: time.Now()}
	if f.State != "" {
		if _, err := dsr.ParseState(string(f.State)); err != nil {
			return err
		}
	}
	if f.Type != "" {
		if _, err := dsr.ParseType(string(f.Type)); err != nil {
			return err
		}
	}
	switch c.Query("overdue") {
	case "", "false":
	case "true":
		f.Overdue = true
	default:
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "overdue: want true or false")
	}
	var err error
	if f.DueBefore, err = queryTime(c, "due_before"); err != nil {
		return err
	}
	if p := c.Query("profile"); p != "" {
		if f.Profile, err = uuid.Parse(p); err != nil {
			return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "profile: not a profile id")
		}
	}
	if f.Limit, err = queryInt(c, "limit", 100, 1, 1000); err != nil {
		return err
	}
	rs, err := s.requests.ListRequests(c.UserContext(), accessRequest(c), f)
	if err != nil {
		return err
	}
	return c.JSON(requestList{Requests: rs})
}

func (s *Server) getRequest(c *fiber.Ctx) error {
	id, err := requestParam(c)
	if err != nil {
		return err
	}
	v, err := s.requests.GetRequest(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// decideRequest is POST /v1/requests/{id}/{verify|approve|reject|extend}.
func (s *Server) decideRequest(c *fiber.Ctx) error {
	id, err := requestParam(c)
	if err != nil {
		return err
	}
	var body requests.Step
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &body); err != nil {
			return err
		}
	}
	body.Action = strings.Clone(c.Params("action"))
	v, err := s.requests.Take(c.UserContext(), accessRequest(c), id, body)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// getExport downloads the export of a completed access or portability
// request: JSON, or the records as CSV with ?format=csv.
func (s *Server) getExport(c *fiber.Ctx) error {
	id, err := requestParam(c)
	if err != nil {
		return err
	}
	req := accessRequest(c)
	if _, ok := c.Locals(localSession).(auth.CustomerSession); ok {
		req = customerRequest(c)
	}
	format := c.Query("format", "json")
	if format != "json" && format != "csv" {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "format: want json or csv")
	}
	x, err := s.requests.DownloadExport(c.UserContext(), req, id)
	if err != nil {
		return err
	}
	name := "cdp-export-" + id.String()
	c.Set(fiber.HeaderCacheControl, "no-store")
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`-records.csv"`)
		return access.WriteRecordsCSV(c.Response().BodyWriter(), x)
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.json"`)
	return c.JSON(x)
}

// postMyRequest takes a customer's own request; their session verified
// who they are.
func (s *Server) postMyRequest(c *fiber.Ctx) error {
	var body requests.Intake
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Profile != uuid.Nil || len(body.Verification) > 0 {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request",
			"a customer's request is about themselves: send type (and purposes for an objection) only")
	}
	cs, _ := c.Locals(localSession).(auth.CustomerSession)
	v, err := s.requests.NewMyRequest(c.UserContext(), customerRequest(c), body, cs)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) listMyRequests(c *fiber.Ctx) error {
	cs, _ := c.Locals(localSession).(auth.CustomerSession)
	rs, err := s.requests.ListMyRequests(c.UserContext(), cs.IdentityID)
	if err != nil {
		return err
	}
	return c.JSON(requestList{Requests: rs})
}

func (s *Server) getMyRequest(c *fiber.Ctx) error {
	id, err := requestParam(c)
	if err != nil {
		return err
	}
	v, err := s.requests.GetMyRequest(c.UserContext(), customerRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// withdrawMyRequest withdraws one of the customer's own requests.
func (s *Server) withdrawMyRequest(c *fiber.Ctx) error {
	id, err := requestParam(c)
	if err != nil {
		return err
	}
	v, err := s.requests.WithdrawMine(c.UserContext(), customerRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// ackNotice is a recipient's acknowledgement of an erasure notice.
func (s *Server) ackNotice(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such notice")
	}
	if err := s.requests.AcknowledgeNotice(c.UserContext(), accessRequest(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// liftSuppression lifts the suppression of an erased person's identifier
// (the DPO, with the new lawful basis as the reason).
func (s *Server) liftSuppression(c *fiber.Ctx) error {
	var body requests.Lift
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if err := s.requests.LiftSuppression(c.UserContext(), accessRequest(c), body); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
