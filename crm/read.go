package crm

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrFormat reports input that is not the canonical format at all (no
// header, not JSON): nothing of it can be read.
var ErrFormat = errors.New("not the interaction format")

// ReadCSV reads interactions from CSV with a header naming the columns;
// each line goes to fn, a bad line with its problems.
func ReadCSV(r io.Reader, fn func(Input) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("header: %w: %w", ErrFormat, err)
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		names[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if seen[names[i]] {
			return fmt.Errorf("header: column %q twice: %w", names[i], ErrFormat)
		}
		seen[names[i]] = true
	}
	for _, need := range []string{"source", "source_id", "record_source_id", "type", "channel", "occurred_at"} {
		if !seen[need] {
			return fmt.Errorf("header: no column %s: %w", need, ErrFormat)
		}
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var in Input
		if err != nil {
			in = Input{Line: line, Problems: []Problem{{line, "line", "not CSV: " + err.Error()}}}
		} else if len(rec) != len(names) {
			in = Input{Line: line, Problems: []Problem{{line, "line", fmt.Sprintf("%d values for %d columns", len(rec), len(names))}}}
		} else {
			values := make(map[string]string, len(names))
			for i, n := range names {
				values[n] = rec[i]
			}
			in = parse(line, values)
		}
		if err := fn(in); err != nil {
			return err
		}
	}
}

// ReadNDJSON reads one JSON object per line.
func ReadNDJSON(r io.Reader, fn func(Input) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if err := fn(fromJSON(line, []byte(text))); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return nil
}

// ReadJSON reads a JSON array of objects.
func ReadJSON(r io.Reader, fn func(Input) error) error {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return fmt.Errorf("want a JSON array: %w", ErrFormat)
	}
	for line := 1; dec.More(); line++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("element %d: %w: %w", line, ErrFormat, err)
		}
		if err := fn(fromJSON(line, raw)); err != nil {
			return err
		}
	}
	return nil
}

// fromJSON reads one object: strings and numbers, any other value is a
// problem of its field.
func fromJSON(line int, data []byte) Input {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return Input{Line: line, Problems: []Problem{{line, "line", "not a JSON object"}}}
	}
	values := make(map[string]string, len(obj))
	var bad []Problem
	for k, v := range obj {
		switch x := v.(type) {
		case string:
			values[strings.ToLower(k)] = x
		case float64:
			values[strings.ToLower(k)] = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
		case nil:
		default:
			bad = append(bad, Problem{line, k, "a string or a number"})
		}
	}
	in := parse(line, values)
	in.Problems = append(bad, in.Problems...)
	return in
}
