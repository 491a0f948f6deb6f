// Package demo generates realistic synthetic customer records, with ground
// truth, for demonstrations and for testing identity resolution.
//
// # What it writes
//
// Generate writes CSV in the project's canonical import format, one header
// line and then one row per record:
//
//	source,source_id,given_name,family_name,full_name,birth_date,gender,email,phone,
//	street,address_line2,postcode,city,region,country,national_id,customer_since,entity_id
//
// source is the department that holds the record (by default sales,
// support, billing, marketing) and (source, source_id) is unique. A
// source_id has the department's own format (sales S-7GIJT5MF, support
// TCK-321649280, billing ACC-2143452463, marketing a 12-hex id) and is
// opaque: it comes from a seeded permutation of a counter, so it says
// nothing about the person or the order of generation. customer_since is an
// extra attribute (sales and billing only). entity_id is the truth column:
// all records of one synthetic person share it (P0000001). An importer
// must ignore it; an evaluator scores against it.
//
//	st, err := demo.Generate(f, demo.Options{Records: 1_000_000, Seed: 1})
//
// The same Seed and Options give byte-identical output (for a given version
// of this package). With Records set, generation stops at exactly that many
// records, which is about Records/2.4 persons. Memory does not grow with
// the output: records are mixed in a window of 4,096 rows before they are
// written (so a person's records are near each other, not adjacent) and
// CSV encoding runs on a second goroutine. A million records take one to
// two seconds on a two-core machine; BenchmarkGenerate reports records/s.
//
// # The persons
//
// Persons live in GB, DE, FR, NL, IE and US (weights 25/25/15/10/5/20).
// Given and family names come from per-country lists, ranked by frequency
// and drawn with a Zipf-like law, so Smith, Müller and Martin are common and
// Featherstonehaugh is rare; the lists keep real-world spellings (Seán,
// Öztürk, van der Meer, O'Brien, Le Gall, Jean-Pierre). Each person has a
// gender (m, f, rarely unknown), an age of 18 to 90, a personal email and
// sometimes a work email, a mobile number, sometimes a landline, an address
// in a weighted list of cities (region, postcode shape and landline area
// code consistent with the city), a national identifier and a
// customer-since date. About 12% have moved: some records keep their old
// address.
//
// Households are the hard negatives: couples (same address and landline,
// usually the same family name), a parent with adult children (sometimes a
// son with his father's given name), twins (same birth date, family name,
// address). About 1% of persons reuse the name of a recent unrelated
// person, 1% share an office landline with unrelated persons in their city,
// and some households share one email address. Placeholder values
// (test@example.com, noemail@example.com, 0000000000) appear in a few
// records of unrelated persons. Nothing else is shared: see Uniqueness.
//
// Each person has 1 to 5 records (mean 2.4) in distinct departments when
// possible. About 5% have two records in one department (two support
// tickets under different ids); billing never holds a person twice.
//
// # The variation model
//
// A record is the person seen through a department's habits:
//
//	department  names                dates       phones                 typically kept
//	sales       parts, some full     03/07/1984  +44 7911 123456        address, birth date, customer_since
//	support     often full_name only 1984-07-03  07911 123456           name, email, phone
//	billing     UPPER CASE, Mueller  19840703    07911123456            full address, national id, customer_since
//	marketing   nicknames, Muller    1984-07-03  +447911123456          name, email
//
// and through the errors people and clerks make, per record and with
// probabilities that keep the data resolvable: keyboard typos in names
// (neighbouring key, transposition, deletion, doubled letter; one or two
// edits), nicknames (William/Bill, Katharina/Kathi, Johannes/Jan), given
// and family name swapped, full_name written "Anna Schmidt" or
// "Schmidt, Anna", case changes, diacritics kept, transliterated (Mueller)
// or dropped (Muller), particles and apostrophes varied (Van der Meer,
// OBrien), compound names split (Jean Pierre), street types abbreviated
// (Rd, Str., av.), postcodes without their space or as ZIP+4, city
// aliases (München/Munich), the old address of a person who moved, the
// work instead of the personal email, a landline instead of the mobile, a
// phone in another department's format, birth dates with day and month
// transposed or a year off, rare impossible birth dates (31/02/1980, kept
// as written) and rare digit typos in national ids. A phone written without
// its country code always comes with the country column. Departments other
// than the four defaults get a middle-of-the-road profile.
//
// # Uniqueness
//
// As in real life, an email address, a phone number or a national
// identifier belongs to one person. Persons share one only where the model
// says so: a household's mailbox and landline (its members hold them), a
// city's office lines (a few unrelated persons each) and the placeholders.
// This holds by construction, for any number of records, without
// remembering issued values: each value is issued from a counter through a
// seeded permutation (like source_id) and written so that the value
// determines the counter.
//
// Email addresses end in a tag: digits after the name part, or letters
// after the two digits of a birth year. The kind of tag, the tag and the
// domain (one of three dozen providers under the reserved domains, or an
// employer's domain) identify the issue, so two persons never get the same
// address, however common their name: anna.schmidt4821@example.com,
// a.schmidt84qx@post.example.net, schmidt.family12@example.org (a
// household's), anna.schmidt73@globex.example.com (work). A typo a
// department makes touches the name part only and case changes are undone
// by lower-casing, so a variant of one person's address is never another
// person's. Phone numbers are issued per numbering template, and the
// templates of a country do not overlap (a test checks). National ids are
// numbered within their scheme, the French NIR per département whatever
// the birth date; US SSNs whose digits would pass the Dutch eleven test
// are skipped, so no SSN is also a BSN. The counters last for more than
// 100 million persons; beyond that phones and ids would be drawn freely.
// A national number written without its country code is a different
// number in another country (the same 06 digits in FR and NL); such
// records always carry the country.
//
// # Formats
//
// Postcodes have their country's shape: GB "SW1A 1AA", DE and FR 5 digits,
// NL "1234 AB", IE Eircode "D02 X285", US ZIP. Phones are valid numbers for
// libphonenumber in the person's country (GB mobiles 074xx-079xx, DE
// 015x/016x/017x, FR 06/07, NL 06, IE 083-089, US NANP with real area codes
// and no 555 exchange), so E.164 normalisation works. National ids have
// valid shapes and check digits: GB National Insurance numbers, US Social
// Security numbers (never 000, 666 or 9xx), the German Steuer-ID, the
// French NIR, the Dutch BSN and the Irish PPS number.
//
// # Privacy
//
// Everything is synthetic: no record describes a real person. Emails use
// only the reserved example domains (example.com, example.net, example.org
// and their subdomains, RFC 2606). Phone numbers and national identifiers
// are taken, in scrambled order, from valid ranges, because fictional
// ranges (such as Ofcom's 07700 900xxx) fail validation; a value can
// therefore coincide with a real one. Never call, text or look up values
// from this data.
//
// # Dependencies
//
// The package owns synthetic data generation and nothing else. It imports
// only the standard library (a test enforces this); its tests also use
// github.com/nyaruka/phonenumbers to check the phone numbers. Commands and
// evaluation code import demo; demo imports no other package of the
// project.
package demo
