package auth

import (
	"context"
	"sync"
	"time"
)

// TokenStore finds stored API tokens by id (postgres.DB).
type TokenStore interface {
	Token(ctx context.Context, id string) (Token, error)
}

// Tokens finds API tokens, keeping those read from the store for a short
// while, so that a busy client does not cost a database round trip per
// request. The secret is still checked on every request, against the
// stored hash; a revocation takes effect within the cache's lifetime.
type Tokens struct {
	store TokenStore
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]cachedToken
}

type cachedToken struct {
	tok Token
	at  time.Time
}

// NewTokens finds tokens in store, trusting what it read for ttl (0: five
// seconds; negative: read on every request).
func NewTokens(store TokenStore, ttl time.Duration) *Tokens {
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	return &Tokens{store: store, ttl: ttl, m: map[string]cachedToken{}}
}

// Authenticate checks a credential (id and secret, see ParseCredential)
// and returns its principal. A token that is not stored answers the
// store's not-found error.
func (t *Tokens) Authenticate(ctx context.Context, id string, secret []byte, now time.Time) (Principal, error) {
	tok, err := t.find(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	return tok.Authenticate(secret, now)
}

func (t *Tokens) find(ctx context.Context, id string) (Token, error) {
	if t.ttl < 0 {
		return t.store.Token(ctx, id)
	}
	now := time.Now()
	t.mu.Lock()
	if e, ok := t.m[id]; ok && now.Sub(e.at) < t.ttl {
		t.mu.Unlock()
		return e.tok, nil
	}
	t.mu.Unlock()
	tok, err := t.store.Token(ctx, id)
	if err != nil {
		return tok, err
	}
	t.mu.Lock()
	if len(t.m) >= 10000 {
		clear(t.m) // a crude bound: tokens are few, this never happens in practice
	}
	t.m[id] = cachedToken{tok: tok, at: now}
	t.mu.Unlock()
	return tok, nil
}
