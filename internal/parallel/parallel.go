// Package parallel splits loops over many items between goroutines.
package parallel

import "sync"

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
