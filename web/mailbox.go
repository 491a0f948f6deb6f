package web

import (
	"crypto/subtle"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Mailbox keeps, in development only, the mail Kratos sends
// (verification and recovery codes), delivered by Kratos's courier over
// HTTP, so that a developer can read it on /dev/mailbox. Mail is held in
// memory, never logged, and the newest 200 are kept.
type Mailbox struct {
	token string
	mu    sync.Mutex
	mail  []Mail
}

// Mail is one message Kratos sent.
type Mail struct {
	At      time.Time
	To      string
	Subject string
	Type    string // Kratos's template: verification_code_valid, recovery_code_valid...
	Code    string
}

// NewMailbox makes a mailbox that accepts deliveries bearing token.
func NewMailbox(token string) *Mailbox { return &Mailbox{token: token} }

// receive takes one delivery of Kratos's courier (see
// tools/kratos/mail.jsonnet for its body).
func (m *Mailbox) receive(c *fiber.Ctx) error {
	got := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if m.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(m.token)) != 1 {
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	var in struct {
		Recipient    string  `json:"recipient"`
		Subject      string  `json:"subject"`
		TemplateType string  `json:"template_type"`
		Code         *string `json:"code"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil || in.Recipient == "" {
		return c.SendStatus(fiber.StatusBadRequest)
	}
	mail := Mail{At: time.Now().UTC(), To: in.Recipient, Subject: in.Subject, Type: in.TemplateType}
	if in.Code != nil {
		mail.Code = *in.Code
	}
	m.mu.Lock()
	m.mail = append(m.mail, mail)
	if len(m.mail) > 200 {
		m.mail = m.mail[len(m.mail)-200:]
	}
	m.mu.Unlock()
	return c.SendStatus(fiber.StatusNoContent)
}

// Mail returns the mail held, newest first.
func (m *Mailbox) Mail() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Mail, len(m.mail))
	for i, x := range m.mail {
		out[len(m.mail)-1-i] = x
	}
	return out
}

// mailbox is the development mailbox page.
func (s *Site) mailbox(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "mailbox", s.locale(c).T("mailbox.title"), nil, s.cfg.Mailbox.Mail())
}
