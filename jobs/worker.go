package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/say"
)

// ErrShutdown is the cause given to a job's context when its worker stops
// before the job ends: the job is handed back, not failed.
var ErrShutdown = errors.New("worker shutting down")

// ErrLeaseLost is the cause given to a job's context when its worker can
// no longer be sure it holds the job's lease (another worker took it, or it
// could not renew it for most of the lease's TTL): it stops the job's work
// at once, without grace, and touches nothing of the job.
var ErrLeaseLost = errors.New("lease of the job lost")

// CancelError is the cause given to a job's context when someone cancels it.
type CancelError struct{ By string }

func (e *CancelError) Error() string { return e.Text().String() }

// Text is the reason a cancelled job gives: who cancelled it.
func (e *CancelError) Text() say.Text {
	if e.By == "" {
		return "cancelled"
	}
	return "cancelled by " + say.PersonOf(e.By)
}

// WorkerConfig configures a Worker. Zero values are the defaults.
type WorkerConfig struct {
	Name        string // consumer name; "" is host-pid-random
	Concurrency int    // jobs at once; 0 is 4
	// LeaseTTL is how long a job's lease lasts unrenewed: a silent worker's
	// jobs go to others after it. A worker that could not renew a lease
	// for 2/3 of it stops the job. 0 is 15s.
	LeaseTTL    time.Duration
	MaxAttempts int           // runs of an errored job before it is dead-lettered; 0 is 3
	Backoff     time.Duration // wait before the first retry, doubled each time; 0 is 5s
	Grace       time.Duration // on shutdown, how long running jobs may finish; 0 is 10s
	Logger      *slog.Logger
	// Busy is told when the worker goes from idle to holding jobs (true)
	// and back (false): ECS task protection hangs on it.
	Busy func(busy bool)
	// Ended is told of each job that ended here, after its end is recorded.
	Ended func(j *Job)
}

// Worker takes jobs off the queue and runs them.
type Worker struct {
	store  *Store
	queue  *Queue
	log    *Log
	runner Runner
	gates  []Gate
	cfg    WorkerConfig
	logger *slog.Logger

	mu       sync.Mutex
	running  map[int64]context.CancelCauseFunc
	handling map[int64]bool // jobs this worker has taken, from lease to release
}

// NewWorker returns a worker that runs jobs from s with runner, after
// passing them through gates in order.
func NewWorker(s *Store, log *Log, runner Runner, gates []Gate, cfg WorkerConfig) *Worker {
	if cfg.Name == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		cfg.Name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{
		store: s, queue: NewQueue(s), log: log, runner: runner, gates: gates, cfg: cfg,
		logger: cfg.Logger.With("worker", cfg.Name), running: map[int64]context.CancelCauseFunc{},
		handling: map[int64]bool{},
	}
}

// Name is the worker's consumer name.
func (w *Worker) Name() string { return w.cfg.Name }

// Run takes and runs jobs until ctx ends, then lets running jobs finish for
// the grace period and hands back those that have not.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.queue.Init(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.listenCancels(ctx) }()
	go func() { defer wg.Done(); w.promoteLoop(ctx) }()

	slots := make(chan struct{}, w.cfg.Concurrency)
	var jobs sync.WaitGroup
	var inFlight int
	var busyMu sync.Mutex
	setBusy := func(delta int) {
		busyMu.Lock()
		defer busyMu.Unlock()
		before := inFlight
		inFlight += delta
		if w.cfg.Busy != nil && (before == 0) != (inFlight == 0) {
			w.cfg.Busy(inFlight > 0)
		}
	}
	for ctx.Err() == nil {
		free := w.cfg.Concurrency - len(slots)
		if free == 0 {
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		ds, err := w.queue.Reclaim(ctx, w.cfg.Name, w.cfg.LeaseTTL, int64(free))
		if err == nil && len(ds) == 0 {
			ds, err = w.queue.Take(ctx, w.cfg.Name, int64(free), time.Second)
		}
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Error("take jobs", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for _, d := range ds {
			slots <- struct{}{}
			setBusy(1)
			jobs.Add(1)
			go func(d Delivery) {
				defer func() { setBusy(-1); jobs.Done() }()
				if w.handle(d, slots) {
					<-slots
				}
			}(d)
		}
	}
	w.shutdown(&jobs)
	wg.Wait()
	return nil
}

func (w *Worker) shutdown(jobs *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(w.cfg.Grace):
	}
	w.mu.Lock()
	for id, cancel := range w.running {
		w.logger.Info("handing back job", "job", id)
		cancel(ErrShutdown)
	}
	w.mu.Unlock()
	<-done
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *Worker) promoteLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.queue.Promote(ctx); err != nil && ctx.Err() == nil {
				w.logger.Error("promote scheduled jobs", "err", err)
			}
		}
	}
}

func (w *Worker) listenCancels(ctx context.Context) {
	sub := w.store.rdb.Subscribe(ctx, w.queue.CancelChannel())
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			id, err := strconv.ParseInt(m.Payload, 10, 64)
			if err != nil {
				continue
			}
			w.cancelLocal(ctx, id)
		}
	}
}

// cancelLocal stops job id if this worker runs it and a cancel is recorded.
func (w *Worker) cancelLocal(ctx context.Context, id int64) {
	w.mu.Lock()
	cancel, ok := w.running[id]
	w.mu.Unlock()
	if !ok {
		return
	}
	by, err := w.store.CancelRequest(ctx, id)
	if err != nil || by == nil {
		return
	}
	cancel(by)
}

// handle runs one delivery to its end, or hands it back. slots is the
// worker's concurrency: a job that waits at a gate gives its slot up while
// it waits. handle reports whether the job holds a slot when it returns.
func (w *Worker) handle(d Delivery, slots chan struct{}) (holdsSlot bool) {
	holdsSlot = true
	ctx := context.Background()
	logger := w.logger.With("job", d.Job)
	if !w.claim(d.Job) {
		// This worker reclaimed the delivery of a job it is still busy
		// with (it lost the lease and is stopping): the lease is per
		// worker, so only this check keeps the job from running twice.
		logger.Info("job still being stopped here; leaving the delivery for later")
		return
	}
	defer w.unclaim(d.Job)
	leased := time.Now()
	ok, err := w.queue.Lease(ctx, d.Job, w.cfg.Name, w.cfg.LeaseTTL)
	if err != nil {
		logger.Error("lease job", "err", err)
		return // the delivery stays pending and is reclaimed later
	}
	if !ok {
		// Another live worker runs this job. Leave this delivery pending:
		// if that worker dies, it is reclaimed; once the job has ended, the
		// next look at it acknowledges it.
		logger.Info("job held by another worker; leaving the delivery for later")
		return
	}
	defer func() {
		if err := w.queue.Unlease(ctx, d.Job, w.cfg.Name); err != nil {
			logger.Error("release job lease", "err", err)
		}
	}()
	j, err := w.store.Get(ctx, d.Job)
	if err != nil {
		logger.Error("read job", "err", err)
		if errors.Is(err, ErrNotFound) {
			_ = w.queue.Done(ctx, d)
		}
		return
	}
	if j.State.Final() || j.State == AwaitingApproval {
		_ = w.queue.Done(ctx, d)
		return
	}

	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	w.running[j.ID] = cancel
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, j.ID)
		w.mu.Unlock()
	}()
	// The heartbeat outlives jobCtx: a cancelled job keeps its lease while
	// its runner stops the work.
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go w.heartbeat(hbCtx, d, leased, cancel, hbDone)
	stopHeartbeat := sync.OnceFunc(func() { stopHB(); <-hbDone })
	defer stopHeartbeat()

	// A cancel may have come while the job sat in the queue or waited.
	if by, _ := w.store.CancelRequest(ctx, j.ID); by != nil {
		cancel(by)
	}

	lw := w.log.Writer(ctx, j.ID)
	x := &Execution{Job: j, Log: lw, Env: map[string]string{}, store: w.store, slots: slots}
	defer func() { holdsSlot = !x.parked }()
	exitCode, runErr := w.execute(jobCtx, x, logger)
	if errors.Is(context.Cause(jobCtx), ErrLeaseLost) {
		// Another worker may run the job now: what this run still holds
		// must not be appended among that run's output.
		lw.Abandon()
	} else if err := lw.Close(); err != nil {
		logger.Error("write job log", "err", err)
	}
	// Before the outcome is written: a renewal after a hand-back would
	// hold the job from the next worker.
	stopHeartbeat()
	w.finish(ctx, d, x.Job, exitCode, runErr, context.Cause(jobCtx), logger)
	return
}

// claim marks job id as handled by this worker, unless it already is.
func (w *Worker) claim(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handling[id] {
		return false
	}
	w.handling[id] = true
	return true
}

func (w *Worker) unclaim(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.handling, id)
}

// The lease of a running job is renewed every LeaseTTL/3. A renewal that
// succeeds keeps the lease for a whole TTL from the moment it was sent (or
// later). When none has succeeded for leaseMargin (2/3 of the TTL: Redis
// is unreachable, frozen or failing over), the job is stopped with
// ErrLeaseLost: its lease still has a third of the TTL to run, which is
// the time the runner has to stop the work before another worker can take
// the job. So a job never runs on two workers at once.

func (w *Worker) leaseMargin() time.Duration { return w.cfg.LeaseTTL * 2 / 3 }

// renewal is the outcome of one attempt to renew a lease.
type renewal struct {
	sent time.Time // when the renewal was sent: the lease runs a TTL from here at least
	lost bool      // another worker holds the lease
}

// heartbeat keeps job d's lease and delivery fresh until ctx ends, and
// stops the job through cancel when the lease is lost or may be: another
// worker took it, or no renewal succeeded for leaseMargin since the last
// one (leased is when the lease was taken). It closes done when it
// returns.
func (w *Worker) heartbeat(ctx context.Context, d Delivery, leased time.Time, cancel context.CancelCauseFunc, done chan struct{}) {
	defer close(done)
	rctx, stopRenewing := context.WithCancel(ctx)
	renewals := make(chan renewal)
	renewing := make(chan struct{})
	go func() { defer close(renewing); w.renew(rctx, d, cancel, renewals) }()
	defer func() { stopRenewing(); <-renewing }()

	watchdog := time.NewTimer(time.Until(leased.Add(w.leaseMargin())))
	defer watchdog.Stop()
	last := leased
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-renewals:
			if r.lost {
				w.logger.Error("another worker took the lease of a running job; stopping it", "job", d.Job)
				cancel(ErrLeaseLost)
				return
			}
			last = r.sent
			watchdog.Reset(time.Until(last.Add(w.leaseMargin())))
		case <-watchdog.C:
			w.logger.Error("could not renew the lease of a running job; stopping it before the lease lapses",
				"job", d.Job, "last_renewed", time.Since(last).Round(time.Millisecond), "lease_ttl", w.cfg.LeaseTTL)
			cancel(ErrLeaseLost)
			return
		}
	}
}

// renew renews job d's lease every LeaseTTL/3 and reports each success (or
// the lease taken by another) on out; after a success it keeps the
// delivery from being reclaimed and looks for a cancel. Each attempt is
// bounded by the interval; a failed one is logged and retried on the next
// tick, the heartbeat's watchdog deciding when it is too late.
func (w *Worker) renew(ctx context.Context, d Delivery, cancel context.CancelCauseFunc, out chan<- renewal) {
	every := w.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		actx, done := context.WithTimeout(ctx, every)
		ok, err := w.queue.Lease(actx, d.Job, w.cfg.Name, w.cfg.LeaseTTL)
		done()
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("renew job lease", "job", d.Job, "err", err)
			}
			continue
		}
		select {
		case out <- renewal{sent: sent, lost: !ok}:
		case <-ctx.Done():
			return
		}
		if ok {
			w.touch(ctx, d, cancel, every)
		}
	}
}

// touch keeps job d's delivery from being reclaimed, and stops the job if
// someone cancelled it (the cancel broadcast may have been missed).
func (w *Worker) touch(ctx context.Context, d Delivery, cancel context.CancelCauseFunc, within time.Duration) {
	ctx, done := context.WithTimeout(ctx, within)
	defer done()
	_ = w.queue.Touch(ctx, w.cfg.Name, d.MsgID)
	if by, _ := w.store.CancelRequest(ctx, d.Job); by != nil {
		cancel(by)
	}
}

// execute passes the gates, marks the job running and runs it.
func (w *Worker) execute(ctx context.Context, x *Execution, logger *slog.Logger) (int, error) {
	j := x.Job
	if j.State == Running && j.Handle == "" {
		_ = x.Note(ctx, say.F("%s is starting again: the worker that ran it stopped", j.Name()))
	}
	// Work that already runs (an ECS task this job started) takes its
	// leases back whatever happens, and reaches the runner even when the
	// job was cancelled meanwhile: only the runner can stop that work.
	gctx := ctx
	if j.Handle != "" {
		gctx = context.WithoutCancel(ctx)
	}
	for _, g := range w.gates {
		leave, err := g.Enter(gctx, x)
		if err != nil {
			return 0, err
		}
		if leave != nil {
			defer func() {
				// Work that goes on without us (an attached ECS task) keeps
				// what it holds: the worker that re-attaches takes it over.
				cause := context.Cause(ctx)
				leave((errors.Is(cause, ErrShutdown) || errors.Is(cause, ErrLeaseLost)) && j.Handle != "")
			}()
		}
	}
	if ctx.Err() != nil && j.Handle == "" {
		return 0, ctx.Err()
	}
	if err := x.unpark(ctx); err != nil && j.Handle == "" {
		return 0, err
	}
	if j.State != Running {
		if j.Started.IsZero() {
			j.Started = w.store.now()
		}
		_, err := w.store.Transition(ctx, j.ID, Change{
			From: []State{Queued, Waiting}, To: Running,
			Set: []any{"started", fmtTime(j.Started), "attempt", strconv.Itoa(j.Attempt)},
		})
		if err != nil {
			return 0, err
		}
		j.State = Running
	}
	logger.Info("running job", "repo", j.Repo, "ref", j.Ref, "attempt", j.Attempt)
	return w.runner.Run(ctx, x)
}

// finish writes the job's outcome, or hands it back on shutdown.
func (w *Worker) finish(ctx context.Context, d Delivery, j *Job, exitCode int, runErr, cause error, logger *slog.Logger) {
	var cancelled *CancelError
	var c Change
	switch {
	case errors.Is(cause, ErrLeaseLost):
		return // the job is another worker's now: its record and delivery are too
	case errors.Is(cause, ErrShutdown):
		w.handBack(ctx, d, j, logger)
		return
	case errors.As(cause, &cancelled):
		c = Change{To: Cancelled, Text: cancelled.Text(), Set: []any{"reason", cancelled.Text()}}
	case runErr == nil && exitCode == 0:
		c = Change{To: Succeeded}
	case runErr == nil:
		reason := say.F("step %d exited with code %d", j.Step, exitCode)
		c = Change{To: Failed, Set: []any{"exit", strconv.Itoa(exitCode), "reason", reason}}
	case errors.Is(runErr, ErrConflict) || errors.Is(runErr, ErrNotFound):
		// The job moved on without us (cancelled while it waited).
		_ = w.queue.Done(ctx, d)
		return
	default:
		c = w.errored(j, runErr, logger)
	}
	if _, err := w.store.Transition(ctx, j.ID, c); err != nil && !errors.Is(err, ErrConflict) {
		logger.Error("record job outcome", "err", err)
		return // the delivery stays pending and is taken up again
	}
	if err := w.queue.Done(ctx, d); err != nil {
		logger.Error("ack job", "err", err)
	}
	logger.Info("job ended", "state", c.To, "exit", exitCode)
	if c.To.Final() && w.cfg.Ended != nil {
		j.State, j.Finished = c.To, w.store.now()
		w.cfg.Ended(j)
	}
}

func (w *Worker) errored(j *Job, runErr error, logger *slog.Logger) Change {
	logger.Error("job errored", "attempt", j.Attempt, "err", runErr)
	msg := UserMessage(runErr, j.ID)
	if errors.Is(runErr, ErrPermanent) || j.Attempt >= w.cfg.MaxAttempts {
		text := msg
		if !errors.Is(runErr, ErrPermanent) {
			text = say.F("%s; gave up after %d attempts and dead-lettered %s", msg, j.Attempt, j.Name())
		}
		return Change{To: Errored, Text: text, Set: []any{"reason", text}, DeadLetter: !errors.Is(runErr, ErrPermanent)}
	}
	wait := w.cfg.Backoff << (j.Attempt - 1)
	next := j.Attempt + 1
	text := say.F("errored: %s; retrying in %s (attempt %d of %d)", msg, wait, next, w.cfg.MaxAttempts)
	return Change{
		To: Queued, Type: EventRetry, Text: text, Due: w.store.now().Add(wait),
		Set: []any{"attempt", strconv.Itoa(next), "reason", text, "handle", "", "cursor", "", "step", "0"},
	}
}

// handBack returns a job this worker will not finish to the queue. Work
// that goes on without us (an attached ECS task) stays running, so the next
// worker re-attaches to it; a local process died with us and starts again.
func (w *Worker) handBack(ctx context.Context, d Delivery, j *Job, logger *slog.Logger) {
	if j.Handle == "" && (j.State == Running || j.State == Waiting) {
		_, err := w.store.Transition(ctx, j.ID, Change{
			From: []State{Running, Waiting}, To: Queued, Text: say.F("%s was handed back to the queue: its worker is stopping", j.Name()),
		})
		if err != nil && !errors.Is(err, ErrConflict) {
			logger.Error("hand back job", "err", err)
		}
	}
	if err := w.queue.Requeue(ctx, d, w.cfg.Name); err != nil {
		logger.Error("hand back job", "err", err)
	}
}
