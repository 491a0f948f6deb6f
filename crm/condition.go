package crm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/interpreter"

	"github.com/cdp-project/cdp/derrors"
)

// Conditions over traits (segments, lifecycle rules) are CEL expressions
// (github.com/google/cel-go): typed and checked when saved, free of side
// effects and loops that never end, and fast to evaluate, which is why
// Kubernetes chose it for its admission rules.

// Variable is one trait a condition may name.
type Variable struct {
	Name        string
	Type        *cel.Type
	Description string
}

// Variables are the traits conditions may name, with what they mean.
var Variables = []Variable{
	{"interactions", cel.IntType, "contacts of any kind"},
	{"orders", cel.IntType, "orders placed"},
	{"revenue", cel.DoubleType, "total of the orders"},
	{"average_order_value", cel.DoubleType, "revenue divided by orders"},
	{"returns", cel.IntType, "returns"},
	{"tickets", cel.IntType, "support tickets"},
	{"complaints", cel.IntType, "complaints"},
	{"cost_to_serve", cel.DoubleType, "cost of the contacts"},
	{"satisfaction", cel.DoubleType, "mean satisfaction score given, 1 to 5 (0: none given)"},
	{"recency_days", cel.IntType, "days since the last order (-1: none)"},
	{"tenure_days", cel.IntType, "days since the first contact"},
	{"frequency", cel.IntType, "repeat purchases (days with an order after the first)"},
	{"r_score", cel.IntType, "recency quintile, 5 most recent"},
	{"f_score", cel.IntType, "frequency quintile, 5 most orders"},
	{"m_score", cel.IntType, "monetary quintile, 5 most revenue"},
	{"rfm", cel.StringType, "the three scores, e.g. \"545\""},
	{"p_alive", cel.DoubleType, "probability of still being a customer (BG/NBD)"},
	{"expected_purchases", cel.DoubleType, "purchases expected over the horizon (BG/NBD)"},
	{"clv", cel.DoubleType, "customer lifetime value over the horizon"},
	{"lifecycle", cel.StringType, "lifecycle stage"},
	{"tier", cel.StringType, "value tier: vip, regular or none"},
	{"channels", cel.MapType(cel.StringType, cel.IntType), "contacts per channel, e.g. channels[\"web\"]"},
}

// previousStage is the extra variable of lifecycle rules.
const previousStage = "previous_stage"

// ErrCondition reports a condition that does not compile or is not a
// yes-or-no question.
var ErrCondition = derrors.New(derrors.ErrInvalid, "invalid condition")

var (
	segmentEnv   = mustEnv(false)
	lifecycleEnv = mustEnv(true)
)

func mustEnv(lifecycle bool) *cel.Env {
	opts := make([]cel.EnvOption, 0, len(Variables)+1)
	for _, v := range Variables {
		opts = append(opts, cel.Variable(v.Name, v.Type))
	}
	if lifecycle {
		opts = append(opts, cel.Variable(previousStage, cel.StringType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err)
	}
	return env
}

// Condition is a compiled condition.
type Condition struct {
	Source string
	// Names are the variables it reads, in order of the catalogue.
	Names []string
	prg   cel.Program
	// limited: CEL could not bound its cost statically, so evaluations
	// run under the runtime limit.
	limited bool
}

// Compile checks a condition: it must be a CEL expression over the
// traits that yields true or false.
func Compile(src string) (*Condition, error) { return compile(segmentEnv, src) }

func compile(env *cel.Env, src string) (*Condition, error) {
	src = strings.TrimSpace(src)
	if src == "" || len(src) > 4000 {
		return nil, fmt.Errorf("%w: between 1 and 4000 bytes", ErrCondition)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrCondition, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("%w: it yields %s, not true or false", ErrCondition, ast.OutputType())
	}
	// A condition whose worst case CEL can bound statically under the
	// limit runs without the runtime cost tracker, which wrapped every step
	// of every evaluation (a quarter of a segment's refresh over a million
	// profiles); one it cannot bound (a comprehension over the channels)
	// keeps the runtime limit.
	var prgOpts []cel.ProgramOption
	est, err := env.EstimateCost(ast, worstSizes{})
	limited := err != nil || est.Max > costLimit
	if limited {
		prgOpts = append(prgOpts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(ast, prgOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCondition, err)
	}
	used := map[string]bool{}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name != "" {
			used[ref.Name] = true
		}
	}
	c := &Condition{Source: src, prg: prg, limited: limited}
	for _, v := range Variables {
		if used[v.Name] {
			c.Names = append(c.Names, v.Name)
		}
	}
	if used[previousStage] {
		c.Names = append(c.Names, previousStage)
	}
	return c, nil
}

// costLimit bounds a condition's evaluation, in CEL's cost units.
const costLimit = 100000

// worstSizes gives CEL's cost estimate no sizes: it assumes the worst of
// every string, list and map it cannot size itself.
type worstSizes struct{}

func (worstSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (worstSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Holds reports whether the condition holds for t. An evaluation error
// (a channel it names that the person never used) counts as false.
func (c *Condition) Holds(t *Traits) bool {
	return c.holds(activation{t: t})
}

func (c *Condition) holds(a activation) bool {
	out, _, err := c.prg.Eval(a)
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// Values are the values of the traits the condition reads, for the
// evidence of a decision and for the person it concerns.
func (c *Condition) Values(t *Traits, previous string) map[string]any {
	a := activation{t: t, previous: previous}
	out := make(map[string]any, len(c.Names))
	for _, n := range c.Names {
		v, _ := a.ResolveName(n)
		out[n] = v
	}
	return out
}

// activation resolves the variables from a profile's traits without
// building a map per profile.
type activation struct {
	t        *Traits
	previous string
}

func (a activation) Parent() interpreter.Activation { return nil }

func (a activation) ResolveName(name string) (any, bool) {
	t := a.t
	switch name {
	case "interactions":
		return int64(t.Interactions), true
	case "orders":
		return int64(t.Orders), true
	case "revenue":
		return t.Revenue, true
	case "average_order_value":
		return t.AverageOrder, true
	case "returns":
		return int64(t.Returns), true
	case "tickets":
		return int64(t.Tickets), true
	case "complaints":
		return int64(t.Complaints), true
	case "cost_to_serve":
		return t.CostToServe, true
	case "satisfaction":
		return t.Satisfaction, true
	case "recency_days":
		return int64(t.RecencyDays), true
	case "tenure_days":
		return int64(t.TenureDays), true
	case "frequency":
		return int64(t.Frequency), true
	case "r_score":
		return int64(t.RScore), true
	case "f_score":
		return int64(t.FScore), true
	case "m_score":
		return int64(t.MScore), true
	case "rfm":
		return t.RFM, true
	case "p_alive":
		return t.PAlive, true
	case "expected_purchases":
		return t.ExpectedPurchases, true
	case "clv":
		return t.CLV, true
	case "lifecycle":
		return t.Lifecycle, true
	case "tier":
		return t.Tier, true
	case "channels":
		m := make(map[string]int64, len(t.Channels))
		for k, v := range t.Channels {
			m[k] = int64(v)
		}
		return m, true
	case previousStage:
		return a.previous, true
	}
	return nil, false
}

// Stage is one lifecycle rule: the stage a profile is in when the
// condition holds (the first rule that holds wins).
type Stage struct {
	Name      string `json:"stage"`
	Condition string `json:"condition"`
	cond      *Condition
}

// DefaultStages are the lifecycle rules unless the DPO configures others.
var DefaultStages = []Stage{
	{Name: "prospect", Condition: "orders == 0"},
	{Name: "won_back", Condition: `previous_stage in ["at_risk", "lapsed"] && recency_days <= 90`},
	{Name: "new", Condition: "recency_days <= 90 && tenure_days <= 90"},
	{Name: "active", Condition: "recency_days <= 90"},
	{Name: "at_risk", Condition: "recency_days <= 270"},
	{Name: "lapsed", Condition: "true"},
}

// StageNames lists the stages in the order of the rules.
func StageNames(rules []Stage) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Name
	}
	return out
}

// CompileStages checks lifecycle rules: a name each, a condition each,
// and a last rule that always holds so that every profile has a stage.
func CompileStages(rules []Stage) ([]Stage, error) {
	if len(rules) == 0 {
		return nil, fmt.Errorf("%w: no lifecycle rules", ErrCondition)
	}
	out := slices.Clone(rules)
	for i := range out {
		if !isName(out[i].Name) {
			return nil, fmt.Errorf("%w: stage %q: a lower-case name", ErrCondition, out[i].Name)
		}
		c, err := compile(lifecycleEnv, out[i].Condition)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", out[i].Name, err)
		}
		out[i].cond = c
	}
	if strings.TrimSpace(out[len(out)-1].Condition) != "true" {
		return nil, fmt.Errorf("%w: the last stage's condition must be true, so that every profile has one", ErrCondition)
	}
	return out, nil
}

// StageChange is a profile entering a stage, with the rule and the values
// that put it there.
type StageChange struct {
	Profile  [16]byte       `json:"-"`
	From     string         `json:"from,omitempty"`
	To       string         `json:"to"`
	Rule     string         `json:"rule"`
	Evidence map[string]any `json:"evidence"`
}

// Place puts a profile in the stage of the first rule that holds and
// returns the change, if it is one.
func Place(rules []Stage, t *Traits, previous string) (StageChange, bool) {
	a := activation{t: t, previous: previous}
	for _, r := range rules {
		if !r.cond.holds(a) {
			continue
		}
		t.Lifecycle = r.Name
		if r.Name == previous {
			return StageChange{}, false
		}
		return StageChange{Profile: t.Profile, From: previous, To: r.Name, Rule: r.Condition,
			Evidence: r.cond.Values(t, previous)}, true
	}
	return StageChange{}, false
}
