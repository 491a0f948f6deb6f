// Package jobs runs data-subject requests as durable jobs in PostgreSQL,
// with River (github.com/riverqueue/river): an approved request becomes a
// job that is retried with backoff until it is done, and a job whose
// process died (a crash, a kill) is rescued and run again by whichever
// process is serving. What a job does is its Work (requests.Service);
// the runner only schedules it. Every step a job runs is idempotent, so running it
// twice does no harm.
//
// A periodic sweep queues every approved or running request that has no
// job (a process that died between approving a request and queueing it),
// so nothing approved is ever forgotten.
//
// jobs imports River and its pgx driver; it runs no SQL of its own.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/dsr"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// RequestArgs is the job of one request.
type RequestArgs struct {
	Request uuid.UUID `json:"request_id"`
	// Again, when set, is a follow-up run queued while the request's job
	// was running (an acknowledgement arriving as the job finished): the
	// second of the run, so that there is at most one such per second.
	Again int64 `json:"again,omitempty"`
}

// Kind names the job kind in River's tables.
func (RequestArgs) Kind() string { return "dsr_request" }

// InsertOpts: one live job per request; retried for about two days.
func (RequestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 20, UniqueOpts: river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled},
	}}
}

// NoticeArgs is the job of delivering one notice.
type NoticeArgs struct {
	Notice uuid.UUID `json:"notice_id"`
}

// Kind names the job kind in River's tables.
func (NoticeArgs) Kind() string { return "dsr_notice" }

// InsertOpts: one live job per notice; retried with River's backoff
// (seconds, then minutes, then hours) for about three days.
func (NoticeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 22, UniqueOpts: RequestArgs{}.InsertOpts().UniqueOpts}
}

type sweepArgs struct{}

type retentionArgs struct{}

func (retentionArgs) Kind() string { return "retention_sweep" }

func (sweepArgs) Kind() string { return "dsr_sweep" }

// profilingArgs is the job of a full computation of traits: the
// schedule's, or one a staff member asked for.
type profilingArgs struct {
	// By is who asked for it (none: the schedule).
	By string `json:"by,omitempty"`
}

func (profilingArgs) Kind() string { return "profiling_full" }

// InsertOpts: not retried (the next one is at most a schedule away, and
// the one who asked sees it failed). Not unique in River's sense either:
// a job left running by a dead process would block every other until
// the rescue; ComputeTraits joins a waiting one instead.
func (profilingArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1}
}

// profilingWorker runs full computations, under a timeout of their own:
// at ten million profiles one takes minutes.
type profilingWorker struct {
	river.WorkerDefaults[profilingArgs]
	runner  *Runner
	timeout time.Duration
	log     *slog.Logger
}

func (w *profilingWorker) Timeout(*river.Job[profilingArgs]) time.Duration { return w.timeout }

func (w *profilingWorker) Work(ctx context.Context, j *river.Job[profilingArgs]) error {
	rep, err := w.runner.work.ComputeTraits(ctx, j.Args.By)
	if err != nil {
		w.log.Warn("computation of traits failed", slog.Int64("job", j.ID), slog.String("error", err.Error()))
		return err
	}
	return river.RecordOutput(ctx, rep)
}

// Options configure the runner.
type Options struct {
	Log *slog.Logger
	// Workers is how many jobs run at once (default 4).
	Workers int
	// JobTimeout bounds one run of a job (default 2 minutes).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is
	// considered orphaned by a dead process and run again (default 5
	// minutes; longer than JobTimeout; a full computation of traits is
	// left alone for ProfilingTimeout at least).
	RescueAfter time.Duration
	// SweepEvery is the period of the sweep (default 1 minute).
	SweepEvery time.Duration
	// RetentionEvery is the period of the retention sweep (default 24
	// hours).
	RetentionEvery time.Duration
	// ProfilingEvery is the period of the full computation of traits
	// and segments; stale profiles are refreshed on every sweep (zero:
	// no profiling jobs).
	ProfilingEvery time.Duration
	// ProfilingTimeout bounds one full computation of traits (default
	// 15 minutes).
	ProfilingTimeout time.Duration
}

// Runner runs request jobs.
type Runner struct {
	client *river.Client[pgx.Tx]
	work   Work
}

// Work is what the jobs do (requests.Service): every method is
// idempotent, run again after a crash it finishes what is left.
type Work interface {
	// Execute carries out one approved request. An error wrapping
	// dsr.ErrCannot is not retried.
	Execute(ctx context.Context, id uuid.UUID) error
	// Fail closes a request whose job gave up: a permanent error, or the
	// last attempt failed.
	Fail(ctx context.Context, id uuid.UUID, cause error) error
	// Deliver delivers one notice.
	Deliver(ctx context.Context, id uuid.UUID) error
	// OpenRequests and PendingNotices list what should have a job, for
	// the sweep.
	OpenRequests(ctx context.Context) ([]uuid.UUID, error)
	PendingNotices(ctx context.Context) ([]uuid.UUID, error)
	// SweepRetention files erasures of records whose retention expired.
	SweepRetention(ctx context.Context) (int, error)
	// LinkOrphans links records a crash left in no profile, on every
	// sweep.
	LinkOrphans(ctx context.Context) (int, error)
	// RefreshTraits recomputes the traits of profiles whose interactions
	// or records changed, on every sweep; ComputeTraits everyone's, for
	// the schedule (by "") or a staff member, and says what it did (kept
	// as the job's output, JSON).
	RefreshTraits(ctx context.Context) (int, error)
	ComputeTraits(ctx context.Context, by string) (any, error)
}

// New builds a runner: a queue at once (Enqueue, Notify), which runs
// jobs once started with the work to do.
func New(pool *pgxpool.Pool, o Options) (*Runner, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 2 * time.Minute
	}
	if o.ProfilingTimeout <= 0 {
		o.ProfilingTimeout = 15 * time.Minute
	}
	// River's rescuer also waits out a job's own timeout (the full
	// computation's), so this is about the request jobs.
	if o.RescueAfter <= o.JobTimeout {
		o.RescueAfter = o.JobTimeout + 3*time.Minute
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = time.Minute
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = 24 * time.Hour
	}
	r := &Runner{}
	workers := river.NewWorkers()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	log := o.Log
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[RequestArgs]) error {
		err := r.work.Execute(ctx, j.Args.Request)
		if err == nil {
			return nil
		}
		// Retried with backoff; the error names ids, never values.
		log.Warn("request job failed", slog.String("request", j.Args.Request.String()),
			slog.Int("attempt", j.Attempt), slog.String("error", err.Error()))
		permanent := errors.Is(err, dsr.ErrCannot)
		if permanent || j.Attempt >= j.MaxAttempts {
			if ferr := r.work.Fail(ctx, j.Args.Request, err); ferr != nil {
				return ferr // try again: the request must not stay open silently
			}
		}
		if permanent {
			return river.JobCancel(err)
		}
		return err
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[NoticeArgs]) error {
		err := r.work.Deliver(ctx, j.Args.Notice)
		if err != nil {
			log.Info("notice not delivered yet", slog.String("notice", j.Args.Notice.String()),
				slog.Int("attempt", j.Attempt), slog.String("error", err.Error()))
		}
		return err
	}))
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(o.SweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[retentionArgs]) error {
		n, err := r.work.SweepRetention(ctx)
		if n > 0 {
			log.Info("retention: erasures filed", slog.Int("requests", n))
		}
		return err
	}))
	periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(o.RetentionEvery),
		func() (river.JobArgs, *river.InsertOpts) { return retentionArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	river.AddWorker(workers, &profilingWorker{runner: r, timeout: o.ProfilingTimeout, log: log})
	if o.ProfilingEvery > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(o.ProfilingEvery),
			func() (river.JobArgs, *river.InsertOpts) { return profilingArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	profiling := o.ProfilingEvery > 0
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[sweepArgs]) error {
		// Each step runs whatever the others did: a failing one (a
		// computation of traits cut off by the job's timeout) must not
		// keep requests and notices that lost their job from being queued
		// again. The traits come last: at a million profiles a full
		// computation takes most of a minute.
		var errs []error
		n, err := r.work.LinkOrphans(ctx)
		if n > 0 {
			log.Info("records left unlinked by an earlier process linked", slog.Int("records", n))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("link orphans: %w", err))
		}
		// What should have a job gets one again: each open request, each
		// pending notice.
		for _, q := range []struct {
			what  string
			list  func(context.Context) ([]uuid.UUID, error)
			queue func(context.Context, uuid.UUID) error
		}{{"open requests", r.work.OpenRequests, r.Enqueue}, {"pending notices", r.work.PendingNotices, r.Notify}} {
			ids, err := q.list(ctx)
			for i := 0; err == nil && i < len(ids); i++ {
				err = q.queue(ctx, ids[i])
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", q.what, err))
			}
		}
		if profiling {
			if _, err := r.work.RefreshTraits(ctx); err != nil {
				errs = append(errs, fmt.Errorf("refresh traits: %w", err))
			}
		}
		return errors.Join(errs...)
	}))
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.Workers}},
		Workers:              workers,
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		FetchCooldown:        50 * time.Millisecond,
		FetchPollInterval:    500 * time.Millisecond,
		Logger:               slog.New(demoted{o.Log.Handler()}).With(slog.String("component", "river")),
		PeriodicJobs:         periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("job runner: %w", err)
	}
	r.client = c
	return r, nil
}

// Start starts doing work's jobs until Stop.
func (r *Runner) Start(ctx context.Context, work Work) error {
	r.work = work
	return r.client.Start(ctx)
}

// Stop waits for running jobs to finish, and cancels those still running
// a little before ctx ends (a fifth of the time left, at most five
// seconds), so that the process stops in time: a cancelled job is rescued
// and run again by the next process, every step being idempotent (a full
// computation of traits is not retried: the next process computes at
// start).
func (r *Runner) Stop(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return r.client.Stop(ctx)
	}
	grace := min(time.Until(deadline)/5, 5*time.Second)
	gentle, cancel := context.WithDeadline(ctx, deadline.Add(-grace))
	defer cancel()
	if err := r.client.Stop(gentle); err == nil {
		return nil
	}
	return r.client.StopAndCancel(ctx)
}

// Notify queues a notice's delivery, unless it has a live job.
func (r *Runner) Notify(ctx context.Context, id uuid.UUID) error {
	if _, err := r.client.Insert(ctx, NoticeArgs{Notice: id}, nil); err != nil {
		return fmt.Errorf("queue notice %s: %w", id, err)
	}
	return nil
}

// Enqueue queues a request's job. When it has a live one already, which
// may be finishing without having seen what prompted this call, a
// follow-up run is queued a second later: runs are idempotent, a missed
// one would leave the request waiting for the sweep.
func (r *Runner) Enqueue(ctx context.Context, id uuid.UUID) error {
	res, err := r.client.Insert(ctx, RequestArgs{Request: id}, nil)
	if err != nil {
		return fmt.Errorf("queue request %s: %w", id, err)
	}
	if res.UniqueSkippedAsDuplicate {
		at := time.Now().Add(time.Second)
		if _, err := r.client.Insert(ctx, RequestArgs{Request: id, Again: at.Unix()}, &river.InsertOpts{ScheduledAt: at}); err != nil {
			return fmt.Errorf("queue request %s: %w", id, err)
		}
	}
	return nil
}

// demoted passes River's log records on one level lower: its INFO lines
// (job counts every minute, producer starts) are debugging detail for an
// operator, its warnings and errors stay what they are.
type demoted struct{ h slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return d.h.Enabled(ctx, lower(l))
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = lower(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.h.WithAttrs(as)} }
func (d demoted) WithGroup(g string) slog.Handler       { return demoted{d.h.WithGroup(g)} }

func lower(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return l - 4 // INFO to DEBUG
	}
	return l
}

// ErrNoComputation reports a job id that is no computation of traits.
var ErrNoComputation = derrors.New(derrors.ErrNotFound, "no such computation of traits")

// ComputeTraits queues a full computation of traits asked for by a staff
// member (by; "" for the schedule), or joins one that waits to start.
// One already running may have read the data before the change that
// prompted the asking: a new one is queued behind it (the computations
// take turns, under the database's computation lock).
func (r *Runner) ComputeTraits(ctx context.Context, by string) (crm.Computation, error) {
	res, err := r.client.JobList(ctx, river.NewJobListParams().Kinds(profilingArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled).
		OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(1))
	if err != nil {
		return crm.Computation{}, fmt.Errorf("read the computations of traits: %w", err)
	}
	if len(res.Jobs) > 0 {
		c, err := computation(res.Jobs[0])
		c.Joined = true
		return c, err
	}
	in, err := r.client.Insert(ctx, profilingArgs{By: by}, nil)
	if err != nil {
		return crm.Computation{}, fmt.Errorf("queue a computation of traits: %w", err)
	}
	return computation(in.Job)
}

// Computation reads a computation of traits by its job id.
func (r *Runner) Computation(ctx context.Context, id int64) (crm.Computation, error) {
	j, err := r.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return crm.Computation{}, fmt.Errorf("job %d: %w", id, ErrNoComputation)
	}
	if err != nil {
		return crm.Computation{}, fmt.Errorf("read job %d: %w", id, err)
	}
	return computation(j)
}

func computation(j *rivertype.JobRow) (crm.Computation, error) {
	if j.Kind != (profilingArgs{}).Kind() {
		return crm.Computation{}, fmt.Errorf("job %d: %w", j.ID, ErrNoComputation)
	}
	var args profilingArgs
	if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
		return crm.Computation{}, fmt.Errorf("job %d: %w", j.ID, err)
	}
	c := crm.Computation{ID: j.ID, By: args.By, QueuedAt: j.CreatedAt, StartedAt: j.AttemptedAt, FinishedAt: j.FinalizedAt}
	switch j.State {
	case rivertype.JobStateRunning:
		c.State = "running"
	case rivertype.JobStateCompleted:
		c.State, c.Report = "completed", j.Output()
	case rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		c.State = "failed"
	default:
		c.State, c.StartedAt = "queued", nil
	}
	return c, nil
}

// LatestComputation reads the last computation of traits queued, by the
// schedule or by staff; false when there was none.
func (r *Runner) LatestComputation(ctx context.Context) (crm.Computation, bool, error) {
	res, err := r.client.JobList(ctx, river.NewJobListParams().Kinds(profilingArgs{}.Kind()).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(1))
	if err != nil {
		return crm.Computation{}, false, fmt.Errorf("read the computations of traits: %w", err)
	}
	if len(res.Jobs) == 0 {
		return crm.Computation{}, false, nil
	}
	c, err := computation(res.Jobs[0])
	return c, err == nil, err
}
