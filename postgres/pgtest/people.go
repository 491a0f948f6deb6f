package pgtest

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/vault"
)

// AddSources registers sources in a test database.
func AddSources(t testing.TB, db *postgres.DB, sources ...identity.Source) {
	t.Helper()
	for _, s := range sources {
		if _, err := db.AddSource(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// Keep imports records through the import pipeline (sealed, blind
// indexes, history) and links them, as a department's import does; it
// returns the profile each record joined, in the records' order.
func Keep(t testing.TB, db *postgres.DB, v *vault.Vault, recs ...identity.Record) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	im := ingest.Importer{Vault: v, Store: db, Normalizer: identity.Normalizer{DefaultRegion: "GB"}, Actor: "test"}
	in := make([]ingest.Input, len(recs))
	for i, r := range recs {
		in[i] = ingest.Input{Line: i + 1, Record: r}
	}
	ids := make([]uuid.UUID, len(recs))
	if _, err := im.Import(ctx, ingest.NewSliceReader(in), func(r ingest.Result) { ids[r.Line-1] = r.RecordID }); err != nil {
		t.Fatal(err)
	}
	rep, err := (&resolver.Resolver{Store: db, Vault: v}).Link(ctx, "test", ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		if out[i] = rep.Members[id]; out[i] == uuid.Nil {
			t.Fatalf("record %d (%s) was not linked", i+1, id)
		}
	}
	return out
}

// Person is a record of a source with a name, an email address and
// optionally more fields (alternating field and value).
func Person(source, sourceID, given, family, email string, more ...any) identity.Record {
	var r identity.Record
	r.Source, r.SourceID = source, sourceID
	r.Set(identity.GivenName, given)
	r.Set(identity.FamilyName, family)
	r.Set(identity.Email, email)
	for i := 0; i+1 < len(more); i += 2 {
		r.Set(more[i].(identity.Field), more[i+1].(string))
	}
	return r
}
