package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/jobs"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
)

// appConfig is the application's configuration from the settings, on an
// open database: the policy, the audit signing key, the vault, the
// normaliser, survivorship and the jobs' timing. Without needKey, a
// missing audit signing key only means this command signs no checkpoint
// (the entries are chained all the same, and the service signs the next
// one).
func (c *Config) appConfig(ctx context.Context, db *postgres.DB, needKey bool) (app.Config, error) {
	key, err := audit.LoadKey(c.auditKeyFile())
	if errors.Is(err, os.ErrNotExist) && !needKey {
		key, err = nil, nil
	}
	if err != nil {
		return app.Config{}, fmt.Errorf("%w (create one with `cdp audit keygen`, or run `cdp serve --dev`)", err)
	}
	pol, err := policy.Load(ctx, c.PolicyDir)
	if err != nil {
		return app.Config{}, err
	}
	v, err := c.openVault(ctx, db)
	if err != nil {
		return app.Config{}, err
	}
	// Commands without the ingest settings read with their defaults.
	nz := identity.Normalizer{DefaultRegion: "GB", DateOrder: identity.DMY}
	if c.DateOrder != "" {
		if nz, err = c.normalizer(); err != nil {
			return app.Config{}, err
		}
	}
	rules := identity.DefaultSurvivorship()
	if c.Survivorship != "" {
		data, err := os.ReadFile(c.Survivorship)
		if err != nil {
			return app.Config{}, fmt.Errorf("survivorship rules: %w", err)
		}
		if rules, err = identity.ParseSurvivorship(data); err != nil {
			return app.Config{}, fmt.Errorf("survivorship rules %s: %w", c.Survivorship, err)
		}
	}
	var stages []crm.Stage
	if c.LifecycleRules != "" {
		data, err := os.ReadFile(c.LifecycleRules)
		if err != nil {
			return app.Config{}, fmt.Errorf("lifecycle rules: %w", err)
		}
		if err := json.Unmarshal(data, &stages); err != nil {
			return app.Config{}, fmt.Errorf("lifecycle rules %s: %w", c.LifecycleRules, err)
		}
		if _, err := crm.CompileStages(stages); err != nil {
			return app.Config{}, fmt.Errorf("lifecycle rules %s: %w", c.LifecycleRules, err)
		}
	}
	return app.Config{
		DB: db, Vault: v, Policy: pol, AuditKey: key, Normalizer: nz, BatchSize: c.BatchSize,
		Survivorship: rules, DefaultRegion: nz.DefaultRegion, DateOrder: nz.DateOrder, StepUp: c.StepUp,
		Jobs: jobs.Options{JobTimeout: c.JobTimeout, RescueAfter: c.JobRescueAfter, RetentionEvery: c.RetentionEvery,
			ProfilingEvery: c.ProfilingEvery, ProfilingTimeout: c.ProfilingTimeout},
		Lifecycle: stages, Profiling: crm.Options{VIPShare: c.VIPShare, HorizonWeeks: c.CLVHorizonWeeks},
	}, nil
}

// openApp builds the application as the CLI commands that read or decide
// use it: the same policy, audit log and services as `cdp serve`, so that
// what they do is decided and audited exactly as over HTTP. Close signs
// the audit log's last checkpoint.
func (c *Config) openApp(ctx context.Context, db *postgres.DB) (*app.App, error) {
	return c.openAppKey(ctx, db, true)
}

// openAppKey is openApp; see appConfig for needKey.
func (c *Config) openAppKey(ctx context.Context, db *postgres.DB, needKey bool) (*app.App, error) {
	cfg, err := c.appConfig(ctx, db, needKey)
	if err != nil {
		return nil, err
	}
	return app.New(cfg)
}

// dpoRequest is how the DPO's CLI commands ask: as the operator at the
// terminal, with the DPO's role, audited under that name.
func dpoRequest() access.Request {
	return access.Request{
		Principal: auth.Principal{Kind: auth.Staff, ID: cliActor(), Department: "compliance", Roles: []auth.Role{auth.RoleDPO}},
		RequestID: "cli-" + uuid.Must(uuid.NewV7()).String(),
	}
}
