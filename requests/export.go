package requests

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
)

// ExportValidity is how long an access or portability export can be
// downloaded after its request completed.
const ExportValidity = 30 * 24 * time.Hour

// ErrExportExpired reports an export whose download window passed.
var ErrExportExpired = derrors.New(derrors.ErrNotFound, "export expired")

// DownloadExport delivers the export of a completed access or portability
// request, while it has not expired: to the DPO, or to the customer who
// made it. The export is read through access: decided by the policy and
// audited.
func (s *Service) DownloadExport(ctx context.Context, req access.Request, id uuid.UUID) (*access.Export, error) {
	var r dsr.Stored
	var err error
	if req.Principal.Kind == auth.Customer {
		if r, err = s.mine(ctx, req, id); err != nil {
			return nil, err
		}
	} else if r, err = s.gated(ctx, &req, id, "download export of request "+id.String()); err != nil {
		return nil, err
	}
	if r.Type != dsr.Access && r.Type != dsr.Portability {
		return nil, fmt.Errorf("request %s is a %s request: it has no export: %w", id, r.Type, dsr.ErrInvalid)
	}
	if r.State != dsr.Completed || r.ClosedAt == nil {
		return nil, fmt.Errorf("request %s is %s: the export is ready once it is completed: %w", id, r.State, dsr.ErrTransition)
	}
	if time.Since(*r.ClosedAt) > ExportValidity {
		return nil, fmt.Errorf("the export of request %s expired on %s: make a new request: %w", id,
			r.ClosedAt.Add(ExportValidity).UTC().Format(time.DateOnly), ErrExportExpired)
	}
	return s.access.Export(ctx, req, access.ExportOf{Request: r.ID, Profile: r.Profile, Scope: r.Scope})
}
