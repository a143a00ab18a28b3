package pool

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// moveDelay is how long a waiter lets the line move before it asks for its
// new position: at most a few look-ups a second, however busy the pool.
const moveDelay = 200 * time.Millisecond

// cleanupTimeout bounds the calls that give things back after ctx ended.
const cleanupTimeout = 5 * time.Second

// taken is what the take script said.
type taken struct {
	lease   Lease
	held    bool // lease is set
	before  bool // the holder already knew of the lease before this call
	pos     int  // place in line, 1 = next; 0 if not waiting
	soonest time.Time
}

func (p *Pools) take(ctx context.Context, pool, holder string, wait bool) (taken, error) {
	t, err := p.store.Take(ctx, p.pool(pool), p.now(), holder, wait)
	if err != nil {
		return taken{}, fmt.Errorf("pool %q: take a member for %q: %w", pool, holder, err)
	}
	if !t.Held {
		return taken{pos: t.Position, soonest: t.Soonest}, nil
	}
	return taken{
		lease: Lease{Pool: pool, Member: t.Member, Holder: holder, Since: t.Since},
		held:  true, before: t.Before,
	}, nil
}

// TryAcquire takes a free member of pool for holder now if no one waits
// ahead of it, without joining the line: (lease, true, nil), or
// (Lease{}, false, nil) when none is free. A holder that already holds a
// member of pool gets that lease again, extended.
func (p *Pools) TryAcquire(ctx context.Context, pool, holder string) (Lease, bool, error) {
	if err := checkHolder(holder); err != nil {
		return Lease{}, false, err
	}
	if err := p.known(pool); err != nil {
		return Lease{}, false, err
	}
	t, err := p.take(ctx, pool, holder, false)
	return t.lease, t.held, err
}

// Acquire takes one member of each pool in names for holder, in sorted order
// and without repeats, waiting in line first come, first served for each and
// holding the ones it has while it waits for the next. While it waits it
// calls onWait (if not nil) with the pool and its place in line whenever
// the place changes (1 = next); onWait runs on Acquire's goroutine and
// should return quickly. Leases holder already had are returned again. If ctx ends first, Acquire leaves the line, gives back what it took
// and returns ctx's error. An unknown pool is an error that names it, before
// anything is taken.
//
// Acquire keeps its own place and the leases it took alive while it runs;
// once it returns, the caller keeps the leases alive (Keepalive) and
// releases them (Release).
func (p *Pools) Acquire(ctx context.Context, names []string, holder string, onWait func(pool string, position int)) ([]Lease, error) {
	if err := checkHolder(holder); err != nil {
		return nil, err
	}
	order := slices.Compact(slices.Sorted(slices.Values(names)))
	for _, name := range order {
		if err := p.known(name); err != nil {
			return nil, err
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	inner, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if len(order) > 1 {
		go p.guard(inner, cancel, holder)
	}
	var got []Lease
	var mine []string // pools whose lease this call took
	for _, name := range order {
		t, joined, err := p.acquireOne(inner, name, holder, onWait)
		if err != nil {
			if joined {
				mine = append(mine, name) // and whatever it was handed
			}
			p.giveBack(ctx, holder, mine)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if cause := context.Cause(inner); cause != nil && inner.Err() != nil {
				return nil, cause
			}
			return nil, err
		}
		got = append(got, t.lease)
		if !t.before {
			mine = append(mine, name)
		}
	}
	return got, nil
}

// acquireOne waits in pool's line until the pool hands holder a member. It
// reports whether holder joined the line, so that a failed wait knows to
// leave it.
func (p *Pools) acquireOne(ctx context.Context, pool, holder string, onWait func(string, int)) (t taken, joined bool, err error) {
	// Register first if the subscription is up anyway; otherwise try first
	// and subscribe only if there is a wait.
	w, err := p.hub.add(ctx, pool, holder, false)
	if err != nil {
		return taken{}, false, err
	}
	t, err = p.take(ctx, pool, holder, true)
	if err != nil || t.held {
		if w != nil {
			p.hub.remove(w)
		}
		return t, false, err
	}
	if w == nil {
		if w, err = p.hub.add(ctx, pool, holder, true); err != nil {
			return taken{}, true, err
		}
		// A member handed over before the subscription was up shows here.
		if t, err = p.take(ctx, pool, holder, true); err != nil || t.held {
			p.hub.remove(w)
			return t, true, err
		}
	}
	defer p.hub.remove(w)
	timer := time.NewTimer(p.poll)
	defer timer.Stop()
	reported := 0
	for {
		if t.pos != reported && onWait != nil {
			onWait(pool, t.pos)
		}
		reported = t.pos
		checked := time.Now()
		due := checked.Add(p.wait(pool, t))
	wait:
		for {
			timer.Reset(time.Until(due))
			select {
			case <-ctx.Done():
				return taken{}, true, ctx.Err()
			case <-w.granted:
				break wait
			case <-w.moved:
				if soon := checked.Add(moveDelay); soon.Before(due) {
					due = soon
				}
			case <-timer.C:
				break wait
			}
		}
		w.armed.Store(true) // before the look, so no later move goes unheard
		if t, err = p.take(ctx, pool, holder, true); err != nil || t.held {
			return t, true, err
		}
	}
}

// wait is how long a waiter sleeps when nothing wakes it: the poll interval,
// or less for one near the head of the line when a lease is due to expire.
func (p *Pools) wait(pool string, t taken) time.Duration {
	d := p.poll
	if t.pos <= len(p.members[pool]) && !t.soonest.IsZero() {
		if until := t.soonest.Sub(p.now()) + time.Millisecond; until < d {
			d = max(until, time.Millisecond)
		}
	}
	return d
}

// giveBack takes holder out of the lines of pools and gives back its leases
// there, even though ctx may have ended.
func (p *Pools) giveBack(ctx context.Context, holder string, pools []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := p.store.Leave(ctx, p.now(), holder, true, p.pools(pools)...); err != nil {
		p.log.Warn("pool: give back after a failed acquire", "holder", holder, "pools", pools, "err", err)
	}
}

// guard renews holder's leases while a multi-pool Acquire waits, and ends
// the Acquire if one of the leases it already took is lost.
func (p *Pools) guard(ctx context.Context, cancel context.CancelCauseFunc, holder string) {
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := p.Renew(ctx, holder)
		if err == nil && !ok {
			cancel(fmt.Errorf("pool: %w by %q while it waited for the next pool", ErrLeaseLost, holder))
			return
		}
	}
}
