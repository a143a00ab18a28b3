package scm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

const (
	// reportRounds is how many times the Reporter tries one report, each a
	// GitHub call with its own retries, before it gives up: with the waits
	// doubling up to maxRoundWait, a GitHub outage of about ten minutes
	// delays a pull request's status instead of leaving it pending.
	reportRounds = 12
	// maxRoundWait caps the wait between two rounds.
	maxRoundWait = 2 * time.Minute
	// reportWorkers is how many reports are delivered at once (each to a
	// different commit or deployment).
	reportWorkers = 4
	// maxPendingReports bounds the queue while GitHub is away; reports
	// beyond it are dropped and logged.
	maxPendingReports = 10000
	// drainTimeout is how long Run keeps delivering after its context ends.
	drainTimeout = 3 * time.Second
)

// Reporter sends commit statuses and deployment statuses to GitHub without
// ever blocking a job: Status and Deployment return at once, and Run's
// goroutines deliver them, in order for each commit (repo and SHA) and each
// deployment, different ones in parallel. A report that fails is tried again
// with backoff (GitHub's own retries first, then up to 12 rounds, doubling
// from 4×RetryBase); one that cannot be delivered is logged and dropped:
// reporting is never fatal.
//
// A nil *Reporter drops every report, for gantry without GitHub access.
type Reporter struct {
	g          *GitHub
	log        *slog.Logger
	roundBase  time.Duration
	drainAfter time.Duration

	mu      sync.Mutex
	queues  map[string]*reportQueue // by key, while it holds reports
	ready   []string                // keys with reports and no worker, in arrival order
	pending int                     // reports queued or being delivered
	wake    chan struct{}           // capacity 1: something changed
}

type reportQueue struct {
	items  []*report
	active bool // a worker is delivering from it
}

type report struct {
	send  func(context.Context) error
	attrs []any // for the log
	done  chan struct{}
}

// NewReporter returns a Reporter that sends through g and logs to logger
// (nil: g's logger). Start its Run.
func NewReporter(g *GitHub, logger *slog.Logger) *Reporter {
	if logger == nil {
		logger = g.log
	}
	return &Reporter{
		g: g, log: logger, roundBase: 4 * g.retryBase, drainAfter: drainTimeout,
		queues: map[string]*reportQueue{}, wake: make(chan struct{}, 1),
	}
}

// Status queues st for commit sha of repo.
func (r *Reporter) Status(repo, sha string, st CommitStatus) {
	if r == nil {
		return
	}
	if st.Context == "" {
		st.Context = DefaultStatusContext
	}
	r.enqueue("status "+repo+"@"+sha, &report{
		send:  func(ctx context.Context) error { return r.g.SetStatus(ctx, repo, sha, st) },
		attrs: []any{"repo", repo, "sha", sha, "context", st.Context, "state", st.State},
	})
}

// Deployment queues a status for deployment id of repo (see
// GitHub.SetDeploymentStatus).
func (r *Reporter) Deployment(repo string, id int64, state, logURL, description string) {
	if r == nil {
		return
	}
	r.enqueue(fmt.Sprintf("deployment %s#%d", repo, id), &report{
		send: func(ctx context.Context) error {
			return r.g.SetDeploymentStatus(ctx, repo, id, state, logURL, description)
		},
		attrs: []any{"repo", repo, "deployment", id, "state", state},
	})
}

func (r *Reporter) enqueue(key string, rep *report) {
	rep.done = make(chan struct{})
	r.mu.Lock()
	if r.pending >= maxPendingReports {
		r.mu.Unlock()
		close(rep.done)
		r.log.Error("GitHub report dropped: too many reports waiting for GitHub", append(rep.attrs, "waiting", maxPendingReports)...)
		return
	}
	q := r.queues[key]
	if q == nil {
		q = &reportQueue{}
		r.queues[key] = q
	}
	q.items = append(q.items, rep)
	r.pending++
	if !q.active && len(q.items) == 1 {
		r.ready = append(r.ready, key)
	}
	r.mu.Unlock()
	r.notify()
}

func (r *Reporter) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers reports until ctx ends, then goes on delivering what is
// pending for up to a few seconds and logs what it has to give up. Reports
// queued after Run returns wait for the next Run. Run it once at a time.
func (r *Reporter) Run(ctx context.Context) {
	if r == nil {
		return
	}
	deliverCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, reportWorkers)
		stop     = ctx.Done()
		draining bool
		drainEnd <-chan time.Time
	)
	startDrain := func() {
		stop, draining, drainEnd = nil, true, time.After(r.drainAfter)
	}
loop:
	for {
		if draining && r.idle() {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-stop:
			startDrain()
			continue
		case <-drainEnd:
			break loop
		}
		key, ok := r.take()
		if !ok {
			<-slots
			select {
			case <-r.wake:
			case <-stop:
				startDrain()
			case <-drainEnd:
				break loop
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(deliverCtx, key)
			<-slots
			r.notify()
		}()
	}
	cancel()
	wg.Wait()
	r.abandonReady()
}

// idle reports whether nothing is pending.
func (r *Reporter) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending == 0
}

// take returns the next key that has reports and no worker, and marks it
// as having one.
func (r *Reporter) take() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ready) == 0 {
		return "", false
	}
	key := r.ready[0]
	r.ready = r.ready[1:]
	r.queues[key].active = true
	return key, true
}

// work delivers the reports of key in order until its queue is empty.
func (r *Reporter) work(ctx context.Context, key string) {
	for {
		r.mu.Lock()
		q := r.queues[key]
		if len(q.items) == 0 {
			delete(r.queues, key)
			r.mu.Unlock()
			return
		}
		rep := q.items[0]
		r.mu.Unlock()

		r.deliver(ctx, rep)

		r.mu.Lock()
		q.items = q.items[1:]
		r.pending--
		r.mu.Unlock()
		close(rep.done)
	}
}

// deliver sends rep, retrying in rounds; it logs what it gives up.
func (r *Reporter) deliver(ctx context.Context, rep *report) {
	for round := 1; ; round++ {
		err := rep.send(ctx)
		if err == nil {
			return
		}
		switch {
		case ctx.Err() != nil:
			r.log.Error("GitHub report not delivered: gantry is stopping", append(rep.attrs, "err", err)...)
			return
		case errors.Is(err, jobs.ErrPermanent):
			r.log.Error("GitHub report not delivered", append(rep.attrs, "err", err)...)
			return
		case round >= reportRounds:
			r.log.Error("GitHub report not delivered: giving up", append(rep.attrs, "attempts", round, "err", err)...)
			return
		}
		wait := min(r.roundBase<<min(round-1, 20), maxRoundWait)
		r.log.Warn("GitHub report failed; will try again", append(rep.attrs, "in", wait, "err", err)...)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.log.Error("GitHub report not delivered: gantry is stopping", append(rep.attrs, "err", err)...)
			return
		case <-t.C:
		}
	}
}

// abandonReady logs and drops the reports no worker took up before Run
// ended.
func (r *Reporter) abandonReady() {
	r.mu.Lock()
	var dropped []*report
	for _, key := range r.ready {
		q := r.queues[key]
		dropped = append(dropped, q.items...)
		r.pending -= len(q.items)
		delete(r.queues, key)
	}
	r.ready = nil
	r.mu.Unlock()
	for _, rep := range dropped {
		r.log.Error("GitHub report not delivered: gantry is stopping", rep.attrs...)
		close(rep.done)
	}
}

// Flush waits until every report queued so far has been delivered or given
// up, or ctx ends. It needs Run to be running.
func (r *Reporter) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	var dones []chan struct{}
	for _, q := range r.queues {
		for _, rep := range q.items {
			dones = append(dones, rep.done)
		}
	}
	r.mu.Unlock()
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return fmt.Errorf("flush GitHub reports: %w", context.Cause(ctx))
		}
	}
	return nil
}
