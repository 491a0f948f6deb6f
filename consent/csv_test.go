package consent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/consent"
)

func readAll(t *testing.T, in string) ([]consent.Row, []*consent.RowError, error) {
	t.Helper()
	var rows []consent.Row
	var bad []*consent.RowError
	err := consent.ReadCSV(strings.NewReader(in), func(r consent.Row, err error) error {
		var re *consent.RowError
		switch {
		case errors.As(err, &re):
			bad = append(bad, re)
		case err != nil:
			t.Fatalf("row error of another type: %v", err)
		default:
			rows = append(rows, r)
		}
		return nil
	})
	return rows, bad, err
}

func TestReadCSV(t *testing.T) {
	in := "\ufeffSource,source_id,purpose,state,notice_version,method,at,expires_at,evidence_form,evidence_agent\n" +
		"newsletter,nl-9,marketing,granted,1,department_form,2026-03-01T10:00:00+01:00,2027-03-01,signup-3,\n" +
		"newsletter,nl-10,marketing,withdrawn,,call_centre,,,,agent 7\n" +
		"newsletter,,marketing,granted,1,,,,,\n" +
		"newsletter,nl-11,marketing,granted,one,,,,,\n" +
		"newsletter,nl-12,marketing,granted\n" +
		"newsletter,nl-13,marketing,granted,1,,yesterday,,,\n"
	rows, bad, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(bad) != 4 {
		t.Fatalf("rows %+v, errors %+v", rows, bad)
	}
	r := rows[0]
	if r.Line != 2 || r.Source != "newsletter" || r.SourceID != "nl-9" || r.State != consent.Granted || r.NoticeVersion != 1 ||
		r.Method != consent.MethodDepartmentForm || r.At.Hour() != 9 || r.ExpiresAt == nil || r.ExpiresAt.Year() != 2027 ||
		r.Evidence["form"] != "signup-3" || len(r.Evidence) != 1 {
		t.Errorf("row 1: %+v", r)
	}
	if rows[1].Evidence["agent"] != "agent 7" || rows[1].NoticeVersion != 0 || !rows[1].At.IsZero() {
		t.Errorf("row 2: %+v", rows[1])
	}
	for i, want := range []struct {
		line   int
		reason string
	}{{4, "source_id is empty"}, {5, "notice_version"}, {6, "fields"}, {7, "at:"}} {
		if bad[i].Line != want.line || !strings.Contains(bad[i].Reason, want.reason) {
			t.Errorf("error %d: %+v, want line %d %q", i, bad[i], want.line, want.reason)
		}
	}
}

func TestReadCSVRefusesBadHeaders(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"missing state":  "source,source_id,purpose\n",
		"unknown column": "source,source_id,purpose,state,email\nx,y,z,granted,a@b.c\n",
		"duplicate":      "source,source_id,purpose,state,state\n",
		"broken quotes":  "source,source_id,purpose,state\n\"x,y,z,granted\n",
	} {
		if _, _, err := readAll(t, in); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzReadCSV: any input is read or refused, never a panic, and a row it
// accepts has the required fields.
func FuzzReadCSV(f *testing.F) {
	f.Add("source,source_id,purpose,state,notice_version,at\nnewsletter,nl-9,marketing,granted,1,2026-01-01\n")
	f.Add("source,source_id,purpose,state,evidence_x\na,b,c,d,e\n\"a\",b,c\n")
	f.Add("\ufeffsource,source_id,purpose,state\n,,,\n")
	f.Fuzz(func(t *testing.T, in string) {
		consent.ReadCSV(strings.NewReader(in), func(r consent.Row, err error) error {
			if err == nil && (r.Source == "" || r.SourceID == "" || r.Purpose == "" || r.State == "" || r.Line < 2) {
				t.Fatalf("accepted an incomplete row: %+v", r)
			}
			return nil
		})
	})
}
