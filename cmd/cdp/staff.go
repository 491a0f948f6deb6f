package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/postgres"
	"github.com/google/uuid"
)

// Staff accounts: Kratos identities of the staff schema, whose department
// and roles are granted here. Grants and revocations are audited.

const (
	actionStaffGrant  = "staff_grant"
	actionStaffRevoke = "staff_revoke"
)

func staffAdmin(cfg *Config) (*kratos.Admin, error) {
	if cfg.KratosAdminURL == "" {
		return nil, fmt.Errorf("staff accounts live in Ory Kratos: set --kratos-admin-url (CDP_KRATOS_ADMIN_URL): %w", errUsage)
	}
	return kratos.NewAdmin(cfg.KratosAdminURL)
}

func staffGrantCommand() command {
	return command{
		name: "staff grant",
		args: "EMAIL",
		summary: "Give a staff member the console: their Kratos account of the staff schema (created with a verified address when there is none) " +
			"and the roles and department they may act with. Audited.",
		groups: []string{"db", "keys", "policy", "kratos"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			var roles stringList
			fs.Var(&roles, "role", "a role to grant (reader, steward, dpo, ingest, admin); repeat for several")
			dept := fs.String("department", "", "the department they act for")
			name := fs.String("name", "", "their name, for a new account")
			password := fs.String("password", "", "the new account's password (development; otherwise they set one through account recovery)")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("name one email address: %w", errUsage)
				}
				email, ok := identity.NormalizeEmail(args[0])
				if !ok {
					return fmt.Errorf("%q is not an email address: %w", args[0], errUsage)
				}
				if *dept == "" || len(roles) == 0 {
					return fmt.Errorf("give --department and at least one --role: %w", errUsage)
				}
				if err := auth.ValidateDepartment(*dept); err != nil {
					return fmt.Errorf("--department: %w", err)
				}
				var granted []auth.Role
				for _, r := range roles {
					role, err := auth.ParseRole(r)
					if err != nil {
						return fmt.Errorf("--role: %w", err)
					}
					granted = append(granted, role)
				}
				admin, err := staffAdmin(cfg)
				if err != nil {
					return err
				}
				a, err := cfg.openAppKey(ctx, db, false)
				if err != nil {
					return err
				}
				defer a.Close()
				id, created, err := grantStaff(ctx, a.Access, db, admin, email, *name, *password, *dept, granted)
				if err != nil {
					return err
				}
				what := "granted"
				if created {
					what = "created the staff account and granted"
				}
				fmt.Fprintf(cl.stdout, "%s %s (staff:%s): %s in department %s\n", what, email, id, joinRoles(granted), *dept)
				return nil
			})
		},
	}
}

func staffListCommand() command {
	return command{
		name:    "staff list",
		summary: "List the staff members who may use the console: their account, department and roles.",
		groups:  []string{"db", "kratos"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				gs, err := db.StaffGrants(ctx)
				if err != nil {
					return err
				}
				var admin *kratos.Admin
				if cfg.KratosAdminURL != "" {
					if admin, err = kratos.NewAdmin(cfg.KratosAdminURL); err != nil {
						return err
					}
				}
				w := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ACCOUNT\tEMAIL\tDEPARTMENT\tROLES\tGRANTED")
				for _, g := range gs {
					email := "-"
					if admin != nil {
						if e, err := admin.Email(ctx, g.Identity); err == nil && e != "" {
							email = e
						}
					}
					fmt.Fprintf(w, "staff:%s\t%s\t%s\t%s\t%s by %s\n", g.Identity, email, g.Department, joinRoles(g.Roles),
						g.GrantedAt.UTC().Format(time.DateOnly), g.GrantedBy)
				}
				return w.Flush()
			})
		},
	}
}

func staffRevokeCommand() command {
	return command{
		name:    "staff revoke",
		args:    "EMAIL",
		summary: "End a staff member's grant: their next page of the console is refused. Audited.",
		groups:  []string{"db", "keys", "policy", "kratos"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("name one email address: %w", errUsage)
				}
				admin, err := staffAdmin(cfg)
				if err != nil {
					return err
				}
				email, _ := identity.NormalizeEmail(args[0])
				id, created, err := admin.StaffAccount(ctx, email, "", "")
				if err != nil {
					return err
				}
				if created {
					return fmt.Errorf("%s had no staff account (one was created without a grant): %w", email, postgres.ErrNotFound)
				}
				a, err := cfg.openAppKey(ctx, db, false)
				if err != nil {
					return err
				}
				defer a.Close()
				if err := a.Access.Record(ctx, dpoRequest(), access.Note{Action: actionStaffRevoke, Outcome: audit.Allowed,
					Reason: "revoked staff:" + id.String()}); err != nil {
					return fmt.Errorf("the audit log cannot record the revocation: %w", err)
				}
				if err := db.RevokeStaff(ctx, id, time.Now().UTC()); errors.Is(err, postgres.ErrNotFound) {
					return fmt.Errorf("%s has no grant to revoke: %w", email, err)
				} else if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "revoked %s (staff:%s)\n", email, id)
				return nil
			})
		},
	}
}

// grantStaff gives an email address a staff account (created when there
// is none) and a grant, audited before it is written.
func grantStaff(ctx context.Context, svc *access.Service, db *postgres.DB, admin *kratos.Admin, email, name, password, dept string,
	roles []auth.Role) (uuid.UUID, bool, error) {
	id, created, err := admin.StaffAccount(ctx, email, name, password)
	if err != nil {
		return id, false, err
	}
	note := access.Note{Action: actionStaffGrant, Outcome: audit.Allowed,
		Reason: fmt.Sprintf("granted staff:%s roles %s in department %s", id, joinRoles(roles), dept)}
	if err := svc.Record(ctx, dpoRequest(), note); err != nil {
		return id, created, fmt.Errorf("the audit log cannot record the grant, so nothing was granted: %w", err)
	}
	return id, created, db.GrantStaff(ctx, id, dept, roles, cliActor(), time.Now().UTC())
}

func joinRoles(rs []auth.Role) string { return strings.Join(roleNames(rs), ",") }

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
