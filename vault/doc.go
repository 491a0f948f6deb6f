// Package vault keeps personal data sealed: it owns the key hierarchy,
// sealing and opening of record attributes, blind indexes, and key
// destruction.
//
// # Key hierarchy
//
//	master age identities (key file, plus extra recipients such as an offline escrow key)
//	  └─ vault keys, stored in the database sealed with age to every master recipient:
//	       ├─ key-encryption keys (KEKs)
//	       │    └─ subject keys: one random AES-256 key per source record, wrapped by a KEK
//	       │         └─ sealed envelopes: each attribute of the record, AES-256-GCM
//	       └─ the index key: HMAC keys for blind indexes, derived per kind with HKDF
//
// age (filippo.io/age) protects the keys that protect everything else.
// Sealing and opening data is symmetric AES-GCM under a subject key, so a bulk
// import costs one KEK wrap and a few AES-GCM operations per record, not an
// asymmetric operation.
//
// A subject key protects the data of exactly one source record, the smallest
// unit that is certainly about one person. A golden profile's data is under
// the keys of its records, so merging profiles never makes two people share a
// key and splitting never has to re-key. Erasing a person destroys the keys of
// all their records (crypto-shredding): every ciphertext sealed under them,
// including copies in backups, exports and history rows, can no longer be
// opened with any remaining key.
//
// Rotating the master identity re-seals only the few vault keys (see
// [Vault.Rewrap]); no subject key and no data is re-encrypted.
//
// # Formats
//
// Every ciphertext is versioned and stored beside the id of the key that
// sealed it. A sealed envelope is
//
//	version(1) | base nonce(12) | { tag(1) | length(uvarint) | AES-GCM(value) }...
//
// where each part has its own nonce (the base nonce with the tag folded into
// its last byte) and authenticates the version, the envelope context, its tag
// and the subject key id, so parts cannot be moved between records, envelopes
// or tags. Parts are opened one by one: a reader that may see only some
// attributes opens only those.
//
// # Blind indexes
//
// Lookups and matching use keyed HMAC-SHA-256 of normalised values, truncated
// to 128 bits, under keys derived from the index key, which is separate from
// every encryption key. Equal inputs give equal indexes; without the index key
// an index reveals nothing about its input.
//
// vault is a domain package: it imports the standard library, filippo.io/age
// and github.com/google/uuid, never a database or HTTP package.
package vault
