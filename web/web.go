// Package web serves cdp's pages: the customers' privacy center, with the
// Ory Kratos sign-in flows rendered by cdp's own pages, and (in
// development) the mailbox of the mail Kratos sends.
//
// Pages are server-rendered html/template files embedded in the binary,
// one layout and one small stylesheet; they work without JavaScript.
// Every page that shows personal data reads it through package access
// with the customer as principal, exactly like the API, so it is decided
// by the policy and audited before it is shown.
//
// Every page carries a strict Content-Security-Policy with a per-request
// nonce, frame-ancestors 'none', Referrer-Policy no-referrer and
// Cache-Control no-store. A state-changing request is refused when it
// comes from another origin (Go's http.CrossOriginProtection: the
// browser's Sec-Fetch-Site, else Origin against Host) and when its form
// token is not the one of the signed-in session. Languages come from
// message catalogues (locales/*.json, golang.org/x/text): the person's
// choice, else their browser's Accept-Language.
package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/kratos"
	"github.com/cdp-project/cdp/profiling"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/vault"
)

//go:embed templates/*.html static/* locales/*.json
var files embed.FS

// Config is what the pages are built from. Every field is required
// unless marked optional.
type Config struct {
	Access   *access.Service
	Requests *requests.Service
	// Profiling is the customer base and its segments (optional: the
	// console shows no customers page).
	Profiling *profiling.Service
	// Kratos signs customers in (optional: without it the privacy center
	// says sign-in is not configured).
	Kratos *kratos.Client
	Log    *slog.Logger
	// Mailbox shows the mail Kratos sends, on a development-only page
	// (optional: none outside development).
	Mailbox *Mailbox
	// Secure marks cookies Secure (everywhere but loopback development).
	Secure bool
	// StaffSecondFactor requires every staff member but ingest accounts
	// (readers, stewards, the DPO, admins) to sign in to the
	// console with their second factor (TOTP); off only in development.
	StaffSecondFactor bool
	// Chain shows and verifies the audit log's chain (app.Chain;
	// optional).
	Chain Chain
	// Index keys the form tokens (optional: without it, a key of this
	// process only). With the vault's index every instance of the service,
	// and one restarted, accepts the forms the others rendered.
	Index *vault.Index
}

// Site is the pages.
type Site struct {
	cfg    Config
	pages  map[string]*template.Template
	langs  *languages
	secret []byte // keys form tokens without cfg.Index
	kratos string // Kratos's origin, where sign-in forms post
	cop    *http.CrossOriginProtection
}

// New parses the templates and catalogues.
func New(cfg Config) (*Site, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Site{cfg: cfg, pages: map[string]*template.Template{}, secret: make([]byte, 32), cop: http.NewCrossOriginProtection()}
	rand.Read(s.secret)
	langs, err := loadLanguages(files)
	if err != nil {
		return nil, err
	}
	s.langs = langs
	if cfg.Kratos != nil {
		if u, err := url.Parse(cfg.Kratos.PublicURL()); err == nil {
			s.kratos = u.Scheme + "://" + u.Host
		}
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		s.pages[base] = t
	}
	return s, nil
}

var funcs = template.FuncMap{
	// qr lets the TOTP QR code through as the data URL it is, and
	// nothing else (html/template refuses data: URLs by default).
	"qr": func(src string) template.URL {
		if strings.HasPrefix(src, "data:image/png;base64,") && !strings.ContainsAny(src, "\"'<> ") {
			return template.URL(src)
		}
		return ""
	},
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datetime": func(t time.Time) string {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	// dict passes several values to a partial template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"add":     func(a, b int) int { return a + b },
	"list":    func(xs ...string) []string { return xs },
	"pct":     func(f *float64) float64 { return *f * 100 },
	"percent": func(f float64) float64 { return 100 * f },
	"bars":    func(id, title string, bs []bar) barChart { return barChart{ID: id, Title: title, Bars: bs} },
	"deref64": func(f *float64) float64 {
		if f == nil {
			return 0
		}
		return *f
	},
	"mul": func(a, b int) int { return a * b },
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
}

// Mount adds the pages' routes.
func (s *Site) Mount(app fiber.Router) {
	app.Get("/static/:file", s.static)
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/privacy/", fiber.StatusSeeOther) })
	p := app.Group("/privacy", s.secure)
	p.Get("/", s.handle(s.home))
	for _, kind := range []string{kratos.Login, kratos.Registration, kratos.Recovery, kratos.Verification, kratos.Settings} {
		p.Get("/"+kind, s.handle(s.flow(kind)))
	}
	p.Get("/error", s.handle(s.flowError))
	p.Get("/logout", s.handle(s.logout))
	p.Post("/logout", s.handle(s.logout))
	p.Get("/language", s.handle(s.language))
	p.Get("/data", s.handle(s.signedIn(s.myData)))
	p.Get("/consents", s.handle(s.signedIn(s.myConsents)))
	p.Post("/consents", s.handle(s.signedIn(s.changeConsent)))
	p.Get("/requests", s.handle(s.signedInOrErased(s.myRequests)))
	p.Post("/requests", s.handle(s.signedIn(s.newRequest)))
	p.Get("/requests/:id", s.handle(s.signedInOrErased(s.myRequest)))
	p.Get("/requests/:id/export.:format", s.handle(s.signedInOrErased(s.myExport)))
	p.Get("/reads", s.handle(s.signedIn(s.myReads)))
	p.Get("/timeline", s.handle(s.signedIn(s.myTimeline)))
	p.Get("/profiling", s.handle(s.signedIn(s.myProfiling)))
	s.mountConsole(app)
	p.Post("/records/:id/dispute", s.handle(s.signedIn(s.dispute)))
	p.Post("/requests/:id/withdraw", s.handle(s.signedIn(s.withdraw)))
	if s.cfg.Mailbox != nil {
		d := app.Group("/dev", s.secure)
		d.Get("/mailbox", s.handle(s.mailbox))
		app.Post("/dev/courier", s.cfg.Mailbox.receive)
	}
}

func (s *Site) static(c *fiber.Ctx) error {
	name := c.Params("file")
	data, err := fs.ReadFile(files, "static/"+name)
	if err != nil || strings.Contains(name, "/") {
		return c.SendStatus(fiber.StatusNotFound)
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		c.Set(fiber.HeaderContentType, "image/svg+xml")
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(data)
}

const localNonce = "web_nonce"

// secure sets the security headers of every page and refuses a
// state-changing request from another origin.
func (s *Site) secure(c *fiber.Ctx) error {
	var b [18]byte
	rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	c.Locals(localNonce, nonce)
	formAction := "'self'"
	if s.kratos != "" {
		formAction += " " + s.kratos
	}
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'self'; img-src 'self' data:; "+
		"form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		r, err := adaptor.ConvertRequest(c, false)
		if err != nil || s.cop.Check(r) != nil {
			return s.fail(c, fiber.StatusForbidden, "error.cross_origin")
		}
	}
	return c.Next()
}

// view is what every page template gets.
type view struct {
	L        *locale
	Nonce    string
	Title    string
	Path     string
	Customer *access.Customer
	Staff    *staffMember
	Console  bool // a console page: the console's header
	Email    string
	Token    string // the form token of the signed-in session
	Dev      bool
	Notice   string // a translated message shown on top
	Data     any
}

// render writes a page of the privacy center.
func (s *Site) render(c *fiber.Ctx, status int, page, title string, cu *access.Customer, data any) error {
	return s.renderView(c, status, page, title, s.customerView(cu), data)
}

// customerView is the view of a page served to a customer (none: nil).
func (s *Site) customerView(cu *access.Customer) view {
	v := view{Customer: cu}
	if cu != nil {
		v.Email, v.Token = cu.Session.Email, s.token(cu.Session.SessionID)
	}
	return v
}

// renderView writes a page from a view that says who is signed in.
func (s *Site) renderView(c *fiber.Ctx, status int, page, title string, v view, data any) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("no page %s", page)
	}
	v.L, v.Title, v.Path, v.Dev, v.Data = s.locale(c), title, c.Path(), s.cfg.Mailbox != nil, data
	v.Console = v.Staff != nil || strings.HasPrefix(v.Path, "/console")
	v.Nonce, _ = c.Locals(localNonce).(string)
	if v.Staff != nil {
		v.Email = v.Staff.Email
	}
	if n := c.Query("done"); n != "" && v.L.has("done."+n) {
		v.Notice = v.L.T("done." + n)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentLanguage, v.L.Lang())
	return c.Send(buf.Bytes())
}

func (s *Site) locale(c *fiber.Ctx) *locale {
	return s.langs.pick(c.Cookies("lang"), c.Get(fiber.HeaderAcceptLanguage))
}

// language switches the pages' language (a cookie) and goes back.
func (s *Site) language(c *fiber.Ctx) error {
	tag := c.Query("lang")
	for _, t := range s.langs.tags {
		if t.String() == tag {
			c.Cookie(&fiber.Cookie{Name: "lang", Value: tag, Path: "/", MaxAge: 365 * 24 * 3600, HTTPOnly: true,
				Secure: s.cfg.Secure, SameSite: fiber.CookieSameSiteLaxMode})
		}
	}
	return c.Redirect(backTo(c.Query("back")), fiber.StatusSeeOther)
}

// backTo is where the language switch goes back to: a page of the site's
// own (a path under /privacy/, /console/ or /dev/, with its query),
// written out again from its parsed form; anything else, the privacy
// center. The value ends in a Location header: a line break in it would
// have let a link set any header of the answer, a session cookie too.
func backTo(back string) string {
	const home = "/privacy/"
	if strings.ContainsFunc(back, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return home
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.HasPrefix(back, "//") {
		return home
	}
	p := u.EscapedPath()
	if path.Clean(u.Path)+"/" != u.Path && path.Clean(u.Path) != u.Path {
		return home // dot segments
	}
	if !strings.HasPrefix(p, "/privacy/") && !strings.HasPrefix(p, "/dev/") && !strings.HasPrefix(p, "/console/") {
		return home
	}
	if u.RawQuery != "" {
		p += "?" + u.Query().Encode()
	}
	return p
}

// token is the form token of a session: a keyed hash of its id, so a
// page of another origin cannot know it.
func (s *Site) token(session string) string {
	if s.cfg.Index != nil {
		return hex.EncodeToString(s.cfg.Index.SumString(vault.IndexFormToken, session))
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

// checkForm refuses a form without the token of the signed-in session
// (a customer's or a staff member's), compared in constant time.
func (s *Site) checkForm(c *fiber.Ctx, session string) error {
	if !hmac.Equal([]byte(c.FormValue("csrf")), []byte(s.token(session))) {
		return failWith(fiber.StatusForbidden, "error.form_token")
	}
	return nil
}

// pageError is an error a page answers with: a status and a message key.
type pageError struct {
	status int
	key    string
	args   []any
}

func (e *pageError) Error() string { return e.key }

func failWith(status int, key string, args ...any) error {
	return &pageError{status: status, key: key, args: args}
}

// handle renders a handler's error as a page.
func (s *Site) handle(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if err == nil {
			return nil
		}
		var pe *pageError
		var rd *kratos.Redirect
		switch {
		case errors.As(err, &rd):
			return c.Redirect(rd.URL, fiber.StatusSeeOther)
		case errors.As(err, &pe):
			return s.fail(c, pe.status, pe.key, pe.args...)
		}
		status, key := statusOf(err)
		if status >= 500 {
			s.cfg.Log.Error("page failed", slog.String("route", strings.Clone(c.Route().Path)), slog.String("error", err.Error()))
		}
		return s.fail(c, status, key)
	}
}

// fail renders the error page.
func (s *Site) fail(c *fiber.Ctx, status int, key string, args ...any) error {
	if _, ok := c.Locals(localNonce).(string); !ok {
		c.Locals(localNonce, "")
	}
	l := s.locale(c)
	// The page of a signed-in person keeps its header: who is signed in,
	// and the sign-out form.
	v, _ := c.Locals(localSignedIn).(view)
	return s.renderView(c, status, "error", l.T("error.title"), v, l.T(key, args...))
}

// localSignedIn holds who a page was served to (a view with the staff
// member or the customer, their email and form token), for its error
// page.
const localSignedIn = "web_signed_in"

// idParam is the :id of a page's path; a malformed one is a page that
// does not exist.
func idParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, failWith(fiber.StatusNotFound, "error.not_found")
	}
	return id, nil
}

// goldenOf lists a profile's golden values in reading order, each with
// where it came from.
func goldenOf(p *access.Profile) []goldenView {
	var out []goldenView
	for name, a := range p.Attributes {
		out = append(out, goldenView{Name: name, Value: a.Value, Source: a.Source, Rule: a.Rule})
	}
	sort.Slice(out, func(i, j int) bool { return fieldOrder(out[i].Name) < fieldOrder(out[j].Name) })
	return out
}
