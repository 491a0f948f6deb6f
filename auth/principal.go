package auth

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/derrors"
)

// Sentinel errors of the auth package.
var (
	// ErrUnauthenticated reports a missing, malformed, unknown, expired or
	// revoked credential.
	ErrUnauthenticated = derrors.ErrUnauthenticated
	// ErrForbidden reports a principal without the role an action needs.
	ErrForbidden = derrors.ErrForbidden
	// ErrInvalid reports an invalid role, department or token field.
	ErrInvalid = derrors.New(derrors.ErrInvalid, "invalid")
)

// Role is a staff role.
type Role string

// The staff roles.
const (
	RoleReader  Role = "reader"  // reads unified profiles for a declared purpose
	RoleIngest  Role = "ingest"  // sends its department's records
	RoleSteward Role = "steward" // fixes identity links: merge, split, review
	RoleDPO     Role = "dpo"     // handles data-subject requests, reads the audit log
	RoleAdmin   Role = "admin"   // manages sources and tokens
)

// Roles lists every staff role.
func Roles() []Role { return []Role{RoleReader, RoleIngest, RoleSteward, RoleDPO, RoleAdmin} }

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles(), r) {
		return r, nil
	}
	return "", fmt.Errorf("role %q: want one of reader, ingest, steward, dpo, admin: %w", s, ErrInvalid)
}

// The departments of the built-in sources (migrations 0005 and 0006): the
// customers' own records and the statements the DPO records for subjects.
// No token, source or recipient may be made for them: a token of the
// customers' department would write what customers say themselves.
const (
	DepartmentCustomers = "customers"
	DepartmentSubjects  = "subjects"
)

// ValidateDepartment checks a department name given for a token, a source
// or a recipient: 1 to 63 lower-case letters, digits, '_' or '-', starting
// with a letter or digit, and not one of the built-in sources' departments.
func ValidateDepartment(d string) error {
	if d == "" || len(d) > 63 {
		return fmt.Errorf("department %q: must be 1 to 63 characters: %w", d, ErrInvalid)
	}
	if d == DepartmentCustomers || d == DepartmentSubjects {
		return fmt.Errorf("department %q is reserved for the built-in sources of customers and data subjects: %w", d, ErrInvalid)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("department %q: lower-case letters, digits, '_' and '-' only: %w", d, ErrInvalid)
		}
	}
	return nil
}

// Kind says how a principal authenticated.
type Kind string

// The kinds of principals.
const (
	Staff    Kind = "staff"    // an API token of a person or a department system
	Customer Kind = "customer" // a data subject with an Ory Kratos session
)

// Principal is who is asking. It is built by authentication and passed, by
// value, to everything that decides or records access.
type Principal struct {
	Kind       Kind
	ID         string // token principal name, or the Kratos identity id
	Department string // staff only
	Roles      []Role // staff only
	Credential string // the token id or Kratos session id that authenticated it
}

// Has reports whether the principal holds the role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// Actor is how the principal is recorded as the author of a change, e.g.
// "staff:crm-sync" or "customer:<kratos id>".
func (p Principal) Actor() string { return string(p.Kind) + ":" + p.ID }

// LogValue logs the principal without its credential.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(p.Kind)),
		slog.String("id", p.ID),
		slog.String("department", p.Department),
	)
}

// CustomerSession is a data subject as their Ory Kratos session shows them.
type CustomerSession struct {
	IdentityID    uuid.UUID
	SessionID     string
	Email         string
	EmailVerified bool
	GivenName     string
	FamilyName    string
	// AAL is the session's authenticator assurance level ("aal1", "aal2").
	AAL string
	// IdentityCreatedAt is when the Kratos account was created: an account
	// created after its owner was erased is a new sign-up.
	IdentityCreatedAt time.Time
	// Schema is the account's Kratos identity schema: "customer", or
	// "staff" for the console's accounts, which are nobody's customer
	// account.
	Schema string
}

// Principal is the customer as the one asking.
func (c CustomerSession) Principal() Principal {
	return Principal{Kind: Customer, ID: c.IdentityID.String(), Credential: c.SessionID}
}

// LogValue logs the customer without personal data.
func (c CustomerSession) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identity", c.IdentityID.String()))
}

// StaffGrant is what a staff account (a Kratos identity of the staff
// schema) may do: granted in cdp, never taken from its traits.
type StaffGrant struct {
	Identity   uuid.UUID
	Department string
	Roles      []Role
	GrantedBy  string
	GrantedAt  time.Time
}

// StaffPrincipal is a staff member as the one asking: named by their
// account's id (the audit log holds no employee's email; their actor name
// is staff:<id>).
func (g StaffGrant) StaffPrincipal(session string) Principal {
	return Principal{Kind: Staff, ID: g.Identity.String(), Department: g.Department, Roles: g.Roles, Credential: session}
}
