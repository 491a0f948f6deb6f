package httpapi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/profiling"
)

// getTraits reads a person's computed traits and segments for a purpose.
func (s *Server) getTraits(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such profile")
	}
	t, err := s.access.Traits(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// getMyTraits reads what profiling computed about the customer, and why.
func (s *Server) getMyTraits(c *fiber.Ctx) error {
	req := customerRequest(c)
	t, err := s.access.Traits(c.UserContext(), req, req.Subject)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// computeTraits queues the full computation as a job (202): it takes
// longer than a request may wait. Its state is at the Location.
func (s *Server) computeTraits(c *fiber.Ctx) error {
	comp, err := s.profiling.Ask(c.UserContext(), accessRequest(c))
	if err != nil {
		return err
	}
	c.Location(fmt.Sprintf("/v1/traits/computations/%d", comp.ID))
	return c.Status(fiber.StatusAccepted).JSON(comp)
}

func (s *Server) getComputation(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "a computation's id is a positive whole number")
	}
	comp, err := s.profiling.Computation(c.UserContext(), accessRequest(c), id)
	if err != nil {
		return err
	}
	return c.JSON(comp)
}

func (s *Server) getCharts(c *fiber.Ctx) error {
	ch, err := s.profiling.Charts(c.UserContext(), accessRequest(c))
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

type segmentList struct {
	Segments []crm.Segment `json:"segments"`
}

func (s *Server) listSegments(c *fiber.Ctx) error {
	segs, err := s.profiling.Segments(c.UserContext(), accessRequest(c))
	if err != nil {
		return err
	}
	if segs == nil {
		segs = []crm.Segment{}
	}
	return c.JSON(segmentList{Segments: segs})
}

func (s *Server) postSegment(c *fiber.Ctx) error {
	var d profiling.Draft
	if err := decodeBody(c, &d); err != nil {
		return err
	}
	seg, err := s.profiling.Save(c.UserContext(), accessRequest(c), d)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(seg)
}

func (s *Server) previewSegment(c *fiber.Ctx) error {
	var d profiling.Draft
	if err := decodeBody(c, &d); err != nil {
		return err
	}
	p, err := s.profiling.Preview(c.UserContext(), accessRequest(c), d)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getSegment(c *fiber.Ctx) error {
	v, err := s.profiling.Segment(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name")))
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) deleteSegment(c *fiber.Ctx) error {
	if err := s.profiling.Delete(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name"))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) refreshSegment(c *fiber.Ctx) error {
	n, err := s.profiling.RefreshSegment(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name")))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"changes": n})
}

type memberList struct {
	Members []crm.Member `json:"members"`
}

func (s *Server) listSegmentMembers(c *fiber.Ctx) error {
	after := uuid.Nil
	if a := c.Query("after"); a != "" {
		var err error
		if after, err = uuid.Parse(a); err != nil {
			return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "after: a profile id")
		}
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	ms, err := s.profiling.Members(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name")), after, limit)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []crm.Member{}
	}
	return c.JSON(memberList{Members: ms})
}

type reviewBody struct {
	Approve *bool `json:"approve"`
}

func (s *Server) reviewSegmentMember(c *fiber.Ctx) error {
	profile, err := uuid.Parse(c.Params("profile"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such member")
	}
	var b reviewBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	if b.Approve == nil {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "approve: true or false")
	}
	if err := s.profiling.Review(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name")), profile, *b.Approve); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// activateSegment delivers a segment's changes since the last
// activation: to a recipient's webhook, or as a CSV download.
func (s *Server) activateSegment(c *fiber.Ctx) error {
	dest := c.Query("destination")
	if dest == "" {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "destination: csv, or the name of a recipient")
	}
	a, err := s.profiling.Activate(c.UserContext(), accessRequest(c), strings.Clone(c.Params("name")), dest)
	if err != nil {
		return err
	}
	if dest == profiling.CSVDestination {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+a.Segment+`.csv"`)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Send(a.CSV)
	}
	return c.JSON(a)
}
