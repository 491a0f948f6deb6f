package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cdp-project/cdp/dsr"
)

// SealedRecipient is a recipient with its HMAC secret sealed under its
// own key.
type SealedRecipient struct {
	dsr.Recipient
	KEK     int32
	Wrapped []byte
	Secret  []byte
}

// AddRecipient registers a recipient of notices.
func (db *DB) AddRecipient(ctx context.Context, r SealedRecipient) error {
	sources := r.Sources
	if sources == nil {
		sources = []string{}
	}
	events := r.Events
	if len(events) == 0 {
		events = []string{dsr.NoticeErasure, dsr.NoticeRectification}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO recipients (id, name, department, url, sources, kek_id, wrapped_key, secret, events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [16]byte(r.ID), r.Name, r.Department, r.URL, sources, r.KEK, r.Wrapped, r.Secret, events)
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("recipient %s exists already: %w", r.Name, ErrConflict)
	case isCheckViolation(err):
		return fmt.Errorf("recipient: a name of lower-case letters, digits, '-' and '_', and an http(s) URL: %w", ErrInvalid)
	case err != nil:
		return fmt.Errorf("add recipient: %w", err)
	}
	return nil
}

// RotateRecipientSecret gives a recipient a new signing secret, sealed by
// seal under the recipient's own key; the current one keeps signing
// beside it for overlap.
func (db *DB) RotateRecipientSecret(ctx context.Context, name string, overlap time.Duration,
	seal func(id uuid.UUID, kek int32, wrapped []byte) ([]byte, error)) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var id [16]byte
		var kek int32
		var wrapped []byte
		err := tx.QueryRow(ctx, "SELECT id, kek_id, wrapped_key FROM recipients WHERE name = $1 FOR UPDATE", name).Scan(&id, &kek, &wrapped)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("recipient %s: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("rotate secret: %w", err)
		}
		sealed, err := seal(id, kek, wrapped)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE recipients SET previous_secret = secret, previous_until = now() + $2, secret = $3 WHERE id = $1`,
			id, overlap, sealed)
		return err
	})
}

// Recipients lists the recipients, without their secrets.
func (db *DB) Recipients(ctx context.Context) ([]dsr.Recipient, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, department, url, sources, events, created_at, disabled_at FROM recipients ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dsr.Recipient, error) {
		var x dsr.Recipient
		var id [16]byte
		err := r.Scan(&id, &x.Name, &x.Department, &x.URL, &x.Sources, &x.Events, &x.CreatedAt, &x.DisabledAt)
		x.ID = id
		return x, err
	})
}

// CreateNotifications writes the notices of a request to every enabled
// recipient whose sources it concerns (or that wants every notice), once:
// run again, it adds none. It returns the request's notices. Finding the
// recipients still to notify and reading the notices are one round trip;
// when there is none to write (no recipient, or a job run again), that
// is all.
func (db *DB) CreateNotifications(ctx context.Context, request uuid.UUID, kind string, sources []string, payload func(id uuid.UUID, recipientSources []string) ([]byte, error)) ([]dsr.Notification, error) {
	type recipient struct {
		id      [16]byte
		sources []string
	}
	var todo []recipient
	var notices []dsr.Notification
	b := &pgx.Batch{}
	b.Queue(`SELECT id, sources FROM recipients r WHERE disabled_at IS NULL AND $3 = ANY(r.events)
		AND ($3 = 'request_filed' OR r.sources = '{}' OR r.sources && $1)
		AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.request_id = $2 AND n.recipient_id = r.id AND n.kind = $3)`,
		sources, [16]byte(request), kind).Query(func(rows pgx.Rows) error {
		var err error
		todo, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (recipient, error) {
			var x recipient
			return x, r.Scan(&x.id, &x.sources)
		})
		return err
	})
	b.Queue(notificationsSQL, [16]byte(request)).Query(func(rows pgx.Rows) error {
		var err error
		notices, err = pgx.CollectRows(rows, scanNotification)
		return err
	})
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	if len(todo) == 0 {
		return notices, nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		for _, rc := range todo {
			id := uuid.Must(uuid.NewV7())
			body, err := payload(id, rc.sources)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notifications (id, request_id, recipient_id, kind, payload) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (request_id, recipient_id, kind) DO NOTHING`, [16]byte(id), [16]byte(request), rc.id, kind, body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return db.Notifications(ctx, request)
}

const notificationColumns = `n.id, n.request_id, n.recipient_id, r.name, n.kind, n.status, n.attempts, n.last_error, n.delivered_at, n.acknowledged_at`

// notificationsSQL reads a request's notices ($1), by recipient.
const notificationsSQL = `SELECT ` + notificationColumns + ` FROM notifications n JOIN recipients r ON r.id = n.recipient_id
	WHERE n.request_id = $1 ORDER BY r.name`

func scanNotification(row pgx.CollectableRow) (dsr.Notification, error) {
	var n dsr.Notification
	var id, req, rec [16]byte
	err := row.Scan(&id, &req, &rec, &n.RecipientName, &n.Kind, &n.Status, &n.Attempts, &n.LastError, &n.DeliveredAt, &n.AcknowledgedAt)
	n.ID, n.Request, n.Recipient = id, req, rec
	return n, err
}

// Notifications lists a request's notices.
func (db *DB) Notifications(ctx context.Context, request uuid.UUID) ([]dsr.Notification, error) {
	rows, err := db.pool.Query(ctx, notificationsSQL, [16]byte(request))
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return out, nil
}

// Outgoing reads a notice with what delivering it needs.
func (db *DB) Outgoing(ctx context.Context, id uuid.UUID) (dsr.Outgoing, error) {
	var o dsr.Outgoing
	var nid, req, rec [16]byte
	err := db.pool.QueryRow(ctx, `SELECT n.id, n.request_id, n.recipient_id, r.name, n.kind, n.status, n.attempts, n.payload,
		r.url, r.kek_id, r.wrapped_key, r.secret, CASE WHEN r.previous_until > now() THEN r.previous_secret END
		FROM notifications n JOIN recipients r ON r.id = n.recipient_id WHERE n.id = $1`,
		[16]byte(id)).Scan(&nid, &req, &rec, &o.RecipientName, &o.Kind, &o.Status, &o.Attempts, &o.Payload, &o.URL, &o.KEK, &o.Wrapped,
		&o.Secret, &o.Previous)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("notice %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("notice: %w", err)
	}
	o.ID, o.Request, o.Recipient = nid, req, rec
	return o, nil
}

// NoticeAttempt records a delivery attempt: delivered, or why not.
func (db *DB) NoticeAttempt(ctx context.Context, id uuid.UUID, deliveryErr string) error {
	_, err := db.pool.Exec(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = $2,
		status = CASE WHEN $2 = '' AND status = 'pending' THEN 'delivered' ELSE status END,
		delivered_at = CASE WHEN $2 = '' THEN coalesce(delivered_at, now()) ELSE delivered_at END WHERE id = $1`, [16]byte(id), deliveryErr)
	if err != nil {
		return fmt.Errorf("notice attempt: %w", err)
	}
	return nil
}

// AcknowledgeNotice records a recipient's acknowledgement; department
// must be the recipient's ("" : the DPO's, any). It returns the request.
func (db *DB) AcknowledgeNotice(ctx context.Context, id uuid.UUID, department string) (uuid.UUID, error) {
	var req [16]byte
	err := db.pool.QueryRow(ctx, `UPDATE notifications n SET status = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now())
		FROM recipients r WHERE n.id = $1 AND r.id = n.recipient_id AND ($2 = '' OR r.department = $2) AND n.status <> 'overridden'
		RETURNING n.request_id`, [16]byte(id), department).Scan(&req)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("notice %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("acknowledge: %w", err)
	}
	return req, nil
}

// OverrideNotices settles a request's unacknowledged notices by the DPO's
// decision; it returns how many.
func (db *DB) OverrideNotices(ctx context.Context, request uuid.UUID) (int, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE notifications SET status = 'overridden' WHERE request_id = $1 AND status IN ('pending', 'delivered')`,
		[16]byte(request))
	if err != nil {
		return 0, fmt.Errorf("override notices: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// PendingNoticeIDs lists the notices not delivered yet, for the sweep.
func (db *DB) PendingNoticeIDs(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM notifications WHERE status = 'pending' ORDER BY created_at LIMIT 10000`)
	if err != nil {
		return nil, fmt.Errorf("pending notices: %w", err)
	}
	return pgx.CollectRows(rows, scanID)
}
