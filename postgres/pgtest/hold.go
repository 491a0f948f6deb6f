package pgtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A Hold stops the transactions that fire a trigger inside the statement
// that fired it, until the test lets them go: tests kill a process while
// its transaction is held, to see what the death of a process in the
// middle of a transaction leaves.
//
// The trigger waits for an advisory lock the test holds. It is created
// with the owner's connection and fires for every role, the service's
// included. A waiting transaction shows in pg_locks, which any role may
// read, so Wait needs no privilege; and unlike pg_sleep, which runs to its
// end whether or not the client is still there, the wait ends when the
// test says so: Release lets the transaction of a killed process go on,
// to find its connection gone and roll back.
type Hold struct {
	t    testing.TB
	conn *pgx.Conn
	name string
	key  int64
	once sync.Once
}

// holdKey is the first advisory lock key of holds (two-key locks, which
// the service takes, are another space).
const holdKey = 0x7067_7465_7374_0000

var holds atomic.Int64

// NewHold creates a trigger on the database at dbURL (the owner's) that
// holds the transactions firing it; on is the trigger's definition
// between its name and EXECUTE FUNCTION, e.g.
//
//	AFTER INSERT ON profile_members FOR EACH STATEMENT
//
// The trigger's function passes the row on unchanged. Release, or the end
// of the test, drops it.
func NewHold(t testing.TB, dbURL, on string) *Hold {
	t.Helper()
	n := holds.Add(1)
	h := &Hold{t: t, conn: connect(t, dbURL), name: fmt.Sprintf("pgtest_hold_%d", n), key: holdKey + n}
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("SELECT pg_advisory_lock(%d)", h.key),
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				PERFORM pg_advisory_xact_lock(%d);
				IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
				RETURN NEW;
			END $$`, h.name, h.key),
		fmt.Sprintf("CREATE TRIGGER %s %s EXECUTE FUNCTION %s()", h.name, on, h.name),
	} {
		if _, err := h.conn.Exec(ctx, q); err != nil {
			h.conn.Close(ctx)
			t.Fatalf("hold: %s: %v", q, err)
		}
	}
	t.Cleanup(h.Release)
	return h
}

// Wait waits up to d for a transaction to be held and reports whether
// one is.
func (h *Hold) Wait(d time.Duration) bool {
	h.t.Helper()
	for deadline := time.Now().Add(d); ; {
		var held bool
		err := h.conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND (classid::bigint << 32 | objid::bigint) = $1)`, h.key).Scan(&held)
		if err != nil {
			h.t.Fatalf("hold: %v", err)
		}
		if held {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Release lets the held transactions go on and drops the trigger. It
// returns once the trigger is gone, which is once the transactions that
// fired it have ended: those of a killed process roll back, having no
// client left to commit them.
func (h *Hold) Release() {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		defer h.conn.Close(context.Background())
		for _, q := range []string{
			fmt.Sprintf("SELECT pg_advisory_unlock(%d)", h.key),
			fmt.Sprintf("DROP FUNCTION %s() CASCADE", h.name), // and its trigger
		} {
			if _, err := h.conn.Exec(ctx, q); err != nil {
				h.t.Errorf("release hold: %s: %v", q, err)
				return
			}
		}
	})
}
