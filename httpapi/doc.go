// Package httpapi is the HTTP interface of cdp and the only package that
// imports fiber: routes, authentication, handlers, metrics, and the mapping
// of errors to RFC 9457 problem details (application/problem+json).
//
// Handlers parse and validate input, then call the services the server is
// built from (Config: access, requests, the importer, the resolver,
// tokens, Kratos sessions); the server holds no store, never runs SQL and
// never opens sealed data itself. Values read from a fiber.Ctx are copied before they
// outlive the handler (fiber reuses its buffers).
//
// Log lines and error bodies carry request ids, route patterns, field names
// and line numbers, never personal values: query strings are not logged.
//
// The API is described in openapi.yaml, served at /openapi.yaml.
package httpapi
