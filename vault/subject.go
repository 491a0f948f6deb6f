package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// wrapVersion is the first byte of a wrapped subject key.
const wrapVersion = 1

// SubjectKey is the data key of one source record. Its plaintext exists only
// in memory; the database holds it wrapped by a KEK (see Wrapped and KEK).
type SubjectKey struct {
	ID      uuid.UUID
	KEK     int32  // id of the KEK that wraps it
	Wrapped []byte // version | nonce | AES-GCM(KEK, key)
	aead    cipher.AEAD
}

// NewSubjectKey creates a fresh subject key wrapped by the active KEK.
func (v *Vault) NewSubjectKey(id uuid.UUID) (*SubjectKey, error) {
	kek := v.keks[v.active]
	ns := kek.NonceSize()
	// The key and the wrapping's nonce come from one read of the random source.
	var fresh [keySize + 32]byte
	rand.Read(fresh[:keySize+ns])
	key := fresh[:keySize]
	wrapped := make([]byte, 1+ns, 1+ns+keySize+kek.Overhead())
	wrapped[0] = wrapVersion
	copy(wrapped[1:], fresh[keySize:keySize+ns])
	wrapped = kek.Seal(wrapped, wrapped[1:], key, wrapAD(id))
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &SubjectKey{ID: id, KEK: v.active, Wrapped: wrapped, aead: aead}, nil
}

// OpenSubjectKey unwraps a stored subject key.
func (v *Vault) OpenSubjectKey(id uuid.UUID, kekID int32, wrapped []byte) (*SubjectKey, error) {
	kek, ok := v.keks[kekID]
	if !ok {
		return nil, fmt.Errorf("subject key %s: KEK %d: %w", id, kekID, ErrNoKey)
	}
	ns := kek.NonceSize()
	if len(wrapped) < 1+ns+kek.Overhead() || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("subject key %s: bad wrapping: %w", id, ErrCorrupt)
	}
	key, err := kek.Open(nil, wrapped[1:1+ns], wrapped[1+ns:], wrapAD(id))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("subject key %s: %w", id, ErrCorrupt)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &SubjectKey{ID: id, KEK: kekID, Wrapped: wrapped, aead: aead}, nil
}

func wrapAD(id uuid.UUID) []byte {
	ad := make([]byte, 0, 24)
	ad = append(ad, "cdp-sk1"...)
	return append(ad, id[:]...)
}

// envelopeVersion is the first byte of a sealed envelope.
const envelopeVersion = 1

// Context separates envelopes sealed under one subject key that hold
// different things (the attributes, the match keys), so that one cannot be
// passed off as the other.
type Context uint8

// Item is one part of an envelope: a tag chosen by the caller (unique within
// the envelope) and its plaintext value.
type Item struct {
	Tag   uint8
	Value []byte
}

// Seal encrypts each item separately into one envelope. Tags must be unique.
func (k *SubjectKey) Seal(ctx Context, items []Item) ([]byte, error) {
	ns := k.aead.NonceSize()
	size := 1 + ns
	for _, it := range items {
		size += 1 + binary.MaxVarintLen32 + len(it.Value) + k.aead.Overhead()
	}
	out := make([]byte, 1+ns, size)
	out[0] = envelopeVersion
	rand.Read(out[1:])
	var nonce [12]byte
	var seen [32]byte // bit set of tags
	ad := k.itemAD(ctx)
	for _, it := range items {
		if seen[it.Tag/8]&(1<<(it.Tag%8)) != 0 {
			return nil, fmt.Errorf("seal: duplicate tag %d", it.Tag)
		}
		seen[it.Tag/8] |= 1 << (it.Tag % 8)
		copy(nonce[:], out[1:1+ns])
		nonce[ns-1] ^= it.Tag
		ad[2] = it.Tag
		out = append(out, it.Tag)
		out = binary.AppendUvarint(out, uint64(len(it.Value)+k.aead.Overhead()))
		out = k.aead.Seal(out, nonce[:ns], it.Value, ad)
	}
	return out, nil
}

// Open decrypts the items of an envelope whose tag want accepts (every item
// when want is nil). Items it does not want are skipped, not decrypted.
func (k *SubjectKey) Open(ctx Context, sealed []byte, want func(tag uint8) bool) ([]Item, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != envelopeVersion {
		return nil, fmt.Errorf("open envelope: bad header: %w", ErrCorrupt)
	}
	base := sealed[1 : 1+ns]
	rest := sealed[1+ns:]
	ad := k.itemAD(ctx)
	var nonce [12]byte
	var items []Item
	for len(rest) > 0 {
		tag := rest[0]
		l, n := binary.Uvarint(rest[1:])
		if n <= 0 || uint64(len(rest)-1-n) < l {
			return nil, fmt.Errorf("open envelope: truncated item: %w", ErrCorrupt)
		}
		ct := rest[1+n : 1+n+int(l)]
		rest = rest[1+n+int(l):]
		if want != nil && !want(tag) {
			continue
		}
		copy(nonce[:], base)
		nonce[ns-1] ^= tag
		ad[2] = tag
		pt, err := k.aead.Open(nil, nonce[:ns], ct, ad)
		if err != nil {
			return nil, fmt.Errorf("open envelope item %d: %w", tag, ErrCorrupt)
		}
		items = append(items, Item{Tag: tag, Value: pt})
	}
	return items, nil
}

// itemAD is the associated data of an envelope item: version, context, tag
// (filled in per item) and the subject key id.
func (k *SubjectKey) itemAD(ctx Context) []byte {
	ad := make([]byte, 3, 3+len(k.ID))
	ad[0] = envelopeVersion
	ad[1] = byte(ctx)
	return append(ad, k.ID[:]...)
}
