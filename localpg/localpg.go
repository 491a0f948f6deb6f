// Package localpg runs a private PostgreSQL cluster for development and tests:
// it finds the PostgreSQL binaries (15 or newer), creates a cluster in a
// directory of its own with initdb, starts and stops it with pg_ctl, and
// creates the application database.
//
// The cluster listens on 127.0.0.1 only, on a free port chosen when it is
// created, with password (SCRAM) authentication; the generated password is
// kept in the cluster directory, readable only by its owner. PostgreSQL
// refuses to run as root, so when the caller is root the cluster belongs to
// the "postgres" system user and every PostgreSQL program runs as that user.
//
// localpg wraps the PostgreSQL programs; it speaks no SQL and imports only
// the standard library.
package localpg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres reports that no PostgreSQL 15+ installation was found.
var ErrNoPostgres = errors.New("PostgreSQL 15 or newer not found")

// MinVersion is the oldest supported PostgreSQL major version.
const MinVersion = 15

// Cluster is a private PostgreSQL cluster kept in Dir.
type Cluster struct {
	// Dir holds the cluster: data/, postgres.log and cluster.json.
	Dir string
	// BinDir holds initdb, pg_ctl and createdb; found automatically when
	// empty (PATH, then /usr/lib/postgresql/<version>/bin).
	BinDir string
	// Fast trades durability for speed (fsync off): for test clusters,
	// never for data that matters. It applies when the cluster is created.
	Fast bool
	// Database is the database Start creates (default "cdp").
	Database string
}

// state is what the cluster directory remembers between runs.
type state struct {
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
}

func (c *Cluster) dataDir() string   { return filepath.Join(c.Dir, "data") }
func (c *Cluster) stateFile() string { return filepath.Join(c.Dir, "cluster.json") }
func (c *Cluster) logFile() string   { return filepath.Join(c.Dir, "postgres.log") }

func (c *Cluster) database() string {
	if c.Database == "" {
		return "cdp"
	}
	return c.Database
}

// Start creates the cluster if it does not exist, starts it if it is not
// running, creates the database, and returns its connection URL. Concurrent
// callers (several test processes) are serialised by a lock file.
func (c *Cluster) Start(ctx context.Context) (string, error) {
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", fmt.Errorf("cluster directory: %w", err)
	}
	c.Dir = dir
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("cluster directory: %w", err)
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	r, err := c.runner()
	if err != nil {
		return "", err
	}
	st, err := c.readState()
	if errors.Is(err, os.ErrNotExist) {
		if st, err = c.create(ctx, r); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if !c.running(ctx, r) {
		if err := c.start(ctx, r, &st); err != nil {
			return "", err
		}
	}
	if err := c.createDatabase(ctx, r, st); err != nil {
		return "", err
	}
	return st.url(c.database()), nil
}

// URL returns the connection URL of the database without starting anything.
func (c *Cluster) URL() (string, error) {
	st, err := c.readState()
	if err != nil {
		return "", err
	}
	return st.url(c.database()), nil
}

// Stop stops the cluster if it is running and reports whether it was.
func (c *Cluster) Stop(ctx context.Context) (bool, error) {
	// Absolute, as Start makes it: pg_ctl runs from elsewhere, and a
	// relative directory (the default .cdp) named nothing it could find.
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return false, fmt.Errorf("cluster directory: %w", err)
	}
	c.Dir = dir
	if _, err := os.Stat(c.dataDir()); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	r, err := c.runner()
	if err != nil {
		return false, err
	}
	if !c.running(ctx, r) {
		return false, nil
	}
	if out, err := r.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return true, fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return true, nil
}

func (s state) url(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.User, s.Password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (c *Cluster) readState() (state, error) {
	data, err := os.ReadFile(c.stateFile())
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil || st.Port == 0 || st.User == "" {
		return state{}, fmt.Errorf("cluster state %s is damaged; remove %s to start over", c.stateFile(), c.Dir)
	}
	return st, nil
}

func (c *Cluster) writeState(r *runner, st state) error {
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(c.stateFile(), data, 0o600); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return r.own(c.stateFile())
}

// create runs initdb in a fresh directory.
func (c *Cluster) create(ctx context.Context, r *runner) (state, error) {
	if _, err := os.Stat(c.dataDir()); err == nil {
		return state{}, fmt.Errorf("%s exists but %s does not; remove %s to start over", c.dataDir(), c.stateFile(), c.Dir)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return state{}, fmt.Errorf("cluster directory: %w", err)
	}
	if err := r.own(c.Dir); err != nil {
		return state{}, err
	}
	if err := r.checkReachable(c.Dir); err != nil {
		return state{}, err
	}
	pw := make([]byte, 24)
	rand.Read(pw)
	st := state{User: "cdp", Password: base64.RawURLEncoding.EncodeToString(pw)}
	pwFile := filepath.Join(c.Dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(st.Password+"\n"), 0o600); err != nil {
		return state{}, fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwFile)
	if err := r.own(pwFile); err != nil {
		return state{}, err
	}
	out, err := r.run(ctx, "initdb", "-D", c.dataDir(), "-U", st.User, "--pwfile="+pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync")
	if err != nil {
		os.RemoveAll(c.dataDir())
		return state{}, fmt.Errorf("initdb: %w: %s", err, out)
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = ''",
		"max_connections = 200",
		"log_min_messages = warning",
		// Statements and error details may carry values: keep them out of the log.
		"log_min_error_statement = panic",
		"log_error_verbosity = terse",
		"log_checkpoints = off",
		"log_line_prefix = '%m [%p] '",
		// A customer data platform loads millions of rows at once: memory
		// for the working set and room between checkpoints, so that a
		// load is not a stream of full-page writes.
		"shared_buffers = '1GB'",
		"effective_cache_size = '8GB'",
		"maintenance_work_mem = '512MB'",
		"work_mem = '32MB'",
		"max_wal_size = '8GB'",
		"checkpoint_timeout = '15min'",
		// Full-page images compressed with lz4 where the server has it:
		// pglz ("on") cost an interaction import 13% of PostgreSQL's CPU
		// for the same volume of WAL (perf, 2026-12-03).
		"wal_compression = " + walCompression(r.bin),
	}
	if c.Fast {
		conf = append(conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off")
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return state{}, fmt.Errorf("configure cluster: %w", err)
	}
	_, err = f.WriteString("\n# cdp private cluster\n" + strings.Join(conf, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return state{}, fmt.Errorf("configure cluster: %w", err)
	}
	if st.Port, err = freePort(); err != nil {
		return state{}, err
	}
	return st, c.writeState(r, st)
}

func (c *Cluster) running(ctx context.Context, r *runner) bool {
	_, err := r.run(ctx, "pg_ctl", "-D", c.dataDir(), "status")
	return err == nil
}

// start starts the server, moving to another free port if its port has been
// taken since the cluster was created.
func (c *Cluster) start(ctx context.Context, r *runner, st *state) error {
	if !portFree(st.Port) {
		port, err := freePort()
		if err != nil {
			return err
		}
		st.Port = port
		if err := c.writeState(r, *st); err != nil {
			return err
		}
	}
	out, err := r.runDetached(ctx, "pg_ctl", "-D", c.dataDir(), "-l", c.logFile(),
		"-o", "-p "+strconv.Itoa(st.Port), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start (log: %s): %w: %s", c.logFile(), err, out)
	}
	return nil
}

func (c *Cluster) createDatabase(ctx context.Context, r *runner, st state) error {
	if c.database() == "postgres" {
		return nil // initdb made it
	}
	out, err := r.runEnv(ctx, []string{"PGPASSWORD=" + st.Password}, "createdb",
		"-h", "127.0.0.1", "-p", strconv.Itoa(st.Port), "-U", st.User, c.database())
	if err != nil && !bytes.Contains(out, []byte("already exists")) {
		return fmt.Errorf("createdb: %w: %s", err, out)
	}
	return nil
}

// runner runs PostgreSQL programs, as the postgres system user when the
// caller is root.
type runner struct {
	bin  string
	cred *syscall.Credential // nil: run as the caller
}

func (c *Cluster) runner() (*runner, error) {
	bin := c.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	r := &runner{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses to run as root: need a 'postgres' system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return r, nil
}

func (r *runner) command(ctx context.Context, extraEnv []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, name), args...)
	cmd.Env = append([]string{"PATH=" + r.bin + ":/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}, extraEnv...)
	cmd.Dir = "/"
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

func (r *runner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return r.runEnv(ctx, nil, name, args...)
}

func (r *runner) runEnv(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	return r.command(ctx, env, name, args...).CombinedOutput()
}

// runDetached runs a program in a session of its own, so that the server
// it starts outlives the caller and does not receive the terminal's signals.
func (r *runner) runDetached(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := r.command(ctx, nil, name, args...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	// Not CombinedOutput: the server inherits the output pipes and keeps
	// them open; a file does not make the caller wait.
	out, err := os.CreateTemp("", "cdp-pgctl-*.out")
	if err != nil {
		return nil, fmt.Errorf("pg_ctl output: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	msg, _ := os.ReadFile(out.Name())
	return msg, err
}

// own gives a path to the user PostgreSQL runs as.
func (r *runner) own(path string) error {
	if r.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", path, err)
	}
	return nil
}

// checkReachable makes sure the postgres user can reach dir: every parent
// directory must let it pass. A parent that does not gets the search bit for
// others (o+x: pass through, not list), and the change is reported.
func (r *runner) checkReachable(dir string) error {
	if r.cred == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		passable := info.Mode().Perm()&0o001 != 0 ||
			ok && st.Uid == r.cred.Uid && info.Mode().Perm()&0o100 != 0 ||
			ok && st.Gid == r.cred.Gid && info.Mode().Perm()&0o010 != 0
		if !passable {
			if err := os.Chmod(p, info.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("the postgres user cannot reach %s and %s cannot be opened to it: %w", dir, p, err)
			}
			fmt.Fprintf(os.Stderr, "cdp: let the postgres user pass through %s (chmod o+x) to reach its cluster\n", p)
		}
		if p == "/" || p == filepath.Dir(p) {
			return nil
		}
	}
}

var versionRe = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// FindBinDir finds the directory of a PostgreSQL 15+ installation: the one
// holding pg_ctl on PATH, else the newest /usr/lib/postgresql/<v>/bin.
func FindBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real // /usr/local/bin/pg_ctl may link into the installation
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	for _, d := range candidates {
		out, err := exec.Command(filepath.Join(d, "pg_ctl"), "--version").Output()
		if err != nil {
			continue
		}
		m := versionRe.FindSubmatch(out)
		if m == nil {
			continue
		}
		if v, _ := strconv.Atoi(string(m[1])); v >= MinVersion && hasPrograms(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: install it (Debian: apt-get install postgresql) or set CDP_PG_BIN", ErrNoPostgres)
}

// hasPrograms reports whether dir holds every program localpg and the tests use.
func hasPrograms(dir string) bool {
	for _, p := range []string{"initdb", "pg_ctl", "createdb", "pg_dump"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}

// walCompression is lz4 when the server was built with it (pg_config
// says so), else pglz.
func walCompression(binDir string) string {
	out, err := exec.Command(filepath.Join(binDir, "pg_config"), "--configure").Output()
	if err == nil && strings.Contains(string(out), "--with-lz4") {
		return "lz4"
	}
	return "on"
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// lockFile takes an exclusive lock on path, waiting for other holders.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
