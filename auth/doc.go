// Package auth says who is asking: the Principal type shared by every entry
// point, the roles staff can hold, and the API tokens that staff and
// department systems authenticate with.
//
// A token is shown once, at creation, as
//
//	cdp_<id>_<secret>
//
// The id finds the token; only a SHA-256 hash of the 256-bit random secret is
// stored, so a copy of the database does not yield usable tokens. Each token
// carries a principal name, the department it acts for and its roles; a
// department token may only write that department's sources.
//
// Customers are principals too: they authenticate with an Ory Kratos session
// (Kind Customer, ID the Kratos identity id) and hold no staff role.
//
// auth is a domain package: it imports only the standard library.
package auth
