package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// Why gantry stopped a task.
type stopKind int

const (
	notStopped  stopKind = iota
	stopCancel           // someone cancelled the job
	stopTimeout          // the plan's timeout passed
	stopStart            // the task did not start within StartTimeout
)

// TimeoutExitCode is the exit code of a job whose steps ran past the
// plan's timeout: jobs.TimeoutExitCode, as on the local runner.
const TimeoutExitCode = jobs.TimeoutExitCode

// follower follows one task of one job.
type follower struct {
	r       *Runner
	x       *jobs.Execution
	arn     string
	cluster string // where the task runs
	stream  string
	marker  string
	cur     cursor
	status  string
	why     stopKind
	// gotResults says the task's results line has been read (see collect.go).
	gotResults bool
	previewUp  bool // the steps succeeded and the task goes on as a preview
}

// follow watches the task and copies its log until it stops, then says how
// the job ended. When ctx ends it stops the task on a cancel, and leaves it
// running on anything else (shutdown): the next worker re-attaches.
func (r *Runner) follow(ctx context.Context, x *jobs.Execution, arn string, cur cursor) (int, error) {
	f := &follower{r: r, x: x, arn: arn, cluster: r.taskCluster(x.Job, arn), stream: r.streamName(containerJob, arn), marker: marker(x.Job), cur: cur}
	bg := context.WithoutCancel(ctx)
	wait := r.cfg.Poll
	var missingSince time.Time
	for {
		if ctx.Err() != nil {
			return f.interrupted(ctx)
		}
		task, err := f.describe(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				continue
			case errors.Is(err, errTaskMissing):
				// ECS is eventually consistent: a task it has just started
				// may not be visible yet. Keep looking for a while; after
				// that, the job ends errored for good, because starting
				// another task could run the steps twice.
				if missingSince.IsZero() {
					missingSince = time.Now()
				}
				if f.status == "" && time.Since(missingSince) < missingGrace {
					sleep(ctx, wait)
					wait = min(wait*2, r.cfg.MaxPoll)
					continue
				}
				return 0, jobs.Permanent(err)
			case errors.Is(err, jobs.ErrPermanent):
				_ = r.stop(bg, f.cluster, arn, fmt.Sprintf("gantry cannot follow this task of job %s", x.Job.Name()))
				return 0, err
			}
			r.log.Warn("describe ECS task", "job", x.Job.ID, "task", arn, "err", err)
			sleep(ctx, wait)
			wait = min(wait*2, r.cfg.MaxPoll)
			continue
		}
		changed := f.noteStatus(task)
		n, err := f.tail(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("tail ECS task log", "job", x.Job.ID, "task", arn, "err", err)
		}
		if aws.ToString(task.LastStatus) == "STOPPED" {
			return f.finish(bg, task)
		}
		if f.previewUp {
			return f.keepPreview(bg, task)
		}
		f.checkDeadlines(bg, task)
		if n > 0 || changed {
			wait = r.cfg.Poll
		} else {
			wait = min(wait*2, r.cfg.MaxPoll)
		}
		sleep(ctx, wait)
	}
}

var errTaskMissing = errors.New("ECS no longer knows the task")

// missingGrace is how long a task that ECS has never shown may stay
// invisible after RunTask before gantry gives up on it.
const missingGrace = 2 * time.Minute

func (f *follower) describe(ctx context.Context) (types.Task, error) {
	out, err := f.r.ecs.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String(f.cluster), Tasks: []string{f.arn}})
	if err != nil {
		return types.Task{}, apiError("DescribeTasks", err)
	}
	if len(out.Tasks) == 0 {
		return types.Task{}, &jobs.UserError{
			Msg: say.F("ECS no longer knows task %s (it keeps stopped tasks for about an hour)", taskID(f.arn)), Err: errTaskMissing}
	}
	return out.Tasks[0], nil
}

// noteStatus logs a change of the task's status and reports it.
func (f *follower) noteStatus(t types.Task) bool {
	s := aws.ToString(t.LastStatus)
	if s == f.status {
		return false
	}
	f.status = s
	if s != "STOPPED" {
		f.x.Log.Line(fmt.Sprintf("── ECS task %s is %s", taskID(f.arn), s))
	}
	return true
}

// timeout is the plan's timeout.
func (f *follower) timeout() time.Duration {
	if t := f.x.Job.Plan.Timeout; t > 0 {
		return t
	}
	return spec.DefaultTimeout
}

// checkDeadlines stops a task that runs past the plan's timeout (counted
// from RUNNING), or that has not started within StartTimeout.
func (f *follower) checkDeadlines(ctx context.Context, t types.Task) {
	if f.why != notStopped {
		return
	}
	now := time.Now()
	switch {
	case t.StartedAt != nil && now.After(t.StartedAt.Add(f.timeout())):
		f.x.Log.Line(fmt.Sprintf("── timed out after %s (the plan's timeout); stopping the task", f.timeout()))
		if f.r.stop(ctx, f.cluster, f.arn, fmt.Sprintf("job %s timed out after %s", f.x.Job.Name(), f.timeout())) == nil {
			f.why = stopTimeout
		}
	case t.StartedAt == nil && t.CreatedAt != nil && now.After(t.CreatedAt.Add(f.r.cfg.StartTimeout)):
		f.x.Log.Line(fmt.Sprintf("── the task did not start within %s; stopping it", f.r.cfg.StartTimeout))
		if f.r.stop(ctx, f.cluster, f.arn, fmt.Sprintf("job %s: the task did not start within %s", f.x.Job.Name(), f.r.cfg.StartTimeout)) == nil {
			f.why = stopStart
		}
	}
}

// interrupted handles the end of the job's context: a cancel stops the
// task and waits for it; a shutdown leaves it running.
func (f *follower) interrupted(ctx context.Context) (int, error) {
	cause := context.Cause(ctx)
	var c *jobs.CancelError
	if !errors.As(cause, &c) {
		if err := f.x.Log.Flush(); err != nil {
			f.r.log.Error("write job log", "job", f.x.Job.ID, "err", err)
		}
		return 0, cause
	}
	bg := context.WithoutCancel(ctx)
	f.x.Log.Line(fmt.Sprintf("── %s; stopping ECS task %s", c.Error(), taskID(f.arn)))
	f.why = stopCancel
	if err := f.r.stop(bg, f.cluster, f.arn, fmt.Sprintf("job %s %s", f.x.Job.Name(), c.Error())); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(f.r.cfg.StopWait)
	for {
		task, err := f.describe(bg)
		if err == nil {
			f.noteStatus(task)
			_, _ = f.tail(bg)
			if aws.ToString(task.LastStatus) == "STOPPED" {
				return f.finish(bg, task)
			}
		} else if errors.Is(err, errTaskMissing) {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("task %s of job %s: %w within %s", f.arn, f.x.Job.Name(), errNotStopped, f.r.cfg.StopWait)
		}
		sleep(bg, f.r.cfg.Poll)
	}
}

// finish reads the rest of the log of a stopped task and says how the job
// ended: the job container's exit code, or an error that says why the
// steps did not run.
func (f *follower) finish(ctx context.Context, t types.Task) (int, error) {
	job, fetch := container(t, containerJob), container(t, containerFetch)
	code, hasCode := exitCode(job)
	f.drain(ctx, hasCode, code)
	why := f.why
	reason := aws.ToString(t.StoppedReason)
	if why == notStopped && t.StopCode == types.TaskStopCodeUserInitiated && strings.HasPrefix(reason, "gantry: ") && strings.Contains(reason, " timed out after ") {
		why = stopTimeout // stopped by a worker that did not live to report it
	}
	switch why {
	case stopTimeout:
		f.endStep(ctx, TimeoutExitCode, t)
		msg := fmt.Sprintf("timed out after %s (the plan's timeout): the task was stopped", f.timeout())
		f.x.Log.Line("── " + msg)
		_ = f.x.Note(ctx, say.F("%s %s", f.x.Job.Name(), msg))
		return TimeoutExitCode, nil
	case stopCancel:
		f.endStep(ctx, code, t)
		return code, nil
	case stopStart:
		return 0, &jobs.UserError{Msg: say.F("the ECS task did not start within %s; gantry stopped it", f.r.cfg.StartTimeout)}
	}
	if !hasCode {
		// The job container never ran: the fetch container failed (its
		// SUCCESS is the job container's condition), or the task did.
		if fc, ok := exitCode(fetch); ok && fc != 0 {
			return 0, f.fetchFailed(ctx, fc, fetch)
		}
		detail := reason
		if cr := aws.ToString(job.Reason); cr != "" && !strings.Contains(detail, cr) {
			detail += " (" + cr + ")"
		}
		err := &jobs.UserError{Msg: say.F("the ECS task stopped before the steps ran: %s", detail)}
		f.x.Log.Line("── " + err.Msg.String())
		if permanentStartFailure(detail) {
			return 0, jobs.Permanent(err)
		}
		return 0, err
	}
	switch t.StopCode {
	case types.TaskStopCodeSpotInterruption, types.TaskStopCodeTerminationNotice:
		f.endStep(ctx, code, t)
		return 0, &jobs.UserError{Msg: say.F("ECS stopped the task before the steps ended: %s", reason)}
	case types.TaskStopCodeUserInitiated:
		if !strings.HasPrefix(reason, "gantry: ") {
			f.endStep(ctx, code, t)
			return 0, jobs.Permanent(&jobs.UserError{Msg: say.F("the ECS task was stopped outside gantry: %s", reason)})
		}
	}
	if cr := aws.ToString(job.Reason); cr != "" {
		f.x.Log.Line("── the job container stopped: " + cr)
	}
	if code != 0 && f.cur.Step == 0 && f.cur.Done == 0 {
		f.x.Log.Line(fmt.Sprintf("── the job container exited with code %d before the first step started", code))
	}
	f.endStep(ctx, code, t)
	return code, nil
}

// drain reads the log after the task stopped. CloudWatch may receive the
// last lines a little after STOPPED: while the job container exited by
// itself and the end marker of its last step has not arrived, it keeps
// reading for up to LogGrace.
func (f *follower) drain(ctx context.Context, hasCode bool, code int) {
	deadline := time.Now().Add(f.r.cfg.LogGrace)
	for {
		n, err := f.tail(ctx)
		if err != nil {
			f.r.log.Warn("tail ECS task log", "job", f.x.Job.ID, "task", f.arn, "err", err)
		}
		if n > 0 {
			continue
		}
		complete := f.cur.Step == 0 && (code != 0 && f.cur.Done > 0 || code == 0 && f.cur.Done == len(f.x.Job.Plan.Steps))
		// A job that collects results prints them last.
		complete = complete && (f.gotResults || f.r.collectSpec(f.x.Job) == nil)
		if !hasCode || f.why != notStopped || complete || time.Now().After(deadline) {
			return
		}
		sleep(ctx, min(f.r.cfg.Poll, 500*time.Millisecond))
	}
}

// endStep ends the step that started and has no end marker (the task was
// stopped under it).
func (f *follower) endStep(ctx context.Context, code int, t types.Task) {
	if f.cur.Step == 0 {
		return
	}
	var took time.Duration
	if t.StoppedAt != nil && f.cur.At > 0 {
		took = t.StoppedAt.Sub(time.UnixMilli(f.cur.At))
	}
	step := f.cur.Step
	f.cur.Step, f.cur.At, f.cur.Done = 0, 0, step
	if err := f.x.StepEnded(ctx, step, code, max(took, 0)); err != nil {
		f.r.log.Error("record step end", "job", f.x.Job.ID, "err", err)
	}
	if err := f.save(ctx); err != nil {
		f.r.log.Error("record log cursor", "job", f.x.Job.ID, "err", err)
	}
}

// fetchFailed reports a fetch container that exited non-zero, with the
// end of its log.
func (f *follower) fetchFailed(ctx context.Context, code int, fetch types.Container) error {
	j := f.x.Job
	lines := f.lastLines(ctx, containerFetch, 15)
	f.x.Log.Line(fmt.Sprintf("── checking out %s at %s failed (exit code %d):", j.Repo, j.ShortSHA(), code))
	last := aws.ToString(fetch.Reason)
	for _, l := range lines {
		f.x.Log.Line("   " + l)
		if strings.TrimSpace(l) != "" {
			last = strings.TrimSpace(l)
		}
	}
	msg := say.F("checking out %s at %s failed in the ECS task", j.Repo, j.ShortSHA())
	if last != "" {
		msg += say.F(": %s", strings.TrimPrefix(last, "gantry: "))
	}
	err := &jobs.UserError{Msg: msg}
	for _, l := range lines {
		if strings.Contains(l, commitNotFound) {
			return jobs.Permanent(err)
		}
	}
	return err
}

func container(t types.Task, name string) types.Container {
	for _, c := range t.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	return types.Container{}
}

func exitCode(c types.Container) (int, bool) {
	if c.ExitCode == nil {
		return 0, false
	}
	return int(*c.ExitCode), true
}

// permanentStartFailure reports whether a task that never ran failed for
// a reason that trying again cannot mend: an image that does not exist or
// may not be pulled, a malformed image name.
func permanentStartFailure(reason string) bool {
	r := strings.ToLower(reason)
	if !strings.Contains(r, "cannotpullcontainer") && !strings.Contains(r, "invalid reference") {
		return false
	}
	for _, s := range []string{"not found", "manifest unknown", "does not exist", "pull access denied", "invalid reference format", "repository name must"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
