package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// The DPO works on requests and asks the audit log from a terminal,
// through the same audited service as the API: every step is an event of
// the request and an entry of the audit log under the operator's name.
func TestDPOCommands(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	out, url, stop := e.serveDev()
	token := regexp.MustCompile(`cdp_\S+`).FindString(out)
	profile := strings.TrimSpace(pgtest.Query(t, e.dbURL, `SELECT profile_id::text FROM profile_members ORDER BY profile_id LIMIT 1`))
	post := func(path, body string) map[string]any {
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, m)
		}
		return m
	}
	unverified := post("/v1/requests", `{"type":"access","profile_id":"`+profile+`"}`)["id"].(string)
	other := post("/v1/requests", `{"type":"restriction","profile_id":"`+profile+`","verification":{"method":"id_document"}}`)["id"].(string)
	stop()

	out = e.mustRun("requests", "list")
	if !strings.Contains(out, unverified) || !strings.Contains(out, other) || !strings.Contains(out, "received") ||
		!strings.Contains(out, "2 awaiting your decision") {
		t.Errorf("requests list:\n%s", out)
	}
	if out := e.mustRun("requests", "list", "--state", "received", "--json"); !strings.Contains(out, unverified) || strings.Contains(out, other) {
		t.Errorf("requests list --state received --json:\n%s", out)
	}
	for _, bad := range [][]string{
		{"--state", "lost"}, {"--type", "forget_me"}, {"--limit", "0"}, {"--due-before", "soon"}, {"--profile", "nobody"},
	} {
		if code, _, errs := e.run(append([]string{"requests", "list"}, bad...)...); code != 2 || !strings.Contains(errs, bad[0]) {
			t.Errorf("requests list %v: exit %d: %s", bad, code, errs)
		}
	}
	if code, _, errs := e.run("requests", "show", "not-an-id"); code != 2 || !strings.Contains(errs, "not a request id") {
		t.Errorf("requests show not-an-id: exit %d: %s", code, errs)
	}
	if code, _, errs := e.run("requests", "approve", unverified); code == 0 || !strings.Contains(errs, "verify") {
		t.Errorf("approving an unverified request: exit %d: %s", code, errs)
	}
	if code, _, errs := e.run("requests", "verify", unverified); code != 2 || !strings.Contains(errs, "--method") {
		t.Errorf("verify without how: exit %d: %s", code, errs)
	}
	e.mustRun("requests", "verify", unverified, "--method", "id_document", "--reference", "desk ticket 7")
	e.mustRun("requests", "extend", other, "--months", "1", "--reason", "the records of four systems are gathered by hand")
	if code, _, errs := e.run("requests", "reject", other); code == 0 || !strings.Contains(errs, "reason") {
		t.Errorf("reject without a reason: exit %d: %s", code, errs)
	}
	out = e.mustRun("requests", "show", unverified)
	if !strings.Contains(out, "verified") || !strings.Contains(out, "cli:") {
		t.Errorf("requests show:\n%s", out)
	}
	if out := e.mustRun("requests", "approve", unverified); !strings.Contains(out, "approved") {
		t.Errorf("requests approve:\n%s", out)
	}
	// Each step is audited under the operator's name, and the audit log
	// answers the DPO's question about the operator.
	out = e.mustRun("audit", "query", "--principal", cliActor())
	if strings.Count(out, "requests") < 5 {
		t.Errorf("audit query --principal %s:\n%s", cliActor(), out)
	}
	if out := e.mustRun("audit", "query", "--profile", profile, "--json"); !strings.Contains(out, `"action":"requests"`) {
		t.Errorf("audit query --profile:\n%s", out)
	}
	if code, _, _ := e.run("audit", "query"); code != 2 {
		t.Errorf("audit query without a question: exit %d", code)
	}
}
