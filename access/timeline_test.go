package access_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/postgres/pgtest"
)

// twoSteps hides the store's one-round-trip timeline read: the service
// then reads the records and their interactions one after the other.
type twoSteps struct{ access.Store }

// A timeline read in one round trip (records and interactions together)
// shows what the two reads one after the other show, the limit counting
// the contacts the purpose sees, and nothing of a record whose key was
// destroyed.
func TestTimelineReadInOneRoundTripAgrees(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	recs := pgtest.Query(t, f.owner, "SELECT string_agg(record_id::text, ',' ORDER BY record_id) FROM profile_members WHERE profile_id = '"+f.profile.String()+"'")
	ids := strings.Split(recs, ",")
	if len(ids) != 2 {
		t.Fatalf("records %q", recs)
	}
	for i := range 12 {
		typ := []string{"order", "ticket", "campaign_response"}[i%3]
		pgtest.Exec(t, f.owner, `INSERT INTO interactions (id, source, source_key, record_id, type, channel, occurred_at)
			VALUES ($1, 'sales', $2, $3, $4, 'web', timestamptz '2026-01-01' + $5 * interval '1 day')`,
			[16]byte(uuid.New()), []byte(fmt.Sprint("k", i)), [16]byte(uuid.MustParse(ids[i%2])), typ, i/2) // pairs on the same day
	}
	// The newest contact is one support may not see: a limit counts
	// what the reader sees, not what was read (it once came back empty).
	pgtest.Exec(t, f.owner, `INSERT INTO interactions (id, source, source_key, record_id, type, channel, occurred_at)
		VALUES ($1, 'sales', 'newest', $2, 'campaign_response', 'email', timestamptz '2026-06-01')`,
		[16]byte(uuid.New()), [16]byte(uuid.MustParse(ids[1])))
	cfg := f.cfg
	cfg.Store = twoSteps{f.db}
	apart := access.New(cfg)
	req := staff("support", auth.RoleReader)
	req.Purpose = "support"
	read := func(svc *access.Service, limit int) []uuid.UUID {
		t.Helper()
		tl, err := svc.Timeline(ctx, req, f.profile, limit)
		if err != nil {
			t.Fatalf("timeline (limit %d): %v", limit, err)
		}
		var got []uuid.UUID
		for _, c := range tl.Contacts {
			got = append(got, c.ID)
		}
		return got
	}
	check := func(what string, want int) {
		for _, limit := range []int{1, 2, 5, 12, 0} {
			one, two := read(f.svc, limit), read(apart, limit)
			if !slices.Equal(one, two) {
				t.Errorf("%s, limit %d: one round trip %v, two %v", what, limit, one, two)
			}
			if n := min(want, cmp.Or(limit, 200)); len(one) != n {
				t.Errorf("%s, limit %d: %d contacts, want %d", what, limit, len(one), n)
			}
		}
	}
	check("both records", 8) // orders and tickets; support sees no campaign responses
	req = staff("analytics", auth.RoleReader)
	req.Purpose = "analytics" // every type
	check("every type", 13)
	req = staff("support", auth.RoleReader)
	req.Purpose = "support"
	pgtest.Exec(t, f.owner, "UPDATE records SET wrapped_key = NULL, key_destroyed_at = now() WHERE id = $1", [16]byte(uuid.MustParse(ids[0])))
	check("one record's key destroyed", 4)
}
