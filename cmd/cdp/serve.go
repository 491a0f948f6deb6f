package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
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
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/demo"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
	"github.com/cdp-project/cdp/webhook"
)

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "Serve the HTTP API. With --dev (what `make run` uses) it also creates development keys when none exist, loads a demo dataset into an empty database and prints a demo API token.",
		groups:  []string{"db", "keys", "serve", "ingest", "policy"},
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
	auditKey, err := audit.LoadKey(cfg.auditKeyFile())
	if err != nil {
		return fmt.Errorf("%w (create one with `cdp audit keygen`, or run with --dev)", err)
	}
	pol, err := policy.Load(ctx, cfg.PolicyDir)
	if err != nil {
		return err
	}
	rules := identity.DefaultSurvivorship()
	if cfg.Survivorship != "" {
		data, err := os.ReadFile(cfg.Survivorship)
		if err != nil {
			return fmt.Errorf("survivorship rules: %w", err)
		}
		if rules, err = identity.ParseSurvivorship(data); err != nil {
			return fmt.Errorf("survivorship rules %s: %w", cfg.Survivorship, err)
		}
	}
	log.Info("policy loaded", slog.String("origin", pol.Origin()), slog.String("revision", pol.Revision()))
	importer, v, err := cfg.importer(ctx, db)
	if err != nil {
		return err
	}

	var token string
	if dev {
		if err := loadDemo(ctx, cl, db, importer, demoPeople); err != nil {
			return err
		}
		if token, err = demoToken(ctx, cfg, db); err != nil {
			return err
		}
	}

	writer := audit.NewWriter(db, audit.WriterOptions{Key: auditKey, OnError: func(err error) {
		log.Error("audit checkpoint", slog.String("error", err.Error()))
	}})
	defer writer.Close() // after the server stopped: signs the last checkpoint
	res := &resolver.Resolver{Store: db, Vault: v}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cdp_audit_commits_total", Help: "Transactions that committed audit entries."},
			func() float64 { b, _ := writer.Stats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cdp_audit_entries_total", Help: "Audit entries committed."},
			func() float64 { _, e := writer.Stats(); return float64(e) }),
	)
	var sessions httpapi.SessionChecker
	if cfg.KratosPublicURL != "" {
		k, err := kratos.New(cfg.KratosPublicURL)
		if err != nil {
			return err
		}
		sessions = k
		log.Info("customer sessions checked by Ory Kratos", slog.String("url", cfg.KratosPublicURL))
	} else {
		log.Warn("no Ory Kratos configured (CDP_KRATOS_PUBLIC_URL): customer routes answer 503")
	}
	order, err := identity.ParseDateOrder(cfg.DateOrder)
	if err != nil {
		return fmt.Errorf("--date-order: %w", err)
	}
	var accounts access.Accounts
	if cfg.KratosAdminURL != "" {
		a, err := kratos.NewAdmin(cfg.KratosAdminURL)
		if err != nil {
			return err
		}
		accounts = a
	} else if cfg.KratosPublicURL != "" {
		log.Warn("no Kratos admin API configured (CDP_KRATOS_ADMIN_URL): erasures list customers' accounts but cannot delete them")
	}
	svc := access.New(access.Config{
		Store: db, Vault: v, Policy: pol, Audit: writer, Resolver: res, DefaultRegion: cfg.DefaultRegion, Survivorship: rules,
		Accounts: accounts, DateOrder: order,
	})
	runner, err := jobs.ForService(db.Pool(), svc, db, importer, webhook.NewClient(webhook.Options{AllowLocal: cfg.WebhookLocal || dev}),
		jobs.Options{Log: log, JobTimeout: cfg.JobTimeout, RescueAfter: cfg.JobRescueAfter, RetentionEvery: cfg.RetentionEvery})
	if err != nil {
		return err
	}
	// Not the serve context: on SIGTERM, running jobs finish (Stop below)
	// instead of being cancelled.
	if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the job runner: %w", err)
	}
	reg.MustRegister(requestGauges(db)...)
	srv := httpapi.New(httpapi.Config{
		Log:          log,
		Tokens:       db,
		Sources:      db,
		Importer:     importer,
		Registry:     reg,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Access:       svc,
		Reviews:      db,
		Resolver:     res,
		Sessions:     sessions,
		Customers:    db,
		Consents:     db,
		Catalogue:    db,
		Requests:     db,
		Notices:      db,
		Suppressions: db,
		Queue:        runner,
		StepUp:       cfg.StepUp,
		Ready: []httpapi.Check{
			{Name: "database", Check: db.Ping},
			{Name: "migrations", Check: migrationsCurrent(db)},
			{Name: "keys", Check: keysWork(v)},
			{Name: "audit_role", Check: func(ctx context.Context) error { return checkAuditRole(ctx, cfg, db) }},
		},
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("serving", slog.String("url", url))
	fmt.Fprintf(cl.stdout, "cdp is serving on %s\n", url)
	if token != "" {
		fmt.Fprintf(cl.stdout, "demo API token (department sales; roles %s):\n  %s\n", strings.Join(roleNames(auth.Roles()), ", "), token)
		fmt.Fprintf(cl.stdout, "try: curl -s %s/readyz\n", url)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	if err := runner.Stop(sctx); err != nil {
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
func loadDemo(ctx context.Context, cl *cli, db *postgres.DB, im ingest.Importer, people int) error {
	n, err := db.RecordCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	for _, s := range demoSources {
		if _, err := db.AddSource(ctx, s); err != nil && !errors.Is(err, postgres.ErrConflict) {
			return err
		}
	}
	var buf bytes.Buffer
	if _, err := demo.Generate(&buf, demo.Options{People: people, Seed: 1}); err != nil {
		return fmt.Errorf("generate demo data: %w", err)
	}
	r, err := ingest.NewCSVReader(&buf, ingest.Options{})
	if err != nil {
		return err
	}
	im.Actor = "system:demo"
	sum, err := im.Import(ctx, r, nil)
	if err != nil {
		return fmt.Errorf("load demo data: %w", err)
	}
	fmt.Fprintf(cl.stdout, "loaded the demo dataset: ")
	sum.Print(cl.stdout)
	rep, err := (&resolver.Resolver{Store: db, Vault: im.Vault}).Full(ctx, "system:demo")
	if err != nil {
		return fmt.Errorf("link demo data: %w", err)
	}
	return printReport(cl.stdout, rep, false)
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
