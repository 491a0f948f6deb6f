package httpapi_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdp-project/cdp/httpapi"
)

// A stop that comes before the serving goroutine got going still stops
// it. `cdp serve` prints its URL once it listens; a stop right after found
// fiber not serving yet, returned, and Serve then ran on for ever (a CI
// run waited for it in vain).
func TestShutdownBeforeServeStopsIt(t *testing.T) {
	t.Parallel()
	srv := httpapi.New(httpapi.Config{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve after a shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		ln.Close()
		t.Fatal("serve went on after its shutdown")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after the shutdown")
	}
}
