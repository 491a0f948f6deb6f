package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/internal/parallel"
)

func evalCommand() command {
	return command{
		name: "eval",
		args: "FILE.csv",
		summary: "Measure identity resolution on labelled data, in memory (no database): train on the records without " +
			"reading entity_id, resolve, and print one JSON object with pairwise and B-cubed precision, recall and F1.",
		groups: []string{"ingest"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			assignments := fs.String("assignments", "", "also write source,source_id,profile_id for every record to this CSV file")
			return func(ctx context.Context, cl *cli, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("want one labelled CSV file: %w", errUsage)
				}
				nz, err := cfg.normalizer()
				if err != nil {
					return err
				}
				report, err := evaluate(args[0], nz, *assignments)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cl.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
		},
	}
}

// evalReport is what `cdp eval` prints.
type evalReport struct {
	File string `json:"file"`
	identity.Metrics
	Comparisons   int     `json:"comparisons"`
	RandomPairs   int     `json:"random_pairs"`
	SkippedBlocks int     `json:"skipped_blocks"`
	Profiles      int     `json:"profiles"`
	Review        int     `json:"review_pairs"`
	Refused       int     `json:"refused_links"`
	Seconds       float64 `json:"seconds"`
}

// labelled is a labelled file read for evaluation: each record's match
// keys, prepared for resolution, its truth and its source ids.
type labelled struct {
	entries *identity.Entries
	truth   []string
	ids     [][2]string
}

// readLabelled reads a labelled CSV, normalising records on every core. It
// keeps only the match keys, the truth and the ids, not the records.
func readLabelled(file string, nz identity.Normalizer) (*labelled, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ingest.NewCSVReader(bufio.NewReaderSize(f, 1<<20), ingest.Options{KeepTruth: true})
	if err != nil {
		return nil, err
	}
	const chunk = 4096
	l := &labelled{entries: &identity.Entries{}}
	workers := runtime.GOMAXPROCS(0)
	for done := false; !done; {
		var batch []identity.Record
		for len(batch) < chunk*workers {
			in, err := r.Next()
			if errors.Is(err, io.EOF) {
				done = true
				break
			}
			if err != nil {
				return nil, err
			}
			if in.Rejected() {
				return nil, fmt.Errorf("line %d: %s", in.Line, in.Problems[0])
			}
			if in.Truth == "" {
				return nil, fmt.Errorf("line %d: no entity_id: evaluation needs labelled data", in.Line)
			}
			batch = append(batch, in.Record)
			l.truth = append(l.truth, in.Truth)
			l.ids = append(l.ids, [2]string{in.Record.Source, in.Record.SourceID})
		}
		// Each batch is normalised, then prepared and dropped: the run keeps
		// a compact copy of the match keys, not the normalised records.
		base := l.entries.Len()
		entries := make([]identity.Entry, len(batch))
		parallel.Ranges(len(batch), workers, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				entries[i] = identity.Entry{
					Key:    fmt.Sprintf("%09d", base+i),
					Source: batch[i].Source,
					Match:  nz.Normalize(&batch[i].Attributes),
				}
			}
		})
		l.entries.Add(entries)
	}
	return l, nil
}

func evaluate(file string, nz identity.Normalizer, assignments string) (*evalReport, error) {
	l, err := readLabelled(file, nz)
	if err != nil {
		return nil, err
	}
	res, err := l.entries.Resolve(identity.Options{})
	if err != nil {
		return nil, err
	}
	rep := &evalReport{
		File:          file,
		Metrics:       identity.Evaluate(res.Profile, l.truth),
		Comparisons:   res.Stats.Comparisons,
		RandomPairs:   res.Stats.RandomPairs,
		SkippedBlocks: res.Stats.SkippedBlocks,
		Profiles:      res.Stats.Profiles,
		Review:        len(res.Review),
		Refused:       len(res.Refused),
		Seconds:       res.Stats.Seconds,
	}
	if assignments != "" {
		if err := writeAssignments(assignments, l.entries, l.ids, res.Profile); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func writeAssignments(path string, entries *identity.Entries, ids [][2]string, profile []int32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"source", "source_id", "profile_id"})
	for i := range entries.Len() {
		w.Write([]string{ids[i][0], ids[i][1], identity.ProfileID(entries.Key(int(profile[i])))})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
