// Package app builds cdp from its parts: the one place that wires the
// database, the vault, the policy, the audit log, the read path (access),
// the request service (requests), the resolver, the importer and the job
// runner. `cdp serve`, the CLI commands that read or decide, and the tests
// build the application here, so that what they run is what production
// runs.
//
//	New(Config) -> Start (the jobs, for a server) -> ... -> Stop -> Close
package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"time"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/profiling"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// Config is what the application is built from. Every field is required
// unless marked optional.
type Config struct {
	DB    *postgres.DB
	Vault *vault.Vault
	// Policy decides every access (policy.Engine).
	Policy access.Decider
	// AuditKey signs the audit log's checkpoints (optional: a command
	// that signs none; the entries are chained all the same).
	AuditKey ed25519.PrivateKey
	Log      *slog.Logger // optional: discarded
	// Normalizer and BatchSize configure the import pipeline (optional:
	// phone numbers read as GB numbers).
	Normalizer identity.Normalizer
	BatchSize  int
	// Survivorship, DefaultRegion and DateOrder configure reads
	// (optional: the defaults).
	Survivorship  identity.Survivorship
	DefaultRegion string
	DateOrder     identity.DateOrder
	// Accounts deletes erased customers' login accounts (optional).
	Accounts requests.Accounts
	// Sender delivers notices to recipients (optional: a command that
	// runs no jobs).
	Sender requests.Sender
	// StepUp requires a second factor for customers' erasure and export
	// requests.
	StepUp bool
	// Jobs configures the job runner.
	Jobs jobs.Options
	// Lifecycle are the lifecycle rules (optional: crm.DefaultStages);
	// Profiling configures the value models (optional: the defaults).
	Lifecycle []crm.Stage
	Profiling crm.Options
	// TokenCacheTTL is how long an API token read from the database is
	// trusted before it is read again: the longest a revocation may take
	// to act (optional: 5s; negative: read on every request).
	TokenCacheTTL time.Duration
}

// App is the application, built.
type App struct {
	DB       *postgres.DB
	Vault    *vault.Vault
	Audit    *audit.Writer
	Resolver *resolver.Resolver
	Importer ingest.Importer
	Access   *access.Service
	Requests *requests.Service
	// Profiling computes traits and segments and activates them.
	Profiling *profiling.Service
	// Jobs queues approved requests and notices at once; after Start it
	// also runs them.
	Jobs *jobs.Runner
	// Tokens authenticates API tokens.
	Tokens *auth.Tokens
	// Chain shows and verifies the audit log's hash chain (nil without
	// an audit signing key).
	Chain   *Chain
	started bool
	auditDB *postgres.DB // the audit writer's own connections
}

// New builds the application. Nothing runs until Start; Close releases
// it (the database stays the caller's).
func New(cfg Config) (*App, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Normalizer.DefaultRegion == "" {
		cfg.Normalizer.DefaultRegion = cfg.DefaultRegion
	}
	a := &App{DB: cfg.DB, Vault: cfg.Vault, Tokens: auth.NewTokens(cfg.DB, cfg.TokenCacheTTL)}
	// The audit writer has connections of its own: every read waits for
	// its commit, so it must not wait for a connection behind them.
	auditDB, err := cfg.DB.Dedicated(context.Background(), 2)
	if err != nil {
		return nil, fmt.Errorf("audit connections: %w", err)
	}
	a.auditDB = auditDB
	a.Audit = audit.NewWriter(auditDB, audit.WriterOptions{Key: cfg.AuditKey, OnError: func(err error) {
		log.Error("audit checkpoint", slog.String("error", err.Error()))
	}})
	if cfg.AuditKey != nil {
		a.Chain = &Chain{db: cfg.DB, pub: cfg.AuditKey.Public().(ed25519.PublicKey)}
	}
	a.Resolver = &resolver.Resolver{Store: cfg.DB, Vault: cfg.Vault}
	a.Importer = ingest.Importer{Vault: cfg.Vault, Store: cfg.DB, Normalizer: cfg.Normalizer, BatchSize: cfg.BatchSize}
	a.Access = access.New(access.Config{
		Store: cfg.DB, Vault: cfg.Vault, Policy: cfg.Policy, Audit: a.Audit, Resolver: a.Resolver, Importer: a.Importer,
		Survivorship: cfg.Survivorship, DefaultRegion: cfg.DefaultRegion, DateOrder: cfg.DateOrder,
	})
	if cfg.Jobs.Log == nil {
		cfg.Jobs.Log = log
	}
	runner, err := jobs.New(cfg.DB.Pool(), cfg.Jobs)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Jobs = runner
	a.Requests = requests.New(requests.Config{
		Store: cfg.DB, Access: a.Access, Vault: cfg.Vault, Resolver: a.Resolver, Importer: a.Importer, Queue: runner,
		Sender: cfg.Sender, Accounts: cfg.Accounts, DefaultRegion: cfg.DefaultRegion, StepUp: cfg.StepUp,
	})
	rules := cfg.Lifecycle
	if rules == nil {
		rules = crm.DefaultStages
	}
	stages, err := crm.CompileStages(rules)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("lifecycle rules: %w", err)
	}
	a.Profiling = profiling.New(profiling.Config{
		Store: cfg.DB, Access: a.Access, Vault: cfg.Vault, Sender: cfg.Sender, Queue: runner,
		Profiler: &crm.Profiler{Store: cfg.DB, Stages: stages, Options: cfg.Profiling},
	})
	return a, nil
}

// Start runs the jobs: approved requests, notices, the sweeps. Not the
// caller's request context: on shutdown, running jobs finish (Close)
// instead of being cancelled.
func (a *App) Start(ctx context.Context) error {
	if err := a.Jobs.Start(context.WithoutCancel(ctx), work{a.Requests, a.Profiling}); err != nil {
		return fmt.Errorf("start the job runner: %w", err)
	}
	a.started = true
	return nil
}

// Stop stops the jobs: those still running a little before ctx ends are
// cancelled, and run again by the next process.
func (a *App) Stop(ctx context.Context) error {
	if !a.started {
		return nil
	}
	a.started = false
	return a.Jobs.Stop(ctx)
}

// Close signs the audit log's last checkpoint; after Stop, or for an
// application that never started.
func (a *App) Close() {
	a.Audit.Close()
	a.auditDB.Close()
}

// HTTP fills the services of an HTTP server's configuration.
func (a *App) HTTP(c httpapi.Config) httpapi.Config {
	c.Access, c.Requests, c.Importer, c.Resolver, c.Profiling = a.Access, a.Requests, a.Importer, a.Resolver, a.Profiling
	c.Events = crm.Importer{Vault: a.Vault, Store: a.DB}
	c.Tokens = a.Tokens
	return c
}

// work is what the jobs do: the requests' work and profiling's.
type work struct {
	*requests.Service
	profiling *profiling.Service
}

func (w work) RefreshTraits(ctx context.Context) (int, error) { return w.profiling.CatchUp(ctx) }

func (w work) ComputeTraits(ctx context.Context, by string) (any, error) {
	return w.profiling.Full(ctx, by)
}
