package crm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConditionsAreCheckedWhenSaved(t *testing.T) {
	for _, c := range []struct {
		src  string
		fail string
	}{
		{`tier == "vip" && recency_days > 180`, ""},
		{`channels["web"] >= 2 || satisfaction < 2.5`, ""},
		{`orders >= "three"`, "no matching overload"},
		{`revenue`, "not true or false"},
		{`undeclared > 1`, "undeclared reference"},
		{``, "between 1 and 4000 bytes"},
		{strings.Repeat("orders > 1 && ", 400) + "true", "between 1 and 4000 bytes"},
	} {
		_, err := Compile(c.src)
		switch {
		case c.fail == "" && err != nil:
			t.Errorf("%q: %v", c.src, err)
		case c.fail != "" && (!errors.Is(err, ErrCondition) || !strings.Contains(err.Error(), c.fail)):
			t.Errorf("%q: %v, want %q", c.src, err, c.fail)
		}
	}
	cond, _ := Compile(`channels["web"] >= 2`)
	if cond.Holds(&Traits{Channels: map[string]int{"store": 5}}) {
		t.Error("a channel the person never used holds")
	}
	if v := cond.Values(&Traits{Channels: map[string]int{"web": 3}}, ""); v["channels"] == nil {
		t.Errorf("values read: %v", v)
	}
}

// FuzzCondition: whatever a staff member types as a segment's condition
// or a lifecycle rule is refused with ErrCondition or compiles into a
// program that answers true or false about any traits, without a panic.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{`tier == "vip"`, `orders >= 3 && recency_days < 90`, `channels["web"] > 0`,
		`previous_stage in ["lapsed"]`, `size(rfm) == 3`, `[1,2,3].all(x, x > 0)`, `"a" + "b" == "ab"`} {
		f.Add(s)
	}
	t0 := &Traits{Orders: 3, Revenue: 12.5, RecencyDays: 4, Tier: "vip", Lifecycle: "active", RFM: "545",
		Channels: map[string]int{"web": 2}, FirstContact: time.Unix(0, 0)}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Compile(src)
		if err != nil {
			if !errors.Is(err, ErrCondition) {
				t.Fatalf("%q: %v is not ErrCondition", src, err)
			}
			return
		}
		c.Holds(t0)
		c.Holds(&Traits{})
		c.Values(t0, "lapsed")
		if _, err := CompileStages([]Stage{{Name: "any", Condition: src}, {Name: "rest", Condition: "true"}}); err != nil && !errors.Is(err, ErrCondition) {
			t.Fatalf("%q as a stage: %v", src, err)
		}
	})
}

// TestConditionCostIsBounded: a condition CEL can bound statically runs
// without the runtime cost tracker; one over the channels map in a
// comprehension, which it cannot bound, keeps the runtime limit and is
// stopped by it.
func TestConditionCostIsBounded(t *testing.T) {
	for _, src := range []string{`tier == "vip" && recency_days > 90`, `orders >= 3 || channels["web"] > 2`} {
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if c.limited {
			t.Errorf("%s: runs under the runtime limit, though its cost is bounded", src)
		}
		if !c.Holds(&Traits{Tier: "vip", RecencyDays: 120, Orders: 3, Channels: map[string]int{"web": 3}}) {
			t.Errorf("%s: does not hold", src)
		}
	}
	deep := `channels.all(a, channels.all(b, channels.all(c, channels.all(d, a + b + c + d != ""))))`
	c, err := Compile(deep)
	if err != nil {
		t.Fatal(err)
	}
	if !c.limited {
		t.Fatalf("%s: runs without the runtime limit", deep)
	}
	wide := map[string]int{}
	for i := range 40 {
		wide[fmt.Sprint("channel-", i)] = i
	}
	if c.Holds(&Traits{Channels: wide}) {
		t.Errorf("%s: held over 40 channels (2.5 million steps), want it stopped by the limit", deep)
	}
	if !c.Holds(&Traits{Channels: map[string]int{"web": 1}}) {
		t.Errorf("%s: does not hold over one channel", deep)
	}
}
