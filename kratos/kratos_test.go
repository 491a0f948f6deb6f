package kratos_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cdp-project/cdp/internal/kratostest"
	"github.com/cdp-project/cdp/kratos"
)

// The client against a real Kratos: sessions of registered customers are
// recognised, with their traits and whether their address is verified;
// forged, revoked and missing sessions are not; a Kratos that does not
// answer is unavailable, not unauthenticated.
func TestSession(t *testing.T) {
	k := kratostest.Start(t)
	c, err := kratos.New(k.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ann := k.Register(t, "ann.session@example.org", "a long passphrase 8812", "Ann", "Lee")

	s, err := c.Session(ctx, ann.SessionToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.IdentityID.String() != ann.IdentityID || s.SessionID != ann.SessionID || s.Email != ann.Email ||
		s.GivenName != "Ann" || s.FamilyName != "Lee" || s.EmailVerified || s.AAL != "aal1" {
		t.Fatalf("session = %+v, registered %+v", s, ann)
	}
	k.Verify(t, ann)
	if s, err = c.Session(ctx, ann.SessionToken, ""); err != nil || !s.EmailVerified {
		t.Fatalf("after verification: %+v, %v", s, err)
	}

	for name, tok := range map[string]string{
		"forged":  "ory_st_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"garbage": "not a token at all",
	} {
		if _, err := c.Session(ctx, tok, ""); !errors.Is(err, kratos.ErrUnauthenticated) {
			t.Errorf("%s token: %v, want ErrUnauthenticated", name, err)
		}
	}
	if _, err := c.Session(ctx, "", "ory_kratos_session=forged"); !errors.Is(err, kratos.ErrUnauthenticated) {
		t.Errorf("forged cookie: %v, want ErrUnauthenticated", err)
	}
	if _, err := c.Session(ctx, "", ""); !errors.Is(err, kratos.ErrUnauthenticated) {
		t.Errorf("no credentials: %v, want ErrUnauthenticated", err)
	}

	again := k.Login(t, ann)
	k.RevokeSessions(t, ann)
	for _, tok := range []string{ann.SessionToken, again.SessionToken} {
		if _, err := c.Session(ctx, tok, ""); !errors.Is(err, kratos.ErrUnauthenticated) {
			t.Errorf("revoked session: %v, want ErrUnauthenticated", err)
		}
	}

	down, err := kratos.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Session(ctx, ann.SessionToken, ""); !errors.Is(err, kratos.ErrUnavailable) {
		t.Errorf("Kratos down: %v, want ErrUnavailable", err)
	}
	for _, bad := range []string{"", "127.0.0.1:4433", "ftp://x", "http://"} {
		if _, err := kratos.New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}
