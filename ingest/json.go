package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxLineBytes bounds one NDJSON line.
const MaxLineBytes = 1 << 20

// NDJSONReader reads records from newline-delimited JSON: one object per
// line; blank lines are skipped.
type NDJSONReader struct {
	r    *bufio.Reader
	line int
	opts Options
}

// NewNDJSONReader returns a reader of NDJSON records.
func NewNDJSONReader(r io.Reader, opts Options) *NDJSONReader {
	return &NDJSONReader{r: bufio.NewReaderSize(r, 64<<10), opts: opts}
}

// Next returns the next record.
func (n *NDJSONReader) Next() (Input, error) {
	for {
		data, tooLong, err := n.readLine()
		if err != nil {
			return Input{}, err
		}
		n.line++
		if tooLong {
			return Input{Line: n.line, Problems: []Problem{{Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}}}, nil
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		return parseObject(data, n.line, n.opts), nil
	}
}

// readLine returns the next line without its newline. A line longer than
// MaxLineBytes is skipped and reported as tooLong. It returns io.EOF only
// when no bytes are left.
func (n *NDJSONReader) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := n.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+1 {
			tooLong = true
			buf = buf[:0]
		} else {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(buf, "\r\n"), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return bytes.TrimRight(buf, "\r\n"), tooLong, nil
		default:
			return nil, false, fmt.Errorf("ndjson: %w", err)
		}
	}
}

// JSONArrayReader reads records from a JSON array of objects.
type JSONArrayReader struct {
	dec  *json.Decoder
	pos  int
	opts Options
	done bool
}

// NewJSONArrayReader reads the opening bracket of a JSON array.
func NewJSONArrayReader(r io.Reader, opts Options) (*JSONArrayReader, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("json: expected an array of records: %w", ErrFormat)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("json: expected an array of records: %w", ErrFormat)
	}
	return &JSONArrayReader{dec: dec, opts: opts}, nil
}

// Next returns the next record. A syntax error in the array is an error: the
// rest of the array cannot be read.
func (j *JSONArrayReader) Next() (Input, error) {
	if j.done {
		return Input{}, io.EOF
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // the closing bracket
			return Input{}, fmt.Errorf("json: after element %d: %w", j.pos, ErrFormat)
		}
		if _, err := j.dec.Token(); !errors.Is(err, io.EOF) {
			return Input{}, fmt.Errorf("json: data after the array: %w", ErrFormat)
		}
		j.done = true
		return Input{}, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the array is cut short: not the end of the stream
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Input{}, fmt.Errorf("json: element %d: syntax error at byte %d: %w", j.pos+1, syn.Offset, ErrFormat)
		}
		return Input{}, fmt.Errorf("json: element %d: %w: %w", j.pos+1, ErrFormat, err)
	}
	j.pos++
	return parseObject(raw, j.pos, j.opts), nil
}

// parseObject reads one JSON object of record fields. Values must be
// strings, numbers (kept as written), booleans or null (absent); a key may
// appear once.
func parseObject(data []byte, line int, opts Options) Input {
	b := builder{in: Input{Line: line}}
	if !utf8.Valid(data) {
		b.problem("", "not valid UTF-8")
		return b.in
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		b.problem("", "not a JSON object")
		return b.in
	}
	seen := make(map[string]bool, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			b.problem("", "malformed JSON")
			return b.in
		}
		key := tok.(string) // object keys are always strings
		c := classify(key)
		if seen[c.name] {
			b.problem(c.name, "appears twice")
			return b.in
		}
		seen[c.name] = true
		val, err := dec.Token()
		if err != nil {
			b.problem("", "malformed JSON")
			return b.in
		}
		switch v := val.(type) {
		case string:
			b.set(c, v)
		case json.Number:
			b.set(c, v.String())
		case bool:
			if v {
				b.set(c, "true")
			} else {
				b.set(c, "false")
			}
		case nil:
		default: // a nested object or array
			b.problem(c.name, "must be a string, number, boolean or null")
			return b.in
		}
	}
	if _, err := dec.Token(); err != nil { // closing brace
		b.problem("", "malformed JSON")
		return b.in
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		b.problem("", "data after the JSON object")
		return b.in
	}
	return b.finish(opts)
}
