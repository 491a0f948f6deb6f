package crm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// traitFields maps each trait's JSON name to its field in Traits.
var traitFields = sync.OnceValue(func() map[string][]int {
	m := map[string][]int{}
	t := reflect.TypeFor[Traits]()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = f.Index
		}
	}
	return m
})

// SetTrait sets the trait named name from its stored JSON value (as
// PostgreSQL prints a jsonb value: valid JSON, numbers without a plus sign
// or leading zeros), as json.Unmarshal of a document holding it would. A segment's refresh over
// a million profiles reads a few values of each: numbers, words and
// flags are parsed directly, which took a third of its time through
// json.Unmarshal; anything else (times, the channels, an escaped string)
// goes through json.Unmarshal.
func (t *Traits) SetTrait(name string, raw []byte) error {
	idx, ok := traitFields()[name]
	if !ok {
		return fmt.Errorf("no trait %q", name)
	}
	v := reflect.ValueOf(t).Elem().FieldByIndex(idx)
	switch v.Kind() {
	case reflect.Int:
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			v.SetInt(n)
			return nil
		}
	case reflect.Float64:
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			v.SetFloat(f)
			return nil
		}
	case reflect.Bool:
		if b := string(raw); b == "true" || b == "false" {
			v.SetBool(b == "true")
			return nil
		}
	case reflect.String:
		if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			v.SetString(string(raw[1 : len(raw)-1]))
			return nil
		}
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		return fmt.Errorf("trait %s: %w", name, err)
	}
	return nil
}
