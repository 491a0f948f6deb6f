package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// IndexKind names what a blind index is of. Each kind has its own HMAC key,
// so equal values of different kinds give unrelated indexes.
type IndexKind uint8

// The kinds of blind indexes. Their names enter key derivation: never rename.
const (
	IndexEmail IndexKind = iota
	IndexPhone
	IndexNationalID
	IndexSourceID
	IndexBlock
	IndexFingerprint
	IndexSuppression
	IndexClient    // network addresses of callers, pseudonymised in the audit log
	IndexFormToken // the pages' form tokens, keyed hashes of session ids

	indexKindEnd
)

var indexKindNames = [indexKindEnd]string{
	IndexEmail:       "email",
	IndexPhone:       "phone",
	IndexNationalID:  "national_id",
	IndexSourceID:    "source_id",
	IndexBlock:       "block",
	IndexFingerprint: "fingerprint",
	IndexSuppression: "suppression",
	IndexClient:      "client",
	IndexFormToken:   "form_token",
}

// String returns the kind's name.
func (k IndexKind) String() string {
	if k >= indexKindEnd {
		return "unknown"
	}
	return indexKindNames[k]
}

// IndexSize is the length in bytes of a blind index.
const IndexSize = 16

// Index computes blind indexes: truncated HMAC-SHA-256 under per-kind keys
// derived from the index key. It is safe for concurrent use.
type Index struct {
	pools [indexKindEnd]sync.Pool
}

func newIndex(root []byte) *Index {
	ix := &Index{}
	for kind := range indexKindEnd {
		key, err := hkdf.Key(sha256.New, root, nil, "cdp blind index v1 "+indexKindNames[kind], 32)
		if err != nil {
			panic("hkdf: " + err.Error()) // only fails for absurd lengths
		}
		ix.pools[kind].New = func() any { return hmac.New(sha256.New, key) }
	}
	return ix
}

// Sum returns the blind index of value under kind.
func (ix *Index) Sum(kind IndexKind, value []byte) []byte {
	return ix.AppendSum(make([]byte, 0, sha256.Size), kind, value)
}

// SumString is Sum for a string value.
func (ix *Index) SumString(kind IndexKind, value string) []byte {
	return ix.Sum(kind, []byte(value))
}

// AppendSum appends the blind index of value under kind to dst. It
// writes the whole digest (sha256.Size bytes) after len(dst) and keeps
// IndexSize of them: whatever dst's spare capacity held past those is
// overwritten, so pass a slice whose capacity beyond its length is free.
func (ix *Index) AppendSum(dst []byte, kind IndexKind, value []byte) []byte {
	h := ix.pools[kind].Get().(hash.Hash)
	h.Reset()
	h.Write(value)
	// The whole digest goes on dst and is cut to IndexSize: a digest array
	// of its own would escape through the interface, an allocation a sum.
	n := len(dst)
	dst = h.Sum(dst)
	ix.pools[kind].Put(h)
	return dst[:n+IndexSize]
}
