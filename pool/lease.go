package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Renew extends every lease and place in line of holder: its heartbeat. It
// reports false if holder has lost a lease it was given (the lease expired
// before this heartbeat, or an admin freed it), and keeps reporting false
// until holder releases or acquires that pool again.
func (p *Pools) Renew(ctx context.Context, holder string) (bool, error) {
	if err := checkHolder(holder); err != nil {
		return false, err
	}
	ok, err := p.store.Renew(ctx, p.now(), holder, p.pools(p.names)...)
	if err != nil {
		return false, fmt.Errorf("pool: renew the leases of %q: %w", holder, err)
	}
	return ok, nil
}

// Keepalive renews holder's leases and places every TTL/3 until ctx ends.
// It logs a failed renewal, and a lost lease once; a caller that must act
// on a loss calls Renew itself.
func (p *Pools) Keepalive(ctx context.Context, holder string) {
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	lost := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := p.Renew(ctx, holder)
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.Warn("pool: heartbeat failed", "holder", holder, "err", err)
		case err == nil && !ok && !lost:
			p.log.Warn("pool: holder lost a lease", "holder", holder)
		}
		lost = lost || err == nil && !ok
	}
}

// Release gives back all of holder's leases and leaves every line it is in;
// the next waiters get the members at once. Releasing nothing is not an
// error.
func (p *Pools) Release(ctx context.Context, holder string) error {
	if err := checkHolder(holder); err != nil {
		return err
	}
	if _, err := p.store.Leave(ctx, p.now(), holder, true, p.pools(p.names)...); err != nil {
		return fmt.Errorf("pool: release the leases of %q: %w", holder, err)
	}
	return nil
}

// ForceRelease frees member whoever holds it (an admin's "pool release") and
// returns the lease it ended; the holder's next Renew reports the loss. It
// is an error if no pool has member (ErrUnknownMember) or no one holds it
// (ErrNotLeased).
func (p *Pools) ForceRelease(ctx context.Context, member string) (Lease, error) {
	pool, ok := p.poolOf[member]
	if !ok {
		return Lease{}, fmt.Errorf("%w %q: no pool has it", ErrUnknownMember, member)
	}
	h, ok, err := p.store.Force(ctx, p.pool(pool), p.now(), member)
	if err != nil {
		return Lease{}, fmt.Errorf("pool %q: free %q: %w", pool, member, err)
	}
	if !ok {
		return Lease{}, fmt.Errorf("%q of pool %q is %w", member, pool, ErrNotLeased)
	}
	return Lease{Pool: pool, Member: member, Holder: h.Holder, Since: h.Since}, nil
}

// MemberStatus is one member of a pool: its holder and since when, or no
// holder if it is free.
type MemberStatus struct {
	Name, Holder string
	Since        time.Time
}

// Waiter is a holder in a pool's line and when it joined.
type Waiter struct {
	Holder string
	Since  time.Time
}

// Status is a pool: its members in config order and its line, first first.
type Status struct {
	Name    string
	Members []MemberStatus
	Waiting []Waiter
}

// Status reports the pool name, or every pool sorted by name if name is "".
// Looking also sweeps expired leases and places, and hands freed members on.
func (p *Pools) Status(ctx context.Context, name string) ([]Status, error) {
	names := p.names
	if name != "" {
		if err := p.known(name); err != nil {
			return nil, err
		}
		names = []string{name}
	}
	views, err := p.store.View(ctx, p.now(), p.pools(names)...)
	if err != nil {
		return nil, fmt.Errorf("pool: read the pools: %w", err)
	}
	out := make([]Status, len(names))
	for i, n := range names {
		out[i] = p.status(n, views[i])
	}
	return out, nil
}

// status is pool name's view with its members in config order.
func (p *Pools) status(name string, v rdb.PoolView) Status {
	st := Status{Name: name, Members: make([]MemberStatus, 0, len(p.members[name]))}
	for _, m := range p.members[name] {
		ms := MemberStatus{Name: m}
		if h, ok := v.Held[m]; ok {
			ms.Holder, ms.Since = h.Holder, h.Since
		}
		st.Members = append(st.Members, ms)
	}
	for _, w := range v.Line {
		st.Waiting = append(st.Waiting, Waiter{Holder: w.Holder, Since: w.Since})
	}
	return st
}
