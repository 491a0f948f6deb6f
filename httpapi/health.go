package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz answers while the process can serve requests.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz runs every readiness check (database reachable, migrations
// current, keys loaded) and answers 503 with the failing ones.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := make(map[string]string, len(s.ready))
	var failed []FieldError
	for _, ch := range s.ready {
		if err := ch.Check(ctx); err != nil {
			checks[ch.Name] = "failing"
			failed = append(failed, FieldError{Field: ch.Name, Reason: err.Error()})
			continue
		}
		checks[ch.Name] = "ok"
	}
	if len(failed) > 0 {
		p := problem(fiber.StatusServiceUnavailable, "not-ready", "Not ready", "some readiness checks fail")
		p.Errors = failed
		return p
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": checks})
}
