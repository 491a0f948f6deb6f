package identity

import (
	"encoding/binary"
	"fmt"
)

// Tags identify the parts of a record when it is sealed part by part: a
// canonical attribute's tag is its Field value; the source id and the extra
// attributes have tags of their own. Stored inside sealed envelopes: never
// renumber.
const (
	TagSourceID uint8 = 32
	TagExtra    uint8 = 33
)

// EncodeExtra encodes extra attributes as length-prefixed name/value pairs.
func EncodeExtra(extra []Extra) []byte {
	n := 0
	for _, e := range extra {
		n += len(e.Name) + len(e.Value) + 2*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	for _, e := range extra {
		b = appendString(b, e.Name)
		b = appendString(b, e.Value)
	}
	return b
}

// DecodeExtra decodes what EncodeExtra encoded.
func DecodeExtra(b []byte) ([]Extra, error) {
	var extra []Extra
	for len(b) > 0 {
		var e Extra
		var err error
		if e.Name, b, err = readString(b); err != nil {
			return nil, fmt.Errorf("decode extra attribute name: %w", err)
		}
		if e.Value, b, err = readString(b); err != nil {
			return nil, fmt.Errorf("decode extra attribute %q: %w", e.Name, err)
		}
		extra = append(extra, e)
	}
	return extra, nil
}

// normalizedVersion is the first byte of an encoded Normalized value.
const normalizedVersion = 1

// MarshalBinary encodes the match keys compactly, for sealing.
func (n *Normalized) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 192)
	b = append(b, normalizedVersion)
	for _, s := range n.stringFields() {
		b = appendString(b, *s)
	}
	b = binary.AppendUvarint(b, uint64(n.BirthDate.Year))
	b = append(b, byte(n.BirthDate.Month), byte(n.BirthDate.Day))
	valid := byte(0)
	if n.BirthDate.Valid {
		valid = 1
	}
	b = append(b, valid)
	b = binary.AppendUvarint(b, uint64(n.Flags))
	names := byte(0)
	if n.FullNameGiven {
		names |= 1
	}
	if n.NamesDerived {
		names |= 2
	}
	b = append(b, names)
	b = binary.AppendUvarint(b, uint64(len(n.Extra)))
	for _, e := range n.Extra {
		b = appendString(b, e.Name)
		b = appendString(b, e.Value)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (n *Normalized) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != normalizedVersion {
		return fmt.Errorf("decode match keys: unknown version: %w", ErrInvalid)
	}
	b = b[1:]
	var out Normalized
	var err error
	for _, s := range out.stringFields() {
		if *s, b, err = readString(b); err != nil {
			return fmt.Errorf("decode match keys: %w", err)
		}
	}
	year, k := binary.Uvarint(b)
	if k <= 0 || len(b) < k+3 {
		return fmt.Errorf("decode match keys: truncated date: %w", ErrInvalid)
	}
	out.BirthDate = Date{Year: int(year), Month: int(b[k]), Day: int(b[k+1]), Valid: b[k+2] == 1}
	b = b[k+3:]
	flags, k := binary.Uvarint(b)
	if k <= 0 || flags >= uint64(flagEnd) {
		return fmt.Errorf("decode match keys: bad flags: %w", ErrInvalid)
	}
	out.Flags = Flags(flags)
	b = b[k:]
	if len(b) < 1 || b[0] > 3 {
		return fmt.Errorf("decode match keys: truncated: %w", ErrInvalid)
	}
	out.FullNameGiven, out.NamesDerived = b[0]&1 != 0, b[0]&2 != 0
	count, k := binary.Uvarint(b[1:])
	if k <= 0 || count > MaxExtraAttributes {
		return fmt.Errorf("decode match keys: bad extra count: %w", ErrInvalid)
	}
	b = b[1+k:]
	for range count {
		var e Extra
		if e.Name, b, err = readString(b); err != nil {
			return fmt.Errorf("decode match keys: %w", err)
		}
		if e.Value, b, err = readString(b); err != nil {
			return fmt.Errorf("decode match keys: %w", err)
		}
		out.Extra = append(out.Extra, e)
	}
	if len(b) != 0 {
		return fmt.Errorf("decode match keys: trailing bytes: %w", ErrInvalid)
	}
	*n = out
	return nil
}

// MaxExtraAttributes bounds the extra attributes of a record.
const MaxExtraAttributes = 64

func (n *Normalized) stringFields() []*string {
	return []*string{
		&n.GivenName, &n.FamilyName, &n.FullName, &n.Gender, &n.Email, &n.Phone,
		&n.PhoneDigit, &n.Street, &n.Line2, &n.Postcode, &n.City, &n.Region, &n.Country, &n.NationalID,
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < l {
		return "", nil, fmt.Errorf("truncated string: %w", ErrInvalid)
	}
	end := k + int(l)
	return string(b[k:end]), b[end:], nil
}
