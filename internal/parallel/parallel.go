// Package parallel splits loops over many items between goroutines.
package parallel

import (
	"sync"
	"sync/atomic"
)

// Ranges splits [0, n) into one contiguous range per worker (fewer when n
// is small) and runs fn on each in its own goroutine, returning when all
// are done. w numbers the range from 0.
func Ranges(n, workers int, fn func(w, lo, hi int)) {
	workers = max(1, workers)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
}

// InTurn runs start once per worker, each in its own goroutine, and hands
// the workers the items 0..n-1 in turn: a worker that finishes an item
// takes the next one not taken, so items of uneven cost keep every worker
// busy to the end. start returns the function that handles one item (it
// may set up what the worker reuses between its items). InTurn returns
// when all items are done.
func InTurn(n, workers int, start func(w int) func(item int)) {
	workers = max(1, min(workers, n))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := start(w)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				do(i)
			}
		}()
	}
	wg.Wait()
}
