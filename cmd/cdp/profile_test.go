package main

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// Profiles asked for by the environment are written, and a file that
// cannot be written is a clear error before the command runs.
func TestProfilesFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	missing := filepath.Join(dir, "no such folder", "p.prof")

	if _, err := startProfiles(env(map[string]string{"CDP_CPU_PROFILE": missing})); err == nil || !strings.Contains(err.Error(), "CDP_CPU_PROFILE") {
		t.Errorf("an unwritable CPU profile: %v", err)
	}
	cpu := filepath.Join(dir, "cpu.prof")
	_, err := startProfiles(env(map[string]string{"CDP_CPU_PROFILE": cpu, "CDP_HEAP_PROFILE": missing}))
	if err == nil || !strings.Contains(err.Error(), "CDP_HEAP_PROFILE") {
		t.Errorf("an unwritable heap profile: %v", err)
	}
	// The CPU profile started before the failure was stopped again.
	if err := pprof.StartCPUProfile(new(strings.Builder)); err != nil {
		t.Fatalf("CPU profiling left running: %v", err)
	}
	pprof.StopCPUProfile()

	heap := filepath.Join(dir, "heap.prof")
	stop, err := startProfiles(env(map[string]string{"CDP_CPU_PROFILE": cpu, "CDP_HEAP_PROFILE": heap}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the heap watcher samples every 200 ms
	stop()
	for _, f := range []string{cpu, heap} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, %v bytes", f, err, st)
		}
	}
}
