package vault

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/cdp-project/cdp/identity"
)

// The envelope contexts of a source record.
const (
	ContextAttributes  Context = 1 // the attributes as the source sent them
	ContextMatch       Context = 2 // the normalised match keys
	ContextNote        Context = 3 // a staff member's note (a steward's reason)
	ContextEvidence    Context = 4 // the evidence of a consent event (client, user agent, session, reference)
	ContextInteraction Context = 5 // an interaction's other columns (free text, references)
)

// SealedRecord is a source record ready for storage: nothing in it reveals a
// personal value without the subject key, or the index key for the blind
// indexes.
type SealedRecord struct {
	Attrs       []byte // envelope of the attributes, one item per attribute
	Match       []byte // envelope of the match keys
	Fingerprint []byte // keyed hash of the attributes, to detect changes
	SourceKey   []byte // blind index of the source id
	Email       []byte // blind indexes of the strong identifiers (nil when absent)
	Phone       []byte
	NationalID  []byte
	// Candidate holds the blind indexes of the record's keys under
	// identity.CandidateRules (nil where a rule does not apply).
	Candidate [3][]byte
}

// SealRecord seals a record and its match keys under the subject key and
// computes its blind indexes.
func (k *SubjectKey) SealRecord(ix *Index, r *identity.Record, n *identity.Normalized) (SealedRecord, error) {
	items := recordItems(r)
	var s SealedRecord
	var err error
	if s.Attrs, err = k.Seal(ContextAttributes, items); err != nil {
		return SealedRecord{}, fmt.Errorf("seal attributes: %w", err)
	}
	mk, err := n.MarshalBinary()
	if err != nil {
		return SealedRecord{}, fmt.Errorf("encode match keys: %w", err)
	}
	if s.Match, err = k.Seal(ContextMatch, []Item{{Tag: 1, Value: mk}}); err != nil {
		return SealedRecord{}, fmt.Errorf("seal match keys: %w", err)
	}
	// The blind indexes share one array, and values are hashed from one
	// scratch buffer: a record's hashing allocates twice, not twice a hash.
	sums := make([]byte, 0, 7*IndexSize+sha256.Size) // AppendSum writes a whole digest before it cuts it
	put := func(kind IndexKind, value []byte) []byte {
		start := len(sums)
		sums = ix.AppendSum(sums, kind, value)
		return sums[start:len(sums):len(sums)]
	}
	var scratch []byte
	sum := func(kind IndexKind, parts ...string) []byte {
		scratch = scratch[:0]
		for _, p := range parts {
			scratch = append(scratch, p...)
		}
		return put(kind, scratch)
	}
	s.Fingerprint = put(IndexFingerprint, canonical(items))
	s.SourceKey = sum(IndexSourceID, r.SourceID)
	if n.Email != "" {
		s.Email = sum(IndexEmail, n.Email)
	}
	if n.Phone != "" {
		s.Phone = sum(IndexPhone, n.Phone)
	}
	if n.NationalID != "" {
		s.NationalID = sum(IndexNationalID, n.NationalID)
	}
	for i, k := range identity.CandidateKeys(n) {
		if k != "" {
			s.Candidate[i] = sum(IndexBlock, identity.CandidateRules[i], "\x00", k)
		}
	}
	return s, nil
}

// Fingerprint returns the keyed hash SealRecord stores for r, so that a
// re-sent record can be recognised as unchanged without opening anything.
func (ix *Index) Fingerprint(r *identity.Record) []byte {
	return ix.Sum(IndexFingerprint, canonical(recordItems(r)))
}

// SourceKey returns the blind index of a source id.
func (ix *Index) SourceKey(sourceID string) []byte {
	return ix.SumString(IndexSourceID, sourceID)
}

// OpenRecord opens the attributes of a sealed record. Only the canonical
// fields that want accepts are decrypted (all when want is nil); the source
// id and extra attributes are opened when withID and withExtra say so.
func (k *SubjectKey) OpenRecord(sealed []byte, want func(identity.Field) bool, withID, withExtra bool) (identity.Record, error) {
	items, err := k.Open(ContextAttributes, sealed, func(tag uint8) bool {
		switch tag {
		case identity.TagSourceID:
			return withID
		case identity.TagExtra:
			return withExtra
		}
		return want == nil || want(identity.Field(tag))
	})
	if err != nil {
		return identity.Record{}, err
	}
	var r identity.Record
	for _, it := range items {
		switch it.Tag {
		case identity.TagSourceID:
			r.SourceID = string(it.Value)
		case identity.TagExtra:
			extra, err := identity.DecodeExtra(it.Value)
			if err != nil {
				return identity.Record{}, fmt.Errorf("open record: %w: %w", ErrCorrupt, err)
			}
			for _, e := range extra {
				r.AddExtra(e.Name, e.Value)
			}
		default:
			r.Set(identity.Field(it.Tag), string(it.Value))
		}
	}
	return r, nil
}

// OpenMatch opens the match keys of a sealed record.
func (k *SubjectKey) OpenMatch(sealed []byte) (identity.Normalized, error) {
	items, err := k.Open(ContextMatch, sealed, nil)
	if err != nil {
		return identity.Normalized{}, err
	}
	var n identity.Normalized
	if len(items) != 1 {
		return n, fmt.Errorf("open match keys: %d items: %w", len(items), ErrCorrupt)
	}
	if err := n.UnmarshalBinary(items[0].Value); err != nil {
		return n, fmt.Errorf("open match keys: %w: %w", ErrCorrupt, err)
	}
	return n, nil
}

// recordFields are the canonical fields in tag order.
var recordFields = identity.Fields()

// recordItems lists the non-empty parts of a record in tag order.
func recordItems(r *identity.Record) []Item {
	size := len(r.SourceID)
	for _, f := range recordFields {
		size += len(r.Get(f))
	}
	// One array holds every value: an item per attribute, one allocation.
	buf := make([]byte, 0, size)
	items := make([]Item, 0, len(recordFields)+2)
	add := func(tag uint8, v string) {
		start := len(buf)
		buf = append(buf, v...)
		items = append(items, Item{Tag: tag, Value: buf[start:len(buf):len(buf)]})
	}
	for _, f := range recordFields {
		if v := r.Get(f); v != "" {
			add(uint8(f), v)
		}
	}
	add(identity.TagSourceID, r.SourceID)
	if extra := r.Extra(); len(extra) > 0 {
		items = append(items, Item{Tag: identity.TagExtra, Value: identity.EncodeExtra(extra)})
	}
	return items
}

// canonical is the unambiguous byte encoding of a record's parts that the
// fingerprint covers.
func canonical(items []Item) []byte {
	n := 0
	for _, it := range items {
		n += 1 + binary.MaxVarintLen32 + len(it.Value)
	}
	b := make([]byte, 0, n)
	for _, it := range items {
		b = append(b, it.Tag)
		b = binary.AppendUvarint(b, uint64(len(it.Value)))
		b = append(b, it.Value...)
	}
	return b
}
