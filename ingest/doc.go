// Package ingest brings department records into the store: it reads the
// canonical import format (CSV with a header, NDJSON, or a JSON array of
// objects), validates each record, and runs the import pipeline that
// normalises, seals and upserts them in batches.
//
// # Format
//
// Columns (CSV header) or object keys (JSON): source, source_id, given_name,
// family_name, full_name, birth_date, gender, email, phone, street,
// address_line2, postcode, city, region, country, national_id. Any other
// column is kept as an extra attribute; entity_id is ignored (it holds the
// truth of labelled evaluation sets). (source, source_id) identifies a record:
// re-sending it is idempotent, a changed record is updated in place and its
// previous version kept, sealed, in its history.
//
// # Bad input
//
// A malformed record is rejected with its line, field and reason and never
// blocks the good records around it; a record is written whole or not at all.
// Problems that make the rest of a stream unreadable (no header, broken JSON
// array syntax, an I/O error) stop the stream with an error.
//
// # Pipeline
//
//	reader -> batches (cut at a repeated source id) -> N sealing workers -> one writer, in order
//
// Sealing (normalise, one subject key per record, AES-GCM per attribute,
// blind indexes) runs on every core while the writer upserts the previous
// batch; the writer compares keyed fingerprints to tell unchanged records
// from updated ones without opening anything.
//
// ingest is a domain package: it imports identity and vault, and declares the
// Store it writes to; it never imports a database or HTTP package.
package ingest
