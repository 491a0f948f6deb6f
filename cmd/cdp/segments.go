package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/profiling"
)

// Customer relationships from a terminal: traits and segments, through
// the same audited service as the API (the operator acts as the DPO).

// withProfiling opens the application for a profiling command.
func withProfiling(cfg *Config, run func(ctx context.Context, cl *cli, args []string, a *app.App) error) func(context.Context, *cli, []string) error {
	return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
		a, err := cfg.openApp(ctx, db)
		if err != nil {
			return err
		}
		defer a.Close()
		return run(ctx, cl, args, a)
	})
}

func traitsComputeCommand() command {
	return command{
		name: "traits compute",
		summary: "Compute every profile's traits (RFM, value models, lifecycle stage, tier) and every segment, for the people " +
			"whose legal basis allows profiling only. Audited like POST /v1/traits/compute.",
		groups: []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if err := noArgs(args); err != nil {
					return err
				}
				start := time.Now()
				rep, err := a.Profiling.Compute(ctx, dpoRequest())
				if err != nil {
					return err
				}
				if *asJSON {
					return json.NewEncoder(cl.stdout).Encode(rep)
				}
				fmt.Fprintf(cl.stdout, "profiled %d profiles in %s; %d stage changes\n", rep.Profiled, time.Since(start).Round(time.Millisecond), rep.Changes)
				for _, why := range slices.Sorted(maps.Keys(rep.Excluded)) {
					fmt.Fprintf(cl.stdout, "not profiled: %d (%s)\n", rep.Excluded[why], why)
				}
				if m := rep.Model; m != nil {
					if b := m.Params.BGNBD; b != nil {
						fmt.Fprintf(cl.stdout, "BG/NBD on %d customers: r=%.3f alpha=%.3f a=%.3f b=%.3f\n", m.Params.FittedOn, b.R, b.Alpha, b.A, b.B)
					}
					if g := m.Params.GammaGamma; g != nil {
						fmt.Fprintf(cl.stdout, "Gamma-Gamma: p=%.3f q=%.3f gamma=%.3f\n", g.P, g.Q, g.Gamma)
					}
					fmt.Fprintf(cl.stdout, "VIP tier: %d customers with revenue >= %.2f bring %.0f%% of revenue\n",
						m.Params.VIPs, m.Params.VIPRevenue, 100*m.Params.VIPShare)
				}
				for _, name := range slices.Sorted(maps.Keys(rep.Segments)) {
					fmt.Fprintf(cl.stdout, "segment %s: %d entered or left\n", name, rep.Segments[name])
				}
				return nil
			})
		},
	}
}

func segmentDraftFlags(fs *flag.FlagSet) *profiling.Draft {
	d := &profiling.Draft{}
	fs.StringVar(&d.Purpose, "purpose", "", "the purpose of the catalogue the segment serves (required)")
	fs.StringVar(&d.Condition, "condition", "", "CEL condition over the traits, e.g. 'tier == \"vip\" && recency_days > 180' (required)")
	fs.StringVar(&d.Description, "description", "", "the rule in plain words, shown to the people in it")
	fs.BoolVar(&d.Significant, "significant", false, "its decisions have legal or similarly significant effects (Art. 22): each entry needs a person's approval before activation")
	return d
}

func segmentsAddCommand() command {
	return command{
		name:    "segments add",
		args:    "NAME",
		summary: "Create a segment: a CEL condition over traits for a purpose, checked when saved; its members are computed at once.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			d := segmentDraftFlags(fs)
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if len(args) != 1 || d.Purpose == "" || d.Condition == "" || d.Description == "" {
					return fmt.Errorf("want a name, --purpose, --condition and --description: %w", errUsage)
				}
				d.Name = args[0]
				seg, err := a.Profiling.Save(ctx, dpoRequest(), *d)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "segment %s created (%s): %d members\n", seg.Name, seg.Purpose, seg.Members)
				return nil
			})
		},
	}
}

func segmentsPreviewCommand() command {
	return command{
		name:    "segments preview",
		summary: "Count the people a condition would select for a purpose now, and its overlap with each segment; nothing is saved.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			d := segmentDraftFlags(fs)
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if d.Purpose == "" || d.Condition == "" {
					return fmt.Errorf("want --purpose and --condition: %w", errUsage)
				}
				p, err := a.Profiling.Preview(ctx, dpoRequest(), *d)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "%d people\n", p.Size)
				for _, name := range slices.Sorted(maps.Keys(p.Overlaps)) {
					fmt.Fprintf(cl.stdout, "  of them in %s: %d\n", name, p.Overlaps[name])
				}
				return nil
			})
		},
	}
}

func segmentsListCommand() command {
	return command{
		name:    "segments list",
		summary: "List the segments with their purpose, size and condition.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if err := noArgs(args); err != nil {
					return err
				}
				segs, err := a.Profiling.Segments(ctx, dpoRequest())
				if err != nil {
					return err
				}
				if *asJSON {
					return json.NewEncoder(cl.stdout).Encode(segs)
				}
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPURPOSE\tMEMBERS\tSIGNIFICANT\tCONDITION")
				for _, s := range segs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\n", s.Name, s.Purpose, s.Members, s.Significant, s.Condition)
				}
				return tw.Flush()
			})
		},
	}
}

func segmentsRefreshCommand() command {
	return command{
		name:    "segments refresh",
		args:    "NAME",
		summary: "Recompute a segment's members over everyone profiled now, recording who entered and left and why.",
		groups:  []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if len(args) != 1 {
					return fmt.Errorf("want one segment name: %w", errUsage)
				}
				n, err := a.Profiling.RefreshSegment(ctx, dpoRequest(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "%d entered or left\n", n)
				return nil
			})
		},
	}
}

func segmentsActivateCommand() command {
	return command{
		name: "segments activate",
		args: "NAME",
		summary: "Deliver a segment's entries and exits since the last activation to a recipient's webhook (--to NAME, which must have " +
			"the segment's purpose mapped) or as CSV (--csv FILE). Each person is decided again at send time and audited.",
		groups: []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			to := fs.String("to", "", "the recipient to deliver to")
			file := fs.String("csv", "", "write the changes to this CSV file instead (- for standard output)")
			return withProfiling(cfg, func(ctx context.Context, cl *cli, args []string, a *app.App) error {
				if len(args) != 1 || (*to == "") == (*file == "") {
					return fmt.Errorf("want one segment name and one of --to or --csv: %w", errUsage)
				}
				dest := *to
				if *file != "" {
					dest = profiling.CSVDestination
				}
				act, err := a.Profiling.Activate(ctx, dpoRequest(), args[0], dest)
				if err != nil {
					return err
				}
				out := cl.stdout
				switch *file {
				case "":
				case "-":
					if _, err := cl.stdout.Write(act.CSV); err != nil {
						return err
					}
					out = cl.stderr
				default:
					if err := os.WriteFile(*file, act.CSV, 0o600); err != nil {
						return err
					}
				}
				fmt.Fprintf(out, "sent %d, withheld %d, awaiting review %d\n", act.Sent, act.Withheld, act.AwaitingReview)
				return nil
			})
		},
	}
}

func recipientsPurposesCommand() command {
	return command{
		name: "recipients purposes",
		args: "NAME PURPOSE...",
		summary: "Map the purposes for which a recipient may receive segments (none: it receives none; activation fails closed). " +
			"Replaces the recipient's list.",
		groups: []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) < 1 {
					return fmt.Errorf("want a recipient name and its purposes: %w", errUsage)
				}
				ps, err := db.Purposes(ctx)
				if err != nil {
					return err
				}
				var known []string
				for _, p := range ps {
					known = append(known, p.ID)
				}
				purposes := []string{}
				for _, p := range args[1:] {
					for _, one := range strings.Split(p, ",") {
						if one = strings.TrimSpace(one); one == "" {
							continue
						}
						if !slices.Contains(known, one) {
							return fmt.Errorf("purpose %q is not in the catalogue (%s): %w", one, strings.Join(known, ", "), errUsage)
						}
						purposes = append(purposes, one)
					}
				}
				if err := db.SetRecipientPurposes(ctx, args[0], purposes); err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "recipient %s receives segments for: %s\n", args[0], strings.Join(purposes, ", "))
				return nil
			})
		},
	}
}
