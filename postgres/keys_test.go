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
	waiting := func() bool { return waitingForLock(t, u) }

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

// The keys from record versions, customer links, disputes and
// restrictions to records are kept once per statement (migration 0028),
// not by a cascade trigger per deleted record. They must still refuse
// what the foreign keys refused, take a deleted record's rows with it,
// and hold under a concurrent delete in either order.
func TestRecordDependentsKeepTheirKeys(t *testing.T) {
	t.Parallel()
	u, appURL, profiles, records := keyedPeople(t, 3)
	ctx := context.Background()
	request := uuid.NewString()
	pgtest.Exec(t, u, pgtest.InsertRequest, request, "restriction", "completed", profiles[0], nil)
	inserts := map[string]string{ // a row of the table naming record $1
		"record_versions": `INSERT INTO record_versions (record_id, version, attrs, fingerprint, flags, written_at, written_by,
			superseded_at, superseded_by) VALUES ($1, 1, '\x01', '\x01', 0, now(), 'test', now(), 'test')`,
		"customer_links": `INSERT INTO customer_links (kratos_identity, record_id, email_index, how)
			VALUES (gen_random_uuid(), $1, '\x01', 'new_profile')`,
		"disputes": `INSERT INTO disputes (id, record_id, profile_id, customer)
			VALUES (gen_random_uuid(), $1, gen_random_uuid(), gen_random_uuid())`,
		"record_restrictions": `INSERT INTO record_restrictions (record_id, request_id, reason)
			VALUES ($1, '` + request + `', 'restriction')`,
	}
	refused := func(what, table string, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
			t.Errorf("%s of %s: %v; want a foreign key violation", what, table, err)
		} else if want := table + "_record_id_fkey"; pgErr.ConstraintName != want && what != "moving a row" {
			t.Errorf("%s of %s: constraint %q; want %q", what, table, pgErr.ConstraintName, want)
		}
	}
	for table, insert := range inserts {
		refused("a row of an unknown record", table, pgtest.TryExec(t, appURL, insert, uuid.NewString()))
		pgtest.Exec(t, appURL, insert, records[0])
		refused("moving a row", table, pgtest.TryExec(t, u, "UPDATE "+table+" SET record_id = $1 WHERE record_id = $2", records[1], records[0]))
	}
	pgtest.Exec(t, appURL, "DELETE FROM records WHERE id = $1", records[0])
	for table := range inserts {
		if n := pgtest.Count(t, u, "SELECT count(*) FROM "+table+" WHERE record_id = $1", records[0]); n != 0 {
			t.Errorf("the deleted record kept %d rows in %s", n, table)
		}
	}

	// Records are deleted in READ COMMITTED only: the deletes after the
	// statement need a snapshot that sees what the inserts it waited for
	// committed.
	rr := pgtest.Begin(t, appURL)
	if _, err := rr.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Exec(ctx, "DELETE FROM records WHERE id = $1", records[1]); err == nil {
		t.Fatal("a record was deleted in a REPEATABLE READ transaction")
	}
	if err := rr.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// A link written first: the delete waits for it, then takes it.
	writer := pgtest.Begin(t, appURL)
	if _, err := writer.Exec(ctx, inserts["customer_links"], records[1]); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- pgtest.TryExec(t, appURL, "DELETE FROM records WHERE id = $1", records[1]) }()
	if !waitingForLock(t, u) {
		t.Fatal("the delete of a record did not wait for the transaction linking a customer to it")
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM customer_links WHERE record_id = $1", records[1]); n != 0 {
		t.Fatalf("the deleted record kept %d customer links", n)
	}

	// A delete first: the link waits for it, then finds the record gone.
	deleter := pgtest.Begin(t, appURL)
	if _, err := deleter.Exec(ctx, "DELETE FROM records WHERE id = $1", records[2]); err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() { written <- pgtest.TryExec(t, appURL, inserts["customer_links"], records[2]) }()
	if !waitingForLock(t, u) {
		t.Fatal("the link of a customer did not wait for the transaction deleting its record")
	}
	if err := deleter.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	refused("a link to a record deleted meanwhile", "customer_links", <-written)
	if n := pgtest.Count(t, u, "SELECT count(*) FROM customer_links WHERE record_id = $1", records[2]); n != 0 {
		t.Fatalf("the deleted record has %d customer links", n)
	}
}

// waitingForLock reports whether a statement of the database waits for a
// lock, within two seconds.
func waitingForLock(t *testing.T, u string) bool {
	t.Helper()
	return waitingFor(t, u, 1) >= 1
}

// waitingFor waits up to two seconds for n statements of the database to
// wait for a lock, and returns how many do.
func waitingFor(t *testing.T, u string, n int64) int64 {
	t.Helper()
	var got int64
	for range 100 {
		got = pgtest.Count(t, u, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)
		if got >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	return got
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
