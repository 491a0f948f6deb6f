package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/requests"
)

// The language is the person's choice, else the best match of their
// browser's; English when nothing matches.
func TestLanguageChoice(t *testing.T) {
	l, err := loadLanguages(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ chosen, accept, want string }{
		{"", "de-DE,de;q=0.9,en;q=0.5", "de"},
		{"", "fr-FR,fr;q=0.9", "en"},
		{"", "", "en"},
		{"en", "de-DE", "en"},
		{"de", "en-GB", "de"},
		{"xx", "de-AT", "de"},
	} {
		if got := l.pick(c.chosen, c.accept).Lang(); got != c.want {
			t.Errorf("chosen %q, Accept-Language %q: %s, want %s", c.chosen, c.accept, got, c.want)
		}
	}
	de := l.pick("de", "")
	if got := de.T("home.welcome", "email", "a@example.org"); got != "Angemeldet als a@example.org." {
		t.Errorf("placeholders: %q", got)
	}
}

// Every language has every message, with the same placeholders, and every
// key a template names is in the catalogue.
func TestCataloguesAreComplete(t *testing.T) {
	load := func(name string) map[string]string {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en := load("locales/en.json")
	names, _ := fs.Glob(files, "locales/*.json")
	ph := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, name := range names {
		other := load(name)
		for k, v := range en {
			o, ok := other[k]
			if !ok {
				t.Errorf("%s lacks %s", name, k)
				continue
			}
			a, b := ph.FindAllString(v, -1), ph.FindAllString(o, -1)
			sort.Strings(a)
			sort.Strings(b)
			if strings.Join(a, ",") != strings.Join(b, ",") {
				t.Errorf("%s %s: placeholders %v, English has %v", name, k, b, a)
			}
		}
	}
	key := regexp.MustCompile(`\.L\.T "([a-z_.]+)"|\$l\.T "([a-z_.]+)"`)
	tmpls, _ := fs.Glob(files, "templates/*.html")
	for _, name := range tmpls {
		data, _ := fs.ReadFile(files, name)
		for _, m := range key.FindAllStringSubmatch(string(data), -1) {
			k := m[1] + m[2]
			if _, ok := en[k]; !ok {
				t.Errorf("%s names %s, which the catalogue lacks", name, k)
			}
		}
	}
}

// A purpose's description is translated only while it is the text the
// translation was made of.
func TestPurposeDescriptions(t *testing.T) {
	l, err := loadLanguages(files)
	if err != nil {
		t.Fatal(err)
	}
	de := l.pick("de", "")
	seeded := "Invoicing, payment and the bookkeeping that tax law requires."
	if got := de.Purpose("billing", seeded); got == seeded {
		t.Errorf("the seeded billing purpose is not translated: %q", got)
	}
	changed := "Invoicing and payment."
	if got := de.Purpose("billing", changed); got != changed {
		t.Errorf("a changed description shows an outdated translation: %q", got)
	}
}

// The privacy center explains each point of the logic of profiling the
// API gives (crm.Logic), in every language: a point added there needs its
// translation here.
func TestEveryPointOfTheProfilingLogicIsTranslated(t *testing.T) {
	l, err := loadLanguages(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "de"} {
		loc := l.pick(lang, "")
		for i := range crm.Logic {
			if key := fmt.Sprintf("profiling.logic.%d", i+1); !loc.has(key) {
				t.Errorf("%s: no %s", lang, key)
			}
		}
	}
}

// Every field a profile can hold has a label in every language: the
// console's withheld list showed "field.full_name".
func TestEveryFieldHasALabel(t *testing.T) {
	l, err := loadLanguages(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "de"} {
		loc := l.pick(lang, "")
		for _, f := range identity.Fields() {
			if key := "field." + f.String(); !loc.has(key) {
				t.Errorf("%s: no %s", lang, key)
			}
		}
	}
}

// The web probe of 2026-12-04: a customer who chose on the consents page
// while the DPO published a new notice was told "please check what you
// entered", and an expired export "there is nothing here, or it is not
// yours". Each has a message of its own, in every language.
func TestPageErrorsSayWhatHappened(t *testing.T) {
	l, err := loadLanguages(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err    error
		status int
		key    string
	}{
		{fmt.Errorf("marketing v1: %w", consent.ErrUnknownNotice), 409, "error.notice_changed"},
		{fmt.Errorf("export of request x: %w", requests.ErrExportExpired), 410, "error.export_expired"},
	} {
		status, key := statusOf(c.err)
		if status != c.status || key != c.key {
			t.Errorf("%v: %d %s; want %d %s", c.err, status, key, c.status, c.key)
		}
		for _, tag := range []string{"en", "de"} {
			if msg := l.pick(tag, "").T(key); msg == key || msg == "" {
				t.Errorf("%s has no message for %s", tag, key)
			}
		}
	}
}
