package ingest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/demo"
)

// BenchmarkNormalizeAndSeal is an import's CPU per record before the
// database, on demo records: normalising, a fresh subject key, the sealed
// attributes and match keys, the blind indexes and candidate keys (what
// Importer.seal does for each record; the target is well under 10 µs).
func BenchmarkNormalizeAndSeal(b *testing.B) {
	var data bytes.Buffer
	if _, err := demo.Generate(&data, demo.Options{Records: 4000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	r, err := NewCSVReader(&data, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var inputs []Input
	for {
		in, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || in.Rejected() {
			b.Fatalf("demo record %d: %v %v", in.Line, err, in.Problems)
		}
		inputs = append(inputs, in)
	}
	im := testImporter(b, newMemStore())
	v, ix, nz := im.Vault, im.Vault.Index(), im.Normalizer
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := &inputs[i%len(inputs)]
		i++
		n := nz.Normalize(&in.Record.Attributes)
		key, err := v.NewSubjectKey(uuid.New())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := key.SealRecord(ix, &in.Record, &n); err != nil {
			b.Fatal(err)
		}
	}
}
