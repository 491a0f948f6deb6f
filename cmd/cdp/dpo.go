package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/requests"
)

// The DPO's daily work from a terminal: data-subject requests and the
// audit log, through the same audited service as the API (the operator is
// the principal, with the DPO's role). Tables by default, --json for
// scripts.

func requestsListCommand() command {
	return command{
		name:    "requests list",
		summary: "List data-subject requests, nearest deadline first. Audited like GET /v1/requests.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			state := fs.String("state", "", "only requests in this state (received, verified, approved, rejected, in_progress, completed, failed)")
			typ := fs.String("type", "", "only requests of this type (access, portability, rectification, erasure, restriction, objection)")
			overdue := fs.Bool("overdue", false, "only open requests past their deadline")
			dueBefore := fs.String("due-before", "", "only requests due before this date (2026-01-31) or time (RFC 3339)")
			profile := fs.String("profile", "", "only requests about this profile id")
			limit := fs.Int("limit", 100, "at most this many")
			asJSON := fs.Bool("json", false, "print JSON")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				f := dsr.Filter{State: dsr.State(*state), Type: dsr.Type(*typ), Overdue: *overdue, Now: time.Now(), Limit: *limit}
				if *state != "" {
					if _, err := dsr.ParseState(*state); err != nil {
						return fmt.Errorf("--state: %w: %w", err, errUsage)
					}
				}
				if *typ != "" {
					if _, err := dsr.ParseType(*typ); err != nil {
						return fmt.Errorf("--type: %w: %w", err, errUsage)
					}
				}
				if *limit < 1 || *limit > 1000 {
					return fmt.Errorf("--limit: 1 to 1000: %w", errUsage)
				}
				if *dueBefore != "" {
					t, err := parseWhen(*dueBefore)
					if err != nil {
						return fmt.Errorf("--due-before: %w: %w", err, errUsage)
					}
					f.DueBefore = t
				}
				if *profile != "" {
					id, err := uuid.Parse(*profile)
					if err != nil {
						return fmt.Errorf("--profile: not a profile id: %w", errUsage)
					}
					f.Profile = id
				}
				a, err := cfg.openApp(ctx, db)
				if err != nil {
					return err
				}
				defer a.Close()
				rs, err := a.Requests.ListRequests(ctx, dpoRequest(), f)
				if err != nil {
					return err
				}
				if *asJSON {
					return json.NewEncoder(cl.stdout).Encode(rs)
				}
				if n, err := db.RequestsAwaitingDecision(ctx); err == nil {
					fmt.Fprintf(cl.stdout, "%d awaiting your decision (received: verify; verified: approve or reject)\n\n", n)
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tCHANNEL\tDUE\tPROFILE")
				now := time.Now()
				for _, r := range rs {
					due := r.Due.UTC().Format(time.DateOnly)
					if r.Overdue(now) {
						due += " OVERDUE"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.State, r.Channel, due, r.Profile)
				}
				return tw.Flush()
			})
		},
	}
}

func requestsShowCommand() command {
	return command{
		name:    "requests show",
		args:    "ID",
		summary: "Show a data-subject request with its history, verification and notices. Audited like GET /v1/requests/{id}.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				id, err := oneRequestID(args)
				if err != nil {
					return err
				}
				a, err := cfg.openApp(ctx, db)
				if err != nil {
					return err
				}
				defer a.Close()
				v, err := a.Requests.GetRequest(ctx, dpoRequest(), id)
				if err != nil {
					return err
				}
				return printRequest(cl, v, *asJSON)
			})
		},
	}
}

// requestsDecideCommand is one of the DPO's steps on a request.
func requestsDecideCommand(action, summary string) command {
	return command{
		name:    "requests " + action,
		args:    "ID",
		summary: summary,
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			reason := fs.String("reason", "", "why (reject, extend: required; the person is told)")
			method := fs.String("method", "", "verify: how the person's identity was verified (id_document, video_call, ...)")
			reference := fs.String("reference", "", "verify: a reference to the evidence (sealed)")
			months := fs.Int("months", 0, "extend: by 1 or 2 months")
			asJSON := fs.Bool("json", false, "print JSON")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				id, err := oneRequestID(args)
				if err != nil {
					return err
				}
				dec := requests.Step{Action: action, Reason: *reason, Months: *months}
				if action == "verify" {
					if *method == "" {
						return fmt.Errorf("--method: say how the person's identity was verified: %w", errUsage)
					}
					dec.Verification = map[string]string{"method": *method}
					if *reference != "" {
						dec.Verification["reference"] = *reference
					}
				}
				a, err := cfg.openApp(ctx, db)
				if err != nil {
					return err
				}
				defer a.Close()
				v, err := a.Requests.Take(ctx, dpoRequest(), id, dec)
				if err != nil {
					return err
				}
				if action == "approve" {
					fmt.Fprintln(cl.stderr, "approved: a running `cdp serve` carries it out within a minute")
				}
				return printRequest(cl, v, *asJSON)
			})
		},
	}
}

func oneRequestID(args []string) (uuid.UUID, error) {
	if len(args) != 1 {
		return uuid.Nil, fmt.Errorf("name one request id: %w", errUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return uuid.Nil, fmt.Errorf("%q is not a request id: %w", args[0], errUsage)
	}
	return id, nil
}

func printRequest(cl *cli, v *requests.View, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(cl.stdout).Encode(v)
	}
	tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "request\t%s\n", v.ID)
	fmt.Fprintf(tw, "type\t%s\n", v.Type)
	fmt.Fprintf(tw, "state\t%s\n", v.State)
	fmt.Fprintf(tw, "profile\t%s\n", v.Profile)
	fmt.Fprintf(tw, "channel\t%s\n", v.Channel)
	due := v.Due.UTC().Format(time.RFC3339)
	if v.Overdue {
		due += " (overdue)"
	}
	fmt.Fprintf(tw, "due\t%s\n", due)
	if v.Outcome != "" {
		fmt.Fprintf(tw, "outcome\t%s\n", v.Outcome)
	}
	tw.Flush()
	fmt.Fprintln(cl.stdout, "\nhistory:")
	tw = tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
	for _, e := range v.Events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.To, e.Actor, e.Reason)
	}
	for _, n := range v.Notices {
		fmt.Fprintf(tw, "  notice\t%s\t%s\t%d attempts\n", n.RecipientName, n.Status, n.Attempts)
	}
	return tw.Flush()
}

func auditQueryCommand() command {
	return command{
		name: "audit query",
		summary: "Answer the DPO's questions from the audit log: who read a person's data (--profile, under every id their profile " +
			"ever had), or what a principal read (--principal, --from, --to). Audited like GET /v1/audit.",
		groups: []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			profile := fs.String("profile", "", "a profile id")
			principal := fs.String("principal", "", "a principal (staff:NAME, customer:ID, cli:USER)")
			purpose := fs.String("purpose", "", "only entries of this purpose")
			from := fs.String("from", "", "entries at or after this date or time")
			to := fs.String("to", "", "entries before this date or time")
			limit := fs.Int("limit", 100, "at most this many (1 to 1000)")
			after := fs.Int64("after", 0, "entries after this sequence number (paging)")
			asJSON := fs.Bool("json", false, "print JSON")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if *profile == "" && *principal == "" {
					return fmt.Errorf("ask about a --profile or a --principal: %w", errUsage)
				}
				q := audit.Query{Profile: *profile, Principal: *principal, Purpose: *purpose, After: *after, Limit: *limit}
				var err error
				if *from != "" {
					if q.From, err = parseWhen(*from); err != nil {
						return fmt.Errorf("--from: %w: %w", err, errUsage)
					}
				}
				if *to != "" {
					if q.To, err = parseWhen(*to); err != nil {
						return fmt.Errorf("--to: %w: %w", err, errUsage)
					}
				}
				a, err := cfg.openApp(ctx, db)
				if err != nil {
					return err
				}
				defer a.Close()
				es, _, err := a.Access.AuditLog(ctx, dpoRequest(), q)
				if err != nil {
					return err
				}
				if *asJSON {
					return json.NewEncoder(cl.stdout).Encode(es)
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tAT\tPRINCIPAL\tDEPARTMENT\tACTION\tPURPOSE\tOUTCOME\tFIELDS")
				for _, e := range es {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Principal, e.Department,
						e.Action, e.Purpose, e.Outcome, strings.Join(e.Fields, ","))
				}
				return tw.Flush()
			})
		},
	}
}

// parseWhen reads a date (midnight UTC) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-01-31) or an RFC 3339 time", s)
}
