package httpapi

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
)

// disputeMyRecord is a customer's "this isn't me" about one of the
// records they are shown.
func (s *Server) disputeMyRecord(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such record")
	}
	d, err := s.access.Dispute(c.UserContext(), customerRequest(c), id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(d)
}

// listMyDisputes lists the customer's disputes and their outcomes.
func (s *Server) listMyDisputes(c *fiber.Ctx) error {
	cs, _ := c.Locals(localSession).(auth.CustomerSession)
	ds, err := s.access.MyDisputes(c.UserContext(), cs.IdentityID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"disputes": ds})
}

type disputesResponse struct {
	Disputes []identity.Dispute `json:"disputes"`
	Access   access.Grant       `json:"access"`
}

// listDisputes lists the open disputes for the stewards.
func (s *Server) listDisputes(c *fiber.Ctx) error {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", "limit: an integer from 1 to 500")
		}
		limit = n
	}
	ds, g, err := s.access.Disputes(c.UserContext(), accessRequest(c), limit)
	if err != nil {
		return err
	}
	return c.JSON(disputesResponse{Disputes: ds, Access: g})
}

type settleRequest struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// settleDispute is a steward's answer to a dispute: split the record out,
// or keep it.
func (s *Server) settleDispute(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such dispute")
	}
	var body settleRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Outcome != "split" && body.Outcome != "keep" {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", `outcome: want "split" or "keep"`)
	}
	d, err := s.access.SettleDispute(c.UserContext(), accessRequest(c), id, body.Outcome == "split", body.Reason)
	if err != nil {
		return err
	}
	return c.JSON(d)
}
