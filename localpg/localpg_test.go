package localpg

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestClusterLifecycle(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		t.Skip(err) // the other packages' tests fail loudly without PostgreSQL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &Cluster{Dir: filepath.Join(t.TempDir(), "pg"), Fast: true}
	t.Cleanup(func() { c.Stop(context.Background()) })
	url, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(c.stateFile())
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, %v: it holds the password", info.Mode().Perm(), err)
	}
	if again, err := c.Start(ctx); err != nil || again != url {
		t.Fatalf("second Start = %q, %v; want the running cluster %q", again, err, url)
	}
	if was, err := c.Stop(ctx); err != nil || !was {
		t.Fatalf("Stop = %v, %v", was, err)
	}
	if was, err := c.Stop(ctx); err != nil || was {
		t.Fatalf("second Stop = %v, %v; want not running", was, err)
	}
	// Someone takes the port while the cluster is down: it moves.
	st, _ := c.readState()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(st.Port)))
	if err == nil {
		defer l.Close()
	}
	moved, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := c.readState()
	if l != nil && st2.Port == st.Port {
		t.Errorf("cluster kept port %d that another process holds", st.Port)
	}
	if st2.Password != st.Password || moved == "" {
		t.Errorf("restart changed the credentials")
	}
	if u, err := (&Cluster{Dir: c.Dir}).URL(); err != nil || u != moved {
		t.Errorf("URL = %q, %v; want the running cluster's %q", u, err, moved)
	}
}

// A cluster started and stopped through a relative directory (the default
// --data-dir .cdp, as make db-stop and make clean use it) really stops.
func TestStopWithARelativeDirectory(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Chdir(t.TempDir())
	started := &Cluster{Dir: filepath.Join(".cdp", "pg"), Fast: true}
	t.Cleanup(func() { started.Stop(context.Background()) })
	if _, err := started.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := started.runner()
	if err != nil {
		t.Fatal(err)
	}
	if was, err := (&Cluster{Dir: filepath.Join(".cdp", "pg")}).Stop(ctx); err != nil || !was {
		t.Fatalf("Stop through the relative directory = %v, %v; want it stopped", was, err)
	}
	if started.running(ctx, r) {
		t.Error("the cluster still runs after Stop")
	}
}
