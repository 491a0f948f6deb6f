// Package browsertest drives a real, headless Chromium from Go tests with
// chromedp: journey tests navigate, fill in and submit forms, read text,
// check the page for accessibility problems with axe-core and save
// screenshots.
//
// Each call of [New] starts its own browser, with the binary named by the
// environment variable CDP_CHROMIUM or else the first of chromium,
// chromium-browser and google-chrome on PATH. The package never downloads a
// browser: without one, a test skips (install one with
// `apt-get install chromium`), or fails when CI=true. The browser stops when
// the test ends. Starting a browser takes about a second and a few hundred
// megabytes, so a test that visits many pages should share one Browser
// rather than start one per page.
//
// Every helper takes the test's testing.TB, runs one step with a timeout of
// [RunTimeout] and, when the step fails, stops the test with the URL of the
// page and saves a screenshot of it. Selectors are CSS selectors.
//
// [Browser.Axe] injects axe-core through the DevTools protocol
// (Runtime.evaluate), which a page's Content-Security-Policy does not
// govern, so it works on pages whose policy allows only nonced scripts.
// The vendored copy is axe-core 4.14.1 (testdata/axe.min.js, from the npm
// package axe-core@4.14.1, Mozilla Public License 2.0: see
// testdata/AXE_LICENSE.txt and, for the libraries bundled into it,
// testdata/AXE_LICENSE-3RD-PARTY.txt). To update it, run
// `npm pack axe-core@4` and copy axe.min.js, LICENSE and
// LICENSE-3RD-PARTY.txt from the archive's package folder, then change the
// version here and in [AxeVersion].
//
// [Browser.Shot] saves full-page PNG screenshots under the directory named
// by CDP_SCREENSHOT_DIR, or else under $TMPDIR/cdp-screenshots, in a
// folder named after the test.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// RunTimeout bounds each step that a Browser runs for a test: one call of
// [Browser.Run], [Get] or any helper.
const RunTimeout = 20 * time.Second

// startTimeout bounds the start of the browser.
const startTimeout = 60 * time.Second

// browserNames are the programs looked up on PATH, in order, when
// CDP_CHROMIUM is not set.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Browser is one headless Chromium with one tab, started by [New] for one
// test (and its subtests). A Browser is not safe for concurrent use: its
// steps run in the one tab, one after another.
type Browser struct {
	ctx context.Context
}

// New starts a headless Chromium for the test and stops it when the test
// ends. Without a browser it skips the test, or fails it when the
// environment has CI=true: CI must run the browser tests.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := findBrowser()
	if err != nil {
		msg := fmt.Sprintf("browsertest: %v. Install Chromium (`apt-get install chromium`) or set CDP_CHROMIUM to a Chromium or Chrome binary", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	output := &tailBuffer{max: 8 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(output),
		// No UserDataDir: chromedp makes a temporary one and removes it
		// when the browser stops.
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	logf := &testLogf{t: t}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf.logf))
	cancelCtx := sync.OnceFunc(cancel) // a second call could block
	t.Cleanup(func() {
		cancelCtx() // closes the browser and waits for it to exit
		cancelAlloc()
		logf.stop()
	})

	// The first step starts the browser, whose life is bound to the
	// context of that step: so it gets no timeout of its own, and a
	// separate timer bounds it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		cancelCtx()
		err = fmt.Errorf("no answer after %v", startTimeout)
	}
	if err != nil {
		if out := output.String(); out != "" {
			err = fmt.Errorf("%w\nbrowser output (the end):\n%s", err, out)
		}
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	return &Browser{ctx: ctx}
}

// findBrowser returns the path of the browser to run.
func findBrowser() (string, error) {
	if p := os.Getenv("CDP_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("CDP_CHROMIUM=%s: %w", p, err)
		}
		return path, nil
	}
	for _, name := range browserNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no browser found: CDP_CHROMIUM is not set and none of %v is on PATH", browserNames)
}

// Ctx returns the browser's context, for chromedp.Run and chromedp.Do. It
// has no timeout: prefer [Browser.Run] and [Get], which bound each step.
func (b *Browser) Ctx() context.Context { return b.ctx }

// Run runs the actions in order, within [RunTimeout] in all, and stops the
// test with the page's URL if one fails.
func (b *Browser) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	b.run(t, "Run", chromedp.Steps(actions...))
}

// Get runs the action within [RunTimeout] and returns its value. It stops
// the test with the page's URL if the action fails. (Get is a function, not
// a method, because Go methods take no type parameters.)
func Get[T any](t testing.TB, b *Browser, action chromedp.Action[T]) T {
	t.Helper()
	return run(t, b, "Get", action)
}

// run runs one step for the test; what names it in the failure message.
func (b *Browser) run(t testing.TB, what string, action chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, b, what, action)
}

// run runs one step for the test and returns its value; what names it in
// the failure message. On failure it saves a screenshot and stops the test.
func run[T any](t testing.TB, b *Browser, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, RunTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (timeout %v)", err, RunTimeout)
		}
		if path, serr := b.saveShot(t, "failure"); serr == nil {
			t.Logf("browsertest: screenshot of the failure: %s", path)
		}
		t.Fatalf("browsertest: %s on %s: %v", what, b.location(), err)
	}
	return v
}

// location returns the page's URL for a failure message, or a placeholder
// when the page does not answer.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page: " + err.Error() + ")"
	}
	return loc
}

// Navigate loads url, waits for the page's load event and returns the
// HTTP status of the document (0 when there is none, as for about:blank).
// A status of 400 or more is not a failure: the test checks it.
func (b *Browser) Navigate(t testing.TB, url string) int {
	t.Helper()
	resp := run(t, b, fmt.Sprintf("Navigate(%q)", url), chromedp.NavigateResponse(url))
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// Location returns the URL of the page.
func (b *Browser) Location(t testing.TB) string {
	t.Helper()
	return run(t, b, "Location", chromedp.Location())
}

// HTML returns the outer HTML of the document (without its doctype).
func (b *Browser) HTML(t testing.TB) string {
	t.Helper()
	return run(t, b, "HTML", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// Text returns the visible text (innerText) of the first element that
// matches the selector, waiting for it to exist.
func (b *Browser) Text(t testing.TB, selector string) string {
	t.Helper()
	return run(t, b, fmt.Sprintf("Text(%q)", selector), chromedp.Text(chromedp.CSS(selector)))
}

// WaitVisible waits until the first element that matches the selector is
// visible.
func (b *Browser) WaitVisible(t testing.TB, selector string) {
	t.Helper()
	b.run(t, fmt.Sprintf("WaitVisible(%q)", selector), chromedp.WaitVisible(chromedp.CSS(selector)))
}

// SetValue sets the value property of the first element that matches the
// selector, without key events: fast, for forms that need no scripts.
func (b *Browser) SetValue(t testing.TB, selector, value string) {
	t.Helper()
	b.run(t, fmt.Sprintf("SetValue(%q)", selector), chromedp.SetValue(chromedp.CSS(selector), value))
}

// SendKeys focuses the first visible element that matches the selector and
// types value into it, key by key, as a person does. Use "\r" for Enter.
func (b *Browser) SendKeys(t testing.TB, selector, value string) {
	t.Helper()
	b.run(t, fmt.Sprintf("SendKeys(%q)", selector), chromedp.SendKeys(chromedp.CSS(selector), value))
}

// Click clicks the first visible element that matches the selector. It
// does not wait for a navigation that the click starts: use
// [Browser.ClickAndWait] for a link or a submit button.
func (b *Browser) Click(t testing.TB, selector string) {
	t.Helper()
	b.run(t, fmt.Sprintf("Click(%q)", selector), chromedp.Click(chromedp.CSS(selector)))
}

// ClickAndWait clicks the first visible element that matches the selector,
// waits for the page that the click loads and returns its HTTP status. The
// click must start a navigation, or the step times out.
func (b *Browser) ClickAndWait(t testing.TB, selector string) int {
	t.Helper()
	return b.navigation(t, fmt.Sprintf("ClickAndWait(%q)", selector), chromedp.Click(chromedp.CSS(selector)))
}

// Submit submits the form that the selector matches, or the form of the
// form control (input, button, select, textarea) that it matches, as
// form.submit() does: without a click, a submit event, validation or the
// name and value of a submit button. It does not wait for the next page:
// use [Browser.SubmitAndWait] for that, and [Browser.ClickAndWait] on the
// submit button to submit as a person does.
func (b *Browser) Submit(t testing.TB, selector string) {
	t.Helper()
	b.run(t, fmt.Sprintf("Submit(%q)", selector), chromedp.Submit(chromedp.CSS(selector)))
}

// SubmitAndWait is [Browser.Submit] followed by a wait for the page that
// the submission loads; it returns that page's HTTP status.
func (b *Browser) SubmitAndWait(t testing.TB, selector string) int {
	t.Helper()
	return b.navigation(t, fmt.Sprintf("SubmitAndWait(%q)", selector), chromedp.Submit(chromedp.CSS(selector)))
}

// navigation runs a step that starts a navigation, waits for the new page
// to load and returns its HTTP status (0 when there is no response, as for
// a navigation within the document).
func (b *Browser) navigation(t testing.TB, what string, step chromedp.Action[chromedp.Void]) int {
	t.Helper()
	action := func(ctx context.Context, _ *chromedp.Target) (int, error) {
		resp, err := chromedp.RunResponse(ctx, step)
		if err != nil || resp == nil {
			return 0, err
		}
		return int(resp.Status), nil
	}
	return run(t, b, what, action)
}

// testLogf logs the browser's errors to the test until the test ends:
// testing panics on a log after the test has completed.
type testLogf struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("browsertest: chromedp: "+format, args...)
	}
}

func (l *testLogf) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

// tailBuffer keeps the last max bytes written to it, for the browser's
// output in a failure message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
