// Package kratos checks customers' Ory Kratos sessions: it asks the
// configured Kratos public API who a session token or session cookie
// belongs to (github.com/ory/kratos-client-go) and turns the answer into an
// auth.CustomerSession. Inactive, expired, revoked and forged sessions are
// all ErrUnauthenticated; a Kratos that does not answer is ErrUnavailable.
// Through the admin API (Admin) it deletes the accounts of erased
// customers.
//
// kratos imports auth, derrors and the Kratos client; no database, no
// HTTP server.
package kratos

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	client "github.com/ory/kratos-client-go"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors.
var (
	ErrUnauthenticated = derrors.New(derrors.ErrUnauthenticated, "no valid Kratos session")
	ErrUnavailable     = derrors.New(derrors.ErrUnavailable, "Kratos unavailable")
)

// Client asks one Kratos public API about sessions and browser flows.
type Client struct {
	api    *client.APIClient
	public string // the public API's URL, as browsers reach it
}

// New builds a client of the Kratos public API at publicURL.
func New(publicURL string) (*Client, error) {
	api, err := newAPI("public", publicURL, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Client{api: api, public: strings.TrimSuffix(publicURL, "/")}, nil
}

// PublicURL is the public API's URL, as browsers reach it.
func (c *Client) PublicURL() string { return c.public }

// newAPI builds a Kratos API client of one of its two APIs (public,
// admin) at rawURL.
func newAPI(which, rawURL string, timeout time.Duration) (*client.APIClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("Kratos %s URL %q: want http(s)://host[:port]", which, rawURL)
	}
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: strings.TrimSuffix(rawURL, "/")}}
	cfg.HTTPClient = &http.Client{Timeout: timeout}
	cfg.UserAgent = "cdp"
	return client.NewAPIClient(cfg), nil
}

// Session returns the customer whose session the token (the
// X-Session-Token of native apps) or the cookie header
// (ory_kratos_session of browsers) names.
func (c *Client) Session(ctx context.Context, token, cookie string) (auth.CustomerSession, error) {
	if token == "" && cookie == "" {
		return auth.CustomerSession{}, fmt.Errorf("send a session token (X-Session-Token) or the ory_kratos_session cookie: %w", ErrUnauthenticated)
	}
	req := c.api.FrontendAPI.ToSession(ctx)
	if token != "" {
		req = req.XSessionToken(token)
	} else {
		req = req.Cookie(cookie)
	}
	s, resp, err := req.Execute()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	switch {
	case resp != nil && resp.StatusCode == http.StatusForbidden && err != nil:
		// A session at the first factor of a person who set up a second
		// one: it stands for nobody until the second factor is given.
		if r, ok := c.flowError(Login, resp, err).(*Redirect); ok && strings.Contains(r.URL, "aal=aal2") {
			return auth.CustomerSession{}, &SecondFactor{URL: r.URL}
		}
		return auth.CustomerSession{}, fmt.Errorf("the session is unknown, expired or revoked: %w", ErrUnauthenticated)
	case resp != nil && resp.StatusCode == http.StatusUnauthorized:
		return auth.CustomerSession{}, fmt.Errorf("the session is unknown, expired or revoked: %w", ErrUnauthenticated)
	case err != nil:
		return auth.CustomerSession{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return customer(s)
}

// SecondFactor reports a session that must be completed with the second
// factor first, at URL; it is ErrUnauthenticated to whoever does not ask.
type SecondFactor struct{ URL string }

func (e *SecondFactor) Error() string {
	return "this account has a second factor: sign in with it to continue"
}

// Unwrap makes it ErrUnauthenticated.
func (e *SecondFactor) Unwrap() error { return ErrUnauthenticated }

// customer reads what cdp needs from a session.
func customer(s *client.Session) (auth.CustomerSession, error) {
	if s.Active == nil || !*s.Active || s.Identity == nil {
		return auth.CustomerSession{}, fmt.Errorf("the session is not active: %w", ErrUnauthenticated)
	}
	if s.ExpiresAt != nil && !time.Now().Before(*s.ExpiresAt) {
		return auth.CustomerSession{}, fmt.Errorf("the session expired: %w", ErrUnauthenticated)
	}
	id, err := uuid.Parse(s.Identity.Id)
	if err != nil {
		return auth.CustomerSession{}, fmt.Errorf("Kratos identity id %q: %w", s.Identity.Id, ErrUnavailable)
	}
	c := auth.CustomerSession{IdentityID: id, SessionID: s.Id, Schema: s.Identity.SchemaId}
	if s.Identity.CreatedAt != nil {
		c.IdentityCreatedAt = *s.Identity.CreatedAt
	}
	if s.AuthenticatorAssuranceLevel != nil {
		c.AAL = string(*s.AuthenticatorAssuranceLevel)
	}
	if traits, ok := s.Identity.Traits.(map[string]any); ok {
		c.Email, _ = traits["email"].(string)
		if name, ok := traits["name"].(map[string]any); ok {
			c.GivenName, _ = name["first"].(string)
			c.FamilyName, _ = name["last"].(string)
		}
	}
	for _, a := range s.Identity.VerifiableAddresses {
		if a.Via == "email" && strings.EqualFold(a.Value, c.Email) && a.Verified {
			c.EmailVerified = true
		}
	}
	return c, nil
}
