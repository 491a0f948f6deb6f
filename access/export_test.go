package access_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
)

// A CSV export never hands a spreadsheet a formula: cells starting with
// =, +, -, @, a tab or a carriage return are made inert (OWASP CSV
// injection), and the rest is exported as it is.
func TestRecordsCSVHoldsNoFormula(t *testing.T) {
	x := &access.Export{Records: []access.Record{{
		ID: uuid.New(), Source: "sales", Department: "sales", SourceID: "@SUM(1+1)",
		Attributes: map[string]string{"given_name": "=HYPERLINK(\"http://evil.example\",\"x\")", "family_name": "-2+3",
			"phone": "+447700900987", "city": "\tTab", "street": "\rCR", "postcode": "LS1 4AP"},
		Extra: map[string]string{"=cmd|' /C calc'!A0": "plain"},
	}}}
	var b bytes.Buffer
	if err := access.WriteRecordsCSV(&b, x); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && bytes.ContainsRune([]byte("=+-@\t\r"), rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
	header, row := rows[0], rows[1]
	col := func(name string) string {
		for i, h := range header {
			if h == name {
				return row[i]
			}
		}
		return "(no column)"
	}
	if col("postcode") != "LS1 4AP" || col("phone") != "'+447700900987" || col("given_name") != `'=HYPERLINK("http://evil.example","x")` {
		t.Errorf("row %q", row)
	}
}
