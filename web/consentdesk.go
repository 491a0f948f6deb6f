package web

import (
	"errors"
	"html/template"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/requests"
)

// The DPO's consent desk: the conflicts merges left, a person's consent
// proof, the purposes with their notices (a new version published after a
// look at what changed), and the lifting of suppressions.

type purposeNotices struct {
	Purpose consent.Purpose
	Current *consent.Notice
	Count   int
}

type consentDeskView struct {
	Conflicts []consent.Conflict
	Purposes  []purposeNotices
	Profile   string
	Proof     *access.Proof
	// A notice being published: its purpose, text and the difference from
	// the version in effect.
	Draft      *noticeDraft
	Holds      []dsr.LegalHold
	Recipients []dsr.Recipient
}

type noticeDraft struct {
	Purpose string
	Text    string
	Diff    template.HTML
	Version int
}

// consentDesk is the consent page.
func (s *Site) consentDesk(c *fiber.Ctx, m *staffMember) error {
	ctx := c.UserContext()
	req := s.staffRequest(c, m, "")
	v := consentDeskView{Profile: strings.TrimSpace(c.Query("profile"))}
	var err error
	if v.Conflicts, _, err = s.cfg.Access.Conflicts(ctx, req, 50); err != nil {
		return err
	}
	ps, err := s.cfg.Access.Purposes(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		ns, err := s.cfg.Access.Notices(ctx, p.ID)
		if err != nil {
			return err
		}
		pn := purposeNotices{Purpose: p, Count: len(ns)}
		if len(ns) > 0 {
			pn.Current = &ns[len(ns)-1]
		}
		v.Purposes = append(v.Purposes, pn)
	}
	if v.Holds, err = s.cfg.Requests.LegalHolds(ctx, s.staffRequest(c, m, "")); err != nil {
		return err
	}
	if v.Recipients, err = s.cfg.Requests.Recipients(ctx, s.staffRequest(c, m, "")); err != nil {
		return err
	}
	if v.Profile != "" {
		id, err := uuid.Parse(v.Profile)
		if err != nil {
			return failWith(fiber.StatusBadRequest, "console.merge_id")
		}
		if v.Proof, err = s.cfg.Access.ConsentProof(ctx, s.staffRequest(c, m, "consent_management"), id); err != nil {
			return err
		}
	}
	return s.renderStaff(c, fiber.StatusOK, "console_consent", s.locale(c).T("console.consent"), m, v)
}

// publishNotice shows what a new notice version changes, and publishes it
// once confirmed.
func (s *Site) publishNotice(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	purpose := strings.Clone(c.Params("purpose"))
	text := strings.TrimSpace(strings.ReplaceAll(c.FormValue("text"), "\r\n", "\n"))
	if c.FormValue("confirm") == "1" {
		if _, err := s.cfg.Access.PublishNotice(c.UserContext(), s.staffRequest(c, m, ""), purpose, text, time.Time{}); err != nil {
			return err
		}
		return c.Redirect("/console/consent?done=published", fiber.StatusSeeOther)
	}
	ns, err := s.cfg.Access.Notices(c.UserContext(), purpose)
	if err != nil {
		return err
	}
	previous := ""
	if len(ns) > 0 {
		previous = ns[len(ns)-1].Text
	}
	v := consentDeskView{Draft: &noticeDraft{Purpose: purpose, Text: text, Diff: wordDiff(previous, text), Version: len(ns) + 1}}
	return s.renderStaff(c, fiber.StatusOK, "console_notice", s.locale(c).T("console.notice_new"), m, v)
}

// purposeDepartments names the departments whose staff may declare a
// purpose (comma- or space-separated; empty: any department).
func (s *Site) purposeDepartments(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	id := strings.Clone(c.Params("purpose"))
	ps, err := s.cfg.Access.Purposes(c.UserContext())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ps, func(p consent.Purpose) bool { return p.ID == id })
	if i < 0 {
		return failWith(fiber.StatusNotFound, "error.not_found")
	}
	change := access.ChangeOf(ps[i])
	change.Departments = strings.FieldsFunc(c.FormValue("departments"), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if _, err := s.cfg.Access.SavePurpose(c.UserContext(), s.staffRequest(c, m, ""), change, false); err != nil {
		if errors.Is(err, derrors.ErrInvalid) {
			return failWith(fiber.StatusUnprocessableEntity, "console.departments_invalid")
		}
		return err
	}
	return c.Redirect("/console/consent?done=saved", fiber.StatusSeeOther)
}

// wordDiff marks what a new text removes and adds, word by word
// (go-diff over words: each distinct word stands for one rune, the way
// its line mode does for lines).
func wordDiff(old, new string) template.HTML {
	index := map[string]rune{}
	var words []string
	runes := func(text string) []rune {
		var out []rune
		for _, w := range splitWords(text) {
			r, ok := index[w]
			if !ok {
				r = wordRune(len(words))
				index[w] = r
				words = append(words, w)
			}
			out = append(out, r)
		}
		return out
	}
	a, b := runes(old), runes(new)
	d := diffmatchpatch.New()
	var out strings.Builder
	for _, x := range d.DiffCleanupSemantic(d.DiffMainRunes(a, b, false)) {
		var text strings.Builder
		for _, r := range x.Text {
			text.WriteString(words[runeWord(r)])
		}
		t := template.HTMLEscapeString(text.String())
		switch x.Type {
		case diffmatchpatch.DiffInsert:
			out.WriteString("<ins>" + t + "</ins>")
		case diffmatchpatch.DiffDelete:
			out.WriteString("<del>" + t + "</del>")
		default:
			out.WriteString(t)
		}
	}
	return template.HTML(out.String())
}

// wordRune is the rune that stands for the n-th distinct word, and
// runeWord its inverse. The surrogates (U+D800 to U+DFFF) are not runes a
// string can hold: the diff's text turned word 55,296 into U+FFFD, and
// looking it up failed (a notice of that many distinct words).
func wordRune(n int) rune {
	if n >= 0xD800 {
		return rune(n + 0x800)
	}
	return rune(n)
}

func runeWord(r rune) int {
	if r >= 0xE000 {
		return int(r) - 0x800
	}
	return int(r)
}

// splitWords cuts a text into words and the spaces after them.
func splitWords(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if r == ' ' || r == '\n' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// liftSuppression lifts the suppression of an erased person's identifier
// (they came back under a new lawful basis).
func (s *Site) liftSuppression(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	l := requests.Lift{Kind: strings.Clone(c.FormValue("kind")), Value: strings.Clone(c.FormValue("value")), Reason: strings.TrimSpace(c.FormValue("reason"))}
	if err := s.cfg.Requests.LiftSuppression(c.UserContext(), s.staffRequest(c, m, ""), l); err != nil {
		return err
	}
	return c.Redirect("/console/consent?done=lifted", fiber.StatusSeeOther)
}
