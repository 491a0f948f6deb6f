package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
)

func importCommand() command {
	return command{
		name: "import",
		args: "FILE...",
		summary: "Import records in the canonical format (CSV with a header, NDJSON, or a JSON array; - reads standard input). " +
			"Prints progress and a summary; exits 3 when records were rejected (the others are imported).",
		groups: []string{"db", "keys", "ingest"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			source := fs.String("source", "", "the source of every record; records naming another source are rejected")
			format := fs.String("format", "auto", "input format: auto (by file name), csv, ndjson or json")
			addSources := fs.Bool("add-sources", false, "register unknown sources (department derived from the name) instead of rejecting their records")
			noResolve := fs.Bool("no-resolve", false, "do not link the imported records into profiles (run `cdp resolve` later)")
			return func(ctx context.Context, cl *cli, args []string) error {
				if len(args) == 0 {
					return fmt.Errorf("name at least one file: %w", errUsage)
				}
				if *source != "" {
					if err := ingest.ValidateSourceName(*source); err != nil {
						return err
					}
				}
				for _, f := range args {
					if _, err := readerFormat(*format, f); err != nil {
						return err
					}
				}
				return runImport(ctx, cl, cfg, args, *source, *format, *addSources, !*noResolve)
			}
		},
	}
}

func runImport(ctx context.Context, cl *cli, cfg *Config, files []string, source, format string, addSources, resolve bool) error {
	db, err := cfg.openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := cfg.openAppKey(ctx, db, false)
	if err != nil {
		return err
	}
	defer a.Close()
	known, err := db.Sources(ctx)
	if err != nil {
		return err
	}
	im := a.Importer
	im.Actor = cliActor()
	im.Sources = sourceCheck(ctx, cl, db, known, addSources)
	rejected := 0
	var changed, unchanged []uuid.UUID
	collect := func(res ingest.Result) {
		switch res.Status {
		case ingest.StatusCreated, ingest.StatusUpdated:
			changed = append(changed, res.RecordID)
		case ingest.StatusUnchanged:
			unchanged = append(unchanged, res.RecordID) // linked if a crash left it in no profile
		}
	}
	w := access.Write{What: "cdp import " + strings.Join(files, " ")}
	// Audited before anything is written, as over HTTP.
	req := access.Request{Principal: auth.Principal{Kind: auth.Staff, ID: cliActor(), Roles: []auth.Role{auth.RoleAdmin}}}
	if err := a.Access.RecordWriteIntent(ctx, req, w.What, -1, nil); err != nil {
		return fmt.Errorf("the audit log cannot record the import, so nothing was imported: %w", err)
	}
	fields := map[string]bool{}
	for _, name := range files {
		sum, err := importFile(ctx, cl, im, name, ingest.Options{Source: source, MaxRecordBytes: cfg.MaxRecordBytes}, format, collect)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rejected += sum.Rejected
		w.Created, w.Updated, w.Unchanged = w.Created+sum.Created, w.Updated+sum.Updated, w.Unchanged+sum.Unchanged
		for f := range sum.Fields {
			fields[f] = true
		}
	}
	for f := range fields {
		w.Fields = append(w.Fields, f)
	}
	if resolve && len(changed)+len(unchanged) > 0 {
		rep, err := a.Resolver.Link(ctx, cliActor(), changed, unchanged)
		if err != nil {
			return fmt.Errorf("the records are imported, but linking them failed (run `cdp resolve`): %w", err)
		}
		if err := printReport(cl.stdout, rep, false); err != nil {
			return err
		}
		w.Profiles = rep.ProfilesOf(changed)
	}
	// Who changed a person's data is audited like who read it.
	if err := a.Access.RecordWrite(ctx, req, w); err != nil {
		return fmt.Errorf("the records are imported, but the audit entry of the import could not be written: %w", err)
	}
	if rejected > 0 {
		return errRejected
	}
	return nil
}

// sourceCheck accepts registered sources, and registers unknown ones when
// asked to.
func sourceCheck(ctx context.Context, cl *cli, db *postgres.DB, known []identity.Source, add bool) func(string) error {
	ok := make(map[string]bool, len(known))
	for _, s := range known {
		ok[s.Name] = true
	}
	return func(name string) error {
		if ok[name] {
			return nil
		}
		if !add {
			return ingest.ErrUnknownSource
		}
		s := identity.Source{Name: name, Department: departmentFor(name), Priority: 100}
		if _, err := db.AddSource(ctx, s); err != nil && !errors.Is(err, postgres.ErrConflict) {
			return fmt.Errorf("register source %s: %w", name, err)
		}
		fmt.Fprintf(cl.stderr, "registered source %s (department %s)\n", s.Name, s.Department)
		ok[name] = true
		return nil
	}
}

// departmentFor derives a department name from a source name.
func departmentFor(source string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(source) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() == 63 {
			break
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}

func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

func readerFormat(format, name string) (string, error) {
	if format != "auto" {
		switch format {
		case "csv", "ndjson", "json":
			return format, nil
		}
		return "", fmt.Errorf("--format %q: want auto, csv, ndjson or json: %w", format, errUsage)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv", nil
	case ".ndjson", ".jsonl":
		return "ndjson", nil
	case ".json":
		return "json", nil
	}
	if name == "-" {
		return "sniff", nil // told by the first byte of the input
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name; pass --format: %w", name, errUsage)
}

// sniffFormat tells the format of an input without a name from its first
// byte that is not white space: '[' a JSON array, '{' NDJSON, else CSV.
func sniffFormat(r *bufio.Reader) string {
	head, _ := r.Peek(4096)
	switch trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\uFEFF")), " \t\r\n"); {
	case bytes.HasPrefix(trimmed, []byte("[")):
		return "json"
	case bytes.HasPrefix(trimmed, []byte("{")):
		return "ndjson"
	}
	return "csv"
}

func importFile(ctx context.Context, cl *cli, im ingest.Importer, name string, opts ingest.Options, format string, emit func(ingest.Result)) (ingest.Summary, error) {
	var in io.Reader
	var size int64
	if name == "-" {
		in = cl.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return ingest.Summary{}, err
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil {
			size = info.Size()
		}
		in = f
	}
	buffered := bufio.NewReaderSize(in, 1<<20)
	counted := &countingReader{r: buffered}
	kind, _ := readerFormat(format, name)
	if kind == "sniff" {
		kind = sniffFormat(buffered)
	}
	var r ingest.Reader
	var err error
	switch kind {
	case "csv":
		r, err = ingest.NewCSVReader(counted, opts)
	case "ndjson":
		r = ingest.NewNDJSONReader(counted, opts)
	case "json":
		r, err = ingest.NewJSONArrayReader(counted, opts)
	}
	if err != nil {
		return ingest.Summary{}, err
	}
	p := newProgress(cl.stderr, filepath.Base(name), size, counted)
	im.Progress = p.update
	sum, err := im.Import(ctx, r, emit)
	p.done()
	fmt.Fprintf(cl.stdout, "%s: ", name)
	sum.Print(cl.stdout)
	return sum, err
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// progress shows an import's progress: a bar redrawn in place on a
// terminal, a plain line every few seconds otherwise.
type progress struct {
	w        io.Writer
	name     string
	size     int64
	read     *countingReader
	terminal bool
	last     time.Time
	drawn    bool
}

func newProgress(w io.Writer, name string, size int64, read *countingReader) *progress {
	return &progress{w: w, name: name, size: size, read: read, terminal: isTerminal(w), last: time.Now()}
}

func (p *progress) update(s ingest.Summary) {
	now := time.Now()
	every := 5 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	frac := 0.0
	if p.size > 0 {
		frac = min(float64(p.read.n.Load())/float64(p.size), 1)
	}
	if !p.terminal {
		fmt.Fprintf(p.w, "%s: %d records (%.0f%%), %.0f records/s\n", p.name, s.Total(), frac*100, s.Rate())
		return
	}
	const width = 30
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %d records %.0f/s", p.name,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, s.Total(), s.Rate())
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
