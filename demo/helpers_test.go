package demo

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// sample generates with opts and returns the raw output, the parsed rows
// (header excluded) and the stats.
func sample(t testing.TB, opts Options) ([]byte, [][]string, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Generate(&buf, opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	rd := csv.NewReader(bytes.NewReader(buf.Bytes()))
	rd.FieldsPerRecord = len(Header())
	rows, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("read generated CSV: %v", err)
	}
	return buf.Bytes(), rows[1:], st
}

// standard is the data set most tests inspect.
func standard(t testing.TB) [][]string {
	t.Helper()
	_, rows, _ := sample(t, Options{Records: 30000, Seed: 42})
	return rows
}

// entityCountry maps entity ids to the country their records name, for
// records that carry no country of their own.
func entityCountry(rows [][]string) map[string]string {
	m := make(map[string]string)
	for _, r := range rows {
		if r[colCountry] != "" {
			m[r[colEntity]] = r[colCountry]
		}
	}
	return m
}

func isGenericPhone(s string) bool { return s == genericPhone }

func isGenericEmail(s string) bool {
	for _, e := range genericEmails {
		if s == e {
			return true
		}
	}
	return false
}
