package pool

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Renew extends every lease and place in line of holder: its heartbeat. It
// reports false if holder has lost a lease it was given (the lease expired
// before this heartbeat, or an admin freed it), and keeps reporting false
// until holder releases or acquires that pool again.
func (p *Pools) Renew(ctx context.Context, holder string) (bool, error) {
	if err := checkHolder(holder); err != nil {
		return false, err
	}
	calls := make([]call, len(p.names))
	for i, name := range p.names {
		calls[i] = p.on(renewScript, name, holder, "", holder)
	}
	cmds, err := p.runAll(ctx, calls)
	if err != nil {
		return false, fmt.Errorf("pool: renew the leases of %q: %w", holder, err)
	}
	ok := true
	for _, c := range cmds {
		if n, _ := c.Int64(); n == 0 {
			ok = false
		}
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
	calls := make([]call, len(p.names))
	for i, name := range p.names {
		calls[i] = p.on(leaveScript, name, holder, "1", holder)
	}
	if _, err := p.runAll(ctx, calls); err != nil {
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
	v, err := p.on(forceScript, pool, member, "", "").run(ctx, p.rdb).Slice()
	if err != nil {
		return Lease{}, fmt.Errorf("pool %q: free %q: %w", pool, member, err)
	}
	if len(v) == 1 {
		return Lease{}, fmt.Errorf("%q of pool %q is %w", member, pool, ErrNotLeased)
	}
	if len(v) != 3 {
		return Lease{}, replyError("force", v)
	}
	h, _ := v[1].(string)
	return Lease{Pool: pool, Member: member, Holder: h, Since: msTime(v[2])}, nil
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
	calls := make([]call, len(names))
	for i, n := range names {
		calls[i] = p.on(viewScript, n, "", "", "")
	}
	cmds, err := p.runAll(ctx, calls)
	if err != nil {
		return nil, fmt.Errorf("pool: read the pools: %w", err)
	}
	out := make([]Status, len(names))
	for i, n := range names {
		st, err := p.status(n, cmds[i].Val())
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func (p *Pools) status(name string, reply any) (Status, error) {
	v, ok := reply.([]any)
	if !ok || len(v) != 3 {
		return Status{}, replyError("view", reply)
	}
	owners, _ := v[0].([]any)
	line, _ := v[1].([]any)
	joined, _ := v[2].([]any)
	if len(owners)%2 != 0 || len(line) != len(joined) {
		return Status{}, replyError("view", reply)
	}
	held := make(map[string]string, len(owners)/2)
	for i := 0; i < len(owners); i += 2 {
		m, _ := owners[i].(string)
		held[m], _ = owners[i+1].(string)
	}
	st := Status{Name: name, Members: make([]MemberStatus, 0, len(p.members[name]))}
	for _, m := range p.members[name] {
		ms := MemberStatus{Name: m}
		if val, ok := held[m]; ok {
			since, holder, _ := strings.Cut(val, " ")
			ms.Holder, ms.Since = holder, msTime(since)
		}
		st.Members = append(st.Members, ms)
	}
	for i := range line {
		h, _ := line[i].(string)
		st.Waiting = append(st.Waiting, Waiter{Holder: h, Since: msTime(joined[i])})
	}
	return st, nil
}
