package identity

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// countryNames maps folded country names and ISO 3166-1 alpha-3 codes that
// sources commonly write to alpha-2 codes. Alpha-2 codes themselves are
// recognised from the phone numbering plan's region list.
var countryNames = map[string]string{
	"united kingdom": "GB", "great britain": "GB", "uk": "GB", "england": "GB", "scotland": "GB",
	"wales": "GB", "northern ireland": "GB", "gbr": "GB", "britain": "GB",
	"germany": "DE", "deutschland": "DE", "allemagne": "DE", "duitsland": "DE", "deu": "DE",
	"france": "FR", "frankreich": "FR", "frankrijk": "FR", "fra": "FR",
	"netherlands": "NL", "the netherlands": "NL", "nederland": "NL", "holland": "NL",
	"niederlande": "NL", "pays-bas": "NL", "pays bas": "NL", "nld": "NL",
	"ireland": "IE", "eire": "IE", "irland": "IE", "irlande": "IE", "irl": "IE",
	"united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US",
	"u.s.": "US", "america": "US", "vereinigte staaten": "US", "etats-unis": "US",
	"australia": "AU", "aus": "AU", "canada": "CA", "can": "CA", "new zealand": "NZ", "nzl": "NZ",
	"spain": "ES", "espana": "ES", "spanien": "ES", "esp": "ES",
	"italy": "IT", "italia": "IT", "italien": "IT", "ita": "IT",
	"austria": "AT", "osterreich": "AT", "oesterreich": "AT", "aut": "AT",
	"switzerland": "CH", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "che": "CH",
	"belgium": "BE", "belgique": "BE", "belgie": "BE", "belgien": "BE", "bel": "BE",
	"luxembourg": "LU", "luxemburg": "LU", "lux": "LU",
	"denmark": "DK", "danmark": "DK", "dnk": "DK", "sweden": "SE", "sverige": "SE", "swe": "SE",
	"norway": "NO", "norge": "NO", "nor": "NO", "finland": "FI", "suomi": "FI", "fin": "FI",
	"poland": "PL", "polska": "PL", "pol": "PL", "portugal": "PT", "prt": "PT",
	"czech republic": "CZ", "czechia": "CZ", "cze": "CZ", "greece": "GR", "grc": "GR",
	"india": "IN", "ind": "IN", "china": "CN", "chn": "CN", "japan": "JP", "jpn": "JP",
	"brazil": "BR", "brasil": "BR", "bra": "BR", "mexico": "MX", "mex": "MX",
}

// CountryCode returns the ISO 3166-1 alpha-2 code of a country written as an
// alpha-2 code ("de", "GB"), a common alpha-3 code ("DEU") or a common name in
// English or the local language ("Deutschland").
func CountryCode(raw string) (string, bool) {
	f := Fold(raw)
	if len(f) == 2 {
		code := strings.ToUpper(f)
		if code == "UK" {
			return "GB", true
		}
		if phonenumbers.GetCountryCodeForRegion(code) != 0 {
			return code, true
		}
		return "", false
	}
	code, ok := countryNames[f]
	return code, ok
}
