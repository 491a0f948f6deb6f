package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres/pgtest"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
	"github.com/cdp-project/cdp/webhook"
)

// The strangers of the security review: real people of FEBRL's first
// dataset (no email addresses), whose names someone else types into a new
// account. Each is two records of one person.
var strangers = []map[string]string{
	{"given_name": "ethan", "family_name": "andersch", "birth_date": "1927-10-26", "national_id": "3361297", "street": "67 augustus close"},
	{"given_name": "toby", "family_name": "white", "birth_date": "1980-08-20", "national_id": "7210381", "street": "35 esperance street"},
	{"given_name": "mitchell", "family_name": "berry", "birth_date": "1940-05-03", "national_id": "2887622", "street": "1 braine treet"},
	{"given_name": "thomas", "family_name": "wijedasa", "birth_date": "1982-04-15", "national_id": "8129413", "street": "152 powers place"},
}

// importFEBRL imports FEBRL's first dataset as the sales department's
// records and resolves it in full, training the model, as `cdp import`
// does for a first import.
func (e *env) importFEBRL() {
	e.t.Helper()
	data, err := os.ReadFile("../testdata/datasets/febrl1.csv")
	if err != nil {
		e.t.Fatal(err)
	}
	text := string(data)
	for _, src := range []string{"marketing", "billing", "support"} {
		text = strings.ReplaceAll(text, "\n"+src+",", "\nsales,")
	}
	r, err := ingest.NewCSVReader(strings.NewReader(text), ingest.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	im := ingest.Importer{Vault: e.vault, Store: e.db, Normalizer: identity.Normalizer{DefaultRegion: "AU"}, Actor: "test"}
	if sum, err := im.Import(ctx, r, nil); err != nil || sum.Rejected > 0 {
		e.t.Fatalf("import: %+v %v", sum, err)
	}
	if _, err := (&resolver.Resolver{Store: e.db, Vault: e.vault}).Full(ctx, "test"); err != nil {
		e.t.Fatal(err)
	}
}

// A household: two people sharing one email address and one home.
var (
	anna  = map[string]string{"given_name": "Annabel", "national_id": "QQ 55 11 22 A", "phone": "07700 900111", "birth_date": "1979-06-30"}
	peter = map[string]string{"given_name": "Peregrine", "national_id": "QQ 66 33 44 B", "phone": "07700 900222", "birth_date": "1976-11-02"}
)

// seedHousehold is the household's records, sharing the address EMAIL.
const seedHousehold = `[
	{"source":"sales","source_id":"hh-1","given_name":"Annabel","family_name":"Trelawney","email":"EMAIL",
	 "phone":"07700 900111","birth_date":"1979-06-30","national_id":"QQ 55 11 22 A","street":"8 Orchard Close","postcode":"BA1 2QT","city":"Bath","country":"GB"},
	{"source":"sales","source_id":"hh-2","given_name":"Peregrine","family_name":"Trelawney","email":"EMAIL",
	 "phone":"07700 900222","birth_date":"1976-11-02","national_id":"QQ 66 33 44 B","street":"8 Orchard Close","postcode":"BA1 2QT","city":"Bath","country":"GB"}
]`

func (e *env) ingest(token, body string) {
	e.t.Helper()
	if r := e.do("POST", "/v1/records", e.tokens[token], "application/json", body); r.status != 200 {
		e.t.Fatalf("ingest: %d %s", r.status, r.body)
	}
}

// holds reports the values of a person a response body reveals.
func holds(body []byte, values map[string]string, fields ...string) []string {
	var out []string
	for _, f := range fields {
		if v := values[f]; v != "" && strings.Contains(string(body), v) {
			out = append(out, f)
		}
	}
	return out
}

// exportOf makes a customer's access request, has the DPO approve it and
// downloads the export as the customer.
func (e *env) exportOf(session string) response {
	e.t.Helper()
	r := e.do("POST", "/v1/me/requests", session, "application/json", `{"type":"access"}`)
	var mine requestBody
	r.json(e.t, &mine)
	if r.status != 201 {
		e.t.Fatalf("customer intake: %d %s", r.status, r.body)
	}
	e.complete(mine.ID)
	return e.get(session, "/v1/me/requests/"+mine.ID+"/export")
}

// A self-registered customer who types a stranger's name sees nothing of
// the stranger, on any customer route, nor in their export; the sign-up
// does not join the stranger's profile.
func TestCustomerWithAStrangersNameSeesNothingOfThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.importFEBRL()
	sensitive := []string{"birth_date", "national_id", "street"}
	for _, stranger := range strangers {
		attacker := e.kratos.Account(t, "probe-"+uuid.NewString()[:8]+"@example.org", "correct horse battery staple 7",
			stranger["given_name"], stranger["family_name"])
		for _, path := range []string{"/v1/me", "/v1/me/records", "/v1/me/consents/history"} {
			r := e.get(attacker.SessionToken, path)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			if leaked := holds(r.body, stranger, sensitive...); len(leaked) > 0 {
				t.Errorf("%s shows the stranger's %v: %s", path, leaked, r.body)
			}
		}
		var recs struct {
			Records []struct {
				Source string `json:"source"`
			} `json:"records"`
		}
		e.get(attacker.SessionToken, "/v1/me/records").json(t, &recs)
		if len(recs.Records) != 1 || recs.Records[0].Source != "self_service" {
			t.Errorf("records shown: %+v, want only the account's own", recs.Records)
		}
		if r := e.exportOf(attacker.SessionToken); r.status != 200 {
			t.Fatalf("export: %d %s", r.status, r.body)
		} else if leaked := holds(r.body, stranger, sensitive...); len(leaked) > 0 {
			t.Errorf("the export shows the stranger's %v", leaked)
		}
		// The sign-up did not join the stranger's profile: a name is no
		// evidence of being that person.
		if n := pgtest.Count(t, e.owner, `SELECT count(DISTINCT m.profile_id) FROM records r JOIN profile_members m ON m.record_id = r.id
			WHERE r.source = 'self_service' AND m.profile_id IN (SELECT profile_id FROM profile_members GROUP BY profile_id HAVING count(*) > 1)`); n != 0 {
			t.Errorf("%d sign-ups joined other people's profiles by name", n)
		}
	}
	// The name matches wait for a steward, who sees the two records'
	// values side by side as data_quality allows (no national id),
	// audited per profile.
	var q struct {
		Pairs []struct {
			ValuesA map[string]string `json:"values_a"`
			ValuesB map[string]string `json:"values_b"`
		} `json:"pairs"`
	}
	r := e.get(e.tokens["steward"], "/v1/review?values=true&limit=500")
	r.json(t, &q)
	withValues := 0
	for _, p := range q.Pairs {
		if p.ValuesA["family_name"] != "" && p.ValuesB["family_name"] != "" {
			withValues++
		}
		if p.ValuesA["national_id"] != "" || p.ValuesB["national_id"] != "" {
			t.Errorf("the review queue shows a national id to data_quality")
		}
	}
	if withValues == 0 {
		t.Errorf("no review pair shows its values: %d %.500s", r.status, r.body)
	}
	shown := 0
	for _, en := range e.entriesOf(r.header.Get("X-Request-ID")) {
		if en.Action == "records" && en.Outcome == "allowed" && contains(en.Fields, "family_name") {
			shown++
		}
	}
	if shown == 0 {
		t.Errorf("the values shown are not audited")
	}
}

// Two people of one household share an email address: each, logged in
// with the verified shared address, sees their own records and none of
// the other's national id, phone or birth date, in reads and exports.
// (Kratos lets one address sign up once: each member is tried in a
// household of their own.)
func TestHouseholdSharingAnAddressSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.importFEBRL() // its model, like many real ones, does not trust given names: households merge
	private := []string{"national_id", "phone", "birth_date"}
	for _, c := range []struct {
		name        string
		self, other map[string]string
	}{{"Annabel", anna, peter}, {"Peregrine", peter, anna}} {
		t.Run(c.name, func(t *testing.T) {
			email := "trelawneys-" + uuid.NewString()[:8] + "@example.org"
			e.ingest("sales-ingest", strings.ReplaceAll(strings.ReplaceAll(seedHousehold, "EMAIL", email), `"hh-`, `"`+email+`-`))
			me := e.kratos.Account(t, email, "correct horse battery staple 7", c.self["given_name"], "Trelawney")
			r := e.get(me.SessionToken, "/v1/me/records")
			if r.status != 200 {
				t.Fatalf("records: %d %s", r.status, r.body)
			}
			if leaked := holds(r.body, c.other, private...); len(leaked) > 0 {
				t.Errorf("%s sees the other's %v: %s", c.name, leaked, r.body)
			}
			if got := holds(r.body, c.self, private...); len(got) != len(private) {
				t.Errorf("%s sees of their own record only %v: %s", c.name, got, r.body)
			}
			if leaked := holds(e.get(me.SessionToken, "/v1/me").body, c.other, private...); len(leaked) > 0 {
				t.Errorf("%s's profile shows the other's %v", c.name, leaked)
			}
			if leaked := holds(e.exportOf(me.SessionToken).body, c.other, private...); len(leaked) > 0 {
				t.Errorf("%s's export shows the other's %v", c.name, leaked)
			}
		})
	}
}

// The owner of a verified address sees every record holding it, and the
// export carries them.
func TestVerifiedAddressShowsItsOwnersRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seed()
	me := e.customer(person["email"])
	r := e.get(me.SessionToken, "/v1/me/records")
	var recs struct {
		Records []struct {
			Source string `json:"source"`
		} `json:"records"`
	}
	r.json(t, &recs)
	if len(recs.Records) != 3 || !strings.Contains(string(r.body), person["national_id"]) {
		t.Errorf("the owner's records: %d %s", r.status, r.body)
	}
	if x := e.exportOf(me.SessionToken); !strings.Contains(string(x.body), person["national_id"]) {
		t.Errorf("the owner's export: %d %.300s", x.status, x.body)
	}
}

// recordOf returns the id of a profile's record of a source.
func (e *env) recordOf(profile uuid.UUID, source string) string {
	e.t.Helper()
	return pgtest.Query(e.t, e.owner, `SELECT r.id::text FROM records r JOIN profile_members m ON m.record_id = r.id
		WHERE r.source = '`+source+`' AND m.profile_id = '`+profile.String()+`'`)
}

// A department records consent only on its own department's records: not
// on another department's named record, and not on a profile where it
// holds none (the statement used to land on the oldest record, sealed
// under another department's key).
func TestDepartmentsWriteOnlyTheirOwnConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, bart := e.seed()
	grant := func(token string, profile uuid.UUID, extra string) response {
		return e.do("POST", "/v1/profiles/"+profile.String()+"/consents", e.tokens[token], "application/json",
			`{"purpose":"marketing","state":"granted","notice_version":1,"evidence":{"form":"F-9"}`+extra+`}`)
	}
	before := e.consentEvents()
	for name, r := range map[string]response{
		"another department's named record": grant("marketing-ingest", w, `,"record_id":"`+e.recordOf(w, "sales")+`"`),
		"a profile it holds no record of":   grant("billing-ingest", bart, ""),
	} {
		if r.status != 404 {
			t.Errorf("%s: %d %s, want 404 as for an unknown profile", name, r.status, r.body)
		}
	}
	if n := e.consentEvents(); n != before {
		t.Fatalf("%d consent events written by refused statements", n-before)
	}
	if r := e.get(e.tokens["marketing-reader"], "/v1/profiles/"+bart.String()+"?purpose=marketing"); r.status != 404 {
		t.Errorf("marketing reads Bartholomew on another department's grant: %d", r.status)
	}
	denied := 0
	for _, en := range e.auditEntries() {
		if en.Action == "record_consent" && en.Outcome == "denied" && strings.Contains(en.Reason, "its own records") {
			denied++
		}
	}
	if denied != 2 {
		t.Errorf("%d refusals audited with their reason, want 2", denied)
	}
	// Its own record, named or not: recorded.
	if r := grant("marketing-ingest", w, `,"record_id":"`+e.recordOf(w, "newsletter")+`"`); r.status != 201 {
		t.Fatalf("own record: %d %s", r.status, r.body)
	}
	if r := grant("sales-ingest", bart, ""); r.status != 201 {
		t.Fatalf("own record: %d %s", r.status, r.body)
	}
}

// A withdrawal acts on the very next read whatever time an earlier grant
// claimed: a time more than a few seconds ahead is refused, and one
// within the skew does not outlast a withdrawal recorded after it.
func TestWithdrawalBeatsAFutureDatedGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	post := func(state, at string) response {
		body := `{"purpose":"marketing","state":"` + state + `"`
		if state == "granted" {
			body += `,"notice_version":1`
		}
		if at != "" {
			body += `,"at":"` + at + `"`
		}
		return e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json", body+`}`)
	}
	ahead := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }
	e.wantProblem(post("granted", ahead(4*time.Minute)), 400, "/problems/invalid-consent")
	if r := post("granted", ahead(3*time.Second)); r.status != 201 {
		t.Fatalf("grant within the skew: %d %s", r.status, r.body)
	}
	if r := post("withdrawn", ""); r.status != 201 {
		t.Fatalf("withdrawal: %d %s", r.status, r.body)
	}
	if r := e.get(e.tokens["marketing-reader"], "/v1/profiles/"+w.String()+"?purpose=marketing"); r.status != 404 {
		t.Errorf("marketing reads after the withdrawal: %d", r.status)
	}
}

// Whoever may not handle requests learns nothing from them: an existing
// profile, an unknown one and an erased one answer alike (404), requests
// and their exports too, and every refusal is audited. Only the DPO is
// told of an erasure (410).
func TestRequestsAreNoExistenceOracle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, bart := e.seed()
	erased := e.intake("erasure", bart, true, "")
	e.complete(erased.ID)
	access := e.intake("access", w, true, "")
	before := len(e.auditEntries())
	for _, token := range []string{"sales-reader", "sales-ingest", "steward", "all-roles-but-dpo"} {
		tok := e.tokens[token]
		if token == "all-roles-but-dpo" {
			tok = e.tokens["marketing-reader"]
		}
		var bodies []string
		for _, profile := range []string{w.String(), uuid.NewString(), bart.String()} {
			r := e.do("POST", "/v1/requests", tok, "application/json", `{"type":"access","profile_id":"`+profile+`"}`)
			p := wantProblem(t, r, 404, "/problems/not-found")
			bodies = append(bodies, p.Detail)
		}
		for _, id := range []string{access.ID, uuid.NewString()} {
			for _, path := range []string{"/v1/requests/" + id, "/v1/requests/" + id + "/export"} {
				p := wantProblem(t, e.get(tok, path), 404, "/problems/not-found")
				bodies = append(bodies, p.Detail)
			}
			p := wantProblem(t, e.do("POST", "/v1/requests/"+id+"/approve", tok, "application/json", ""), 404, "/problems/not-found")
			bodies = append(bodies, p.Detail)
		}
		for _, b := range bodies {
			if b != bodies[0] {
				t.Errorf("%s: the answers differ: %q", token, bodies)
				break
			}
		}
	}
	refused := 0
	for _, en := range e.auditEntries()[before:] {
		if en.Action == "requests" && en.Outcome == "denied" {
			refused++
		}
	}
	if refused != 4*9 {
		t.Errorf("%d refusals audited, want %d", refused, 4*9)
	}
	// The DPO is told.
	wantProblem(t, e.do("POST", "/v1/requests", e.tokens["dpo"], "application/json", `{"type":"access","profile_id":"`+bart.String()+`"}`), 410, "/problems/erased")
}

// A record in no profile (its writer died before linking it) is linked
// when a department re-sends it unchanged, and an erasure finds it.
func TestOrphansAreLinkedWhenSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	orphan := e.recordOf(w, "sales")
	pgtest.Exec(t, e.owner, "DELETE FROM profile_members WHERE record_id = '"+orphan+"'")
	r := e.do("POST", "/v1/records", e.tokens["all-roles"], "application/json", seedSales)
	var got struct {
		Results []struct {
			Status    string `json:"status"`
			RecordID  string `json:"record_id"`
			ProfileID string `json:"profile_id"`
		} `json:"results"`
	}
	r.json(t, &got)
	if r.status != 200 || got.Results[0].Status != "unchanged" || got.Results[0].ProfileID != w.String() {
		t.Fatalf("the orphan re-sent unchanged: %d %s", r.status, r.body)
	}
	// Orphaned again; the erasure of the person finds it all the same.
	pgtest.Exec(t, e.owner, "DELETE FROM profile_members WHERE record_id = '"+orphan+"'")
	e.complete(e.intake("erasure", w, true, "").ID)
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM records WHERE id = '"+orphan+"'"); n != 0 {
		t.Errorf("the erasure left the person's unlinked record")
	}
}

// The service's own role cannot delete append-only consent events: not by
// a temporary table that stands in for records inside the SECURITY
// DEFINER function, nor by calling it on a record that still exists
// (destroyed key or not), nor by deleting the record, calling it and
// putting the record back as it was, nor through the function erasures
// called before migration 0023.
func TestServiceRoleCannotDeleteConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	if r := e.do("POST", "/v1/profiles/"+w.String()+"/consents", e.tokens["marketing-ingest"], "application/json",
		`{"purpose":"marketing","state":"granted","notice_version":1}`); r.status != 201 {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	rec := e.recordOf(w, "newsletter")
	app := pgtest.AppURL(t, e.owner)
	before := e.consentEvents()
	// An empty temporary table named records would say the record is gone.
	if err := pgtest.TryExec(t, app, `CREATE TEMP TABLE records (id uuid, key_destroyed_at timestamptz);
		SELECT erase_deleted_records_consent(ARRAY['`+rec+`'::uuid])`); err != nil {
		t.Fatalf("the attack could not be tried: %v", err)
	}
	if n := e.consentEvents(); n != before {
		t.Errorf("a temporary table named records let the service delete %d consent events", before-n)
	}
	if err := pgtest.TryExec(t, app, `SELECT erase_deleted_records_consent(ARRAY['`+rec+`'::uuid])`); err != nil {
		t.Fatalf("the function: %v", err)
	}
	key := pgtest.Query(t, e.owner, "SELECT encode(wrapped_key, 'hex') FROM records WHERE id = '"+rec+"'")
	err := pgtest.TryExec(t, app, `BEGIN;
		UPDATE records SET wrapped_key = NULL, key_destroyed_at = now() WHERE id = '`+rec+`';
		SELECT erase_deleted_records_consent(ARRAY['`+rec+`'::uuid]);
		COMMIT`)
	if err != nil {
		t.Fatalf("destroying a key: %v", err)
	}
	if n := e.consentEvents(); n != before {
		t.Errorf("%d consent events of a record that still exists deleted", before-n)
	}
	if err := pgtest.TryExec(t, app, `SELECT erase_consent_events(ARRAY['`+rec+`'::uuid])`); err == nil {
		t.Errorf("the function of erasures before migration 0023 still exists")
	}
	if err := pgtest.TryExec(t, app, "UPDATE records SET wrapped_key = decode('"+strings.TrimSpace(key)+"', 'hex'), key_destroyed_at = NULL WHERE id = '"+rec+"'"); err == nil {
		t.Errorf("a destroyed key was restored")
	}
	// Copied, deleted, its events erased, and put back under its own id.
	other := e.recordOf(w, "sales")
	if err := pgtest.TryExec(t, app, `INSERT INTO consent_events (id, record_id, purpose, state, notice_version, method, origin, actor, at)
			VALUES (gen_random_uuid(), '`+other+`', 'marketing', 'withdrawn', 1, 'department_form', 'sales', 'staff:test', now())`); err != nil {
		t.Fatalf("the attack could not be prepared: %v", err)
	}
	before = e.consentEvents()
	err = pgtest.TryExec(t, app, `BEGIN;
		CREATE TEMP TABLE kept AS SELECT * FROM records WHERE id = '`+other+`';
		CREATE TEMP TABLE kept_members AS SELECT * FROM profile_members WHERE record_id = '`+other+`';
		DELETE FROM records WHERE id = '`+other+`';
		SELECT erase_deleted_records_consent(ARRAY['`+other+`'::uuid]);
		INSERT INTO records SELECT * FROM kept;
		INSERT INTO profile_members SELECT * FROM kept_members;
		COMMIT`)
	if err == nil {
		t.Errorf("the service deleted a record, erased its consent events and put it back")
	}
	if n := e.consentEvents(); n != before {
		t.Errorf("%d consent events deleted by a record deleted and put back", before-n)
	}
}

// One odd audit entry fails only the request it belongs to: a NUL in a
// query is stored as U+FFFD, and an entry the database refuses does not
// take the others of its group commit down with it.
func TestOneBadAuditEntryFailsOnlyItsRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Text that can be stored nowhere is the client's error, on every
	// route, before anything runs.
	for _, path := range []string{"/v1/audit?principal=a%00b", "/v1/audit?principal=a%ffb", "/v1/profiles?purpose=support&email=a%00b"} {
		e.wantProblem(e.get(e.tokens["dpo"], path), 400, "/problems/invalid-request")
	}
	// An audit entry holding such text (a reason quoting a caller) is
	// stored with U+FFFD in its place.
	odd := audit.Entry{PrincipalKind: "staff", Principal: "x\x00y\xff", Action: "read", Outcome: audit.Denied, Reason: "bad \x00"}
	if _, err := e.audit.RecordAll(context.Background(), []audit.Entry{odd}); err != nil {
		t.Errorf("an entry holding a NUL: %v", err)
	}
	// An entry naming a profile that is no id (a caller's bug) fails
	// alone, whatever entries share its commit.
	good := func(i int) audit.Entry {
		return audit.Entry{PrincipalKind: "staff", Principal: fmt.Sprintf("p%d", i), Action: "read", Purpose: "support",
			Profiles: []string{uuid.NewString()}, Outcome: audit.Allowed}
	}
	bad := good(-1)
	bad.Profiles = []string{"not an id"}
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 40)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				es := []audit.Entry{good(i)}
				if i == 20 {
					es = append(es, bad)
				}
				_, errs[i] = e.audit.RecordAll(context.Background(), es)
			}(i)
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if (err != nil) != (i == 20) {
				t.Fatalf("round %d, request %d: %v", round, i, err)
			}
		}
	}
	if err := e.verifyAudit(); err != nil {
		t.Errorf("the chain after the retries: %v", err)
	}
}

// Every JSON route reads its body through one decoder: a NUL in any text
// and invalid UTF-8 anywhere are a 400 problem, and nothing is written.
func TestJSONBodiesRefuseNULAndInvalidUTF8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	req := e.intake("access", w, false, "")
	me := e.customer(person["email"])
	routes := []struct {
		method, path, token, body string
	}{
		{"POST", "/v1/purposes/marketing/notices", e.tokens["dpo"], `{"text":"TEXT","effective_at":"2030-01-01T00:00:00Z"}`},
		{"POST", "/v1/purposes", e.tokens["dpo"], `{"id":"surveys","description":"TEXT","legal_basis":"consent","retention_days":30}`},
		{"POST", "/v1/profiles/" + w.String() + "/consents", e.tokens["marketing-ingest"], `{"purpose":"marketing","state":"granted","notice_version":1,"evidence":{"form":"TEXT"}}`},
		{"POST", "/v1/requests", e.tokens["dpo"], `{"type":"access","profile_id":"` + w.String() + `","verification":{"method":"TEXT"}}`},
		{"POST", "/v1/requests/" + req.ID + "/reject", e.tokens["dpo"], `{"reason":"TEXT is the reason given here"}`},
		{"POST", "/v1/suppressions/lift", e.tokens["dpo"], `{"kind":"email","value":"a@b.c","reason":"TEXT signed a new contract"}`},
		{"PUT", "/v1/me/consents/marketing", me.SessionToken, `{"state":"TEXT","notice_version":1}`},
	}
	before := pgtest.Count(t, e.owner, "SELECT (SELECT count(*) FROM notices) + (SELECT count(*) FROM purposes) + (SELECT count(*) FROM consent_events) + (SELECT count(*) FROM dsr_requests) + (SELECT count(*) FROM dsr_events)")
	for _, rt := range routes {
		for name, text := range map[string]string{"NUL": `a\u0000b`, "invalid UTF-8": "a\xffb"} {
			r := e.do(rt.method, rt.path, rt.token, "application/json", strings.Replace(rt.body, "TEXT", text, 1))
			if r.status != 400 || !strings.Contains(r.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s %s with %s: %d %s", rt.method, rt.path, name, r.status, r.body)
			}
		}
	}
	after := pgtest.Count(t, e.owner, "SELECT (SELECT count(*) FROM notices) + (SELECT count(*) FROM purposes) + (SELECT count(*) FROM consent_events) + (SELECT count(*) FROM dsr_requests) + (SELECT count(*) FROM dsr_events)")
	if after != before {
		t.Errorf("%d rows written by refused bodies", after-before)
	}
}

// An ingest system is told its own records' outcome, never the profiles
// they joined (links to other departments' records), and may not read a
// person's consent state.
func TestIngestTokensLearnOnlyTheirOwnOutcome(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	r := e.do("POST", "/v1/records", e.tokens["billing-ingest"], "application/json",
		`[{"source":"billing","source_id":"inv-7001","full_name":"Wilhelmina Oyelaran-Brightwater","email":"wilhelmina.ob@example.org"}]`)
	if r.status != 200 || strings.Contains(string(r.body), w.String()) || strings.Contains(string(r.body), `"profile_id"`) {
		t.Errorf("an ingest answer names profiles: %d %s", r.status, r.body)
	}
	var got struct {
		Resolution struct {
			ProfilesTouched []string `json:"profiles_touched"`
		} `json:"resolution"`
	}
	r.json(t, &got)
	if len(got.Resolution.ProfilesTouched) != 0 {
		t.Errorf("profiles touched told to an ingest token: %v", got.Resolution.ProfilesTouched)
	}
	e.wantProblem(e.get(e.tokens["marketing-ingest"], "/v1/profiles/"+w.String()+"/consents"), 404, "/problems/not-found")
}

// A rotated secret signs beside the new one until the overlap ends: a
// recipient checking with either (with the Standard Webhooks library)
// accepts the notice, so it can switch without missing one.
func TestRotatedSecretSignsBesideTheNewOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	box := e.recipient("sales-crm", "sales", []string{"sales"})
	var next string
	if err := e.db.RotateRecipientSecret(context.Background(), "sales-crm", time.Hour, func(id uuid.UUID, kek int32, wrapped []byte) ([]byte, error) {
		next = webhook.NewSecret()
		return requests.SealNextSecret(e.vault, id, kek, wrapped, []byte(next))
	}); err != nil {
		t.Fatal(err)
	}
	box.also(next)
	e.act(e.intake("erasure", w, true, "").ID, "approve", "")
	deadline := time.Now().Add(30 * time.Second)
	for len(box.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the notice was not accepted by a recipient checking the previous and the new secret")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Who read a person's data includes the reads under every id their
// profile ever had: after a merge, the survivor's audit trail and export
// hold the reads recorded under the merged-away id.
func TestAuditTrailFollowsMerges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	for _, id := range []uuid.UUID{w, b} {
		if r := e.get(e.tokens["dpo"], "/v1/profiles/"+id.String()+"?purpose=legal_claims"); r.status != 200 {
			t.Fatalf("read: %d", r.status)
		}
	}
	r := e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json",
		`{"profiles":["`+w.String()+`","`+b.String()+`"],"reason":"one person, two accounts: confirmed by phone"}`)
	if r.status != 200 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	var now profileBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+b.String()+"?purpose=legal_claims").json(t, &now) // follows the merge
	survivor, gone := w, b
	if now.ID == b.String() {
		survivor, gone = b, w
	}
	var log struct {
		Entries []audit.Entry `json:"entries"`
	}
	e.get(e.tokens["dpo"], "/v1/audit?profile="+survivor.String()+"&limit=1000").json(t, &log)
	found := false
	for _, en := range log.Entries {
		if en.Action == "read" && en.Purpose == "legal_claims" && contains(en.Profiles, gone.String()) {
			found = true
		}
	}
	if !found {
		t.Errorf("the survivor's trail omits the read under the merged-away id %s: %d entries", gone, len(log.Entries))
	}
}

// Golden values are served in canonical form (ISO 8601 dates, E.164
// phones, lower-case emails) whatever form each source sent; records keep
// what the source sent, with the canonical form beside it.
func TestValuesAreServedInCanonicalForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ingest("sales-ingest", `[
		{"source":"sales","source_id":"c-1","given_name":"Imogen","family_name":"Ashdown-Pryce","birth_date":"20000627","phone":"07700 900765","email":"Imogen.AP@Example.org","country":"GB"},
		{"source":"sales","source_id":"c-2","given_name":"Imogen","family_name":"Ashdown-Pryce","birth_date":"27/06/2000","phone":"+44 7700 900765","email":"imogen.ap@example.org","country":"GB"}]`)
	id := pgtest.Query(t, e.owner, "SELECT profile_id::text FROM profile_members LIMIT 1")
	var p profileBody
	e.get(e.tokens["dpo"], "/v1/profiles/"+id+"?purpose=compliance").json(t, &p)
	if p.Attributes["birth_date"].Value != "2000-06-27" || p.Attributes["phone"].Value != "+447700900765" || p.Attributes["email"].Value != "imogen.ap@example.org" {
		t.Errorf("golden values: birth %q, phone %q, email %q", p.Attributes["birth_date"].Value, p.Attributes["phone"].Value, p.Attributes["email"].Value)
	}
	var rs struct {
		Records []struct {
			Attributes map[string]string `json:"attributes"`
			Canonical  map[string]string `json:"canonical"`
		} `json:"records"`
	}
	e.get(e.tokens["dpo"], "/v1/profiles/"+id+"/records?purpose=compliance").json(t, &rs)
	sent := map[string]bool{}
	for _, r := range rs.Records {
		sent[r.Attributes["birth_date"]] = true
		if r.Attributes["birth_date"] != "2000-06-27" && r.Canonical["birth_date"] != "2000-06-27" {
			t.Errorf("record without the canonical birth date: %+v", r)
		}
	}
	if !sent["20000627"] || !sent["27/06/2000"] {
		t.Errorf("records do not keep what the sources sent: %v", sent)
	}
}

// Who changed a person's data is audited like who read it: a write of
// records leaves an entry in the same chain with the principal, the
// profiles and the field names, never the values.
func TestWritesAreAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	var log struct {
		Entries []audit.Entry `json:"entries"`
	}
	e.get(e.tokens["dpo"], "/v1/audit?profile="+w.String()+"&limit=1000").json(t, &log)
	var writes []audit.Entry
	for _, en := range log.Entries {
		if en.Action == "write_records" && len(en.Profiles) > 0 {
			writes = append(writes, en)
		}
	}
	if len(writes) != 3 {
		t.Fatalf("%d write entries for Wilhelmina's three writes: %+v", len(writes), log.Entries)
	}
	sales := writes[0]
	if sales.Principal != "sales-ingest" || sales.Department != "sales" || !contains(sales.Fields, "national_id") ||
		!strings.Contains(sales.Reason, "2 created") {
		t.Errorf("the sales write: %+v", sales)
	}
	body, _ := json.Marshal(log)
	for f, v := range person {
		if strings.Contains(string(body), v) {
			t.Errorf("the audit log holds the person's %s", f)
		}
	}
	// Each write was audited before it happened too.
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM audit_log WHERE action = 'write_records' AND reason LIKE '%received'"); n != 3 {
		t.Errorf("%d entries of writes about to happen, want 3", n)
	}
	// Sending the same records again changes nothing: no profile is
	// named as changed.
	e.ingest("sales-ingest", seedSales)
	if n := pgtest.Count(t, e.owner, "SELECT count(*) FROM audit_log WHERE action = 'write_records' AND cardinality(profiles) > 0"); n != 3 {
		t.Errorf("%d entries naming changed profiles after a write that changed nothing", n)
	}
}

// Stewards and departments find a profile by name (with a birth date or
// postcode to narrow it) through the blocking keys' blind indexes, ranked
// by how many of the fields asked agree, each result audited like any read.
func TestFindProfilesByName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	type found struct {
		Profiles []struct {
			ID    string   `json:"id"`
			Score *float64 `json:"score"`
		} `json:"profiles"`
	}
	for _, q := range []string{
		"given_name=Wilhelmina&family_name=Oyelaran-Brightwater",
		"given_name=wilhelmina&family_name=OYELARAN-BRIGHTWATER&birth_date=12/03/1984",
		"given_name=Wilhelmina&family_name=Oyelaran-Brightwater&postcode=LS1%204AP&city=Leeds",
	} {
		var f found
		r := e.get(e.tokens["steward"], "/v1/profiles?purpose=data_quality&"+q)
		r.json(t, &f)
		if r.status != 200 || len(f.Profiles) != 1 || f.Profiles[0].ID != w.String() || f.Profiles[0].Score == nil || *f.Profiles[0].Score != 1 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
		if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) != 1 || es[0].Action != "search" || es[0].Outcome != "allowed" {
			t.Errorf("%s: audit %+v", q, es)
		}
	}
	var f found
	e.get(e.tokens["steward"], "/v1/profiles?purpose=data_quality&given_name=Bartholomew&family_name=Oyelaran-Brightwater").json(t, &f)
	if len(f.Profiles) != 0 {
		t.Errorf("another given name found %+v", f.Profiles)
	}
	e.wantProblem(e.get(e.tokens["steward"], "/v1/profiles?purpose=data_quality&family_name=Quenby"), 400, "/problems/invalid-request")
}

// A denial of a merged-away id names the id asked, as an unknown
// profile's answer does: naming the profile it went into would tell the
// caller of the merge. The timeline and a consent statement load the
// profile before the decision and once named where the merge led.
func TestDenialsOfAMergedAwayIDNameIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, b := e.seed()
	sales := e.recordOf(w, "sales")
	if r := e.do("POST", "/v1/profiles/merge", e.tokens["steward"], "application/json",
		`{"profiles":["`+w.String()+`","`+b.String()+`"],"reason":"one person, two accounts: confirmed by phone"}`); r.status != 200 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	gone := pgtest.Query(t, e.owner, "SELECT old_id::text FROM profile_redirects")
	survivor := pgtest.Query(t, e.owner, "SELECT new_id::text FROM profile_redirects")
	for name, r := range map[string]response{
		"read":     e.get(e.tokens["support-reader"], "/v1/profiles/"+gone+"?purpose=legal_claims"),
		"timeline": e.get(e.tokens["support-reader"], "/v1/profiles/"+gone+"/timeline?purpose=legal_claims"),
		"consent on another department's record": e.do("POST", "/v1/profiles/"+gone+"/consents", e.tokens["marketing-ingest"], "application/json",
			`{"purpose":"marketing","state":"granted","notice_version":1,"evidence":{"form":"F-9"},"record_id":"`+sales+`"}`),
		// Before the decision, this once answered 400 "record ... is not
		// in profile <survivor>": the profile exists, and where it went.
		"consent on a record of no profile": e.do("POST", "/v1/profiles/"+gone+"/consents", e.tokens["marketing-ingest"], "application/json",
			`{"purpose":"marketing","state":"granted","notice_version":1,"evidence":{"form":"F-9"},"record_id":"`+uuid.NewString()+`"}`),
	} {
		e.wantProblem(r, 404, "/problems/not-found")
		if strings.Contains(string(r.body), survivor) || !strings.Contains(string(r.body), gone) {
			t.Errorf("%s: the denial does not name the id asked (%s) alone: %s", name, gone, r.body)
		}
	}
	// The DPO, whom the policy allows, is told the record is not in the
	// profile (naming the id asked), and that answer is audited.
	r := e.do("POST", "/v1/profiles/"+gone+"/consents", e.tokens["dpo"], "application/json",
		`{"purpose":"marketing","state":"denied","notice_version":1,"record_id":"`+uuid.NewString()+`"}`)
	e.wantProblem(r, 400, "/problems/invalid-request")
	if strings.Contains(string(r.body), survivor) || !strings.Contains(string(r.body), gone) {
		t.Errorf("the DPO's answer does not name the id asked (%s) alone: %s", gone, r.body)
	}
	if es := e.entriesOf(r.header.Get("X-Request-ID")); len(es) != 1 || es[0].Outcome != audit.Denied || !strings.Contains(es[0].Reason, "not in the profile") {
		t.Errorf("the DPO's statement on a record not in the profile audited as %+v", es)
	}
}

// A second outside probe (2026-12-04) found the first's class of defect
// one route away: staff read what a consent-based source holds of a person
// who never consented. The timeline showed every source's interactions,
// the newsletter's free text included, to a purpose whose decision leaves
// the newsletter out of the profile itself.
func TestTheTimelineShowsOnlyTheSourcesTheDecisionAllows(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	e.events("marketing-ingest", newsletterContacts)
	e.events("sales-ingest", "source,source_id,record_source_id,type,channel,occurred_at,note\n"+
		"sales,s-t1,sales-cust-88231,ticket,phone,2026-03-03T10:00:00Z,asked about delivery\n")
	var p struct {
		Sources []string `json:"sources"`
	}
	e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"?purpose=support").json(t, &p)
	if slices.Contains(p.Sources, "newsletter") {
		t.Fatalf("the premise fails: support sees the newsletter's record (%v)", p.Sources)
	}
	for _, purpose := range []string{"support", "analytics"} {
		r := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"/timeline?purpose="+purpose)
		if r.status != 200 {
			t.Fatalf("timeline for %s: %d %s", purpose, r.status, r.body)
		}
		if strings.Contains(string(r.body), "newsletter") || strings.Contains(string(r.body), "NL-") {
			t.Errorf("the timeline for %s shows the newsletter's interactions: %s", purpose, r.body)
		}
		if purpose == "support" && !strings.Contains(string(r.body), `"source":"sales"`) {
			t.Errorf("the timeline for support leaves out the sales ticket: %s", r.body)
		}
	}
}

// The same probe: a search by an address that only the consent-based
// newsletter holds found the person for support, allowed and audited,
// telling support that the address is subscribed. A lookup matches only
// the records of the sources the decision allows.
func TestASearchMatchesOnlyTheSourcesTheDecisionAllows(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	e.ingest("marketing-ingest", `[{"source":"newsletter","source_id":"nl-77","given_name":"Zebedee","email":"zeb.only@example.org"}]`)
	r := e.get(e.tokens["support-reader"], "/v1/profiles?purpose=support&email=zeb.only@example.org")
	if r.status != 200 || strings.Contains(string(r.body), `"id"`) {
		t.Errorf("support finds a person by an address only the newsletter holds: %d %s", r.status, r.body)
	}
	// An address a source support sees still finds its person.
	r = e.get(e.tokens["support-reader"], "/v1/profiles?purpose=support&email="+person["email"])
	if r.status != 200 || !strings.Contains(string(r.body), w.String()) {
		t.Errorf("support does not find Wilhelmina by her address: %d %s", r.status, r.body)
	}
}

// The web probe of 2026-12-04: a customer's routes that read no body (a
// withdrawal, a dispute) took a form another site posted with the
// browser's session cookie, since only a JSON body kept such a post out.
// A change with the cookie now comes only from a page of this origin; a
// client with X-Session-Token is not a browser and is not asked. Every
// answer of the API is kept out of caches.
func TestCustomerCookieChangesComeOnlyFromThisOrigin(t *testing.T) {
	e := newEnv(t)
	send := func(method, path string, header map[string]string) response {
		t.Helper()
		req := e.request(method, path, "")
		req.Header.Set("Cookie", "ory_kratos_session=whatever-the-browser-holds")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		h := req.Header.Clone()
		r := e.send(req)
		checkContract(t, method, e.url+path, h, "", r)
		return r
	}
	id := "01950000-0000-7000-8000-000000000000"
	for _, path := range []string{"/v1/me/records/" + id + "/dispute", "/v1/me/requests/" + id + "/withdraw", "/v1/me/requests"} {
		for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://evil.example"}} {
			if r := send("POST", path, h); r.status != 403 || !strings.Contains(string(r.body), "cross-origin") {
				t.Errorf("POST %s with the cookie and %v: %d %s; want 403 cross-origin", path, h, r.status, r.body)
			}
		}
		// From this origin, the session itself is checked (and this one is
		// no session).
		if r := send("POST", path, map[string]string{"Sec-Fetch-Site": "same-origin"}); r.status != 401 {
			t.Errorf("POST %s with the cookie from this origin: %d %s; want 401", path, r.status, r.body)
		}
	}
	// Reading is not refused for its origin, and no answer is cached.
	r := send("GET", "/v1/me", map[string]string{"Sec-Fetch-Site": "cross-site"})
	if r.status != 401 {
		t.Errorf("GET /v1/me cross-site: %d %s; want 401", r.status, r.body)
	}
	for _, r := range []response{r, e.get(e.tokens["support-reader"], "/v1/purposes")} {
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q; want no-store", got)
		}
	}
}

// The probe of 2026-12-04: a customer's request named, as its duplicate,
// the request the DPO had filed on the same profile, which the customer
// may not read. The DPO still sees the link; the customer is told only of
// their own earlier request.
func TestACustomerIsToldOnlyOfTheirOwnEarlierRequest(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	other := e.intake("erasure", w, false, "")
	me := e.customer(person["email"])
	var first struct {
		ID          string `json:"id"`
		DuplicateOf string `json:"duplicate_of"`
	}
	r := e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"erasure"}`)
	r.json(t, &first)
	if r.status != 201 || strings.Contains(string(r.body), other.ID) {
		t.Fatalf("the customer's request: %d %s; the DPO's %s must not be named", r.status, r.body, other.ID)
	}
	if g := e.get(me.SessionToken, "/v1/me/requests/"+first.ID); strings.Contains(string(g.body), other.ID) {
		t.Errorf("reading it names the DPO's request: %s", g.body)
	}
	var dpo struct {
		DuplicateOf string `json:"duplicate_of"`
	}
	e.get(e.tokens["dpo"], "/v1/requests/"+first.ID).json(t, &dpo)
	if dpo.DuplicateOf != other.ID {
		t.Errorf("the DPO is told of duplicate %q; want %s", dpo.DuplicateOf, other.ID)
	}
	// Their own second request is linked to their first.
	var second struct {
		DuplicateOf string `json:"duplicate_of"`
	}
	e.do("POST", "/v1/me/requests", me.SessionToken, "application/json", `{"type":"erasure"}`).json(t, &second)
	if second.DuplicateOf != first.ID {
		t.Errorf("the customer's second request names %q as its duplicate; want their first, %s", second.DuplicateOf, first.ID)
	}
}

// The probe of 2026-12-04: a record that joins a customer's profile by
// matching alone (another address, the same phone and national id) is
// not theirs by evidence, and its holder may be a customer too. The
// customer's export named the other customer's account (their reads of
// the shared profile) and listed the other record in its lineage. Two
// customers sharing a profile are not told of each other.
func TestCustomersSharingAProfileAreNotToldOfEachOther(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	e.ingest("sales-ingest", `[{"source":"sales","source_id":"twin-1","given_name":"Wilhelmina","family_name":"Oyelaran-Brightwater",
	 "email":"w.twin@example.net","phone":"07700 900987","national_id":"QQ 12 34 56 C","country":"GB"}]`)
	twinRecord := pgtest.Query(t, e.owner, `SELECT r.id::text FROM records r JOIN profile_members m ON m.record_id = r.id
		WHERE r.source = 'sales' AND m.profile_id = $1 ORDER BY r.created_at DESC LIMIT 1`, w)
	twin := e.kratos.Account(t, "w.twin@example.net", "correct horse battery staple 7", "Wilhelmina", "Oyelaran-Brightwater")
	if r := e.get(twin.SessionToken, "/v1/me/records"); r.status != 200 {
		t.Fatalf("the twin reads their records: %d %s", r.status, r.body)
	}
	me := e.customer(person["email"])
	x := e.exportOf(me.SessionToken)
	if x.status != 200 {
		t.Fatalf("export: %d %s", x.status, x.body)
	}
	if strings.Contains(string(x.body), twin.IdentityID) {
		t.Errorf("Wilhelmina's export names the other customer's account %s", twin.IdentityID)
	}
	if strings.Contains(string(x.body), twinRecord) {
		t.Errorf("Wilhelmina's export names record %s, which is not hers by evidence", twinRecord)
	}
	var ex struct {
		Lineage struct {
			Records []struct{ ID string } `json:"records"`
		} `json:"lineage"`
		Reads []struct {
			Principal string `json:"principal"`
		} `json:"reads"`
	}
	x.json(t, &ex)
	if len(ex.Lineage.Records) == 0 || len(ex.Reads) == 0 {
		t.Errorf("the export lost her own lineage (%d records) or reads (%d)", len(ex.Lineage.Records), len(ex.Reads))
	}
}

// The probe of 2026-12-04: a customer was shown the segments their profile
// is in for what a record that is not theirs by evidence holds (its
// orders), beside their own figures, which contradicted it: it told them
// of that record. A customer sees a segment only if its condition holds on
// their own figures.
func TestACustomerSeesOnlyTheSegmentsTheirOwnFiguresPut(t *testing.T) {
	e := newEnv(t)
	w, _ := e.seed()
	e.ingest("sales-ingest", `[{"source":"sales","source_id":"twin-1","given_name":"Wilhelmina","family_name":"Oyelaran-Brightwater",
	 "email":"w.twin@example.net","phone":"07700 900987","national_id":"QQ 12 34 56 C","country":"GB"}]`)
	if n := pgtest.Count(t, e.owner, `SELECT count(*) FROM records r JOIN profile_members m ON m.record_id = r.id
		WHERE r.source = 'sales' AND m.profile_id = $1`, w); n < 2 {
		t.Fatalf("the other record did not join Wilhelmina's profile (%d sales records in it)", n)
	}
	// Her own newsletter record's contacts count for nobody's figures,
	// hers included (TestTraitsCountOnlyTheSourcesThatServeProfiling).
	e.events("marketing-ingest", newsletterContacts)
	e.profiled("sales-ingest", "sales,big-1,twin-1,order,web,2026-01-01T10:00:00Z,5000,GBP\n"+
		"sales,big-2,twin-1,order,web,2026-02-01T10:00:00Z,5000,GBP\n"+
		"sales,own-1,sales-cust-88231,order,store,2026-03-01T10:00:00Z,20,GBP\n",
		`{"name":"bigspenders","purpose":"profiling","condition":"revenue >= 1000.0","description":"People who spent over 1000"}`,
		`{"name":"everyone","purpose":"profiling","condition":"revenue >= 0.0","description":"Everyone"}`)
	me := e.customer(person["email"])
	r := e.get(me.SessionToken, "/v1/me/traits")
	if r.status != 200 || !strings.Contains(string(r.body), `"own_records_only":true`) {
		t.Fatalf("my traits: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "bigspenders") {
		t.Errorf("the customer is shown a segment their profile is in for another's orders: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"everyone"`) {
		t.Errorf("the customer is not shown the segment their own figures put them in: %s", r.body)
	}
	var mine struct {
		Traits struct {
			Interactions int            `json:"interactions"`
			Channels     map[string]int `json:"channels"`
		} `json:"traits"`
	}
	r.json(t, &mine)
	if mine.Traits.Interactions != 1 || mine.Traits.Channels["email"] != 0 {
		t.Errorf("the customer's own figures: %d interactions, channels %v; want her own order alone", mine.Traits.Interactions, mine.Traits.Channels)
	}
}

// The probe of 2026-12-04: a department's write of records of another
// department's source was refused (403) without a trace in the audit log,
// which the DPO reads for attempts as much as for writes.
func TestARefusedWriteOfAnotherDepartmentsRecordsIsAudited(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/records", e.tokens["billing-ingest"], "application/json",
		`[{"source":"sales","source_id":"S-9","given_name":"Anna","email":"anna@example.com"}]`)
	if r.status != 403 {
		t.Fatalf("billing writes sales's records: %d %s", r.status, r.body)
	}
	es := e.entriesOf(r.header.Get("X-Request-ID"))
	if len(es) != 1 || es[0].Action != "write_records" || es[0].Outcome != audit.Denied || es[0].Principal != "billing-ingest" {
		t.Fatalf("the refused write's audit entries: %+v; want one denied write_records", es)
	}
	if strings.Contains(es[0].Reason, "anna") || strings.Contains(es[0].Reason, "Anna") {
		t.Errorf("the entry holds the record's values: %q", es[0].Reason)
	}
}

// Left known by the probe of 2026-12-04: a person's traits counted the
// interactions of every source of their profile, so support read, in the
// figures, what the consent-based newsletter holds of a person who never
// consented: its emails in the channels, its campaign responses in the
// count. Traits are computed from the sources that serve profiling only
// (a source that names its purposes and not profiling is left out, as the
// policy leaves it out of a read for another purpose).
func TestTraitsCountOnlyTheSourcesThatServeProfiling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	e.events("marketing-ingest", newsletterContacts)
	e.profiled("sales-ingest", "sales,o-5,sales-cust-88231,order,web,2026-03-03T10:00:00Z,25.00,GBP\n")
	var got struct {
		Traits struct {
			Interactions int            `json:"interactions"`
			Channels     map[string]int `json:"channels"`
		} `json:"traits"`
	}
	r := e.get(e.tokens["support-reader"], "/v1/profiles/"+w.String()+"/traits?purpose=support")
	if r.status != 200 {
		t.Fatalf("traits: %d %s", r.status, r.body)
	}
	r.json(t, &got)
	if tr := got.Traits; tr.Interactions != 1 || tr.Channels["email"] != 0 || tr.Channels["web"] != 1 {
		t.Errorf("support's traits count %d interactions, channels %v; want the sales order alone", tr.Interactions, tr.Channels)
	}
}

// newsletterContacts are two contacts the consent-based newsletter holds
// of the seeded person (its record nl-9), their free text marked NL-.
const newsletterContacts = "source,source_id,record_source_id,type,channel,occurred_at,note\n" +
	"newsletter,nl-e1,nl-9,email,email,2026-03-01T10:00:00Z,opened the spring newsletter NL-TEXT\n" +
	"newsletter,nl-c1,nl-9,campaign_response,email,2026-03-02T10:00:00Z,clicked the offer NL-CLICK\n"

// events sends interactions (CSV) with a department's token.
func (e *env) events(token, csv string) {
	e.t.Helper()
	if r := e.do("POST", "/v1/events", e.tokens[token], "text/csv", csv); r.status != 200 {
		e.t.Fatalf("events: %d %s", r.status, r.body)
	}
}

// A reader of any department could declare any purpose their role allows:
// a sales clerk read under support, a support agent under billing. The DPO
// names the departments of a purpose (Art. 30(1)(d)); staff of another
// department are refused it, whatever their role, and the refusal is
// audited. The DPO may declare any purpose.
func TestAPurposeIsDeclaredOnlyByTheDepartmentsNamedForIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, _ := e.seed()
	dpo := e.tokens["dpo"]
	read := func(token string) int {
		return e.get(token, "/v1/profiles/"+w.String()+"?purpose=support").status
	}
	if s := read(e.tokens["sales-reader"]); s != 200 {
		t.Fatalf("the premise fails: sales reads under support before the DPO names its departments (%d)", s)
	}
	put := func(body string) response { return e.do("PUT", "/v1/purposes/support", dpo, "application/json", body) }
	wantProblem(t, put(`{"description":"Answering the customer.","legal_basis":"contract","retention_days":730,"departments":["customers"]}`), 400, "/problems/invalid-request")
	wantProblem(t, put(`{"description":"Answering the customer.","legal_basis":"contract","retention_days":730,"departments":["Support Desk"]}`), 400, "/problems/invalid-request")
	// Consent management is every department's record of consent: it names none.
	wantProblem(t, e.do("PUT", "/v1/purposes/consent_management", dpo, "application/json",
		`{"description":"Records of consent.","legal_basis":"legal_obligation","retention_days":3650,"departments":["legal"]}`), 400, "/problems/invalid-consent")
	r := put(`{"description":"Answering the customer.","legal_basis":"contract","retention_days":730,"departments":["support","support"]}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"departments":["support"]`) {
		t.Fatalf("naming the departments of support: %d %s", r.status, r.body)
	}
	if s := read(e.tokens["sales-reader"]); s != 404 {
		t.Errorf("a sales reader under support, named for the support department only: %d, want 404 (as for a profile it may not see)", s)
	}
	if n := pgtest.Count(t, e.owner, `SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND purpose = 'support' AND department = 'sales'`); n != 1 {
		t.Errorf("%d audited refusals of the sales reader, want 1", n)
	}
	if s := read(e.tokens["support-reader"]); s != 200 {
		t.Errorf("a support reader under support: %d, want 200", s)
	}
	if s := read(dpo); s != 200 {
		t.Errorf("the DPO under support: %d, want 200", s)
	}
}
