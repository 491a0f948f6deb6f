package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cdp-project/cdp/demo"
)

func demoGenerateCommand() command {
	return command{
		name: "demo generate",
		summary: "Write a synthetic customer dataset in the canonical CSV format: persons spread over the sales, support, " +
			"billing and marketing departments with realistic duplicates and typos, and the truth in an entity_id column.",
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			records := fs.Int("records", 0, "about this many records (persons derived from it)")
			people := fs.Int("people", 1000, "number of synthetic persons (ignored when --records is set)")
			seed := fs.Int64("seed", 1, "random seed: the same seed gives the same data")
			out := fs.String("out", "-", "output file; - for standard output")
			interactions := fs.String("interactions", "", "also write the customers' interactions (orders, returns, tickets, calls, campaign responses) to this file")
			return func(ctx context.Context, cl *cli, args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if *records < 0 || *people <= 0 && *records == 0 {
					return fmt.Errorf("--records and --people must be positive: %w", errUsage)
				}
				opts := demo.Options{Seed: *seed, People: *people}
				if *records > 0 {
					opts = demo.Options{Seed: *seed, Records: *records}
				}
				var w io.Writer = cl.stdout
				var f *os.File
				if *out != "-" {
					var err error
					if f, err = os.Create(*out); err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				bw := bufio.NewWriterSize(w, 1<<20)
				var copied bytes.Buffer
				var dst io.Writer = bw
				if *interactions != "" {
					dst = io.MultiWriter(bw, &copied)
				}
				st, err := demo.Generate(dst, opts)
				if err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				if f != nil {
					if err := f.Close(); err != nil {
						return err
					}
				}
				fmt.Fprintf(cl.stderr, "wrote %d records of %d persons\n", st.Records, st.People)
				if *interactions == "" {
					return nil
				}
				ef, err := os.Create(*interactions)
				if err != nil {
					return err
				}
				defer ef.Close()
				ew := bufio.NewWriterSize(ef, 1<<20)
				ist, err := demo.Interactions(ew, &copied, demo.InteractionOptions{Seed: *seed})
				if err != nil {
					return err
				}
				if err := ew.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(cl.stderr, "wrote %d interactions (%d orders, revenue %.0f EUR)\n", ist.Interactions, ist.ByType["order"], ist.Revenue)
				return ef.Close()
			}
		},
	}
}
