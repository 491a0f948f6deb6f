package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/identity"
)

func readAll(t *testing.T, r Reader) []Input {
	t.Helper()
	ins, err := ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func TestCSVReader(t *testing.T) {
	csv := "\uFEFFsource,source_id,Given_Name,family_name,full_name,birth_date,email,entity_id,loyalty\n" +
		"sales,s1,Anna,Schmidt,,1980-02-01,anna@example.com,E1,gold\n" +
		"sales,s2,,,\"Chicago Commons\nAssociation\",,,E2,\n" + // a quoted field over two lines
		"sales,s3,Ben\n" + // too few fields
		",s4,Carl,,,,,E4,\n" + // no source
		"sales,,Dora,,,,,E5,\n" + // no source id
		"sales,s6,,,,,,E6,\n" + // no attributes
		"sales,s7,\"bad\"quote,,,,,,\n" +
		"sales,s8,Eve\x01,,,,,,\n" +
		"sales,s9,Finn,,,,,,\n"
	r, err := NewCSVReader(strings.NewReader(csv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ins := readAll(t, r)
	type want struct {
		line    int
		problem string // "" for accepted
	}
	wants := []want{
		{2, ""}, {3, ""}, {5, "has 3 fields, the header has 9"}, {6, "source: required"},
		{7, "source_id: required"}, {8, "record has no personal attributes"},
		{9, "malformed CSV"}, {10, "given_name: contains a control character"}, {11, ""},
	}
	if len(ins) != len(wants) {
		t.Fatalf("read %d records, want %d: %+v", len(ins), len(wants), ins)
	}
	for i, w := range wants {
		in := ins[i]
		got := ""
		if len(in.Problems) > 0 {
			got = in.Problems[0].String()
		}
		if in.Line != w.line || !strings.HasPrefix(got, w.problem) || (w.problem == "") != (got == "") {
			t.Errorf("record %d: line %d problems %v; want line %d problem %q", i, in.Line, in.Problems, w.line, w.problem)
		}
	}
	a := ins[0].Record
	if a.Source != "sales" || a.SourceID != "s1" || a.Get(identity.GivenName) != "Anna" || a.Get(identity.BirthDate) != "1980-02-01" {
		t.Errorf("record 1: %+v", a)
	}
	if ex := a.Extra(); len(ex) != 1 || ex[0] != (identity.Extra{Name: "loyalty", Value: "gold"}) {
		t.Errorf("extra attributes %v: want loyalty kept and entity_id ignored", ex)
	}
	if ins[1].Record.Get(identity.FullName) != "Chicago Commons\nAssociation" {
		t.Errorf("multi-line field: %q", ins[1].Record.Get(identity.FullName))
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := map[string]string{
		"":                                  "empty input",
		"source,given_name\n":               "no source_id column",
		"source_id,given_name\n":            "no source column",
		"source,source_id,email,EMAIL\n":    "appears twice",
		"source,source_id,\"a\"b\"\n":       "csv header",
		"source,source_id,\x01bad\n":        "control character",
		"source,source_id,x,x\nsales,1,,\n": "appears twice",
	}
	for csv, want := range tests {
		_, err := NewCSVReader(strings.NewReader(csv), Options{})
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("header %q: %v, want ErrFormat mentioning %q", csv, err, want)
		}
	}
	// With a forced source, no source column is needed.
	if _, err := NewCSVReader(strings.NewReader("source_id,given_name\n"), Options{Source: "sales"}); err != nil {
		t.Errorf("forced source: %v", err)
	}
}

func TestForcedSource(t *testing.T) {
	csv := "source,source_id,given_name\nsales,1,Anna\n,2,Ben\nbilling,3,Carl\n"
	r, _ := NewCSVReader(strings.NewReader(csv), Options{Source: "sales"})
	ins := readAll(t, r)
	if ins[0].Rejected() || ins[1].Rejected() || ins[1].Record.Source != "sales" {
		t.Errorf("records of the forced source rejected: %+v", ins[:2])
	}
	if !ins[2].Rejected() || !strings.Contains(ins[2].Problems[0].Reason, `"billing"`) {
		t.Errorf("record of another source accepted: %+v", ins[2])
	}
}

func TestNDJSONReader(t *testing.T) {
	long := `{"source":"sales","source_id":"l","given_name":"` + strings.Repeat("a", MaxLineBytes) + `"}`
	body := `{"source":"sales","source_id":"1","given_name":"Anna","birth_date":19800201,"vip":true,"note":null}` + "\n" +
		"\n" +
		`{"source":"sales","source_id":"2","given_name":{"first":"Ben"}}` + "\n" +
		`{"source":"sales","source_id":"3","email":"a@example.com","EMAIL":"b@example.com"}` + "\n" +
		`not json` + "\n" +
		`["an","array"]` + "\n" +
		long + "\n" +
		"{\"source\":\"sales\",\"source_id\":\"8\",\"given_name\":\"Zo\xff\"}\n" +
		`{"source":"sales","source_id":"9","given_name":"Zoë"} trailing` + "\n" +
		`{"source":"sales","source_id":"10","given_name":"Ida"}`
	ins := readAll(t, NewNDJSONReader(strings.NewReader(body), Options{}))
	wants := []struct {
		line    int
		problem string
	}{
		{1, ""}, {3, "given_name: must be a string"}, {4, "email: appears twice"}, {5, "not a JSON object"},
		{6, "not a JSON object"}, {7, "line longer than"}, {8, "not valid UTF-8"}, {9, "data after the JSON object"}, {10, ""},
	}
	if len(ins) != len(wants) {
		t.Fatalf("read %d records, want %d", len(ins), len(wants))
	}
	for i, w := range wants {
		got := ""
		if len(ins[i].Problems) > 0 {
			got = ins[i].Problems[0].String()
		}
		if ins[i].Line != w.line || !strings.HasPrefix(got, w.problem) || (w.problem == "") != (got == "") {
			t.Errorf("record %d: line %d problems %v; want line %d %q", i, ins[i].Line, ins[i].Problems, w.line, w.problem)
		}
	}
	a := ins[0].Record
	if a.Get(identity.BirthDate) != "19800201" {
		t.Errorf("number kept as written: %q", a.Get(identity.BirthDate))
	}
	if ex := a.Extra(); len(ex) != 1 || ex[0].Name != "vip" || ex[0].Value != "true" {
		t.Errorf("extras %v: want vip=true and null dropped", ex)
	}
}

func TestJSONArrayReader(t *testing.T) {
	r, err := NewJSONArrayReader(strings.NewReader(`[{"source":"sales","source_id":"1","given_name":"Anna"}, 42, {"source_id":"3","given_name":"x"}]`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ins := readAll(t, r)
	if len(ins) != 3 || ins[0].Rejected() || !ins[1].Rejected() || !ins[2].Rejected() || ins[2].Line != 3 {
		t.Fatalf("inputs %+v", ins)
	}
	for _, body := range []string{`{"a":1}`, `[{"source":"sales"`, `[{"source_id":"1"},`, `[{}] [`, `[1,,2]`, ``} {
		r, err := NewJSONArrayReader(strings.NewReader(body), Options{})
		if err == nil {
			_, err = ReadAll(r)
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("body %q: %v, want ErrFormat", body, err)
		}
	}
}

func TestProblemsNeverHoldValues(t *testing.T) {
	secret := "Zoë\x01Secretname"
	body := `{"source":"sales","source_id":"1","given_name":"` + secret + `"}`
	ins := readAll(t, NewNDJSONReader(strings.NewReader(body), Options{}))
	for _, p := range ins[0].Problems {
		if strings.Contains(p.String(), "Secret") {
			t.Errorf("problem echoes the value: %q", p)
		}
	}
}

func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("source,source_id,given_name\nsales,1,Anna\n"))
	f.Add([]byte("source,source_id,full_name\nsales,1,\"a\nb\"\nsales,2,\"x\"y\n"))
	f.Add([]byte("\uFEFFsource_id,email,x\n1,a@b.c,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewCSVReader(bytes.NewReader(data), Options{Source: "sales"})
		if err != nil {
			return
		}
		checkInputs(t, r)
	})
}

func FuzzNDJSONReader(f *testing.F) {
	f.Add([]byte(`{"source":"sales","source_id":"1","given_name":"Anna"}` + "\n"))
	f.Add([]byte("{\"source_id\":\"1\",\"x\":[1]}\n\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInputs(t, NewNDJSONReader(bytes.NewReader(data), Options{Source: "sales"}))
		if r, err := NewJSONArrayReader(bytes.NewReader(data), Options{Source: "sales"}); err == nil {
			checkInputs(t, r)
		}
	})
}

// checkInputs asserts the invariants of every reader: it terminates, lines
// increase, accepted records are complete and valid UTF-8.
func checkInputs(t *testing.T, r Reader) {
	t.Helper()
	last := 0
	for i := 0; ; i++ {
		in, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if !errors.Is(err, ErrFormat) && !strings.Contains(err.Error(), "csv") {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if i > 1<<20 {
			t.Fatal("reader does not terminate")
		}
		if in.Line < last {
			t.Fatalf("line %d after %d", in.Line, last)
		}
		last = in.Line
		if in.Rejected() {
			continue
		}
		rec := in.Record
		if rec.Source != "sales" || rec.SourceID == "" || rec.Empty() {
			t.Fatalf("accepted an incomplete record: %+v", in)
		}
		for _, f := range identity.Fields() {
			if v := rec.Get(f); checkValue(v, MaxValueBytes) != "" {
				t.Fatalf("accepted a bad value in %s", f)
			}
		}
	}
}

// An unterminated quote costs the line it starts on, not the lines after
// it, and says where it started.
func TestCSVUnterminatedQuoteCostsOneLine(t *testing.T) {
	var b strings.Builder
	b.WriteString("source,source_id,given_name,city\n")
	b.WriteString("sales,s0,\"Anna,Leeds\n") // the quote never closes
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&b, "sales,s%d,Name%d,Leeds\n", i, i)
	}
	r, err := NewCSVReader(strings.NewReader(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ins := readAll(t, r)
	if len(ins) != 501 {
		t.Fatalf("%d inputs, want 501", len(ins))
	}
	if ins[0].Line != 2 || len(ins[0].Problems) != 1 || !strings.Contains(ins[0].Problems[0].Reason, "not closed") {
		t.Errorf("the bad line: %+v", ins[0])
	}
	for i, in := range ins[1:] {
		if len(in.Problems) > 0 || in.Line != i+3 || in.Record.SourceID != fmt.Sprintf("s%d", i+1) {
			t.Fatalf("line %d: %+v", i+3, in)
		}
	}
}

// A record longer than the bound is refused as it streams by, and the
// next records are read: neither a long line nor a quote left open holds
// more than the bound in memory.
func TestCSVRecordsAreBounded(t *testing.T) {
	const max = 4 << 10
	huge := strings.Repeat("x", 64<<10)
	input := "source,source_id,given_name\n" +
		"sales,s1,Anna\n" +
		"sales,s2," + huge + "\n" + // one long line
		"sales,s3,\"" + strings.Repeat("y\n", 8<<10) + // a quote left open for longer than the bound
		"sales,s4,\"Multi\nline\"\n" + // a quoted field over two lines, well within
		"sales,s5,Ben\n"
	r, err := NewCSVReader(strings.NewReader(input), Options{MaxRecordBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	ins := readAll(t, r)
	var ok []string
	for _, in := range ins {
		if len(in.Problems) == 0 {
			ok = append(ok, in.Record.SourceID)
		}
	}
	if got := strings.Join(ok, ","); got != "s1,s4,s5" {
		t.Errorf("records read: %s; inputs %d", got, len(ins))
	}
	if ins[1].Line != 3 || !strings.Contains(ins[1].Problems[0].Reason, "longer than") {
		t.Errorf("the long line: %+v", ins[1])
	}
	if ins[2].Line != 4 || !strings.Contains(ins[2].Problems[0].Reason, "not closed") {
		t.Errorf("the long quoted field: %+v", ins[2])
	}
	var multi *Input
	for i := range ins {
		if ins[i].Record.SourceID == "s4" {
			multi = &ins[i]
		}
	}
	if multi == nil || multi.Record.Get(identity.GivenName) != "Multi\nline" {
		t.Errorf("the two-line field: %+v", multi)
	}
}

// The bounder passes every line through or stands in for it: whatever the
// input, the CSV reader sees as many lines as were sent.
func FuzzRecordBounder(f *testing.F) {
	f.Add("a,b\n\"c\nd\"\n", 8)
	f.Add("\"open\nx\ny\n", 4)
	f.Add(strings.Repeat("z", 100)+"\nq\n", 16)
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		out, err := io.ReadAll(newRecordBounder(strings.NewReader(in), max))
		if err != nil {
			t.Fatal(err)
		}
		lines := func(s string) int {
			n := strings.Count(s, "\n")
			if s != "" && !strings.HasSuffix(s, "\n") {
				n++
			}
			return n
		}
		if lines(string(out)) != lines(in) {
			t.Fatalf("%d lines in, %d out: %q -> %q", lines(in), lines(string(out)), in, out)
		}
	})
}
