package demo

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSameSeedSameBytes(t *testing.T) {
	opts := Options{Records: 5000, Seed: 7}
	a, _, _ := sample(t, opts)
	b, _, _ := sample(t, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("two generations with the same seed differ")
	}
	opts.Seed = 8
	c, _, _ := sample(t, opts)
	if bytes.Equal(a, c) {
		t.Fatal("generations with seeds 7 and 8 are identical")
	}
}

func TestHeader(t *testing.T) {
	want := "source,source_id,given_name,family_name,full_name,birth_date,gender,email,phone,street," +
		"address_line2,postcode,city,region,country,national_id,customer_since,entity_id"
	if got := strings.Join(Header(), ","); got != want {
		t.Fatalf("Header() = %s\nwant        %s", got, want)
	}
	if len(Header()) != numCols {
		t.Fatalf("Header has %d columns, rows have %d", len(Header()), numCols)
	}
	h := Header()
	h[0] = "changed"
	if Header()[0] != "source" {
		t.Fatal("Header returns a shared slice that callers can change")
	}
	out, _, _ := sample(t, Options{People: 1, Seed: 1})
	if first, _, _ := strings.Cut(string(out), "\n"); first != want {
		t.Fatalf("first line = %q, want the header", first)
	}
}

// The shape of the output: column counts (checked by the CSV reader),
// valid UTF-8, unique (source, source_id), 1 to 5 records per person,
// stats that match the data.
func TestOutputShape(t *testing.T) {
	_, rows, st := sample(t, Options{Records: 30000, Seed: 42})
	if len(rows) != 30000 || st.Records != 30000 {
		t.Fatalf("got %d rows, stats say %d; want exactly 30000", len(rows), st.Records)
	}
	ids := make(map[[2]string]bool, len(rows))
	perEntity := map[string]int{}
	perDept := map[string]int{}
	for _, r := range rows {
		for i, f := range r {
			if !utf8.ValidString(f) {
				t.Fatalf("row %v: column %s is not valid UTF-8", r, Header()[i])
			}
		}
		if r[colSource] == "" || r[colSourceID] == "" || r[colEntity] == "" {
			t.Fatalf("row %v lacks source, source_id or entity_id", r)
		}
		k := [2]string{r[colSource], r[colSourceID]}
		if ids[k] {
			t.Fatalf("(source, source_id) %v appears twice", k)
		}
		ids[k] = true
		perEntity[r[colEntity]]++
		perDept[r[colSource]]++
	}
	for e, n := range perEntity {
		if n < 1 || n > 5 {
			t.Errorf("entity %s has %d records, want 1..5", e, n)
		}
	}
	if st.People != len(perEntity) {
		t.Errorf("stats say %d people, data has %d entities", st.People, len(perEntity))
	}
	if mean := float64(len(rows)) / float64(len(perEntity)); mean < 2.2 || mean > 2.6 {
		t.Errorf("mean records per person = %.2f, want about 2.4", mean)
	}
	for _, d := range defaultDepartments {
		if perDept[d] != st.PerDepartment[d] {
			t.Errorf("%s: stats say %d records, data has %d", d, st.PerDepartment[d], perDept[d])
		}
		if share := float64(perDept[d]) / float64(len(rows)); share < 0.21 || share > 0.29 {
			t.Errorf("%s holds %.1f%% of records, want 25%% +- 4", d, 100*share)
		}
	}
}

var sourceIDShapes = map[string]*regexp.Regexp{
	"sales":     regexp.MustCompile(`^S-[A-Z2-7]{8}$`),
	"support":   regexp.MustCompile(`^TCK-[0-9]{9}$`),
	"billing":   regexp.MustCompile(`^ACC-[0-9]{10}$`),
	"marketing": regexp.MustCompile(`^[0-9a-f]{12}$`),
}

// Source ids have their department's format and are not issued in entity
// order: sorting records by source_id must not sort them by entity.
func TestSourceIDsAreOpaque(t *testing.T) {
	rows := standard(t)
	for _, r := range rows {
		if !sourceIDShapes[r[colSource]].MatchString(r[colSourceID]) {
			t.Errorf("%s source_id %q has the wrong format", r[colSource], r[colSourceID])
		}
	}
	sales := slices.DeleteFunc(slices.Clone(rows), func(r []string) bool { return r[colSource] != "sales" })
	slices.SortFunc(sales, func(a, b []string) int { return strings.Compare(a[colSourceID], b[colSourceID]) })
	ascending := 0
	for i := 1; i < len(sales); i++ {
		if sales[i][colEntity] > sales[i-1][colEntity] {
			ascending++
		}
	}
	if frac := float64(ascending) / float64(len(sales)-1); frac > 0.6 {
		t.Errorf("sorted by source_id, %.0f%% of neighbours ascend by entity: ids leak the order", 100*frac)
	}
}

func TestRecordsOptionIsExact(t *testing.T) {
	for _, n := range []int{1, 2, 7, 100, 2401} {
		_, rows, st := sample(t, Options{Records: n, Seed: int64(n)})
		if len(rows) != n || st.Records != n {
			t.Errorf("Records %d: got %d rows (stats %d)", n, len(rows), st.Records)
		}
	}
	_, _, st := sample(t, Options{Records: 24000, Seed: 3})
	if st.People < 9000 || st.People > 11000 {
		t.Errorf("Records 24000 gave %d people, want about 10000", st.People)
	}
}

func TestPeopleOption(t *testing.T) {
	_, rows, st := sample(t, Options{People: 777, Records: 5, Seed: 5})
	entities := map[string]bool{}
	for _, r := range rows {
		entities[r[colEntity]] = true
	}
	if len(entities) != 777 || st.People != 777 {
		t.Errorf("People 777: %d entities in the data, stats %d", len(entities), st.People)
	}
}

func TestZeroOptionsWriteOnlyTheHeader(t *testing.T) {
	out, rows, st := sample(t, Options{})
	if len(rows) != 0 || st.Records != 0 || st.People != 0 {
		t.Fatalf("zero Options wrote %d rows, stats %+v", len(rows), st)
	}
	if !bytes.HasPrefix(out, []byte("source,")) {
		t.Fatalf("zero Options output %q lacks the header", out)
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"negative people":      {People: -1},
		"negative records":     {Records: -5},
		"empty department":     {Records: 10, Departments: []string{"sales", ""}},
		"repeated department":  {Records: 10, Departments: []string{"sales", "sales"}},
		"padded department":    {Records: 10, Departments: []string{" sales"}},
		"repeated after blank": {Records: 10, Departments: []string{"a", "b", "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(io.Discard, opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Generate(%+v) error = %v, want ErrInvalidOptions", opts, err)
			}
		})
	}
}

func TestCustomDepartments(t *testing.T) {
	_, rows, st := sample(t, Options{Records: 3000, Seed: 9, Departments: []string{"crm", "shop", "callcentre"}})
	shapes := map[string]*regexp.Regexp{
		"crm": regexp.MustCompile(`^CRM-[A-Z2-7]{8}$`), "shop": regexp.MustCompile(`^SHO-[A-Z2-7]{8}$`),
		"callcentre": regexp.MustCompile(`^CAL-[A-Z2-7]{8}$`),
	}
	for _, r := range rows {
		if re := shapes[r[colSource]]; re == nil || !re.MatchString(r[colSourceID]) {
			t.Fatalf("record %v: unexpected source or source_id", r[:2])
		}
	}
	if len(st.PerDepartment) != 3 {
		t.Fatalf("PerDepartment = %v", st.PerDepartment)
	}

	// Billing alone never holds two records of a person.
	_, rows, _ = sample(t, Options{Records: 2000, Seed: 9, Departments: []string{"billing"}})
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r[colEntity]] {
			t.Fatalf("billing holds two records of %s", r[colEntity])
		}
		seen[r[colEntity]] = true
	}
}

// A few persons have two records in one department, never in billing.
func TestDuplicatesWithinADepartment(t *testing.T) {
	rows := standard(t)
	type key struct{ entity, source string }
	count := map[key]int{}
	entities := map[string]bool{}
	for _, r := range rows {
		count[key{r[colEntity], r[colSource]}]++
		entities[r[colEntity]] = true
	}
	dup := map[string]bool{}
	for k, n := range count {
		if n > 1 {
			if k.source == "billing" {
				t.Errorf("billing holds %d records of %s", n, k.entity)
			}
			dup[k.entity] = true
		}
	}
	share := float64(len(dup)) / float64(len(entities))
	if share < 0.03 || share > 0.08 {
		t.Errorf("%.1f%% of persons have a duplicate within a department, want about 5%%", 100*share)
	}
	t.Logf("%.1f%% of persons have a duplicate within a department", 100*share)
}

// The data holds hard negatives: different persons with the same name,
// persons sharing a phone number, household members sharing an address.
func TestHardNegatives(t *testing.T) {
	_, rows, _ := sample(t, Options{Records: 60000, Seed: 11})
	byName := map[string]map[string]bool{}
	byPhone := map[string]map[string]bool{}
	byAddress := map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, k, entity string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][entity] = true
	}
	for _, r := range rows {
		e := r[colEntity]
		if r[colGiven] != "" && r[colBirth] != "" {
			add(byName, r[colGiven]+"|"+r[colFamily], e)
		}
		if p := r[colPhone]; p != "" && !isGenericPhone(p) {
			d := strings.Map(digitsOnly, p) // the last 9 digits ignore the format
			add(byPhone, d[max(0, len(d)-9):], e)
		}
		if r[colStreet] != "" {
			add(byAddress, r[colStreet]+"|"+r[colPostcode], e)
		}
	}
	shared := func(m map[string]map[string]bool) int {
		n := 0
		for _, ents := range m {
			if len(ents) > 1 {
				n++
			}
		}
		return n
	}
	if n := shared(byName); n < 50 {
		t.Errorf("only %d names are shared by different persons", n)
	}
	if n := shared(byPhone); n < 20 {
		t.Errorf("only %d phone numbers are shared by different persons", n)
	}
	if n := shared(byAddress); n < 50 {
		t.Errorf("only %d addresses are shared by different persons", n)
	}
}

func digitsOnly(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

// Generate streams: the live heap while writing 200,000 records is about
// the same as while writing 20,000.
func TestMemoryDoesNotGrowWithRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 220,000 records")
	}
	peak := func(records int) uint64 {
		w := &heapSampler{}
		if _, err := Generate(w, Options{Records: records, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		return w.peak
	}
	small := peak(20000)
	large := peak(200000)
	t.Logf("peak live heap: %d KiB at 20k records, %d KiB at 200k", small>>10, large>>10)
	if large > small+4<<20 {
		t.Errorf("live heap grew by %d KiB from 20k to 200k records", (large-small)>>10)
	}
}

// heapSampler discards output and records the live heap (after a GC)
// every MiB written.
type heapSampler struct {
	written, next int
	peak          uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.written += len(p)
	if h.written >= h.next {
		h.next = h.written + 1<<20
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.peak = max(h.peak, ms.HeapAlloc)
	}
	return len(p), nil
}

type failingWriter struct{ after int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

func TestWriteErrorsAreReturned(t *testing.T) {
	_, err := Generate(&failingWriter{after: 100000}, Options{Records: 10000, Seed: 1})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Generate error = %v, want one wrapping %v", err, errDiskFull)
	}
	_, err = Generate(&failingWriter{after: 10}, Options{Records: 10, Seed: 1})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Generate error = %v, want one wrapping %v", err, errDiskFull)
	}
}

// The package imports only the standard library (see doc.go).
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; the package may import only the standard library", name, path)
			}
		}
	}
}

// Generation never fails or breaks the output's invariants, whatever the
// seed and size.
func FuzzGenerate(f *testing.F) {
	f.Add(int64(0), uint16(1))
	f.Add(int64(-1), uint16(50))
	f.Add(int64(1<<62), uint16(300))
	f.Fuzz(func(t *testing.T, seed int64, records uint16) {
		_, rows, st := sample(t, Options{Records: int(records), Seed: seed})
		if len(rows) != int(records) || st.Records != int(records) {
			t.Fatalf("got %d rows, want %d", len(rows), records)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			k := r[colSource] + "\x00" + r[colSourceID]
			if seen[k] {
				t.Fatalf("duplicate source id %q", k)
			}
			seen[k] = true
		}
	})
}

// BenchmarkGenerate reports the generation rate in records per second.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				st, err := Generate(io.Discard, Options{Records: n, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				total += st.Records
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkGenerateFile measures generation into a real file, as the
// command-line tools do.
func BenchmarkGenerateFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "demo.csv")
	total := 0
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := Generate(f, Options{Records: 1000000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		total += st.Records
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
