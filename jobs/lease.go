package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The lease of a running job is renewed every LeaseTTL/3. A renewal that
// succeeds keeps the lease for a whole TTL from the moment it was sent (or
// later). When none has succeeded for leaseMargin (2/3 of the TTL: Redis
// is unreachable, frozen or failing over), the job is stopped with
// ErrLeaseLost: its lease still has a third of the TTL to run, which is
// the time the runner has to stop the work before another worker can take
// the job. So a job never runs on two workers at once.
//
// One keeper per worker does this for all the worker's jobs: one call
// renews every lease, keeps every delivery from being reclaimed and looks
// for cancels, and one watchdog stops the jobs whose leases it could not
// renew in time.

func (w *Worker) leaseMargin() time.Duration { return w.cfg.LeaseTTL * 2 / 3 }

// Renewal is what renewing one lease found.
type Renewal struct {
	Lost     bool         // another worker holds the lease
	Holder   string       // that worker
	CancelBy *CancelError // a cancel recorded on the job, if any
}

// Renew renews owner's leases on the jobs of ds for ttl, keeps their
// deliveries from being reclaimed and reads their cancels, in one round
// trip (see rdb.Queue.Renew). A lease another owner holds is left alone
// and reported lost.
func (q *Queue) Renew(ctx context.Context, ds []Delivery, owner string, ttl time.Duration) ([]Renewal, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	rs, err := q.q.Renew(ctx, toRDB(ds), owner, ttl)
	if err != nil {
		return nil, fmt.Errorf("renew %d leases: %w", len(ds), err)
	}
	out := make([]Renewal, len(ds))
	for i, r := range rs {
		switch {
		case r.Lost:
			out[i] = Renewal{Lost: true, Holder: r.Holder}
		case r.Cancelled:
			out[i].CancelBy = &CancelError{By: r.CancelBy}
		}
	}
	return out, nil
}

// keeper keeps the leases of a worker's running jobs.
type keeper struct {
	w     *Worker
	every time.Duration // between renewals
	wake  chan struct{} // the earliest deadline moved closer (capacity 1)

	mu       sync.Mutex
	jobs     map[int64]*heldJob
	earliest time.Time     // the earliest deadline of a job not yet stopped; zero if none
	renewing chan struct{} // closed when the renewal on its way ends; nil if none
}

// heldJob is a running job whose lease the keeper keeps.
type heldJob struct {
	d        Delivery
	cancel   context.CancelCauseFunc
	last     time.Time // when the last renewal that succeeded was sent (at first, when the lease was asked for)
	stopped  bool      // the lease is lost or may be: the job was stopped, and is no longer renewed
	renewing bool      // in the renewal on its way
}

func newKeeper(w *Worker) *keeper {
	return &keeper{w: w, every: w.cfg.LeaseTTL / 3, wake: make(chan struct{}, 1), jobs: map[int64]*heldJob{}}
}

// add keeps job d's lease, taken (or asked for) at leased, until remove;
// cancel stops the job when its lease is lost or may be, or it is
// cancelled.
func (k *keeper) add(d Delivery, leased time.Time, cancel context.CancelCauseFunc) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.jobs[d.Job] = &heldJob{d: d, cancel: cancel, last: leased}
	if deadline := leased.Add(k.w.leaseMargin()); k.earliest.IsZero() || deadline.Before(k.earliest) {
		k.earliest = deadline
		k.poke()
	}
}

// remove stops keeping job id's lease. It returns once no renewal of it
// is on its way: a renewal landing after the job's lease is released (a
// hand-back) would hold the job from the next worker.
func (k *keeper) remove(id int64) {
	k.mu.Lock()
	h, ok := k.jobs[id]
	delete(k.jobs, id)
	wait := k.renewing
	k.mu.Unlock()
	if ok && h.renewing && wait != nil {
		<-wait
	}
}

func (k *keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// run renews the leases every LeaseTTL/3 and stops the jobs whose leases
// it could not renew in time, until ctx ends; it then waits for the
// renewal on its way.
func (k *keeper) run(ctx context.Context) {
	tick := time.NewTicker(k.every)
	defer tick.Stop()
	watch := time.NewTimer(time.Hour)
	defer watch.Stop()
	for {
		k.mu.Lock()
		next := k.earliest
		k.mu.Unlock()
		if next.IsZero() {
			watch.Stop()
		} else {
			watch.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			k.mu.Lock()
			wait := k.renewing
			k.mu.Unlock()
			if wait != nil {
				<-wait
			}
			return
		case <-k.wake:
		case <-tick.C:
			k.startRenewal(ctx)
		case <-watch.C:
			k.expire(time.Now())
		}
	}
}

// startRenewal sends one renewal of every lease the keeper keeps, unless
// the last one is still on its way.
func (k *keeper) startRenewal(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.renewing != nil {
		return
	}
	var ds []Delivery
	for _, h := range k.jobs {
		if !h.stopped {
			h.renewing = true
			ds = append(ds, h.d)
		}
	}
	if len(ds) == 0 {
		return
	}
	done := make(chan struct{})
	k.renewing = done
	go func() {
		defer close(done)
		k.renew(ctx, ds)
	}()
}

// renew renews the leases of ds, bounded by the interval: a failed
// attempt is logged and tried again at the next tick, the watchdog
// deciding when it is too late.
func (k *keeper) renew(ctx context.Context, ds []Delivery) {
	sent := time.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.every)
	rs, err := k.w.queue.Renew(rctx, ds, k.w.cfg.Name, k.w.cfg.LeaseTTL)
	cancel()
	if err != nil {
		k.w.logger.Warn("renew job lease", "jobs", len(ds), "err", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.renewing = nil
	for i, d := range ds {
		h, ok := k.jobs[d.Job]
		if !ok {
			continue
		}
		h.renewing = false
		if err != nil || h.stopped {
			continue
		}
		switch r := rs[i]; {
		case r.Lost:
			k.w.logger.Error("another worker took the lease of a running job; stopping it", "job", d.Job, "holder", r.Holder)
			h.stopped = true
			h.cancel(ErrLeaseLost)
		default:
			if sent.After(h.last) {
				h.last = sent
			}
			if r.CancelBy != nil {
				// The cancel broadcast may have been missed.
				h.cancel(r.CancelBy)
			}
		}
	}
	k.recompute()
}

// expire stops the jobs whose leases were not renewed for leaseMargin.
func (k *keeper) expire(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, h := range k.jobs {
		if h.stopped || now.Before(h.last.Add(k.w.leaseMargin())) {
			continue
		}
		k.w.logger.Error("could not renew the lease of a running job; stopping it before the lease lapses",
			"job", id, "last_renewed", now.Sub(h.last).Round(time.Millisecond), "lease_ttl", k.w.cfg.LeaseTTL)
		h.stopped = true
		h.cancel(ErrLeaseLost)
	}
	k.recompute()
}

// recompute finds the earliest deadline again and tells run. k.mu is held.
func (k *keeper) recompute() {
	var earliest time.Time
	for _, h := range k.jobs {
		if d := h.last.Add(k.w.leaseMargin()); !h.stopped && (earliest.IsZero() || d.Before(earliest)) {
			earliest = d
		}
	}
	k.earliest = earliest
	k.poke()
}
