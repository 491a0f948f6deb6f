package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdp-project/cdp/audit"
)

func entry(i int) audit.Entry {
	return audit.Entry{
		At: time.Date(2026, 11, 22, 10, 0, i, 0, time.UTC), PrincipalKind: "staff", Principal: fmt.Sprintf("p%d", i%3),
		Department: "support", Action: "read", Purpose: "support",
		Profiles: []string{"0192f1e4-0000-7000-8000-00000000000" + fmt.Sprint(i%10)}, Fields: []string{"email", "phone"},
		DecisionID: fmt.Sprintf("d%d", i), PolicyRevision: "rev", RequestID: fmt.Sprintf("r%d", i), Client: "c", Outcome: audit.Allowed,
	}
}

func chain(n int) []audit.Entry {
	es := make([]audit.Entry, n)
	for i := range es {
		es[i] = entry(i)
	}
	audit.Link(audit.Head{}, es[:n/2])
	audit.Link(audit.Head{Seq: es[n/2-1].Seq, Hash: es[n/2-1].Hash}, es[n/2:])
	return es
}

func verify(t *testing.T, pub ed25519.PublicKey, cps []audit.Checkpoint, es []audit.Entry) error {
	t.Helper()
	v, err := audit.NewVerifier(pub, cps)
	if err != nil {
		return err
	}
	for i := range es {
		if err := v.Next(&es[i]); err != nil {
			return err
		}
	}
	_, err = v.Finish()
	return err
}

func TestChainVerifies(t *testing.T) {
	es := chain(10)
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	if err := verify(t, nil, nil, es); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsNamed(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		damage func([]audit.Entry) []audit.Entry
		want   string
	}{
		{"changed field", func(es []audit.Entry) []audit.Entry { es[4].Purpose = "marketing"; return es }, "entry 5 was changed"},
		{"changed field list", func(es []audit.Entry) []audit.Entry { es[2].Fields = []string{"email"}; return es }, "entry 3 was changed"},
		{"changed time", func(es []audit.Entry) []audit.Entry { es[6].At = es[6].At.Add(time.Second); return es }, "entry 7 was changed"},
		{"deleted", func(es []audit.Entry) []audit.Entry { return append(es[:3], es[4:]...) }, "entry 5 follows entry 3"},
		{"reordered", func(es []audit.Entry) []audit.Entry { es[3], es[4] = es[4], es[3]; return es }, "entry 5 follows entry 3"},
		{"renumbered after a deletion", func(es []audit.Entry) []audit.Entry {
			es = append(es[:3], es[4:]...)
			for i := 3; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, "entry 4 does not continue the chain"},
		{"inserted by hand", func(es []audit.Entry) []audit.Entry {
			forged := entry(99)
			forged.Seq, forged.Prev = 4, es[2].Hash
			forged.Hash = audit.ChainHash(forged.Prev, &forged)
			return append(es[:3], append([]audit.Entry{forged}, es[3:]...)...)
		}, "entry 4 follows entry 4"},
		{"tail deleted", func(es []audit.Entry) []audit.Entry { return es[:7] }, "a checkpoint signs entry 8 but the log ends at entry 7"},
		{"rewritten from a point on", func(es []audit.Entry) []audit.Entry {
			es[5].Principal = "someone-else"
			audit.Link(audit.Head{Seq: es[4].Seq, Hash: es[4].Hash}, es[5:])
			return es
		}, "entry 8 differs from the signed checkpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := chain(10)
			cps := []audit.Checkpoint{audit.Sign(key, audit.Head{Seq: 8, Hash: es[7].Hash}, time.Now())}
			if err := verify(t, pub, cps, es); err != nil {
				t.Fatalf("intact chain: %v", err)
			}
			err := verify(t, pub, cps, tc.damage(es))
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCanonicalEncodingIsUnambiguous(t *testing.T) {
	a, b := entry(1), entry(1)
	a.Principal, a.Department = "ab", "c"
	b.Principal, b.Department = "a", "bc"
	if bytes.Equal(a.Canonical(), b.Canonical()) {
		t.Error("moving a byte between fields does not change the encoding")
	}
	a, b = entry(1), entry(1)
	a.Fields, a.Profiles = []string{"x"}, nil
	b.Fields, b.Profiles = nil, []string{"x"}
	if bytes.Equal(a.Canonical(), b.Canonical()) {
		t.Error("moving an item between lists does not change the encoding")
	}
}

func TestCheckpoints(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	es := chain(20)
	c5 := audit.Sign(key, audit.Head{Seq: 5, Hash: es[4].Hash}, time.Now())
	c15 := audit.Sign(key, audit.Head{Seq: 15, Hash: es[14].Hash}, time.Now())
	if !c5.VerifySignature(pub) || c5.VerifySignature(otherPub) {
		t.Fatal("signature checks the wrong key")
	}

	t.Run("range from a checkpoint", func(t *testing.T) {
		v, err := audit.NewRangeVerifier(pub, c5, []audit.Checkpoint{c15})
		if err != nil {
			t.Fatal(err)
		}
		for i := 5; i < 15; i++ {
			if err := v.Next(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		r, err := v.Finish()
		if err != nil || r.Entries != 10 || r.Checkpoints != 1 || r.LastSeq != 15 {
			t.Fatalf("report %+v, %v", r, err)
		}
	})
	t.Run("range whose entries were rewritten", func(t *testing.T) {
		forged := append([]audit.Entry(nil), es...)
		forged[9].Outcome = audit.Denied
		audit.Link(audit.Head{Seq: 9, Hash: forged[8].Hash}, forged[9:])
		v, _ := audit.NewRangeVerifier(pub, c5, []audit.Checkpoint{c15})
		var err error
		for i := 5; i < 15 && err == nil; i++ {
			err = v.Next(&forged[i])
		}
		if err == nil || !strings.Contains(err.Error(), "entry 15 differs from the signed checkpoint") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("forged signature", func(t *testing.T) {
		bad := c15
		bad.Hash = es[13].Hash
		if _, err := audit.NewVerifier(pub, []audit.Checkpoint{bad}); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("altered checkpoint accepted: %v", err)
		}
		foreign := audit.Sign(otherKey, audit.Head{Seq: 15, Hash: es[14].Hash}, time.Now())
		if _, err := audit.NewRangeVerifier(pub, foreign, nil); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("checkpoint of another key accepted: %v", err)
		}
	})
}

// memStore is an honest in-memory audit.Store: one lock stands for the
// database's transaction and advisory lock.
type memStore struct {
	mu          sync.Mutex
	entries     []audit.Entry
	checkpoints []audit.Checkpoint
	fail        error
	commits     int
}

func (m *memStore) AuditHead(ctx context.Context) (audit.Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return audit.Head{}, m.fail
	}
	if n := len(m.entries); n > 0 {
		return audit.Head{Seq: m.entries[n-1].Seq, Hash: m.entries[n-1].Hash}, nil
	}
	return audit.Head{}, nil
}

func (m *memStore) InsertAudit(ctx context.Context, es []audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if es[0].Seq != int64(len(m.entries))+1 {
		return audit.ErrRace // the primary key on seq refuses it
	}
	m.entries = append(m.entries, es...)
	m.commits++
	time.Sleep(time.Millisecond) // a commit takes time: others gather meanwhile
	return nil
}

func (m *memStore) AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints = append(m.checkpoints, c)
	return nil
}

func TestWriterGroupsConcurrentEntries(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	st := &memStore{}
	w := audit.NewWriter(st, audit.WriterOptions{Key: key, CheckpointEvery: 100})
	const n = 1000
	var wg sync.WaitGroup
	got := make([]audit.Entry, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := w.Record(context.Background(), entry(i))
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		}(i)
	}
	wg.Wait()
	w.Close()
	for i, e := range got {
		if e.Seq == 0 || e.DecisionID != fmt.Sprintf("d%d", i) || len(e.Hash) == 0 {
			t.Fatalf("Record returned entry %+v for request %d", e, i)
		}
	}
	batches, entries := w.Stats()
	if entries != n || batches >= n/4 {
		t.Errorf("%d entries in %d commits: concurrent entries were not grouped", entries, batches)
	}
	if len(st.checkpoints) == 0 {
		t.Error("no checkpoint written")
	}
	if err := verify(t, pub, st.checkpoints, st.entries); err != nil {
		t.Fatal(err)
	}
}

func TestWriterFailsClosed(t *testing.T) {
	st := &memStore{fail: errors.New("permission denied for table audit_log")}
	w := audit.NewWriter(st, audit.WriterOptions{})
	defer w.Close()
	if _, err := w.Record(context.Background(), entry(1)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	e, err := w.Record(context.Background(), entry(2))
	if err != nil || e.Seq != 1 {
		t.Fatalf("after recovery: %+v, %v", e, err)
	}
}

func TestWriterAfterClose(t *testing.T) {
	w := audit.NewWriter(&memStore{}, audit.WriterOptions{})
	w.Close()
	if _, err := w.Record(context.Background(), entry(1)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}

// TestWritersOfTwoProcessesNeverFork runs two writers on one store, as two
// serve processes on one database: each learns of the other's entries by
// losing a race, and the chain stays one.
func TestWritersOfTwoProcessesNeverFork(t *testing.T) {
	st := &memStore{}
	a := audit.NewWriter(st, audit.WriterOptions{})
	b := audit.NewWriter(st, audit.WriterOptions{})
	var wg sync.WaitGroup
	for i := 0; i < 400; i++ {
		w := a
		if i%2 == 1 {
			w = b
		}
		wg.Add(1)
		go func(i int, w *audit.Writer) {
			defer wg.Done()
			if _, err := w.Record(context.Background(), entry(i)); err != nil {
				t.Error(err)
			}
		}(i, w)
	}
	wg.Wait()
	a.Close()
	b.Close()
	if len(st.entries) != 400 {
		t.Fatalf("%d entries stored, want 400", len(st.entries))
	}
	if err := verify(t, nil, nil, st.entries); err != nil {
		t.Fatal(err)
	}
}

// blockedCheckpoints holds every checkpoint until released.
type blockedCheckpoints struct {
	*memStore
	release chan struct{}
	started chan struct{}
}

func (b *blockedCheckpoints) AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	b.started <- struct{}{}
	<-b.release
	return b.memStore.AppendCheckpoint(ctx, c)
}

// A checkpoint is stored beside the appends: entries that arrive while one
// is being stored are committed without waiting for it, and closing the
// writer still signs its last head.
func TestWriterDoesNotWaitForCheckpoints(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	st := &blockedCheckpoints{memStore: &memStore{}, release: make(chan struct{}), started: make(chan struct{}, 8)}
	w := audit.NewWriter(st, audit.WriterOptions{Key: key, CheckpointEvery: 2})
	ctx := context.Background()
	for i := range 2 {
		if _, err := w.Record(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-st.started // the checkpoint of entry 2 is being stored, and stays so
	done := make(chan error, 1)
	go func() {
		_, err := w.Record(ctx, entry(2))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an entry waited for a checkpoint being stored")
	}
	go func() {
		for range st.started {
		}
	}()
	close(st.release)
	w.Close()
	close(st.started)
	if len(st.checkpoints) < 2 || st.checkpoints[len(st.checkpoints)-1].Seq != 3 {
		t.Fatalf("checkpoints %+v: the last head (3) is not signed", st.checkpoints)
	}
	if err := verify(t, pub, st.checkpoints, st.entries); err != nil {
		t.Fatal(err)
	}
}
