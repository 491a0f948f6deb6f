package requests

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/cdp-project/cdp/vault"
)

// DeliverNotice delivers one notice, signed with its recipient's secret;
// an error makes its job try again later.
func (s *Service) Deliver(ctx context.Context, id uuid.UUID) error {
	o, err := s.store.Outgoing(ctx, id)
	if err != nil {
		return err
	}
	if o.Status != dsr.NoticePending {
		return nil
	}
	secrets, err := OpenSecrets(s.vault, o.Recipient, o.KEK, o.Wrapped, o.Secret, o.Previous)
	if err != nil {
		return err
	}
	derr := s.sender.Deliver(ctx, o.URL, id.String(), secrets, o.Payload)
	msg := ""
	if derr != nil {
		msg = derr.Error()
	}
	if err := s.store.NoticeAttempt(ctx, id, msg); err != nil {
		return err
	}
	return derr
}

// AcknowledgeNotice records that a recipient acted on a notice: its own
// department's token, or the DPO's on its behalf. The request is queued
// again, to complete once every notice is settled.
//
// Only the recipient's own system (an ingest token of its department) or
// the DPO acknowledges: an acknowledgement can complete an erasure, so a
// department's readers may not. Every acknowledgement, and every refusal,
// is audited; a refusal looks like an unknown notice.
func (s *Service) AcknowledgeNotice(ctx context.Context, req access.Request, id uuid.UUID) error {
	note := access.Note{Action: ActionAcknowledge, Outcome: audit.Denied, Reason: "acknowledge notice " + id.String()}
	dept := req.Principal.Department
	if req.Principal.Has(auth.RoleDPO) {
		dept = ""
	}
	if req.Principal.Kind != auth.Staff || !req.Principal.Has(auth.RoleDPO) && !req.Principal.Has(auth.RoleIngest) {
		note.Reason += ": only the recipient's system (ingest) or the DPO acknowledges"
		if err := s.access.Record(ctx, req, note); err != nil {
			return err
		}
		return fmt.Errorf("notice %s: %w", id, dsr.ErrNotFound)
	}
	request, err := s.store.AcknowledgeNotice(ctx, id, dept)
	if errors.Is(err, derrors.ErrNotFound) {
		note.Reason += ": no such notice of this department"
		if aerr := s.access.Record(ctx, req, note); aerr != nil {
			return aerr
		}
		return err
	}
	if err != nil {
		return err
	}
	note.Outcome, note.Reason = audit.Allowed, "acknowledged notice "+id.String()+" of request "+request.String()
	if err := s.access.Record(ctx, req, note); err != nil {
		return err
	}
	return s.queue.Enqueue(ctx, request)
}

// SealNextSecret seals a recipient's new signing secret under the
// recipient's existing key (a rotation).
func SealNextSecret(v *vault.Vault, recipient uuid.UUID, kek int32, wrapped, secret []byte) ([]byte, error) {
	key, err := v.OpenSubjectKey(recipient, kek, wrapped)
	if err != nil {
		return nil, err
	}
	return key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: secret}})
}

// SealSecret seals a recipient's HMAC secret under a fresh key of its own.
func SealSecret(v *vault.Vault, recipient uuid.UUID, secret []byte) (kek int32, wrapped, sealed []byte, err error) {
	key, err := v.NewSubjectKey(recipient)
	if err != nil {
		return 0, nil, nil, err
	}
	sealed, err = key.Seal(vault.ContextNote, []vault.Item{{Tag: 1, Value: secret}})
	return key.KEK, key.Wrapped, sealed, err
}
