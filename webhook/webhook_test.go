package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

func TestDeliver(t *testing.T) {
	secret := []byte("secret")
	var status = http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, body, r.Header.Get("X-CDP-Signature"), time.Now(), time.Minute); err != nil || r.Header.Get("X-CDP-Notice") != "n1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := webhook.NewClient()
	if err := c.Deliver(context.Background(), srv.URL, "n1", secret, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.Deliver(context.Background(), srv.URL, "n1", []byte("wrong"), []byte(`{}`)); err == nil {
		t.Error("a badly signed notice counts as delivered")
	}
	status = http.StatusInternalServerError
	if err := c.Deliver(context.Background(), srv.URL, "n1", secret, []byte(`{}`)); err == nil {
		t.Error("a 500 counts as delivered")
	}
}
