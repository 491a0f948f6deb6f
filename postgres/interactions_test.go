package postgres_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/postgres/pgtest"
)

// TestInteractionNamesKeepTheirRule: the checks on an interaction's type
// and channel (rewritten in migration 0022 without a bounded repetition)
// accept exactly the names the original rule accepted.
func TestInteractionNamesKeepTheirRule(t *testing.T) {
	_, _, owner := pgtest.NewAppStore(t)
	rule := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	names := []string{"", "a", "order", "campaign_response", "call-centre", "a1", "a_", "a-", "z9_-",
		"A", "Order", "1a", "_a", "-a", "a b", "a.b", "a\nb", "a\n", "é", "aé", "ordér", "a\u0131", "ﬁ",
		strings.Repeat("a", 62), strings.Repeat("a", 63), strings.Repeat("a", 64), "a" + strings.Repeat("é", 31),
		"a" + strings.Repeat("0", 62), "a" + strings.Repeat("_", 63)}
	for _, column := range []string{"type", "channel"} {
		for _, name := range names {
			other := "web"
			typ, channel := name, other
			if column == "channel" {
				typ, channel = "order", name
			}
			err := pgtest.TryExec(t, owner, `INSERT INTO interactions (id, source, source_key, record_id, type, channel, occurred_at)
				VALUES ($1, 'shop', $2, $3, $4, $5, now())`, [16]byte(uuid.New()), []byte(uuid.NewString()), [16]byte(uuid.New()), typ, channel)
			if accepted, want := err == nil, rule.MatchString(name); accepted != want {
				t.Errorf("%s %q: accepted %v, the rule says %v (%v)", column, name, accepted, want, err)
			}
		}
	}
}
