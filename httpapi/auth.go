package httpapi

import (
	"context"
	"errors"
	"strings"
	"sync"
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
		tok, err := s.token(c.UserContext(), id)
		if errors.Is(err, derrors.ErrNotFound) {
			return unauthenticated()
		}
		if err != nil {
			return err
		}
		p, err := tok.Authenticate(secret, time.Now())
		if err != nil {
			return unauthenticated()
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

// tokenCache keeps tokens read from the store for a short while, so that a
// busy client does not cost a database round trip per request. The secret
// is still checked on every request, against the stored hash; a revocation
// takes effect within the cache's lifetime.
type tokenCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedToken
}

type cachedToken struct {
	tok auth.Token
	at  time.Time
}

func (s *Server) token(ctx context.Context, id string) (auth.Token, error) {
	c := s.tokenCache
	if c.ttl <= 0 {
		return s.tokens.Token(ctx, id)
	}
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[id]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.tok, nil
	}
	c.mu.Unlock()
	tok, err := s.tokens.Token(ctx, id)
	if err != nil {
		return tok, err
	}
	c.mu.Lock()
	if len(c.m) >= 10000 {
		clear(c.m) // a crude bound: tokens are few, this never happens in practice
	}
	c.m[id] = cachedToken{tok: tok, at: now}
	c.mu.Unlock()
	return tok, nil
}
