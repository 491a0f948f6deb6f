// Package audit keeps the tamper-evident record of every access to personal
// data: who read which person's data, which fields, for which purpose, on
// which policy decision, and with which outcome.
//
// Entries hold no personal data: profile ids, field names, principals,
// purposes, a pseudonymised client address. Erasing a person never needs to
// rewrite the log.
//
// # Tamper evidence
//
// Entries form a hash chain: each entry's hash is SHA-256 over the previous
// entry's hash and the entry's canonical encoding (its Seq included). A row
// changed, deleted, reordered or inserted by hand breaks the chain at that
// row, and Verify names the first broken entry. Periodic checkpoints sign
// (Seq, Hash) with an ed25519 key kept outside the database, so an auditor
// holding the public key can verify a range without trusting the database:
// a forger would need to rewrite every later entry and the signatures too.
//
// # Durability first, in groups
//
// Record returns only once the entry is committed. Concurrent requests do
// not queue for the chain one commit at a time: a Writer gathers the
// entries that arrive while a commit is under way into the next
// transaction (group commit), and each caller still waits for its own.
//
// audit imports the standard library and derrors; it declares the Store it
// writes to.
package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors.
var (
	// ErrUnavailable reports that an entry could not be made durable: the
	// read it guards must not happen.
	ErrUnavailable = derrors.New(derrors.ErrUnavailable, "audit log unavailable")
	// ErrBroken reports a chain or checkpoint that does not verify.
	ErrBroken = derrors.New(derrors.ErrConflict, "audit chain broken")
)

// Outcomes of an audited request.
const (
	Allowed  = "allowed"
	Denied   = "denied"
	NotFound = "not_found"
)

// Entry is one audited access.
type Entry struct {
	Seq            int64     `json:"seq"`
	At             time.Time `json:"at"`
	PrincipalKind  string    `json:"principal_kind"`
	Principal      string    `json:"principal"`
	Department     string    `json:"department"`
	Action         string    `json:"action"`
	Purpose        string    `json:"purpose"`
	Profiles       []string  `json:"profiles"`
	Fields         []string  `json:"fields"`
	DecisionID     string    `json:"decision_id"`
	PolicyRevision string    `json:"policy_revision"`
	RequestID      string    `json:"request_id"`
	Client         string    `json:"client"` // pseudonymised client address
	Outcome        string    `json:"outcome"`
	Reason         string    `json:"reason"`
	Prev           []byte    `json:"prev_hash"`
	Hash           []byte    `json:"hash"`
}

// encodingVersion is the first byte of an entry's canonical encoding.
const encodingVersion = 1

// Canonical is the entry's unambiguous encoding that its hash covers:
// every field but Prev and Hash, length-prefixed, in a fixed order, times in
// UTC to the microsecond (what PostgreSQL stores).
func (e *Entry) Canonical() []byte {
	b := make([]byte, 0, 256)
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UTC().Truncate(time.Microsecond).UnixMicro()))
	for _, s := range []string{e.PrincipalKind, e.Principal, e.Department, e.Action, e.Purpose,
		e.DecisionID, e.PolicyRevision, e.RequestID, e.Client, e.Outcome, e.Reason} {
		b = appendString(b, s)
	}
	for _, list := range [][]string{e.Profiles, e.Fields} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, s := range list {
			b = appendString(b, s)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ChainHash is the hash of an entry that follows prev.
func ChainHash(prev []byte, e *Entry) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(e.Canonical())
	return h.Sum(nil)
}

// Genesis is the previous hash of the first entry.
var Genesis = make([]byte, sha256.Size)

// Head is the last entry of the chain.
type Head struct {
	Seq  int64
	Hash []byte
}

// Link fills in the sequence numbers and hashes of entries appended after
// head, in order.
func Link(head Head, entries []Entry) Head {
	prev := head.Hash
	if head.Seq == 0 {
		prev = Genesis
	}
	seq := head.Seq
	for i := range entries {
		seq++
		entries[i].Seq = seq
		entries[i].At = entries[i].At.UTC().Truncate(time.Microsecond)
		entries[i].Prev = prev
		entries[i].Hash = ChainHash(prev, &entries[i])
		prev = entries[i].Hash
	}
	return Head{Seq: seq, Hash: prev}
}

// Checkpoint is a signed statement that the chain had Hash at Seq.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      []byte    `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
}

func checkpointMessage(c *Checkpoint) []byte {
	b := []byte("cdp audit checkpoint v1\x00")
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	b = append(b, c.Hash...)
	return binary.BigEndian.AppendUint64(b, uint64(c.At.UTC().Truncate(time.Microsecond).UnixMicro()))
}

// KeyID names a public key: the first bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return fmt.Sprintf("%x", sum[:8])
}

// Sign makes a checkpoint of head.
func Sign(key ed25519.PrivateKey, head Head, at time.Time) Checkpoint {
	c := Checkpoint{Seq: head.Seq, Hash: head.Hash, At: at.UTC().Truncate(time.Microsecond), KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	c.Signature = ed25519.Sign(key, checkpointMessage(&c))
	return c
}

// VerifySignature checks a checkpoint's signature.
func (c *Checkpoint) VerifySignature(pub ed25519.PublicKey) bool {
	return c.KeyID == KeyID(pub) && ed25519.Verify(pub, checkpointMessage(c), c.Signature)
}

// Query selects entries; zero fields match everything.
type Query struct {
	Profile    string // a profile id: entries under every id it ever had (merged into it)
	Principal  string
	Department string // the principal's department
	Purpose    string
	From, To   time.Time // From <= at < To
	After      int64     // entries after this sequence number (paging)
	Limit      int       // at most this many (default 100)
}

// sanitize makes every text of the entry storable: a NUL or invalid
// UTF-8 (from a caller's query string, say) becomes U+FFFD, so that one
// request's odd input can never fail the commit it shares with others.
func (e *Entry) sanitize() {
	for _, p := range []*string{&e.PrincipalKind, &e.Principal, &e.Department, &e.Action, &e.Purpose, &e.DecisionID,
		&e.PolicyRevision, &e.RequestID, &e.Client, &e.Outcome, &e.Reason} {
		*p = cleanText(*p)
	}
	for i := range e.Profiles {
		e.Profiles[i] = cleanText(e.Profiles[i])
	}
	for i := range e.Fields {
		e.Fields[i] = cleanText(e.Fields[i])
	}
}

func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
