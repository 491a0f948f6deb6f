// Package crm holds what cdp knows of customer relationships beyond who a
// person is: their interactions with the company (orders, returns,
// tickets, calls, visits, campaign responses, complaints) across every
// channel, in a canonical format departments send like their records.
//
// An interaction belongs to a customer record of the same source and is
// personal data: its free-text columns are sealed under the key of that
// record, so erasing the person shreds them with everything else; its
// type, channel, time and amounts stay readable for the CRM's figures,
// tied to the record only by id.
//
// crm imports the vault and declares the Store it writes; no database, no
// HTTP.
package crm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Types an interaction may have (the DPO may register more).
var Types = []string{"order", "return", "ticket", "call", "email", "visit", "campaign_response", "complaint"}

// Interaction is one contact between a customer and a department.
type Interaction struct {
	Source         string // the department's system
	SourceID       string // the interaction's id in it
	RecordSourceID string // the customer's source_id in the same source
	Type           string
	Channel        string
	OccurredAt     time.Time
	Amount         *float64
	Currency       string
	Quantity       *int
	Satisfaction   *int // 1 to 5
	Cost           *float64
	// Attributes are the other columns, kept as given and sealed.
	Attributes map[string]string
}

// Problem is what is wrong with one field of one line.
type Problem struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Reason) }

// Input is one line read: an interaction, or what is wrong with it.
type Input struct {
	Line        int
	Interaction Interaction
	Problems    []Problem
}

// The canonical columns.
var columns = []string{"source", "source_id", "record_source_id", "type", "channel", "occurred_at",
	"amount", "currency", "quantity", "satisfaction", "cost"}

// MaxValueBytes bounds one value.
const MaxValueBytes = 1000

// parse builds an interaction from named values and says what is wrong.
func parse(line int, values map[string]string) Input {
	in := Input{Line: line, Interaction: Interaction{Attributes: map[string]string{}}}
	it := &in.Interaction
	bad := func(field, reason string) { in.Problems = append(in.Problems, Problem{line, field, reason}) }
	for k, v := range values {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			bad(k, "not text (invalid UTF-8 or a NUL)")
			continue
		}
		if len(v) > MaxValueBytes {
			bad(k, fmt.Sprintf("longer than %d bytes", MaxValueBytes))
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "source":
			it.Source = v
		case "source_id":
			it.SourceID = v
		case "record_source_id":
			it.RecordSourceID = v
		case "type":
			it.Type = v
		case "channel":
			it.Channel = v
		case "occurred_at":
			if v == "" {
				break
			}
			t, err := parseTime(v)
			if err != nil {
				bad(k, "not a time (ISO 8601, e.g. 2026-03-01T14:05:00Z or 2026-03-01)")
			}
			it.OccurredAt = t
		case "amount", "cost":
			if v == "" {
				break
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 1e12 {
				bad(k, "not an amount")
				break
			}
			if k == "amount" {
				it.Amount = &f
			} else {
				it.Cost = &f
			}
		case "currency":
			it.Currency = strings.ToUpper(v)
		case "quantity", "satisfaction":
			if v == "" {
				break
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				bad(k, "not a whole number from 0")
				break
			}
			if k == "quantity" {
				it.Quantity = &n
			} else {
				it.Satisfaction = &n
			}
		default:
			if v != "" {
				it.Attributes[k] = v
			}
		}
	}
	in.Problems = append(in.Problems, check(line, it)...)
	return in
}

func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q", v)
}

// check says what an interaction lacks.
func check(line int, it *Interaction) []Problem {
	var ps []Problem
	bad := func(field, reason string) { ps = append(ps, Problem{line, field, reason}) }
	if !isName(it.Source) {
		bad("source", "a registered source's name is required")
	}
	if it.SourceID == "" {
		bad("source_id", "the interaction's id in its source is required")
	}
	if it.RecordSourceID == "" {
		bad("record_source_id", "the customer's source_id in the same source is required")
	}
	if !isName(it.Type) {
		bad("type", "a type is required: "+strings.Join(Types, ", ")+" or one the DPO registered")
	}
	if !isName(it.Channel) {
		bad("channel", "a channel is required (store, web, app, phone, email, call_centre...)")
	}
	if it.OccurredAt.IsZero() {
		bad("occurred_at", "when it happened is required")
	} else if it.OccurredAt.After(time.Now().Add(5 * time.Minute)) {
		bad("occurred_at", "in the future")
	}
	if it.Currency != "" && !isCurrency(it.Currency) {
		bad("currency", "an ISO 4217 code such as EUR")
	}
	if it.Amount != nil && it.Currency == "" {
		bad("currency", "an amount needs its currency")
	}
	if it.Satisfaction != nil && (*it.Satisfaction < 1 || *it.Satisfaction > 5) {
		bad("satisfaction", "from 1 to 5")
	}
	return ps
}

// isName reports whether s is a name of a source, type, channel or
// segment: a lower-case letter, then up to 62 lower-case letters, digits,
// '_' or '-' (^[a-z][a-z0-9_-]{0,62}$, as the database checks it). A loop:
// the regular expression was 8% of an interaction import's CPU here.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isCurrency reports whether s is three upper-case letters (an ISO 4217
// code's form).
func isCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}
