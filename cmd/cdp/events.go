package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/postgres"
)

func eventsImportCommand() command {
	return command{
		name: "events import",
		args: "FILE...",
		summary: "Import interactions (orders, returns, tickets, calls, visits, campaign responses...) in the canonical format " +
			"(CSV with a header, NDJSON, or a JSON array; - reads standard input). Each is tied to its customer record, its other columns " +
			"sealed under that record's key; a resent interaction changes nothing. Prints a summary and each rejected line; exits 3 when lines were rejected.",
		groups: []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			format := fs.String("format", "auto", "input format: auto (by file name), csv, ndjson or json")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) == 0 {
					return fmt.Errorf("name at least one file: %w", errUsage)
				}
				for _, f := range args {
					if _, err := readerFormat(*format, f); err != nil {
						return err
					}
				}
				a, err := cfg.openAppKey(ctx, db, false)
				if err != nil {
					return err
				}
				defer a.Close()
				known, err := db.Sources(ctx)
				if err != nil {
					return err
				}
				registered := map[string]bool{}
				for _, s := range known {
					registered[s.Name] = true
				}
				im := crm.Importer{Vault: a.Vault, Store: db, BatchSize: cfg.BatchSize, Sources: func(name string) error {
					if !registered[name] {
						return fmt.Errorf("%q is not a registered source", name)
					}
					return nil
				}}
				req := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: cliActor(), Roles: []auth.Role{auth.RoleAdmin}}}
				what := "cdp events import " + strings.Join(args, " ")
				if err := a.Access.RecordWriteIntent(ctx, req, what, -1, []string{"interaction"}); err != nil {
					return fmt.Errorf("the audit log cannot record the import, so nothing was imported: %w", err)
				}
				var total crm.Summary
				for _, name := range args {
					f, _ := readerFormat(*format, name)
					raw, closeIn, err := openInput(cl, name)
					if err != nil {
						return err
					}
					in := bufio.NewReaderSize(raw, 1<<20)
					if f == "sniff" { // standard input: told by its first byte, like cdp import
						f = sniffFormat(in)
					}
					read := func(fn func(crm.Input) error) error {
						switch f {
						case "ndjson":
							return crm.ReadNDJSON(in, fn)
						case "json":
							return crm.ReadJSON(in, fn)
						}
						return crm.ReadCSV(in, fn)
					}
					sum, err := im.Import(ctx, read, func(r crm.Result) {
						for _, p := range r.Problems {
							fmt.Fprintf(cl.stderr, "%s: %s\n", name, p)
						}
					})
					closeIn()
					if errors.Is(err, crm.ErrFormat) {
						return fmt.Errorf("%s: %w", name, err)
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(cl.stdout, "%s: %d created, %d unchanged, %d rejected\n", name, sum.Created, sum.Unchanged, sum.Rejected)
					total.Created, total.Unchanged, total.Rejected = total.Created+sum.Created, total.Unchanged+sum.Unchanged, total.Rejected+sum.Rejected
				}
				if err := a.Access.RecordWrite(ctx, req, access.Write{What: what, Created: total.Created, Unchanged: total.Unchanged,
					Fields: []string{"interaction"}}); err != nil {
					return fmt.Errorf("the interactions are imported, but the audit entry could not be written: %w", err)
				}
				if total.Rejected > 0 {
					return errRejected
				}
				return nil
			})
		},
	}
}

// openInput opens a file, or standard input for "-".
func openInput(cl *cli, name string) (io.Reader, func(), error) {
	if name == "-" {
		return cl.stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func eventsRetentionCommand() command {
	return command{
		name: "events retention",
		args: "SOURCE TYPE",
		summary: "Say how long interactions of a source and type are kept (--days 0: as long as the source's records). " +
			"The retention sweep deletes older ones, audited, unless a legal hold or an open request needs them.",
		groups: []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			days := fs.Int("days", 0, "days to keep them")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 2 {
					return fmt.Errorf("name a source and a type: %w", errUsage)
				}
				if *days < 0 || *days > 36600 {
					return fmt.Errorf("--days: from 0 to 36600: %w", errUsage)
				}
				if err := db.SetInteractionRetention(ctx, args[0], args[1], *days); err != nil {
					return err
				}
				if *days == 0 {
					fmt.Fprintf(cl.stdout, "interactions of %s of type %s are kept as long as the source's records\n", args[0], args[1])
				} else {
					fmt.Fprintf(cl.stdout, "interactions of %s of type %s are kept %d days\n", args[0], args[1], *days)
				}
				return nil
			})
		},
	}
}
