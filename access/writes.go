package access

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/cdp-project/cdp/audit"
	"github.com/cdp-project/cdp/identity"
	"github.com/cdp-project/cdp/policy"
)

// ActionWrite is a write of source records (POST /v1/records, cdp
// import), as the audit log names it.
const ActionWrite = "write_records"

// maxWriteProfiles bounds the profiles one audit entry of a write names;
// a bulk write is recorded as several entries.
const maxWriteProfiles = 5000

// Write is what one write of source records changed: ids and field names,
// never values.
type Write struct {
	// Profiles are the profiles of the records created or changed (after
	// linking); empty when linking failed.
	Profiles []uuid.UUID
	// Fields are the names of the fields the written records carry.
	Fields []string
	// Created, Updated and Unchanged count the records.
	Created, Updated, Unchanged int
	// What names the write for the DPO ("POST /v1/records", "import of
	// sales.csv").
	What string
}

// RecordWriteIntent audits a write before it happens: who sends how many
// records carrying which fields. If it cannot be recorded the write must
// not happen (fail closed, as for reads): nothing is written unaudited.
func (s *Service) RecordWriteIntent(ctx context.Context, req Request, what string, records int, fields []string) error {
	f := append([]string(nil), fields...)
	sort.Strings(f)
	e := s.entry(&req, ActionWrite, nil, policy.Decision{}, audit.Allowed, f)
	e.Reason = fmt.Sprintf("%s: %d records received", what, records)
	if records < 0 { // a stream, counted once written
		e.Reason = what + ": starting"
	}
	return s.record(ctx, e)
}

// RefuseWrite audits a write refused before anything was read of it (a
// department writing records of another department's sources): a refusal
// is a trace the DPO looks for as much as a write. Ids and field names
// only, never values.
func (s *Service) RefuseWrite(ctx context.Context, req Request, what, why string) error {
	e := s.entry(&req, ActionWrite, nil, policy.Decision{}, audit.Denied, nil)
	e.Reason = what + ": " + why
	return s.record(ctx, e)
}

// RecordWrite audits a write of source records once it is done, so that the DPO can ask
// who changed a person's data as well as who read it: one entry (or one
// per maxWriteProfiles profiles) in the same chain, with the principal,
// the profiles and the field names. Writes that changed nothing are not
// recorded.
func (s *Service) RecordWrite(ctx context.Context, req Request, w Write) error {
	if w.Created+w.Updated == 0 {
		return nil
	}
	fields := append([]string(nil), w.Fields...)
	sort.Strings(fields)
	reason := fmt.Sprintf("%s: %d created, %d updated, %d unchanged", w.What, w.Created, w.Updated, w.Unchanged)
	var es []audit.Entry
	ids := idStrings(w.Profiles)
	for {
		n := min(len(ids), maxWriteProfiles)
		e := s.entry(&req, ActionWrite, ids[:n], policy.Decision{}, audit.Allowed, fields)
		e.Reason = reason
		es = append(es, e)
		ids = ids[n:]
		if len(ids) == 0 {
			break
		}
	}
	return s.record(ctx, es...)
}

// ImportHistory is what arrived from a department's sources day by day
// since (counts only): what an ingest role sees of the console.
func (s *Service) ImportHistory(ctx context.Context, req Request, since time.Time) ([]identity.SourceDay, error) {
	srcs, err := s.store.Sources(ctx)
	if err != nil {
		return nil, err
	}
	var mine []string
	for _, src := range srcs {
		if src.Department == req.Principal.Department {
			mine = append(mine, src.Name)
		}
	}
	if len(mine) == 0 {
		return []identity.SourceDay{}, nil
	}
	return s.store.SourceDays(ctx, mine, since)
}
