package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/resolver"
)

func resolveCommand() command {
	return command{
		name: "resolve",
		summary: "Link records into golden profiles. Without --all it resolves the records that belong to no profile yet, " +
			"with their neighbourhood; --all re-resolves everything (training a model first if there is none) and reports what changed.",
		groups: []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			all := fs.Bool("all", false, "re-resolve every record")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				r, err := cfg.resolver(ctx, db)
				if err != nil {
					return err
				}
				var rep *resolver.Report
				if *all {
					rep, err = r.Full(ctx, cliActor())
				} else {
					ids, lerr := db.UnlinkedFrom(ctx, uuid.Nil, 1<<30)
					if lerr != nil {
						return lerr
					}
					rep, err = r.Incremental(ctx, cliActor(), ids)
				}
				if err != nil {
					return err
				}
				return printReport(cl.stdout, rep, *asJSON)
			})
		},
	}
}

func resolveTrainCommand() command {
	return command{
		name:    "resolve train",
		summary: "Train a new version of the identity model on every stored record and make it active. Profiles change at the next `cdp resolve --all`.",
		groups:  []string{"db", "keys"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				r, err := cfg.resolver(ctx, db)
				if err != nil {
					return err
				}
				start := time.Now()
				m, v, err := r.Train(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "trained model version %d on %d records in %s (prior %.3g, link at p >= %.2f, review at p >= %.2f)\n",
					v, m.Records, time.Since(start).Round(time.Millisecond), m.Prior, m.LinkThreshold, m.ReviewThreshold)
				tw := tabwriter.NewWriter(cl.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "COMPARISON\tLEVEL\tM\tU\tWEIGHT (bits)")
				for _, c := range m.Comparisons {
					for _, l := range c.Levels {
						fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.6f\t%+.1f\n", c.Name, l.Name, l.M, l.U, l.Weight())
					}
				}
				return tw.Flush()
			})
		},
	}
}

func resolveStatusCommand() command {
	return command{
		name:    "resolve status",
		summary: "Show the identity store: records, profiles, open review pairs, decisions and model versions.",
		groups:  []string{"db"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if err := noArgs(args); err != nil {
					return err
				}
				c, err := db.IdentityCounts(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cl.stdout, "records %d (%d in profiles), profiles %d, open review pairs %d, steward decisions %d\n",
					c.Records, c.Resolved, c.Profiles, c.OpenReview, c.Decisions)
				ms, err := db.Models(ctx)
				if err != nil {
					return err
				}
				if len(ms) == 0 {
					fmt.Fprintln(cl.stdout, "no trained model: the built-in default model scores")
				}
				for _, m := range ms {
					active := ""
					if m.Active {
						active = " (active)"
					}
					fmt.Fprintf(cl.stdout, "model version %d: trained %s on %d records%s\n", m.Version, m.TrainedAt.Format(time.RFC3339), m.Records, active)
				}
				return nil
			})
		},
	}
}

func printReport(w io.Writer, rep *resolver.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	trained := ""
	if rep.Trained {
		trained = ", model trained first"
	}
	ph := rep.Phases
	fmt.Fprintf(w, "%s resolution of %d records in %.1fs (read %.1fs, open %.1fs, train %.1fs, engine %.1fs, write %.1fs; "+
		"%d comparisons%s): %d profiles before, %d after; "+
		"%d created, %d merged away, %d records moved; %d links, %d pairs for review, %d links refused by guards\n",
		rep.Kind, rep.Records, rep.Seconds, ph.Read, ph.Open, ph.Train, ph.Resolve, ph.Write, rep.Comparisons, trained,
		rep.ProfilesBefore, rep.ProfilesAfter, rep.Created, rep.Merged, rep.Moved, rep.Links, rep.Review, rep.Refused)
	return nil
}
