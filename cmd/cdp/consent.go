package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/app"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/consent"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/postgres"
)

func consentImportCommand() command {
	return command{
		name: "consent import",
		args: "FILE",
		summary: "Record consents that departments collected, from CSV with a header: source, source_id, purpose, state " +
			"and optionally notice_version, method (department_form, call_centre, import), at, expires_at and evidence_* columns " +
			"(sealed). Each line is attached to the department's record, decided by the access policy as that department " +
			"and audited, like POST /v1/profiles/{id}/consents. Exits 3 when lines were rejected (the others are recorded); " +
			"a line that restates the current state is counted as unchanged. - reads standard input.",
		groups: []string{"db", "keys", "policy"},
		flags: func(fs *flag.FlagSet, cfg *Config) func(context.Context, *cli, []string) error {
			return cfg.withDB(func(ctx context.Context, cl *cli, args []string, db *postgres.DB) error {
				if len(args) != 1 {
					return fmt.Errorf("name one CSV file: %w", errUsage)
				}
				var in io.Reader = cl.stdin
				if args[0] != "-" {
					f, err := os.Open(args[0])
					if err != nil {
						return err
					}
					defer f.Close()
					in = f
				}
				return importConsent(ctx, cl, cfg, db, in)
			})
		},
	}
}

// consentSummary counts what an import did.
type consentSummary struct {
	Recorded, Unchanged, Rejected int
}

func importConsent(ctx context.Context, cl *cli, cfg *Config, db *postgres.DB, in io.Reader) error {
	a, err := cfg.openApp(ctx, db)
	if err != nil {
		return err
	}
	defer a.Close()
	sum, err := recordConsents(ctx, cl, a, in, cliActor())
	fmt.Fprintf(cl.stdout, "recorded %d, unchanged %d, rejected %d\n", sum.Recorded, sum.Unchanged, sum.Rejected)
	if err != nil {
		return err
	}
	if sum.Rejected > 0 {
		return errRejected
	}
	return nil
}

// recordConsents records the statements of a consent import, each as the
// department of its source, through access; rejected lines are printed.
func recordConsents(ctx context.Context, cl *cli, a *app.App, in io.Reader, actor string) (consentSummary, error) {
	db, v, svc := a.DB, a.Vault, a.Access
	sources, err := db.Sources(ctx)
	if err != nil {
		return consentSummary{}, err
	}
	dept := map[string]string{}
	for _, s := range sources {
		dept[s.Name] = s.Department
	}
	run := uuid.Must(uuid.NewV7()).String()
	var sum consentSummary
	reject := func(line int, reason string) {
		sum.Rejected++
		fmt.Fprintf(cl.stderr, "line %d: %s\n", line, reason)
	}
	err = consent.ReadCSV(in, func(row consent.Row, rerr error) error {
		var re *consent.RowError
		if errors.As(rerr, &re) {
			reject(re.Line, re.Reason)
			return nil
		}
		d, ok := dept[row.Source]
		if !ok {
			reject(row.Line, fmt.Sprintf("source %q is not registered", row.Source))
			return nil
		}
		if len(row.SourceID) > ingest.MaxSourceIDBytes {
			reject(row.Line, fmt.Sprintf("source_id: longer than %d bytes", ingest.MaxSourceIDBytes))
			return nil
		}
		record, err := db.RecordBySourceKey(ctx, row.Source, v.Index().SourceKey(row.SourceID))
		if errors.Is(err, derrors.ErrNotFound) {
			reject(row.Line, "no record of "+row.Source+" has this source_id (import the record first)")
			return nil
		}
		if err != nil {
			return err
		}
		profile, err := db.RecordProfile(ctx, record)
		if errors.Is(err, derrors.ErrNotFound) {
			reject(row.Line, "the record is not linked to a profile yet (run `cdp resolve`)")
			return nil
		}
		if err != nil {
			return err
		}
		method := row.Method
		if method == "" {
			method = consent.MethodImport
		}
		req := access.Request{
			Principal: auth.Principal{Kind: auth.Staff, ID: actor, Department: d, Roles: []auth.Role{auth.RoleIngest}},
			RequestID: fmt.Sprintf("consent-import-%s-%d", run, row.Line),
		}
		st := access.Statement{Purpose: row.Purpose, State: row.State, NoticeVersion: row.NoticeVersion, Method: method,
			At: row.At, ExpiresAt: row.ExpiresAt, Evidence: row.Evidence, Record: record}
		_, err = svc.RecordConsent(ctx, req, profile, st)
		switch {
		case err == nil:
			sum.Recorded++
		case errors.Is(err, access.ErrUnchanged):
			sum.Unchanged++
		case errors.Is(err, derrors.ErrUnavailable):
			return err // the audit log or the policy failed: stop, nothing more is recorded
		case errors.Is(err, derrors.ErrInvalid), errors.Is(err, derrors.ErrUnprocessable), errors.Is(err, derrors.ErrNotFound),
			errors.Is(err, derrors.ErrForbidden), errors.Is(err, derrors.ErrConflict):
			reject(row.Line, err.Error())
		default:
			return err
		}
		return nil
	})
	return sum, err
}
