package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	neturl "net/url"
	"path/filepath"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/localpg"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// cluster is the private PostgreSQL cluster under the data directory.
func (c *Config) cluster() *localpg.Cluster {
	return &localpg.Cluster{Dir: filepath.Join(c.DataDir, "pg"), BinDir: c.PGBin}
}

// ownerURL returns the URL migrations run with: CDP_MIGRATE_DATABASE_URL,
// else CDP_DATABASE_URL, else the private cluster's owner (starting the
// cluster).
func (c *Config) ownerURL(ctx context.Context) (string, error) {
	if c.MigrateURL != "" {
		return c.MigrateURL, nil
	}
	if c.DatabaseURL != "" {
		return c.DatabaseURL, nil
	}
	url, err := c.cluster().Start(ctx)
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL cluster: %w", err)
	}
	return url, nil
}

// serviceRole is the login role the service uses in the private cluster: a
// member of cdp_app, which may only insert into the audit log.
const serviceRole = "cdp_service"

// databaseURL returns the URL the service works with: CDP_DATABASE_URL, or
// in the private cluster the service role (created once the migrations
// have created cdp_app; until then, the owner).
func (c *Config) databaseURL(ctx context.Context) (string, error) {
	if c.DatabaseURL != "" {
		return c.DatabaseURL, nil
	}
	owner, err := c.ownerURL(ctx)
	if err != nil {
		return "", err
	}
	u, err := neturl.Parse(owner)
	if err != nil {
		return "", fmt.Errorf("private cluster url: %w", err)
	}
	ownerPassword, _ := u.User.Password()
	db, err := postgres.Open(ctx, owner, postgres.Options{MaxConns: 1})
	if err != nil {
		return "", err
	}
	defer db.Close()
	ready, err := db.AppRoleExists(ctx)
	if err != nil || !ready {
		return owner, err
	}
	// The password derives from the owner's, kept in the cluster's state
	// file: nothing more to store.
	mac := hmac.New(sha256.New, []byte(ownerPassword))
	mac.Write([]byte("cdp service role password v1"))
	password := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if err := db.EnsureServiceRole(ctx, serviceRole, password); err != nil {
		return "", err
	}
	u.User = neturl.UserPassword(serviceRole, password)
	return u.String(), nil
}

// openOwnerDB connects with the owner's URL, for migrations.
func (c *Config) openOwnerDB(ctx context.Context) (*postgres.DB, error) {
	url, err := c.ownerURL(ctx)
	if err != nil {
		return nil, err
	}
	return postgres.Open(ctx, url, postgres.Options{})
}

// openDB connects to the database in use, as the service.
func (c *Config) openDB(ctx context.Context) (*postgres.DB, error) {
	url, err := c.databaseURL(ctx)
	if err != nil {
		return nil, err
	}
	return postgres.Open(ctx, url, postgres.Options{MaxConns: int32(c.DBMaxConns)})
}

// openMigratedDB connects and checks that the schema is current.
func (c *Config) openMigratedDB(ctx context.Context) (*postgres.DB, error) {
	db, err := c.openDB(ctx)
	if err != nil {
		return nil, err
	}
	st, err := db.MigrationStatus(ctx)
	if err == nil && !st.Current() {
		err = fmt.Errorf("the database needs migrations %v: run `cdp migrate`: %w", st.Pending, postgres.ErrSchema)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// loadKeyring reads the master key file and extra recipients.
func (c *Config) loadKeyring() (*vault.Keyring, error) {
	return vault.LoadKeyring(c.keyFile(), c.RecipientsFile)
}

// openVault opens the vault keys stored in the database with the master
// key, creating them on first use.
func (c *Config) openVault(ctx context.Context, db *postgres.DB) (*vault.Vault, error) {
	kr, err := c.loadKeyring()
	if err != nil {
		return nil, err
	}
	keys, _, err := db.EnsureVaultKeys(ctx, func() ([]vault.StoredKey, error) { return vault.NewKeys(kr) })
	if err != nil {
		return nil, fmt.Errorf("vault keys: %w", err)
	}
	v, err := vault.Open(kr, keys)
	if errors.Is(err, vault.ErrWrongKey) {
		return nil, fmt.Errorf("the master key %s cannot open this database's vault (a different key file?): %w", c.keyFile(), err)
	}
	return v, err
}

// importer builds the import pipeline on an open database: the vault (keys
// created on first use) and the normaliser from the settings.
func (c *Config) importer(ctx context.Context, db *postgres.DB) (ingest.Importer, *vault.Vault, error) {
	v, err := c.openVault(ctx, db)
	if err != nil {
		return ingest.Importer{}, nil, err
	}
	nz, err := c.normalizer()
	if err != nil {
		return ingest.Importer{}, nil, err
	}
	return ingest.Importer{Vault: v, Store: db, Normalizer: nz, BatchSize: c.BatchSize}, v, nil
}

// resolver builds the identity resolver on an open database.
func (c *Config) resolver(ctx context.Context, db *postgres.DB) (*resolver.Resolver, error) {
	v, err := c.openVault(ctx, db)
	if err != nil {
		return nil, err
	}
	return &resolver.Resolver{Store: db, Vault: v}, nil
}

// withDB adapts a command body that needs the migrated database: it
// connects, runs the body and closes the connection.
func (c *Config) withDB(body func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error) func(context.Context, *cli, []string) error {
	return func(ctx context.Context, cl *cli, args []string) error {
		db, err := c.openMigratedDB(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		return body(ctx, cl, args, db)
	}
}

// normalizer builds the record normaliser from the settings.
func (c *Config) normalizer() (identity.Normalizer, error) {
	order, err := identity.ParseDateOrder(c.DateOrder)
	if err != nil {
		return identity.Normalizer{}, err
	}
	return identity.NewNormalizer(c.DefaultRegion, order)
}
