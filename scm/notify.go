package scm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// PRStatusContext is the context of the commit statuses of pull request
// builds. Branch builds use DefaultStatusContext: a commit that is both a
// branch's head and a pull request's shows both builds side by side.
const PRStatusContext = "gantry/pr"

// BuildContext is the status context of a build: PRStatusContext for a
// pull request (pr > 0), else DefaultStatusContext.
func BuildContext(pr int) string {
	if pr > 0 {
		return PRStatusContext
	}
	return DefaultStatusContext
}

// NotifierConfig configures a Notifier. Zero values are the defaults.
type NotifierConfig struct {
	Group    string                // consumer group of the job events; "" is "github"
	Consumer string                // this process within the group; "" is host/pid
	Links    func(id int64) string // the signed link to a job's page; nil: statuses link nowhere
	// Reclaim is how long an event may stay read but unacknowledged (its
	// reader died) before another consumer takes it; 0 is 5 minutes.
	Reclaim time.Duration
	Logger  *slog.Logger // nil: the Reporter's
}

// Notifier reports jobs to GitHub as their events come: a commit status for
// every build of a GitHub repository (pending while queued and running,
// then success, failure or error), and for every deploy a GitHub
// Deployment, made when the deploy starts running, with its statuses
// (in_progress, then success, failure or error). Statuses link to the job's
// page. Everything goes through the Reporter's outbox, so GitHub being slow
// or away never holds up a job or the events, and nothing is lost when
// gantry stops; jobs of repositories not read through GitHub are not
// reported.
//
// Several processes may each run a Notifier: they share the events as one
// consumer group, and the reports of one deploy go through one outbox
// queue, so its Deployment is made once.
type Notifier struct {
	store *jobs.Store
	rep   *Reporter
	cfg   NotifierConfig
	log   *slog.Logger

	mu   sync.Mutex
	last map[int64]string // job -> the last commit status queued for it
}

// NewNotifier returns a Notifier that reads store's job events and reports
// through rep. A nil rep reports nothing.
func NewNotifier(store *jobs.Store, rep *Reporter, cfg NotifierConfig) *Notifier {
	if cfg.Group == "" {
		cfg.Group = "github"
	}
	if cfg.Consumer == "" {
		host, _ := os.Hostname()
		cfg.Consumer = host + "/" + strconv.Itoa(os.Getpid())
	}
	if cfg.Reclaim <= 0 {
		cfg.Reclaim = 5 * time.Minute
	}
	logger := cfg.Logger
	if logger == nil && rep != nil {
		logger = rep.log
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: store, rep: rep, cfg: cfg, log: logger, last: map[int64]string{}}
}

// Drain joins the consumer group and reports the events already announced
// that no consumer has taken (and those a consumer that died left), without
// waiting for more. Call it before jobs can start, so that every event from
// then on is reported, and after Run, so that what happened just before the
// stop is reported too.
func (n *Notifier) Drain(ctx context.Context) error {
	for {
		got, err := n.poll(ctx, -1)
		if err != nil || got == 0 {
			return err
		}
	}
}

// Run reports job events until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if _, err := n.poll(ctx, 2*time.Second); err != nil && ctx.Err() == nil {
			n.log.Error("read job events for GitHub", "group", n.cfg.Group, "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
	return nil
}

// poll reads one batch of events, waiting up to block (negative: not at
// all), reports them and acknowledges those handled.
func (n *Notifier) poll(ctx context.Context, block time.Duration) (int, error) {
	evs, err := n.store.ReadEventsGroup(ctx, n.cfg.Group, n.cfg.Consumer, 64, block, n.cfg.Reclaim)
	if err != nil {
		return 0, err
	}
	done := make([]string, 0, len(evs))
	for _, e := range evs {
		if err := n.Handle(ctx, e); err != nil {
			if ctx.Err() != nil {
				break
			}
			// Left unacknowledged: it is handed out again after Reclaim.
			n.log.Error("report job event to GitHub", "job", e.Job, "event", e.Type, "err", err)
			continue
		}
		done = append(done, e.ID)
	}
	if err := n.store.AckEvents(context.WithoutCancel(ctx), n.cfg.Group, done...); err != nil {
		return len(evs), err
	}
	return len(evs), nil
}

// Handle reports one event. Events of one job must come in order.
func (n *Notifier) Handle(ctx context.Context, e jobs.Event) error {
	if n.rep == nil {
		return nil
	}
	switch e.Type {
	case jobs.EventState, jobs.EventStep, jobs.EventRetry:
	default:
		return nil
	}
	j, err := n.store.Get(ctx, e.Job)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.GitHub == "" || !isSHA(j.SHA) {
		return nil
	}
	if j.Kind == jobs.Deploy {
		return n.deployment(ctx, j, e)
	}
	return n.commitStatus(ctx, j, e)
}

// commitStatus queues the commit status that event e of build j calls for.
func (n *Notifier) commitStatus(ctx context.Context, j *jobs.Job, e jobs.Event) error {
	st, ok := n.buildStatus(j, e)
	if !ok {
		return nil
	}
	final := st.State != "pending"
	key := st.State + "\x00" + st.Description
	n.mu.Lock()
	same := !final && n.last[j.ID] == key
	n.mu.Unlock()
	if same {
		return nil // the same as the last one: a step ended, the next began
	}
	st.Context, st.TargetURL = BuildContext(j.PR), n.link(j.ID)
	err := n.rep.enqueue(ctx, &report{Kind: kindStatus, Repo: j.GitHub, SHA: j.SHA, Status: &st, Job: j.ID, UnlessEnded: !final})
	if err != nil {
		return err
	}
	n.mu.Lock()
	if final {
		delete(n.last, j.ID)
	} else {
		n.last[j.ID] = key
	}
	n.mu.Unlock()
	return nil
}

// buildStatus is the commit status for event e of build j; false when the
// event calls for none.
func (n *Notifier) buildStatus(j *jobs.Job, e jobs.Event) (CommitStatus, bool) {
	if e.Type == jobs.EventRetry {
		return CommitStatus{State: "pending", Description: e.Text.String()}, true
	}
	if !e.State.Final() && j.State.Final() {
		return CommitStatus{}, false // stale: the end is reported by its own event
	}
	if e.Type == jobs.EventStep {
		if j.State != jobs.Running || j.Step <= 0 || len(j.Plan.Steps) == 0 {
			return CommitStatus{}, false
		}
		return CommitStatus{State: "pending", Description: fmt.Sprintf("running step %d of %d", j.Step, len(j.Plan.Steps))}, true
	}
	switch e.State {
	case jobs.Queued:
		return CommitStatus{State: "pending", Description: "queued"}, true
	case jobs.AwaitingApproval:
		return CommitStatus{State: "pending", Description: "awaiting approval"}, true
	case jobs.Waiting:
		return CommitStatus{State: "pending", Description: withReason("waiting", j.Reason.String())}, true
	case jobs.Running:
		return CommitStatus{State: "pending", Description: "running"}, true
	case jobs.Succeeded:
		return CommitStatus{State: "success", Description: "succeeded" + took(j)}, true
	case jobs.Failed:
		return CommitStatus{State: "failure", Description: withReason("failed"+took(j), j.Reason.String())}, true
	case jobs.Errored:
		return CommitStatus{State: "error", Description: withReason("errored", j.Reason.String())}, true
	case jobs.Cancelled:
		return CommitStatus{State: "error", Description: cancelReason(j)}, true
	}
	return CommitStatus{}, false
}

// deployment queues what event e of deploy j calls for: its GitHub
// Deployment once it runs, and that deployment's statuses.
func (n *Notifier) deployment(ctx context.Context, j *jobs.Job, e jobs.Event) error {
	var state, desc string
	create := false
	switch {
	case e.Type == jobs.EventRetry:
		state, desc = "queued", e.Text.String()
	case e.Type != jobs.EventState:
		return nil
	case e.State == jobs.Running:
		if j.State.Final() {
			return nil // stale: the end is reported by its own event
		}
		state, desc, create = "in_progress", "running", true
	case e.State == jobs.Succeeded:
		state, desc = "success", "succeeded"+took(j)
	case e.State == jobs.Failed:
		state, desc = "failure", withReason("failed"+took(j), j.Reason.String())
	case e.State == jobs.Errored:
		state, desc = "error", withReason("errored", j.Reason.String())
	case e.State == jobs.Cancelled:
		state, desc = "error", cancelReason(j)
	default:
		return nil
	}
	final := e.State.Final() && e.Type == jobs.EventState
	// A deploy that ran has a deployment, even if the event that should
	// have made it was lost; one that never ran has nothing to report.
	create = create || final && !j.Started.IsZero()
	return n.rep.enqueue(ctx, &report{
		Kind: kindJobDeployment, Repo: j.GitHub, SHA: j.SHA, Job: j.ID, Env: j.Env,
		State: state, LogURL: n.link(j.ID), Description: desc, Create: create, Final: final,
		Title: fmt.Sprintf("gantry %s: deploy %s (%s) to %s", j.Name(), j.Target(), j.ShortSHA(), j.Env),
	})
}

func (n *Notifier) link(id int64) string {
	if n.cfg.Links == nil {
		return ""
	}
	return n.cfg.Links(id)
}

// took is " in 1m2s" for a job that ran, else "".
func took(j *jobs.Job) string {
	if j.Started.IsZero() || j.Finished.IsZero() {
		return ""
	}
	return " in " + j.Finished.Sub(j.Started).Round(time.Second).String()
}

func withReason(what, reason string) string {
	if reason == "" {
		return what
	}
	return what + ": " + reason
}

func cancelReason(j *jobs.Job) string {
	if strings.HasPrefix(string(j.Reason), "cancelled") {
		return j.Reason.String()
	}
	return withReason("cancelled", j.Reason.String())
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
