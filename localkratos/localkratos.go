// Package localkratos runs a private Ory Kratos (bin/kratos, built from
// tools/kratos by `make kratos`) as a child process, for development
// (`cdp serve --dev`) and the tests: configured from the repository's
// tools/kratos/kratos.yml, with its ports, its database and, when cdp's
// pages are its self-service UI, the URLs of those pages and of the
// development mailbox its courier delivers mail to. The process dies with
// its parent (Pdeathsig), so nothing is left running.
//
// localkratos runs programs; it speaks no SQL and serves nothing itself.
package localkratos

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a Kratos. Every field is optional.
type Options struct {
	// Bin is the kratos binary (default: CDP_KRATOS_BIN, else
	// <repository>/bin/kratos).
	Bin string
	// PublicPort and AdminPort are the ports on 127.0.0.1 (0: free ones).
	PublicPort, AdminPort int
	// DataDir keeps Kratos's SQLite database (empty: in memory, gone when
	// Kratos stops).
	DataDir string
	// UI is the base URL of cdp, whose pages (/privacy/...) render the
	// browser flows and whose development mailbox (/dev/courier) receives
	// the mail, with MailToken as its bearer token.
	UI        string
	MailToken string
	// Log receives Kratos's output (default: kept, shown when it fails
	// to start).
	Log io.Writer
}

// Server is a running Kratos.
type Server struct {
	PublicURL string
	AdminURL  string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// Root finds the repository: the directory above the working directory
// that holds tools/kratos/kratos.yml.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "tools", "kratos", "kratos.yml")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no tools/kratos/kratos.yml above %s", dir)
		}
	}
}

// Start starts Kratos and waits until it is ready (at most a minute).
func Start(o Options) (*Server, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	bin := o.Bin
	if bin == "" {
		bin = os.Getenv("CDP_KRATOS_BIN")
	}
	if bin == "" {
		bin = filepath.Join(root, "bin", "kratos")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: build it with `make kratos`: %w", bin, err)
	}
	for _, p := range []*int{&o.PublicPort, &o.AdminPort} {
		if *p == 0 {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	s := &Server{
		PublicURL: "http://127.0.0.1:" + strconv.Itoa(o.PublicPort),
		AdminURL:  "http://127.0.0.1:" + strconv.Itoa(o.AdminPort),
		exited:    make(chan struct{}),
	}
	env := append(os.Environ(),
		"SERVE_PUBLIC_PORT="+strconv.Itoa(o.PublicPort), "SERVE_PUBLIC_BASE_URL="+s.PublicURL+"/",
		"SERVE_ADMIN_PORT="+strconv.Itoa(o.AdminPort), "SERVE_ADMIN_BASE_URL="+s.AdminURL+"/",
	)
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(o.DataDir)
		if err != nil {
			return nil, err
		}
		env = append(env, "DSN=sqlite://"+filepath.Join(abs, "kratos.sqlite")+"?_fk=true&mode=rwc")
	}
	if o.UI != "" {
		ui := strings.TrimSuffix(o.UI, "/")
		env = append(env,
			"SELFSERVICE_DEFAULT_BROWSER_RETURN_URL="+ui+"/privacy/",
			"SELFSERVICE_ALLOWED_RETURN_URLS="+ui,
			"SELFSERVICE_FLOWS_LOGOUT_AFTER_DEFAULT_BROWSER_RETURN_URL="+ui+"/privacy/",
			"COURIER_HTTP_REQUEST_CONFIG_URL="+ui+"/dev/courier",
			"COURIER_HTTP_REQUEST_CONFIG_AUTH_CONFIG_VALUE=Bearer "+o.MailToken,
		)
		for _, f := range []string{"error", "login", "registration", "verification", "recovery", "settings"} {
			env = append(env, "SELFSERVICE_FLOWS_"+strings.ToUpper(f)+"_UI_URL="+ui+"/privacy/"+f)
		}
	}
	logs := &buffer{}
	var out io.Writer = logs
	if o.Log != nil {
		out = io.MultiWriter(logs, o.Log)
	}
	if o.DataDir != "" {
		mig := exec.Command(bin, "migrate", "sql", "-e", "--yes", "-c", "tools/kratos/kratos.yml")
		mig.Dir, mig.Env, mig.Stdout, mig.Stderr = root, env, out, out
		if err := mig.Run(); err != nil {
			return nil, fmt.Errorf("kratos migrate: %w\n%s", err, logs.String())
		}
	}
	cmd := exec.Command(bin, "serve", "--dev", "--watch-courier", "-c", "tools/kratos/kratos.yml")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = root, env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	var werr error
	go func() { werr = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("kratos exited before it was ready: %v\n%s", werr, logs.String())
		default:
		}
		if ready(s.PublicURL) && ready(s.AdminURL) {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("kratos not ready after 60s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends Kratos.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func ready(base string) bool {
	resp, err := http.Get(base + "/health/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buffer keeps Kratos's output while it is written.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
