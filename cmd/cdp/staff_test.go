package main

import (
	"strings"
	"testing"

	"github.com/cdp-project/cdp/internal/kratostest"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// Staff are granted the console from the terminal: an account of the
// staff schema with a verified address, the roles and department; listed
// and revoked; each grant and revocation audited. A customer's address is
// no staff account, and bad input is refused with a precise message.
func TestStaffCommands(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	k := kratostest.Start(t)
	e.env = map[string]string{"CDP_KRATOS_ADMIN_URL": k.AdminURL}
	e.mustRun("migrate")
	e.mustRun("keys", "generate")
	e.mustRun("audit", "keygen")
	out := e.mustRun("staff", "grant", "ines.dpo@corp.example", "--role", "dpo", "--role", "reader", "--department", "compliance")
	if !strings.Contains(out, "created the staff account and granted") || !strings.Contains(out, "dpo,reader in department compliance") {
		t.Fatalf("staff grant: %s", out)
	}
	out = e.mustRun("staff", "list")
	if !strings.Contains(out, "ines.dpo@corp.example") || !strings.Contains(out, "compliance") {
		t.Errorf("staff list: %s", out)
	}
	e.mustRun("staff", "revoke", "ines.dpo@corp.example")
	if out := e.mustRun("staff", "list"); strings.Contains(out, "ines.dpo@corp.example") {
		t.Errorf("staff list after the revocation: %s", out)
	}
	if n := pgtest.Count(t, e.dbURL, "SELECT count(*) FROM audit_log WHERE action IN ('staff_grant', 'staff_revoke') AND reason NOT LIKE '%@%'"); n != 2 {
		t.Errorf("%d audited grants and revocations without an email in them, want 2", n)
	}
	customer := k.Account(t, "a.customer.not.staff@example.org", "correct horse battery staple 7", "Ann", "Customer")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"staff", "grant", customer.Email, "--role", "reader", "--department", "support"}, "customer account"},
		{[]string{"staff", "grant", "x@corp.example", "--role", "boss", "--department", "support"}, "--role"},
		{[]string{"staff", "grant", "x@corp.example", "--role", "reader"}, "--department"},
		{[]string{"staff", "grant", "not-an-address", "--role", "reader", "--department", "support"}, "not an email address"},
	} {
		if code, _, errs := e.run(c.args...); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("cdp %s: exit %d: %s", strings.Join(c.args, " "), code, errs)
		}
	}
}
