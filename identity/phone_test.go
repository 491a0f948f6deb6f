package identity

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// phoneInputs writes numbers the way people and systems do, for region:
// national with and without the national prefix, with the country code after
// "+", after the international dialling prefix or bare, random digit runs
// of every length, with spaces, dashes, dots, slashes and brackets between.
func phoneInputs(rng *rand.Rand, region string, n int) []string {
	code := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
	ndd := phonenumbers.GetNddPrefixForRegion(region, true)
	digits := func(k int) string {
		var b strings.Builder
		for range k {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	codes := []string{"1", "7", "20", "33", "44", "49", "61", "86", "352", "353", "358", "380", "420", "800", "882", "979", "999", "0"}
	var out []string
	for range n {
		body := digits(1 + rng.IntN(15))
		var s string
		switch rng.IntN(8) {
		case 0:
			s = body
		case 1:
			s = ndd + body
		case 2:
			s = "+" + code + body
		case 3:
			s = "+" + code + ndd + body
		case 4:
			s = code + body
		case 5:
			s = "00" + code + body
		case 6:
			s = "+" + codes[rng.IntN(len(codes))] + body
		default:
			s = "011" + codes[rng.IntN(len(codes))] + body
		}
		out = append(out, punctuate(rng, s))
	}
	return out
}

// punctuate breaks s with the separators people type, sometimes opening
// with a bracket or ending with one.
func punctuate(rng *rand.Rand, s string) string {
	seps := []string{" ", "-", ".", "/", " (", ") ", "(", ")", "  "}
	var b strings.Builder
	if rng.IntN(6) == 0 {
		b.WriteString("(")
	}
	for i, c := range s {
		if i > 0 && c != '+' && rng.IntN(4) == 0 {
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		b.WriteRune(c)
	}
	if rng.IntN(10) == 0 {
		b.WriteString(")")
	}
	return b.String()
}

// TestPhoneFastPathAgrees holds the fast path to phonenumbers.Parse on every
// region the library knows: same E.164 form, same verdict, for every number
// the fast path decides. It also fails when the fast path stops deciding the
// plain numbers it is for.
func TestPhoneFastPathAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := make([]string, 0, len(phonenumbers.GetSupportedRegions()))
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	perRegion := 400
	if testing.Short() {
		perRegion = 60
	}
	var handled, total int
	for _, region := range regions {
		for _, raw := range phoneInputs(rng, region, perRegion) {
			total++
			got, ok, decided := fastE164(strings.TrimSpace(raw), region)
			if !decided {
				continue
			}
			handled++
			want, wantOK := parsePhone(raw, region)
			if got != want || ok != wantOK {
				t.Fatalf("%s %q: fast path %q, %v; phonenumbers %q, %v", region, raw, got, ok, want, wantOK)
			}
		}
	}
	if handled*2 < total {
		t.Fatalf("the fast path decided %d of %d numbers; it is meant for most of them", handled, total)
	}
	t.Logf("the fast path decided %d of %d numbers, as phonenumbers.Parse does", handled, total)

	// The plain forms of the demo and of the examples above go the fast way.
	for _, c := range []struct{ raw, region string }{
		{"(646) 941-4336", "US"}, {"07700 900123", "GB"}, {"+44 7700 900123", "DE"},
		{"0151 23456789", "DE"}, {"06 12345678", "NL"}, {"+33 6 12 34 56 78", "FR"},
	} {
		if _, _, decided := fastE164(c.raw, c.region); !decided {
			t.Errorf("%s %q: left to phonenumbers.Parse", c.region, c.raw)
		}
	}
}

// FuzzPhoneFastPath: on any input, whatever the fast path decides is what
// phonenumbers.Parse decides.
func FuzzPhoneFastPath(f *testing.F) {
	for _, s := range []string{"(646) 941-4336", "+44 (0)20 7031 3000", "0049 30 1234567", "44 20 7031 3000", "+800 1234 5678", "1-800-FLOWERS", "12", "+0 123", "0 0 0"} {
		f.Add(s, "GB")
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		raw = strings.TrimSpace(raw)
		if len(raw) > 64 {
			return
		}
		got, ok, decided := fastE164(raw, region)
		if !decided {
			return
		}
		if want, wantOK := parsePhone(raw, region); got != want || ok != wantOK {
			t.Fatalf("%s %q: fast path %q, %v; phonenumbers %q, %v", region, raw, got, ok, want, wantOK)
		}
	})
}
