package httpapi_test

// Instrumentation for the perf investigation (perf-investigate branch):
// CDP_BENCH_OUT=dir writes, per measured phase, a Go CPU profile of the
// phase alone and a pg_stat_statements dump (reset at the phase's start;
// the cluster must preload pg_stat_statements). CDP_BENCH_PGPID counts
// only the CPU of that postmaster and its children.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func ourPG(pid string) bool {
	pm := os.Getenv("CDP_BENCH_PGPID")
	if pm == "" || pid == pm {
		return true
	}
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	return len(f) > 1 && f[1] == pm
}

func startPhase(tb testing.TB, ownerURL, name string) func(reads float64) {
	dir := os.Getenv("CDP_BENCH_OUT")
	if dir == "" {
		return func(float64) {}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		tb.Fatal(err)
	}
	pgss := true
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()"); err != nil {
		fmt.Println("pg_stat_statements:", err)
		pgss = false
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatal(err)
	}
	var perf *exec.Cmd
	if pm := os.Getenv("CDP_BENCH_PGPID"); os.Getenv("CDP_BENCH_PERF") != "" && pm != "" {
		pids := []string{pm}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if e.Name() != pm && ourPG(e.Name()) {
				if _, err := os.Stat("/proc/" + e.Name() + "/stat"); err == nil {
					if c, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(c)) == "postgres" {
						pids = append(pids, e.Name())
					}
				}
			}
		}
		perf = exec.Command("perf", "record", "-q", "-F", "1999", "-g", "-p", strings.Join(pids, ","), "-o", filepath.Join(dir, name+".perf.data"))
		if err := perf.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	return func(reads float64) {
		pprof.StopCPUProfile()
		if perf != nil {
			perf.Process.Signal(os.Interrupt)
			perf.Wait()
		}
		f.Close()
		defer conn.Close(ctx)
		if !pgss {
			return
		}
		rows, err := conn.Query(ctx, `SELECT calls, total_exec_time, mean_exec_time, plans, total_plan_time, rows,
			shared_blks_hit, shared_blks_read, regexp_replace(query, '\s+', ' ', 'g')
			FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			ORDER BY total_exec_time + total_plan_time DESC`)
		if err != nil {
			tb.Fatal(err)
		}
		out, _ := os.Create(filepath.Join(dir, name+".pgss.txt"))
		defer out.Close()
		var allCalls int64
		var allTime float64
		type row struct {
			calls, plans, nrows, hit, read int64
			total, mean, plan              float64
			q                              string
		}
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.calls, &r.total, &r.mean, &r.plans, &r.plan, &r.nrows, &r.hit, &r.read, &r.q); err != nil {
				tb.Fatal(err)
			}
			allCalls += r.calls
			allTime += r.total + r.plan
			rs = append(rs, r)
		}
		fmt.Fprintf(out, "phase %s: ~%.0f reads (incl. warm-up); %d statements (%.2f per read), %.0f ms exec+plan (%.1f us per read)\n",
			name, reads, allCalls, float64(allCalls)/reads, allTime, allTime*1e3/reads)
		fmt.Fprintf(out, "%9s %8s %9s %8s %9s %7s %8s %6s  %s\n", "calls", "per-read", "mean-us", "share%", "plan-ms", "plans", "hit/call", "rows/c", "query")
		for _, r := range rs {
			q := r.q
			if len(q) > 220 {
				q = q[:220]
			}
			fmt.Fprintf(out, "%9d %8.2f %9.1f %8.1f %9.1f %7d %8.1f %6.1f  %s\n", r.calls, float64(r.calls)/reads, r.mean*1e3,
				100*(r.total+r.plan)/allTime, r.plan, r.plans, float64(r.hit)/float64(max(r.calls, 1)), float64(r.nrows)/float64(max(r.calls, 1)), q)
		}
	}
}
