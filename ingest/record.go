package ingest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/identity"
)

// Sentinel errors of the ingest package.
var (
	// ErrFormat reports input that cannot be read as the canonical format.
	ErrFormat = derrors.New(derrors.ErrInvalid, "malformed input")
	// ErrUnknownSource reports records for a source that is not registered.
	ErrUnknownSource = derrors.New(derrors.ErrUnprocessable, "unknown source")
	// ErrForbiddenSource reports records for a source the caller may not write.
	ErrForbiddenSource = derrors.New(derrors.ErrForbidden, "source not writable by this department")
)

// Limits on a single record.
const (
	MaxValueBytes    = 4096 // any attribute value
	MaxSourceIDBytes = 256
	MaxExtras        = identity.MaxExtraAttributes
	MaxNameBytes     = 64 // extra attribute names
)

// Input is one record read from an import stream, with the problems that
// reject it (none when it is acceptable).
type Input struct {
	// Line is where the record starts: its line in CSV and NDJSON input, its
	// position (from 1) in a JSON array.
	Line     int
	Record   identity.Record
	Problems []Problem
	// Truth is the entity_id column of labelled evaluation data, kept only
	// when Options.KeepTruth is set.
	Truth string
}

// Rejected reports whether the input has problems.
func (in *Input) Rejected() bool { return len(in.Problems) > 0 }

// Problem says why a record is rejected: which field and why. It never holds
// the offending value.
type Problem struct {
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

// Reader yields the records of an import stream. Next returns io.EOF after
// the last record; any other error means the rest of the stream cannot be
// read.
type Reader interface {
	Next() (Input, error)
}

// Options configure a reader.
type Options struct {
	// Source, when set, is the source of every record: records that name
	// another source are rejected, records that name none get this one.
	Source string
	// KeepTruth keeps the entity_id column in Input.Truth, for evaluation.
	// Imports never set it: the truth is not data.
	KeepTruth bool
	// MaxRecordBytes bounds one CSV record, all its lines together
	// (default DefaultMaxRecordBytes): a longer one is rejected without
	// being held in memory, and a quote left open for longer is taken as
	// unterminated.
	MaxRecordBytes int
}

// columnKind is what an input column feeds.
type columnKind uint8

const (
	colExtra columnKind = iota
	colSource
	colSourceID
	colField
	colIgnored
)

type column struct {
	name  string
	kind  columnKind
	field identity.Field
}

// classify maps a column name (a CSV header cell or a JSON key) to what it
// feeds. Canonical names match case-insensitively.
func classify(name string) column {
	key := strings.ToLower(strings.TrimSpace(name))
	switch key {
	case "source":
		return column{name: key, kind: colSource}
	case "source_id":
		return column{name: key, kind: colSourceID}
	case "entity_id":
		return column{name: key, kind: colIgnored}
	}
	if f, ok := identity.ParseField(key); ok {
		return column{name: key, kind: colField, field: f}
	}
	return column{name: strings.TrimSpace(name), kind: colExtra}
}

// builder assembles one record from column values and collects problems.
type builder struct {
	in        Input
	source    string
	hasSource bool
}

func (b *builder) problem(field, reason string) {
	b.in.Problems = append(b.in.Problems, Problem{Field: field, Reason: reason})
}

// set assigns one value, checking it.
func (b *builder) set(c column, v string) {
	if reason := checkValue(v, MaxValueBytes); reason != "" {
		b.problem(c.name, reason)
		return
	}
	switch c.kind {
	case colSource:
		b.source, b.hasSource = strings.TrimSpace(v), true
	case colSourceID:
		b.in.Record.SourceID = strings.TrimSpace(v)
	case colIgnored:
		b.in.Truth = v
	case colField:
		b.in.Record.Set(c.field, v)
	case colExtra:
		if v == "" {
			return
		}
		if reason := checkName(c.name); reason != "" {
			b.problem(c.name, reason)
			return
		}
		if len(b.in.Record.Extra()) == MaxExtras {
			b.problem(c.name, fmt.Sprintf("more than %d extra attributes", MaxExtras))
			return
		}
		b.in.Record.AddExtra(c.name, v)
	}
}

// finish applies the record-level rules and returns the input.
func (b *builder) finish(opts Options) Input {
	if !opts.KeepTruth {
		b.in.Truth = ""
	}
	r := &b.in.Record
	switch {
	case opts.Source != "" && b.source != "" && b.source != opts.Source:
		b.problem("source", fmt.Sprintf("is %q but this import is for source %q", b.source, opts.Source))
	case opts.Source != "":
		r.Source = opts.Source
	case b.source == "":
		b.problem("source", "required")
	default:
		r.Source = b.source
	}
	if r.Source != "" {
		if reason := sourceNameProblem(r.Source); reason != "" {
			b.problem("source", reason)
		}
	}
	switch {
	case r.SourceID == "":
		b.problem("source_id", "required")
	case len(r.SourceID) > MaxSourceIDBytes:
		b.problem("source_id", fmt.Sprintf("longer than %d bytes", MaxSourceIDBytes))
	}
	if r.Empty() && len(b.in.Problems) == 0 {
		b.problem("", "record has no personal attributes")
	}
	return b.in
}

// ValueProblem returns why an attribute value is unacceptable (too long,
// invalid UTF-8, a control character), or "": the check every reader
// applies, for values that reach the importer another way.
func ValueProblem(v string) string { return checkValue(v, MaxValueBytes) }

// checkValue returns why a value is unacceptable, or "".
func checkValue(v string, max int) string {
	if len(v) > max {
		return fmt.Sprintf("longer than %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return "not valid UTF-8"
	}
	for _, r := range v {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}

func checkName(name string) string {
	if name == "" {
		return "extra attribute without a name"
	}
	if reason := checkValue(name, MaxNameBytes); reason != "" {
		return "name " + reason
	}
	return ""
}

// ValidateSourceName checks the form of a source name: 1 to 128 bytes of
// printable UTF-8 without leading or trailing space.
func ValidateSourceName(name string) error {
	if reason := sourceNameProblem(name); reason != "" {
		return fmt.Errorf("source name %q: %s: %w", name, reason, ErrFormat)
	}
	return nil
}

func sourceNameProblem(name string) string {
	if name == "" || len(name) > 128 {
		return "must be 1 to 128 bytes"
	}
	if strings.TrimSpace(name) != name {
		return "must not begin or end with a space"
	}
	if reason := checkValue(name, 128); reason != "" {
		return reason
	}
	for _, r := range name {
		if r == '\t' || r == '\n' || r == '\r' {
			return "contains a control character"
		}
	}
	return ""
}

// SliceReader yields inputs that were read before, e.g. a request body
// checked as a whole before anything is written.
type SliceReader struct {
	inputs []Input
	next   int
}

// NewSliceReader returns a reader over inputs.
func NewSliceReader(inputs []Input) *SliceReader { return &SliceReader{inputs: inputs} }

// Next returns the next input, or io.EOF.
func (s *SliceReader) Next() (Input, error) {
	if s.next == len(s.inputs) {
		return Input{}, io.EOF
	}
	s.next++
	return s.inputs[s.next-1], nil
}

// ReadAll reads every input of r.
func ReadAll(r Reader) ([]Input, error) {
	var out []Input
	for {
		in, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
}

// FieldNames adds the names of the canonical fields a record carries to
// names: what an audit entry of a write says was written.
func FieldNames(r *identity.Record, names map[string]bool) {
	for _, f := range identity.Fields() {
		if r.Get(f) != "" {
			names[f.String()] = true
		}
	}
}
