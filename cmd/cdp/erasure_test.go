package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// server is `cdp serve` in a process of its own (this test binary run as
// cdp), so that a test can kill it.
type server struct {
	cmd   *exec.Cmd
	out   *pgtest.Buffer
	url   string
	token string
}

func (e *cliEnv) startProcess(env []string, args ...string) *server {
	e.t.Helper()
	s := &server{out: &pgtest.Buffer{}}
	s.cmd = exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(os.Environ(), "CDP_BENCH_RUN_MAIN=1", "CDP_DATA_DIR="+e.dataDir, "CDP_DATABASE_URL="+e.appURL,
		"CDP_MIGRATE_DATABASE_URL="+e.dbURL, "CDP_LOG_LEVEL=warn")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	re := regexp.MustCompile(`serving on (http://\S+)`)
	tok := regexp.MustCompile(`(cdp_\S+)`)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.out.String()); m != nil {
			s.url = m[1]
			if t := tok.FindStringSubmatch(s.out.String()); t != nil {
				s.token = t[1]
			}
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("serve did not start:\n%s", s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) call(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// An erasure interrupted by a kill in the middle of its transaction
// (records deleted with their keys, their consent events not yet, nothing
// committed) changes nothing;
// the next process rescues the job and finishes it. Then the erasure's
// proofs hold: the records are gone, the dump holds none of the person's
// values, the DPO is told 410, and the audit chain verifies.
func TestErasureSurvivesAKill(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	a := e.startProcess(nil, "--dev", "--demo-people", "40")
	if a.token == "" {
		t.Fatalf("no demo token:\n%s", a.out.String())
	}
	// An erasure is held once it has deleted the records, its transaction
	// open, until the process is killed.
	erasure := pgtest.NewHold(t, e.dbURL, `AFTER DELETE ON records FOR EACH STATEMENT`)
	profile := strings.TrimSpace(pgtest.Query(t, e.dbURL,
		`SELECT profile_id::text FROM profile_members GROUP BY profile_id HAVING count(*) >= 2 ORDER BY profile_id LIMIT 1`))
	records := pgtest.Query(t, e.dbURL, `SELECT string_agg(record_id::text, ',') FROM profile_members WHERE profile_id = '`+profile+`'`)

	// The person's values, as the DPO reads them before the erasure.
	code, body := a.call(t, a.token, "GET", "/v1/profiles/"+profile+"?purpose=compliance", "")
	if code != 200 {
		t.Fatalf("read: %d %s", code, body)
	}
	var p struct {
		Attributes map[string]struct {
			Value string `json:"value"`
		} `json:"attributes"`
	}
	json.Unmarshal(body, &p)
	var values []string
	for f, a := range p.Attributes {
		if f == "email" || f == "phone" || f == "family_name" || f == "street" || f == "national_id" {
			values = append(values, strings.ToLower(a.Value))
		}
	}
	if len(values) < 2 {
		t.Fatalf("too few values to look for: %s", body)
	}

	code, body = a.call(t, a.token, "POST", "/v1/requests", `{"type":"erasure","profile_id":"`+profile+`","verification":{"method":"id_document"}}`)
	var req struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &req)
	if code != 201 {
		t.Fatalf("intake: %d %s", code, body)
	}
	if code, body := a.call(t, a.token, "POST", "/v1/requests/"+req.ID+"/approve", ""); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	if !erasure.Wait(60 * time.Second) {
		t.Fatalf("the erasure never started:\n%s", a.out.String())
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	erasure.Release() // the killed erasure rolls back
	if n := pgtest.Count(t, e.dbURL, `SELECT count(*) FROM records WHERE wrapped_key IS NOT NULL AND id::text = ANY(string_to_array('`+records+`', ','))`); n < 2 {
		t.Fatalf("the killed erasure left %d of the person's records with their keys: it was not all or nothing", n)
	}

	b := e.startProcess([]string{"CDP_JOB_TIMEOUT=2s", "CDP_JOB_RESCUE_AFTER=3s"})
	var state string
	for deadline := time.Now().Add(150 * time.Second); state != "completed"; {
		code, body := b.call(t, a.token, "GET", "/v1/requests/"+req.ID, "")
		var r struct {
			State string `json:"state"`
		}
		json.Unmarshal(body, &r)
		state = r.State
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("after the restart the request is %s (%d):\n%s", state, code, b.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := pgtest.Count(t, e.dbURL, `SELECT count(*) FROM records WHERE id::text = ANY(string_to_array('`+records+`', ','))`); n != 0 {
		t.Errorf("%d of the person's records are left", n)
	}
	if code, _ := b.call(t, a.token, "GET", "/v1/profiles/"+profile+"?purpose=compliance", ""); code != 410 {
		t.Errorf("the DPO reads the erased profile: %d, want 410", code)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()

	dump := strings.ToLower(stripHex(pgDump(t, e.dbURL)))
	for _, v := range values {
		if strings.Contains(dump, v) {
			t.Errorf("the dump holds a value of the erased person")
		}
	}
	if code, out, errs := e.run("audit", "verify"); code != 0 {
		t.Errorf("audit verify after the erasure: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestRecipientsAndHoldsCommands(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("migrate")
	e.mustRun("keys", "generate")
	e.mustRun("sources", "add", "billing", "--department", "billing")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"recipients", "add", "erp", "--department", "billing", "--url", "ftp://x"}, 2, "--url"},
		{[]string{"recipients", "add", "erp", "--department", "billing", "--url", "http://erp.example/hooks"}, 2, "https only"},
		{[]string{"recipients", "add", "erp", "--department", "billing", "--url", "https://169.254.169.254/latest"}, 2, "metadata"},
		{[]string{"recipients", "add", "erp", "--department", "billing", "--url", "https://10.0.0.8/hooks"}, 2, "private"},
		{[]string{"recipients", "add", "erp", "--url", "https://erp.example/hooks"}, 1, "--department"},
		{[]string{"recipients", "add", "erp", "--department", "billing", "--url", "https://erp.example/hooks", "--events", "erasure,gossip"}, 2, "--events"},
		{[]string{"recipients", "rotate", "nobody"}, 1, "nobody"},
		{[]string{"recipients", "rotate", "erp", "--overlap", "-1h"}, 2, "--overlap"},
		{[]string{"recipients", "add", "Bad Name", "--department", "billing", "--url", "https://erp.example/hooks"}, 1, "recipient"},
		{[]string{"holds", "add", "crm", "--obligation", "invoices, 10 years", "--retain-days", "3653"}, 1, "crm"},
		{[]string{"holds", "add", "billing", "--obligation", "x", "--retain-days", "3653"}, 1, "obligation"},
	} {
		code, out, errs := e.run(c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, out, errs)
		}
	}
	out := e.mustRun("recipients", "add", "erp", "--department", "billing", "--url", "https://erp.example/hooks", "--sources", "billing")
	if !strings.Contains(out, "whsec_") {
		t.Errorf("no secret printed: %s", out)
	}
	if pgtest.Count(t, e.dbURL, "SELECT count(*) FROM recipients WHERE position(convert_to('whsec_', 'UTF8') in secret) > 0") != 0 {
		t.Error("the secret is stored in plaintext")
	}
	// A rotation prints a new secret, and the old one signs beside it for
	// the overlap, sealed like it.
	if rot := e.mustRun("recipients", "rotate", "erp", "--overlap", "1h"); !strings.Contains(rot, "whsec_") || strings.Contains(rot, strings.Fields(out)[len(strings.Fields(out))-1]) {
		t.Errorf("rotate: %s", rot)
	}
	if pgtest.Count(t, e.dbURL, `SELECT count(*) FROM recipients WHERE name = 'erp' AND previous_secret IS NOT NULL
		AND previous_until > now() AND position(convert_to('whsec_', 'UTF8') in previous_secret) = 0`) != 1 {
		t.Error("the rotated secret is not kept, sealed, for the overlap")
	}
	if out := e.mustRun("recipients", "list"); !strings.Contains(out, "erp") || !strings.Contains(out, "https://erp.example/hooks") {
		t.Errorf("list: %s", out)
	}
	if out := e.mustRun("holds", "add", "billing", "--obligation", "invoices, 10 years (tax law)", "--retain-days", "3653"); !strings.Contains(out, "3653 days") {
		t.Errorf("hold: %s", out)
	}
}
