package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/consent"
)

const purposeColumns = `id, description, legal_basis, requires_consent, allows_objection, default_state, retention_days, sharing, departments, created_at`

func scanPurpose(r pgx.CollectableRow) (consent.Purpose, error) {
	var p consent.Purpose
	err := r.Scan(&p.ID, &p.Description, &p.LegalBasis, &p.RequiresConsent, &p.AllowsObjection, &p.DefaultState,
		&p.RetentionDays, &p.Sharing, &p.Departments, &p.CreatedAt)
	return p, err
}

// Purposes returns the purpose catalogue.
func (db *DB) Purposes(ctx context.Context) ([]consent.Purpose, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+purposeColumns+` FROM purposes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("purposes: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanPurpose)
	if err != nil {
		return nil, fmt.Errorf("purposes: %w", err)
	}
	return out, nil
}

// departments are a purpose's departments as the column takes them: an
// empty array, never NULL.
func departments(p consent.Purpose) []string {
	if p.Departments == nil {
		return []string{}
	}
	return p.Departments
}

// CreatePurpose adds a purpose (validated by the caller); ErrConflict when
// its id is taken.
func (db *DB) CreatePurpose(ctx context.Context, p consent.Purpose) (consent.Purpose, error) {
	rows, err := db.pool.Query(ctx, `INSERT INTO purposes (id, description, legal_basis, requires_consent, allows_objection,
		default_state, retention_days, sharing, departments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+purposeColumns,
		p.ID, p.Description, p.LegalBasis, p.RequiresConsent, p.AllowsObjection, p.DefaultState, p.RetentionDays, p.Sharing, departments(p))
	if err != nil {
		return p, fmt.Errorf("create purpose: %w", err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanPurpose)
	if isUniqueViolation(err) {
		return p, fmt.Errorf("purpose %s exists already: %w", p.ID, ErrConflict)
	}
	if err != nil {
		return p, fmt.Errorf("create purpose: %w", err)
	}
	return out, nil
}

// UpdatePurpose changes a purpose's description, retention and flags. Its
// legal basis may change only while nobody has said anything about it:
// events recorded under one basis do not carry over to another.
func (db *DB) UpdatePurpose(ctx context.Context, p consent.Purpose) (consent.Purpose, error) {
	var out consent.Purpose
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var basis string
		err := tx.QueryRow(ctx, "SELECT legal_basis FROM purposes WHERE id = $1 FOR UPDATE", p.ID).Scan(&basis)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("purpose %s: %w", p.ID, consent.ErrUnknownPurpose)
		}
		if err != nil {
			return err
		}
		if basis != string(p.LegalBasis) {
			var used bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM consent_events WHERE purpose = $1)", p.ID).Scan(&used); err != nil {
				return err
			}
			if used {
				return fmt.Errorf("purpose %s has consent events under the legal basis %s; create a new purpose instead: %w", p.ID, basis, ErrConflict)
			}
		}
		rows, err := tx.Query(ctx, `UPDATE purposes SET description = $2, legal_basis = $3, requires_consent = $4,
			allows_objection = $5, default_state = $6, retention_days = $7, sharing = $8, departments = $9 WHERE id = $1 RETURNING `+purposeColumns,
			p.ID, p.Description, p.LegalBasis, p.RequiresConsent, p.AllowsObjection, p.DefaultState, p.RetentionDays, p.Sharing, departments(p))
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanPurpose)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("update purpose: %w", err)
	}
	return out, nil
}

const noticeColumns = `purpose, version, text, sha256, effective_at, published_at, published_by`

func scanNotice(r pgx.CollectableRow) (consent.Notice, error) {
	var n consent.Notice
	err := r.Scan(&n.Purpose, &n.Version, &n.Text, &n.SHA256, &n.EffectiveAt, &n.PublishedAt, &n.PublishedBy)
	return n, err
}

// Notices returns every published version of a purpose's notice, oldest
// first.
func (db *DB) Notices(ctx context.Context, purpose string) ([]consent.Notice, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+noticeColumns+` FROM notices WHERE purpose = $1 ORDER BY version`, purpose)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanNotice)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return out, nil
}

// CurrentNotices returns, per purpose, the notice version in effect at t
// (the latest one effective by then).
func (db *DB) CurrentNotices(ctx context.Context, t time.Time) (map[string]consent.Notice, error) {
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT ON (purpose) `+noticeColumns+` FROM notices
		WHERE effective_at <= $1 ORDER BY purpose, effective_at DESC, version DESC`, t)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	ns, err := pgx.CollectRows(rows, scanNotice)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	out := make(map[string]consent.Notice, len(ns))
	for _, n := range ns {
		out[n.Purpose] = n
	}
	return out, nil
}

// PublishNotice stores a new version of a purpose's notice and returns it
// with its version number.
func (db *DB) PublishNotice(ctx context.Context, n consent.Notice) (consent.Notice, error) {
	for attempt := 0; ; attempt++ {
		rows, err := db.pool.Query(ctx, `INSERT INTO notices (purpose, version, text, sha256, effective_at, published_by)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM notices WHERE purpose = $1
			RETURNING `+noticeColumns, n.Purpose, n.Text, n.SHA256, n.EffectiveAt, n.PublishedBy)
		if err != nil {
			return n, fmt.Errorf("publish notice: %w", err)
		}
		out, err := pgx.CollectExactlyOneRow(rows, scanNotice)
		switch {
		case isUniqueViolation(err) && attempt < 3:
			continue // another version was published at the same moment
		case isForeignKeyViolation(err):
			return n, fmt.Errorf("purpose %s: %w", n.Purpose, consent.ErrUnknownPurpose)
		case err != nil:
			return n, fmt.Errorf("publish notice: %w", err)
		}
		return out, nil
	}
}

const consentColumns = `e.id, e.record_id, e.purpose, e.state, coalesce(e.notice_version, 0), e.method, e.origin, e.actor, e.at, e.basis,
	e.recorded_at, e.expires_at, e.conflict, e.evidence`

func scanConsent(r pgx.CollectableRow) (consent.Event, error) {
	var e consent.Event
	var id, rec [16]byte
	var basis [][16]byte
	err := r.Scan(&id, &rec, &e.Purpose, &e.State, &e.NoticeVersion, &e.Method, &e.Origin, &e.Actor, &e.At, &basis,
		&e.RecordedAt, &e.ExpiresAt, &e.Conflict, &e.Evidence)
	e.ID, e.Record, e.Basis = id, rec, fromUUIDsOrNil(basis)
	return e, err
}

// AppendConsent records events; they are never changed afterwards. A
// notice version that does not exist for the purpose is
// consent.ErrUnknownNotice, and nothing is written.
//
// The records the events are on are locked FOR KEY SHARE first, as a key
// would, and their profiles before them: an erasure that locked one (it
// locks the profile, then its records, before reading their events, to
// keep the person's refusals) is waited for, and then the record is
// gone: ErrConflict, nothing written, to be tried again on the person's
// records as they are now. Without the lock, a statement committed while
// the erasure ran landed on an erased record and was lost to the person.
func (db *DB) AppendConsent(ctx context.Context, events []consent.Event) error {
	var records [][16]byte
	for _, e := range events {
		if !slices.Contains(records, [16]byte(e.Record)) {
			records = append(records, e.Record)
		}
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// In the erasure's order (the profiling lock, profiles, records):
		// a refusal's trigger stops profiling, which references the
		// profile, and an erasure holds the profile before the records.
		var locked int
		b := &pgx.Batch{}
		b.Queue("SELECT " + profilingLockSharedCall)
		b.Queue(`SELECT 1 FROM profiles WHERE id IN (SELECT profile_id FROM profile_members WHERE record_id = ANY($1))
			ORDER BY id FOR KEY SHARE`, records)
		b.Queue(`SELECT count(*) FROM (SELECT 1 FROM records WHERE id = ANY($1) ORDER BY id FOR KEY SHARE) l`, records).
			QueryRow(func(row pgx.Row) error { return row.Scan(&locked) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if locked < len(records) {
			return fmt.Errorf("a record of the statement no longer exists (erased meanwhile): %w", ErrConflict)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"consent_events"}, consentCopyColumns, consentCopy(events))
		return err
	})
	if isForeignKeyViolation(err) {
		return fmt.Errorf("record consent: %w", consent.ErrUnknownNotice)
	}
	if err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	return nil
}

var consentCopyColumns = []string{"id", "record_id", "purpose", "state", "notice_version", "method", "origin", "actor", "at",
	"expires_at", "conflict", "evidence", "basis"}

// noticeVersion is an event's notice version as stored: NULL when no
// notice applies.
func noticeVersion(e *consent.Event) *int {
	if e.NoticeVersion > 0 {
		return &e.NoticeVersion
	}
	return nil
}

func consentCopy(events []consent.Event) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
		e := &events[i]
		return []any{[16]byte(e.ID), [16]byte(e.Record), e.Purpose, string(e.State), noticeVersion(e), string(e.Method), e.Origin,
			e.Actor, e.At, e.ExpiresAt, e.Conflict, e.Evidence, uuids(e.Basis)}, nil
	})
}

// ConsentEvents returns the events attached to the given records.
func (db *DB) ConsentEvents(ctx context.Context, records []uuid.UUID) ([]consent.Event, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+consentColumns+` FROM consent_events e WHERE e.record_id = ANY($1)`, uuids(records))
	if err != nil {
		return nil, fmt.Errorf("consent events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanConsent)
	if err != nil {
		return nil, fmt.Errorf("consent events: %w", err)
	}
	return out, nil
}

// ConsentConflicts lists the conflicts of merges for the DPO, newest first.
func (db *DB) ConsentConflicts(ctx context.Context, limit int) ([]consent.Conflict, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+consentColumns+`, coalesce(m.profile_id, '00000000-0000-0000-0000-000000000000')
		FROM consent_events e LEFT JOIN profile_members m ON m.record_id = e.record_id
		WHERE e.conflict ORDER BY e.recorded_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("consent conflicts: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanConflict)
	if err != nil {
		return nil, fmt.Errorf("consent conflicts: %w", err)
	}
	return out, nil
}

// scanConflict reads consentColumns and a profile id.
func scanConflict(r pgx.CollectableRow) (consent.Conflict, error) {
	var c consent.Conflict
	var id, rec, profile [16]byte
	var basis [][16]byte
	err := r.Scan(&id, &rec, &c.Purpose, &c.State, &c.NoticeVersion, &c.Method, &c.Origin, &c.Actor, &c.At, &basis,
		&c.RecordedAt, &c.ExpiresAt, &c.Conflict, &c.Evidence, &profile)
	c.ID, c.Record, c.ProfileID, c.Basis = id, rec, profile, fromUUIDsOrNil(basis)
	return c, err
}

// RecordKey returns the wrapped subject key of a record and its KEK.
func (db *DB) RecordKey(ctx context.Context, id uuid.UUID) (kek int32, wrapped []byte, err error) {
	err = db.pool.QueryRow(ctx, "SELECT kek_id, wrapped_key FROM records WHERE id = $1 AND wrapped_key IS NOT NULL", [16]byte(id)).Scan(&kek, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("record key: %w", err)
	}
	return kek, wrapped, nil
}

// RecordBySourceKey finds a record by its source and the blind index of
// the source's own id.
func (db *DB) RecordBySourceKey(ctx context.Context, source string, sourceKey []byte) (uuid.UUID, error) {
	var id [16]byte
	err := db.pool.QueryRow(ctx, "SELECT id FROM records WHERE source = $1 AND source_key = $2 AND wrapped_key IS NOT NULL",
		source, sourceKey).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("no record of source %s with that id: %w", source, ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("find record: %w", err)
	}
	return id, nil
}

// RecordProfile returns the profile a record belongs to.
func (db *DB) RecordProfile(ctx context.Context, record uuid.UUID) (uuid.UUID, error) {
	var id [16]byte
	err := db.pool.QueryRow(ctx, "SELECT profile_id FROM profile_members WHERE record_id = $1", [16]byte(record)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("record %s belongs to no profile: %w", record, ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("record profile: %w", err)
	}
	return id, nil
}

// CustomerLink returns the record a Kratos identity is linked to.
func (db *DB) CustomerLink(ctx context.Context, identity uuid.UUID) (uuid.UUID, error) {
	var rec [16]byte
	err := db.pool.QueryRow(ctx, "SELECT record_id FROM customer_links WHERE kratos_identity = $1", [16]byte(identity)).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("identity %s: %w", identity, ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("customer link: %w", err)
	}
	return rec, nil
}

// LinkCustomer links a Kratos identity to a record and notes it in the
// lineage of the record's profile. A link made meanwhile by another
// request wins: the record it names is returned.
func (db *DB) LinkCustomer(ctx context.Context, identity, record uuid.UUID, emailIndex []byte, how string) (uuid.UUID, error) {
	var linked [16]byte
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO customer_links (kratos_identity, record_id, email_index, how) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kratos_identity) DO UPDATE SET kratos_identity = EXCLUDED.kratos_identity RETURNING record_id`,
			[16]byte(identity), [16]byte(record), emailIndex, how).Scan(&linked)
		if err != nil {
			return err
		}
		if uuid.UUID(linked) != record {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO profile_events (profile_id, kind, record_id, run_id)
			SELECT profile_id, 'identity_linked', record_id, $2 FROM profile_members WHERE record_id = $1`,
			[16]byte(record), [16]byte(uuid.Must(uuid.NewV7())))
		return err
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("link customer: %w", err)
	}
	return linked, nil
}

// RecordsByIndex returns the records holding a blind index of an email
// address or phone number, oldest first, with their profiles.
func (db *DB) RecordsByIndex(ctx context.Context, kind string, sum []byte, limit int) (records, profiles []uuid.UUID, err error) {
	var column string
	switch kind {
	case "email":
		column = "email_index"
	case "phone":
		column = "phone_index"
	default:
		return nil, nil, fmt.Errorf("lookup by %q: %w", kind, ErrInvalid)
	}
	rows, err := db.pool.Query(ctx, `SELECT r.id, m.profile_id FROM records r JOIN profile_members m ON m.record_id = r.id
		WHERE r.`+column+` = $1 AND r.wrapped_key IS NOT NULL ORDER BY r.id LIMIT $2`, sum, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("lookup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r, p [16]byte
		if err := rows.Scan(&r, &p); err != nil {
			return nil, nil, fmt.Errorf("lookup: %w", err)
		}
		records, profiles = append(records, r), append(profiles, p)
	}
	return records, profiles, rows.Err()
}

// ConsentMonths counts the statements made since, by month, purpose and
// state (merges' reconciliations and refusals carried from erased records
// left out: nobody said them then).
func (db *DB) ConsentMonths(ctx context.Context, since time.Time) ([]consent.MonthCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT date_trunc('month', at), purpose, state, count(*) FROM consent_events
		WHERE at >= $1 AND method NOT IN ('merge', 'carried') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, since)
	if err != nil {
		return nil, fmt.Errorf("consent months: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (consent.MonthCount, error) {
		var m consent.MonthCount
		var st string
		err := r.Scan(&m.Month, &m.Purpose, &st, &m.N)
		m.State = consent.State(st)
		return m, err
	})
}
