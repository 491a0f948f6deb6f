package demo

import (
	"encoding/csv"
	"sync/atomic"
)

// pipe hands finished rows to a goroutine that encodes and writes them, so
// that generation and CSV encoding run on two cores. The order of rows is
// the order they are sent in, so output stays deterministic. A fixed
// number of batches circulates between the two sides, which bounds memory.
type pipe struct {
	full   chan []row // batches to write
	free   chan []row // written batches, for reuse
	done   chan error // the writer's result, once full is closed
	failed atomic.Bool
	cur    []row
}

const (
	pipeBatch   = 1024 // rows per batch
	pipeBatches = 4    // batches in circulation
)

func newPipe(cw *csv.Writer) *pipe {
	p := &pipe{
		full: make(chan []row, pipeBatches),
		free: make(chan []row, pipeBatches),
		done: make(chan error, 1),
	}
	for i := 1; i < pipeBatches; i++ {
		p.free <- make([]row, 0, pipeBatch)
	}
	p.cur = make([]row, 0, pipeBatch)
	go p.writer(cw)
	return p
}

// writer encodes batches until full is closed. After an error it keeps
// recycling batches without writing, so the sender never blocks.
func (p *pipe) writer(cw *csv.Writer) {
	var err error
	for b := range p.full {
		for i := 0; err == nil && i < len(b); i++ {
			if err = cw.Write(b[i][:]); err != nil {
				p.failed.Store(true)
			}
		}
		p.free <- b[:0]
	}
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	p.done <- err
}

// send queues a copy of r. It reports errWriterFailed once the writer has
// failed; the writer's own error is returned by close.
func (p *pipe) send(r *row) error {
	p.cur = append(p.cur, *r)
	if len(p.cur) == cap(p.cur) {
		if p.failed.Load() {
			return errWriterFailed
		}
		p.full <- p.cur
		p.cur = <-p.free
	}
	return nil
}

// close writes what is queued, stops the writer and returns its error.
func (p *pipe) close() error {
	if len(p.cur) > 0 {
		p.full <- p.cur
	}
	close(p.full)
	return <-p.done
}
