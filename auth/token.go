package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	tokenPrefix = "cdp_"
	idLen       = 12 // base32 characters
	secretBytes = 32
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Token is a stored API token: everything but the secret.
type Token struct {
	ID         string
	SecretHash []byte
	Principal  string
	Department string
	Roles      []Role
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

// NewToken creates a token for a principal acting for a department with the
// given roles. It returns the token to store and the only plaintext copy of
// the credential, to show to its owner once.
func NewToken(principal, department string, roles []Role, ttl time.Duration) (Token, string, error) {
	principal = strings.TrimSpace(principal)
	if principal == "" || len(principal) > 128 || strings.ContainsAny(principal, " \t\r\n") {
		return Token{}, "", fmt.Errorf("principal %q: 1 to 128 characters without spaces: %w", principal, ErrInvalid)
	}
	if err := ValidateDepartment(department); err != nil {
		return Token{}, "", err
	}
	if len(roles) == 0 {
		return Token{}, "", fmt.Errorf("a token needs at least one role: %w", ErrInvalid)
	}
	idRaw := make([]byte, 8)
	rand.Read(idRaw)
	secret := make([]byte, secretBytes)
	rand.Read(secret)
	t := Token{
		ID:         idEncoding.EncodeToString(idRaw)[:idLen],
		SecretHash: hashSecret(secret),
		Principal:  principal,
		Department: department,
		Roles:      dedupe(roles),
		CreatedAt:  time.Now().UTC(),
	}
	if ttl > 0 {
		t.ExpiresAt = t.CreatedAt.Add(ttl)
	}
	return t, tokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secret), nil
}

// ParseCredential splits a presented token into its id and secret.
func ParseCredential(s string) (id string, secret []byte, err error) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(rest) < idLen+2 || rest[idLen] != '_' {
		return "", nil, fmt.Errorf("malformed token: %w", ErrUnauthenticated)
	}
	secret, err = base64.RawURLEncoding.DecodeString(rest[idLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, fmt.Errorf("malformed token: %w", ErrUnauthenticated)
	}
	return rest[:idLen], secret, nil
}

// Authenticate checks a presented secret against the stored token at time
// now and returns the principal it stands for.
func (t Token) Authenticate(secret []byte, now time.Time) (Principal, error) {
	if subtle.ConstantTimeCompare(hashSecret(secret), t.SecretHash) != 1 {
		return Principal{}, fmt.Errorf("token %s: wrong secret: %w", t.ID, ErrUnauthenticated)
	}
	if !t.RevokedAt.IsZero() {
		return Principal{}, fmt.Errorf("token %s: revoked: %w", t.ID, ErrUnauthenticated)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, fmt.Errorf("token %s: expired: %w", t.ID, ErrUnauthenticated)
	}
	return Principal{Kind: Staff, ID: t.Principal, Department: t.Department, Roles: t.Roles, Credential: t.ID}, nil
}

func hashSecret(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

func dedupe(roles []Role) []Role {
	var out []Role
	for _, r := range roles {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
