package httpapi

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
)

const localPrincipal = "principal"

// authenticate requires a valid API token holding role ("": any valid
// token; the policy decides what it may do).
func (s *Server) authenticate(role auth.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := c.Get(fiber.HeaderAuthorization)
		cred, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || cred == "" {
			return problem(fiber.StatusUnauthorized, "unauthenticated", "Authentication required",
				"send an API token as 'Authorization: Bearer cdp_...'")
		}
		// Cloned: fiber reuses the header buffer, and the id keys the cache.
		id, secret, err := auth.ParseCredential(strings.Clone(strings.TrimSpace(cred)))
		if err != nil {
			return unauthenticated()
		}
		p, err := s.tokens.Authenticate(c.UserContext(), id, secret, time.Now())
		if errors.Is(err, derrors.ErrNotFound) || errors.Is(err, auth.ErrUnauthenticated) {
			return unauthenticated()
		}
		if err != nil {
			return err
		}
		c.Locals(localPrincipal, p)
		if role != "" && !p.Has(role) {
			return problem(fiber.StatusForbidden, "forbidden", "Not allowed", "this token lacks the role "+string(role))
		}
		return c.Next()
	}
}

// unauthenticated does not say which check failed: unknown, wrong, expired
// and revoked tokens look alike to the caller.
func unauthenticated() *Problem {
	return problem(fiber.StatusUnauthorized, "unauthenticated", "Authentication required",
		"the token is malformed, unknown, expired or revoked")
}

func principal(c *fiber.Ctx) auth.Principal {
	p, _ := c.Locals(localPrincipal).(auth.Principal)
	return p
}
