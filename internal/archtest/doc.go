// Package archtest holds the tests that keep the architecture true: which
// package may depend on which, and that every package documents itself.
// It has no code of its own.
package archtest
