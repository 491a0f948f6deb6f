package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/vault"
)

// memStore is an in-memory Store with the semantics the contract states,
// to test the pipeline on its own. The PostgreSQL store is tested against
// the same contract in package postgres.
type memStore struct {
	mu       sync.Mutex
	records  map[string]Existing
	batches  int
	failAt   int // fail the n-th batch (1-based); 0 never
	maxBatch int
}

func newMemStore() *memStore { return &memStore{records: map[string]Existing{}} }

func (m *memStore) UpsertRecords(_ context.Context, _ string, batch []*Sealed, reseal func(*Sealed, Existing) error) ([]Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	if m.batches == m.failAt {
		return nil, errors.New("disk on fire")
	}
	m.maxBatch = max(m.maxBatch, len(batch))
	seen := map[string]bool{}
	out := make([]Outcome, len(batch))
	staged := map[string]Existing{}
	for i, s := range batch {
		k := s.Source + "\x00" + string(s.SourceKey)
		if seen[k] {
			return nil, fmt.Errorf("batch holds %q twice", k)
		}
		seen[k] = true
		ex, ok := m.records[k]
		switch {
		case !ok:
			out[i] = Outcome{ID: s.ID, Status: StatusCreated}
		case bytes.Equal(ex.Fingerprint, s.Fingerprint):
			out[i] = Outcome{ID: ex.ID, Status: StatusUnchanged}
			continue
		default:
			if err := reseal(s, ex); err != nil {
				return nil, err
			}
			if s.Key.ID != ex.ID || s.ID != ex.ID {
				return nil, errors.New("reseal did not adopt the stored key")
			}
			out[i] = Outcome{ID: ex.ID, Status: StatusUpdated}
		}
		staged[k] = Existing{ID: s.ID, KEK: s.Key.KEK, Wrapped: s.Key.Wrapped, Fingerprint: s.Fingerprint}
	}
	for k, v := range staged {
		m.records[k] = v
	}
	return out, nil
}

func testImporter(t testing.TB, store Store) Importer {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	kr, err := vault.ParseKeyring(strings.NewReader(id.String()))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := vault.NewKeys(kr)
	for i := range keys {
		keys[i].ID = int32(i + 1)
	}
	v, err := vault.Open(kr, keys)
	if err != nil {
		t.Fatal(err)
	}
	return Importer{Vault: v, Store: store, Normalizer: identity.Normalizer{DefaultRegion: "GB"}, BatchSize: 4, Workers: 3}
}

func csvOf(rows ...string) string {
	return "source,source_id,given_name,email\n" + strings.Join(rows, "\n") + "\n"
}

func TestImportResultsInInputOrder(t *testing.T) {
	store := newMemStore()
	im := testImporter(t, store)
	var rows []string
	for i := range 103 {
		rows = append(rows, fmt.Sprintf("sales,%d,Name%d,", i, i))
	}
	rows = append(rows, "sales,,Nobody,") // rejected
	r, _ := NewCSVReader(strings.NewReader(csvOf(rows...)), Options{})
	var lines []int
	sum, err := im.Import(context.Background(), r, func(res Result) { lines = append(lines, res.Line) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 103 || sum.Rejected != 1 || len(lines) != 104 {
		t.Fatalf("summary %+v, %d results", sum, len(lines))
	}
	for i, l := range lines {
		if l != i+2 {
			t.Fatalf("result %d is line %d: results out of order", i, l)
		}
	}
	if store.maxBatch > 4 {
		t.Errorf("batch of %d records, want at most BatchSize 4", store.maxBatch)
	}
	if rs := sum.RejectReasons(); len(rs) != 1 || rs[0].Problem != "source_id: required" || rs[0].Lines[0] != 105 {
		t.Errorf("reject reasons %+v", rs)
	}
}

func TestImportAppliesRepeatsInOrder(t *testing.T) {
	store := newMemStore()
	im := testImporter(t, store)
	r, _ := NewCSVReader(strings.NewReader(csvOf(
		"sales,1,Anna,a@example.com",
		"sales,1,Anna,anna@example.com",
		"sales,2,Ben,",
		"sales,1,Anna,anna@example.com",
		"sales,1,Anna,a@example.com",
	)), Options{})
	var got []Status
	if _, err := im.Import(context.Background(), r, func(res Result) { got = append(got, res.Status) }); err != nil {
		t.Fatal(err)
	}
	want := []Status{StatusCreated, StatusUpdated, StatusCreated, StatusUnchanged, StatusUpdated}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
}

func TestImportStopsAtAStoreFailureWithoutLosingEarlierBatches(t *testing.T) {
	var rows []string
	for i := range 40 {
		rows = append(rows, fmt.Sprintf("sales,%d,N,", i))
	}
	run := func(writers int) (Summary, int, []int) {
		store := newMemStore()
		store.failAt = 3
		im := testImporter(t, store)
		im.Writers = writers
		r, _ := NewCSVReader(strings.NewReader(csvOf(rows...)), Options{})
		var lines []int
		sum, err := im.Import(context.Background(), r, func(res Result) { lines = append(lines, res.Line) })
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("Import: %v, want the store's error", err)
		}
		return sum, len(store.records), lines
	}
	if sum, stored, _ := run(1); sum.Created != 8 || stored != 8 {
		t.Errorf("one writer: summary %+v, stored %d: want the two batches before the failure", sum, stored)
	}
	// With several writers, the others' batches are written too: the
	// summary and the results count exactly what was stored, in order.
	sum, stored, lines := run(3)
	if sum.Created != stored || len(lines) != stored || stored >= 40 {
		t.Errorf("three writers: summary %+v, %d results, stored %d", sum, len(lines), stored)
	}
	if !slices.IsSorted(lines) {
		t.Errorf("results out of input order: %v", lines)
	}
}

func TestImportChecksSources(t *testing.T) {
	im := testImporter(t, newMemStore())
	im.Sources = func(name string) error {
		if name == "sales" {
			return nil
		}
		return ErrUnknownSource
	}
	r, _ := NewCSVReader(strings.NewReader(csvOf("sales,1,A,", "hr,2,B,")), Options{})
	sum, err := im.Import(context.Background(), r, nil)
	if err != nil || sum.Created != 1 || sum.Rejected != 1 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
}

func TestImportCanceled(t *testing.T) {
	im := testImporter(t, newMemStore())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, _ := NewCSVReader(strings.NewReader(csvOf("sales,1,A,")), Options{})
	if _, err := im.Import(ctx, r, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Import with a canceled context: %v", err)
	}
}
