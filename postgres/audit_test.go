package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

func auditEntry(i int, profile uuid.UUID) audit.Entry {
	e := audit.Entry{
		PrincipalKind: "staff", Principal: fmt.Sprintf("agent-%d", i%4), Department: "support",
		Action: "read", Purpose: []string{"support", "billing"}[i%2], Profiles: []string{profile.String()},
		Fields: []string{"email", "given_name"}, DecisionID: uuid.NewString(), PolicyRevision: "r1",
		RequestID: fmt.Sprintf("req-%d", i), Client: "c1", Outcome: audit.Allowed, Reason: "read for support",
	}
	if i%7 == 3 {
		// Names of extra attributes come from the sources' headers: the
		// stored entry must hash the same whatever they hold.
		e.Fields = []string{`loyalty "gold"`, `c:\tier`, "a,b", "{x}", "NULL", "", "größe", "two words"}
		e.Profiles = append(e.Profiles, uuid.NewString())
	}
	return e
}

// writeChain records n entries through a Writer as concurrent requests.
func writeChain(t *testing.T, db *postgres.DB, key ed25519.PrivateKey, n int, profiles []uuid.UUID) {
	t.Helper()
	w := audit.NewWriter(db, audit.WriterOptions{Key: key, CheckpointEvery: 50, OnError: func(err error) { t.Error(err) }})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := w.Record(context.Background(), auditEntry(i, profiles[i%len(profiles)])); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	w.Close()
}

func verifyAudit(ctx context.Context, db *postgres.DB, pub ed25519.PublicKey) (audit.VerifyReport, error) {
	cps, err := db.AuditCheckpoints(ctx)
	if err != nil {
		return audit.VerifyReport{}, err
	}
	v, err := audit.NewVerifier(pub, cps)
	if err != nil {
		return audit.VerifyReport{}, err
	}
	return db.VerifyAudit(ctx, v, 0)
}

func TestAuditChainInTheDatabase(t *testing.T) {
	t.Parallel()
	app, owner, u := pgtest.NewAppStore(t)
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	profiles := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	writeChain(t, app, key, 300, profiles)

	rep, err := verifyAudit(ctx, app, pub)
	if err != nil || rep.Entries != 300 || rep.Checkpoints == 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}

	t.Run("queries", func(t *testing.T) {
		es, err := app.AuditEntries(ctx, audit.Query{Profile: profiles[1].String(), Limit: 1000})
		if err != nil || len(es) != 100 {
			t.Fatalf("by profile: %d entries, %v", len(es), err)
		}
		es, err = app.AuditEntries(ctx, audit.Query{Principal: "agent-1", Purpose: "billing", Limit: 1000})
		if err != nil || len(es) != 75 {
			t.Fatalf("by principal and purpose: %d entries, %v", len(es), err)
		}
		es, err = app.AuditEntries(ctx, audit.Query{From: time.Now().Add(time.Hour), Limit: 1000})
		if err != nil || len(es) != 0 {
			t.Fatalf("in the future: %d entries, %v", len(es), err)
		}
		es, err = app.AuditEntries(ctx, audit.Query{To: time.Now().Add(-time.Hour), Limit: 1000})
		if err != nil || len(es) != 0 {
			t.Fatalf("before they were written: %d entries, %v", len(es), err)
		}
		es, err = app.AuditEntries(ctx, audit.Query{Profile: profiles[1].String(), From: time.Now().Add(-time.Hour),
			To: time.Now().Add(time.Hour), Limit: 1000})
		if err != nil || len(es) != 100 {
			t.Fatalf("by profile within the hour: %d entries, %v", len(es), err)
		}
		es, err = app.AuditEntries(ctx, audit.Query{After: 290, Limit: 5})
		if err != nil || len(es) != 5 || es[0].Seq != 291 {
			t.Fatalf("paging: %+v, %v", es, err)
		}
	})

	t.Run("the service role cannot change the log", func(t *testing.T) {
		canModify, err := app.AuditPrivileges(ctx)
		if err != nil || canModify {
			t.Fatalf("service role may modify the audit log: %v, %v", canModify, err)
		}
		appURL := pgtest.AppURL(t, u)
		for _, stmt := range []string{
			"UPDATE audit_log SET purpose = 'marketing' WHERE seq = 1",
			"DELETE FROM audit_log WHERE seq = 1",
			"TRUNCATE audit_log",
			"SELECT count(*) FROM audit_log",
			"DELETE FROM audit_checkpoints",
			"ALTER TABLE audit_log DISABLE TRIGGER ALL",
		} {
			if err := pgtest.TryExec(t, appURL, stmt); err == nil || !strings.Contains(err.Error(), "denied") && !strings.Contains(err.Error(), "owner") {
				t.Errorf("%s: got %v, want permission denied", stmt, err)
			}
		}
		if canModify, _ := owner.AuditPrivileges(ctx); !canModify {
			t.Error("the owner is reported unable to modify the log: the check proves nothing")
		}
	})

	tamper := []struct {
		name, stmt, want string
	}{
		{"changed", "UPDATE audit_log SET purpose = 'marketing' WHERE seq = 120", "entry 120 was changed"},
		{"deleted", "DELETE FROM audit_log WHERE seq = 57", "entry 58 follows entry 56"},
		{"reordered", "UPDATE audit_log SET seq = -seq WHERE seq IN (10, 11); UPDATE audit_log SET seq = CASE seq WHEN -10 THEN 11 ELSE 10 END WHERE seq IN (-10, -11)", "entry 10 does not continue the chain"},
		{"inserted", "INSERT INTO audit_log SELECT seq + 1000, at, principal_kind, principal, department, action, purpose, profiles, fields, decision_id, policy_revision, request_id, client, outcome, reason, prev_hash, hash FROM audit_log WHERE seq = 300", "entry 1300 follows entry 300"},
		{"tail truncated", "DELETE FROM audit_log WHERE seq > 280", "but the log ends at entry 280"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			// Each case damages the log, then puts it back.
			pgtest.Exec(t, u, "CREATE TABLE IF NOT EXISTS audit_keep AS SELECT * FROM audit_log WITH NO DATA")
			pgtest.Exec(t, u, "TRUNCATE audit_keep")
			pgtest.Exec(t, u, "INSERT INTO audit_keep SELECT * FROM audit_log")
			pgtest.Exec(t, u, tc.stmt)
			_, err := verifyAudit(ctx, app, pub)
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			pgtest.Exec(t, u, "TRUNCATE audit_log")
			pgtest.Exec(t, u, "INSERT INTO audit_log SELECT * FROM audit_keep")
			if _, err := verifyAudit(ctx, app, pub); err != nil {
				t.Fatalf("restored log: %v", err)
			}
		})
	}
}

func TestAuditWritesFailClosed(t *testing.T) {
	t.Parallel()
	app, _, u := pgtest.NewAppStore(t)
	ctx := context.Background()
	w := audit.NewWriter(app, audit.WriterOptions{})
	defer w.Close()
	if _, err := w.Record(ctx, auditEntry(1, uuid.New())); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, u, "REVOKE INSERT ON audit_log FROM cdp_app")
	defer pgtest.TryExec(t, u, "GRANT INSERT ON audit_log TO cdp_app")
	if _, err := w.Record(ctx, auditEntry(2, uuid.New())); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	pgtest.Exec(t, u, "GRANT INSERT ON audit_log TO cdp_app")
	if e, err := w.Record(ctx, auditEntry(3, uuid.New())); err != nil || e.Seq != 2 {
		t.Fatalf("after the grant: %+v, %v", e, err)
	}
}

// TestTwoWritersShareOneChain runs two writers on one database, as two
// serve processes would: the primary key on seq refuses the loser of each
// race, which rereads the head, and the chain never forks.
func TestTwoWritersShareOneChain(t *testing.T) {
	t.Parallel()
	app, _, _ := pgtest.NewAppStore(t)
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	ws := []*audit.Writer{
		audit.NewWriter(app, audit.WriterOptions{Key: key, CheckpointEvery: 40}),
		audit.NewWriter(app, audit.WriterOptions{Key: key, CheckpointEvery: 40}),
	}
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := ws[i%2].Record(ctx, auditEntry(i, uuid.New())); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	ws[0].Close()
	ws[1].Close()
	rep, err := verifyAudit(ctx, app, pub)
	if err != nil || rep.Entries != 300 {
		t.Fatalf("two writers: %+v, %v", rep, err)
	}
}
