// Package pgtest gives tests their own migrated PostgreSQL database: a real
// server, never a mock. The server is CDP_TEST_DATABASE_URL when set (any
// role allowed to create databases), else a private cluster under
// <repository>/.cdp/test/pg, started on demand and shared by every test
// process (fsync off: test data only).
//
// The migrations are applied once per distinct migration set into a
// template database; each test then gets CREATE DATABASE ... TEMPLATE, a
// copy that costs milliseconds, dropped when the test ends. Tests using it
// can run in parallel, within and across packages.
//
// Beside the databases, it holds what the tests of the store and of its
// users share: statements and queries on a test database (Exec, TryExec,
// Count, Query), a Hold that stops a server's transactions inside a
// trigger so that a test can kill the server in the middle of one, and a
// Buffer for output a test reads while it is written.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/localpg"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/vault"
)

var (
	setupOnce sync.Once
	adminURL  string
	template  string
	setupErr  error
	counter   atomic.Int64
)

// NewDB returns the URL of a fresh, migrated database that is dropped when
// the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() { adminURL, template, setupErr = setup(context.Background()) })
	if setupErr != nil {
		t.Fatalf("test database: %v", setupErr)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("CDP_TEST_KEEP") != "" { // perf investigation: keep it to EXPLAIN
			return
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return withDatabase(adminURL, name)
}

// NewStore returns a store on a fresh database, closed when the test ends.
func NewStore(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	u := NewDB(t)
	db, err := postgres.Open(context.Background(), u, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(db.Close)
	return db, u
}

// BinDir returns the directory of the PostgreSQL programs (pg_dump) that
// match the test server.
func BinDir() (string, error) { return localpg.FindBinDir() }

func setup(ctx context.Context) (admin, tmpl string, err error) {
	admin = os.Getenv("CDP_TEST_DATABASE_URL")
	if admin == "" {
		root, err := repoRoot()
		if err != nil {
			return "", "", err
		}
		c := &localpg.Cluster{Dir: filepath.Join(root, ".cdp", "test", "pg"), Fast: true, Database: "postgres"}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if admin, err = c.Start(ctx); err != nil {
			return "", "", err
		}
	}
	ms, err := postgres.Migrations()
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	for _, m := range ms {
		h.Write(m.Checksum)
	}
	// River's migrations come with its module: a new version, a new template.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				h.Write([]byte(d.Version))
			}
		}
	}
	tmpl = "cdp_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]
	return admin, tmpl, ensureTemplate(ctx, admin, tmpl)
}

// ensureTemplate creates the migrated template database once, under an
// advisory lock shared by every test process; it also drops the databases
// of test processes that died without cleaning up.
func ensureTemplate(ctx context.Context, admin, tmpl string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7399)"); err != nil {
		return err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(7399)")
	dropOrphans(ctx, conn)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := tmpl + "_build"
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	db, err := postgres.Open(ctx, withDatabase(admin, building), postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+tmpl); err != nil {
		return fmt.Errorf("finish template: %w", err)
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+tmpl+" WITH IS_TEMPLATE true")
	return err
}

// dropOrphans drops test databases whose process no longer runs.
func dropOrphans(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 't\_%\_%'`)
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		parts := strings.Split(n, "_")
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
	}
}

func withDatabase(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + db
	return u.String()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// AppRole is the login role tests connect as to act as the service: a
// member of cdp_app, so it may only insert into the audit log.
const AppRole = "cdp_test_app"

var appRoleOnce sync.Once
var appRoleErr error

// AppURL returns dbURL (from NewDB) connecting as AppRole instead of the
// owner of the database.
func AppURL(t testing.TB, dbURL string) string {
	t.Helper()
	appRoleOnce.Do(func() {
		ctx := context.Background()
		db, err := postgres.Open(ctx, dbURL, postgres.Options{MaxConns: 1})
		if err != nil {
			appRoleErr = err
			return
		}
		defer db.Close()
		appRoleErr = db.EnsureServiceRole(ctx, AppRole, AppRole)
	})
	if appRoleErr != nil {
		t.Fatalf("test service role: %v", appRoleErr)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(AppRole, AppRole)
	return u.String()
}

// NewAppStore returns a store on a fresh database connected as AppRole,
// and the owner's store of the same database with its URL (for setting up
// and for simulating damage), closed when the test ends.
func NewAppStore(t testing.TB) (app, owner *postgres.DB, ownerURL string) {
	t.Helper()
	owner, u := NewStore(t)
	app, err := postgres.Open(context.Background(), AppURL(t, u), postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database as the service role: %v", err)
	}
	t.Cleanup(app.Close)
	return app, owner, u
}

// InsertRequest stores a data-subject request as the DPO's desk would
// ($1 id, $2 type, $3 state, $4 profile, $5 the records it reaches, NULL
// for all), for tests that need one to exist without running its
// workflow. Run it as the owner.
const InsertRequest = `INSERT INTO dsr_requests (id, type, state, profile_id, channel, received_at, received_by, due_at,
		updated_at, kek_id, wrapped_key, scope)
	VALUES ($1, $2, $3, $4, 'dpo', now(), 'staff:test', now() + interval '30 days', now(), 1, '\x00', coalesce($5::uuid[], '{}'))`

// Exec runs statements on the database at dbURL, for tests that simulate
// damage or outages (REVOKE INSERT ON audit_log FROM cdp_app). With args,
// sql is one statement and takes them as $1, $2...
func Exec(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	if err := TryExec(t, dbURL, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TryExec runs statements on the database at dbURL and returns their
// error, for tests that check what a role may not do.
func TryExec(t testing.TB, dbURL, sql string, args ...any) error {
	t.Helper()
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	_, err := conn.Exec(context.Background(), sql, args...)
	return err
}

// Count runs a query returning one number.
func Count(t testing.TB, dbURL, query string, args ...any) int64 {
	t.Helper()
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Query runs a query returning one text value ("" for NULL).
func Query(t testing.TB, dbURL, query string, args ...any) string {
	t.Helper()
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	var v *string
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// Begin opens a transaction on a connection of its own to the database at
// dbURL, for tests that hold one open while something else runs; the
// connection closes when the test ends (and the transaction with it, if
// the test did not end it).
func Begin(t testing.TB, dbURL string) pgx.Tx {
	t.Helper()
	conn := connect(t, dbURL)
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// NewVault opens the vault of a test database under a fresh master key,
// creating its vault keys.
func NewVault(t testing.TB, db *postgres.DB) *vault.Vault {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.ParseKeyring(strings.NewReader(id.String()))
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := db.EnsureVaultKeys(context.Background(), func() ([]vault.StoredKey, error) { return vault.NewKeys(kr) })
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(kr, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
