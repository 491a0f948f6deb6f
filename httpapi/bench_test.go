package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/demo"
	"github.com/cdp-project/cdp/httpapi"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
)

// timedDecider measures the policy's evaluation time.
type timedDecider struct {
	*policy.Engine
	calls, nanos atomic.Int64
}

func (d *timedDecider) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	start := time.Now()
	dec, err := d.Engine.Decide(ctx, in)
	d.nanos.Add(int64(time.Since(start)))
	d.calls.Add(1)
	return dec, err
}

// waits keeps durations while on.
type waits struct {
	on atomic.Bool
	mu sync.Mutex
	ds []time.Duration
}

// since keeps the time since start, while on.
func (w *waits) since(start time.Time) {
	if w.on.Load() {
		d := time.Since(start)
		w.mu.Lock()
		w.ds = append(w.ds, d)
		w.mu.Unlock()
	}
}

// take returns the p50, p99 and largest duration (ms) kept since the
// last take, and forgets them.
func (w *waits) take() (p50, p99, most float64) {
	w.mu.Lock()
	ds := w.ds
	w.ds = nil
	w.mu.Unlock()
	return spread(ds)
}

// timedRecorder measures how long reads wait for their audit entries to
// commit, while on: the share of a read's latency the audit log takes.
type timedRecorder struct {
	access.Recorder
	waits
}

func (r *timedRecorder) RecordAll(ctx context.Context, es []audit.Entry) ([]audit.Entry, error) {
	defer r.since(time.Now())
	return r.Recorder.RecordAll(ctx, es)
}

// timedStore measures the audit writer's round trips to the database,
// while on: the part of the wait for an audit commit that is the
// database's (the rest is the writer's queue).
type timedStore struct {
	audit.Store
	waits
}

func (s *timedStore) InsertAudit(ctx context.Context, es []audit.Entry) error {
	defer s.since(time.Now())
	return s.Store.InsertAudit(ctx, es)
}

// spread is the p50, p99 and largest of durations (ms).
func spread(w []time.Duration) (p50, p99, most float64) {
	if len(w) == 0 {
		return 0, 0, 0
	}
	slices.Sort(w)
	return millis(quantile(w, 0.50)), millis(quantile(w, 0.99)), millis(w[len(w)-1])
}

// quantile is the p-quantile (nearest rank) of sorted durations.
func quantile(sorted []time.Duration, p float64) time.Duration {
	return sorted[max(int(math.Ceil(p*float64(len(sorted))))-1, 0)]
}

// millis is d in milliseconds.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bypass stands in for the policy and the audit log in the benchmark
// harness only: it allows what the policy would allow a support read
// (the same fields, the sources not collected under consent) without
// evaluating anything, and records nothing.
type bypass struct {
	fields []string
}

func (b bypass) Revision() string { return "bypass" }

func (b bypass) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	var sources []string
	for _, s := range in.Resource.Sources {
		if s.LegalBasis != "consent" {
			sources = append(sources, s.Name)
		}
	}
	sort.Strings(sources)
	return policy.Decision{ID: "bypass", Allow: true, Fields: b.fields, Sources: sources, Revision: "bypass"}, nil
}

func (bypass) RecordAll(ctx context.Context, es []audit.Entry) ([]audit.Entry, error) { return es, nil }

// BenchmarkReadProfile serves GET /v1/profiles/{id}?purpose=support to 64
// concurrent clients, through the full read path (OPA decision, audit
// entry committed with group commit) and, for comparison, with the policy
// and the audit log bypassed inside this harness. It prints throughput,
// p50 and p99 latency of each, the policy's time per decision and the
// audit entries per commit.
//
// `make bench` points CDP_TEST_DATABASE_URL at a durable cluster (fsync
// on), so every audit commit is a real flush. CDP_BENCH_SECONDS sets the
// measuring time per path (default 10), CDP_BENCH_PEOPLE the demo size
// (default 5000).
func BenchmarkReadProfile(b *testing.B) {
	seconds, people := envInt("CDP_BENCH_SECONDS", 10), envInt("CDP_BENCH_PEOPLE", 5000)
	ctx := context.Background()
	// The server runs as `cdp serve` runs it: its GC target
	// (CDP_GC_PERCENT) and connection pool (CDP_DB_MAX_CONNS) defaults.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	_, _, ownerURL := pgtest.NewAppStore(b)
	db, err := postgres.Open(ctx, pgtest.AppURL(b, ownerURL), postgres.Options{MaxConns: int32(envInt("CDP_DB_MAX_CONNS", 16))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	v := pgtest.NewVault(b, db)
	for _, s := range []identity.Source{
		{Name: "billing", Department: "billing", Priority: 90, UniqueRecords: true},
		{Name: "sales", Department: "sales", Priority: 70},
		{Name: "support", Department: "support", Priority: 60},
		{Name: "marketing", Department: "marketing", Priority: 50, LegalBasis: "consent", Purposes: []string{"marketing"}},
	} {
		if _, err := db.AddSource(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := demo.Generate(&buf, demo.Options{People: people, Seed: 7}); err != nil {
		b.Fatal(err)
	}
	customers := append([]byte(nil), buf.Bytes()...)
	r, err := ingest.NewCSVReader(&buf, ingest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	im := ingest.Importer{Vault: v, Store: db, Normalizer: identity.Normalizer{DefaultRegion: "GB"}, Actor: "bench"}
	if _, err := im.Import(ctx, r, nil); err != nil {
		b.Fatal(err)
	}
	res := &resolver.Resolver{Store: db, Vault: v}
	if _, err := res.Full(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	profiles := profileIDs(b, ownerURL)
	// Their interactions, about ten per person, for the timeline reads.
	var events bytes.Buffer
	if _, err := demo.Interactions(&events, bytes.NewReader(customers), demo.InteractionOptions{Seed: 7, Intensity: 2.5}); err != nil {
		b.Fatal(err)
	}
	if _, err := (crm.Importer{Vault: v, Store: db}).Import(ctx, func(fn func(crm.Input) error) error { return crm.ReadCSV(&events, fn) }, nil); err != nil {
		b.Fatal(err)
	}
	tok, cred, _ := auth.NewToken("bench-reader", "support", []auth.Role{auth.RoleReader}, 0)
	if err := db.CreateToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	// Start from vacuumed, analysed tables and written-out buffers, as a
	// database that has served for a while is: otherwise autovacuum visits
	// every table just loaded during the measurement, each analyse makes
	// every connection plan its statements again (binds of 20-80 ms,
	// audit round trips of up to 86 ms, open-loop p99 55 ms in such a
	// run), and make bench's million-record import just before leaves
	// dirty pages a checkpoint would write meanwhile (the bypassed reads'
	// open-loop p99 rose from 7-9 ms to 76 ms in such a run).
	pgtest.Exec(b, ownerURL, "VACUUM (ANALYZE)")
	pgtest.Exec(b, ownerURL, "CHECKPOINT")

	engine, err := policy.Load(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	timed := &timedDecider{Engine: engine}
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	auditDB, err := db.Dedicated(ctx, 2) // as app.New gives the audit writer
	if err != nil {
		b.Fatal(err)
	}
	defer auditDB.Close()
	trips := &timedStore{Store: auditDB}
	writer := audit.NewWriter(trips, audit.WriterOptions{Key: signer})
	defer writer.Close()
	probe, err := engine.Decide(ctx, policy.Input{
		Principal: auth.Principal{Kind: auth.Staff, ID: tok.Principal, Department: tok.Department, Roles: tok.Roles}, Action: "read", Purpose: "support",
		Purposes: map[string]policy.Purpose{"support": {LegalBasis: "contract"}},
	})
	if err != nil || !probe.Allow {
		b.Fatalf("probe decision %+v %v", probe, err)
	}

	serve := func(dec access.Decider, rec access.Recorder) string {
		srv := httpapi.New(httpapi.Config{
			Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Tokens: auth.NewTokens(db, 0), Importer: im,
			Registry: prometheus.NewRegistry(), Resolver: res,
			Access: access.New(access.Config{Store: db, Vault: v, Policy: dec, Audit: rec, Resolver: res}),
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Shutdown(context.Background()) })
		return "http://" + ln.Addr().String()
	}
	waited := &timedRecorder{Recorder: writer}
	auditedURL := serve(timed, waited)
	unmemoised, err := policy.Load(ctx, "", policy.WithoutMemo())
	if err != nil {
		b.Fatal(err)
	}
	timedRaw := &timedDecider{Engine: unmemoised}
	rawURL := serve(timedRaw, writer)
	bypassedURL := serve(bypass{fields: probe.Fields}, bypass{})

	for b.Loop() {
		cpu0 := processCPU()
		byp := loadResult{RPS: 1}
		if os.Getenv("CDP_BENCH_ONLY") != "audited" {
			byp = load(b, bypassedURL, cred, profiles, time.Duration(seconds)*time.Second)
		}
		cpu1 := processCPU()
		calls0, nanos0 := timed.calls.Load(), timed.nanos.Load()
		commits0, entries0 := writer.Stats()
		stopPhase0 := startPhase(b, ownerURL, "profile")
		aud := load(b, auditedURL, cred, profiles, time.Duration(seconds)*time.Second)
		cpu2 := processCPU()
		stopPhase0(aud.RPS * float64(seconds+1))
		if os.Getenv("CDP_BENCH_CPU") != "" {
			fmt.Printf("  cpu per profile read: %.0f us in this process (server and clients), %.0f us in postgres\n",
				(cpu2.self-cpu1.self)/(aud.RPS*float64(seconds))*1e6, (cpu2.pg-cpu1.pg)/(aud.RPS*float64(seconds))*1e6)
		}
		raw := load(b, rawURL, cred, profiles, time.Duration(seconds)*time.Second)
		if os.Getenv("CDP_BENCH_CPU") != "" {
			fmt.Printf("  cpu seconds (this process / postgres): bypassed %.1f / %.1f, audited %.1f / %.1f\n",
				cpu1.self-cpu0.self, cpu1.pg-cpu0.pg, cpu2.self-cpu1.self, cpu2.pg-cpu1.pg)
		}
		calls, nanos := timed.calls.Load()-calls0, timed.nanos.Load()-nanos0
		commits, entries := writer.Stats()
		commits, entries = commits-commits0, entries-entries0

		fmt.Printf("GET /v1/profiles/{id} (purpose support), 64 concurrent clients, %d s each, %d profiles:\n", seconds, len(profiles))
		fmt.Printf("  bypassed (no policy, no audit): %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms\n", byp.RPS, byp.P50, byp.P99)
		fmt.Printf("  audited  (OPA + audit commit):  %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms\n", aud.RPS, aud.P50, aud.P99)
		fmt.Printf("  audited / bypassed throughput: %.2f (target >= 0.80); audited p99 %.2f ms (a closed loop of 64 clients on two cores measures queueing: see the open loop below)\n", aud.RPS/byp.RPS, aud.P99)
		fmt.Printf("  audited, OPA evaluating every decision (no memo): %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms; %.1f us per evaluation under load\n",
			raw.RPS, raw.P50, raw.P99, float64(timedRaw.nanos.Load())/float64(max(timedRaw.calls.Load(), 1))/1e3)
		evaluated, memoised := engine.Stats()
		fmt.Printf("  policy: %.1f us per decision under load (%d decisions: %d evaluated by OPA, the rest answered from the memo of identical inputs)\n",
			float64(nanos)/float64(max(calls, 1))/1e3, calls, evaluated)
		_ = memoised
		fmt.Printf("  audit: %.1f entries per commit (%d commits)\n", float64(entries)/float64(max(commits, 1)), commits)
		stopPhase := startPhase(b, ownerURL, "timeline")
		cpu3 := processCPU()
		tl := loadPath(b, auditedURL, cred, profiles, time.Duration(seconds)*time.Second, "/timeline?purpose=support")
		cpu4 := processCPU()
		stopPhase(tl.RPS * float64(seconds+1))
		fmt.Printf("GET /v1/profiles/{id}/timeline (purpose support), 64 concurrent clients, audited: %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms (target p99 < 10 ms)\n",
			tl.RPS, tl.P50, tl.P99)
		if os.Getenv("CDP_BENCH_CPU") != "" {
			reads := tl.RPS * float64(seconds)
			fmt.Printf("  cpu per timeline read: %.0f us in this process (server and clients), %.0f us in postgres\n",
				(cpu4.self-cpu3.self)/reads*1e6, (cpu4.pg-cpu3.pg)/reads*1e6)
		}
		b.ReportMetric(tl.P99, "timeline-p99-ms")
		// The same reads in an open loop at half the rate the closed loop
		// reached: the latency of a read on a machine that is not
		// saturated.
		half := aud.RPS / 2
		waited.take()
		trips.take()
		waited.on.Store(true)
		trips.on.Store(true)
		ol := openLoopIn(b, auditedURL, cred, profiles, half, time.Duration(seconds)*time.Second, "?purpose=support")
		waited.on.Store(false)
		trips.on.Store(false)
		w50, w99, wmax := waited.take()
		t50, t99, tmax := trips.take()
		fmt.Printf("  open loop at half the audited maximum (%.0f req/s): p50 %6.2f ms  p99 %6.2f ms (target p99 < 10 ms); waiting for the audit commit: p50 %.2f ms, p99 %.2f ms, longest %.2f ms; of which the writer's round trip: p50 %.2f ms, p99 %.2f ms, longest %.2f ms\n",
			half, ol.P50, ol.P99, w50, w99, wmax, t50, t99, tmax)
		if os.Getenv("CDP_BENCH_ONLY") != "audited" {
			olb := openLoopIn(b, bypassedURL, cred, profiles, half, time.Duration(seconds)*time.Second, "?purpose=support")
			fmt.Printf("  the same open loop, policy and audit bypassed: p50 %6.2f ms  p99 %6.2f ms\n", olb.P50, olb.P99)
		}
		tlHalf := tl.RPS / 2
		waited.on.Store(true)
		trips.on.Store(true)
		olt := openLoopIn(b, auditedURL, cred, profiles, tlHalf, time.Duration(seconds)*time.Second, "/timeline?purpose=support")
		waited.on.Store(false)
		trips.on.Store(false)
		w50, w99, wmax = waited.take()
		t50, t99, tmax = trips.take()
		fmt.Printf("  timeline, open loop at half its maximum (%.0f req/s): p50 %6.2f ms  p99 %6.2f ms (target p99 < 10 ms); waiting for the audit commit: p50 %.2f ms, p99 %.2f ms, longest %.2f ms; of which the writer's round trip: p50 %.2f ms, p99 %.2f ms, longest %.2f ms\n",
			tlHalf, olt.P50, olt.P99, w50, w99, wmax, t50, t99, tmax)
		b.ReportMetric(ol.P99, "open-loop-p99-ms")
		b.ReportMetric(olt.P99, "timeline-open-loop-p99-ms")
		b.ReportMetric(aud.RPS, "audited-req/s")
		b.ReportMetric(byp.RPS, "bypassed-req/s")
		b.ReportMetric(aud.P99, "audited-p99-ms")
		b.ReportMetric(float64(entries)/float64(max(commits, 1)), "entries/commit")
	}
	if err := verifyChain(ctx, db, signer); err != nil {
		b.Fatalf("the audit chain written under load does not verify: %v", err)
	}
}

func verifyChain(ctx context.Context, db interface {
	AuditCheckpoints(context.Context) ([]audit.Checkpoint, error)
	VerifyAudit(context.Context, *audit.Verifier, int64) (audit.VerifyReport, error)
}, key ed25519.PrivateKey) error {
	cps, err := db.AuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	v, err := audit.NewVerifier(key.Public().(ed25519.PublicKey), cps)
	if err != nil {
		return err
	}
	_, err = db.VerifyAudit(ctx, v, 0)
	return err
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func profileIDs(tb testing.TB, url string) []uuid.UUID {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT id FROM profiles")
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil || len(ids) == 0 {
		tb.Fatalf("profiles: %d, %v", len(ids), err)
	}
	out := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

type loadResult struct {
	RPS, P50, P99 float64
}

// load runs 64 clients against url for d (after a one-second warm-up) and
// measures throughput and latency. The clients use fasthttp's client,
// which costs the shared CPUs less than net/http's.
func load(tb testing.TB, url, token string, ids []uuid.UUID, d time.Duration) loadResult {
	return loadPath(tb, url, token, ids, d, "?purpose=support")
}

// loadPath is load of GET /v1/profiles/{id}<suffix>.
func loadPath(tb testing.TB, url, token string, ids []uuid.UUID, d time.Duration, suffix string) loadResult {
	const clients = 64
	client := &fasthttp.HostClient{Addr: strings.TrimPrefix(url, "http://"), MaxConns: clients}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  atomic.Int64
		wg        sync.WaitGroup
	)
	warm := time.Now().Add(time.Second)
	end := warm.Add(d)
	auth := "Bearer " + token
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(seed, 1))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var mine []time.Duration
			for {
				start := time.Now()
				if start.After(end) {
					break
				}
				req.SetRequestURI(url + "/v1/profiles/" + ids[rng.IntN(len(ids))].String() + suffix)
				req.Header.Set("Authorization", auth)
				if err := client.DoTimeout(req, resp, 30*time.Second); err != nil || resp.StatusCode() != 200 {
					failures.Add(1)
					continue
				}
				if start.After(warm) {
					mine = append(mine, time.Since(start))
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}(uint64(c))
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		tb.Fatalf("%d requests failed", n)
	}
	slices.Sort(latencies)
	return loadResult{RPS: float64(len(latencies)) / d.Seconds(), P50: millis(quantile(latencies, 0.50)), P99: millis(quantile(latencies, 0.99))}
}

// openLoop sends GET /v1/profiles/{id}<suffix> at a fixed rate for d
// (after a one-second warm-up), whatever the answers' pace, and measures
// each request's latency from the moment it was due: an open loop, which
// measures the read and not the queue a closed loop of 64 clients builds
// on two cores (and does not hide the waiting of late requests).
func openLoop(url, token string, ids []uuid.UUID, rate float64, d time.Duration, suffix string) (loadResult, error) {
	client := &fasthttp.HostClient{Addr: strings.TrimPrefix(url, "http://"), MaxConns: 512}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  atomic.Int64
		wg        sync.WaitGroup
	)
	auth := "Bearer " + token
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	warm, end := start.Add(time.Second), start.Add(time.Second+d)
	rng := mrand.New(mrand.NewPCG(7, 1))
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.After(end) {
			break
		}
		time.Sleep(time.Until(due))
		id := ids[rng.IntN(len(ids))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(url + "/v1/profiles/" + id.String() + suffix)
			req.Header.Set("Authorization", auth)
			if err := client.DoTimeout(req, resp, 30*time.Second); err != nil || resp.StatusCode() != 200 {
				failures.Add(1)
				return
			}
			if due.After(warm) {
				lat := time.Since(due)
				mu.Lock()
				latencies = append(latencies, lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		return loadResult{}, fmt.Errorf("%d requests failed", n)
	}
	slices.Sort(latencies)
	return loadResult{RPS: float64(len(latencies)) / d.Seconds(), P50: millis(quantile(latencies, 0.50)), P99: millis(quantile(latencies, 0.99))}, nil
}

// openLoopIn runs openLoop from this process. A load generator in a
// process of its own was tried: on two cores the operating system's
// scheduler then stalls the server for longer (the bypassed reads' p99
// rose from 5-8 ms to 18-28 ms), so the clients stay in the process.
func openLoopIn(tb testing.TB, url, token string, ids []uuid.UUID, rate float64, d time.Duration, suffix string) loadResult {
	tb.Helper()
	res, err := openLoop(url, token, ids, rate, d, suffix)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

type cpuTimes struct{ self, pg float64 }

// processCPU reads the CPU seconds used by this process and by every
// postgres process (for CDP_BENCH_CPU=1: where does the time go).
func processCPU() cpuTimes {
	read := func(pid string) float64 {
		data, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return 0
		}
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return (u + s) / 100
	}
	t := cpuTimes{self: read("self")}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "postgres" && ourPG(e.Name()) {
			t.pg += read(e.Name())
		}
	}
	return t
}
