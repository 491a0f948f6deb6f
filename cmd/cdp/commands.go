package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/vault"
)

func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", args, errUsage)
	}
	return nil
}

func migrateCommand() command {
	return command{
		name:    "migrate",
		summary: "Apply the pending database migrations, as the owner of the schema (CDP_MIGRATE_DATABASE_URL).",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				db, err := cfg.openOwnerDB(ctx)
				if err != nil {
					return err
				}
				defer db.Close()
				applied, err := db.Migrate(ctx)
				for _, m := range applied {
					fmt.Fprintf(cl.stdout, "applied %s\n", m)
				}
				if err != nil {
					return err
				}
				if len(applied) == 0 {
					fmt.Fprintln(cl.stdout, "the schema is current")
				}
				return nil
			}
		},
	}
}

func dbURLCommand() command {
	return command{
		name:    "db url",
		summary: "Print the connection URL of the database in use (as the service's role), starting the private cluster if needed.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			owner := fs.Bool("owner", false, "print the URL of the schema's owner, which migrations use (it can change the audit log)")
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				get := cfg.databaseURL
				if *owner {
					get = cfg.ownerURL
				}
				url, err := get(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(cl.stdout, url)
				return nil
			}
		},
	}
}

func dbStopCommand() command {
	return command{
		name:    "db stop",
		summary: "Stop the private PostgreSQL cluster (its data stays for the next start).",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if cfg.DatabaseURL != "" {
					return errors.New("CDP_DATABASE_URL is set: cdp does not manage that database")
				}
				was, err := cfg.cluster().Stop(ctx)
				if err != nil {
					return err
				}
				if was {
					fmt.Fprintln(cl.stdout, "stopped")
				} else {
					fmt.Fprintln(cl.stdout, "not running")
				}
				return nil
			}
		},
	}
}

func sourcesAddCommand() command {
	return command{
		name:    "sources add",
		args:    "NAME",
		summary: "Register a source: a department system that sends records.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			dept := fs.String("department", "", "department that owns the source (required)")
			priority := fs.Int("priority", 100, "survivorship priority: higher wins when sources disagree")
			unique := fs.Bool("unique", false, "the source holds at most one record per person")
			basis := fs.String("legal-basis", "contract", "GDPR Art. 6(1) basis the records were collected under: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests")
			purposes := fs.String("purposes", "", "comma-separated purposes the records were collected for (empty: any purpose the basis supports)")
			retention := fs.Int("retention-days", 0, "erase records this many days after their last update (0: as long as their purposes' retention, if the source names purposes)")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("want one source name: %w", errUsage)
				}
				if err := ingest.ValidateSourceName(args[0]); err != nil {
					return err
				}
				if err := auth.ValidateDepartment(*dept); err != nil {
					return fmt.Errorf("--department: %w", err)
				}
				lb, err := consent.ParseLegalBasis(*basis)
				if err != nil {
					return fmt.Errorf("--legal-basis: %w", err)
				}
				s, err := db.AddSource(ctx, identity.Source{Name: args[0], Department: *dept, Priority: *priority, UniqueRecords: *unique,
					LegalBasis: string(lb), Purposes: splitList(*purposes)})
				if err != nil {
					return err
				}
				if *retention > 0 {
					if err := db.SetRetention(ctx, s.Name, *retention); err != nil {
						return err
					}
				}
				fmt.Fprintf(cl.stdout, "registered source %s (department %s, priority %d, legal basis %s)\n", s.Name, s.Department, s.Priority, s.LegalBasis)
				return nil
			})
		},
	}
}

func sourcesListCommand() command {
	return command{
		name:    "sources list",
		summary: "List the registered sources.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				srcs, err := db.Sources(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "SOURCE\tDEPARTMENT\tPRIORITY\tUNIQUE\tLEGAL BASIS\tPURPOSES")
				for _, s := range srcs {
					ps := strings.Join(s.Purposes, ",")
					if ps == "" {
						ps = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\t%s\n", s.Name, s.Department, s.Priority, s.UniqueRecords, s.LegalBasis, ps)
				}
				return tw.Flush()
			})
		},
	}
}

func tokenCreateCommand() command {
	return command{
		name:    "token create",
		summary: "Create an API token and print it once. Only a hash is stored.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			principal := fs.String("principal", "", "who uses the token: a person or a system name (required)")
			dept := fs.String("department", "", "department the token acts for (required)")
			var roles []string
			fs.Func("role", "role to grant: reader, ingest, steward, dpo, admin (repeat or comma-separate)", func(s string) error {
				roles = append(roles, splitList(s)...)
				return nil
			})
			expires := fs.Duration("expires", 0, "lifetime, e.g. 720h; 0: no expiry")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				var rs []auth.Role
				for _, r := range roles {
					role, err := auth.ParseRole(r)
					if err != nil {
						return err
					}
					rs = append(rs, role)
				}
				t, cred, err := auth.NewToken(*principal, *dept, rs, *expires)
				if err != nil {
					return err
				}
				if err := db.CreateToken(ctx, t); err != nil {
					return err
				}
				fmt.Fprintln(cl.stdout, cred)
				return nil
			})
		},
	}
}

func tokenListCommand() command {
	return command{
		name:    "token list",
		summary: "List API tokens (never their secrets).",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				ts, err := db.Tokens(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPRINCIPAL\tDEPARTMENT\tROLES\tCREATED\tSTATE")
				now := time.Now()
				for _, t := range ts {
					state := "active"
					switch {
					case !t.RevokedAt.IsZero():
						state = "revoked " + t.RevokedAt.Format(time.DateOnly)
					case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
						state = "expired"
					case !t.ExpiresAt.IsZero():
						state = "expires " + t.ExpiresAt.Format(time.DateOnly)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Principal, t.Department,
						strings.Join(roleNames(t.Roles), ","), t.CreatedAt.Format(time.DateOnly), state)
				}
				return tw.Flush()
			})
		},
	}
}

func tokenRevokeCommand() command {
	return command{
		name:    "token revoke",
		args:    "ID",
		summary: "Revoke an API token at once.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("want one token id: %w", errUsage)
				}
				if err := db.RevokeToken(ctx, args[0], time.Now()); err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "revoked %s\n", args[0])
				return nil
			})
		},
	}
}

func keysGenerateCommand() command {
	return command{
		name:    "keys generate",
		summary: "Create a master key file: a post-quantum hybrid age identity, readable only by its owner. It refuses to overwrite a key.",
		groups:  []string{"keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			out := fs.String("out", "", "where to write the key; default: the key file setting")
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				path := *out
				if path == "" {
					path = cfg.keyFile()
				}
				rcpt, err := vault.GenerateKeyFile(path)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stderr, "wrote %s; its public recipient:\n", path)
				fmt.Fprintln(cl.stdout, rcpt)
				return nil
			}
		},
	}
}

func keysShowCommand() command {
	return command{
		name:    "keys show",
		summary: "Show the master recipients and the vault keys sealed to them.",
		groups:  []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				kr, err := cfg.loadKeyring()
				if err != nil {
					return err
				}
				keys, err := db.VaultKeys(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "master key file: %s\nrecipients:\n", cfg.keyFile())
				for _, r := range kr.Recipients() {
					fmt.Fprintf(cl.stdout, "  %s\n", vault.ShortRecipient(r))
				}
				if _, err := vault.Open(kr, keys); err != nil {
					fmt.Fprintf(cl.stdout, "vault: cannot be opened: %v\n", err)
				} else {
					fmt.Fprintln(cl.stdout, "vault: opens with this key file")
				}
				for _, k := range keys {
					fmt.Fprintf(cl.stdout, "  %s key %d created %s\n", k.Kind, k.ID, k.CreatedAt.Format(time.RFC3339))
				}
				return nil
			})
		},
	}
}

func keysRotateCommand() command {
	return command{
		name: "keys rotate",
		summary: "Replace the master key: create a new identity, re-seal the vault keys to it (and to the recipients file), " +
			"and move the old key file aside. No data is re-encrypted.",
		groups: []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				return rotateMasterKey(ctx, cl, cfg)
			}
		},
	}
}

// rotateMasterKey re-seals the vault keys to a fresh master identity. The
// new key file is written beside the old one first; the database is updated
// in one transaction; only then is the old file renamed, so a failure at
// any step leaves a key file that opens the database.
func rotateMasterKey(ctx context.Context, cl *cli, cfg *Config) error {
	old, err := cfg.loadKeyring()
	if err != nil {
		return err
	}
	db, err := cfg.openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.VaultKeys(ctx)
	if err != nil {
		return err
	}
	path := cfg.keyFile()
	next := path + ".next"
	if _, err := os.Stat(next); err == nil {
		return fmt.Errorf("%s exists: a previous rotation did not finish; check which key opens the vault with `cdp keys show --key-file %s`", next, next)
	}
	if _, err := vault.GenerateKeyFile(next); err != nil {
		return err
	}
	nextKR, err := vault.LoadKeyring(next, cfg.RecipientsFile)
	if err != nil {
		return err
	}
	resealed, err := vault.Rewrap(old, nextKR, keys)
	if err != nil {
		return err
	}
	if _, err := vault.Open(nextKR, resealed); err != nil {
		return fmt.Errorf("check the re-sealed keys: %w", err)
	}
	if err := db.ResealVaultKeys(ctx, resealed); err != nil {
		return err
	}
	retired := fmt.Sprintf("%s.retired-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, retired); err != nil {
		return fmt.Errorf("the vault is sealed to %s now, but moving the old key aside failed: %w", next, err)
	}
	if err := os.Rename(next, path); err != nil {
		return fmt.Errorf("the vault is sealed to %s now, but installing it as %s failed: %w", next, path, err)
	}
	fmt.Fprintf(cl.stdout, "re-sealed %d vault keys to the new master key %s\nold key moved to %s: destroy it once backups sealed to it have expired\n",
		len(resealed), path, filepath.Base(retired))
	return nil
}
