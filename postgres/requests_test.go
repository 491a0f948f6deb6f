package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// A transition is one call of dsr_transition (migration 0027): it moves a
// request only from the state it names, numbers the request's events in
// order, and commits a redoable change without waiting for the disk, and
// no other.
func TestRequestTransitions(t *testing.T) {
	t.Parallel()
	app, _, u := pgtest.NewAppStore(t)
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, u, pgtest.InsertRequest, id, "erasure", "approved", uuid.New(), nil)
	at := time.Now().UTC()
	ev := dsr.StoredEvent{Event: dsr.Event{Actor: "system:jobs", At: at}}

	if err := app.Transition(ctx, id, dsr.Approved, dsr.InProgress, dsr.Change{Redoable: true}, ev); err != nil {
		t.Fatal(err)
	}
	if err := app.Transition(ctx, id, dsr.Approved, dsr.InProgress, dsr.Change{}, ev); !errors.Is(err, dsr.ErrTransition) {
		t.Fatalf("a second move from approved: %v; want ErrTransition", err)
	}
	if err := app.Transition(ctx, id, dsr.InProgress, dsr.Completed, dsr.Change{Outcome: `{"done":true}`}, ev); err != nil {
		t.Fatal(err)
	}
	got := pgtest.Query(t, u, `SELECT string_agg(seq || ':' || from_state || '>' || to_state, ' ' ORDER BY seq) FROM dsr_events WHERE request_id = $1`, id)
	if want := "1:approved>in_progress 2:in_progress>completed"; got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
	if got := pgtest.Query(t, u, "SELECT state || ' ' || outcome || ' ' || (closed_at IS NOT NULL) FROM dsr_requests WHERE id = $1", id); got != `completed {"done":true} true` {
		t.Fatalf("request %q", got)
	}

	// The test cluster commits without waiting for the disk anyway: each
	// transaction below asks for the wait first.
	for _, lazy := range []bool{true, false} {
		tx := pgtest.Begin(t, pgtest.AppURL(t, u))
		var after string
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT dsr_transition($1, 'completed', 'completed', now(), NULL, NULL, 0, '', NULL, NULL, 'test', NULL, $2)`,
			id, lazy); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&after); err != nil {
			t.Fatal(err)
		}
		if (after == "off") != lazy {
			t.Errorf("redoable %v: synchronous_commit %q at the commit", lazy, after)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
