// Command cdp is the customer data platform: one binary that serves the API,
// migrates the database, imports department records, manages keys and
// tokens, and generates demo data. Run `cdp help` for the commands and
// `cdp help config` for every setting.
//
// This package only wires: it parses configuration, constructs the parts
// from the other packages and runs them. It holds no domain logic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles, err := startProfiles(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cdp: %v\n", err)
		os.Exit(2)
	}
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfiles()
	if code != 0 {
		os.Exit(code)
	}
}

// startProfiles starts the profiles the environment asks for and returns
// the function that ends them (profile before optimising; go tool pprof
// reads them):
//
//   - CDP_CPU_PROFILE=FILE: the command's CPU profile;
//   - CDP_HEAP_PROFILE=FILE: a heap profile each time the live heap peaks,
//     that is, what holds the memory at its largest.
//
// A file that cannot be written is an error before the command runs.
func startProfiles(getenv func(string) string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if path := getenv("CDP_CPU_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("CDP_CPU_PROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("CDP_CPU_PROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if path := getenv("CDP_HEAP_PROFILE"); path != "" {
		// Created now to say at once whether it can be; the watcher
		// rewrites it at each peak.
		f, err := os.Create(path)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("CDP_HEAP_PROFILE: %w", err)
		}
		f.Close()
		stops = append(stops, watchHeap(path))
	}
	return stop, nil
}

// watchHeap writes a heap profile to path whenever the live heap (as of
// the last garbage collection) grows a twentieth past its largest so far,
// until the returned function is called.
func watchHeap(path string) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > peak+peak/20 {
				peak = live
				if f, err := os.Create(path); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// cli is the process environment a command runs in.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one cdp subcommand.
type command struct {
	name    string // one or two words: "serve", "db url"
	args    string // the arguments after the flags, for usage
	summary string
	groups  []string // the setting groups it reads
	// flags registers the command's own flags and returns the function
	// that runs it.
	flags func(fs *flag.FlagSet, cfg *Config) func(ctx context.Context, cl *cli, args []string) error
}

// commands lists every subcommand, in the order of `cdp help`.
func commands() []command {
	return []command{
		serveCommand(),
		migrateCommand(),
		importCommand(),
		resolveCommand(),
		resolveTrainCommand(),
		resolveStatusCommand(),
		consentImportCommand(),
		requestsListCommand(),
		requestsShowCommand(),
		requestsDecideCommand("verify", "Verify a request: the person's identity was checked (--method, --reference). The deadline starts."),
		requestsDecideCommand("approve", "Approve a verified request: a running `cdp serve` carries it out."),
		requestsDecideCommand("reject", "Reject a request, with the reason the person is told (Art. 12(4))."),
		requestsDecideCommand("extend", "Extend a request's deadline once, by one or two months, with the reason the person is told (Art. 12(3))."),
		auditQueryCommand(),
		recipientsAddCommand(),
		recipientsRotateCommand(),
		eventsImportCommand(),
		eventsRetentionCommand(),
		traitsComputeCommand(),
		segmentsAddCommand(),
		segmentsPreviewCommand(),
		segmentsListCommand(),
		segmentsRefreshCommand(),
		segmentsActivateCommand(),
		recipientsPurposesCommand(),
		staffGrantCommand(),
		staffListCommand(),
		staffRevokeCommand(),
		recipientsListCommand(),
		holdsAddCommand(),
		sourcesAddCommand(),
		sourcesListCommand(),
		tokenCreateCommand(),
		tokenListCommand(),
		tokenRevokeCommand(),
		keysGenerateCommand(),
		keysShowCommand(),
		keysRotateCommand(),
		auditVerifyCommand(),
		auditKeyCommand(),
		auditKeygenCommand(),
		dbURLCommand(),
		dbStopCommand(),
		demoGenerateCommand(),
		evalCommand(),
	}
}

// exitRejected is the exit status of an import that completed but rejected
// some records.
const exitRejected = 3

// errRejected reports an import that rejected records.
var errRejected = errors.New("some records were rejected")

// errUsage reports wrong arguments; the command's usage follows.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cl := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 {
		printHelp(stderr, cmds)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "config" {
			printSettings(stdout)
			return 0
		}
		if len(args) > 1 {
			if c, _, ok := findCommand(cmds, args[1:]); ok {
				fs, _ := newFlagSet(c, getenv)
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
			fmt.Fprintf(stderr, "cdp: no command %q\n", strings.Join(args[1:], " "))
			return 2
		}
		printHelp(stdout, cmds)
		return 0
	}
	c, rest, ok := findCommand(cmds, args)
	if !ok {
		fmt.Fprintf(stderr, "cdp: unknown command %q (see `cdp help`)\n", strings.Join(args, " "))
		return 2
	}
	fs, cfg := newFlagSet(c, getenv)
	fs.SetOutput(stderr)
	if cfg.err != nil {
		fmt.Fprintf(stderr, "cdp %s: %v\n", c.name, cfg.err)
		return 2
	}
	runCmd := c.flags(fs, &cfg.Config)
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // flag printed the error and the usage
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit, err := memoryLimit(cfg.MemoryLimit)
		if err != nil {
			fmt.Fprintf(stderr, "cdp %s: %v\n", c.name, err)
			return 2
		}
		debug.SetMemoryLimit(limit)
	}
	err = runCmd(ctx, cl, positional)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errRejected):
		return exitRejected
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "cdp %s: %v\n", c.name, err)
		fs.Usage()
		return 2
	}
	fmt.Fprintf(stderr, "cdp %s: %v\n", c.name, err)
	return 1
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments (`cdp sources add sales --department sales`);
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

type boundConfig struct {
	Config
	err error
}

func newFlagSet(c command, getenv func(string) string) (*flag.FlagSet, *boundConfig) {
	fs := flag.NewFlagSet("cdp "+c.name, flag.ContinueOnError)
	cfg := &boundConfig{}
	cfg.err = bindSettings(fs, &cfg.Config, getenv, append([]string{"global"}, c.groups...)...)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: cdp %s [flags] %s\n\n%s\n\nflags:\n", c.name, c.args, c.summary)
		fs.PrintDefaults()
	}
	return fs, cfg
}

// findCommand finds the command named by the first words of args, the
// longest name winning ("resolve train" over "resolve").
func findCommand(cmds []command, args []string) (command, []string, bool) {
	best, n := command{}, 0
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(words) > n && len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			best, n = c, len(words)
		}
	}
	return best, args[n:], n > 0
}

func printHelp(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "cdp: GDPR-compliant customer data platform")
	fmt.Fprintln(w, "\nusage: cdp <command> [flags] [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, firstSentence(c.summary))
	}
	tw.Flush()
	fmt.Fprintln(w, "\n`cdp help <command>` or `cdp <command> --help` describes a command;")
	fmt.Fprintln(w, "`cdp help config` lists every setting with its flag and CDP_* variable.")
}

// firstSentence cuts a summary after its first sentence: at a full stop
// followed by a space, unless it ends an abbreviation ("Art. 17", "e.g. ").
func firstSentence(s string) string {
	for from := 0; ; {
		i := strings.Index(s[from:], ". ")
		if i < 0 {
			return s
		}
		end := from + i
		word := s[strings.LastIndexAny(s[:end], " (")+1 : end]
		switch word {
		case "Art", "e.g", "i.e", "cf", "No", "art":
			from = end + 2
			continue
		}
		return s[:end+1]
	}
}

// newLogger builds the JSON logger every command logs through.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
