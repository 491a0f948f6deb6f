package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cdp-project/cdp/webhook"
)

func TestSignAndVerify(t *testing.T) {
	secret, body := []byte("s3cret-of-32-bytes-for-the-hmac!"), []byte(`{"kind":"erasure"}`)
	now := time.Unix(1_800_000_000, 0)
	h := webhook.Sign(secret, body, now)
	if err := webhook.Verify(secret, body, h, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		secret, body []byte
		header       string
		at           time.Time
	}{
		"other secret": {[]byte("another"), body, h, now},
		"other body":   {secret, []byte(`{"kind":"rectification"}`), h, now},
		"replayed":     {secret, body, h, now.Add(time.Hour)},
		"malformed":    {secret, body, "v1=abc", now},
	} {
		if err := webhook.Verify(c.secret, c.body, c.header, c.at, 5*time.Minute); !errors.Is(err, webhook.ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// recipient verifies notices with the Standard Webhooks reference library,
// as an off-the-shelf receiver would.
func recipient(t *testing.T, secret string, status *atomic.Int32) *httptest.Server {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDeliverSignsAsStandardWebhooks(t *testing.T) {
	secret := webhook.NewSecret()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	var status atomic.Int32
	status.Store(http.StatusAccepted)
	srv := recipient(t, secret, &status)
	c := webhook.NewClient(webhook.Options{AllowLocal: true})
	if err := c.Deliver(context.Background(), srv.URL, "n1", []string{secret}, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// While a secret is rotated, either one verifies.
	if err := c.Deliver(context.Background(), srv.URL, "n1", []string{webhook.NewSecret(), secret}, []byte(`{}`)); err != nil {
		t.Errorf("rotation: %v", err)
	}
	if err := c.Deliver(context.Background(), srv.URL, "n1", []string{webhook.NewSecret()}, []byte(`{}`)); err == nil {
		t.Error("a badly signed notice counts as delivered")
	}
	// The secrets issued before (whsec_ and hex) verify too.
	legacy := "whsec_" + strings.Repeat("ab", 32)
	if err := c.Deliver(context.Background(), recipient(t, legacy, &status).URL, "n1", []string{legacy}, []byte(`{}`)); err != nil {
		t.Errorf("a legacy secret: %v", err)
	}
	status.Store(http.StatusInternalServerError)
	if err := c.Deliver(context.Background(), srv.URL, "n1", []string{secret}, []byte(`{}`)); err == nil {
		t.Error("a 500 counts as delivered")
	}
}

// A recipient answering with a redirect does not get the signed body sent
// elsewhere: the delivery fails.
func TestDeliverFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		srv := httptest.NewServer(http.RedirectHandler(other.URL, code))
		err := webhook.NewClient(webhook.Options{AllowLocal: true}).Deliver(context.Background(), srv.URL, "n1", []string{webhook.NewSecret()}, []byte(`{}`))
		srv.Close()
		if err == nil {
			t.Errorf("%d counts as delivered", code)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the signed body was re-sent %d times to the redirect's target", n)
	}
}

// Loopback, private, link-local (cloud metadata) and plain-http
// destinations are refused unless allowed, at registration and, after
// name resolution, at delivery.
func TestDestinationsAreGuarded(t *testing.T) {
	for _, u := range []string{
		"http://example.com/hook", "https://127.0.0.1/hook", "https://[::1]/hook", "https://10.1.2.3/hook",
		"https://192.168.0.9/hook", "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook",
		"https://0.0.0.0/hook", "https://user:pw@example.com/hook", "ftp://example.com/", "not a url",
	} {
		if err := webhook.CheckURL(u, webhook.Options{}); !errors.Is(err, webhook.ErrDestination) {
			t.Errorf("%s: %v", u, err)
		}
	}
	if err := webhook.CheckURL("https://hooks.example.com/cdp", webhook.Options{}); err != nil {
		t.Errorf("a public https URL: %v", err)
	}
	if err := webhook.CheckURL("http://127.0.0.1:8081/hook", webhook.Options{AllowLocal: true}); err != nil {
		t.Errorf("loopback in development: %v", err)
	}
	if err := webhook.CheckURL("https://169.254.169.254/", webhook.Options{AllowLocal: true}); err == nil {
		t.Error("the metadata address in development")
	}
	// A name that resolves to loopback is refused at dial time.
	var hit atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := webhook.NewClient(webhook.Options{})
	c.HTTP.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	if err := c.Deliver(context.Background(), "https://localhost"+port+"/hook", "n1", []string{webhook.NewSecret()}, []byte(`{}`)); err == nil || hit.Load() != 0 {
		t.Errorf("a name resolving to loopback was dialled: %v", err)
	}
}
