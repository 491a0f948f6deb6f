package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// A department's consents, imported in bulk: good lines are recorded
// through the policy and the audit log, bad lines are named and write
// nothing, a second run changes nothing.
func TestConsentImportCommand(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("migrate")
	e.mustRun("keys", "generate")
	e.mustRun("audit", "keygen")
	e.mustRun("sources", "add", "newsletter", "--department", "marketing", "--legal-basis", "consent", "--purposes", "marketing")
	dir := t.TempDir()
	records := filepath.Join(dir, "newsletter.csv")
	os.WriteFile(records, []byte("source_id,given_name,email\nnl-1,Anna,anna@example.com\nnl-2,Ben,ben@example.com\n"), 0o644)
	e.mustRun("import", "--source", "newsletter", records)

	consents := filepath.Join(dir, "consents.csv")
	os.WriteFile(consents, []byte(strings.Join([]string{
		"source,source_id,purpose,state,notice_version,method,at,evidence_form",
		"newsletter,nl-1,marketing,granted,1,department_form,2026-03-01T10:00:00Z,signup-3", // recorded
		"newsletter,nl-2,marketing,granted,,,,",                                             // no notice version
		"newsletter,nl-3,marketing,granted,1,,,",                                            // no such record
		"newsletter,nl-2,billing,granted,1,,,",                                              // billing rests on a contract
		"newsletter,nl-2,horoscopes,granted,1,,,",                                           // unknown purpose
		"newsletter,nl-2,marketing,granted,9,,,",                                            // no such notice
		"newsletter,nl-2,marketing,granted,1,telepathy,,",                                   // unknown method
		"crm,nl-2,marketing,granted,1,,,",                                                   // unknown source
		"newsletter,nl-2,analytics,objected,,call_centre,,",                                 // recorded
	}, "\n")+"\n"), 0o644)
	code, out, errs := e.run("consent", "import", consents)
	if code != exitRejected || !strings.Contains(out, "recorded 2, unchanged 0, rejected 7") {
		t.Fatalf("consent import: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"line 3: ", "line 4: no record", "line 5: purpose billing rests on contract", "line 6: purpose \"horoscopes\"",
		"line 7: marketing has no notice version 9", "line 8: method \"telepathy\"", "line 9: source \"crm\""} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs+out, "anna@") {
		t.Errorf("output holds personal data")
	}
	if n := pgtest.Count(t, e.dbURL, "SELECT count(*) FROM consent_events"); n != 2 {
		t.Errorf("%d consent events, want 2", n)
	}
	if n := pgtest.Count(t, e.dbURL, "SELECT count(*) FROM consent_events WHERE method = 'department_form' AND origin = 'marketing' AND evidence IS NOT NULL"); n != 1 {
		t.Errorf("the department form grant is not recorded as such")
	}
	if n := pgtest.Count(t, e.dbURL, "SELECT count(*) FROM audit_log WHERE action = 'record_consent' AND outcome = 'allowed'"); n != 2 {
		t.Errorf("%d allowed record_consent audit entries, want 2", n)
	}
	code, out, _ = e.run("consent", "import", consents)
	if code != exitRejected || !strings.Contains(out, "recorded 0, unchanged 2, rejected 7") {
		t.Fatalf("second import: exit %d: %s", code, out)
	}
	e.mustRun("audit", "verify")

	code, _, errs = e.run("consent", "import", filepath.Join(dir, "none.csv"))
	if code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d %s", code, errs)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("source,source_id,email\n"), 0o644)
	code, _, errs = e.run("consent", "import", bad)
	if code != 1 || !strings.Contains(errs, "unknown column \"email\"") {
		t.Errorf("bad header: exit %d %s", code, errs)
	}
}
