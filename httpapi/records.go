package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/ingest"
)

// recordResult is the answer for one record of an ingest batch.
type recordResult struct {
	Line      int              `json:"line"`
	Status    ingest.Status    `json:"status"`
	RecordID  *uuid.UUID       `json:"record_id,omitempty"`
	ProfileID *uuid.UUID       `json:"profile_id,omitempty"`
	Errors    []ingest.Problem `json:"errors,omitempty"`
}

type ingestSummary struct {
	Received  int `json:"received"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
	// Suppressed counts records of erased people, not written.
	Suppressed int `json:"suppressed"`
}

type ingestResponse struct {
	Summary    ingestSummary  `json:"summary"`
	Resolution resolution     `json:"resolution"`
	Results    []recordResult `json:"results"`
}

// resolution says whether the batch's records were linked into profiles
// before the answer. When linking fails the records are kept, and the next
// resolution run links them.
type resolution struct {
	Resolved        bool        `json:"resolved"`
	ProfilesTouched []uuid.UUID `json:"profiles_touched"`
	Detail          string      `json:"detail,omitempty"`
}

// postRecords ingests a batch of records from a department: a JSON array or
// NDJSON. The whole body is read and checked before anything is written:
// an unreadable body, an unknown source or another department's source
// fails the request and writes nothing; a malformed record is rejected on
// its own and the others are stored.
func (s *Server) postRecords(c *fiber.Ctx) error {
	p := principal(c)
	mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		mediaType = ""
	}
	opts := ingest.Options{Source: strings.Clone(c.Query("source"))}
	if opts.Source != "" {
		if err := ingest.ValidateSourceName(opts.Source); err != nil {
			return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request", err.Error())
		}
	}
	body := c.Body()
	if !utf8.Valid(body) {
		return problem(fiber.StatusBadRequest, "invalid-utf8", "Body is not valid UTF-8",
			"the request body must be UTF-8 encoded")
	}
	var r ingest.Reader
	switch mediaType {
	case "application/json":
		r, err = ingest.NewJSONArrayReader(bytes.NewReader(body), opts)
		if err != nil {
			return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body", "expected a JSON array of record objects")
		}
	case "application/x-ndjson", "application/ndjson", "application/jsonl":
		r = ingest.NewNDJSONReader(bytes.NewReader(body), opts)
	default:
		return problem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send application/json (an array of records) or application/x-ndjson (one record per line)")
	}
	inputs, err := ingest.ReadAll(r)
	if err != nil {
		return problem(fiber.StatusBadRequest, "malformed-body", "Malformed request body", err.Error())
	}
	if len(inputs) > s.maxRecords {
		return problem(fiber.StatusRequestEntityTooLarge, "too-many-records", "Too many records",
			fmt.Sprintf("a request may carry at most %d records; send %d in several requests", s.maxRecords, len(inputs)))
	}
	if err := s.checkSources(c, p.Department, inputs); err != nil {
		if pr, ok := err.(*Problem); ok && pr.Status == fiber.StatusForbidden {
			if aerr := s.access.RefuseWrite(c.UserContext(), accessRequest(c), "POST /v1/records",
				"records of sources of another department"); aerr != nil {
				return aerr
			}
		}
		return err
	}

	// Who changes a person's data is audited like who reads it: before
	// anything is written (no entry, no write), and once it is linked,
	// with the profiles it changed. Ids and field names, never values.
	fields := map[string]bool{}
	for i := range inputs {
		ingest.FieldNames(&inputs[i].Record, fields)
	}
	fieldList := make([]string, 0, len(fields))
	for f := range fields {
		fieldList = append(fieldList, f)
	}
	if err := s.access.RecordWriteIntent(c.UserContext(), accessRequest(c), "POST /v1/records", len(inputs), fieldList); err != nil {
		return err
	}

	im := s.importer
	im.Actor = p.Actor()
	im.Sources = nil // checked above, for the whole batch
	im.Progress = nil
	resp := ingestResponse{Results: make([]recordResult, 0, len(inputs))}
	sum, err := im.Import(c.UserContext(), ingest.NewSliceReader(inputs), func(res ingest.Result) {
		rr := recordResult{Line: res.Line, Status: res.Status, Errors: res.Problems}
		if res.RecordID != uuid.Nil {
			id := res.RecordID
			rr.RecordID = &id
		}
		resp.Results = append(resp.Results, rr)
		s.metrics.ingested.WithLabelValues(string(res.Status)).Inc()
	})
	if err != nil {
		return fmt.Errorf("ingest batch: %w", err)
	}
	// The records are committed: linking them and naming the profiles
	// they changed in the audit log finish even if a shutdown cancels
	// the request.
	done, cancel := finishing(c)
	defer cancel()
	profiles := s.resolve(done, c, &resp)
	resp.Summary = ingestSummary{
		Received: sum.Total(), Created: sum.Created, Updated: sum.Updated,
		Unchanged: sum.Unchanged, Rejected: sum.Rejected, Suppressed: sum.Suppressed,
	}
	w := access.Write{Profiles: profiles, Created: sum.Created, Updated: sum.Updated, Unchanged: sum.Unchanged, What: "POST /v1/records",
		Fields: fieldList}
	if err := s.access.RecordWrite(done, accessRequest(c), w); err != nil {
		// The write happened and its intent is audited under this
		// request id; the profiles it changed could not be recorded.
		s.log.ErrorContext(c.UserContext(), "audit the profiles a write changed", slog.String("request_id", requestID(c)),
			slog.String("error", err.Error()))
	}
	return c.JSON(resp)
}

// finishing is the context of what follows a committed write: it is not
// cancelled with the request (a shutdown's cut-off), and ends after 30 s.
func finishing(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.UserContext()), 30*time.Second)
}

// checkSources fails the request when a record names a source that is not
// registered (422) or belongs to another department (403).
func (s *Server) checkSources(c *fiber.Ctx, department string, inputs []ingest.Input) error {
	owner, err := s.sourceOwners(c)
	if err != nil {
		return err
	}
	unknown := map[string][]int{}
	foreign := map[string][]int{}
	for _, in := range inputs {
		name := in.Record.Source
		if in.Rejected() || name == "" {
			continue
		}
		dept, ok := owner[name]
		switch {
		case !ok:
			unknown[name] = append(unknown[name], in.Line)
		case dept != department:
			foreign[name] = append(foreign[name], in.Line)
		}
	}
	if len(unknown) > 0 {
		p := problem(fiber.StatusUnprocessableEntity, "unknown-source", "Unknown source",
			"records name sources that are not registered; nothing was written")
		p.Errors = sourceErrors(unknown, "not a registered source")
		return p
	}
	if len(foreign) > 0 {
		p := problem(fiber.StatusForbidden, "forbidden-source", "Source not writable by this department",
			"a token of department "+department+" may only write that department's sources; nothing was written")
		p.Errors = sourceErrors(foreign, "belongs to another department")
		return p
	}
	return nil
}

func sourceErrors(bySource map[string][]int, reason string) []FieldError {
	names := make([]string, 0, len(bySource))
	for n := range bySource {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []FieldError
	for _, n := range names {
		out = append(out, FieldError{Line: bySource[n][0], Field: "source", Reason: fmt.Sprintf("%q %s (%d records)", n, reason, len(bySource[n]))})
	}
	return out
}

// resolve links the created and updated records of a batch into profiles
// and tells each record its profile.
// resolve links the records a write touched and fills their profiles in
// the answer; it returns the profiles of the records created or changed.
func (s *Server) resolve(ctx context.Context, c *fiber.Ctx, resp *ingestResponse) []uuid.UUID {
	resp.Resolution.ProfilesTouched = []uuid.UUID{}
	var ids, unchanged []uuid.UUID
	for _, r := range resp.Results {
		switch {
		case r.RecordID == nil:
		case r.Status == ingest.StatusCreated || r.Status == ingest.StatusUpdated:
			ids = append(ids, *r.RecordID)
		case r.Status == ingest.StatusUnchanged:
			unchanged = append(unchanged, *r.RecordID) // linked if a crash left it in no profile
		}
	}
	if len(ids) == 0 && len(unchanged) == 0 {
		resp.Resolution.Resolved = true
		return nil
	}
	rep, err := s.resolver.Link(ctx, principal(c).Actor(), ids, unchanged)
	if err != nil {
		s.log.ErrorContext(ctx, "resolve ingested records", slog.String("request_id", requestID(c)),
			slog.Int("records", len(ids)), slog.String("error", err.Error()))
		resp.Resolution.Detail = "the records are stored; linking them failed and the next resolution run will link them"
		return nil
	}
	resp.Resolution.Resolved = true
	changed := rep.ProfilesOf(ids)
	if p := principal(c); !p.Has(auth.RoleReader) && !p.Has(auth.RoleSteward) && !p.Has(auth.RoleDPO) {
		// An ingest system is told its own records' outcome only: the
		// profiles they joined are links to other departments' records,
		// which it may not read.
		return changed
	}
	if rep.ProfilesTouched != nil {
		resp.Resolution.ProfilesTouched = rep.ProfilesTouched
	}
	for i := range resp.Results {
		r := &resp.Results[i]
		if r.RecordID == nil {
			continue
		}
		if p, ok := rep.Members[*r.RecordID]; ok {
			p := p
			r.ProfileID = &p
		}
	}
	return changed
}

// sourceOwners maps each registered source to its department: a token
// writes only its own department's.
func (s *Server) sourceOwners(c *fiber.Ctx) (map[string]string, error) {
	sources, err := s.access.Sources(c.UserContext())
	if err != nil {
		return nil, err
	}
	owner := make(map[string]string, len(sources))
	for _, src := range sources {
		owner[src.Name] = src.Department
	}
	return owner, nil
}
