package parallel

import (
	"sync/atomic"
	"testing"
)

// Every item is visited exactly once, whatever the split, and the ranges
// are numbered below the number of workers.
func TestRangesCoverEveryItemOnce(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 2}, {1, 4}, {5, 2}, {7, 3}, {1000, 8}, {3, 0}} {
		seen := make([]atomic.Int32, c.n)
		Ranges(c.n, c.workers, func(w, lo, hi int) {
			if w < 0 || w >= max(1, c.workers) || lo >= hi {
				t.Errorf("n=%d workers=%d: range %d [%d, %d)", c.n, c.workers, w, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Fatalf("n=%d workers=%d: item %d visited %d times", c.n, c.workers, i, v)
			}
		}
	}
}

// InTurn hands out every item exactly once, starts each worker once, and
// numbers the workers below their count.
func TestInTurnCoversEveryItemOnce(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 2}, {1, 4}, {5, 2}, {7, 3}, {1000, 8}, {3, 0}} {
		seen := make([]atomic.Int32, c.n)
		var started atomic.Int32
		InTurn(c.n, c.workers, func(w int) func(int) {
			started.Add(1)
			if w < 0 || w >= max(1, c.workers) {
				t.Errorf("n=%d workers=%d: worker %d", c.n, c.workers, w)
			}
			return func(i int) { seen[i].Add(1) }
		})
		if s := int(started.Load()); s > max(1, c.workers) || c.n > 0 && s == 0 {
			t.Errorf("n=%d workers=%d: %d workers started", c.n, c.workers, s)
		}
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Fatalf("n=%d workers=%d: item %d visited %d times", c.n, c.workers, i, v)
			}
		}
	}
}
