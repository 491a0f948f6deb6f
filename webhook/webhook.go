// Package webhook delivers signed notices to the departments and
// downstream systems that must hear of erasures and rectifications
// (GDPR Art. 17(2), 19).
//
// Notices follow the Standard Webhooks convention, so that a recipient
// can check them with an off-the-shelf verifier: a JSON body POSTed with
//
//	webhook-id:        the notice id
//	webhook-timestamp: unix seconds
//	webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
//
// under the recipient's secret ("whsec_" and the base64 key). While a
// secret is rotated the signature header carries one signature per
// secret, separated by spaces. The older X-CDP-Notice and X-CDP-Signature
// headers (t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the whole
// secret text; Verify checks them) are still sent for recipients built
// against them.
//
// Delivery never follows a redirect (a 3xx is a failed delivery, so a
// recipient cannot bounce a signed body elsewhere), and dials no loopback,
// private, link-local (cloud metadata) or otherwise special address, and
// no plain http, unless Options allow them (development and tests).
//
// webhook imports the standard library, the Standard Webhooks reference
// library and an SSRF guard for its dialer.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.dny.dev/ssrf"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the legacy X-CDP-Signature header of body at t.
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

// Verify checks a legacy X-CDP-Signature header against body; a timestamp
// further than tolerance from now is refused.
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

// Headers returns the headers that sign body as notice id at t: the
// Standard Webhooks ones with one signature per secret, and the legacy
// ones under the first secret.
func Headers(id string, secrets []string, body []byte, t time.Time) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: no signing secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhook: a signing secret is not %s and base64", SecretPrefix)
		}
		sig, err := wh.Sign(id, t, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	h.Set("X-CDP-Notice", id)
	h.Set("X-CDP-Signature", Sign([]byte(secrets[0]), body, t))
	return h, nil
}

// Options relax the destinations a Client may reach; the zero value is
// what production wants.
type Options struct {
	// AllowLocal lets notices go to loopback and private addresses, and
	// over plain http: development and tests only.
	AllowLocal bool
}

// ErrDestination reports a recipient URL that notices may not go to.
var ErrDestination = errors.New("destination not allowed")

// CheckURL checks a recipient URL before it is registered: https (http
// only with AllowLocal), a host, no credentials, and no literal address
// that delivery would refuse. A name is checked again, resolved, at every
// delivery.
func CheckURL(raw string, o Options) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("want https://host/path: %w", ErrDestination)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && o.AllowLocal:
	default:
		return fmt.Errorf("scheme %q: notices carry ids of people and go over https only: %w", u.Scheme, ErrDestination)
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL: use the signing secret instead: %w", ErrDestination)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := guard(o).SafeAddr(ip.Unmap()); err != nil {
			return fmt.Errorf("address %s: loopback, private, link-local and metadata addresses are refused: %w", ip, ErrDestination)
		}
	}
	return nil
}

func guard(o Options) *ssrf.Guardian {
	opts := []ssrf.Option{ssrf.WithAnyPort()}
	if o.AllowLocal {
		opts = append(opts,
			ssrf.WithAllowedV4Prefixes(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")),
			ssrf.WithAllowedV6Prefixes(netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fc00::/7")))
	}
	return ssrf.New(opts...)
}

// Client delivers notices.
type Client struct {
	HTTP *http.Client
	opts Options
}

// NewClient returns a client with a short timeout (a recipient that does
// not answer is tried again later) that follows no redirect and dials only
// the addresses o allows, checked after name resolution.
func NewClient(o Options) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: guard(o).Safe}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
		// No proxy from the environment: the guard must see the
		// recipient's address, not a proxy's.
	}
	return &Client{opts: o, HTTP: &http.Client{
		Timeout:   10 * time.Second,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Deliver POSTs a signed notice; nil when the recipient answered 2xx.
// secrets are the recipient's current signing secrets (one, or two while
// one is rotated).
func (c *Client) Deliver(ctx context.Context, rawURL, id string, secrets []string, body []byte) error {
	if err := CheckURL(rawURL, c.opts); err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	h, err := Headers(id, secrets, body, time.Now())
	if err != nil {
		return fmt.Errorf("notice %s: %w", id, err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cdp-notices")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return fmt.Errorf("deliver: the recipient answered %d (a redirect is not followed: register the final URL)", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("deliver: the recipient answered %d", resp.StatusCode)
	}
	return nil
}
