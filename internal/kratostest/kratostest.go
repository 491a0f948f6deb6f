// Package kratostest runs a real Ory Kratos server for tests: bin/kratos,
// built by `make kratos` from the tools/kratos module, started once per
// test process with the repository's development configuration
// (tools/kratos/kratos.yml: in-memory SQLite, email and password, the
// customer identity schema) on free ports of 127.0.0.1. Customers
// register and log in through Kratos's API flows, the way a native app
// does; the admin API marks addresses verified and revokes sessions.
//
// The server dies with the test process (Pdeathsig), so nothing is left
// running. CDP_KRATOS_BIN overrides the binary.
package kratostest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/cdp-project/cdp/localkratos"
)

// Server is a running Kratos.
type Server struct {
	PublicURL string
	AdminURL  string
}

var (
	once     sync.Once
	shared   *Server
	startErr error
)

// Start returns the process's Kratos, starting it on first use.
func Start(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		var k *localkratos.Server
		if k, startErr = localkratos.Start(localkratos.Options{}); startErr == nil {
			shared = &Server{PublicURL: k.PublicURL, AdminURL: k.AdminURL}
		}
	})
	if startErr != nil {
		t.Fatalf("kratos: %v", startErr)
	}
	return shared
}

// StartUI starts a Kratos of the test's own whose browser flows are
// rendered by cdp's pages at ui (its base URL) and whose mail goes to
// cdp's development mailbox with mailToken; it stops with the test.
func StartUI(t testing.TB, ui, mailToken string) *Server {
	t.Helper()
	k, err := localkratos.Start(localkratos.Options{UI: ui, MailToken: mailToken})
	if err != nil {
		t.Fatalf("kratos: %v", err)
	}
	t.Cleanup(k.Stop)
	return &Server{PublicURL: k.PublicURL, AdminURL: k.AdminURL}
}

// Customer is a registered Kratos identity with a session.
type Customer struct {
	IdentityID   string
	Email        string
	Password     string
	SessionToken string
	SessionID    string
}

// Register signs a customer up through the API registration flow; the
// registration hook logs them in, so the answer carries a session token.
// The email address is not verified yet.
func (s *Server) Register(t testing.TB, email, password, first, last string) Customer {
	t.Helper()
	flow := s.flow(t, "registration")
	body := map[string]any{
		"method": "password", "password": password,
		"traits": map[string]any{"email": email, "name": map[string]string{"first": first, "last": last}},
	}
	var out sessionAnswer
	s.call(t, "POST", s.PublicURL+"/self-service/registration?flow="+flow, body, http.StatusOK, &out)
	return Customer{IdentityID: out.Identity.ID, Email: email, Password: password, SessionToken: out.SessionToken, SessionID: out.Session.ID}
}

var accounts sync.Mutex

// Account returns a verified customer with a fresh session: registered on
// first use, logged in again when another test of the process registered
// the address already (Kratos is shared by the tests of a process; each
// test has its own cdp database).
func (s *Server) Account(t testing.TB, email, password, first, last string) Customer {
	t.Helper()
	accounts.Lock()
	defer accounts.Unlock()
	var found []struct {
		ID string `json:"id"`
	}
	s.call(t, "GET", s.AdminURL+"/admin/identities?credentials_identifier="+url.QueryEscape(email), nil, http.StatusOK, &found)
	if len(found) == 0 {
		c := s.Register(t, email, password, first, last)
		s.Verify(t, c)
		return c
	}
	return s.Login(t, Customer{IdentityID: found[0].ID, Email: email, Password: password})
}

// Login starts a new session for a registered customer through the API
// login flow and returns it.
func (s *Server) Login(t testing.TB, c Customer) Customer {
	t.Helper()
	flow := s.flow(t, "login")
	var out sessionAnswer
	s.call(t, "POST", s.PublicURL+"/self-service/login?flow="+flow,
		map[string]any{"method": "password", "identifier": c.Email, "password": c.Password}, http.StatusOK, &out)
	c.SessionToken, c.SessionID = out.SessionToken, out.Session.ID
	return c
}

// Verify marks the customer's email address verified, as following the
// link of the verification mail would.
func (s *Server) Verify(t testing.TB, c Customer) {
	t.Helper()
	patch := []map[string]any{
		{"op": "replace", "path": "/verifiable_addresses/0/verified", "value": true},
		{"op": "replace", "path": "/verifiable_addresses/0/status", "value": "completed"},
	}
	s.call(t, "PATCH", s.AdminURL+"/admin/identities/"+c.IdentityID, patch, http.StatusOK, nil)
}

// Delete deletes the customer's Kratos identity (an account closed).
func (s *Server) Delete(t testing.TB, c Customer) {
	t.Helper()
	s.call(t, "DELETE", s.AdminURL+"/admin/identities/"+c.IdentityID, nil, http.StatusNoContent, nil)
}

// RevokeSessions ends every session of the customer.
func (s *Server) RevokeSessions(t testing.TB, c Customer) {
	t.Helper()
	s.call(t, "DELETE", s.AdminURL+"/admin/identities/"+c.IdentityID+"/sessions", nil, http.StatusNoContent, nil)
}

type sessionAnswer struct {
	SessionToken string `json:"session_token"`
	Session      struct {
		ID string `json:"id"`
	} `json:"session"`
	Identity struct {
		ID string `json:"id"`
	} `json:"identity"`
}

func (s *Server) flow(t testing.TB, kind string) string {
	t.Helper()
	var f struct {
		ID string `json:"id"`
	}
	s.call(t, "GET", s.PublicURL+"/self-service/"+kind+"/api", nil, http.StatusOK, &f)
	return f.ID
}

func (s *Server) call(t testing.TB, method, target string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("kratos %s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("kratos %s %s: %d, want %d: %s", method, target, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("kratos %s %s: %v: %s", method, target, err, b)
		}
	}
}
