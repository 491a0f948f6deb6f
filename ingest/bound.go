package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// DefaultMaxRecordBytes bounds one CSV record (all its lines, when a
// quoted field spans several) unless Options say otherwise.
const DefaultMaxRecordBytes = 1 << 20

// Sentinels that recordBounder writes in place of a physical line it
// refused; the CSV reader reads each as a one-field row, which Next turns
// into a rejection of that line. They start with a NUL, which no value
// may hold.
const (
	sentinelUnterminated = "\x00cdp:unterminated"
	sentinelTooLong      = "\x00cdp:too-long"
)

// recordBounder passes a CSV stream through, record by record, so that
// one bad record costs one line, and bounded memory:
//
//   - a physical line longer than max is replaced by a sentinel, and its
//     bytes are skipped as they stream by;
//   - a quoted field that does not close within max bytes, or before the
//     end of the input, is taken as an unterminated quote: the line where
//     the record started is replaced by a sentinel, and the lines after it
//     are read again as records of their own (encoding/csv would have
//     swallowed them all into one field).
//
// Line numbers are kept: each sentinel stands in for exactly one line.
type recordBounder struct {
	src     *bufio.Reader
	max     int
	out     bytes.Buffer
	pending [][]byte // lines to read again after an unterminated quote
	err     error    // of src, once it has none left
}

func newRecordBounder(r io.Reader, max int) *recordBounder {
	if max <= 0 {
		max = DefaultMaxRecordBytes
	}
	return &recordBounder{src: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (b *recordBounder) Read(p []byte) (int, error) {
	for b.out.Len() == 0 {
		if err := b.next(); err != nil {
			return 0, err
		}
	}
	return b.out.Read(p)
}

// line returns the next physical line (with its newline), from the lines
// to read again first; tooLong when it was longer than max (its bytes are
// gone).
func (b *recordBounder) line() (line []byte, tooLong bool, err error) {
	if len(b.pending) > 0 {
		line, b.pending = b.pending[0], b.pending[1:]
		if line == nil {
			return nil, true, nil
		}
		return line, false, nil
	}
	if b.err != nil {
		return nil, false, b.err
	}
	for {
		chunk, err := b.src.ReadSlice('\n')
		if len(line)+len(chunk) > b.max {
			tooLong = true
			line = nil
		} else if !tooLong {
			line = append(line, chunk...)
		}
		switch {
		case err == nil:
			return line, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(line) > 0 || tooLong):
			b.err = io.EOF
			return line, tooLong, nil
		default:
			b.err = err
			return nil, false, err
		}
	}
}

// next moves one record, or one sentinel, to out.
func (b *recordBounder) next() error {
	first, tooLong, err := b.line()
	if err != nil {
		return err
	}
	if tooLong {
		b.sentinel(sentinelTooLong)
		return nil
	}
	if quotes(first)%2 == 0 {
		b.out.Write(first)
		return nil
	}
	lines, size, n := [][]byte{first}, len(first), quotes(first)
	for n%2 == 1 {
		l, long, err := b.line()
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err != nil || long || size+len(l) > b.max {
			// Unterminated: refuse the line it started on, read the
			// rest again (a line too long to keep stays refused).
			if long {
				l = nil
			}
			rest := lines[1:]
			if err == nil {
				rest = append(rest, l)
			}
			b.pending = append(rest, b.pending...)
			b.sentinel(sentinelUnterminated)
			return nil
		}
		lines, size, n = append(lines, l), size+len(l), n+quotes(l)
	}
	for _, l := range lines {
		b.out.Write(l)
	}
	return nil
}

func (b *recordBounder) sentinel(s string) {
	b.out.WriteString(s)
	b.out.WriteByte('\n')
}

func quotes(l []byte) int { return bytes.Count(l, []byte{'"'}) }
