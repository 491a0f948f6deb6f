package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CSVReader reads records from CSV with a header row.
type CSVReader struct {
	r    *csv.Reader
	cols []column
	opts Options
}

// NewCSVReader reads the header of a CSV stream. The header must name a
// source_id column, and a source column unless opts.Source is set; a
// canonical column may appear only once.
func NewCSVReader(r io.Reader, opts Options) (*CSVReader, error) {
	cr := csv.NewReader(newRecordBounder(r, opts.MaxRecordBytes))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // checked per record, so that a short row is one rejection
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("csv: empty input, expected a header row: %w", ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("csv header: %w: %w", ErrFormat, err)
	}
	cols := make([]column, len(header))
	seen := make(map[string]bool, len(header))
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // byte order mark
		}
		if reason := checkValue(name, MaxNameBytes); reason != "" {
			return nil, fmt.Errorf("csv header column %d: name %s: %w", i+1, reason, ErrFormat)
		}
		c := classify(name)
		key := c.name
		if c.kind == colExtra {
			key = "extra:" + key
		}
		if seen[key] {
			return nil, fmt.Errorf("csv header: column %q appears twice: %w", c.name, ErrFormat)
		}
		seen[key] = true
		cols[i] = c
	}
	if !seen["source_id"] {
		return nil, fmt.Errorf("csv header: no source_id column: %w", ErrFormat)
	}
	if !seen["source"] && opts.Source == "" {
		return nil, fmt.Errorf("csv header: no source column (name the source with --source): %w", ErrFormat)
	}
	return &CSVReader{r: cr, cols: cols, opts: opts}, nil
}

// Next returns the next record.
func (c *CSVReader) Next() (Input, error) {
	row, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return Input{}, io.EOF
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		// The reader resumes at the next record: reject this one.
		reason := "malformed CSV"
		if errors.Is(perr.Err, csv.ErrQuote) || errors.Is(perr.Err, csv.ErrBareQuote) {
			reason = "malformed CSV: " + perr.Err.Error()
		}
		return Input{Line: perr.StartLine, Problems: []Problem{{Reason: reason}}}, nil
	}
	if err != nil {
		return Input{}, fmt.Errorf("csv: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	if len(row) == 1 && strings.HasPrefix(row[0], "\x00cdp:") {
		reason := fmt.Sprintf("longer than %d bytes: skipped", c.max())
		if row[0] == sentinelUnterminated {
			reason = "malformed CSV: a quoted field starts on this line and is not closed" +
				fmt.Sprintf(" (before the end of the input or within %d bytes); the lines after it are read as records", c.max())
		}
		return Input{Line: line, Problems: []Problem{{Reason: reason}}}, nil
	}
	if len(row) != len(c.cols) {
		return Input{Line: line, Problems: []Problem{{
			Reason: fmt.Sprintf("has %d fields, the header has %d", len(row), len(c.cols)),
		}}}, nil
	}
	b := builder{in: Input{Line: line}}
	for i, v := range row {
		if v == "" {
			continue
		}
		// Copy: the csv reader reuses its buffers (ReuseRecord).
		b.set(c.cols[i], strings.Clone(v))
	}
	return b.finish(c.opts), nil
}

func (c *CSVReader) max() int {
	if c.opts.MaxRecordBytes > 0 {
		return c.opts.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}
