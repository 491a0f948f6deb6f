package browsertest

import (
	_ "embed"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxeVersion is the version of the vendored axe-core.
const AxeVersion = "4.14.1"

// axeSource is axe-core's browser build, evaluated in the page.
//
//go:embed testdata/axe.min.js
var axeSource string

// AxeTags are the axe-core rule tags that [Browser.Violations] runs: the
// WCAG 2.0 and 2.1 success criteria of levels A and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axeRun runs axe on the document and returns its violations, in the shape
// of []Violation. Node targets are CSS selectors; a target inside shadow
// roots or frames is a list of selectors, joined here with " >>> ".
const axeRun = `(async () => {
	const results = await axe.run(document, {
		runOnly: {type: 'tag', values: %s},
		resultTypes: ['violations'],
	});
	return results.violations.map(v => ({
		id: v.id,
		impact: v.impact || '',
		help: v.help,
		helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(s => Array.isArray(s) ? s.join(' >>> ') : String(s)),
			html: n.html,
			failureSummary: n.failureSummary || '',
		})),
	}));
})()`

// Violation is an axe-core rule that the page breaks.
type Violation struct {
	ID      string          `json:"id"`     // rule, such as "image-alt"
	Impact  string          `json:"impact"` // minor, moderate, serious or critical
	Help    string          `json:"help"`   // what the rule asks for
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"` // the elements that break it
}

// ViolationNode is one element that breaks a rule.
type ViolationNode struct {
	Target         []string `json:"target"` // CSS selectors that find it
	HTML           string   `json:"html"`   // its opening tag, shortened
	FailureSummary string   `json:"failureSummary"`
}

// Violations runs axe-core's WCAG 2.1 A and AA rules ([AxeTags]) on the
// page and returns what they find, injecting axe-core first if the page
// does not have it yet. Most tests want [Browser.Axe]; Violations is for
// tests that expect some.
func (b *Browser) Violations(t testing.TB) []Violation {
	t.Helper()
	// Runtime.evaluate runs the source outside the page's
	// Content-Security-Policy, which would refuse it as an inline script.
	if !run(t, b, "axe: checking for axe-core", chromedp.Evaluate[bool](`typeof window.axe === 'object'`)) {
		b.run(t, "axe: injecting axe-core", chromedp.Evaluate[chromedp.Void](axeSource))
	}
	tags := `['` + strings.Join(AxeTags, `', '`) + `']`
	return run(t, b, "axe: running", chromedp.Evaluate[[]Violation](fmt.Sprintf(axeRun, tags), chromedp.EvalAwaitPromise))
}

// Axe checks the page with [Browser.Violations] and fails the test, without
// stopping it, with every violation found: the rule, its impact, what it
// asks for and the first three elements that break it. The name says which
// page or state was checked.
func (b *Browser) Axe(t testing.TB, name string) {
	t.Helper()
	if v := b.Violations(t); len(v) > 0 {
		t.Errorf("%s", FormatViolations(name, b.location(), v))
	}
}

// maxNodes is how many elements of a violation FormatViolations lists.
const maxNodes = 3

// FormatViolations describes the violations found on the page named name at
// url, one rule after another, for a test failure.
func FormatViolations(name, url string, violations []Violation) string {
	var s strings.Builder
	fmt.Fprintf(&s, "axe: %s (%s): %d accessibility violation(s) of %s:", name, url, len(violations), strings.Join(AxeTags, ", "))
	for _, v := range violations {
		fmt.Fprintf(&s, "\n  %s [%s]: %s (%s)", v.ID, v.Impact, v.Help, v.HelpURL)
		for i, n := range v.Nodes {
			if i == maxNodes {
				fmt.Fprintf(&s, "\n    … and %d more", len(v.Nodes)-maxNodes)
				break
			}
			fmt.Fprintf(&s, "\n    %s: %s", strings.Join(n.Target, ", "), n.HTML)
		}
	}
	return s.String()
}
