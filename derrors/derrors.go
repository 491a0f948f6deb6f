// Package derrors defines the kinds of domain errors that every package
// wraps, so that each entry point (HTTP, CLI) maps them to an answer in one
// table: a missing profile is ErrNotFound whether the store or the policy
// said so.
//
// Packages add their own, more precise sentinels with [New], which keeps
// the kind reachable through errors.Is:
//
//	var ErrUnknownSource = derrors.New(derrors.ErrUnprocessable, "unknown source")
//	errors.Is(fmt.Errorf("line 3: %w", ErrUnknownSource), derrors.ErrUnprocessable) // true
//
// derrors imports only the standard library.
package derrors

import "errors"

// The kinds of domain errors.
var (
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrInvalid         = errors.New("invalid")
	ErrUnprocessable   = errors.New("cannot be processed")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrTooLarge        = errors.New("too large")
	ErrUnavailable     = errors.New("unavailable")
)

// New returns a sentinel error with its own message that is also of the
// given kind.
func New(kind error, msg string) error { return &kindError{msg: msg, kind: kind} }

type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
