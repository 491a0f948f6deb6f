package access_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
)

// fixture is the read path on a real database (the service's role), the
// embedded policy and the real audit writer, with one person held by
// sales and billing.
type fixture struct {
	db      *postgres.DB
	owner   string
	svc     *access.Service
	cfg     access.Config // svc's
	profile uuid.UUID
}

func newFixture(t *testing.T, rec access.Recorder) *fixture {
	t.Helper()
	ctx := context.Background()
	db, _, owner := pgtest.NewAppStore(t)
	v := pgtest.NewVault(t, db)
	pgtest.AddSources(t, db,
		identity.Source{Name: "sales", Department: "sales", Priority: 70, LegalBasis: "contract"},
		identity.Source{Name: "billing", Department: "billing", Priority: 90, LegalBasis: "contract"})
	var recs []identity.Record
	for _, src := range []string{"sales", "billing"} {
		recs = append(recs, pgtest.Person(src, "c-1", "Wilhelmina", "Stroud", "w.stroud@example.org", identity.BirthDate, "1984-03-02"))
	}
	profile := pgtest.Keep(t, db, v, recs...)[0]
	res := &resolver.Resolver{Store: db, Vault: v}
	pol, err := policy.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		w := audit.NewWriter(db, audit.WriterOptions{Key: key})
		t.Cleanup(w.Close)
		rec = w
	}
	cfg := access.Config{Store: db, Vault: v, Policy: pol, Audit: rec, Resolver: res}
	return &fixture{db: db, owner: owner, svc: access.New(cfg), cfg: cfg, profile: profile}
}

func staff(dept string, roles ...auth.Role) access.Request {
	return access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "test-" + dept, Department: dept, Roles: roles}, RequestID: uuid.NewString()}
}

// entries counts the audit entries of one action and outcome.
func (f *fixture) entries(t *testing.T, action, outcome string) int64 {
	return pgtest.Count(t, f.owner, "SELECT count(*) FROM audit_log WHERE action = '"+action+"' AND outcome = '"+outcome+"'")
}

// A read the policy allows leaves with one committed audit entry naming
// the fields it disclosed, and its grant points at that entry.
func TestReadIsAuditedWithItsFields(t *testing.T) {
	f := newFixture(t, nil)
	req := staff("support", auth.RoleReader)
	req.Purpose = "support"
	p, err := f.svc.Profile(context.Background(), req, f.profile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Access.AuditSeq == 0 || len(p.Access.Fields) == 0 {
		t.Fatalf("grant without its audit entry or fields: %+v", p.Access)
	}
	got := pgtest.Query(t, f.owner, "SELECT array_to_string(fields, ',') FROM audit_log WHERE seq = "+itoa(p.Access.AuditSeq))
	if got == "" || f.entries(t, access.ActionRead, audit.Allowed) != 1 {
		t.Fatalf("audit entry %d: fields %q", p.Access.AuditSeq, got)
	}
}

// A denial looks like an unknown profile, and is audited all the same;
// so is a profile that does not exist.
func TestDenialLooksLikeNothingAndIsAudited(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	req := staff("marketing", auth.RoleReader)
	req.Purpose = "marketing" // no consent: the policy refuses
	if _, err := f.svc.Profile(ctx, req, f.profile); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("denied read: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Profile(ctx, req, uuid.New()); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("unknown profile: %v, want ErrNotFound", err)
	}
	if n := f.entries(t, access.ActionRead, audit.Denied); n != 1 {
		t.Fatalf("%d denied entries, want 1", n)
	}
	if n := f.entries(t, access.ActionRead, audit.NotFound); n != 1 {
		t.Fatalf("%d not-found entries, want 1", n)
	}
}

// Staff declare why they read: no purpose, no read (and nothing to audit).
func TestStaffDeclareAPurpose(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.svc.Profile(context.Background(), staff("support", auth.RoleReader), f.profile)
	if !errors.Is(err, access.ErrPurpose) {
		t.Fatalf("read without purpose: %v, want ErrPurpose", err)
	}
}

// failing is an audit log that cannot commit.
type failing struct{}

func (failing) RecordAll(context.Context, []audit.Entry) ([]audit.Entry, error) {
	return nil, errors.New("disk full")
}

// Every action through the gate fails closed when its audit entry cannot
// be committed: no profile, record, lineage, consent or audit answer
// leaves unaudited.
func TestNothingLeavesUnaudited(t *testing.T) {
	f := newFixture(t, failing{})
	ctx := context.Background()
	reader := staff("support", auth.RoleReader)
	reader.Purpose = "support"
	dpo := staff("legal", auth.RoleDPO)
	steward := staff("support", auth.RoleSteward)
	for name, read := range map[string]func() (any, error){
		"profile":  func() (any, error) { return f.svc.Profile(ctx, reader, f.profile) },
		"records":  func() (any, error) { return f.svc.Records(ctx, reader, f.profile) },
		"lineage":  func() (any, error) { return f.svc.Lineage(ctx, steward, f.profile) },
		"consents": func() (any, error) { return f.svc.Consents(ctx, dpo, f.profile) },
		"history":  func() (any, error) { return f.svc.History(ctx, dpo, f.profile) },
		"proof":    func() (any, error) { return f.svc.ConsentProof(ctx, dpo, f.profile) },
		"find":     func() (any, error) { return f.svc.Find(ctx, reader, access.Lookup{Email: "w.stroud@example.org"}) },
		"reviews": func() (any, error) {
			rs, _, err := f.svc.Reviews(ctx, steward, uuid.Nil, 10, true)
			return rs, err
		},
		"audit log": func() (any, error) {
			es, _, err := f.svc.AuditLog(ctx, dpo, audit.Query{})
			return es, err
		},
		"conflicts": func() (any, error) {
			cs, _, err := f.svc.Conflicts(ctx, dpo, 10)
			return cs, err
		},
		"export": func() (any, error) {
			compliance := dpo
			compliance.Purpose = "compliance"
			return f.svc.Export(ctx, compliance, access.ExportOf{Request: uuid.New(), Profile: f.profile})
		},
	} {
		if _, err := read(); !errors.Is(err, access.ErrUnavailable) {
			t.Errorf("%s with a failing audit log: %v, want ErrUnavailable", name, err)
		}
	}
}

// The DPO's actions on no profile (the catalogue, the audit log) are the
// DPO's: anyone else is refused, and the refusal is audited.
func TestDPOActionsRefuseOthersAudited(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, _, err := f.svc.AuditLog(ctx, staff("sales", auth.RoleReader), audit.Query{}); !errors.Is(err, access.ErrForbidden) {
		t.Fatalf("reader asks the audit log: %v, want ErrForbidden", err)
	}
	if n := f.entries(t, access.ActionAudit, audit.Denied); n != 1 {
		t.Fatalf("%d denied audit queries recorded, want 1", n)
	}
	if _, _, err := f.svc.AuditLog(ctx, staff("legal", auth.RoleDPO), audit.Query{}); err != nil {
		t.Fatalf("DPO asks the audit log: %v", err)
	}
}

func itoa(n int64) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
