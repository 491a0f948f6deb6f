package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"time"
)

// KeyKind says what a vault key is for.
type KeyKind string

// The kinds of vault keys.
const (
	KindKEK   KeyKind = "kek"   // wraps subject keys
	KindIndex KeyKind = "index" // derives blind-index keys
)

const keySize = 32

// StoredKey is a vault key as kept in the database: 32 random bytes sealed
// with age to every master recipient.
type StoredKey struct {
	ID        int32
	Kind      KeyKind
	Sealed    []byte
	CreatedAt time.Time
	// Retired KEKs still open the subject keys they wrapped but wrap no new
	// ones.
	Retired bool
}

// Vault is the opened key hierarchy: the KEKs and the blind index. It is safe
// for concurrent use.
type Vault struct {
	keks   map[int32]cipher.AEAD
	active int32
	index  *Index
}

// NewKeys creates the vault keys of a new database, sealed to the keyring:
// one KEK and one index key. The store assigns their ids.
func NewKeys(kr *Keyring) ([]StoredKey, error) {
	var keys []StoredKey
	for _, kind := range []KeyKind{KindKEK, KindIndex} {
		k, err := newStoredKey(kr, kind)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func newStoredKey(kr *Keyring, kind KeyKind) (StoredKey, error) {
	key := make([]byte, keySize)
	rand.Read(key)
	sealed, err := kr.seal(key)
	if err != nil {
		return StoredKey{}, fmt.Errorf("seal %s key: %w", kind, err)
	}
	return StoredKey{Kind: kind, Sealed: sealed, CreatedAt: time.Now().UTC()}, nil
}

// Open opens the stored vault keys with the keyring. It needs exactly one
// index key and at least one KEK; the newest KEK that is not retired wraps
// new subject keys.
func Open(kr *Keyring, stored []StoredKey) (*Vault, error) {
	v := &Vault{keks: make(map[int32]cipher.AEAD)}
	for _, sk := range stored {
		key, err := kr.open(sk.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open %s key %d: %w", sk.Kind, sk.ID, err)
		}
		if len(key) != keySize {
			return nil, fmt.Errorf("open %s key %d: %d bytes: %w", sk.Kind, sk.ID, len(key), ErrCorrupt)
		}
		switch sk.Kind {
		case KindKEK:
			aead, err := newGCM(key)
			if err != nil {
				return nil, err
			}
			v.keks[sk.ID] = aead
			if !sk.Retired && sk.ID > v.active {
				v.active = sk.ID
			}
		case KindIndex:
			if v.index != nil {
				return nil, fmt.Errorf("open vault: more than one index key: %w", ErrCorrupt)
			}
			v.index = newIndex(key)
		default:
			return nil, fmt.Errorf("open vault: key %d of unknown kind %q: %w", sk.ID, sk.Kind, ErrCorrupt)
		}
	}
	if v.active == 0 || v.index == nil {
		return nil, fmt.Errorf("open vault: need an active KEK and an index key: %w", ErrNoKey)
	}
	return v, nil
}

// Rewrap re-seals stored vault keys to a new keyring's recipients, for master
// key rotation or to add an escrow recipient. The old keyring must open them.
// Neither subject keys nor data change.
func Rewrap(old, next *Keyring, stored []StoredKey) ([]StoredKey, error) {
	out := make([]StoredKey, len(stored))
	for i, sk := range stored {
		key, err := old.open(sk.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open %s key %d: %w", sk.Kind, sk.ID, err)
		}
		sealed, err := next.seal(key)
		if err != nil {
			return nil, fmt.Errorf("reseal %s key %d: %w", sk.Kind, sk.ID, err)
		}
		out[i] = sk
		out[i].Sealed = sealed
	}
	return out, nil
}

// Index returns the blind index of the vault.
func (v *Vault) Index() *Index { return v.index }

// ActiveKEK returns the id of the KEK that wraps new subject keys.
func (v *Vault) ActiveKEK() int32 { return v.active }

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}
