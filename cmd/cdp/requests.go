package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/webhook"
)

func recipientsAddCommand() command {
	return command{
		name: "recipients add",
		args: "NAME",
		summary: "Register a recipient of erasure and rectification notices (Art. 17(2), 19): a department's system or a " +
			"downstream processor with a webhook URL. Prints the HMAC secret that signs its notices, once.",
		groups: []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			dept := fs.String("department", "", "department that acknowledges the notices with its API tokens (required)")
			hook := fs.String("url", "", "http(s) URL the notices are POSTed to (required)")
			sources := fs.String("sources", "", "comma-separated sources whose records concern it, and whose record ids alone its notices carry (empty: every notice, every record)")
			local := fs.Bool("allow-local", false, "development: accept a plain http URL or a loopback or private address")
			events := fs.String("events", "erasure,rectification", "what it hears of: erasure, rectification, request_filed (a customer filed a request: the DPO's desk)")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("want one recipient name: %w", errUsage)
				}
				if err := auth.ValidateDepartment(*dept); err != nil {
					return fmt.Errorf("--department: %w", err)
				}
				if err := webhook.CheckURL(*hook, webhook.Options{AllowLocal: *local}); err != nil {
					return fmt.Errorf("--url: %w: %w", err, errUsage)
				}
				v, err := cfg.openVault(ctx, db)
				if err != nil {
					return err
				}
				text := webhook.NewSecret()
				evs := splitList(*events)
				for _, ev := range evs {
					if ev != dsr.NoticeErasure && ev != dsr.NoticeRectification && ev != dsr.NoticeRequestFiled {
						return fmt.Errorf("--events: %q: want erasure, rectification or request_filed: %w", ev, errUsage)
					}
				}
				r := postgres.SealedRecipient{Recipient: dsr.Recipient{ID: uuid.Must(uuid.NewV7()), Name: args[0], Department: *dept,
					URL: *hook, Sources: splitList(*sources), Events: evs}}
				if r.KEK, r.Wrapped, r.Secret, err = requests.SealSecret(v, r.ID, []byte(text)); err != nil {
					return err
				}
				if err := db.AddRecipient(ctx, r); err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "registered recipient %s (department %s)\nsigning secret (shown once; verify the Standard Webhooks signature with it):\n  %s\n",
					r.Name, r.Department, text)
				return nil
			})
		},
	}
}

func recipientsRotateCommand() command {
	return command{
		name: "recipients rotate",
		args: "NAME",
		summary: "Give a recipient a new signing secret, printed once. The current secret keeps signing beside it " +
			"(two signatures per notice) for the overlap, so the recipient can switch without missing a notice.",
		groups: []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			overlap := fs.Duration("overlap", 72*time.Hour, "how long the current secret still signs")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("want one recipient name: %w", errUsage)
				}
				if *overlap < 0 {
					return fmt.Errorf("--overlap: a duration of zero or more: %w", errUsage)
				}
				v, err := cfg.openVault(ctx, db)
				if err != nil {
					return err
				}
				text := webhook.NewSecret()
				if err := db.RotateRecipientSecret(ctx, args[0], *overlap, func(id uuid.UUID, kek int32, wrapped []byte) ([]byte, error) {
					return requests.SealNextSecret(v, id, kek, wrapped, []byte(text))
				}); err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "new signing secret of %s (shown once; the previous one signs beside it until %s):\n  %s\n",
					args[0], time.Now().Add(*overlap).UTC().Format(time.RFC3339), text)
				return nil
			})
		},
	}
}

func recipientsListCommand() command {
	return command{
		name:    "recipients list",
		summary: "List the recipients of notices.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				rs, err := db.Recipients(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDEPARTMENT\tSOURCES\tURL")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Department, strings.Join(r.Sources, ","), r.URL)
				}
				return tw.Flush()
			})
		},
	}
}

func holdsAddCommand() command {
	return command{
		name: "holds add",
		args: "SOURCE",
		summary: "Put a source's records under a legal hold (Art. 17(3)): an erasure keeps them, restricted, for the " +
			"retention the named obligation demands, counted from each record's creation, and lists them in its report.",
		groups: []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			obligation := fs.String("obligation", "", "the legal obligation, e.g. 'invoices, 10 years (tax law)' (required)")
			days := fs.Int("retain-days", 0, "how long the records are kept, in days (required)")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("want one source name: %w", errUsage)
				}
				h, err := db.AddLegalHold(ctx, postgres.LegalHold{ID: uuid.Must(uuid.NewV7()), Source: args[0], Obligation: *obligation,
					RetainDays: *days, CreatedBy: cliActor()})
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "legal hold %s on %s: %s, %d days\n", h.ID, h.Source, h.Obligation, h.RetainDays)
				return nil
			})
		},
	}
}
