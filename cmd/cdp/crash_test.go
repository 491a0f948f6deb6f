package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// Records written by a process that died before linking them do not stay
// in no profile: the next process links them at start-up (and every sweep
// after). (httpapi's TestOrphansAreLinkedWhenSeen covers re-sending and
// erasure.)
func TestRecordsOrphanedByAKillAreLinked(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	a := e.startProcess(nil, "--dev", "--demo-people", "10")
	// Every linking from now on is held as it writes the memberships, its
	// transaction open, until the process is killed.
	linking := pgtest.NewHold(t, e.dbURL, "AFTER INSERT ON profile_members FOR EACH STATEMENT")
	const n = 10000
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"source":"sales","source_id":"crash-%d","given_name":"Orla%d","family_name":"Quist","email":"orla.quist.%d@example.org"}`, i, i, i)
	}
	b.WriteString("]")
	go func() { // answers never: the process dies
		req, _ := http.NewRequest("POST", a.url+"/v1/records", strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if !linking.Wait(120 * time.Second) {
		t.Fatalf("the write never reached its linking:\n%s", a.out.String())
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	linking.Release() // the killed linking rolls back
	unlinked := func() int64 {
		return pgtest.Count(t, e.dbURL, `SELECT count(*) FROM records r WHERE r.wrapped_key IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM profile_members m WHERE m.record_id = r.id)`)
	}
	// The write's batches committed before the kill are in no profile
	// (all of them, unless a sweep paused first, in the middle of the
	// write).
	if got := unlinked(); got == 0 {
		t.Fatalf("no record unlinked after the kill: the kill did not land between a write and its linking")
	}
	// The next process links them at start-up.
	e.startProcess(nil)
	for deadline := time.Now().Add(120 * time.Second); unlinked() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still in no profile two minutes after start-up", unlinked())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
