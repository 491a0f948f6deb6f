package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/demo"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/resolver"
)

// cliEnv is one isolated installation: its own data directory (keys) and
// database.
// The commands connect as the service's role (a member of cdp_app, which
// may only append to the audit log); migrations run as the owner.
type cliEnv struct {
	t       *testing.T
	env     map[string]string // more settings
	dataDir string
	dbURL   string // the owner's
	appURL  string // the service's
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	u := pgtest.NewDB(t)
	return &cliEnv{t: t, dataDir: t.TempDir(), dbURL: u, appURL: pgtest.AppURL(t, u)}
}

func (e *cliEnv) getenv(k string) string {
	switch k {
	case "CDP_DATA_DIR":
		return e.dataDir
	case "CDP_DATABASE_URL":
		return e.appURL
	case "CDP_MIGRATE_DATABASE_URL":
		return e.dbURL
	case "CDP_LOG_LEVEL":
		return "warn"
	}
	return e.env[k]
}

func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errb pgtest.Buffer
	code = run(context.Background(), args, e.getenv, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// runStdin runs a command with stdin as its standard input.
func (e *cliEnv) runStdin(stdin string, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errb pgtest.Buffer
	code = run(context.Background(), args, e.getenv, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (e *cliEnv) mustRun(args ...string) string {
	e.t.Helper()
	code, out, errs := e.run(args...)
	if code != 0 {
		e.t.Fatalf("cdp %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// serveDev runs `cdp serve --dev` until it prints its URL, then returns the
// printed output and a function that stops it with a graceful shutdown.
func (e *cliEnv) serveDev(extra ...string) (output string, url string, stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out writes
	var errb pgtest.Buffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--dev", "--listen", "127.0.0.1:0", "--demo-people", "300"}, extra...)
	go func() { done <- run(ctx, args, e.getenv, strings.NewReader(""), &out, &errb) }()
	re := regexp.MustCompile(`serving on (http://\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			// Whoever waits for the URL has the rest of the banner too:
			// it is one write (a test once read the URL without the token).
			if w := out.with("serving on"); !strings.Contains(w, "staff console:") || !strings.Contains(w, "demo API token") {
				e.t.Errorf("serve's banner came in pieces; the write with its URL: %q", w)
			}
			break
		}
		select {
		case code := <-done:
			e.t.Fatalf("serve exited %d before serving\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			e.t.Fatalf("serve did not start\nstdout: %s\nstderr: %s", out.String(), errb.String())
		}
	}
	return out.String(), url, func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				e.t.Errorf("serve exited %d after shutdown: %s", code, errb.String())
			}
		case <-time.After(30 * time.Second):
			// What it was waiting for: its log and every goroutine.
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			e.t.Errorf("serve did not shut down\nstderr: %s\ngoroutines:\n%s", errb.String(), buf)
		}
	}
}

// writes is a buffer that also keeps each write apart.
type writes struct {
	pgtest.Buffer
	mu  sync.Mutex
	all []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.all = append(w.all, string(p))
	w.mu.Unlock()
	return w.Buffer.Write(p)
}

// with returns the first write that contains s.
func (w *writes) with(s string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.all {
		if strings.Contains(x, s) {
			return x
		}
	}
	return ""
}

func TestHelpListsEveryCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help"}, func(string) string { return "" }, nil, &out, &errb); code != 0 {
		t.Fatalf("help exit %d", code)
	}
	if !strings.Contains(out.String(), "(Art. 17(2), 19): a department's system") {
		t.Errorf("help cuts a summary at an abbreviation:\n%s", out.String())
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("help does not list %q", c.name)
		}
		var o, e bytes.Buffer
		args := append(strings.Fields(c.name), "--help")
		if code := run(context.Background(), args, func(string) string { return "" }, nil, &o, &e); code != 0 {
			t.Errorf("%s --help: exit %d", c.name, code)
		}
		if !strings.Contains(e.String(), "usage: cdp "+c.name) {
			t.Errorf("%s --help: no usage line: %s", c.name, e.String())
		}
	}
	out.Reset()
	run(context.Background(), []string{"help", "config"}, func(string) string { return "" }, nil, &out, &errb)
	for _, s := range settings {
		if !strings.Contains(out.String(), s.env) {
			t.Errorf("help config lacks %s", s.env)
		}
	}
	if code := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, nil, &out, &errb); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	bad := func(k string) string {
		if k == "CDP_BATCH_SIZE" {
			return "lots"
		}
		return ""
	}
	errb.Reset()
	if code := run(context.Background(), []string{"import", "x.csv"}, bad, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "CDP_BATCH_SIZE") {
		t.Errorf("malformed variable: exit %d, %s", code, errb.String())
	}
}

func TestServeDevTwiceReusesKeysAndToken(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	first, url, stop := e.serveDev()
	if !strings.Contains(first, "created a development master key") || !strings.Contains(first, "loaded the demo dataset") {
		t.Errorf("first start: %s", first)
	}
	token := regexp.MustCompile(`cdp_\S+`).FindString(first)
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	second, _, stop := e.serveDev()
	defer stop()
	if strings.Contains(second, "created a development master key") || strings.Contains(second, "loaded the demo dataset") {
		t.Errorf("second start made new keys or reloaded data: %s", second)
	}
	if token == "" || !strings.Contains(second, token) {
		t.Errorf("second start printed another token:\n%s\n%s", first, second)
	}
}

// A request that outlasts the shutdown timeout is cut off; it does not keep
// serve from stopping its jobs and closing its database (it once returned
// before stopping the jobs, whose connections the pool then waited for).
func TestServeStopsPastAHangingRequest(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	_, url, stop := e.serveDev("--shutdown-timeout", "1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a body: the server is reading the request when the stop comes.
	io.WriteString(conn, "POST /v1/records HTTP/1.1\r\nHost: cdp\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	time.Sleep(200 * time.Millisecond)
	stop()
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("migrate")
	dir := t.TempDir()
	file := filepath.Join(dir, "sales.csv")
	os.WriteFile(file, []byte("source_id,given_name,email\n1,Anna,anna@example.com\n2,,\n3,Ben,ben@example.com\n"), 0o644)

	code, _, errs := e.run("import", "--source", "sales", file)
	if code != 1 || !strings.Contains(errs, "cdp keys generate") {
		t.Fatalf("import without a master key: exit %d, %s", code, errs)
	}
	e.mustRun("keys", "generate")
	code, out, _ := e.run("import", "--source", "sales", file)
	if code != exitRejected || !strings.Contains(out, "unknown source") {
		t.Fatalf("unknown source: exit %d, want %d: %s", code, exitRejected, out)
	}
	e.mustRun("sources", "add", "sales", "--department", "sales")
	code, out, _ = e.run("import", "--source", "sales", file)
	if code != exitRejected {
		t.Fatalf("exit %d, want %d (one record has no attributes)", code, exitRejected)
	}
	if !strings.Contains(out, "2 created") || !strings.Contains(out, "1 rejected") || !strings.Contains(out, "line 3") {
		t.Errorf("summary: %s", out)
	}
	if strings.Contains(out, "Anna") || strings.Contains(out, "anna@") {
		t.Errorf("summary holds personal data: %s", out)
	}
	// The import is audited like a write over HTTP: who, which profiles,
	// which fields.
	if n := pgtest.Count(t, e.dbURL, `SELECT count(*) FROM audit_log WHERE action = 'write_records' AND principal LIKE 'cli%'
		AND cardinality(profiles) = 2 AND fields @> ARRAY['email', 'given_name']`); n != 1 {
		t.Errorf("%d audit entries of the import", n)
	}
	code, out, _ = e.run("import", "--source", "sales", file)
	if code != exitRejected || !strings.Contains(out, "2 unchanged") {
		t.Errorf("re-import: exit %d: %s", code, out)
	}
	// Standard input needs no --format: the first byte tells.
	for _, in := range []string{
		`{"source_id":"4","given_name":"Cleo","email":"cleo@example.com"}` + "\n",
		`[{"source_id":"5","given_name":"Dan","email":"dan@example.com"}]`,
		"source_id,given_name\n6,Eve\n",
	} {
		if code, out, errs := e.runStdin(in, "import", "--source", "sales", "-"); code != 0 || !strings.Contains(out, "1 created") {
			t.Errorf("import - of %.20q: exit %d: %s %s", in, code, out, errs)
		}
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import"}, 2, "name at least one file"},
		{[]string{"import", filepath.Join(dir, "none.csv")}, 1, "no such file"},
		{[]string{"import", "--format", "xml", file}, 2, "--format"},
		{[]string{"import", filepath.Join(dir, "data.txt")}, 2, "cannot tell the format"},
		{[]string{"import", "--source", " sales", file}, 1, "source name"},
	} {
		code, _, errs := e.run(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("cdp %v: exit %d (want %d), stderr %q (want %q)", tt.args, code, tt.code, errs, tt.want)
		}
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("given_name\nAnna\n"), 0o644)
	if code, _, errs := e.run("import", bad); code != 1 || !strings.Contains(errs, "no source_id column") {
		t.Errorf("bad header: exit %d: %s", code, errs)
	}
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("migrate")
	cred := strings.TrimSpace(e.mustRun("token", "create", "--principal", "crm-sync", "--department", "sales", "--role", "ingest,reader"))
	id, secret, err := auth.ParseCredential(cred)
	if err != nil {
		t.Fatalf("printed token %q: %v", cred, err)
	}
	db, err := postgres.Open(context.Background(), e.dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok, err := db.Token(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tok.Authenticate(secret, time.Now()); err != nil || !p.Has(auth.RoleReader) {
		t.Fatalf("token does not authenticate: %v", err)
	}
	if list := e.mustRun("token", "list"); !strings.Contains(list, id) || strings.Contains(list, cred) {
		t.Errorf("token list: %s", list)
	}
	e.mustRun("token", "revoke", id)
	if code, _, _ := e.run("token", "revoke", id); code != 1 {
		t.Errorf("revoking twice: exit %d", code)
	}
	if code, _, errs := e.run("token", "create", "--principal", "x", "--department", "sales", "--role", "king"); code != 1 || !strings.Contains(errs, "role") {
		t.Errorf("bad role: exit %d %s", code, errs)
	}
}

func TestKeysRotate(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.mustRun("keys", "generate")
	e.mustRun("migrate")
	e.mustRun("sources", "add", "sales", "--department", "sales")
	file := filepath.Join(t.TempDir(), "a.csv")
	os.WriteFile(file, []byte("source,source_id,given_name\nsales,1,Anna\n"), 0o644)
	e.mustRun("import", file)
	keyFile := filepath.Join(e.dataDir, "keys", "master.key")
	before, _ := os.ReadFile(keyFile)
	if out := e.mustRun("keys", "rotate"); !strings.Contains(out, "re-sealed 2 vault keys") {
		t.Errorf("rotate: %s", out)
	}
	after, _ := os.ReadFile(keyFile)
	if bytes.Equal(before, after) {
		t.Fatal("the key file did not change")
	}
	retired, _ := filepath.Glob(keyFile + ".retired-*")
	if len(retired) != 1 {
		t.Fatalf("old key not kept aside: %v", retired)
	}
	// Data sealed before the rotation is still recognised (unchanged).
	if out := e.mustRun("import", file); !strings.Contains(out, "1 unchanged") {
		t.Errorf("import after rotation: %s", out)
	}
	// The old key no longer opens the vault.
	code, _, errs := e.run("import", "--key-file", retired[0], file)
	if code != 1 || !strings.Contains(errs, "cannot open") {
		t.Errorf("old key: exit %d: %s", code, errs)
	}
}

// TestDumpHoldsNoPersonalData is the vault's acceptance test: after the
// demo data is loaded as `make run` loads it and the development datasets
// are imported, a pg_dump of the whole database contains none of their
// names, emails, phone numbers, street lines, national ids or dates of
// birth.
func TestDumpHoldsNoPersonalData(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	baseline := pgDump(t, e.dbURL) // the empty schema: words that are structure, not data

	_, _, stop := e.serveDev()
	stop()
	files, _ := filepath.Glob("../../testdata/datasets/*.csv")
	if len(files) < 5 {
		t.Fatalf("development datasets not found: %v", files)
	}
	args := append([]string{"import", "--add-sources"}, files...)
	if code, out, errs := e.run(args...); code != 0 && code != exitRejected {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}

	var sources []io.Reader
	var buf bytes.Buffer
	if _, err := demo.Generate(&buf, demo.Options{People: 300, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	sources = append(sources, &buf)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, bytes.NewReader(data))
	}
	secrets := map[string]bool{}
	for _, r := range sources {
		for _, v := range personalValues(t, r) {
			secrets[v] = true
		}
	}
	if len(secrets) < 10000 {
		t.Fatalf("only %d personal values collected", len(secrets))
	}

	// Words the system itself stores in plaintext are not personal data even
	// when a person happens to bear them: source and department names,
	// roles, authors of changes.
	allowed := map[string]bool{}
	db, err := postgres.Open(context.Background(), e.dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := db.Sources(context.Background())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		allowed[strings.ToLower(s.Name)], allowed[s.Department] = true, true
	}
	for _, r := range auth.Roles() {
		allowed[string(r)] = true
	}
	for _, part := range strings.Split(cliActor()+":system:demo", ":") {
		allowed[part] = true
	}
	// The vocabulary of explanations: comparison and level names, reasons.
	for _, r := range []string{resolver.ReasonReviewBand, resolver.ReasonGivenNamesDiffer} {
		for _, w := range strings.Split(r, "_") {
			allowed[w] = true
		}
	}
	for _, c := range identity.Comparisons() {
		for _, w := range append(strings.Split(c.Name, "_"), c.Name) {
			allowed[w] = true
		}
		for _, l := range c.Levels {
			for _, w := range append(strings.Fields(l), l) {
				allowed[w] = true
			}
		}
	}

	// The vocabulary of profiling: trait and model names, stages and
	// their rules.
	keys, _ := json.Marshal([]any{crm.Traits{}, crm.Params{BGNBD: &crm.BGNBD{}, GammaGamma: &crm.GammaGamma{}}})
	vocabulary := string(keys)
	for _, st := range crm.DefaultStages {
		vocabulary += " " + st.Name + " " + st.Condition
	}
	for _, sg := range demoSegments { // the demo's segments, written by staff
		vocabulary += " " + sg.Name + " " + sg.Description + " " + sg.Condition
	}
	for _, w := range strings.FieldsFunc(vocabulary, func(r rune) bool { return !unicode.IsLetter(r) }) {
		allowed[strings.ToLower(w)] = true
	}

	dump := pgDump(t, e.dbURL)
	if len(dump) < 1<<20 {
		t.Fatalf("dump of %d bytes: the data did not load", len(dump))
	}
	if !strings.Contains(dump, "COPY public.interactions") {
		t.Fatal("the dump holds no interactions: the demo history did not load")
	}
	// An interaction's time is kept readable on purpose (the CRM's
	// figures need it, tied to a record by id only; README, Customer
	// relationships): a demo order may fall on a day that is someone's
	// birthday. Its text is sealed, and checked below like every column.
	dump = withoutColumn(t, dump, "public.interactions", "occurred_at")
	residue := strings.ToLower(stripHex(dump))
	base := strings.ToLower(stripHex(baseline))
	tokens := tokenSet(residue)
	found := 0
	for orig := range secrets {
		v := strings.ToLower(orig)
		if allowed[v] || !allTokensIn(v, tokens) { // fast path: cannot occur
			continue
		}
		if strings.Contains(residue, v) && !strings.Contains(base, v) {
			found++
			if found <= 10 {
				t.Errorf("the dump holds %q", v)
			}
		}
	}
	// Inside bytea columns: a value stored unsealed would show as the hex of
	// its bytes. Random ciphertext holds any given 8-byte string with odds
	// of about 2^-64 per position, so values of 8 bytes or more are sought.
	for _, v := range binaryHits(dump, secrets) {
		found++
		if found <= 10 {
			t.Errorf("a bytea value holds %q unsealed", v)
		}
	}
	if found > 0 {
		t.Errorf("%d personal values in plaintext in the dump", found)
	}
}

// binaryHits decodes every bytea value of a dump and returns the secrets
// (8 bytes or longer, as written or lower-cased) that occur in them.
func binaryHits(dump string, secrets map[string]bool) []string {
	byPrefix := map[uint64][]string{}
	for s := range secrets {
		for _, v := range []string{s, strings.ToLower(s)} {
			if len(v) >= 8 {
				k := binary.LittleEndian.Uint64([]byte(v[:8]))
				byPrefix[k] = append(byPrefix[k], v)
			}
		}
	}
	var hits []string
	for _, m := range hexRun.FindAllString(dump, -1) {
		b, err := hex.DecodeString(m[2:])
		if err != nil {
			continue
		}
		for i := 0; i+8 <= len(b); i++ {
			for _, v := range byPrefix[binary.LittleEndian.Uint64(b[i:])] {
				if bytes.HasPrefix(b[i:], []byte(v)) {
					hits = append(hits, v)
				}
			}
		}
	}
	return hits
}

// personalValues lists, as written, the values of a canonical CSV that
// must never appear in the database: names, emails, phones (as written, as
// digits, in E.164), street lines, national ids and birth dates (as
// written and in ISO form).
func personalValues(t *testing.T, r io.Reader) []string {
	t.Helper()
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	var out []string
	add := func(v string, min int) {
		v = strings.TrimSpace(v)
		// A value of digits alone is sought from seven digits on: shorter
		// numbers (a street of just a house number) occur in any dump as
		// counts and ids.
		if strings.Trim(v, "0123456789") == "" {
			min = max(min, 7)
		}
		if len(v) >= min {
			out = append(out, v)
		}
	}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return row[i]
			}
			return ""
		}
		for _, f := range []string{"given_name", "family_name", "full_name", "street", "national_id"} {
			add(get(f), 4)
		}
		add(get("email"), 3)
		if p := get("phone"); p != "" {
			add(p, 7)
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, p)
			add(digits, 7)
			if e164, ok := identity.NormalizePhone(p, strings.ToUpper(get("country"))); ok {
				add(e164, 7)
			}
		}
		if d := get("birth_date"); d != "" {
			add(d, 6)
			if pd, ok := identity.ParseDate(d, identity.DMY); ok && pd.Valid {
				add(pd.ISO(), 6)
			}
		}
	}
}

func pgDump(t *testing.T, url string) string {
	t.Helper()
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--no-owner", url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}

var hexRun = regexp.MustCompile(`\\x[0-9a-f]*`)

// stripHex removes bytea values (hex) from a dump: they are ciphertext and
// blind indexes, and any short string may occur in hex by chance.
func stripHex(s string) string { return hexRun.ReplaceAllString(s, " ") }

var tokenSplit = regexp.MustCompile(`[^\pL\pN@.+'-]+`)

func tokenSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, tok := range tokenSplit.Split(s, -1) {
		set[tok] = true
	}
	return set
}

func allTokensIn(v string, set map[string]bool) bool {
	for _, tok := range tokenSplit.Split(v, -1) {
		if tok != "" && !set[tok] {
			return false
		}
	}
	return true
}

// withoutColumn blanks one column of one table's COPY block in a dump.
func withoutColumn(t *testing.T, dump, table, column string) string {
	t.Helper()
	head := "COPY " + table + " ("
	i := strings.Index(dump, head)
	if i < 0 {
		return dump
	}
	headEnd := strings.Index(dump[i:], ") FROM stdin;\n")
	cols := strings.Split(dump[i+len(head):i+headEnd], ", ")
	idx := slices.Index(cols, column)
	if idx < 0 {
		t.Fatalf("%s has no column %s: %v", table, column, cols)
	}
	start := i + headEnd + len(") FROM stdin;\n")
	end := start + strings.Index(dump[start:], "\\.\n")
	lines := strings.Split(dump[start:end], "\n")
	for n, line := range lines {
		if f := strings.Split(line, "\t"); len(f) == len(cols) {
			f[idx] = ""
			lines[n] = strings.Join(f, "\t")
		}
	}
	return dump[:start] + strings.Join(lines, "\n") + dump[end:]
}

// The web probe of 2026-12-04: --dev serves every account's verification
// and recovery codes at /dev/mailbox without sign-in, and nothing kept it
// from listening on every interface. It listens on the loopback only.
func TestServeDevListensOnTheLoopbackOnly(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"serve", "--dev", "--listen", listen}, func(string) string { return "" }, nil, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "loopback") {
			t.Errorf("serve --dev --listen %s: exit %d, %q; want 2 and why", listen, code, errb.String())
		}
	}
}
