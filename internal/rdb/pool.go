package rdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// PoolStore keeps the leases and lines of shared resource pools (package
// pool) in Redis, with the scripts of poolscripts.go: every change to a
// pool is one script run. It holds no configuration of its own; each call
// names the pools, their members and the time. Safe for concurrent use.
type PoolStore struct {
	c         *Client
	keys      poolKeys
	ttl       time.Duration
	recordTTL time.Duration
}

// PoolStoreConfig tunes a PoolStore.
type PoolStoreConfig struct {
	// Namespace is the hash tag of every key: keys are "{NS}:pool:…".
	// "" means "gantry".
	Namespace string
	// TTL is how long a lease or a place in line lives without a heartbeat.
	TTL time.Duration
	// RecordTTL is how long a holder's record of its leases outlives its
	// last heartbeat.
	RecordTTL time.Duration
}

// NewPoolStore returns the pools of cfg.Namespace on c.
func NewPoolStore(c *Client, cfg PoolStoreConfig) *PoolStore {
	if cfg.Namespace == "" {
		cfg.Namespace = "gantry"
	}
	return &PoolStore{c: c, keys: newPoolKeys(cfg.Namespace), ttl: cfg.TTL, recordTTL: cfg.RecordTTL}
}

// Pool names a pool and its members in the order of the server config: a
// script hands out the first free one.
type Pool struct {
	Name    string
	Members []string
}

// PoolTake is what Take did.
type PoolTake struct {
	Held   bool // the holder has Member, since Since
	Member string
	Since  time.Time
	// Before is set when the holder already knew of the lease (an earlier
	// Take returned it).
	Before bool
	// Position is the holder's place in line (1 = next) when it waits, 0
	// when it holds a member or (wait false) got none.
	Position int
	// Soonest is when the first lease of the pool expires, zero if none.
	Soonest time.Time
}

// PoolHold is a holder and since when: of a lease, or of a place in line.
type PoolHold struct {
	Holder string
	Since  time.Time
}

// PoolView is one pool as it stands.
type PoolView struct {
	Held map[string]PoolHold // member -> its lease; free members are absent
	Line []PoolHold          // the holders in line, first first, and when each joined
}

// poolCall is one script run against one pool.
type poolCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// on builds a script call on p for subject (a holder or a member). The
// holder's record key is added when holder is set.
func (s *PoolStore) on(script *redis.Script, p Pool, now time.Time, subject, mode, holder string) poolCall {
	ks := s.keys.pool(p.Name)
	if holder != "" {
		ks = append(ks, s.keys.holder(holder))
	}
	args := make([]any, 0, 7+len(p.Members))
	args = append(args, now.UnixMilli(), s.ttl.Milliseconds(), s.keys.wake(p.Name),
		p.Name, subject, mode, s.recordTTL.Milliseconds())
	for _, m := range p.Members {
		args = append(args, m)
	}
	return poolCall{script: script, keys: ks, args: args}
}

func (c poolCall) run(ctx context.Context, r redis.UniversalClient) *redis.Cmd {
	return c.script.Run(ctx, r, c.keys, c.args...)
}

// runAll runs the calls in one pipeline; a call whose script Redis does not
// have cached yet is run again on its own, which loads it.
func (s *PoolStore) runAll(ctx context.Context, calls []poolCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.c.r.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmds[i] = c.run(ctx, s.c.r)
		}
		if err := cmds[i].Err(); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// Take gives holder its lease on p if it has one, else a free member if no
// one waits, else, with wait, a place in line (or its place kept).
func (s *PoolStore) Take(ctx context.Context, p Pool, now time.Time, holder string, wait bool) (PoolTake, error) {
	mode := "try"
	if wait {
		mode = "wait"
	}
	v, err := s.on(poolTakeScript, p, now, holder, mode, holder).run(ctx, s.c.r).Slice()
	if err != nil {
		return PoolTake{}, err
	}
	if len(v) == 0 {
		return PoolTake{}, poolReplyError("take", v)
	}
	code, _ := v[0].(int64)
	switch {
	case code > 0 && len(v) == 3:
		m, _ := v[1].(string)
		return PoolTake{Held: true, Member: m, Since: poolTime(v[2]), Before: code == 2}, nil
	case code == 0 && len(v) == 1 && !wait:
		return PoolTake{}, nil
	case code == 0 && len(v) == 3:
		pos, _ := v[1].(int64)
		return PoolTake{Position: int(pos), Soonest: poolTime(v[2])}, nil
	}
	return PoolTake{}, poolReplyError("take", v)
}

// Leave takes holder out of the lines of pools and, with giveBack, gives
// back its leases there too, in one pipeline. It reports, for each pool,
// whether a lease was given back.
func (s *PoolStore) Leave(ctx context.Context, now time.Time, holder string, giveBack bool, pools ...Pool) ([]bool, error) {
	flag := "0"
	if giveBack {
		flag = "1"
	}
	calls := make([]poolCall, len(pools))
	for i, p := range pools {
		calls[i] = s.on(poolLeaveScript, p, now, holder, flag, holder)
	}
	cmds, err := s.runAll(ctx, calls)
	if err != nil {
		return nil, err
	}
	freed := make([]bool, len(cmds))
	for i, c := range cmds {
		n, _ := c.Int64()
		freed[i] = n == 1
	}
	return freed, nil
}

// Renew extends holder's lease and place in line in each of pools, in one
// pipeline. It reports false if holder lost a lease it was told of in any
// of them.
func (s *PoolStore) Renew(ctx context.Context, now time.Time, holder string, pools ...Pool) (bool, error) {
	calls := make([]poolCall, len(pools))
	for i, p := range pools {
		calls[i] = s.on(poolRenewScript, p, now, holder, "", holder)
	}
	cmds, err := s.runAll(ctx, calls)
	if err != nil {
		return false, err
	}
	ok := true
	for _, c := range cmds {
		if n, _ := c.Int64(); n == 0 {
			ok = false
		}
	}
	return ok, nil
}

// Force frees member of p whoever holds it and returns the lease it ended;
// false if member was free.
func (s *PoolStore) Force(ctx context.Context, p Pool, now time.Time, member string) (PoolHold, bool, error) {
	v, err := s.on(poolForceScript, p, now, member, "", "").run(ctx, s.c.r).Slice()
	if err != nil {
		return PoolHold{}, false, err
	}
	if len(v) == 1 {
		return PoolHold{}, false, nil
	}
	if len(v) != 3 {
		return PoolHold{}, false, poolReplyError("force", v)
	}
	h, _ := v[1].(string)
	return PoolHold{Holder: h, Since: poolTime(v[2])}, true, nil
}

// View reads pools, in one pipeline. Looking also sweeps expired leases
// and places, and hands freed members on.
func (s *PoolStore) View(ctx context.Context, now time.Time, pools ...Pool) ([]PoolView, error) {
	calls := make([]poolCall, len(pools))
	for i, p := range pools {
		calls[i] = s.on(poolViewScript, p, now, "", "", "")
	}
	cmds, err := s.runAll(ctx, calls)
	if err != nil {
		return nil, err
	}
	out := make([]PoolView, len(pools))
	for i := range pools {
		if out[i], err = poolView(cmds[i].Val()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func poolView(reply any) (PoolView, error) {
	v, ok := reply.([]any)
	if !ok || len(v) != 3 {
		return PoolView{}, poolReplyError("view", reply)
	}
	owners, _ := v[0].([]any)
	line, _ := v[1].([]any)
	joined, _ := v[2].([]any)
	if len(owners)%2 != 0 || len(line) != len(joined) {
		return PoolView{}, poolReplyError("view", reply)
	}
	view := PoolView{Held: make(map[string]PoolHold, len(owners)/2)}
	for i := 0; i < len(owners); i += 2 {
		m, _ := owners[i].(string)
		val, _ := owners[i+1].(string)
		since, holder, _ := strings.Cut(val, " ")
		view.Held[m] = PoolHold{Holder: holder, Since: poolTime(since)}
	}
	for i := range line {
		h, _ := line[i].(string)
		view.Line = append(view.Line, PoolHold{Holder: h, Since: poolTime(joined[i])})
	}
	return view, nil
}

// poolTime reads a reply field holding milliseconds since the epoch.
func poolTime(v any) time.Time {
	var ms int64
	switch x := v.(type) {
	case int64:
		ms = x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return time.Time{}
		}
		ms = int64(f)
	}
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// poolReplyError says a script answered in a shape this code does not expect.
func poolReplyError(script string, v any) error {
	return fmt.Errorf("pool: unexpected reply from the %s script: %v", script, v)
}
