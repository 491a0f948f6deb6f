package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// app is the read path as the CLI commands that read or decide use it:
// the same policy, audit log and service as `cdp serve`, so that what they
// do is decided and audited exactly as over HTTP.
type app struct {
	vault  *vault.Vault
	writer *audit.Writer
	access *access.Service
}

// openApp builds the read path on db; Close signs the audit log's last
// checkpoint.
func (c *Config) openApp(ctx context.Context, db *postgres.DB) (*app, error) {
	return c.openAppKey(ctx, db, true)
}

// openAppKey is openApp; without needKey, a missing audit signing key
// only means this command signs no checkpoint (the entries are chained
// all the same, and the service signs the next one).
func (c *Config) openAppKey(ctx context.Context, db *postgres.DB, needKey bool) (*app, error) {
	key, err := audit.LoadKey(c.auditKeyFile())
	if errors.Is(err, os.ErrNotExist) && !needKey {
		key, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w (create one with `cdp audit keygen`)", err)
	}
	pol, err := policy.Load(ctx, c.PolicyDir)
	if err != nil {
		return nil, err
	}
	v, err := c.openVault(ctx, db)
	if err != nil {
		return nil, err
	}
	writer := audit.NewWriter(db, audit.WriterOptions{Key: key})
	svc := access.New(access.Config{Store: db, Vault: v, Policy: pol, Audit: writer, Resolver: &resolver.Resolver{Store: db, Vault: v}})
	return &app{vault: v, writer: writer, access: svc}, nil
}

func (a *app) Close() { a.writer.Close() }

// dpoRequest is how the DPO's CLI commands ask: as the operator at the
// terminal, with the DPO's role, audited under that name.
func dpoRequest() access.Request {
	return access.Request{
		Principal: auth.Principal{Kind: auth.Staff, ID: cliActor(), Department: "compliance", Roles: []auth.Role{auth.RoleDPO}},
		RequestID: "cli-" + uuid.Must(uuid.NewV7()).String(),
	}
}
