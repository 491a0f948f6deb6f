package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/demo"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// BenchmarkImport measures `cdp import` of a file from `cdp demo generate`
// (1,000,000 records by default; CDP_BENCH_RECORDS overrides), encryption
// and blind indexes included, next to a plain COPY of the same rows into an
// unindexed table of text columns: the physical floor.
//
// Run it with `make bench`, which points CDP_TEST_DATABASE_URL at a durable
// private cluster: the test cluster runs without fsync and would flatter
// the numbers.
func BenchmarkImport(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CDP_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	file := filepath.Join(b.TempDir(), "demo.csv")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := demo.Generate(w, demo.Options{Records: n, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()

	for b.Loop() {
		dbURL := pgtest.NewDB(b)
		dataDir := b.TempDir()
		env := func(k string) string {
			switch k {
			case "CDP_DATA_DIR":
				return dataDir
			case "CDP_DATABASE_URL":
				return dbURL
			}
			return ""
		}
		var out, errs strings.Builder
		for _, args := range [][]string{
			{"keys", "generate"}, {"migrate"},
			{"sources", "add", "billing", "--department", "billing", "--unique"},
			{"sources", "add", "sales", "--department", "sales"},
			{"sources", "add", "support", "--department", "support"},
			{"sources", "add", "marketing", "--department", "marketing"},
		} {
			if code := run(context.Background(), args, env, nil, &out, &errs); code != 0 {
				b.Fatalf("cdp %v: %s", args, errs.String())
			}
		}
		out.Reset()
		start := time.Now()
		if code := run(context.Background(), []string{"import", file}, env, nil, &out, &errs); code != 0 {
			b.Fatalf("import: exit %d: %s", code, errs.String())
		}
		elapsed := time.Since(start)
		if !strings.Contains(out.String(), fmt.Sprintf("%d created", n)) {
			b.Fatalf("import did not create %d records: %s", n, out.String())
		}
		copyElapsed := plainCopy(b, dbURL, file)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(n)/copyElapsed.Seconds(), "copy-records/s")
		b.ReportMetric(elapsed.Seconds(), "import-s")
		fmt.Printf("cdp import: %d records in %.1fs = %.0f records/s (sealed, blind-indexed, upserted); plain COPY of the same CSV: %.1fs = %.0f records/s\n",
			n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), copyElapsed.Seconds(), float64(n)/copyElapsed.Seconds())
	}
}

// plainCopy loads the CSV with COPY into a table of text columns without
// indexes and returns how long it took.
func plainCopy(b *testing.B, url, file string) time.Duration {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	cols := demo.Header()
	for i, c := range cols {
		cols[i] = pgx.Identifier{c}.Sanitize() + " text"
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE plain_copy ("+strings.Join(cols, ", ")+")"); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), "COPY plain_copy FROM STDIN (FORMAT csv, HEADER true)"); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
