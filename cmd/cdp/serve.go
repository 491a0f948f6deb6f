package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/demo"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/localkratos"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/profiling"
	"github.com/cdp-project/cdp/vault"
	"github.com/cdp-project/cdp/web"
	"github.com/cdp-project/cdp/webhook"
)

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "Serve the HTTP API. With --dev (what `make run` uses) it also creates development keys when none exist, loads a demo dataset into an empty database and prints a demo API token.",
		groups:  []string{"db", "keys", "serve", "ingest", "policy", "kratos"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			dev := fs.Bool("dev", false, "development mode: generate keys if missing, load demo data into an empty database, print a demo token")
			migrate := fs.Bool("migrate", true, "apply pending migrations at start")
			demoPeople := fs.Int("demo-people", 1000, "with --dev: number of synthetic persons in the demo dataset")
			return func(ctx context.Context, cl *cli, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unexpected arguments %q: %w", args, errUsage)
				}
				return serve(ctx, cl, cfg, *dev, *migrate, *demoPeople)
			}
		},
	}
}

func serve(ctx context.Context, cl *cli, cfg *Config, dev, migrate bool, demoPeople int) error {
	log, err := newLogger(cl.stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if dev && !loopback(cfg.Listen) {
		// Development mode serves every account's verification and
		// recovery codes (/dev/mailbox) without sign-in, and demo keys
		// and a demo token: for this machine only.
		return fmt.Errorf("--dev serves a development mailbox with every account's sign-in codes: listen on a loopback address "+
			"(--listen 127.0.0.1:8080), not %q: %w", cfg.Listen, errUsage)
	}
	if dev {
		if err := ensureDevKey(cl, cfg); err != nil {
			return err
		}
		if err := ensureDevAuditKey(cl, cfg); err != nil {
			return err
		}
	}
	if migrate {
		if err := migrateAsOwner(ctx, cfg, log); err != nil {
			return err
		}
	}
	db, err := cfg.openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkAuditRole(ctx, cfg, db); err != nil {
		return err
	}
	acfg, err := cfg.appConfig(ctx, db, true)
	if err != nil {
		return err
	}
	if pol, ok := acfg.Policy.(*policy.Engine); ok {
		log.Info("policy loaded", slog.String("origin", pol.Origin()), slog.String("revision", pol.Revision()))
	}
	acfg.Log, acfg.Jobs.Log = log, log
	acfg.Sender = webhook.NewClient(webhook.Options{AllowLocal: cfg.WebhookLocal || dev})
	// Development: a Kratos of our own, whose browser flows are cdp's
	// pages and whose mail goes to the development mailbox.
	var mailbox *web.Mailbox
	if dev && cfg.KratosPublicURL == "" {
		k, box, err := startDevKratos(cfg, log)
		if err != nil {
			log.Warn("no Ory Kratos for development: customer sign-in is off", slog.String("error", err.Error()))
		} else {
			defer k.Stop()
			cfg.KratosPublicURL, cfg.KratosAdminURL, mailbox = k.PublicURL, k.AdminURL, box
		}
	}
	var sessions httpapi.SessionChecker
	var kc *kratos.Client
	if cfg.KratosPublicURL != "" {
		k, err := kratos.New(cfg.KratosPublicURL)
		if err != nil {
			return err
		}
		sessions, kc = k, k
		log.Info("customer sessions checked by Ory Kratos", slog.String("url", cfg.KratosPublicURL))
	} else {
		log.Warn("no Ory Kratos configured (CDP_KRATOS_PUBLIC_URL): customer routes answer 503")
	}
	if cfg.KratosAdminURL != "" {
		a, err := kratos.NewAdmin(cfg.KratosAdminURL)
		if err != nil {
			return err
		}
		acfg.Accounts = a
	} else if cfg.KratosPublicURL != "" {
		log.Warn("no Kratos admin API configured (CDP_KRATOS_ADMIN_URL): erasures list customers' accounts but cannot delete them")
	}
	a, err := app.New(acfg)
	if err != nil {
		return err
	}
	defer a.Close() // after the server stopped: signs the last checkpoint

	var token string
	if dev {
		if err := loadDemo(ctx, cl, a, demoPeople); err != nil {
			return err
		}
		if token, err = demoToken(ctx, cfg, db); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cdp_audit_commits_total", Help: "Transactions that committed audit entries."},
			func() float64 { b, _ := a.Audit.Stats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cdp_audit_entries_total", Help: "Audit entries committed."},
			func() float64 { _, e := a.Audit.Stats(); return float64(e) }),
	)
	reg.MustRegister(requestGauges(db)...)
	if err := a.Start(ctx); err != nil {
		return err
	}
	var staff []devStaff
	if dev && mailbox != nil {
		if staff, err = ensureDevStaff(ctx, cfg, a, db); err != nil {
			log.Warn("development staff accounts", slog.String("error", err.Error()))
		}
	}
	site, err := web.New(web.Config{Access: a.Access, Requests: a.Requests, Profiling: a.Profiling, Kratos: kc, Log: log, Mailbox: mailbox,
		Secure: !loopback(cfg.Listen), StaffSecondFactor: cfg.StaffSecondFactor && !dev, Chain: a.Chain, Index: a.Vault.Index()})
	if err != nil {
		return err
	}
	srv := httpapi.New(a.HTTP(httpapi.Config{
		Pages:        site,
		Log:          log,
		Registry:     reg,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Sessions:     sessions,
		Ready: []httpapi.Check{
			{Name: "database", Check: db.Ping},
			{Name: "migrations", Check: migrationsCurrent(db)},
			{Name: "keys", Check: keysWork(a.Vault)},
			{Name: "audit_role", Check: func(ctx context.Context) error { return checkAuditRole(ctx, cfg, db) }},
		},
	}))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("serving", slog.String("url", url))
	// The banner goes out in one write: whoever waits for "serving on"
	// (a script, a test) then has the token and the sign-ins too.
	var banner strings.Builder
	fmt.Fprintf(&banner, "cdp is serving on %s\n", url)
	fmt.Fprintf(&banner, "privacy center: %s/privacy/\n", url)
	if mailbox != nil {
		fmt.Fprintf(&banner, "development mailbox (verification and recovery codes): %s/dev/mailbox\n", url)
	}
	fmt.Fprintf(&banner, "staff console: %s/console/\n", url)
	for _, s := range staff {
		fmt.Fprintf(&banner, "  sign in as %-22s password %s  (%s, department %s)\n", s.email, s.password, joinRoles(s.roles), s.dept)
	}
	if token != "" {
		fmt.Fprintf(&banner, "demo API token (department sales; roles %s):\n  %s\n", strings.Join(roleNames(auth.Roles()), ", "), token)
		fmt.Fprintf(&banner, "try: curl -s %s/readyz\n", url)
	}
	io.WriteString(cl.stdout, banner.String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running are cancelled; the jobs stop all the
		// same (returning here once left them holding database
		// connections).
		log.Warn("requests still running at the shutdown timeout were cancelled", slog.String("error", err.Error()))
	}
	if err := <-served; err != nil {
		log.Warn("serve", slog.String("error", err.Error()))
	}
	// The jobs get what is left of the timeout, and a few seconds at
	// least to finish or notice their cancellation.
	deadline, _ := sctx.Deadline()
	jctx, jcancel := context.WithTimeout(context.Background(), max(time.Until(deadline), 5*time.Second))
	defer jcancel()
	if err := a.Stop(jctx); err != nil {
		log.Warn("job runner stop", slog.String("error", err.Error()))
	}
	log.Info("stopped")
	return nil
}

// migrateAsOwner applies pending migrations with the owner's connection.
func migrateAsOwner(ctx context.Context, cfg *Config, log *slog.Logger) error {
	owner, err := cfg.openOwnerDB(ctx)
	if err != nil {
		return err
	}
	defer owner.Close()
	applied, err := owner.Migrate(ctx)
	if err != nil {
		return err
	}
	for _, m := range applied {
		log.Info("migration applied", slog.String("name", m))
	}
	return nil
}

// checkAuditRole refuses a database role that could change the audit log:
// the service must only be able to append to it.
func checkAuditRole(ctx context.Context, cfg *Config, db *postgres.DB) error {
	canModify, err := db.AuditPrivileges(ctx)
	if err != nil {
		return err
	}
	if canModify && !cfg.AllowAuditOwner {
		return errors.New("the database role of CDP_DATABASE_URL can change or delete audit entries: " +
			"connect as a role that is a member of cdp_app (see the README), or set CDP_ALLOW_AUDIT_OWNER=true on a development database")
	}
	return nil
}

func migrationsCurrent(db *postgres.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		st, err := db.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		if !st.Current() {
			return fmt.Errorf("pending migrations: %v", st.Pending)
		}
		return nil
	}
}

// keysWork checks that the vault seals and opens: the KEK and the index key
// are loaded and usable.
func keysWork(v *vault.Vault) func(context.Context) error {
	return func(context.Context) error {
		k, err := v.NewSubjectKey([16]byte{1})
		if err != nil {
			return err
		}
		sealed, err := k.Seal(vault.ContextAttributes, []vault.Item{{Tag: 1, Value: []byte("probe")}})
		if err != nil {
			return err
		}
		if _, err := v.OpenSubjectKey(k.ID, k.KEK, k.Wrapped); err != nil {
			return err
		}
		_, err = k.Open(vault.ContextAttributes, sealed, nil)
		return err
	}
}

// ensureDevKey creates a development master key when none exists.
func ensureDevKey(cl *cli, cfg *Config) error {
	if _, err := os.Stat(cfg.keyFile()); err == nil {
		return nil
	}
	rcpt, err := vault.GenerateKeyFile(cfg.keyFile())
	if err != nil {
		return err
	}
	fmt.Fprintf(cl.stdout, "created a development master key at %s (recipient %s)\n", cfg.keyFile(), vault.ShortRecipient(rcpt))
	return nil
}

// demoSources are the departments of the demo dataset, with their
// survivorship priority; billing holds one record per customer.
var demoSources = []identity.Source{
	{Name: "billing", Department: "billing", Priority: 90, UniqueRecords: true, LegalBasis: "contract"},
	{Name: "sales", Department: "sales", Priority: 70, LegalBasis: "contract"},
	{Name: "support", Department: "support", Priority: 60, LegalBasis: "contract"},
	{Name: "marketing", Department: "marketing", Priority: 50, LegalBasis: "consent", Purposes: []string{"marketing"}},
}

// loadDemo fills an empty database with the demo dataset.
func loadDemo(ctx context.Context, cl *cli, a *app.App, people int) error {
	n, err := a.DB.RecordCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	for _, s := range demoSources {
		if _, err := a.DB.AddSource(ctx, s); err != nil && !errors.Is(err, postgres.ErrConflict) {
			return err
		}
	}
	if err := demoDepartments(ctx, a); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := demo.Generate(&buf, demo.Options{People: people, Seed: 1}); err != nil {
		return fmt.Errorf("generate demo data: %w", err)
	}
	customers := append([]byte(nil), buf.Bytes()...)
	r, err := ingest.NewCSVReader(&buf, ingest.Options{})
	if err != nil {
		return err
	}
	im := a.Importer
	im.Actor = "system:demo"
	sum, err := im.Import(ctx, r, nil)
	if err != nil {
		return fmt.Errorf("load demo data: %w", err)
	}
	fmt.Fprintf(cl.stdout, "loaded the demo dataset: ")
	sum.Print(cl.stdout)
	rep, err := a.Resolver.Full(ctx, "system:demo")
	if err != nil {
		return fmt.Errorf("link demo data: %w", err)
	}
	if err := printReport(cl.stdout, rep, false); err != nil {
		return err
	}
	// Their history: orders, returns, tickets, calls, campaign responses.
	var events bytes.Buffer
	if _, err := demo.Interactions(&events, bytes.NewReader(customers), demo.InteractionOptions{Seed: 1}); err != nil {
		return fmt.Errorf("generate demo interactions: %w", err)
	}
	esum, err := (crm.Importer{Vault: a.Vault, Store: a.DB}).Import(ctx, func(fn func(crm.Input) error) error {
		return crm.ReadCSV(&events, fn)
	}, nil)
	if err != nil {
		return fmt.Errorf("load demo interactions: %w", err)
	}
	fmt.Fprintf(cl.stdout, "loaded the demo interactions: %d created, %d rejected\n", esum.Created, esum.Rejected)
	return demoProfiling(ctx, cl, a, customers)
}

// demoDepartments names the departments of billing, as a DPO would: the
// billing department alone reads under it (the development reader, of
// support, is refused it).
func demoDepartments(ctx context.Context, a *app.App) error {
	ps, err := a.DB.Purposes(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ID == "billing" {
			p.Departments = []string{"billing"}
			if _, err := a.DB.UpdatePurpose(ctx, p); err != nil {
				return fmt.Errorf("demo: departments of billing: %w", err)
			}
		}
	}
	return nil
}

// demoSegments are the demo's segments: one per legal basis, so that the
// demo shows who each may hold.
var demoSegments = []profiling.Draft{
	{Name: "vip-win-back", Purpose: "marketing", Condition: `tier == "vip" && lifecycle in ["at_risk", "lapsed"]`,
		Description: "Our best customers who have not ordered for a while, for a win-back offer by email"},
	{Name: "priority-support", Purpose: "support", Condition: `tier == "vip" || orders >= 8`,
		Description: "Customers who buy the most, whose calls are answered first"},
	{Name: "return-review", Purpose: "fraud_prevention", Condition: "returns >= 1 && returns * 3 >= orders",
		Description: "Customers who return a third or more of what they order, reviewed by a person before any limit changes", Significant: true},
}

// demoProfiling records the newsletter's consents (four in five
// subscribers granted, the others withdrew), computes every profile's
// traits and creates the demo segments.
func demoProfiling(ctx context.Context, cl *cli, a *app.App, customers []byte) error {
	rows, err := csv.NewReader(bytes.NewReader(customers)).ReadAll()
	if err != nil || len(rows) == 0 {
		return fmt.Errorf("demo customers: %w", err)
	}
	var statements bytes.Buffer
	statements.WriteString("source,source_id,purpose,state,notice_version,at\n")
	at := time.Now().UTC().AddDate(-1, 0, 0).Format(time.RFC3339)
	n := 0
	for _, row := range rows[1:] {
		if row[0] != "marketing" {
			continue
		}
		state := "granted"
		if n%5 == 4 {
			state = "withdrawn"
		}
		n++
		fmt.Fprintf(&statements, "marketing,%s,marketing,%s,1,%s\n", row[1], state, at)
	}
	sum, err := recordConsents(ctx, cl, a, &statements, "system:demo")
	if err != nil {
		return fmt.Errorf("demo consents: %w", err)
	}
	fmt.Fprintf(cl.stdout, "recorded the newsletter's consents: %d\n", sum.Recorded)
	req := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "system:demo", Department: "compliance", Roles: []auth.Role{auth.RoleDPO}}}
	rep, err := a.Profiling.Compute(ctx, req)
	if err != nil {
		return fmt.Errorf("demo traits: %w", err)
	}
	fmt.Fprintf(cl.stdout, "profiled %d customers\n", rep.Profiled)
	for _, d := range demoSegments {
		seg, err := a.Profiling.Save(ctx, req, d)
		if err != nil {
			return fmt.Errorf("demo segment %s: %w", d.Name, err)
		}
		fmt.Fprintf(cl.stdout, "segment %s (%s): %d members\n", seg.Name, seg.Purpose, seg.Members)
	}
	return nil
}

// demoToken returns the demo API token kept in the data directory, creating
// a new one when there is none or it no longer works.
func demoToken(ctx context.Context, cfg *Config, db *postgres.DB) (string, error) {
	path := filepath.Join(cfg.DataDir, "demo-token")
	if data, err := os.ReadFile(path); err == nil {
		cred := strings.TrimSpace(string(data))
		if id, secret, err := auth.ParseCredential(cred); err == nil {
			if t, err := db.Token(ctx, id); err == nil {
				if _, err := t.Authenticate(secret, time.Now()); err == nil {
					return cred, nil
				}
			}
		}
	}
	t, cred, err := auth.NewToken("demo", "sales", auth.Roles(), 0)
	if err != nil {
		return "", err
	}
	if err := db.CreateToken(ctx, t); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(cred+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep demo token: %w", err)
	}
	return cred, nil
}

func roleNames(rs []auth.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// requestGauges count open, due-soon (within seven days) and overdue
// data-subject requests at every scrape.
func requestGauges(db *postgres.DB) []prometheus.Collector {
	count := func(pick func(open, soon, overdue int64) int64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			open, soon, overdue, err := db.RequestCounts(ctx, time.Now(), 7*24*time.Hour)
			if err != nil {
				return -1
			}
			return float64(pick(open, soon, overdue))
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdp_requests_open", Help: "Data-subject requests not yet closed."},
			count(func(o, _, _ int64) int64 { return o })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdp_requests_due_soon", Help: "Open requests due within seven days."},
			count(func(_, s, _ int64) int64 { return s })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdp_requests_overdue", Help: "Open requests past their Art. 12(3) deadline."},
			count(func(_, _, o int64) int64 { return o })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdp_requests_awaiting_decision",
			Help: "Requests waiting for the DPO: received (to verify) or verified (to approve or reject)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				n, err := db.RequestsAwaitingDecision(ctx)
				if err != nil {
					return -1
				}
				return float64(n)
			}),
	}
}

// startDevKratos starts Ory Kratos for development (bin/kratos, see
// localkratos) with its data under <data-dir>/kratos, cdp's pages as its
// self-service UI and its mail delivered to a development mailbox.
func startDevKratos(cfg *Config, log *slog.Logger) (*localkratos.Server, *web.Mailbox, error) {
	var b [24]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	dir := filepath.Join(cfg.DataDir, "kratos")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	out, err := os.OpenFile(filepath.Join(dir, "kratos.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	k, err := localkratos.Start(localkratos.Options{DataDir: dir, UI: "http://" + cfg.Listen, MailToken: token, Log: out})
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	log.Info("Ory Kratos started for development", slog.String("public", k.PublicURL), slog.String("log", out.Name()))
	return k, web.NewMailbox(token), nil
}

// loopback tells whether an address listens on the loopback interface
// only (development: cookies may go without Secure).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// devStaff is a development staff account.
type devStaff struct {
	email, password, dept string
	roles                 []auth.Role
}

// ensureDevStaff gives development a DPO, a steward and a reader, with a
// password kept in the data directory (made once).
func ensureDevStaff(ctx context.Context, cfg *Config, a *app.App, db *postgres.DB) ([]devStaff, error) {
	path := filepath.Join(cfg.DataDir, "dev-staff-password")
	data, err := os.ReadFile(path)
	password := strings.TrimSpace(string(data))
	if err != nil || len(password) < 12 {
		var b [12]byte
		rand.Read(b[:])
		password = "dev-" + hex.EncodeToString(b[:])
		if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	admin, err := kratos.NewAdmin(cfg.KratosAdminURL)
	if err != nil {
		return nil, err
	}
	staff := []devStaff{
		{"dpo@cdp.localhost", password, "compliance", []auth.Role{auth.RoleDPO}},
		{"steward@cdp.localhost", password, "support", []auth.Role{auth.RoleSteward}},
		{"reader@cdp.localhost", password, "support", []auth.Role{auth.RoleReader}},
	}
	for _, s := range staff {
		if _, _, err := grantStaff(ctx, a.Access, db, admin, s.email, "Development "+string(s.roles[0]), s.password, s.dept, s.roles); err != nil {
			return nil, err
		}
	}
	return staff, nil
}
