package web

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// An outside probe (2026-12-04) found that the language switch wrote its
// back= parameter into the Location header as it came: a link with a line
// break in it set any header of the answer, the Kratos session cookie
// included (session fixation), or a body of its own. It goes back only to
// a page of the site's own, written out again from its parsed form.
func TestTheLanguageSwitchGoesBackOnlyToAPageOfItsOwn(t *testing.T) {
	site, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	site.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()
	for back, want := range map[string]string{
		"/privacy/\r\nSet-Cookie: ory_kratos_session=ATTACKER; Path=/":     "/privacy/",
		"/privacy/\nX-Injected: yes":                                       "/privacy/",
		"/privacy/\r\nContent-Length: 40\r\n\r\n<script>alert(1)</script>": "/privacy/",
		"//evil.example/privacy/":                                          "/privacy/",
		"https://evil.example/privacy/":                                    "/privacy/",
		`/privacy/\evil`:                                                   "/privacy/",
		"/privacy/../../etc/passwd":                                        "/privacy/",
		"/elsewhere/":                                                      "/privacy/",
		"/console/profiles?purpose=support&q=a b":                          "/console/profiles?purpose=support&q=a+b",
		"/privacy/consents":                                                "/privacy/consents",
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET /privacy/language?lang=de&back="+url.QueryEscape(back)+" HTTP/1.1\r\nHost: cdp.example\r\nConnection: close\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		raw, _ := io.ReadAll(bufio.NewReader(conn))
		conn.Close()
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		if strings.Contains(head, "ATTACKER") || strings.Contains(head, "X-Injected") || strings.Count(head, "Set-Cookie:") != 1 {
			t.Errorf("back=%q: the answer carries headers of the link's:\n%s", back, head)
		}
		var location string
		for _, line := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(line, "Location: "); ok {
				location = v
			}
		}
		if location != want {
			t.Errorf("back=%q: goes back to %q, want %q", back, location, want)
		}
	}
}
