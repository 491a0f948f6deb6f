package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/cdp-project/cdp/kratos"
)

// languages are the message catalogues of the pages, one file per
// language (locales/<BCP 47 tag>.json: a flat object of key -> text, with
// {name} placeholders): adding a language is adding a file. English is
// the fallback of every missing key.
type languages struct {
	tags    []language.Tag
	matcher language.Matcher
	cat     *catalog.Builder
}

func loadLanguages(fsys fs.FS) (*languages, error) {
	files, err := fs.Glob(fsys, "locales/*.json")
	if err != nil {
		return nil, err
	}
	l := &languages{cat: catalog.NewBuilder(catalog.Fallback(language.English))}
	sort.Slice(files, func(i, j int) bool { // English first: the matcher's default
		return strings.HasSuffix(files[i], "/en.json") || !strings.HasSuffix(files[j], "/en.json") && files[i] < files[j]
	})
	for _, f := range files {
		tag, err := language.Parse(strings.TrimSuffix(path.Base(f), ".json"))
		if err != nil {
			return nil, fmt.Errorf("%s: not a language tag: %w", f, err)
		}
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var msgs map[string]string
		if err := json.Unmarshal(data, &msgs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for k, v := range msgs {
			// The catalogue holds printf formats: a literal % is doubled.
			if err := l.cat.SetString(tag, k, strings.ReplaceAll(v, "%", "%%")); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", f, k, err)
			}
		}
		l.tags = append(l.tags, tag)
	}
	if len(l.tags) == 0 || l.tags[0] != language.English {
		return nil, fmt.Errorf("locales/en.json is missing: English is every language's fallback")
	}
	l.matcher = language.NewMatcher(l.tags)
	return l, nil
}

// pick chooses the language of a request: the one the person chose (a
// cookie), else the best match of their browser's Accept-Language.
func (l *languages) pick(chosen, accept string) *locale {
	if chosen != "" {
		if t, err := language.Parse(chosen); err == nil {
			for _, s := range l.tags {
				if s == t {
					return l.locale(s)
				}
			}
		}
	}
	prefs, _, _ := language.ParseAcceptLanguage(accept)
	_, i, _ := l.matcher.Match(prefs...)
	return l.locale(l.tags[i])
}

func (l *languages) locale(t language.Tag) *locale {
	return &locale{Tag: t, p: message.NewPrinter(t, message.Catalog(l.cat)), all: l.tags}
}

// locale translates one page.
type locale struct {
	Tag language.Tag
	p   *message.Printer
	all []language.Tag
}

// Lang is the page's language as <html lang> names it.
func (l *locale) Lang() string { return l.Tag.String() }

// T translates key, filling {name} placeholders from pairs of name and
// value.
func (l *locale) T(key string, pairs ...any) string {
	s := l.p.Sprintf(key)
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, "{"+fmt.Sprint(pairs[i])+"}", fmt.Sprint(pairs[i+1]))
	}
	return s
}

// TOr translates key, or says fallback when the catalogue has no such key
// (a name the DPO registered, say).
func (l *locale) TOr(key, fallback string) string {
	if !l.has(key) {
		return fallback
	}
	return l.T(key)
}

// Purpose is a purpose's description in the page's language: the
// catalogue's translation of that very text (keyed by the purpose and a
// hash of the text, so that a description the DPO changed is never shown
// in an outdated translation), else the description as the DPO wrote it.
func (l *locale) Purpose(id, description string) string {
	sum := sha256.Sum256([]byte(description))
	return l.TOr("purposedesc."+id+"."+hex.EncodeToString(sum[:4]), description)
}

// has tells whether the catalogue holds key (in any language: English is
// the fallback).
func (l *locale) has(key string) bool { return l.p.Sprintf(key) != key }

// Kratos translates a message of Kratos by its id, with the values it
// names; Kratos's own English text when the catalogue has no such id.
func (l *locale) Kratos(t *kratos.Text) string {
	if t == nil {
		return ""
	}
	key := "kratos." + strconv.FormatInt(t.ID, 10)
	if !l.has(key) {
		return t.Text
	}
	s := l.p.Sprintf(key)
	for k, v := range t.Context {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			v = int64(f)
		}
		s = strings.ReplaceAll(s, "{"+k+"}", fmt.Sprint(v))
	}
	return s
}

// Label is a form field's label: by the field's name for labels Kratos
// takes from the identity schema (their text is the schema's, English),
// else by the message id.
func (l *locale) Label(n kratos.Node) string {
	if key := "kratos.field." + n.Name; (n.Label == nil || n.Label.ID == 1070002) && l.has(key) {
		return l.T(key)
	}
	if n.Label == nil {
		return n.Name
	}
	return l.Kratos(n.Label)
}

// Choice is a language a person can switch to.
type Choice struct {
	Tag     string
	Name    string // in its own language
	Current bool
}

// Choices lists the languages, each named in itself.
func (l *locale) Choices() []Choice {
	out := make([]Choice, 0, len(l.all))
	for _, t := range l.all {
		out = append(out, Choice{Tag: t.String(), Name: display.Self.Name(t), Current: t == l.Tag})
	}
	return out
}
