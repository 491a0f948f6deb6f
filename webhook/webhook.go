// Package webhook delivers signed notices to the departments and
// downstream systems that must hear of erasures and rectifications
// (GDPR Art. 17(2), 19).
//
// A notice is a JSON body POSTed with the headers
//
//	X-CDP-Notice:    the notice id
//	X-CDP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the recipient's secret>
//
// The recipient checks the signature with Verify (or its own code: the
// scheme is Stripe's) and refuses a timestamp older than a few minutes,
// which stops replays. A 2xx answer means delivered; the recipient then
// acknowledges, once it acted, at the notice's ack_path.
//
// webhook imports the standard library only.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sign returns the signature header of body at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrSignature reports a signature that does not verify.
var ErrSignature = errors.New("webhook signature does not verify")

// Verify checks a signature header against body; a timestamp further than
// tolerance from now is refused.
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: malformed header", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrSignature)
	}
	want := mac(secret, ts, body)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) {
		return ErrSignature
	}
	return nil
}

// Client delivers notices.
type Client struct {
	HTTP *http.Client
}

// NewClient returns a client with a short timeout: a recipient that does
// not answer is tried again later.
func NewClient() *Client { return &Client{HTTP: &http.Client{Timeout: 10 * time.Second}} }

// Deliver POSTs a signed notice; nil when the recipient answered 2xx.
func (c *Client) Deliver(ctx context.Context, url, id string, secret, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cdp-notices")
	req.Header.Set("X-CDP-Notice", id)
	req.Header.Set("X-CDP-Signature", Sign(secret, body, time.Now()))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("deliver: the recipient answered %d", resp.StatusCode)
	}
	return nil
}
