package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/postgres"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// An erasure finds the profile it names (or the one it went into) and
// locks it. A profile merged away after it was found and before it was
// locked is not reported gone, which would fail the request for good:
// the erasure fails, and run again it erases the profile the person is
// now in.
func TestAnErasureOfAProfileMergedAsItBeginsRunsAgain(t *testing.T) {
	t.Parallel()
	app, owner, u := pgtest.NewAppStore(t)
	pgtest.AddSources(t, owner, identity.Source{Name: "sales", Department: "sales"})
	v := pgtest.NewVault(t, owner)
	profiles := pgtest.Keep(t, app, v,
		pgtest.Person("sales", "s1", "Anna", "Schmidt", "anna@example.com"),
		pgtest.Person("sales", "s2", "Anna", "Schmidt", "anna.schmidt@example.com"))
	gone, kept := profiles[0], profiles[1]
	request := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, u, pgtest.InsertRequest, request, "erasure", "in_progress", gone, nil)
	ctx := context.Background()

	// A merge of the first profile into the second, under way.
	merge := pgtest.Begin(t, u)
	for _, q := range []string{
		"SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE",
		"UPDATE profile_members SET profile_id = $2 WHERE profile_id = $1",
		"INSERT INTO profile_redirects (old_id, new_id) VALUES ($1, $2)",
		"DELETE FROM profile_events WHERE profile_id = $1",
		"DELETE FROM profiles WHERE id = $1",
	} {
		args := []any{gone, kept}[:strings.Count(q, "$")]
		if _, err := merge.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	erased := make(chan error, 1)
	go func() {
		_, err := app.Erase(ctx, request, gone, time.Now(), nil)
		erased <- err
	}()
	if !waitingForLock(t, u) {
		t.Fatal("the erasure did not wait for the merge of its profile")
	}
	if err := merge.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-erased; err == nil || errors.Is(err, postgres.ErrNotFound) {
		t.Fatalf("erasure of a profile merged as it was locked: %v; want an error to run again, not gone", err)
	}
	rep, err := app.Erase(ctx, request, gone, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Profile != kept || len(rep.Erased) != 2 {
		t.Fatalf("erased %d records of %s; want both records of %s", len(rep.Erased), rep.Profile, kept)
	}
}

// An erasure run again after it was done (a crash after its commit, or
// the recipients' acknowledgements queueing its job) reports what it did
// then, and nothing of the profile as it is now: the report is the
// request's proof. Here a record kept under a legal hold would be erased
// now that the hold is lifted; it must not appear among the erased.
func TestAnErasureRunAgainReportsWhatItDid(t *testing.T) {
	t.Parallel()
	app, u, profile := personOfTwoSources(t)
	profiles := []uuid.UUID{profile}
	ctx := context.Background()
	if _, err := app.AddLegalHold(ctx, dsr.LegalHold{ID: uuid.New(), Source: "billing", Obligation: "tax records", RetainDays: 3650, CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	request := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, u, pgtest.InsertRequest, request, "erasure", "in_progress", profiles[0], nil)
	first, err := app.Erase(ctx, request, profiles[0], time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Erased) != 1 || len(first.Held) != 1 || len(first.RecordSources) != 1 {
		t.Fatalf("first run: %d erased, %d held, %d record sources; want 1, 1, 1", len(first.Erased), len(first.Held), len(first.RecordSources))
	}
	pgtest.Exec(t, u, "UPDATE legal_holds SET lifted_at = now()")
	again, err := app.Erase(ctx, request, profiles[0], time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Done || len(again.Erased) != 1 || len(again.Held) != 1 || len(again.RecordSources) != 1 || again.RecordSources[first.Erased[0]] != "sales" {
		t.Fatalf("run again: done %v, %d erased, %d held, record sources %v; want the first run's report", again.Done,
			len(again.Erased), len(again.Held), again.RecordSources)
	}
}

// An erasure decides what it keeps of the person (their refusals) from
// the consent events it read at its start. One written on a record it
// erases after that (a department's statement committed meanwhile) would
// be deleted unseen: the erasure fails instead, and run again it sees it.
func TestAnErasureFailsWhenConsentArrivesOnItsRecordsMeanwhile(t *testing.T) {
	t.Parallel()
	app, u, profile, erased, request := erasureOfTheSalesRecord(t)
	ctx := context.Background()
	var seen []consent.Event
	keep := func(events []consent.Event, gone func(uuid.UUID) bool, anchor uuid.UUID) []consent.Event {
		seen = events
		return nil
	}

	// The erasure waits after reading the profile; the transaction holding
	// it then writes a statement on the record being erased, and commits.
	other := holdSuppression(t, u, erased)
	done := make(chan error, 1)
	go func() {
		_, err := app.Erase(ctx, request, profile, time.Now(), keep)
		done <- err
	}()
	if !waitingForLock(t, u) {
		t.Fatal("the erasure did not wait for the suppression")
	}
	if _, err := other.Exec(ctx, `INSERT INTO consent_events (id, record_id, purpose, state, method, origin, actor, at)
		VALUES (gen_random_uuid(), $1, 'marketing', 'withdrawn', 'department_form', 'sales', 'test', now())`, erased); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("the erasure went on past a statement written on its records meanwhile")
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM records WHERE id = $1", erased); n != 1 {
		t.Fatal("the failed erasure deleted the record")
	}
	if _, err := app.Erase(ctx, request, profile, time.Now(), keep); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].State != consent.Withdrawn {
		t.Fatalf("run again, the erasure saw %+v; want the withdrawal", seen)
	}
}

// personOfTwoSources keeps one person with a record in sales and one in
// billing, in one profile, and returns the service's store, the owner's
// database URL and the profile.
func personOfTwoSources(t *testing.T) (*postgres.DB, string, uuid.UUID) {
	t.Helper()
	app, owner, u := pgtest.NewAppStore(t)
	pgtest.AddSources(t, owner, identity.Source{Name: "sales", Department: "sales"}, identity.Source{Name: "billing", Department: "billing"})
	v := pgtest.NewVault(t, owner)
	profiles := pgtest.Keep(t, app, v,
		pgtest.Person("sales", "s1", "Anna", "Schmidt", "anna@example.com"),
		pgtest.Person("billing", "b1", "Anna", "Schmidt", "anna@example.com"))
	if profiles[0] != profiles[1] {
		t.Fatalf("the two records are in profiles %s and %s; want one", profiles[0], profiles[1])
	}
	return app, u, profiles[0]
}

// erasureOfTheSalesRecord keeps a person of two sources and files an
// erasure of their sales record only (in progress), and returns the
// service's store, the owner's database URL, the profile, the sales
// record's id and the request's.
func erasureOfTheSalesRecord(t *testing.T) (*postgres.DB, string, uuid.UUID, string, uuid.UUID) {
	t.Helper()
	app, u, profile := personOfTwoSources(t)
	erased := pgtest.Query(t, u, "SELECT id FROM records WHERE source = 'sales'")
	request := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, u, pgtest.InsertRequest, request, "erasure", "in_progress", profile, []string{erased})
	return app, u, profile, erased, request
}

// holdSuppression begins a transaction that writes, for an earlier
// request, the suppression of the record's email that an erasure of the
// record writes first: that erasure waits for it after its first batch,
// holding the profile and its records.
func holdSuppression(t *testing.T, u, record string) pgx.Tx {
	t.Helper()
	earlier := uuid.Must(uuid.NewV7())
	pgtest.Exec(t, u, pgtest.InsertRequest, earlier, "erasure", "completed", uuid.New(), nil)
	tx := pgtest.Begin(t, u)
	if _, err := tx.Exec(context.Background(), `INSERT INTO suppressions (kind, blind_index, request_id)
		SELECT 'email', email_index, $2 FROM records WHERE id = $1`, record, earlier); err != nil {
		t.Fatal(err)
	}
	return tx
}

// A statement written on a record while an erasure of that record runs
// waits for it (the erasure locked its records before reading their
// consent), then finds the record gone and writes nothing: it is tried
// again on the records the person has now, instead of landing on an
// erased one unseen.
func TestAConsentStatementWaitsForTheErasureOfItsRecord(t *testing.T) {
	t.Parallel()
	app, u, profile, erased, request := erasureOfTheSalesRecord(t)
	ctx := context.Background()
	keep := func([]consent.Event, func(uuid.UUID) bool, uuid.UUID) []consent.Event { return nil }

	// The erasure is held after it locked its records.
	other := holdSuppression(t, u, erased)
	done := make(chan error, 1)
	go func() {
		_, err := app.Erase(ctx, request, profile, time.Now(), keep)
		done <- err
	}()
	if !waitingForLock(t, u) {
		t.Fatal("the erasure did not wait for the suppression")
	}
	appended := make(chan error, 1)
	go func() {
		appended <- app.AppendConsent(ctx, []consent.Event{{ID: uuid.Must(uuid.NewV7()), Record: uuid.MustParse(erased),
			Purpose: "marketing", State: consent.Withdrawn, Method: consent.MethodDepartmentForm, Origin: "sales", Actor: "test",
			At: time.Now(), RecordedAt: time.Now()}})
	}()
	if n := waitingFor(t, u, 2); n < 2 {
		t.Fatalf("%d statements waiting; want the erasure's and the consent's", n)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-appended; !errors.Is(err, postgres.ErrConflict) {
		t.Fatalf("a statement on a record erased meanwhile: %v; want a conflict", err)
	}
	if n := pgtest.Count(t, u, "SELECT count(*) FROM consent_events WHERE record_id = $1", erased); n != 0 {
		t.Fatalf("%d statements left on the erased record", n)
	}
}

// A statement that locked its record before an erasure began is waited
// for by the erasure, which then keeps it. The statement's trigger stops
// the profile's profiling (it leaves the segments of its purpose, which
// references the profile): with the record locked before the profile, it
// waited for the erasure holding the profile while the erasure waited for
// the record, a deadlock. Here the statement is held between its locks
// and its write by another transaction writing an event of the same id.
func TestAnErasureWaitsForAStatementOnItsRecord(t *testing.T) {
	t.Parallel()
	app, u, profile, erased, request := erasureOfTheSalesRecord(t)
	segment := uuid.New()
	pgtest.Exec(t, u, `INSERT INTO segments (id, name, purpose, condition, description, created_by)
		VALUES ($1, 'newsletter', 'marketing', 'true', 'everyone', 'test')`, segment)
	pgtest.Exec(t, u, "INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES ($1, $2, now())", segment, profile)
	ctx := context.Background()

	statement := consent.Event{ID: uuid.Must(uuid.NewV7()), Record: uuid.MustParse(erased), Purpose: "marketing",
		State: consent.Withdrawn, Method: consent.MethodDepartmentForm, Origin: "sales", Actor: "test", At: time.Now(), RecordedAt: time.Now()}
	other := pgtest.Begin(t, u)
	if _, err := other.Exec(ctx, `INSERT INTO consent_events (id, record_id, purpose, state, method, origin, actor, at)
		SELECT $1, id, 'support', 'granted', 'department_form', 'billing', 'test', now() FROM records WHERE source = 'billing'`,
		statement.ID); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() { appended <- app.AppendConsent(ctx, []consent.Event{statement}) }()
	if !waitingForLock(t, u) {
		t.Fatal("the statement did not wait for the event of the same id")
	}
	done := make(chan error, 1)
	var rep dsr.ErasureReport
	go func() {
		var err error
		rep, err = app.Erase(ctx, request, profile, time.Now(), func(events []consent.Event, gone func(uuid.UUID) bool, anchor uuid.UUID) []consent.Event {
			return consent.Outlive([]consent.Purpose{{ID: "marketing", LegalBasis: consent.BasisConsent, RequiresConsent: true,
				DefaultState: consent.Denied}}, events, gone, anchor, "test", time.Now())
		})
		done <- err
	}()
	if n := waitingFor(t, u, 2); n < 2 {
		t.Fatalf("%d statements waiting; want the statement's and the erasure's", n)
	}
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Fatalf("the statement written before the erasure: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the erasure after the statement: %v", err)
	}
	if rep.RefusalsKept != 1 {
		t.Fatalf("the erasure kept %d refusals; want the withdrawal", rep.RefusalsKept)
	}
}
