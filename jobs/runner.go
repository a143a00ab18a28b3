package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/say"
)

// Runner runs a job's steps somewhere: a local process group, an ECS task.
// It writes the output to x.Log, reports steps through x, and returns the
// exit code of the step that ended the run (0 when all succeeded). An
// error means gantry or its infrastructure failed, not the steps: the job
// is errored and retried unless errors.Is(err, ErrPermanent).
//
// When ctx ends, Run stops the work and returns. If the cause of ctx is
// ErrShutdown and the work can go on without this process (an ECS task),
// the runner leaves it running: the handle given to x.Attach lets the next
// worker pick it up.
type Runner interface {
	Run(ctx context.Context, x *Execution) (exitCode int, err error)
}

// Execution is what a runner gets for one run of one job.
type Execution struct {
	Job *Job
	Log *LogWriter
	// Env holds variables the worker adds for the steps (GANTRY_RESOURCE_*),
	// beside the plan's env and GANTRY_JOB, GANTRY_REPO, GANTRY_REF, GANTRY_SHA.
	Env map[string]string

	store *Store
	// slots is the worker's concurrency (nil outside a worker); parked says
	// this job gave its slot back while it waits at a gate.
	slots  chan struct{}
	parked bool
}

// park gives the job's worker slot back while it waits, so that jobs
// waiting for a pool or a lock do not stop other jobs from running.
func (x *Execution) park() {
	if x.slots != nil && !x.parked {
		<-x.slots
		x.parked = true
	}
}

// unpark takes a worker slot again once the job may run, waiting for one.
func (x *Execution) unpark(ctx context.Context) error {
	if !x.parked {
		return nil
	}
	select {
	case x.slots <- struct{}{}:
		x.parked = false
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// NewExecution builds an Execution outside a worker, for runner tests.
func NewExecution(s *Store, j *Job, log *LogWriter) *Execution {
	return &Execution{Job: j, Log: log, Env: map[string]string{}, store: s}
}

// Store is the store the job is kept in.
func (x *Execution) Store() *Store { return x.store }

// StepEnv is every variable the steps see that gantry sets.
func (x *Execution) StepEnv() map[string]string {
	env := make(map[string]string, len(x.Job.Plan.Env)+len(x.Env)+4)
	for k, v := range x.Job.Plan.Env {
		env[k] = v
	}
	for k, v := range x.Env {
		env[k] = v
	}
	env["GANTRY_JOB"] = strconv.FormatInt(x.Job.ID, 10)
	env["GANTRY_REPO"] = x.Job.Repo
	env["GANTRY_REF"] = x.Job.Ref
	env["GANTRY_SHA"] = x.Job.SHA
	return env
}

// StepStarted records that step i (1-based) began, and announces it.
func (x *Execution) StepStarted(ctx context.Context, i int) error {
	name := x.stepName(i)
	x.Log.Line(fmt.Sprintf("── step %d/%d: %s", i, len(x.Job.Plan.Steps), name))
	x.Job.Step = i
	return x.store.Update(ctx, x.Job.ID, EventStep,
		say.F("step %d/%d started: %s", i, len(x.Job.Plan.Steps), name), Set().Step(i))
}

// StepEnded records how step i ended, and announces it.
func (x *Execution) StepEnded(ctx context.Context, i, exitCode int, took time.Duration) error {
	verdict := "succeeded"
	if exitCode != 0 {
		verdict = fmt.Sprintf("failed with exit code %d", exitCode)
	}
	text := fmt.Sprintf("step %d/%d %s in %s: ", i, len(x.Job.Plan.Steps), verdict, took.Round(time.Millisecond))
	x.Log.Line("── " + text + x.stepName(i))
	return x.store.Update(ctx, x.Job.ID, EventStep, say.Text(text)+say.Quote(x.stepName(i)), Set().Step(i))
}

func (x *Execution) stepName(i int) string {
	if i >= 1 && i <= len(x.Job.Plan.Steps) {
		return x.Job.Plan.Steps[i-1].Name
	}
	return "?"
}

// Attach records the runner's handle on its work (an ECS task ARN) in the
// job record. It returns only once the handle is written, so a runner
// calls it before it waits on the work.
func (x *Execution) Attach(ctx context.Context, handle string) error {
	x.Job.Handle = handle
	return x.store.Update(ctx, x.Job.ID, "", "", Set().Handle(handle))
}

// Checkpoint records how far the runner has read its work's log, so that a
// worker that re-attaches carries on from there.
func (x *Execution) Checkpoint(ctx context.Context, cursor string) error {
	x.Job.Cursor = cursor
	return x.store.Update(ctx, x.Job.ID, "", "", Set().Cursor(cursor))
}

// Results records what the job left behind (test counts, artifacts),
// once its steps have ended.
func (x *Execution) Results(ctx context.Context, r artifacts.Results) error {
	x.Job.Results = &r
	return x.store.Update(ctx, x.Job.ID, "", "", Set().Results(r))
}

// Note announces a sentence in the job's thread without changing it.
func (x *Execution) Note(ctx context.Context, text say.Text) error {
	return x.store.Announce(ctx, x.Job.ID, EventNote, text)
}

// Gate is something a job must pass before it runs: a resource lease, an
// environment lock. Enter may move the job to waiting and block until it
// may go on; it returns a func that gives back what it took, or with keep
// only lets go of it for the next worker of the same job (a hand-back of
// work that goes on without this process).
type Gate interface {
	Enter(ctx context.Context, x *Execution) (leave func(keep bool), err error)
}
