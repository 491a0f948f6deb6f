package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// The key from records to their sources is kept once per statement
// (migration 0015) rather than by a row trigger. It must still refuse what
// the foreign key refused, for the service role as for the owner; the
// memberships' keys beside it keep their rules too.
func TestRecordKeysKeepTheirRules(t *testing.T) {
	t.Parallel()
	u, appURL, profiles, records := keyedPeople(t, 2)
	record, other := records[0], records[1]

	refused := []struct {
		name, sql, constraint string
		args                  []any
	}{
		{"a record of an unknown source", `INSERT INTO records (id, source, source_key, kek_id, wrapped_key, attrs, match, fingerprint, created_by, updated_by, created_at, updated_at)
			SELECT gen_random_uuid(), 'nowhere', '\x01', kek_id, wrapped_key, attrs, match, fingerprint, 'test', 'test', now(), now() FROM records LIMIT 1`,
			"records_source_fkey", nil},
		{"a membership of an unknown record", "INSERT INTO profile_members (record_id, profile_id) VALUES (gen_random_uuid(), $1)",
			"profile_members_record_id_fkey", []any{profiles[0]}},
		{"a membership of an unknown profile", "UPDATE profile_members SET profile_id = gen_random_uuid() WHERE record_id = $1",
			"profile_members_profile_id_fkey", []any{record}},
		{"deleting a profile that has members", "DELETE FROM profiles WHERE id = $1", "profile_members_profile_id_fkey", []any{profiles[0]}},
		{"deleting a source that has records", "DELETE FROM sources WHERE name = 'sales'", "records_source_fkey", nil},
		{"changing a record's id", "UPDATE records SET id = gen_random_uuid() WHERE id = $1", "", []any{record}},
		{"changing a record's source", "UPDATE records SET source = 'sales2' WHERE id = $1", "", []any{record}},
		{"changing a profile's id", "UPDATE profiles SET id = gen_random_uuid() WHERE id = $1", "", []any{profiles[0]}},
	}
	for _, c := range refused {
		err := pgtest.TryExec(t, appURL, c.sql, c.args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
			t.Errorf("%s: %v; want a foreign key violation", c.name, err)
			continue
		}
		if c.constraint != "" && pgErr.ConstraintName != c.constraint {
			t.Errorf("%s: constraint %q; want %q", c.name, pgErr.ConstraintName, c.constraint)
		}
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM profile_members"); n != 2 {
		t.Fatalf("%d memberships after refused statements; want 2", n)
	}

	// Moving a record to an existing profile is allowed; deleting a
	// record removes its membership in the same statement.
	pgtest.Exec(t, appURL, "UPDATE profile_members SET profile_id = $2 WHERE record_id = $1", other, profiles[0])
	pgtest.Exec(t, appURL, "DELETE FROM records WHERE id = $1", record)
	if n := pgtest.Count(t, u, "SELECT count(*) FROM profile_members WHERE record_id = $1", record); n != 0 {
		t.Fatalf("the deleted record kept %d memberships", n)
	}
	pgtest.Exec(t, appURL, "DELETE FROM profiles WHERE id = $1", profiles[1])
}

// The memberships' keys take no row locks (migration 0016): a delete of
// records waits for the transactions writing memberships instead, and a
// write of memberships that comes after a delete finds the record gone.
// Neither order may leave a membership of a deleted record behind.
func TestMembershipKeysHoldUnderConcurrentDeletes(t *testing.T) {
	t.Parallel()
	u, appURL, profiles, records := keyedPeople(t, 3)
	ctx := context.Background()
	// The second and third records lose their membership, to be written
	// again below.
	pgtest.Exec(t, u, "DELETE FROM profile_members WHERE record_id = ANY($1::uuid[])", []string{records[1], records[2]})

	begin := func() pgx.Tx { return pgtest.Begin(t, appURL) }
	waiting := func() bool {
		var n int64
		for range 100 {
			n = pgtest.Count(t, u, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
			if n > 0 {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}

	// A write first: the delete waits for it, then takes its membership.
	writer := begin()
	if _, err := writer.Exec(ctx, "INSERT INTO profile_members (record_id, profile_id) VALUES ($1, $2)", records[1], profiles[0]); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- pgtest.TryExec(t, appURL, "DELETE FROM records WHERE id = $1", records[1]) }()
	if !waiting() {
		t.Fatal("the delete of a record did not wait for the transaction writing its membership")
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM profile_members WHERE record_id = $1", records[1]); n != 0 {
		t.Fatalf("the deleted record kept %d memberships", n)
	}

	// A delete first: the write waits for it, then finds the record gone.
	deleter := begin()
	if _, err := deleter.Exec(ctx, "DELETE FROM records WHERE id = $1", records[2]); err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() {
		written <- pgtest.TryExec(t, appURL, "INSERT INTO profile_members (record_id, profile_id) VALUES ($1, $2)", records[2], profiles[0])
	}()
	if !waiting() {
		t.Fatal("the write of a membership did not wait for the transaction deleting its record")
	}
	if err := deleter.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if err := <-written; !errors.As(err, &pgErr) || pgErr.Code != "23503" || pgErr.ConstraintName != "profile_members_record_id_fkey" {
		t.Fatalf("membership of a record deleted meanwhile: %v; want a foreign key violation", err)
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM profile_members WHERE record_id = $1", records[2]); n != 0 {
		t.Fatalf("the deleted record has %d memberships", n)
	}

	// Memberships are written in READ COMMITTED only: the check needs a
	// snapshot taken after the lock.
	rr := begin()
	if _, err := rr.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Exec(ctx, "UPDATE profile_members SET profile_id = profile_id WHERE record_id = $1", records[0]); err == nil {
		t.Fatal("a membership was written in a REPEATABLE READ transaction")
	}
}

// keyedPeople keeps n people of one source, each in a profile of their
// own, and returns the owner's and the service's database URLs with their
// profiles and records.
func keyedPeople(t *testing.T, n int) (ownerURL, appURL string, profiles []uuid.UUID, records []string) {
	app, owner, u := pgtest.NewAppStore(t)
	pgtest.AddSources(t, owner, identity.Source{Name: "sales", Department: "sales"})
	v := pgtest.NewVault(t, owner)
	people := []identity.Record{
		pgtest.Person("sales", "s1", "Anna", "Schmidt", "anna@example.com"),
		pgtest.Person("sales", "s2", "Ben", "Jones", "ben@example.com"),
		pgtest.Person("sales", "s3", "Cleo", "Brown", "cleo@example.com"),
	}
	profiles = pgtest.Keep(t, app, v, people[:n]...)
	for _, p := range profiles {
		records = append(records, pgtest.Query(t, u, "SELECT record_id FROM profile_members WHERE profile_id = $1", p))
	}
	return u, pgtest.AppURL(t, u), profiles, records
}
