package identity

import (
	"log/slog"

	"github.com/cdp-project/cdp/derrors"
)

// ErrInvalid reports a value that does not fit the canonical record format.
var ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid")

// Field is one canonical personal attribute of a source record.
type Field uint8

// The canonical attributes, in the column order of the import format. The
// numeric values are stored inside sealed envelopes: never renumber them.
const (
	GivenName Field = 1 + iota
	FamilyName
	FullName
	BirthDate
	Gender
	Email
	Phone
	Street
	AddressLine2
	Postcode
	City
	Region
	Country
	NationalID

	fieldEnd // one past the last field
)

// fieldNames are the column names of the canonical import format.
var fieldNames = [fieldEnd]string{
	GivenName:    "given_name",
	FamilyName:   "family_name",
	FullName:     "full_name",
	BirthDate:    "birth_date",
	Gender:       "gender",
	Email:        "email",
	Phone:        "phone",
	Street:       "street",
	AddressLine2: "address_line2",
	Postcode:     "postcode",
	City:         "city",
	Region:       "region",
	Country:      "country",
	NationalID:   "national_id",
}

// Fields returns every canonical attribute in column order.
func Fields() []Field {
	fs := make([]Field, 0, fieldEnd-1)
	for f := GivenName; f < fieldEnd; f++ {
		fs = append(fs, f)
	}
	return fs
}

// String returns the column name of the field, e.g. "given_name".
func (f Field) String() string {
	if f == 0 || f >= fieldEnd {
		return "unknown"
	}
	return fieldNames[f]
}

// Valid reports whether f is one of the canonical attributes.
func (f Field) Valid() bool { return f > 0 && f < fieldEnd }

// ParseField returns the field with the given column name.
func ParseField(name string) (Field, bool) {
	for f := GivenName; f < fieldEnd; f++ {
		if fieldNames[f] == name {
			return f, true
		}
	}
	return 0, false
}

// Extra is an attribute outside the canonical set, kept as the source sent it.
type Extra struct {
	Name  string
	Value string
}

// Attributes are the personal attributes of one source record, exactly as the
// source sent them. The zero value has no attributes.
type Attributes struct {
	values [fieldEnd]string
	extra  []Extra
}

// Get returns the value of a canonical attribute ("" when absent).
func (a *Attributes) Get(f Field) string {
	if !f.Valid() {
		return ""
	}
	return a.values[f]
}

// Set sets a canonical attribute. Setting an invalid field does nothing.
func (a *Attributes) Set(f Field, v string) {
	if f.Valid() {
		a.values[f] = v
	}
}

// Extra returns the non-canonical attributes in input order.
func (a *Attributes) Extra() []Extra { return a.extra }

// AddExtra appends a non-canonical attribute.
func (a *Attributes) AddExtra(name, value string) {
	a.extra = append(a.extra, Extra{Name: name, Value: value})
}

// Empty reports whether no attribute, canonical or extra, has a value.
func (a *Attributes) Empty() bool {
	for f := GivenName; f < fieldEnd; f++ {
		if a.values[f] != "" {
			return false
		}
	}
	for _, e := range a.extra {
		if e.Value != "" {
			return false
		}
	}
	return true
}

// Present returns the names of the attributes that have a value, canonical
// ones first. It reveals which attributes exist, never their values.
func (a *Attributes) Present() []string {
	var names []string
	for f := GivenName; f < fieldEnd; f++ {
		if a.values[f] != "" {
			names = append(names, fieldNames[f])
		}
	}
	for _, e := range a.extra {
		if e.Value != "" {
			names = append(names, e.Name)
		}
	}
	return names
}

// LogValue redacts the attributes: a log line shows which attributes are
// present, never their values.
func (a Attributes) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("present", a.Present()), slog.Bool("redacted", true))
}

// Record is what one source (a department's system) holds about one person.
// (Source, SourceID) identifies it; SourceID is the source's own id, opaque to
// cdp, and is treated as personal data because departments sometimes use an
// email address or a customer number as their id.
type Record struct {
	Source   string
	SourceID string
	Attributes
}

// LogValue redacts the record: only the source and the names of the present
// attributes reach a log line.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("source", r.Source),
		slog.Any("present", r.Present()),
		slog.Bool("redacted", true),
	)
}
