package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// Verifier walks the chain entry by entry and checks it against the signed
// checkpoints.
type Verifier struct {
	pub         ed25519.PublicKey
	checkpoints map[int64]Checkpoint
	prev        []byte
	seq         int64
	entries     int
	matched     int
}

// VerifyReport says what a verification covered.
type VerifyReport struct {
	Entries     int   `json:"entries"`
	LastSeq     int64 `json:"last_seq"`
	Checkpoints int   `json:"checkpoints_verified"`
}

// NewVerifier starts a verification from the genesis of the chain. Every
// checkpoint must carry a valid signature of pub (when pub is nil,
// checkpoints are not checked).
func NewVerifier(pub ed25519.PublicKey, checkpoints []Checkpoint) (*Verifier, error) {
	return newVerifier(pub, checkpoints, Head{})
}

// NewRangeVerifier starts a verification after a signed checkpoint: the
// entries that follow must continue its hash. Trusting the checkpoint's
// signature only, not the database, an auditor verifies the range up to
// the next checkpoint.
func NewRangeVerifier(pub ed25519.PublicKey, from Checkpoint, checkpoints []Checkpoint) (*Verifier, error) {
	if !from.VerifySignature(pub) {
		return nil, fmt.Errorf("checkpoint at entry %d has an invalid signature: %w", from.Seq, ErrBroken)
	}
	return newVerifier(pub, checkpoints, Head{Seq: from.Seq, Hash: from.Hash})
}

func newVerifier(pub ed25519.PublicKey, checkpoints []Checkpoint, start Head) (*Verifier, error) {
	v := &Verifier{pub: pub, checkpoints: map[int64]Checkpoint{}, prev: start.Hash, seq: start.Seq}
	if start.Seq == 0 {
		v.prev = Genesis
	}
	for _, c := range checkpoints {
		if pub != nil && !c.VerifySignature(pub) {
			return nil, fmt.Errorf("checkpoint at entry %d has an invalid signature: %w", c.Seq, ErrBroken)
		}
		v.checkpoints[c.Seq] = c
	}
	return v, nil
}

// Next checks the next entry of the chain.
func (v *Verifier) Next(e *Entry) error {
	switch {
	case e.Seq != v.seq+1:
		return fmt.Errorf("entry %d follows entry %d: entries were deleted, reordered or inserted: %w", e.Seq, v.seq, ErrBroken)
	case !bytes.Equal(e.Prev, v.prev):
		return fmt.Errorf("entry %d does not continue the chain of entry %d: %w", e.Seq, v.seq, ErrBroken)
	case !bytes.Equal(ChainHash(v.prev, e), e.Hash):
		return fmt.Errorf("entry %d was changed after it was written: %w", e.Seq, ErrBroken)
	}
	if c, ok := v.checkpoints[e.Seq]; ok {
		if !bytes.Equal(c.Hash, e.Hash) {
			return fmt.Errorf("entry %d differs from the signed checkpoint at it: the chain was rewritten: %w", e.Seq, ErrBroken)
		}
		v.matched++
	}
	v.seq, v.prev = e.Seq, e.Hash
	v.entries++
	return nil
}

// Finish checks that no checkpoint lies beyond the last entry (the tail of
// the log deleted) and reports.
func (v *Verifier) Finish() (VerifyReport, error) {
	r := VerifyReport{Entries: v.entries, LastSeq: v.seq, Checkpoints: v.matched}
	for seq := range v.checkpoints {
		if seq > v.seq {
			return r, fmt.Errorf("a checkpoint signs entry %d but the log ends at entry %d: entries were deleted: %w", seq, v.seq, ErrBroken)
		}
	}
	return r, nil
}
