package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

func TestMigrateIsIdempotentAndCurrent(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewStore(t)
	ctx := context.Background()
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("template database should be migrated already, applied %v", applied)
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Current() {
		t.Errorf("status %+v, want current", st)
	}
}

func TestMigrationStatusOfEmptyDatabase(t *testing.T) {
	t.Parallel()
	db, u := pgtest.NewStore(t)
	ctx := context.Background()
	// Simulate a database that was never migrated.
	pgtest.Exec(t, u, "DROP TABLE schema_migrations")
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current() || len(st.Pending) == 0 {
		t.Errorf("status %+v, want pending migrations", st)
	}
}

func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	t.Parallel()
	db, u := pgtest.NewStore(t)
	ctx := context.Background()
	pgtest.Exec(t, u, "UPDATE schema_migrations SET checksum = '\\x00' WHERE version = 1")
	if _, err := db.Migrate(ctx); !errors.Is(err, postgres.ErrSchema) {
		t.Fatalf("Migrate: %v, want ErrSchema", err)
	}
}

func newVault(t *testing.T, db *postgres.DB) *vault.Vault {
	t.Helper()
	kr, err := vault.ParseKeyring(strings.NewReader(testIdentity))
	if err != nil {
		t.Fatal(err)
	}
	keys, created, err := db.EnsureVaultKeys(context.Background(), func() ([]vault.StoredKey, error) { return vault.NewKeys(kr) })
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("fresh database should get new vault keys")
	}
	v, err := vault.Open(kr, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testIdentity is a master identity made for this test binary.
var testIdentity = func() string {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(err)
	}
	return id.String() + "\n"
}()

func TestEnsureVaultKeysAgreesUnderConcurrency(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewStore(t)
	kr, err := vault.ParseKeyring(strings.NewReader(testIdentity))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]vault.StoredKey, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, _, err := db.EnsureVaultKeys(context.Background(), func() ([]vault.StoredKey, error) { return vault.NewKeys(kr) })
			if err != nil {
				t.Error(err)
			}
			results[i] = keys
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if len(r) != 2 || r[0].ID != results[0][0].ID || r[1].ID != results[0][1].ID {
			t.Fatalf("callers disagree on the vault keys: %v vs %v", r, results[0])
		}
	}
}

func testImporter(t *testing.T, db *postgres.DB) ingest.Importer {
	t.Helper()
	ctx := context.Background()
	for _, s := range []string{"sales", "billing"} {
		if _, err := db.AddSource(ctx, identity.Source{Name: s, Department: s, Priority: 100}); err != nil {
			t.Fatal(err)
		}
	}
	nz, err := identity.NewNormalizer("GB", identity.DMY)
	if err != nil {
		t.Fatal(err)
	}
	return ingest.Importer{Vault: newVault(t, db), Store: db, Normalizer: nz, Actor: "test:importer", BatchSize: 3}
}

func importCSV(t *testing.T, im ingest.Importer, csv string) (ingest.Summary, []ingest.Result) {
	t.Helper()
	r, err := ingest.NewCSVReader(strings.NewReader(csv), ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var results []ingest.Result
	sum, err := im.Import(context.Background(), r, func(res ingest.Result) { results = append(results, res) })
	if err != nil {
		t.Fatal(err)
	}
	return sum, results
}

const header = "source,source_id,given_name,family_name,email,phone,country\n"

func TestUpsertCreatesUpdatesAndKeepsHistory(t *testing.T) {
	t.Parallel()
	db, u := pgtest.NewStore(t)
	im := testImporter(t, db)
	ctx := context.Background()

	sum, first := importCSV(t, im, header+
		"sales,s1,Anna,Schmidt,anna@example.com,07700 900123,GB\n"+
		"sales,s2,Ben,Jones,ben@example.com,,GB\n"+
		"billing,b1,Anna,Schmidt,anna@example.com,,GB\n")
	if sum.Created != 3 || sum.Total() != 3 {
		t.Fatalf("first import: %+v", sum)
	}

	keyBefore := pgtest.Query(t, u, "SELECT encode(wrapped_key, 'hex') FROM records WHERE id = $1", first[1].RecordID)
	// Same records again: unchanged. One changed: updated, same id.
	sum, second := importCSV(t, im, header+
		"sales,s1,Anna,Schmidt,anna@example.com,07700 900123,GB\n"+
		"sales,s2,Ben,Jones,ben.jones@example.com,,GB\n"+
		"billing,b1,Anna,Schmidt,anna@example.com,,GB\n")
	if sum.Unchanged != 2 || sum.Updated != 1 || sum.Created != 0 {
		t.Fatalf("second import: %+v", sum)
	}
	for i := range first {
		if first[i].RecordID != second[i].RecordID {
			t.Errorf("record %d changed id: %v -> %v", i, first[i].RecordID, second[i].RecordID)
		}
	}
	if second[1].Status != ingest.StatusUpdated {
		t.Errorf("second record status %s, want updated", second[1].Status)
	}
	n, err := db.RecordCount(ctx)
	if err != nil || n != 3 {
		t.Fatalf("RecordCount = %d, %v; want 3", n, err)
	}
	if versions := pgtest.Count(t, u, "SELECT count(*) FROM record_versions WHERE record_id = $1 AND version = 1", second[1].RecordID); versions != 1 {
		t.Fatalf("history rows = %d; want the first version kept", versions)
	}
	if keyAfter := pgtest.Query(t, u, "SELECT encode(wrapped_key, 'hex') FROM records WHERE id = $1", second[1].RecordID); keyAfter != keyBefore {
		t.Fatalf("the updated record changed its subject key: a record keeps one key for life")
	}
	if keys := pgtest.Count(t, u, "SELECT count(DISTINCT wrapped_key) FROM records"); keys != 3 {
		t.Fatalf("%d distinct subject keys; want one per record", keys)
	}
}

func TestRepeatedRecordInOneFileIsAppliedInOrder(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewStore(t)
	im := testImporter(t, db)
	sum, res := importCSV(t, im, header+
		"sales,s1,Anna,Schmidt,anna@example.com,,GB\n"+
		"sales,s1,Anna,Schmidt,anna.schmidt@example.com,,GB\n"+
		"sales,s1,Anna,Schmidt,anna.schmidt@example.com,,GB\n")
	if sum.Created != 1 || sum.Updated != 1 || sum.Unchanged != 1 {
		t.Fatalf("summary %+v, want created, updated, unchanged", sum)
	}
	if res[0].RecordID != res[2].RecordID {
		t.Errorf("one source id gave two records")
	}
}

// An import spreads its records over several writers by lane. Whatever
// the writers' pace, results come in input order, a record repeated later
// in the file ends as its last version, and rejected lines keep their
// place.
func TestWritersKeepInputOrder(t *testing.T) {
	t.Parallel()
	db, u := pgtest.NewStore(t)
	im := testImporter(t, db)
	im.Writers, im.BatchSize = 3, 7
	var csv strings.Builder
	csv.WriteString(header)
	const n = 300
	for i := range n {
		switch {
		case i%50 == 49:
			csv.WriteString("nowhere,x" + strconv.Itoa(i) + ",Anna,Schmidt,,,GB\n") // unknown source: rejected
		case i >= 200:
			// the first hundred again, with a new address
			fmt.Fprintf(&csv, "sales,s%d,Anna,Schmidt,anna%d@new.example.com,,GB\n", i-200, i-200)
		default:
			fmt.Fprintf(&csv, "sales,s%d,Anna,Schmidt,anna%d@example.com,,GB\n", i, i)
		}
	}
	im.Sources = func(name string) error {
		if name == "nowhere" {
			return ingest.ErrUnknownSource
		}
		return nil
	}
	sum, res := importCSV(t, im, csv.String())
	if len(res) != n {
		t.Fatalf("%d results for %d lines", len(res), n)
	}
	for i, r := range res {
		if r.Line != i+2 {
			t.Fatalf("result %d is of line %d: not in input order", i, r.Line)
		}
	}
	if sum.Rejected != 6 || sum.Created != 196 || sum.Updated != 98 || sum.Unchanged != 0 {
		t.Fatalf("summary %+v", sum)
	}
	for i := range 100 {
		if i%50 == 49 {
			continue
		}
		if res[i].RecordID != res[200+i].RecordID {
			t.Fatalf("s%d: two records for one source id", i)
		}
	}
	if v := pgtest.Count(t, u, "SELECT count(*) FROM records WHERE version = 2"); v != 98 {
		t.Fatalf("%d records at their second version, want 98", v)
	}
}

func TestConcurrentImportsOfTheSameRecords(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewStore(t)
	im := testImporter(t, db)
	csv := header
	for i := range 50 {
		csv += "sales,id" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ",Anna,Schmidt,,,GB\n"
	}
	var wg sync.WaitGroup
	sums := make([]ingest.Summary, 4)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := ingest.NewCSVReader(strings.NewReader(csv), ingest.Options{})
			s, err := im.Import(context.Background(), r, nil)
			if err != nil {
				t.Error(err)
			}
			sums[i] = s
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range sums {
		created += s.Created
	}
	if created != 50 {
		t.Errorf("created %d records over 4 concurrent imports of 50, want 50", created)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewStore(t)
	ctx := context.Background()
	tok, cred, err := auth.NewToken("crm-sync", "sales", []auth.Role{auth.RoleIngest}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	id, secret, err := auth.ParseCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.Token(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stored.Authenticate(secret, time.Now())
	if err != nil || p.ID != "crm-sync" || p.Department != "sales" || !p.Has(auth.RoleIngest) {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if strings.Contains(string(stored.SecretHash), string(secret)) {
		t.Fatal("secret stored in plaintext")
	}
	if err := db.RevokeToken(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	stored, _ = db.Token(ctx, id)
	if _, err := stored.Authenticate(secret, time.Now()); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := db.Token(ctx, "nosuchtoken0"); !errors.Is(err, postgres.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	db, url := pgtest.NewStore(t)
	ctx := context.Background()
	if _, err := db.AddSource(ctx, identity.Source{Name: "sales", Department: "sales", Priority: 70}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddSource(ctx, identity.Source{Name: "portal", Department: "customers"}); !errors.Is(err, derrors.ErrInvalid) {
		t.Errorf("a source of the customers' own department: %v, want ErrInvalid", err)
	}
	// The database refuses the built-in sources' departments to whatever
	// writes, and a purpose's departments outside the names' rule.
	for _, q := range []string{
		`INSERT INTO sources (name, department, priority) VALUES ('portal', 'subjects', 1)`,
		`INSERT INTO api_tokens (id, secret_hash, principal, department, roles) VALUES ('t1', '\x00', 'x', 'customers', '{reader}')`,
		`INSERT INTO staff (kratos_identity, department, roles, granted_by) VALUES (gen_random_uuid(), 'subjects', '{reader}', 'x')`,
		`UPDATE purposes SET departments = '{billing,customers}' WHERE id = 'billing'`,
		`UPDATE purposes SET departments = '{"Billing Dept"}' WHERE id = 'billing'`,
		`UPDATE purposes SET departments = '{""}' WHERE id = 'billing'`,
	} {
		if err := pgtest.TryExec(t, url, q); err == nil || !strings.Contains(err.Error(), "check constraint") {
			t.Errorf("%s: %v, want a check constraint's refusal", q, err)
		}
	}
	if err := pgtest.TryExec(t, url, `UPDATE purposes SET departments = '{billing,sales-eu}' WHERE id = 'billing'`); err != nil {
		t.Errorf("departments named by the rule: %v", err)
	}
	if _, err := db.AddSource(ctx, identity.Source{Name: "sales", Department: "sales"}); !errors.Is(err, postgres.ErrConflict) {
		t.Fatalf("duplicate source: %v", err)
	}
	// sales, and self_service and subject: the migrations register the
	// customers' own records and the values people correct themselves.
	srcs, err := db.Sources(ctx)
	if err != nil || len(srcs) != 3 || srcs[0].Priority != 70 || srcs[1].Name != "self_service" || !srcs[1].UniqueRecords ||
		srcs[2].Name != "subject" || srcs[2].Priority != 1000 {
		t.Fatalf("Sources = %+v, %v", srcs, err)
	}
}

// A full run writes its review pairs once each and leaves out the pairs a
// steward decided: they keep their decision and are not asked again.
func TestReviewPairsKeepDecisions(t *testing.T) {
	t.Parallel()
	db, u := pgtest.NewStore(t)
	ctx := context.Background()
	ids := make([]uuid.UUID, 4)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	x, y, z := ids[0], ids[1], ids[2]
	pgtest.Exec(t, u, `INSERT INTO review_pairs (id, record_a, record_b, probability, levels, reason, decided_at)
		VALUES ($1, $2, $3, 0.8, '{}', 'review_band', now())`, [16]byte(ids[3]), [16]byte(x), [16]byte(y))
	pair := func(a, b uuid.UUID, p float64) resolver.ReviewPair {
		return resolver.ReviewPair{A: a, B: b, Probability: p, Levels: identity.Explanation{}, Reason: resolver.ReasonReviewBand}
	}
	a := &resolver.Apply{RunID: uuid.Must(uuid.NewV7()), Kind: "full", Full: true, Actor: "test", Started: time.Now(),
		Members: map[uuid.UUID]uuid.UUID{}, Anchors: map[uuid.UUID]uuid.UUID{}, Previous: map[uuid.UUID]uuid.UUID{},
		Review: []resolver.ReviewPair{pair(y, z, 0.7), pair(x, y, 0.9), pair(x, z, 0.6), pair(y, z, 0.7)}}
	if err := db.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	got := pgtest.Query(t, u, `SELECT string_agg(concat_ws(':', record_a, record_b, probability, decided_at IS NOT NULL), ',' ORDER BY record_a, record_b)
		FROM review_pairs`)
	want := strings.Join([]string{x.String() + ":" + y.String() + ":0.8:t", x.String() + ":" + z.String() + ":0.6:f",
		y.String() + ":" + z.String() + ":0.7:f"}, ",")
	if got != want {
		t.Errorf("review pairs after a full run:\n got %s\nwant %s", got, want)
	}
}

// TestDeletedRowsFindTheirReferencesByIndex: deleting a record or a profile
// (an erasure, the retention sweep, a split) makes PostgreSQL find the rows
// that refer to it, one lookup per deleted row and foreign key, and the
// erasure and the resolver look rows up by the columns listed below.
// Without an index leading with the column each lookup reads the whole
// table, so an erasure slowed with every customer account, dispute, review
// pair and redirect ever stored (customer_links, disputes, review_pairs'
// record_b and profile_redirects' new_id had none).
func TestDeletedRowsFindTheirReferencesByIndex(t *testing.T) {
	t.Parallel()
	_, u := pgtest.NewStore(t)
	missing := pgtest.Query(t, u, `SELECT string_agg(c.conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid), '; ' ORDER BY 1)
		FROM pg_constraint c
		WHERE c.contype = 'f' AND c.confrelid IN ('records'::regclass, 'profiles'::regclass)
		AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
			AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
			AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)`)
	if missing != "" {
		t.Errorf("no index leads with the columns of: %s", missing)
	}
	// The columns the erasure (postgres/erasure.go) and the resolution's
	// writes delete and search by.
	searched := []string{
		"customer_links.record_id", "disputes.record_id", "consent_events.record_id", "interactions.record_id",
		"profile_members.record_id", "profile_members.profile_id", "record_versions.record_id",
		"identity_links.record_a", "identity_links.record_b", "identity_constraints.record_a", "identity_constraints.record_b",
		"review_pairs.record_a", "review_pairs.record_b", "profile_redirects.old_id", "profile_redirects.new_id",
		"profile_events.profile_id", "profile_traits.profile_id", "lifecycle_changes.profile_id",
		"segment_members.profile_id", "segment_changes.profile_id", "erased_profiles.profile_id",
	}
	for _, tc := range searched {
		table, column, _ := strings.Cut(tc, ".")
		if got := pgtest.Query(t, u, `SELECT count(*)::text FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::regclass AND a.attname = $2 AND i.indpred IS NULL`, table, column); got == "0" {
			t.Errorf("%s: no index leads with it", tc)
		}
	}
	// The queue is searched among the rows waiting and among those claimed
	// (migration 0024), each by an index of its own.
	for _, pred := range []string{"(NOT claimed)", "claimed"} {
		if got := pgtest.Query(t, u, `SELECT count(*)::text FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = 'trait_queue'::regclass AND a.attname = 'profile_id' AND pg_get_expr(i.indpred, i.indrelid) = $1`, pred); got == "0" {
			t.Errorf("trait_queue.profile_id WHERE %s: no index leads with it", pred)
		}
	}
}
