package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
)

// BenchmarkTenMillion is `make bench-10m`: 10,000,000 demo records
// (CDP_BENCH_RECORDS overrides) generated, imported without resolution
// and resolved through the database, each stage a `cdp` command in a
// process of its own, printing its time, throughput and peak memory
// (target: every stage under 8 GiB). The resolution runs under
// CDP_BENCH_10M_MEMORY_LIMIT (default 7GiB: the garbage collector keeps
// the heap there, leaving room for the rest of the process under the
// target; the limit is soft, so a run whose live heap needs more still
// finishes and shows how far over it is). It runs only when
// CDP_BENCH_10M is set: it takes the better part of an hour.
func BenchmarkTenMillion(b *testing.B) {
	if os.Getenv("CDP_BENCH_10M") == "" {
		b.Skip("make bench-10m runs it (CDP_BENCH_10M=1)")
	}
	n := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("CDP_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	limit := os.Getenv("CDP_BENCH_10M_MEMORY_LIMIT")
	if limit == "" {
		limit = "7GiB"
	}
	for b.Loop() {
		file := filepath.Join(b.TempDir(), "demo.csv")
		dbURL, dataDir := pgtest.NewDB(b), b.TempDir()
		env := []string{"CDP_DATA_DIR=" + dataDir, "CDP_DATABASE_URL=" + dbURL}
		stage := func(more []string, args ...string) (string, time.Duration, float64) {
			return runCommand(b, append(slices.Clip(env), more...), args...)
		}
		_, took, peak := stage(nil, "demo", "generate", "--records", strconv.Itoa(n), "--seed", "1", "--out", file)
		fmt.Printf("ten million: generate %d records: %.1fs = %.0f records/s, peak %.2f GiB\n", n, took.Seconds(), float64(n)/took.Seconds(), peak)
		for _, args := range benchSetup {
			stage(nil, args...)
		}
		out, took, peak := stage(nil, "import", "--no-resolve", file)
		if !strings.Contains(out, fmt.Sprintf("%d created", n)) {
			b.Fatalf("import did not create %d records: %s", n, out)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "import-records/s")
		b.ReportMetric(peak, "import-peak-GiB")
		fmt.Printf("ten million: cdp import --no-resolve: %.1fs = %.0f records/s, peak %.2f GiB (target: under 8 GiB)\n", took.Seconds(), float64(n)/took.Seconds(), peak)
		out, took, peak = stage([]string{"CDP_MEMORY_LIMIT=" + limit}, "resolve", "--all", "--json")
		var rep resolver.Report // what cdp resolve --json prints
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			b.Fatalf("resolve report: %v: %s", err, out)
		}
		b.ReportMetric(took.Seconds(), "resolve-s")
		b.ReportMetric(peak, "resolve-peak-GiB")
		ph := rep.Phases
		fmt.Printf("ten million: cdp resolve --all (memory limit %s): %.1fs = %.0f records/s; read %.1fs, open %.1fs, train %.1fs, engine %.1fs, write %.1fs; "+
			"%d comparisons, %d links, %d profiles; peak %.2f GiB (target: under 8 GiB)\n",
			limit, took.Seconds(), float64(n)/took.Seconds(), ph.Read, ph.Open, ph.Train, ph.Resolve, ph.Write,
			rep.Comparisons, rep.Links, rep.ProfilesAfter, peak)
	}
}
