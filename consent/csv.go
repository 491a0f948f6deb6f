package consent

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Row is one line of a consent import: what a person said about a
// purpose, collected by a department, and the record (source and source
// id) it belongs to. Its values are checked against the catalogue when it
// is recorded, not here.
type Row struct {
	Line          int
	Source        string
	SourceID      string
	Purpose       string
	State         State
	NoticeVersion int
	Method        Method
	At            time.Time  // zero: when it is recorded
	ExpiresAt     *time.Time // grants only
	// Evidence holds the evidence_* columns, without the prefix
	// (evidence_reference -> reference); sealed when recorded.
	Evidence map[string]string
}

// ImportColumns are the columns a consent import knows, besides
// evidence_*; the first four are required.
var ImportColumns = []string{"source", "source_id", "purpose", "state", "notice_version", "method", "at", "expires_at"}

// MaxImportField bounds one value of a consent import.
const MaxImportField = 4096

// RowError is a line of an import that cannot be read; the others can.
type RowError struct {
	Line   int
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ReadCSV reads a consent import: CSV with a header naming ImportColumns
// (in any order) and evidence_* columns. It calls row for every line; a
// line that cannot be read is passed as a *RowError with its line number,
// and reading goes on. A header that is not usable, or CSV that cannot be
// parsed at all, ends the import with an error.
func ReadCSV(r io.Reader, row func(Row, error) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the file is empty: want a header line naming %s: %w", strings.Join(ImportColumns[:4], ", "), ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("header: %v: %w", err, ErrInvalid)
	}
	col := map[string]int{}
	evidence := map[int]string{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return fmt.Errorf("header: column %q appears twice: %w", clipText(h), ErrInvalid)
		}
		switch {
		case strings.HasPrefix(h, "evidence_") && len(h) > len("evidence_") && len(h) <= 64:
			evidence[i] = strings.TrimPrefix(h, "evidence_")
		case !contains(ImportColumns, h):
			return fmt.Errorf("header: unknown column %q: want %s and evidence_* columns: %w", clipText(h), strings.Join(ImportColumns, ", "), ErrInvalid)
		}
		col[h] = i
	}
	for _, c := range ImportColumns[:4] {
		if _, ok := col[c]; !ok {
			return fmt.Errorf("header: column %s is missing: %w", c, ErrInvalid)
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("line %d: %v: %w", pe.Line, pe.Err, ErrInvalid)
		}
		if err != nil && pe == nil {
			return fmt.Errorf("read: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			if cerr := row(Row{}, &RowError{Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))}); cerr != nil {
				return cerr
			}
			continue
		}
		r, rerr := parseRow(rec, col, evidence)
		r.Line = line
		if rerr != "" {
			if err := row(Row{}, &RowError{Line: line, Reason: rerr}); err != nil {
				return err
			}
			continue
		}
		if err := row(r, nil); err != nil {
			return err
		}
	}
}

func parseRow(rec []string, col map[string]int, evidence map[int]string) (Row, string) {
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for i, v := range rec {
		if len(v) > MaxImportField || !utf8.ValidString(v) {
			return Row{}, fmt.Sprintf("field %d: at most %d bytes of UTF-8", i+1, MaxImportField)
		}
	}
	r := Row{Source: get("source"), SourceID: get("source_id"), Purpose: get("purpose"), State: State(get("state")), Method: Method(get("method"))}
	switch {
	case r.Source == "":
		return r, "source is empty"
	case r.SourceID == "":
		return r, "source_id is empty"
	case r.Purpose == "":
		return r, "purpose is empty"
	case r.State == "":
		return r, "state is empty"
	}
	if v := get("notice_version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return r, "notice_version: want a whole number from 1"
		}
		r.NoticeVersion = n
	}
	if v := get("at"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return r, "at: want an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31)"
		}
		r.At = t
	}
	if v := get("expires_at"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return r, "expires_at: want an RFC 3339 time or a date"
		}
		r.ExpiresAt = &t
	}
	for i, name := range evidence {
		if v := strings.TrimSpace(rec[i]); v != "" {
			if r.Evidence == nil {
				r.Evidence = map[string]string{}
			}
			r.Evidence[name] = v
		}
	}
	return r, ""
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, v)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func clipText(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
