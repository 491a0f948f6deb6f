package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/policy"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
)

type requestBench struct {
	db     *postgres.DB
	svc    *requests.Service
	im     ingest.Importer
	res    *resolver.Resolver
	writer *audit.Writer
}

func newRequestBench(b *testing.B) *requestBench {
	b.Helper()
	ctx := context.Background()
	db, _, _ := pgtest.NewAppStore(b)
	v := pgtest.NewVault(b, db)
	for _, dept := range []string{"sales", "support", "billing", "marketing"} {
		if _, err := db.AddSource(ctx, identity.Source{Name: dept, Department: dept, Priority: 50}); err != nil {
			b.Fatal(err)
		}
	}
	pol, err := policy.Load(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	a, err := app.New(app.Config{DB: db, Vault: v, Policy: pol, AuditKey: signer, Normalizer: identity.Normalizer{DefaultRegion: "GB"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	im := a.Importer
	im.Actor = "bench"
	return &requestBench{db: db, res: a.Resolver, writer: a.Audit, im: im, svc: a.Requests}
}

// person imports one person's records, spread over the four departments,
// and returns their profile.
func (rb *requestBench) person(b *testing.B, n, records int) uuid.UUID {
	b.Helper()
	ctx := context.Background()
	depts := []string{"sales", "support", "billing", "marketing"}
	var in []ingest.Input
	for i := 0; i < records; i++ {
		var r identity.Record
		r.Source, r.SourceID = depts[i%4], fmt.Sprintf("p%d-r%d", n, i)
		r.Set(identity.GivenName, "Person")
		r.Set(identity.FamilyName, fmt.Sprintf("Benchmark%d", n))
		r.Set(identity.Email, fmt.Sprintf("person%d@bench.example", n))
		r.Set(identity.Phone, fmt.Sprintf("07700 9%05d", n))
		r.Set(identity.Street, fmt.Sprintf("%d Bench Street", i+1))
		in = append(in, ingest.Input{Line: i + 1, Record: r})
	}
	var ids []uuid.UUID
	if _, err := rb.im.Import(ctx, ingest.NewSliceReader(in), func(r ingest.Result) { ids = append(ids, r.RecordID) }); err != nil {
		b.Fatal(err)
	}
	rep, err := rb.res.Incremental(ctx, "bench", ids)
	if err != nil {
		b.Fatal(err)
	}
	p := rep.Members[ids[0]]
	for _, id := range ids {
		if rep.Members[id] != p {
			b.Fatalf("person %d is not one profile", n)
		}
	}
	return p
}

// approved files an approved request directly in the store.
func (rb *requestBench) approved(b *testing.B, typ dsr.Type, profile uuid.UUID) uuid.UUID {
	b.Helper()
	dpo := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dpo", Department: "legal", Roles: []auth.Role{auth.RoleDPO}}}
	v, err := rb.svc.NewRequest(context.Background(), dpo, requests.Intake{Type: typ, Profile: profile,
		Verification: map[string]string{"method": "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rb.svc.Take(context.Background(), dpo, v.ID, requests.Step{Action: "approve"}); err != nil {
		b.Fatal(err)
	}
	return v.ID
}

// percentile sorts ds and returns its p-quantile (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return quantile(ds, p)
}

// BenchmarkErasure erases people with 50 source records across 4
// departments each, through the request job (keys destroyed, records,
// links and consent deleted, identifiers suppressed, tombstone), and
// reports the p50 and p95 of one erasure (no recipients: webhook
// acknowledgements excluded). The first erasures of a process are slower
// (each pooled connection prepares its statements and fills its caches
// on first use: 27 ms for the first, about 7 from the twelfth on): they
// are reported on their own, and the percentiles are those of the
// erasures after them.
func BenchmarkErasure(b *testing.B) {
	rb := newRequestBench(b)
	ctx := context.Background()
	const warm, people = 12, 100
	for i := 0; i < b.N; i++ {
		var first, ds []time.Duration
		for n := 0; n < warm+people; n++ {
			p := rb.person(b, i*(warm+people)+n, 50)
			id := rb.approved(b, dsr.Erasure, p)
			start := time.Now()
			if err := rb.svc.Execute(ctx, id); err != nil {
				b.Fatal(err)
			}
			if n < warm {
				first = append(first, time.Since(start))
			} else {
				ds = append(ds, time.Since(start))
			}
			if r, err := rb.db.Request(ctx, id); err != nil || r.State != dsr.Completed {
				b.Fatalf("request %s: %v %v", id, r.State, err)
			}
		}
		p50, p95 := percentile(ds, 0.5), percentile(ds, 0.95)
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
		fmt.Fprintf(os.Stderr, "erasure of a person with 50 records over 4 departments: p50 %s, p95 %s (%d people after the process's first %d, which took p50 %s, max %s; target: keep p95 at 9.0 ms or better)\n",
			p50.Round(time.Microsecond), p95.Round(time.Microsecond), people, warm,
			percentile(first, 0.5).Round(time.Microsecond), first[len(first)-1].Round(time.Microsecond))
	}
}

// BenchmarkAccessExport builds the export of a person whose data was read
// 1,000 times (audit entries), through the audited download path, and
// reports the p50 and p95 of one download.
func BenchmarkAccessExport(b *testing.B) {
	rb := newRequestBench(b)
	ctx := context.Background()
	p := rb.person(b, 1, 12)
	entries := make([]audit.Entry, 0, 1000)
	for i := 0; i < 1000; i++ {
		entries = append(entries, audit.Entry{PrincipalKind: "staff", Principal: fmt.Sprintf("reader-%d", i%17), Department: "support",
			Action: "read", Purpose: "support", Profiles: []string{p.String()}, Fields: []string{"email", "given_name"},
			DecisionID: uuid.NewString(), PolicyRevision: "bench", Outcome: audit.Allowed})
	}
	for i := 0; i < len(entries); i += 100 {
		if _, err := rb.writer.RecordAll(ctx, entries[i:i+100]); err != nil {
			b.Fatal(err)
		}
	}
	id := rb.approved(b, dsr.Access, p)
	if err := rb.svc.Execute(ctx, id); err != nil {
		b.Fatal(err)
	}
	dpo := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: "dpo", Department: "legal", Roles: []auth.Role{auth.RoleDPO}}}
	for i := 0; i < b.N; i++ {
		var ds []time.Duration
		for n := 0; n < 20; n++ {
			start := time.Now()
			x, err := rb.svc.DownloadExport(ctx, dpo, id)
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			if len(x.Reads) < 1000 || len(x.Records) != 12 {
				b.Fatalf("export: %d reads, %d records", len(x.Reads), len(x.Records))
			}
		}
		p50, p95 := percentile(ds, 0.5), percentile(ds, 0.95)
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
		fmt.Fprintf(os.Stderr, "access export with 1,000+ audit entries: p50 %s, p95 %s (20 downloads; target: keep p95 at 20.1 ms or better)\n",
			p50.Round(time.Microsecond), p95.Round(time.Microsecond))
	}
}
