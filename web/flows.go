package web

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/kratos"
)

// flowView is a Kratos flow as its page shows it: one form per group of
// nodes that is submitted on its own (settings has several), each with
// the hidden nodes every form needs (the CSRF token).
type flowView struct {
	Flow  *kratos.Flow
	Forms []formView
	// Links are the other flows a person may want from here.
	Links []linkView
	// Done is a verification that passed: a link on, no form.
	Done *kratos.Node
}

type formView struct {
	Group   string
	Heading string // a message key, for settings' sections
	Nodes   []kratos.Node
}

type linkView struct{ Href, Key string }

// flow renders a Kratos browser flow: without ?flow= it starts one (Kratos
// sends the browser back here with it), else it fetches it with the
// browser's cookies and renders its nodes as forms that post to Kratos.
func (s *Site) flow(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.cfg.Kratos == nil {
			return failWith(fiber.StatusServiceUnavailable, "error.no_kratos")
		}
		id := c.Query("flow")
		if id == "" {
			returnTo := ""
			if kind == kratos.Login || kind == kratos.Registration {
				returnTo = c.BaseURL() + "/privacy/"
			}
			return c.Redirect(s.cfg.Kratos.BrowserURL(kind, returnTo, c.Query("aal")), fiber.StatusSeeOther)
		}
		f, err := s.cfg.Kratos.Flow(c.UserContext(), kind, strings.Clone(id), strings.Clone(c.Get(fiber.HeaderCookie)))
		if err != nil {
			return err
		}
		l := s.locale(c)
		v := flowView{Flow: f}
		v.Forms, v.Done = forms(f)
		switch kind {
		case kratos.Login:
			v.Links = []linkView{{"/privacy/registration", "flow.link.register"}, {"/privacy/recovery", "flow.link.recover"}}
		case kratos.Registration:
			v.Links = []linkView{{"/privacy/login", "flow.link.login"}}
		case kratos.Recovery, kratos.Verification:
			v.Links = []linkView{{"/privacy/login", "flow.link.login"}}
		}
		var cu *access.Customer
		if kind == kratos.Settings {
			// The account's pages keep the privacy center's navigation.
			if who, err := s.customer(c); err == nil {
				cu = who
			}
		}
		title := l.T("flow." + kind + ".title")
		if kind == kratos.Login && f.RequestedAAL == "aal2" {
			title = l.T("flow.login.aal2")
		}
		return s.render(c, fiber.StatusOK, "flow", title, cu, v)
	}
}

// forms groups a flow's nodes into the forms its page shows: the default
// group's (hidden) nodes go into every form.
func forms(f *kratos.Flow) ([]formView, *kratos.Node) {
	var common []kratos.Node
	var order []string
	groups := map[string][]kratos.Node{}
	for _, n := range f.Nodes {
		if f.Kind == kratos.Verification && n.Type == "a" && f.State == "passed_challenge" {
			done := n
			return nil, &done
		}
		if n.Group == "default" {
			if n.Type == "input" && n.InputType == "hidden" {
				common = append(common, n)
				continue
			}
			if f.Kind != kratos.Settings {
				// Visible default nodes (a login's identifier) belong to
				// the one form of the page.
				groups["main"] = append(groups["main"], n)
				if len(order) == 0 || order[0] != "main" {
					order = append([]string{"main"}, order...)
				}
				continue
			}
		}
		g := n.Group
		if f.Kind != kratos.Settings {
			g = "main"
		}
		if _, ok := groups[g]; !ok && !containsString(order, g) {
			order = append(order, g)
		}
		groups[g] = append(groups[g], n)
	}
	var out []formView
	for _, g := range order {
		nodes := append(append([]kratos.Node(nil), common...), groups[g]...)
		out = append(out, formView{Group: g, Heading: "flow.settings." + g, Nodes: nodes})
	}
	return out, nil
}

// flowError shows the error Kratos forwarded the browser to.
func (s *Site) flowError(c *fiber.Ctx) error {
	if s.cfg.Kratos == nil {
		return failWith(fiber.StatusServiceUnavailable, "error.no_kratos")
	}
	fe, err := s.cfg.Kratos.Error(c.UserContext(), strings.Clone(c.Query("id")))
	if err != nil {
		return err
	}
	l := s.locale(c)
	msg := l.T("error.kratos")
	if fe.Code == fiber.StatusForbidden {
		msg = l.T("error.kratos_forbidden")
	}
	return s.render(c, fiber.StatusOK, "error", l.T("error.title"), nil, msg)
}

// logout signs the browser's session out (through Kratos) and comes back
// to the front page. Signing out changes state, so it is a form (POST,
// with the session's form token, from a page of this origin): a link
// another site put in a page or an image signed people out. A GET shows
// the form, for a bookmark or a typed address.
func (s *Site) logout(c *fiber.Ctx) error {
	if s.cfg.Kratos == nil {
		return failWith(fiber.StatusServiceUnavailable, "error.no_kratos")
	}
	cookie := strings.Clone(c.Get(fiber.HeaderCookie))
	cs, err := s.cfg.Kratos.Session(c.UserContext(), "", cookie)
	switch {
	case errors.Is(err, kratos.ErrUnauthenticated):
		// Signed out already, or halfway in (a second factor due), which
		// the sign-in page ends.
		return c.Redirect("/privacy/", fiber.StatusSeeOther)
	case err != nil:
		return err
	}
	if c.Method() != fiber.MethodPost {
		v := view{Email: cs.Email, Token: s.token(cs.SessionID)}
		return s.renderView(c, fiber.StatusOK, "logout", s.locale(c).T("nav.logout"), v, nil)
	}
	if err := s.checkForm(c, cs.SessionID); err != nil {
		return err
	}
	u, err := s.cfg.Kratos.LogoutURL(c.UserContext(), cookie, c.BaseURL()+"/privacy/")
	if err != nil {
		return err // not signed out: said so, never a silent return to the front page
	}
	return c.Redirect(u, fiber.StatusSeeOther)
}
