package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenLifecycle(t *testing.T) {
	tok, cred, err := NewToken("crm-sync", "sales", []Role{RoleIngest, RoleIngest, RoleReader}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cred, "cdp_"+tok.ID+"_") {
		t.Errorf("credential %q does not carry the id %q", cred, tok.ID)
	}
	if len(tok.Roles) != 2 {
		t.Errorf("roles %v: duplicates kept", tok.Roles)
	}
	id, secret, err := ParseCredential(cred)
	if err != nil || id != tok.ID {
		t.Fatalf("ParseCredential = %q, %v", id, err)
	}
	if strings.Contains(string(tok.SecretHash), string(secret)) {
		t.Fatal("the stored hash contains the secret")
	}
	p, err := tok.Authenticate(secret, time.Now())
	if err != nil || p.Kind != Staff || p.ID != "crm-sync" || p.Department != "sales" || p.Credential != tok.ID {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if !p.Has(RoleReader) || p.Has(RoleAdmin) {
		t.Error("roles not carried")
	}
	if p.Actor() != "staff:crm-sync" {
		t.Errorf("actor %q", p.Actor())
	}
	wrong := append([]byte(nil), secret...)
	wrong[0] ^= 1
	if _, err := tok.Authenticate(wrong, time.Now()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := tok.Authenticate(secret, time.Now().Add(2*time.Hour)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired token: %v", err)
	}
	tok.RevokedAt = time.Now()
	if _, err := tok.Authenticate(secret, time.Now()); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked token: %v", err)
	}
}

func TestParseCredentialRejects(t *testing.T) {
	for _, s := range []string{"", "cdp_", "Bearer x", "cdp_abcdefghijkl_", "cdp_abcdefghijkl_!!!!", "cdp_abcdefghijkl-" + strings.Repeat("A", 43), "cdp_abcdefghijkl_" + strings.Repeat("A", 42)} {
		if _, _, err := ParseCredential(s); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("ParseCredential(%q) = %v, want ErrUnauthenticated", s, err)
		}
	}
}

func TestNewTokenValidates(t *testing.T) {
	tests := []struct {
		principal, dept string
		roles           []Role
	}{
		{"", "sales", []Role{RoleReader}},
		{"a b", "sales", []Role{RoleReader}},
		{"x", "Sales", []Role{RoleReader}},
		{"x", "", []Role{RoleReader}},
		{"x", "sales", nil},
		// The departments of the built-in sources: a token of theirs
		// would write customers' own statements or the DPO's records of
		// what subjects said.
		{"x", "customers", []Role{RoleIngest}},
		{"x", "subjects", []Role{RoleReader}},
	}
	for _, tt := range tests {
		if _, _, err := NewToken(tt.principal, tt.dept, tt.roles, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewToken(%q, %q, %v) = %v, want ErrInvalid", tt.principal, tt.dept, tt.roles, err)
		}
	}
	if _, err := ParseRole("King"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseRole(King) = %v", err)
	}
	if r, err := ParseRole(" DPO "); err != nil || r != RoleDPO {
		t.Errorf("ParseRole(DPO) = %v, %v", r, err)
	}
}
