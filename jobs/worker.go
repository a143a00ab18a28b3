package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
type CancelError struct {
	By  string   // who cancelled it
	Why say.Text // or why it ended cancelled, when no one did
}

func (e *CancelError) Error() string { return e.Text().String() }

// Text is the reason a cancelled job gives: who cancelled it, or why.
func (e *CancelError) Text() say.Text {
	if e.Why != "" {
		return "cancelled: " + e.Why
	}
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

	leases *keeper

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
	w := &Worker{
		store: s, queue: NewQueue(s), log: log, runner: runner, gates: gates, cfg: cfg,
		logger: cfg.Logger.With("worker", cfg.Name), running: map[int64]context.CancelCauseFunc{},
		handling: map[int64]bool{},
	}
	w.leases = newKeeper(w)
	return w
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
	// The leases outlive ctx: running jobs keep them while they finish or
	// are handed back.
	kctx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() { defer close(kept); w.leases.run(kctx) }()

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
	var reclaimed time.Time
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
		var ds []Delivery
		var err error
		if time.Since(reclaimed) >= w.reclaimEvery() {
			ds, err = w.queue.Reclaim(ctx, w.cfg.Name, w.cfg.LeaseTTL, int64(free))
			// After a full batch there may be more: look again at once.
			if err == nil && len(ds) < free {
				reclaimed = time.Now()
			}
		}
		if err == nil && len(ds) == 0 {
			ds, err = w.queue.Take(ctx, w.cfg.Name, int64(free), time.Second)
		}
		var cs []Claim
		if err == nil {
			cs, err = w.claimAll(ctx, ds)
		}
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Error("take jobs", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for _, c := range cs {
			slots <- struct{}{}
			setBusy(1)
			jobs.Add(1)
			go func(c Claim) {
				defer func() { setBusy(-1); jobs.Done() }()
				if w.handle(c, slots) {
					<-slots
				}
			}(c)
		}
	}
	w.shutdown(&jobs)
	stopKeeping()
	<-kept
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

// reclaimEvery is how often the worker looks for deliveries whose workers
// are gone: at most a second, and a third of the lease.
func (w *Worker) reclaimEvery() time.Duration { return min(time.Second, w.cfg.LeaseTTL/3) }

// claimAll leases the jobs of ds and reads their records in one step, and
// returns the claims of the jobs this worker now holds, each marked as
// handled here. Deliveries of jobs held elsewhere stay pending: if their
// holder dies, they are reclaimed; once the job has ended, the next look at
// them acknowledges them.
func (w *Worker) claimAll(ctx context.Context, ds []Delivery) ([]Claim, error) {
	mine := ds[:0:0]
	for _, d := range ds {
		// A reclaimed delivery of a job this worker is still busy with (it
		// lost the lease and is stopping): the lease is per worker, so
		// only this check keeps the job from running twice.
		if w.claim(d.Job) {
			mine = append(mine, d)
		} else {
			w.logger.Info("job still being stopped here; leaving the delivery for later", "job", d.Job)
		}
	}
	leased := time.Now()
	// A worker with gates moves each job to running once it has passed
	// them; one without starts the jobs as it claims them.
	cs, err := w.queue.Claim(context.WithoutCancel(ctx), mine, w.cfg.Name, w.cfg.LeaseTTL, len(w.gates) == 0)
	if err != nil {
		for _, d := range mine {
			w.unclaim(d.Job)
		}
		return nil, err // the deliveries stay pending and are reclaimed later
	}
	out := cs[:0]
	for _, c := range cs {
		switch {
		case c.Err != nil:
			w.logger.Error("read job", "job", c.Delivery.Job, "err", c.Err)
			if err := w.queue.Unlease(context.WithoutCancel(ctx), c.Delivery.Job, w.cfg.Name); err != nil {
				w.logger.Error("release job lease", "job", c.Delivery.Job, "err", err)
			}
		case c.Job == nil && c.Holder != "":
			w.logger.Info("job held by another worker; leaving the delivery for later", "job", c.Delivery.Job, "holder", c.Holder)
		case c.Job != nil:
			c.leased = leased
			out = append(out, c)
			continue
		}
		w.unclaim(c.Delivery.Job)
	}
	return out, nil
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
			if _, err := w.queue.Trim(ctx); err != nil && ctx.Err() == nil {
				w.logger.Error("trim queue", "err", err)
			}
		}
	}
}

func (w *Worker) listenCancels(ctx context.Context) {
	w.store.cancels.Listen(ctx, func(id int64) { w.cancelLocal(ctx, id) })
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

// handle runs a claimed job to its end, or hands it back. slots is the
// worker's concurrency: a job that waits at a gate gives its slot up while
// it waits. handle reports whether the job holds a slot when it returns.
func (w *Worker) handle(c Claim, slots chan struct{}) (holdsSlot bool) {
	holdsSlot = true
	ctx := context.Background()
	d, j := c.Delivery, c.Job
	logger := w.logger.With("job", d.Job)
	defer w.unclaim(d.Job)
	released := false // the lease went with the job's end
	defer func() {
		if released {
			return
		}
		if err := w.queue.Unlease(ctx, d.Job, w.cfg.Name); err != nil {
			logger.Error("release job lease", "err", err)
		}
	}()

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
	// The lease is kept beyond jobCtx: a cancelled job keeps its lease
	// while its runner stops the work.
	w.leases.add(d, c.leased, cancel)
	stopKeeping := sync.OnceFunc(func() { w.leases.remove(d.Job) })
	defer stopKeeping()

	// A cancel may have come while the job sat in the queue or waited.
	if c.CancelBy != nil {
		cancel(c.CancelBy)
	}

	lw := w.log.Writer(ctx, j.ID)
	x := &Execution{Job: j, Log: lw, Env: map[string]string{}, store: w.store, slots: slots}
	defer func() { holdsSlot = !x.parked }()
	exitCode, runErr := w.execute(jobCtx, x, c.Started, logger)
	if errors.Is(context.Cause(jobCtx), ErrLeaseLost) {
		// Another worker may run the job now: what this run still holds
		// must not be appended among that run's output.
		lw.Abandon()
	} else if err := lw.Close(); err != nil {
		logger.Error("write job log", "err", err)
	}
	// Before the outcome is written: a renewal after a hand-back would
	// hold the job from the next worker.
	stopKeeping()
	released = w.finish(ctx, d, x.Job, exitCode, runErr, context.Cause(jobCtx), logger)
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

// execute passes the gates, marks the job running and runs it. started
// says the claim has marked it running already.
func (w *Worker) execute(ctx context.Context, x *Execution, started bool, logger *slog.Logger) (int, error) {
	j := x.Job
	if j.State == Running && j.Handle == "" && !started {
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
			Set: Set().Started(j.Started).Attempt(j.Attempt),
		})
		if err != nil {
			return 0, err
		}
		j.State = Running
	}
	logger.Info("running job", "repo", j.Repo, "ref", j.Ref, "attempt", j.Attempt)
	return w.runner.Run(ctx, x)
}

// finish writes the job's outcome, or hands it back on shutdown. It
// reports whether the job's lease went with it.
func (w *Worker) finish(ctx context.Context, d Delivery, j *Job, exitCode int, runErr, cause error, logger *slog.Logger) bool {
	var cancelled *CancelError
	var c Change
	switch {
	case errors.Is(cause, ErrLeaseLost):
		return false // the job is another worker's now: its record and delivery are too
	case errors.Is(cause, ErrShutdown):
		return w.handBack(ctx, d, j, logger)
	case errors.As(cause, &cancelled), errors.As(runErr, &cancelled):
		c = Change{To: Cancelled, Text: cancelled.Text(), Set: Set().Reason(cancelled.Text())}
	case runErr == nil && exitCode == 0:
		c = Change{To: Succeeded}
	case runErr == nil:
		reason := say.F("step %d exited with code %d", j.Step, exitCode)
		c = Change{To: Failed, Set: Set().Exit(exitCode).Reason(reason)}
	case errors.Is(runErr, ErrConflict) || errors.Is(runErr, ErrNotFound):
		// The job moved on without us (cancelled while it waited).
		_ = w.queue.Done(ctx, d)
		return false
	default:
		c = w.errored(j, runErr, logger)
	}
	// The outcome, the acknowledgement of the delivery and the release of
	// the lease are one step: the end is never acknowledged unrecorded.
	if _, err := w.store.move(ctx, j.ID, c, &runEnd{d: d, owner: w.cfg.Name}); err != nil && !errors.Is(err, ErrConflict) {
		logger.Error("record job outcome", "err", err)
		return false // the delivery stays pending and is taken up again
	}
	logger.Info("job ended", "state", c.To, "exit", exitCode)
	if c.To.Final() && w.cfg.Ended != nil {
		j.State, j.Finished = c.To, w.store.now()
		w.cfg.Ended(j)
	}
	return true
}

func (w *Worker) errored(j *Job, runErr error, logger *slog.Logger) Change {
	// What a person must mend (a pool gantry.yml lacks, an image that does
	// not exist) is said in the thread; gantry's own log keeps ERROR for
	// what an operator must look at.
	var ue *UserError
	if errors.Is(runErr, ErrPermanent) && errors.As(runErr, &ue) {
		logger.Warn("job errored", "attempt", j.Attempt, "err", runErr)
	} else {
		logger.Error("job errored", "attempt", j.Attempt, "err", runErr)
	}
	msg := UserMessage(runErr, j.ID)
	if errors.Is(runErr, ErrPermanent) || j.Attempt >= w.cfg.MaxAttempts {
		text := msg
		if !errors.Is(runErr, ErrPermanent) {
			text = say.F("%s; gave up after %d attempts and dead-lettered %s", msg, j.Attempt, j.Name())
		}
		return Change{To: Errored, Text: text, Set: Set().Reason(text), DeadLetter: !errors.Is(runErr, ErrPermanent)}
	}
	wait := w.cfg.Backoff << (j.Attempt - 1)
	next := j.Attempt + 1
	text := say.F("errored: %s; retrying in %s (attempt %d of %d)", msg, wait, next, w.cfg.MaxAttempts)
	return Change{
		To: Queued, Type: EventRetry, Text: text, Due: w.store.now().Add(wait),
		Set: Set().Attempt(next).Reason(text).Handle("").Cursor("").Step(0),
	}
}

// handBack returns a job this worker will not finish to the queue. Work
// that goes on without us (an attached ECS task) stays running, so the next
// worker re-attaches to it; a local process died with us and starts again.
// It reports whether the job's lease went with it.
func (w *Worker) handBack(ctx context.Context, d Delivery, j *Job, logger *slog.Logger) bool {
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
		return false
	}
	return true
}
