package browsertest

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// strictCSP is the policy of the application's pages: only scripts with
// the nonce run, and nothing loads from anywhere but stylesheets from the
// page's own origin.
const strictCSP = "default-src 'none'; script-src 'nonce-abc'; style-src 'self'"

// goodPage is accessible. Its first script has the nonce and runs; the
// second has none, so the policy blocks it: that shows the policy holds.
const goodPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign up</title>
<link rel="stylesheet" href="/style.css">
<script nonce="abc">document.documentElement.dataset.nonced = "ran";</script>
<script>document.documentElement.dataset.inline = "ran";</script>
</head>
<body>
<header><p>CDP test site</p></header>
<main>
<h1>Sign up</h1>
<form method="post" action="/signed-up">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email">
<button type="submit">Sign up</button>
</form>
</main>
</body>
</html>
`

// badPage breaks two WCAG 2 A rules: an image without alternative text
// and a field without a label.
const badPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Search</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>Search</h1>
<img src="/logo.png" width="40" height="40">
<form method="get" action="/search">
<input type="text" name="q">
<button type="submit">Search</button>
</form>
</main>
</body>
</html>
`

// signedUpPage is the answer to the sign-up form.
const signedUpPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signed up</title><link rel="stylesheet" href="/style.css"></head>
<body><main><h1>Welcome, %s</h1><p><a href="/good">Back</a></p></main></body>
</html>
`

const styleSheet = `body { font: 16px/1.5 sans-serif; color: #111; background: #fff; margin: 2rem; }
label { display: block; }
`

// newServer serves the test pages, all with the strict policy.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	serve := func(contentType, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", strictCSP)
			w.Header().Set("Content-Type", contentType)
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("GET /good", serve("text/html; charset=utf-8", goodPage))
	mux.Handle("GET /bad", serve("text/html; charset=utf-8", badPage))
	mux.Handle("GET /style.css", serve("text/css; charset=utf-8", styleSheet))
	mux.HandleFunc("POST /signed-up", func(w http.ResponseWriter, r *http.Request) {
		serve("text/html; charset=utf-8", fmt.Sprintf(signedUpPage, html.EscapeString(r.FormValue("email"))))(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestAxeOnStrictCSPPage(t *testing.T) {
	ts := newServer(t)
	b := New(t)

	if got := b.Navigate(t, ts.URL+"/good"); got != http.StatusOK {
		t.Fatalf("GET /good: status %d", got)
	}
	// The policy holds: the nonced script ran, the other did not.
	ran := Get(t, b, chromedp.Evaluate[[]string](`[document.documentElement.dataset.nonced || "", document.documentElement.dataset.inline || ""]`))
	if !slices.Equal(ran, []string{"ran", ""}) {
		t.Fatalf("scripts that ran (nonced, inline) = %q, want [ran, \"\"]: the page's policy is not in force", ran)
	}

	if v := b.Violations(t); len(v) != 0 {
		t.Errorf("accessible page: %s", FormatViolations("good", ts.URL+"/good", v))
	}
	b.Axe(t, "good page")
	checkPNG(t, b.Shot(t, "good"))
}

func TestAxeReportsViolations(t *testing.T) {
	ts := newServer(t)
	b := New(t)
	b.Navigate(t, ts.URL+"/bad")

	v := b.Violations(t)
	ids := make([]string, 0, len(v))
	for _, x := range v {
		ids = append(ids, x.ID)
	}
	for _, want := range []string{"image-alt", "label"} {
		i := slices.Index(ids, want)
		if i < 0 {
			t.Errorf("violations %v lack %s", ids, want)
			continue
		}
		if x := v[i]; x.Impact == "" || x.Help == "" || len(x.Nodes) == 0 || len(x.Nodes[0].Target) == 0 || x.Nodes[0].HTML == "" {
			t.Errorf("violation %s is missing details: %+v", want, x)
		}
	}

	// Axe fails the test (without stopping it) and names each violation
	// with its elements.
	rec := &recordingTB{TB: t}
	b.Axe(rec, "bad page")
	if len(rec.errors) != 1 {
		t.Fatalf("Axe reported %d errors, want 1: %q", len(rec.errors), rec.errors)
	}
	msg := rec.errors[0]
	t.Logf("Axe's report:\n%s", msg)
	for _, want := range []string{"bad page", ts.URL + "/bad", "image-alt [critical]", "label [critical]", `<img src="/logo.png"`, `<input type="text" name="q">`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Axe's report lacks %q:\n%s", want, msg)
		}
	}
	checkPNG(t, b.Shot(t, "bad"))
}

func TestJourneyHelpers(t *testing.T) {
	ts := newServer(t)
	b := New(t)

	b.Navigate(t, ts.URL+"/good")
	b.WaitVisible(t, "main h1")
	if got := b.Text(t, "h1"); got != "Sign up" {
		t.Errorf("Text(h1) = %q, want Sign up", got)
	}
	b.SendKeys(t, "#email", "ada@example.com")
	if got := b.ClickAndWait(t, "button[type=submit]"); got != http.StatusOK {
		t.Errorf("sign-up answered %d, want 200", got)
	}
	if got := b.Location(t); got != ts.URL+"/signed-up" {
		t.Errorf("Location = %q, want %s/signed-up", got, ts.URL)
	}
	if got := b.Text(t, "h1"); got != "Welcome, ada@example.com" {
		t.Errorf("Text(h1) after sign-up = %q", got)
	}
	if h := b.HTML(t); !strings.HasPrefix(h, `<html lang="en">`) || !strings.Contains(h, "<h1>Welcome, ada@example.com</h1>") {
		t.Errorf("HTML() = %q", h)
	}
	b.Axe(t, "signed up")

	b.Click(t, "a") // back to the form, without waiting
	b.WaitVisible(t, "#email")
	b.SetValue(t, "#email", "grace@example.com")
	b.SubmitAndWait(t, "#email")
	if got := b.Text(t, "h1"); got != "Welcome, grace@example.com" {
		t.Errorf("Text(h1) after Submit = %q", got)
	}
	b.Run(t, chromedp.Navigate(ts.URL+"/good"), chromedp.Submit(chromedp.CSS("form")))
	b.WaitVisible(t, "a")
	if got := strings.TrimSpace(b.Text(t, "h1")); got != "Welcome," {
		t.Errorf("Text(h1) after an empty Submit = %q", got)
	}
}

func TestRunFailureNamesThePage(t *testing.T) {
	ts := newServer(t)
	b := New(t)
	b.Navigate(t, ts.URL+"/good")

	rec := &recordingTB{TB: t}
	inGoroutine(func() { b.Run(rec, chromedp.Evaluate[chromedp.Void](`throw new Error("boom")`)) })
	if len(rec.fatals) != 1 || !strings.Contains(rec.fatals[0], ts.URL+"/good") || !strings.Contains(rec.fatals[0], "boom") {
		t.Fatalf("failure = %q, want one naming the page and the error", rec.fatals)
	}
	t.Logf("Run's failure: %s", rec.fatals[0])
	checkPNG(t, filepath.Join(ScreenshotDir(t), "failure.png"))
}

func TestNoBrowser(t *testing.T) {
	t.Setenv("CDP_CHROMIUM", "")
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recordingTB{TB: t}
		inGoroutine(func() { New(rec) })
		got, other := rec.skips, rec.fatals
		if ci == "true" {
			got, other = other, got
		}
		if len(got) != 1 || len(other) != 0 || !strings.Contains(got[0], "apt-get install chromium") {
			t.Errorf("CI=%q: skips %q, fatals %q; want one %s saying how to install Chromium", ci, rec.skips, rec.fatals, map[bool]string{true: "fatal", false: "skip"}[ci == "true"])
		}
	}

	t.Setenv("CDP_CHROMIUM", "/nonexistent/chromium")
	if _, err := findBrowser(); err == nil || !strings.Contains(err.Error(), "CDP_CHROMIUM=/nonexistent/chromium") {
		t.Errorf("findBrowser with a missing CDP_CHROMIUM: %v", err)
	}
}

func TestScreenshotDir(t *testing.T) {
	t.Setenv("CDP_SCREENSHOT_DIR", "")
	if got, want := ScreenshotDir(t), filepath.Join(os.TempDir(), "cdp-screenshots", "TestScreenshotDir"); got != want {
		t.Errorf("ScreenshotDir = %q, want %q", got, want)
	}
	t.Run("a/b c", func(t *testing.T) {
		t.Setenv("CDP_SCREENSHOT_DIR", "/shots")
		if got, want := ScreenshotDir(t), "/shots/TestScreenshotDir_a_b_c"; got != want {
			t.Errorf("ScreenshotDir = %q, want %q", got, want)
		}
	})
	for in, want := range map[string]string{"login-page.v2": "login-page.v2", "../x": ".._x", "..": "_..", "": "_", "é": "_"} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkPNG fails the test unless path is a PNG file.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", path)
	}
}

// recordingTB records the failures and skips of the code under test
// instead of failing or skipping the real test. Fatal, Fatalf and Skip stop
// the goroutine, as testing's do, so call them through inGoroutine.
type recordingTB struct {
	testing.TB
	mu                    sync.Mutex
	errors, fatals, skips []string
}

func (r *recordingTB) record(to *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*to = append(*to, s)
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.record(&r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Fatal(args ...any) {
	r.record(&r.fatals, fmt.Sprint(args...))
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.record(&r.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (r *recordingTB) Skip(args ...any) {
	r.record(&r.skips, fmt.Sprint(args...))
	runtime.Goexit()
}

// inGoroutine runs f in a goroutine of its own and waits for it to end,
// also by runtime.Goexit.
func inGoroutine(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
