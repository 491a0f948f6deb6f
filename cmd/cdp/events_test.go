package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// Interactions are imported from the terminal: tied to their customer
// records, a resent file changes nothing, bad lines are named and the
// exit says so.
func TestEventsImportCommand(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("migrate")
	e.mustRun("keys", "generate")
	e.mustRun("sources", "add", "shop", "--department", "sales")
	dir := t.TempDir()
	customers := filepath.Join(dir, "customers.csv")
	os.WriteFile(customers, []byte("source_id,given_name,family_name,email\nc1,Anna,Lind,anna@example.com\n"), 0o644)
	e.mustRun("import", "--source", "shop", customers)
	events := filepath.Join(dir, "orders.csv")
	os.WriteFile(events, []byte("source,source_id,record_source_id,type,channel,occurred_at,amount,currency,gift_note\n"+
		"shop,o1,c1,order,web,2026-02-01,19.99,EUR,for Ben\n"+
		"shop,o2,c1,order,store,2026-02-03T12:00:00Z,5,EUR,\n"+
		"shop,o3,c9,order,web,2026-02-04,5,EUR,\n"+
		"shop,o4,c1,order,web,2026-02-05,5,,\n"), 0o644)
	code, out, errs := e.run("events", "import", events)
	if code != exitRejected || !strings.Contains(out, "2 created, 0 unchanged, 2 rejected") ||
		!strings.Contains(errs, "line 4: record_source_id") || !strings.Contains(errs, "line 5: currency") {
		t.Fatalf("events import: exit %d\n%s\n%s", code, out, errs)
	}
	if _, out, _ := e.run("events", "import", events); !strings.Contains(out, "0 created, 2 unchanged") {
		t.Errorf("the same file again: %s", out)
	}
	if n := pgtest.Count(t, e.dbURL, "SELECT count(*) FROM interactions WHERE position('for Ben'::bytea in attrs) > 0"); n != 0 {
		t.Error("an interaction's text is stored in the clear")
	}
	if out := e.mustRun("events", "retention", "shop", "order", "--days", "730"); !strings.Contains(out, "kept 730 days") {
		t.Errorf("events retention: %s", out)
	}
	if code, _, errs := e.run("events", "retention", "nowhere", "order", "--days", "730"); code == 0 || errs == "" {
		t.Errorf("retention of an unknown source: exit %d", code)
	}
	// Standard input is told by its first byte, like cdp import's: NDJSON
	// here, once read as a CSV header.
	ndjson := `{"source":"shop","source_id":"o5","record_source_id":"c1","type":"ticket","channel":"email","occurred_at":"2026-02-06"}` + "\n"
	if code, out, errs := e.runStdin(ndjson, "events", "import", "-"); code != 0 || !strings.Contains(out, "1 created") {
		t.Errorf("NDJSON on standard input: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := e.run("events", "import", filepath.Join(dir, "missing.csv")); code == 0 || !strings.Contains(errs, "missing.csv") {
		t.Errorf("a missing file: exit %d: %s", code, errs)
	}
}
