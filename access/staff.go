package access

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/derrors"
)

// ErrSecondFactor reports a staff member whose roles need a sign-in with
// the second factor (TOTP) and whose session has only the first.
var ErrSecondFactor = derrors.New(derrors.ErrForbidden, "second factor required")

// Staff is the principal of a staff member signed in to the console with
// a Kratos account of the staff schema: their department and roles as
// granted in cdp (`cdp staff grant`), never taken from their traits. The
// DPO's and stewards' roles need a session at the second factor (aal2)
// when secondFactor is set. Anyone else is ErrForbidden.
func (s *Service) Staff(ctx context.Context, cs auth.CustomerSession, secondFactor bool) (auth.Principal, error) {
	if cs.Schema != StaffSchema {
		return auth.Principal{}, fmt.Errorf("not a staff account: %w", ErrForbidden)
	}
	g, err := s.store.StaffGrant(ctx, cs.IdentityID)
	if errors.Is(err, derrors.ErrNotFound) {
		return auth.Principal{}, fmt.Errorf("this staff account has no grant: %w", ErrForbidden)
	}
	if err != nil {
		return auth.Principal{}, err
	}
	p := g.StaffPrincipal(cs.SessionID)
	if secondFactor && readsPeople(p) && cs.AAL != "aal2" {
		return p, fmt.Errorf("the roles of this account need a sign-in with the second factor: %w", ErrSecondFactor)
	}
	return p, nil
}

// readsPeople tells whether a staff member's roles show them people's
// data in the console, or let them change who may: every role but ingest,
// whose page holds counts only. Those roles need the second factor: a
// stolen password alone must not open profiles.
func readsPeople(p auth.Principal) bool {
	return slices.ContainsFunc(p.Roles, func(r auth.Role) bool { return r != auth.RoleIngest })
}
