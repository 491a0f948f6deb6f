package main

import (
	"strconv"

	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// readSome searches n times through the API, so that the audit log fills
// up (each search, even one that finds nothing, is audited).
func readSome(t *testing.T, url, token string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", url+"/v1/profiles?purpose=support&email=nobody"+string(rune('a'+i%26))+"@example.com", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("search: %d", resp.StatusCode)
		}
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	out, url, stop := e.serveDev()
	if !strings.Contains(out, "created a development audit signing key") {
		t.Errorf("serve --dev made no audit key: %s", out)
	}
	token := regexp.MustCompile(`cdp_\S+`).FindString(out)
	readSome(t, url, token, 30)
	stop() // signs a last checkpoint

	var rep struct {
		Entries     int  `json:"entries"`
		LastSeq     int  `json:"last_seq"`
		Checkpoints int  `json:"checkpoints_verified"`
		OK          bool `json:"ok"`
	}
	// The 30 reads, and the grants of the development staff accounts.
	want := int(pgtest.Count(t, e.dbURL, "SELECT count(*) FROM audit_log"))
	if err := json.Unmarshal([]byte(e.mustRun("audit", "verify")), &rep); err != nil || !rep.OK || rep.Entries != want || want < 30 || rep.Checkpoints < 1 {
		t.Fatalf("verify: %+v %v, want %d entries", rep, err, want)
	}

	// An auditor holding only the public key verifies from a checkpoint.
	pub := filepath.Join(t.TempDir(), "audit.pub")
	os.WriteFile(pub, []byte(e.mustRun("audit", "key")), 0o644)
	out = e.mustRun("audit", "verify", "--public-key", pub)
	if !strings.Contains(out, `"ok": true`) {
		t.Errorf("verify with the public key: %s", out)
	}
	code, _, errs := e.run("audit", "verify", "--from", "7")
	if code == 0 || !strings.Contains(errs, "no checkpoint at entry 7") {
		t.Errorf("range from a missing checkpoint: %d %s", code, errs)
	}
	out = e.mustRun("audit", "verify", "--from", strconv.Itoa(want), "--public-key", pub)
	if !strings.Contains(out, `"entries": 0`) {
		t.Errorf("range after the last checkpoint: %s", out)
	}

	// A row changed by hand is named.
	pgtest.Exec(t, e.dbURL, "UPDATE audit_log SET purpose = 'marketing' WHERE seq = 17")
	code, _, errs = e.run("audit", "verify")
	if code != 1 || !strings.Contains(errs, "entry 17 was changed") {
		t.Errorf("tampered log: exit %d, %s", code, errs)
	}
	// A forged key is refused.
	other := filepath.Join(t.TempDir(), "other.key")
	code, _, errs = e.run("audit", "keygen", "--audit-key-file", other)
	if code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	_, otherPub, _ := e.run("audit", "key", "--audit-key-file", other)
	os.WriteFile(pub, []byte(otherPub), 0o644)
	pgtest.Exec(t, e.dbURL, "UPDATE audit_log SET purpose = 'support' WHERE seq = 17")
	code, _, errs = e.run("audit", "verify", "--public-key", pub)
	if code != 1 || !strings.Contains(errs, "invalid signature") {
		t.Errorf("checkpoints under another key: exit %d, %s", code, errs)
	}
}

func TestServeRefusesARoleThatCanRewriteTheAuditLog(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.appURL = e.dbURL // the owner: it could UPDATE and DELETE audit rows
	code, _, errs := e.run("serve", "--dev", "--listen", "127.0.0.1:0", "--demo-people", "10")
	if code != 1 || !strings.Contains(errs, "can change or delete audit entries") {
		t.Errorf("serve as the owner: exit %d, %s", code, errs)
	}
}

func TestServeRefusesBadSurvivorshipRules(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	file := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(file, []byte(`{"email": "loudest"}`), 0o644)
	code, _, errs := e.run("serve", "--dev", "--listen", "127.0.0.1:0", "--demo-people", "10", "--survivorship-file", file)
	if code != 1 || !strings.Contains(errs, "survivorship rules") {
		t.Errorf("serve with an unknown rule: exit %d, %s", code, errs)
	}
}
