package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cdp-project/cdp/audit"
)

// AuditHead returns the last entry of the chain (see audit.Store). The
// service role reads it through audit_head(): it may not read the table.
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	var head audit.Head
	err := db.pool.QueryRow(ctx, "SELECT seq, hash FROM audit_head()").Scan(&head.Seq, &head.Hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head, fmt.Errorf("read audit head: %w", err)
	}
	return head, nil
}

var auditColumns = []string{
	"seq", "at", "principal_kind", "principal", "department", "action", "purpose", "profiles", "fields",
	"decision_id", "policy_revision", "request_id", "client", "outcome", "reason", "prev_hash", "hash",
}

// InsertAudit stores linked entries (see audit.Store) with one statement
// in one round trip (a COPY takes two): the entries are committed together
// or not at all, and every read waits for this commit. A sequence number
// already taken (another process appended first) is audit.ErrRace.
func (db *DB) InsertAudit(ctx context.Context, entries []audit.Entry) error {
	n := len(entries)
	var (
		seqs                                              = make([]int64, n)
		ats                                               = make([]time.Time, n)
		kinds, principals, departments, actions, purposes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		profiles, fields                                  = make([]string, n), make([]string, n)
		decisions, revisions, requests, clients           = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		outcomes, reasons                                 = make([]string, n), make([]string, n)
		prevs, hashes                                     = make([][]byte, n), make([][]byte, n)
	)
	err := db.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		// Each entry's profiles and fields go as one text array literal,
		// written by the connection's own array encoder.
		types := c.Conn().TypeMap()
		literal := func(values []string) (string, error) {
			b, err := types.Encode(pgtype.TextArrayOID, pgtype.TextFormatCode, nonNil(values), nil)
			return string(b), err
		}
		for i := range entries {
			e := &entries[i]
			for _, p := range e.Profiles {
				if _, err := uuid.Parse(p); err != nil {
					return fmt.Errorf("profile %q: %w", p, ErrInvalid)
				}
			}
			var err error
			if profiles[i], err = literal(e.Profiles); err != nil {
				return err
			}
			if fields[i], err = literal(e.Fields); err != nil {
				return err
			}
			seqs[i], ats[i], kinds[i], principals[i], departments[i] = e.Seq, e.At, e.PrincipalKind, e.Principal, e.Department
			actions[i], purposes[i] = e.Action, e.Purpose
			decisions[i], revisions[i], requests[i], clients[i] = e.DecisionID, e.PolicyRevision, e.RequestID, e.Client
			outcomes[i], reasons[i], prevs[i], hashes[i] = e.Outcome, e.Reason, e.Prev, e.Hash
		}
		_, err := c.Exec(ctx, `INSERT INTO audit_log (`+strings.Join(auditColumns, ", ")+`)
			SELECT seq, at, principal_kind, principal, department, action, purpose, profiles::uuid[], fields::text[],
				decision_id, policy_revision, request_id, client, outcome, reason, prev_hash, hash
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
				$16::bytea[], $17::bytea[])
			AS e(seq, at, principal_kind, principal, department, action, purpose, profiles, fields,
				decision_id, policy_revision, request_id, client, outcome, reason, prev_hash, hash)`,
			seqs, ats, kinds, principals, departments, actions, purposes, profiles, fields,
			decisions, revisions, requests, clients, outcomes, reasons, prevs, hashes)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("write audit entries: %w", audit.ErrRace)
	}
	if err != nil {
		return fmt.Errorf("write audit entries: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AppendCheckpoint stores a signed checkpoint.
func (db *DB) AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	// No ON CONFLICT: it needs SELECT, which the service role lacks. Two
	// processes may sign the same head; the first checkpoint stands.
	_, err := db.pool.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`,
		c.Seq, c.Hash, c.At, c.KeyID, c.Signature)
	if err != nil && !isUniqueViolation(err) {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	return nil
}

// auditSelect is the columns an audit query reads: those the log is
// written with, in the order its scan takes them.
var auditSelect = strings.Join(auditColumns, ", ")

// AuditEntries returns the entries matching q, in chain order.
func (db *DB) AuditEntries(ctx context.Context, q audit.Query) ([]audit.Entry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var rows pgx.Rows
	var err error
	if q.Profile != "" {
		id, perr := uuid.Parse(q.Profile)
		if perr != nil {
			return nil, fmt.Errorf("audit query profile %q: %w", q.Profile, ErrInvalid)
		}
		// Every id the profile ever had: the ids merged into it, and
		// theirs, follow the redirects backwards.
		rows, err = db.pool.Query(ctx, `WITH RECURSIVE ids(id) AS (
				SELECT $1::uuid UNION SELECT r.old_id FROM profile_redirects r JOIN ids ON r.new_id = ids.id)
			SELECT `+auditSelect+` FROM audit_search((SELECT array_agg(id) FROM ids), $2, $3, $4, $5, $6, $7, $8)`,
			[16]byte(id), nullString(q.Principal), nullString(q.Department), nullString(q.Purpose), nullTime(q.From), nullTime(q.To), q.After, limit)
	} else {
		rows, err = db.pool.Query(ctx, `SELECT `+auditSelect+` FROM audit_search(NULL, $1, $2, $3, $4, $5, $6, $7)`,
			nullString(q.Principal), nullString(q.Department), nullString(q.Purpose), nullTime(q.From), nullTime(q.To), q.After, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Entry, error) {
		var e audit.Entry
		var profiles [][16]byte
		err := r.Scan(&e.Seq, &e.At, &e.PrincipalKind, &e.Principal, &e.Department, &e.Action, &e.Purpose, &profiles,
			&e.Fields, &e.DecisionID, &e.PolicyRevision, &e.RequestID, &e.Client, &e.Outcome, &e.Reason, &e.Prev, &e.Hash)
		e.Profiles = make([]string, len(profiles))
		for i, p := range profiles {
			e.Profiles[i] = uuid.UUID(p).String()
		}
		if e.Fields == nil {
			e.Fields = []string{}
		}
		return e, err
	})
}

// AuditCheckpoints returns the signed checkpoints in order.
func (db *DB) AuditCheckpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := db.pool.Query(ctx, "SELECT seq, hash, at, key_id, signature FROM audit_checkpoint_list()")
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Checkpoint, error) {
		var c audit.Checkpoint
		err := r.Scan(&c.Seq, &c.Hash, &c.At, &c.KeyID, &c.Signature)
		return c, err
	})
}

// VerifyAudit walks the chain after the entry after (0: from the start)
// to its end with v, page by page.
func (db *DB) VerifyAudit(ctx context.Context, v *audit.Verifier, after int64) (audit.VerifyReport, error) {
	for {
		page, err := db.AuditEntries(ctx, audit.Query{After: after, Limit: 5000})
		if err != nil {
			return audit.VerifyReport{}, err
		}
		for i := range page {
			if err := v.Next(&page[i]); err != nil {
				return audit.VerifyReport{}, err
			}
		}
		if len(page) < 5000 {
			return v.Finish()
		}
		after = page[len(page)-1].Seq
	}
}

// AuditPrivileges reports whether the connected role could change the
// audit log; the service must not be able to.
func (db *DB) AuditPrivileges(ctx context.Context) (canModify bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT
		has_table_privilege('audit_log', 'UPDATE') OR has_table_privilege('audit_log', 'DELETE')
		OR has_table_privilege('audit_log', 'TRUNCATE')`).Scan(&canModify)
	if err != nil {
		return false, fmt.Errorf("audit privileges: %w", err)
	}
	return canModify, nil
}

// AppRoleExists reports whether the migrations have created the cdp_app
// role (roles belong to the cluster).
func (db *DB) AppRoleExists(ctx context.Context) (bool, error) {
	var ok bool
	if err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cdp_app')").Scan(&ok); err != nil {
		return false, fmt.Errorf("roles: %w", err)
	}
	return ok, nil
}

// EnsureServiceRole creates (or updates the password of) the login role the
// service connects as, a member of cdp_app. It needs a role that may create
// roles (the private cluster's owner). Roles belong to the cluster, so
// processes working on different databases may race: a lost race is
// retried.
func (db *DB) EnsureServiceRole(ctx context.Context, name, password string) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = db.ensureServiceRole(ctx, name, password); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return fmt.Errorf("service role %s: %w", name, err)
}

func (db *DB) ensureServiceRole(ctx context.Context, name, password string) error {
	ident := pgx.Identifier{name}.Sanitize()
	pw := "'" + escapeLiteral(password) + "'"
	var exists bool
	if err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	stmt := "CREATE ROLE " + ident + " LOGIN PASSWORD " + pw + " IN ROLE cdp_app"
	if exists {
		stmt = "ALTER ROLE " + ident + " LOGIN PASSWORD " + pw
	}
	if _, err := db.pool.Exec(ctx, stmt); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, "GRANT cdp_app TO "+ident)
	return err
}

func escapeLiteral(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
