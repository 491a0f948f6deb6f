package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is every setting of cdp, parsed once from flags and CDP_*
// environment variables (a flag wins over its variable, a variable over the
// default) and passed down as a plain value.
type Config struct {
	DataDir           string
	DatabaseURL       string
	MigrateURL        string
	PGBin             string
	KeyFile           string
	RecipientsFile    string
	Listen            string
	LogLevel          string
	DefaultRegion     string
	DateOrder         string
	MaxBodyBytes      int
	BatchSize         int
	ShutdownTimeout   time.Duration
	AuditKeyFile      string
	PolicyDir         string
	AllowAuditOwner   bool
	GCPercent         int
	DBMaxConns        int
	MemoryLimit       string
	Survivorship      string
	KratosPublicURL   string
	KratosAdminURL    string
	StepUp            bool
	StaffSecondFactor bool
	JobTimeout        time.Duration
	JobRescueAfter    time.Duration
	RetentionEvery    time.Duration
	ProfilingEvery    time.Duration
	ProfilingTimeout  time.Duration
	LifecycleRules    string
	VIPShare          float64
	CLVHorizonWeeks   float64
	WebhookLocal      bool
	MaxRecordBytes    int
}

// setting describes one configuration value: its flag, its variable, its
// default and which group of commands uses it.
type setting struct {
	group string // "global", "db", "keys", "serve", "ingest", "policy"
	flag  string
	env   string
	def   string
	help  string
	bind  func(c *Config) any // pointer to the field
}

var settings = []setting{
	{"global", "data-dir", "CDP_DATA_DIR", ".cdp", "directory for local state: the private PostgreSQL cluster, development keys", func(c *Config) any { return &c.DataDir }},
	{"global", "memory-limit", "CDP_MEMORY_LIMIT", "1750MiB", "soft limit of the Go heap (GOMEMLIMIT wins when set): the garbage collector works harder near it, so resolving a million records stays under 2 GiB; raise it for larger runs (a live heap of about 0.45 GB per million records resolved in memory; `make bench-10m` resolves ten million through the database under 7GiB)", func(c *Config) any { return &c.MemoryLimit }},
	{"global", "log-level", "CDP_LOG_LEVEL", "info", "log level: debug, info, warn, error", func(c *Config) any { return &c.LogLevel }},
	{"db", "database-url", "CDP_DATABASE_URL", "", "PostgreSQL URL; empty: the private cluster under <data-dir>/pg, started on demand", func(c *Config) any { return &c.DatabaseURL }},
	{"db", "migrate-database-url", "CDP_MIGRATE_DATABASE_URL", "", "PostgreSQL URL of the schema's owner, for migrations; empty: CDP_DATABASE_URL, or the private cluster's owner", func(c *Config) any { return &c.MigrateURL }},
	{"db", "pg-bin", "CDP_PG_BIN", "", "directory of the PostgreSQL 15+ programs for the private cluster; empty: found on PATH or /usr/lib/postgresql", func(c *Config) any { return &c.PGBin }},
	{"keys", "key-file", "CDP_KEY_FILE", "", "age identity file of the master key; empty: <data-dir>/keys/master.key", func(c *Config) any { return &c.KeyFile }},
	{"keys", "recipients-file", "CDP_RECIPIENTS_FILE", "", "extra age recipients vault keys are also sealed to (escrow, next master key)", func(c *Config) any { return &c.RecipientsFile }},
	{"keys", "audit-key-file", "CDP_AUDIT_KEY_FILE", "", "ed25519 key (PEM) that signs audit checkpoints; empty: <data-dir>/keys/audit.key", func(c *Config) any { return &c.AuditKeyFile }},
	{"policy", "lifecycle-rules", "CDP_LIFECYCLE_RULES", "", "JSON array of lifecycle rules [{\"stage\": ..., \"condition\": CEL}], the first that holds wins and the last must be \"true\" (default: prospect, won_back, new, active, at_risk, lapsed)", func(c *Config) any { return &c.LifecycleRules }},
	{"policy", "vip-share", "CDP_VIP_SHARE", "0.8", "share of revenue the VIP tier brings: the smallest set of customers that brings it", func(c *Config) any { return &c.VIPShare }},
	{"policy", "clv-horizon-weeks", "CDP_CLV_HORIZON_WEEKS", "52", "weeks over which expected purchases and lifetime value are predicted", func(c *Config) any { return &c.CLVHorizonWeeks }},
	{"policy", "policy-dir", "CDP_POLICY_DIR", "", "directory of Rego files replacing the embedded access policy", func(c *Config) any { return &c.PolicyDir }},
	{"serve", "survivorship-file", "CDP_SURVIVORSHIP_FILE", "", "JSON object of attribute to survivorship rule (source_priority, most_recent, most_frequent, longest) over the defaults, e.g. {\"email\": \"source_priority\"}", func(c *Config) any { return &c.Survivorship }},
	{"kratos", "kratos-public-url", "CDP_KRATOS_PUBLIC_URL", "", "public API of the Ory Kratos that customers log in with (/v1/me); empty: customer routes answer 503", func(c *Config) any { return &c.KratosPublicURL }},
	{"serve", "staff-second-factor", "CDP_STAFF_SECOND_FACTOR", "true", "staff who read or change people's data (readers, stewards, the DPO, admins) sign in to the console with their second factor (TOTP); --dev turns it off", func(c *Config) any { return &c.StaffSecondFactor }},
	{"kratos", "kratos-admin-url", "CDP_KRATOS_ADMIN_URL", "", "admin API of that Kratos (never public): an erasure deletes the person's account through it; empty: the account is listed in the erasure's report, not deleted", func(c *Config) any { return &c.KratosAdminURL }},
	{"serve", "step-up", "CDP_STEP_UP", "false", "customers must log in with a second factor (Kratos AAL2) to request erasure, access or portability", func(c *Config) any { return &c.StepUp }},
	{"serve", "job-timeout", "CDP_JOB_TIMEOUT", "2m", "longest run of one request job", func(c *Config) any { return &c.JobTimeout }},
	{"serve", "job-rescue-after", "CDP_JOB_RESCUE_AFTER", "5m", "how long a job may stay running before it is taken as orphaned by a dead process and run again (more than the job timeout; a full computation of traits gets its own timeout first)", func(c *Config) any { return &c.JobRescueAfter }},
	{"serve", "retention-every", "CDP_RETENTION_EVERY", "24h", "period of the retention sweep, which erases records whose retention expired", func(c *Config) any { return &c.RetentionEvery }},
	{"serve", "profiling-every", "CDP_PROFILING_EVERY", "24h", "period of the full computation of traits and segments (0: none; stale profiles are then not refreshed either)", func(c *Config) any { return &c.ProfilingEvery }},
	{"serve", "profiling-timeout", "CDP_PROFILING_TIMEOUT", "15m", "longest run of one full computation of traits and segments, as a job", func(c *Config) any { return &c.ProfilingTimeout }},
	{"serve", "webhook-allow-local", "CDP_WEBHOOK_ALLOW_LOCAL", "false", "notices may go to loopback and private addresses over plain http (development and tests; --dev sets it)", func(c *Config) any { return &c.WebhookLocal }},
	{"serve", "allow-audit-owner", "CDP_ALLOW_AUDIT_OWNER", "false", "serve even when the database role could change the audit log (a single-role development database only)", func(c *Config) any { return &c.AllowAuditOwner }},
	{"serve", "gc-percent", "CDP_GC_PERCENT", "400", "Go garbage collector target (GOGC): the server allocates per request, and a higher target trades memory for CPU", func(c *Config) any { return &c.GCPercent }},
	{"db", "db-max-conns", "CDP_DB_MAX_CONNS", "16", "largest number of database connections of a process", func(c *Config) any { return &c.DBMaxConns }},
	{"serve", "listen", "CDP_LISTEN", "127.0.0.1:8080", "HTTP listen address", func(c *Config) any { return &c.Listen }},
	{"serve", "max-body-bytes", "CDP_MAX_BODY_BYTES", "16777216", "largest accepted request body", func(c *Config) any { return &c.MaxBodyBytes }},
	{"serve", "shutdown-timeout", "CDP_SHUTDOWN_TIMEOUT", "15s", "how long SIGTERM waits for running requests before it cancels them (running jobs get what is left, and at least 5s)", func(c *Config) any { return &c.ShutdownTimeout }},
	{"ingest", "default-region", "CDP_DEFAULT_REGION", "GB", "ISO 3166 region for phone numbers of records without a country", func(c *Config) any { return &c.DefaultRegion }},
	{"ingest", "date-order", "CDP_DATE_ORDER", "DMY", "how NN/NN/YYYY dates are read: DMY or MDY", func(c *Config) any { return &c.DateOrder }},
	{"ingest", "max-record-bytes", "CDP_MAX_RECORD_BYTES", "1048576", "largest CSV record an import reads (all its lines); a longer one, or a quote left open for longer, is rejected as its line and the import goes on", func(c *Config) any { return &c.MaxRecordBytes }},
	{"ingest", "batch-size", "CDP_BATCH_SIZE", "2000", "records written per transaction by imports", func(c *Config) any { return &c.BatchSize }},
}

// bindSettings registers the settings of the given groups on fs, with
// defaults taken from the environment. A malformed variable is an error.
func bindSettings(fs *flag.FlagSet, cfg *Config, getenv func(string) string, groups ...string) error {
	for _, s := range settings {
		if !slices.Contains(groups, s.group) {
			continue
		}
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		usage := fmt.Sprintf("%s (env %s)", s.help, s.env)
		switch p := s.bind(cfg).(type) {
		case *string:
			fs.StringVar(p, s.flag, def, usage)
		case *int:
			if err := (intValue{p}).Set(def); err != nil {
				return fmt.Errorf("%s: %w", s.env, err)
			}
			fs.Var(intValue{p}, s.flag, usage)
		case *bool:
			b, err := strconv.ParseBool(def)
			if err != nil {
				return fmt.Errorf("%s: want true or false, got %q", s.env, def)
			}
			fs.BoolVar(p, s.flag, b, usage)
		case *time.Duration:
			if err := (durationValue{p}).Set(def); err != nil {
				return fmt.Errorf("%s: %w", s.env, err)
			}
			fs.Var(durationValue{p}, s.flag, usage)
		}
	}
	return nil
}

type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive whole number, got %q", s)
	}
	*v.p = n
	return nil
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 15s, got %q", s)
	}
	*v.p = d
	return nil
}

// memoryLimit parses a size such as 3GiB, 512MiB or a number of bytes.
func memoryLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				break
			}
			return n * u.factor, nil
		}
	}
	return 0, fmt.Errorf("memory limit %q: want a size such as 3GiB or 512MiB", s)
}

// keyFile is the master key file in use.
func (c *Config) keyFile() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "keys", "master.key")
}

// auditKeyFile is the audit signing key file in use.
func (c *Config) auditKeyFile() string {
	if c.AuditKeyFile != "" {
		return c.AuditKeyFile
	}
	return filepath.Join(c.DataDir, "keys", "audit.key")
}

// printSettings writes the configuration table (cdp help config).
func printSettings(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", s.flag, s.env, def, s.help)
	}
	tw.Flush()
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
