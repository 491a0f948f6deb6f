package demo

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// ErrInvalidOptions is returned, wrapped, for Options that Generate cannot
// honour: negative counts, empty or repeated department names.
var ErrInvalidOptions = errors.New("demo: invalid options")

// Options says what to generate. The zero value generates nothing but the
// header.
type Options struct {
	// People is the number of distinct synthetic persons. When set it
	// wins over Records.
	People int
	// Records is the total number of records wanted when People is 0.
	// Persons are generated until the total is reached; the last person
	// may get fewer records than drawn, so the total is exactly Records
	// and the number of persons is about Records/2.4.
	Records int
	// Seed makes the output reproducible: the same Seed and Options give
	// byte-identical output.
	Seed int64
	// Departments are the source systems records come from. Empty means
	// sales, support, billing and marketing, which have their own habits
	// (see the package documentation); other names get a generic profile.
	Departments []string
}

// Stats describes what Generate wrote.
type Stats struct {
	People        int            // distinct persons (entity_id values)
	Records       int            // rows after the header
	PerDepartment map[string]int // rows per source
}

var defaultDepartments = []string{"sales", "support", "billing", "marketing"}

// Header returns the column names Generate writes, in order: the project's
// canonical import columns, customer_since and the entity_id truth column.
func Header() []string {
	return []string{
		"source", "source_id", "given_name", "family_name", "full_name", "birth_date", "gender",
		"email", "phone", "street", "address_line2", "postcode", "city", "region", "country",
		"national_id", "customer_since", "entity_id",
	}
}

// Generate writes the header and then every record as CSV to w. It streams:
// memory stays bounded whatever the number of records (records are mixed
// in a fixed window of windowSize rows before they are written).
func Generate(w io.Writer, opts Options) (Stats, error) {
	if opts.People < 0 || opts.Records < 0 {
		return Stats{}, fmt.Errorf("people %d, records %d: %w", opts.People, opts.Records, ErrInvalidOptions)
	}
	names := opts.Departments
	if len(names) == 0 {
		names = defaultDepartments
	}
	if err := validDepartments(names); err != nil {
		return Stats{}, err
	}
	cw := csv.NewWriter(bufio.NewWriterSize(w, 64<<10))
	if err := cw.Write(Header()); err != nil {
		return Stats{}, fmt.Errorf("demo: write header: %w", err)
	}
	out := newPipe(cw)
	g := newGenerator(opts.Seed, names, out.send)
	runErr := g.run(opts)
	writeErr := out.close()
	if writeErr != nil {
		return g.stats(), fmt.Errorf("demo: write records: %w", writeErr)
	}
	if runErr != nil {
		return g.stats(), fmt.Errorf("demo: generate records: %w", runErr)
	}
	return g.stats(), nil
}

// errWriterFailed stops generation once writing has failed; Generate then
// returns the writer's error.
var errWriterFailed = errors.New("demo: writer failed")

// windowSize is the number of records held to mix the output order, so
// that a person's records are not adjacent. It bounds memory.
const windowSize = 4096

// generator is the state of one Generate call.
type generator struct {
	r           *rand.Rand
	countries   []*countryTables
	countryPick sampler
	mail        mailSpaces
	depts       []*department
	perm, picks []int
	group       [4]person

	seq     int // persons drawn, for entity ids
	people  int // persons with at least one record
	records int

	win   []row
	write func(*row) error
}

func newGenerator(seed int64, departments []string, write func(*row) error) *generator {
	g := &generator{
		r:     rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		win:   make([]row, 0, windowSize),
		write: write,
	}
	w := make([]float64, len(countries))
	for i, c := range countries {
		g.countries = append(g.countries, newCountryTables(c, g.r))
		w[i] = c.weight
	}
	g.countryPick = newSampler(w)
	g.mail = newMailSpaces(g.r)
	for i, name := range departments {
		g.depts = append(g.depts, newDepartment(name, g.r))
		g.perm = append(g.perm, i)
	}
	return g
}

// run generates households until the people or record budget is spent.
func (g *generator) run(opts Options) error {
	for {
		limit := len(g.group)
		if opts.People > 0 {
			limit = min(limit, opts.People-g.people)
		} else if g.records >= opts.Records {
			break
		}
		if limit <= 0 {
			break
		}
		group := g.household(limit)
		for i := range group {
			k := g.recordCount()
			if opts.People == 0 {
				k = min(k, opts.Records-g.records)
			}
			if k <= 0 {
				break
			}
			if err := g.emit(&group[i], k); err != nil {
				return err
			}
			g.people++
		}
	}
	return g.drain()
}

// recordCount draws how many records a person has: 1 to 5, mean 2.4.
func (g *generator) recordCount() int {
	switch u := g.r.Float64(); {
	case u < 0.25:
		return 1
	case u < 0.56:
		return 2
	case u < 0.82:
		return 3
	case u < 0.97:
		return 4
	default:
		return 5
	}
}

// emit writes k records of p, in distinct departments where possible.
func (g *generator) emit(p *person, k int) error {
	for _, di := range g.departmentsFor(k) {
		d := g.depts[di]
		slot, err := g.slot()
		if err != nil {
			return err
		}
		g.render(p, d, slot)
		if slot[colSourceID] == "" {
			return fmt.Errorf("department %q has no source ids left: %w", d.name, ErrInvalidOptions)
		}
		g.records++
	}
	return nil
}

// departmentsFor picks the departments of a person's k records: distinct
// ones first; a department that allows it gets a second record when k
// exceeds the number of departments, and for about 3.5% of other persons
// (a customer who opened two support tickets under different ids).
func (g *generator) departmentsFor(k int) []int {
	r := g.r
	nd := len(g.perm)
	m := min(k, nd)
	for i := 0; i < m; i++ { // partial Fisher-Yates: a uniform m-subset
		j := i + r.IntN(nd-i)
		g.perm[i], g.perm[j] = g.perm[j], g.perm[i]
	}
	picks := append(g.picks[:0], g.perm[:m]...)
	dups := k - m
	if dups == 0 && k >= 2 && r.Float64() < 0.035 {
		dups, picks = 1, picks[:m-1]
	}
	base := len(picks)
	for ; dups > 0; dups-- {
		n := 0
		for _, di := range picks[:base] {
			if g.depts[di].duplicate {
				n++
			}
		}
		if n == 0 {
			break
		}
		x := r.IntN(n)
		for _, di := range picks[:base] {
			if !g.depts[di].duplicate {
				continue
			}
			if x == 0 {
				picks = append(picks, di)
				break
			}
			x--
		}
	}
	g.picks = picks
	return picks
}

// slot returns the row to render the next record into. Once the window is
// full, a random held record is written out and its slot reused.
func (g *generator) slot() (*row, error) {
	if len(g.win) < cap(g.win) {
		g.win = g.win[:len(g.win)+1]
		return &g.win[len(g.win)-1], nil
	}
	j := g.r.IntN(len(g.win))
	if err := g.write(&g.win[j]); err != nil {
		return nil, err
	}
	return &g.win[j], nil
}

// drain writes the records still held, in random order.
func (g *generator) drain() error {
	g.r.Shuffle(len(g.win), func(i, j int) { g.win[i], g.win[j] = g.win[j], g.win[i] })
	for i := range g.win {
		if err := g.write(&g.win[i]); err != nil {
			return err
		}
	}
	g.win = g.win[:0]
	return nil
}

func (g *generator) stats() Stats {
	s := Stats{People: g.people, Records: g.records, PerDepartment: make(map[string]int, len(g.depts))}
	for _, d := range g.depts {
		s.PerDepartment[d.name] = int(d.next)
	}
	return s
}
