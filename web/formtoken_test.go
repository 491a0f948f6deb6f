package web

import (
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/cdp-project/cdp/vault"
)

// TestFormTokensHoldAcrossInstances checks that a form rendered by one
// instance of the service is accepted by another, or by the same one
// restarted: the token is keyed by the vault, not by the process.
func TestFormTokensHoldAcrossInstances(t *testing.T) {
	index := func() *vault.Index {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		kr, err := vault.ParseKeyring(strings.NewReader(id.String() + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := vault.NewKeys(kr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			keys[i].ID = int32(i + 1)
		}
		v, err := vault.Open(kr, keys)
		if err != nil {
			t.Fatal(err)
		}
		return v.Index()
	}
	site := func(ix *vault.Index) *Site {
		s, err := New(Config{Index: ix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ours := index()
	a, b := site(ours), site(ours)
	if a.token("session-1") != b.token("session-1") {
		t.Error("two instances with one vault give different form tokens: a form fails on the other instance")
	}
	if a.token("session-1") == a.token("session-2") {
		t.Error("two sessions share a form token")
	}
	if a.token("session-1") == site(index()).token("session-1") {
		t.Error("another vault gives the same form token")
	}
	if p1, p2 := site(nil), site(nil); p1.token("session-1") == p2.token("session-1") {
		t.Error("without a vault, two processes share a form token key")
	}
}
