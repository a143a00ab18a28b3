package scm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
)

const (
	// maxRoundWait caps the wait between two rounds of one report.
	maxRoundWait = 2 * time.Minute
	// drainTimeout is how long Run keeps delivering after its context
	// ends; what it has not delivered by then waits in the outbox.
	drainTimeout = 3 * time.Second
)

// ReporterConfig configures a Reporter. Zero values are the defaults.
type ReporterConfig struct {
	// Namespace is the hash tag of the outbox's keys, the same as the job
	// store's (jobs.StoreConfig.Namespace); "" is "gantry".
	Namespace string
	Logger    *slog.Logger // nil: the GitHub client's
	// Rounds is how many times one report is tried, each a GitHub call
	// with its own retries, before it is given up and dead-lettered; with
	// the waits doubling from 4×RetryBase up to two minutes, 12 rounds
	// (the default) ride out a GitHub outage of about ten minutes.
	Rounds int
	// Workers is how many reports this process delivers at once, each to
	// a different commit or deployment; 0 is 4.
	Workers int
	// Lease is how long a process may hold a commit's or deployment's
	// reports while it delivers the first; if it dies, another process
	// takes them over after it. 0 is 5 minutes.
	Lease time.Duration
	// Poll is how often Run looks for reports other processes queued and
	// retries that came due; 0 is 1 s.
	Poll time.Duration
	// MaxDepth bounds the outbox while GitHub is away; reports beyond it
	// are refused. 0 is 50000.
	MaxDepth int64
	// CallFailed, when set, counts each failed GitHub call by what it
	// was: "create_status", "create_deployment_status" or
	// "create_deployment".
	CallFailed func(call string)
	Now        func() time.Time // nil: time.Now
}

// Reporter sends commit statuses and deployment statuses to GitHub
// without ever blocking a job: Status and Deployment put the report in a
// Redis outbox and return, and Run delivers them, in order for each commit
// (repo and SHA) and each deployment, different ones in parallel, shared
// among every gantry process that runs a Reporter on the same Redis. A
// report waits in the outbox until GitHub has it, through restarts and
// crashes; one that fails is tried again with backoff (GitHub's own
// retries first, then up to Rounds rounds); one GitHub refuses, or that
// keeps failing, is logged and dead-lettered: reporting is never fatal.
//
// A nil *Reporter drops every report, for gantry without GitHub access.
type Reporter struct {
	g          *GitHub
	store      *jobs.Store
	box        outbox
	cfg        ReporterConfig
	log        *slog.Logger
	roundBase  time.Duration
	drainAfter time.Duration
	id         string        // this Reporter, in lease tokens
	claims     atomic.Uint64 // lease tokens made
	wake       chan struct{} // capacity 1: a report was queued or a delivery ended

	mu          sync.Mutex
	deployments map[int64]int64 // job -> deployment made but not yet in the job record
}

// NewReporter returns a Reporter that keeps its outbox in the Redis of r,
// reads and updates jobs in store, and sends through g. Start its Run.
func NewReporter(g *GitHub, store *jobs.Store, r *rdb.Client, cfg ReporterConfig) *Reporter {
	if cfg.Logger == nil {
		cfg.Logger = g.log
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 12
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 50000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Reporter{
		g: g, store: store, box: outbox{rdb.NewOutbox(r, cfg.Namespace)}, cfg: cfg, log: cfg.Logger,
		roundBase: 4 * g.retryBase, drainAfter: drainTimeout, id: hex.EncodeToString(b[:]),
		wake: make(chan struct{}, 1), deployments: map[int64]int64{},
	}
}

// Status queues st for commit sha of repo.
func (r *Reporter) Status(repo, sha string, st CommitStatus) error {
	if r == nil {
		return nil
	}
	if st.Context == "" {
		st.Context = DefaultStatusContext
	}
	return r.enqueue(context.Background(), &report{Kind: kindStatus, Repo: repo, SHA: sha, Status: &st})
}

// Deployment queues a status for deployment id of repo (see
// GitHub.SetDeploymentStatus).
func (r *Reporter) Deployment(repo string, id int64, state, logURL, description string) error {
	if r == nil {
		return nil
	}
	return r.enqueue(context.Background(), &report{
		Kind: kindDeploymentStatus, Repo: repo, Deployment: id, State: state, LogURL: logURL, Description: description,
	})
}

// Depth is how many reports wait in the outbox, across all processes: a
// gauge of how far behind GitHub is.
func (r *Reporter) Depth(ctx context.Context) (int64, error) {
	if r == nil {
		return 0, nil
	}
	return r.box.depth(ctx)
}

// DeadLetters returns up to n of the reports given up, newest first.
func (r *Reporter) DeadLetters(ctx context.Context, n int64) ([]DeadReport, error) {
	if r == nil {
		return nil, nil
	}
	return r.box.deadLetters(ctx, n)
}

func (r *Reporter) enqueue(ctx context.Context, rp *report) error {
	rp.Queued = r.cfg.Now()
	b, err := json.Marshal(rp)
	if err != nil {
		return fmt.Errorf("encode GitHub report: %w", err)
	}
	if err := r.box.push(ctx, rp.queue(), b, r.cfg.Now(), r.cfg.MaxDepth); err != nil {
		r.log.Error("GitHub report not queued", append(rp.attrs(), "err", err)...)
		return err
	}
	r.notify()
	return nil
}

func (r *Reporter) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers reports until ctx ends, then goes on delivering what is due
// for a few seconds; whatever is left waits in the outbox for the next
// Run, here or in another process. Run it once at a time per Reporter.
func (r *Reporter) Run(ctx context.Context) {
	if r == nil {
		return
	}
	deliverCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, r.cfg.Workers)
		stop     = ctx.Done()
		draining bool
		drainEnd <-chan time.Time
	)
	for {
		// Read before looking for due reports: a delivery that ends
		// records its outcome (and so what comes due after it) first.
		busy := len(slots)
		started := r.startDue(deliverCtx, slots, &wg)
		if draining && started == 0 && busy == 0 {
			break
		}
		t := time.NewTimer(r.nextWait(deliverCtx, len(slots) == cap(slots)))
		select {
		case <-r.wake:
		case <-t.C:
		case <-stop:
			stop, draining, drainEnd = nil, true, time.After(r.drainAfter)
		case <-drainEnd:
			t.Stop()
			cancel()
			wg.Wait()
			return
		}
		t.Stop()
	}
	cancel()
	wg.Wait()
}

// startDue claims due queues for the free slots and delivers their first
// reports; it returns how many it started.
func (r *Reporter) startDue(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) int {
	free := cap(slots) - len(slots)
	if free == 0 {
		return 0
	}
	queues, err := r.box.dueQueues(ctx, r.cfg.Now(), int64(2*free))
	if err != nil {
		r.log.Error("read the GitHub outbox", "err", err)
		return 0
	}
	started := 0
	for _, q := range queues {
		if started == free {
			break
		}
		token := r.id + "-" + strconv.FormatUint(r.claims.Add(1), 10)
		item, ok, err := r.box.claim(ctx, q, token, r.cfg.Now(), r.cfg.Lease)
		if err != nil {
			r.log.Error("claim GitHub reports", "queue", q, "err", err)
			continue
		}
		if !ok {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		started++
		go func() {
			defer wg.Done()
			r.deliver(ctx, q, token, item)
			<-slots
			r.notify()
		}()
	}
	return started
}

// nextWait is how long Run may sleep before it looks at the outbox again.
func (r *Reporter) nextWait(ctx context.Context, full bool) time.Duration {
	wait := r.cfg.Poll
	if full {
		return wait // a delivery that ends wakes Run
	}
	if at, ok, err := r.box.nextDue(ctx); err == nil && ok {
		wait = min(wait, max(at.Sub(r.cfg.Now()), time.Millisecond))
	}
	return wait
}

// deliver sends the first report of queue, held under token, and records
// what became of it.
func (r *Reporter) deliver(ctx context.Context, queue, token string, item []byte) {
	rp := &report{}
	if err := json.Unmarshal(item, rp); err != nil {
		r.finish(ctx, queue, token, dead, time.Time{}, item, fmt.Errorf("decode GitHub report: %w", err), []any{"queue", queue})
		r.log.Error("GitHub report not delivered: cannot decode it", "queue", queue, "err", err)
		return
	}
	sendCtx, cancel := context.WithTimeout(ctx, r.cfg.Lease*3/4)
	call, err := r.send(sendCtx, rp)
	cancel()
	if err != nil && ctx.Err() == nil && r.cfg.CallFailed != nil && call != "" {
		r.cfg.CallFailed(call)
	}
	switch {
	case err == nil:
		r.finish(ctx, queue, token, sent, time.Time{}, nil, nil, rp.attrs())
	case ctx.Err() != nil:
		r.log.Info("GitHub report left in the outbox: gantry is stopping", append(rp.attrs(), "err", err)...)
		if rerr := r.box.release(context.WithoutCancel(ctx), queue, token, r.cfg.Now()); rerr != nil {
			r.log.Warn("GitHub report waits for its lease to end", append(rp.attrs(), "err", rerr)...)
		}
	case errors.Is(err, jobs.ErrPermanent):
		r.log.Error("GitHub report not delivered", append(rp.attrs(), "err", err)...)
		r.finish(ctx, queue, token, dead, time.Time{}, item, err, rp.attrs())
	case rp.Rounds+1 >= r.cfg.Rounds:
		r.log.Error("GitHub report not delivered: giving up", append(rp.attrs(), "attempts", rp.Rounds+1, "err", err)...)
		r.finish(ctx, queue, token, dead, time.Time{}, item, err, rp.attrs())
	default:
		rp.Rounds++
		wait := min(r.roundBase<<min(rp.Rounds-1, 20), maxRoundWait)
		r.log.Warn("GitHub report failed; will try again", append(rp.attrs(), "in", wait, "err", err)...)
		b, _ := json.Marshal(rp)
		r.finish(ctx, queue, token, retry, r.cfg.Now().Add(wait), b, nil, rp.attrs())
	}
}

// finish records an outcome in the outbox and logs what went wrong there.
func (r *Reporter) finish(ctx context.Context, queue, token string, out outcome, next time.Time, item []byte, why error, attrs []any) {
	reason := ""
	if why != nil {
		reason = why.Error()
	}
	ok, err := r.box.finish(context.WithoutCancel(ctx), queue, token, out, r.cfg.Now(), next, item, reason)
	switch {
	case err != nil:
		// The lease runs out and the report is tried again: at worst
		// GitHub gets it twice.
		r.log.Error("GitHub report: cannot record it in the outbox", append(attrs, "outcome", out, "err", err)...)
	case !ok:
		r.log.Warn("GitHub report took longer than its lease; another process may have sent it too", append(attrs, "outcome", out)...)
	}
}

// Flush waits until the outbox is empty (every report delivered or given
// up), or ctx ends. Something must be running a Reporter's Run.
func (r *Reporter) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := r.box.depth(ctx)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("flush GitHub reports: %w (%w)", context.Cause(ctx), err)
			}
			return fmt.Errorf("flush GitHub reports (%d waiting): %w", n, context.Cause(ctx))
		case <-t.C:
		}
	}
}
