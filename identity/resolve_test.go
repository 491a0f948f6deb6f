package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// entry builds an entry from "field=value" pairs.
func entry(key, source string, kv ...string) Entry {
	var a Attributes
	for _, p := range kv {
		name, value, _ := strings.Cut(p, "=")
		f, ok := ParseField(name)
		if !ok {
			panic("no field " + name)
		}
		a.Set(f, value)
	}
	return Entry{Key: key, Source: source, Match: Normalizer{DefaultRegion: "GB"}.Normalize(&a)}
}

func sameProfile(res *Resolution, a, b int) bool { return res.Profile[a] == res.Profile[b] }

func resolveWith(t *testing.T, entries []Entry, opts Options) *Resolution {
	t.Helper()
	if opts.Model == nil {
		opts.Model = DefaultModel()
	}
	res, err := Resolve(entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var anna = []string{"given_name=Anna", "family_name=Schmidt", "birth_date=1980-02-01", "email=anna@example.com", "postcode=SW1A 1AA"}

func TestProbabilisticLinkAndReview(t *testing.T) {
	entries := []Entry{
		entry("a", "sales", anna...),
		entry("b", "support", "given_name=Ana", "family_name=Schmidt", "birth_date=01/02/1980", "postcode=SW1A1AA"),
		entry("c", "sales", "given_name=Bob", "family_name=Marley", "birth_date=1945-02-06"),
	}
	res := resolveWith(t, entries, Options{})
	if !sameProfile(res, 0, 1) || sameProfile(res, 0, 2) {
		t.Fatalf("profiles %v: want Anna's records together, Bob alone", res.Profile)
	}
	if len(res.Links) != 1 || res.Links[0].Rule != "" || res.Links[0].Probability < res.Model.LinkThreshold {
		t.Errorf("links %+v: want one scored link", res.Links)
	}
	lv := res.Levels(0, 1)
	if lv["given_name"] != "similar" || lv["family_name"] != "exact" || lv["birth_date"] != "exact" {
		t.Errorf("levels %v", lv)
	}
	if _, ok := lv["email"]; ok {
		t.Error("a comparison without values on both sides is explained")
	}
	// The compact form the resolver keeps for review pairs says the same.
	got, err := json.Marshal(res.Explain(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(lv); string(got) != string(want) {
		t.Errorf("explanation %s, levels %s", got, want)
	}
	if got, _ := json.Marshal(Explanation{}); string(got) != "{}" {
		t.Errorf("empty explanation %s", got)
	}
}

func TestDeterministicRuleAndItsGuards(t *testing.T) {
	entries := []Entry{
		// Same email, a moved address, a missing birth date: linked by rule.
		entry("a", "sales", "given_name=Anna", "family_name=Schmidt", "email=anna.s@example.com", "city=London"),
		entry("b", "support", "given_name=Anna", "family_name=Schmidt", "email=anna.s@example.com", "city=Berlin"),
		// A generic email never links.
		entry("c", "sales", "given_name=Carl", "family_name=Meyer", "email=test@example.com"),
		entry("d", "sales", "given_name=Dora", "family_name=Lang", "email=test@example.com"),
		// A shared family mailbox with different given names: no rule.
		entry("e", "sales", "given_name=Paula", "family_name=Konig", "email=koenigfamily@example.net", "birth_date=1955-06-28"),
		entry("f", "sales", "given_name=Nils", "family_name=Konig", "email=koenigfamily@example.net", "birth_date=1957-01-02"),
	}
	res := resolveWith(t, entries, Options{})
	if !sameProfile(res, 0, 1) {
		t.Error("the same email with nothing disagreeing should link")
	}
	for _, l := range res.Links {
		if l.A == 0 && l.B == 1 && l.Rule == "" && l.Probability < res.Model.LinkThreshold {
			t.Errorf("link %+v below threshold without a rule", l)
		}
	}
	if sameProfile(res, 2, 3) {
		t.Error("a generic email linked two people")
	}
	if sameProfile(res, 4, 5) {
		t.Error("a family mailbox linked two people")
	}
	for _, kind := range []string{"phone", "national_id"} {
		for _, v := range []string{"+440000000000", "1234567890", "999999999", "12"} {
			if !GenericIdentifier(kind, v) {
				t.Errorf("GenericIdentifier(%s, %s) = false", kind, v)
			}
		}
	}
	if GenericIdentifier("email", "anna.schmidt@example.com") || GenericIdentifier("phone", "+447700900123") {
		t.Error("a real identifier judged generic")
	}
}

func TestConstraintsAreRespected(t *testing.T) {
	entries := []Entry{
		entry("a", "sales", anna...),
		entry("b", "support", anna...),
		entry("c", "sales", "given_name=Zoe", "family_name=Quinn"),
	}
	res := resolveWith(t, entries, Options{Constraints: []Constraint{{A: "a", B: "b", Same: false}, {A: "a", B: "c", Same: true}}})
	if sameProfile(res, 0, 1) {
		t.Error("a cannot-link was crossed")
	}
	if !sameProfile(res, 0, 2) {
		t.Error("a must-link was not made")
	}
	// Contradictions are errors.
	_, err := Resolve(entries, Options{Model: DefaultModel(), Constraints: []Constraint{
		{A: "a", B: "b", Same: true}, {A: "b", B: "c", Same: true}, {A: "a", B: "c", Same: false},
	}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("contradicting constraints: %v, want ErrInvalid", err)
	}
}

func TestUniqueSourceAndVerifiedIdentifiers(t *testing.T) {
	entries := []Entry{
		entry("a", "billing", append(anna, "national_id=QQ123456C")...),
		entry("b", "billing", anna...), // a second billing record of Anna's data
		entry("c", "sales", append(anna, "national_id=ZZ999999Z")...),
	}
	rules := map[string]SourceRules{"billing": {UniqueRecords: true, UniqueIdentifiers: []string{"national_id"}}}
	res := resolveWith(t, entries, Options{Sources: rules})
	if sameProfile(res, 0, 1) {
		t.Error("two records of a source with one record per person in one profile")
	}
	if len(res.Refused) == 0 {
		t.Error("no refusal reported")
	}
	// Verified ids: sales is not verified, so its different national id
	// does not forbid the link; a verifying source would.
	rules["sales"] = SourceRules{UniqueIdentifiers: []string{"national_id"}}
	res = resolveWith(t, entries, Options{Sources: rules})
	if sameProfile(res, 0, 2) {
		t.Error("two different verified national ids in one profile")
	}
}

func TestBridgesBetweenDifferentPeopleAreCut(t *testing.T) {
	// b is a sparse record that looks like both a (Anna) and c (her husband
	// different person, Peter): a~b~c must not weld a and c.
	entries := []Entry{
		entry("a", "sales", "given_name=Anna", "family_name=Schmidt", "birth_date=1980-02-01", "email=anna@example.com", "street=12 High Street", "postcode=SW1A 1AA", "national_id=QQ123456C"),
		entry("b", "support", "family_name=Schmidt", "postcode=SW1A 1AA", "street=12 High Street"),
		entry("c", "billing", "given_name=Peter", "family_name=Schmidt", "birth_date=1951-11-30", "email=peter@example.org", "street=12 High Street", "postcode=SW1A 1AA", "national_id=AB987654D"),
	}
	res := resolveWith(t, entries, Options{})
	if sameProfile(res, 0, 2) {
		t.Fatalf("a weak bridge welded two people: %v", res.Profile)
	}
}

func TestProfileIDsAreStable(t *testing.T) {
	given := []string{"Anna", "Ben", "Carla", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nora", "Oskar"}
	family := []string{"Schmidt", "Okafor", "Rossi", "Novak", "Yilmaz", "Haddad", "Larsen", "Moreau", "Silva", "Weber"}
	var entries []Entry
	for i := range 40 {
		g, f := given[i%len(given)], family[i%len(family)]
		dob := fmt.Sprintf("birth_date=19%02d-%02d-%02d", 50+i, 1+i%12, 1+i%28)
		entries = append(entries,
			entry(fmt.Sprintf("r%03d", 2*i), "sales", "given_name="+g, "family_name="+f, dob, fmt.Sprintf("email=p%d@example.com", i)),
			entry(fmt.Sprintf("r%03d", 2*i+1), "support", "given_name="+g, "family_name="+f, dob))
	}
	profileOf := func(entries []Entry) map[string]string {
		res := resolveWith(t, entries, Options{})
		out := map[string]string{}
		for i, e := range entries {
			out[e.Key] = ProfileID(entries[res.Profile[i]].Key)
		}
		return out
	}
	first := profileOf(entries)
	if first["r000"] != ProfileID("r000") || first["r001"] != ProfileID("r000") {
		t.Errorf("the profile is not named after its oldest record: %s", first["r001"])
	}
	// Another order, and unrelated records arriving, change no id.
	shuffled := append([]Entry(nil), entries...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	shuffled = append(shuffled, entry("z999", "sales", "given_name=Other", "family_name=Person"))
	second := profileOf(shuffled)
	for k, p := range first {
		if second[k] != p {
			t.Fatalf("record %s: profile %s became %s", k, p, second[k])
		}
	}
}

func TestModelValidation(t *testing.T) {
	m := DefaultModel()
	m.LinkThreshold = 1.5
	if err := m.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("threshold 1.5: %v", err)
	}
	if _, err := ParseModel([]byte(`{"format": 99}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := Resolve([]Entry{entry("a", "s", anna...)}, Options{Model: m}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Resolve with an invalid model: %v", err)
	}
}

func TestSimilarity(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		min  float64
		max  float64
	}{
		{"martha", "marhta", 0.96, 0.97}, {"dixon", "dicksonx", 0.81, 0.82}, {"anna", "anna", 1, 1},
		{"", "anna", 0, 0}, {"müller", "muller", 0.87, 0.9},
	} {
		if got := JaroWinkler(tc.a, tc.b); got < tc.min || got > tc.max {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want in [%v, %v]", tc.a, tc.b, got, tc.min, tc.max)
		}
	}
	for _, tc := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"kitten", "sitting", 5, 3}, {"ab", "ba", 2, 1}, {"abc", "abc", 0, 0}, {"abcdef", "x", 2, 3}, {"café", "cafe", 2, 1},
	} {
		if got := EditDistance(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("EditDistance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
	if s := TokenSimilarity("chicago commons association", "association chicago commons"); s != 1 {
		t.Errorf("TokenSimilarity of reordered words = %v", s)
	}
}

func TestNicknames(t *testing.T) {
	if !nicknames("william", "bill") || !nicknames("katharina", "kathi") || nicknames("anna", "bill") {
		t.Error("nickname table")
	}
}

func FuzzJaroWinkler(f *testing.F) {
	f.Add("martha", "marhta")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		s := JaroWinkler(a, b)
		if s < 0 || s > 1 || JaroWinkler(b, a) != s {
			t.Fatalf("JaroWinkler(%q, %q) = %v (reverse %v)", a, b, s, JaroWinkler(b, a))
		}
		if d := EditDistance(a, b, 3); d < 0 || d > 4 || (a == b) != (d == 0) {
			t.Fatalf("EditDistance(%q, %q) = %d", a, b, d)
		}
	})
}

func TestBandedEditDistanceAgreesWithFullTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	letters := "abcab"
	for range 20000 {
		a, b := randomWord(rng, letters, 12), randomWord(rng, letters, 12)
		for limit := range 4 {
			want := editDistanceRunes([]rune(string(a)), []rune(string(b)), limit)
			if got := editDistanceASCII(string(a), string(b), limit); got != want {
				t.Fatalf("editDistanceASCII(%q, %q, %d) = %d, want %d", a, b, limit, got, want)
			}
		}
	}
}

func TestContradict(t *testing.T) {
	rec := func(given, birth, nid string) *Record {
		var r Record
		r.Set(GivenName, given)
		r.Set(BirthDate, birth)
		r.Set(NationalID, nid)
		return &r
	}
	for _, tc := range []struct {
		name string
		a, b *Record
		want bool
	}{
		{"same person", rec("Anna", "1980-01-02", "AB123"), rec("anna", "1980-01-02", "ab 123"), false},
		{"nickname", rec("William", "", ""), rec("Bill", "", ""), false},
		{"typo", rec("Katherine", "", ""), rec("Katharine", "", ""), false},
		{"initial", rec("J", "", ""), rec("John", "", ""), false},
		{"missing tells nothing", rec("", "", ""), rec("John", "1970-05-05", "X1"), false},
		{"household given names", rec("Anna", "", ""), rec("Peter", "", ""), true},
		{"birth dates", rec("Anna", "1980-01-02", ""), rec("Anna", "1980-01-03", ""), true},
		{"national ids", rec("Anna", "", "AB123"), rec("Anna", "", "AB124"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Contradict(tc.a, tc.b); got != tc.want {
				t.Errorf("Contradict = %v, want %v", got, tc.want)
			}
		})
	}
}

// A source whose records anyone could type (customers' own sign-ups)
// links only through an identifier shared exactly: a strong name match
// goes to review, never into the profile.
func TestLinkByIdentifierOnly(t *testing.T) {
	entries := []Entry{
		entry("a", "sales", "given_name=Ethan", "family_name=Andersch", "birth_date=1971-03-04", "postcode=SW1A 1AA",
			"email=ethan@example.com", "street=1 High Street"),
		entry("b", "self_service", "given_name=Ethan", "family_name=Andersch", "birth_date=1971-03-04", "postcode=SW1A 1AA",
			"street=1 High Street", "email=attacker@example.org"),
		entry("c", "self_service", "given_name=Ethan", "family_name=Andersch", "email=ethan@example.com"),
	}
	opts := Options{Sources: map[string]SourceRules{"self_service": {UniqueRecords: true, LinkByIdentifierOnly: true}}}
	res := resolveWith(t, entries[:2], opts)
	if sameProfile(res, 0, 1) {
		t.Fatalf("a name alone linked a sign-up into a stranger's profile: %+v", res.Links)
	}
	if len(res.Review) != 1 {
		t.Errorf("review %+v: want the name match for a steward", res.Review)
	}
	// Without the rule the same pair links: the test can fail.
	if res := resolveWith(t, entries[:2], Options{}); !sameProfile(res, 0, 1) {
		t.Fatalf("without the rule the pair does not link either: the test proves nothing")
	}
	res = resolveWith(t, []Entry{entries[0], entries[2]}, opts)
	if !sameProfile(res, 0, 1) || len(res.Links) != 1 || res.Links[0].Rule != "email" {
		t.Errorf("links %+v: want the verified address to link by rule", res.Links)
	}
}

// The byte version of Jaro-Winkler (ASCII values up to 64 bytes) must give
// exactly what the rune version gives.
func TestJaroWinklerBytesAgreesWithRunes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	letters := "abcdeab "
	for range 50000 {
		a, b := randomWord(rng, letters, 65), randomWord(rng, letters, 65)
		want := jaroWinkler([]rune(string(a)), []rune(string(b)))
		if got := jaroWinklerBytes(string(a), string(b)); got != want {
			t.Fatalf("jaroWinklerBytes(%q, %q) = %v, want %v", a, b, got, want)
		}
	}
}

// randomWord returns up to n-1 bytes drawn from letters.
func randomWord(rng *rand.Rand, letters string, n int) []byte {
	w := make([]byte, rng.IntN(n))
	for i := range w {
		w[i] = letters[rng.IntN(len(letters))]
	}
	return w
}
