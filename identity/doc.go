// Package identity owns what a customer record is and how records about the
// same person are recognised: the canonical source record, normalisation of
// its attributes into match keys, and the blocking keys that bring candidate
// records together.
//
// A source record is what one department (a source) holds about one person:
// the values exactly as the department sent them ([Attributes]). Matching
// never works on those originals; it works on [Normalized] values computed by
// a [Normalizer]: Unicode NFKC, case folding and accent removal for names and
// addresses, lower-cased emails, phone numbers in E.164, ISO 8601 dates. A
// value that cannot be normalised (an impossible date, an unparseable phone)
// is kept as given and flagged, never dropped.
//
// Types in this package hold personal data in plaintext. They exist only in
// memory: storage seals them (package vault) before they reach a database, and
// they redact themselves when logged (they implement [log/slog.LogValuer]).
//
// identity is a domain package: it imports the standard library, golang.org/x/text
// and github.com/nyaruka/phonenumbers, never a database or HTTP package.
package identity
