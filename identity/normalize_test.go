package identity

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Anna", "anna"},
		{"  ANNA   Maria\t", "anna maria"},
		{"Müller", "muller"},
		{"José", "jose"},
		{"Straße", "strasse"},
		{"ＡＢＣ", "abc"}, // NFKC: full-width letters
		{"Ærøskøbing", "aeroskobing"},
		{"Łódź", "lodz"},
		{"ﬁsh", "fish"}, // NFKC: ligature
		{"Ǆ", "dz"},
		{"a\x00b", "a b"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"O'Brien", "obrien"},
		{"Jean-Pierre", "jean pierre"},
		{"St. John", "st john"},
		{"Schmidt, Anna", "schmidt anna"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := NameKey(tt.in); got != tt.want {
			t.Errorf("NameKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in    string
		order DateOrder
		want  Date
		ok    bool
		iso   string
	}{
		{"1980-02-01", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"19800201", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"01/02/1980", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"01/02/1980", MDY, Date{1980, 1, 2, true}, true, "1980-01-02"},
		{"1.2.1980", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"1980/2/1", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"1980-02-01T10:00:00Z", DMY, Date{1980, 2, 1, true}, true, "1980-02-01"},
		{"31/02/1980", DMY, Date{1980, 2, 31, false}, true, ""},          // impossible: kept, flagged
		{"1980-13-01", DMY, Date{1980, 13, 1, false}, true, ""},          // month 13
		{"29/02/2000", DMY, Date{2000, 2, 29, true}, true, "2000-02-29"}, // leap year
		{"29/02/1900", DMY, Date{1900, 2, 29, false}, true, ""},          // not a leap year
		{"19801301", DMY, Date{1980, 13, 1, false}, true, ""},
		{"1980-02", DMY, Date{}, false, ""},
		{"yesterday", DMY, Date{}, false, ""},
		{"1980-02-01-03", DMY, Date{}, false, ""},
		{"01/02-1980", DMY, Date{}, false, ""},
		{"", DMY, Date{}, false, ""},
		{"1980-02-", DMY, Date{}, false, ""},
		{"123456789", DMY, Date{}, false, ""},
	}
	for _, tt := range tests {
		got, ok := ParseDate(tt.in, tt.order)
		if ok != tt.ok || got != tt.want || got.ISO() != tt.iso {
			t.Errorf("ParseDate(%q, %v) = %+v, %v (ISO %q); want %+v, %v (ISO %q)",
				tt.in, tt.order, got, ok, got.ISO(), tt.want, tt.ok, tt.iso)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{" Anna.Schmidt@Example.COM ", "anna.schmidt@example.com", true},
		{"anna@example", "", false},
		{"@example.com", "", false},
		{"anna@@example.com", "", false},
		{"an na@example.com", "", false},
		{"anna@example..com", "", false},
		{"anna@.com", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeEmail(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region, want string
		ok                bool
	}{
		{"07700 900123", "GB", "+447700900123", true},
		{"+44 7700 900123", "DE", "+447700900123", true},
		{"0151 23456789", "DE", "+4915123456789", true},
		{"(415) 555-0132", "US", "+14155550132", true},
		{"06 12345678", "NL", "+31612345678", true},
		{"12", "GB", "", false},
		{"not a phone", "GB", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizePhone(tt.raw, tt.region)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q, %v", tt.raw, tt.region, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCountryCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"de", "DE", true}, {"GB", "GB", true}, {"UK", "GB", true}, {"Deutschland", "DE", true},
		{"United Kingdom", "GB", true}, {"NLD", "NL", true}, {"Österreich", "AT", true},
		{"ZZ", "", false}, {"Atlantis", "", false},
	}
	for _, tt := range tests {
		got, ok := CountryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CountryCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStreetKey(t *testing.T) {
	pairs := [][2]string{
		{"12 High Street", "12 High St."},
		{"Hauptstraße 12", "Hauptstr. 12"},
		{"Hauptstraße 12", "Haupt Strasse 12"},
		{"5 Park Road", "5 park rd"},
	}
	for _, p := range pairs {
		if a, b := StreetKey(p[0]), StreetKey(p[1]); a != b {
			t.Errorf("StreetKey(%q) = %q but StreetKey(%q) = %q; want equal", p[0], a, p[1], b)
		}
	}
}

func TestNormalize(t *testing.T) {
	nz, err := NewNormalizer("GB", DMY)
	if err != nil {
		t.Fatal(err)
	}
	var a Attributes
	a.Set(FullName, "Schmidt, Anna-Lena")
	a.Set(BirthDate, "31/02/1980")
	a.Set(Email, "not-an-email")
	a.Set(Phone, "0151 23456789")
	a.Set(Country, "Deutschland")
	a.Set(Postcode, "10 115")
	a.Set(Gender, "weiblich")
	a.Set(NationalID, "12 345-678 901")
	n := nz.Normalize(&a)
	if n.GivenName != "anna" || n.FamilyName != "schmidt" || n.FullName != "schmidt anna lena" {
		t.Errorf("names = %q / %q / %q", n.GivenName, n.FamilyName, n.FullName)
	}
	if n.Country != "DE" || n.Phone != "+4915123456789" || n.PhoneDigit != "015123456789" {
		t.Errorf("country %q phone %q digits %q: the country must decide the phone region", n.Country, n.Phone, n.PhoneDigit)
	}
	if n.Email != "" || n.Flags&FlagEmailInvalid == 0 {
		t.Errorf("invalid email: %q flags %v", n.Email, n.Flags.Names())
	}
	if n.BirthDate != (Date{1980, 2, 31, false}) || n.Flags&FlagBirthDateInvalid == 0 {
		t.Errorf("impossible birth date: %+v flags %v (kept as given and flagged)", n.BirthDate, n.Flags.Names())
	}
	if n.Postcode != "10115" || n.Gender != "f" || n.NationalID != "12345678901" {
		t.Errorf("postcode %q gender %q national id %q", n.Postcode, n.Gender, n.NationalID)
	}

	// Without a country the default region reads the phone.
	var b Attributes
	b.Set(Phone, "07700 900123")
	if got := nz.Normalize(&b); got.Phone != "+447700900123" {
		t.Errorf("default region: phone %q", got.Phone)
	}
	// An unknown country is flagged and the default region used.
	b.Set(Country, "Atlantis")
	if got := nz.Normalize(&b); got.Phone != "+447700900123" || got.Flags&FlagCountryUnknown == 0 {
		t.Errorf("unknown country: phone %q flags %v", got.Phone, got.Flags.Names())
	}
}

func TestNewNormalizerRejectsUnknownRegion(t *testing.T) {
	if _, err := NewNormalizer("XX", DMY); err == nil {
		t.Fatal("want an error for region XX")
	}
	if _, err := ParseDateOrder("YMD"); err == nil {
		t.Fatal("want an error for date order YMD")
	}
}

func TestSoundex(t *testing.T) {
	tests := map[string]string{
		"robert": "R163", "rupert": "R163", "rubin": "R150", "ashcraft": "A261",
		"tymczak": "T522", "pfister": "P236", "": "", "123": "",
	}
	for in, want := range tests {
		if got := Soundex(in); got != want {
			t.Errorf("Soundex(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCandidateKeysSurviveATypoInOneField(t *testing.T) {
	nz := Normalizer{DefaultRegion: "GB"}
	var a, b Attributes
	a.Set(GivenName, "Anna")
	a.Set(FamilyName, "Schmidt")
	a.Set(BirthDate, "1980-02-01")
	a.Set(Postcode, "SW1A 1AA")
	b.Set(GivenName, "Ana") // typo in the given name: the birth and place keys still meet
	b.Set(FamilyName, "Schmitt")
	b.Set(BirthDate, "01/02/1980")
	b.Set(Postcode, "sw1a1aa")
	na, nb := nz.Normalize(&a), nz.Normalize(&b)
	ka, kb := CandidateKeys(&na), CandidateKeys(&nb)
	shared := 0
	for i := range ka {
		if ka[i] != "" && ka[i] == kb[i] {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("variants of one person share %d candidate keys (%q vs %q), want at least 2", shared, ka, kb)
	}
	var empty Attributes
	ne := nz.Normalize(&empty)
	if k := CandidateKeys(&ne); k != [3]string{} {
		t.Errorf("a record without names has candidate keys %q", k)
	}
}

func TestNormalizedRoundTrip(t *testing.T) {
	nz := Normalizer{DefaultRegion: "GB"}
	var a Attributes
	a.Set(GivenName, "Zoë")
	a.Set(FamilyName, "Ødegård")
	a.Set(BirthDate, "30/02/1990")
	a.Set(Phone, "07700 900123")
	a.Set(Email, "zoe@example.com")
	a.AddExtra("Birth_Place", "Ærøskøbing")
	n := nz.Normalize(&a)
	if len(n.Extra) != 1 || n.Extra[0] != (Extra{"birth_place", "aeroskobing"}) {
		t.Fatalf("folded extras %v", n.Extra)
	}
	b, err := n.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Normalized
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, n) {
		t.Errorf("round trip: %+v, want %+v", got, n)
	}
	for i := range b {
		var x Normalized
		if err := x.UnmarshalBinary(b[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
}

func TestExtraRoundTrip(t *testing.T) {
	in := []Extra{{"loyalty", "gold"}, {"note", ""}, {"ü", "ß"}}
	out, err := DecodeExtra(EncodeExtra(in))
	if err != nil || len(out) != len(in) {
		t.Fatalf("DecodeExtra = %v, %v", out, err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("extra %d: %v, want %v", i, out[i], in[i])
		}
	}
	if _, err := DecodeExtra([]byte{5, 'a'}); err == nil {
		t.Error("truncated extra: no error")
	}
}

func TestLogValuesRedact(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := Record{Source: "sales", SourceID: "anna.schmidt@example.com"}
	r.Set(GivenName, "Anna")
	r.Set(FamilyName, "Schmidt")
	r.Set(Phone, "07700 900123")
	r.AddExtra("vip", "Mrs Schmidt")
	n := Normalizer{DefaultRegion: "GB"}.Normalize(&r.Attributes)
	log.Info("record", "record", r, "attrs", r.Attributes, "match", n)
	out := buf.String()
	for _, secret := range []string{"Anna", "anna", "Schmidt", "schmidt", "example.com", "900123", "Mrs"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line holds %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "given_name") || !strings.Contains(out, "sales") {
		t.Errorf("log line should name the present fields and the source: %s", out)
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"Anna", "Müller", "ǅ", "ﬁ", "\u0345", "ß", "İ", "a\u0301\u0301", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := Fold(s)
		if !utf8.ValidString(a) {
			t.Fatalf("Fold(%q) = %q: invalid UTF-8", s, a)
		}
		if b := Fold(a); b != a {
			t.Fatalf("Fold not idempotent: %q -> %q -> %q", s, a, b)
		}
		if strings.HasPrefix(a, " ") || strings.HasSuffix(a, " ") || strings.Contains(a, "  ") {
			t.Fatalf("Fold(%q) = %q: untrimmed space", s, a)
		}
		if k := NameKey(s); NameKey(k) != k {
			t.Fatalf("NameKey not idempotent: %q -> %q -> %q", s, k, NameKey(k))
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"1980-02-01", "19800201", "31/02/1980", "1.2.1980", "9999-99-99", "0/0/0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, order := range []DateOrder{DMY, MDY} {
			d, ok := ParseDate(s, order)
			if !ok {
				if d != (Date{}) {
					t.Fatalf("ParseDate(%q) not ok but returned %+v", s, d)
				}
				continue
			}
			if iso := d.ISO(); d.Valid {
				back, ok := ParseDate(iso, order)
				if !ok || back != d {
					t.Fatalf("ISO %q of %q does not parse back: %+v", iso, s, back)
				}
			} else if iso != "" {
				t.Fatalf("invalid date %+v has ISO %q", d, iso)
			}
		}
	})
}

func FuzzNormalize(f *testing.F) {
	f.Add("Anna", "Schmidt", "31/02/1980", "anna@example.com", "07700 900123", "GB", "SW1A 1AA")
	f.Add("", "", "", "@", "+", "Deutschland", "")
	nz := Normalizer{DefaultRegion: "GB"}
	f.Fuzz(func(t *testing.T, given, family, dob, email, phone, country, postcode string) {
		var a Attributes
		a.Set(GivenName, given)
		a.Set(FamilyName, family)
		a.Set(BirthDate, dob)
		a.Set(Email, email)
		a.Set(Phone, phone)
		a.Set(Country, country)
		a.Set(Postcode, postcode)
		n := nz.Normalize(&a)
		b, err := n.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Normalized
		if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, n) {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
		_ = CandidateKeys(&n)
	})
}

func BenchmarkNormalize(b *testing.B) {
	nz := Normalizer{DefaultRegion: "GB"}
	var a Attributes
	a.Set(GivenName, "Anna-Lena")
	a.Set(FamilyName, "Müller")
	a.Set(BirthDate, "31/01/1980")
	a.Set(Email, "Anna.Mueller@Example.com")
	a.Set(Phone, "0151 23456789")
	a.Set(Street, "Hauptstraße 12")
	a.Set(Postcode, "10115")
	a.Set(City, "Berlin")
	a.Set(Country, "DE")
	b.ReportAllocs()
	for b.Loop() {
		n := nz.Normalize(&a)
		_ = CandidateKeys(&n)
	}
}
