package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config tunes Pools. Its zero value is ready to use.
type Config struct {
	// Namespace is the hash tag of every key: keys are "{NS}:pool:…".
	// Default "gantry".
	Namespace string
	// TTL is how long a lease or a place in line lives without a heartbeat.
	// Default 30s.
	TTL time.Duration
	// Now is the clock every expiry and every Since is read from. All
	// processes sharing a Redis must agree on the time to well within TTL.
	// Default time.Now.
	Now func() time.Time
	// Poll is how often a waiting Acquire looks at its pool when no wake-up
	// message comes (a safety net) and refreshes its place. Default TTL/3.
	Poll time.Duration
	// Logger receives Keepalive's failures. Default slog.Default().
	Logger *slog.Logger
}

// recordTTL is how long a holder's record of its leases outlives its last
// heartbeat, so that Renew can report a loss after a long stall.
const recordTTL = 24 * time.Hour

// Errors that callers may want to tell apart; they are wrapped with detail.
var (
	ErrUnknownPool   = errors.New("unknown pool")
	ErrUnknownMember = errors.New("unknown resource")
	ErrNotLeased     = errors.New("not leased")
	ErrLeaseLost     = errors.New("lease lost")
)

// Pools leases the members of the configured pools. It is safe for
// concurrent use.
type Pools struct {
	rdb     redis.UniversalClient
	keys    keys
	ttl     time.Duration
	poll    time.Duration
	now     func() time.Time
	log     *slog.Logger
	members map[string][]string // pool -> members, in config order
	poolOf  map[string]string   // member -> pool
	names   []string            // sorted
	hub     *hub
}

// Lease is one member of a pool held by a holder since a time.
type Lease struct {
	Pool, Member, Holder string
	Since                time.Time
}

// New returns Pools for the pools and members of the server config. The
// members must pass Validate (the server config loader checks the same
// rules); New panics otherwise, as the config is wrong, not the moment.
func New(rdb redis.UniversalClient, members map[string][]string, cfg Config) *Pools {
	if err := Validate(members); err != nil {
		panic("pool.New: " + err.Error())
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "gantry"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = cfg.TTL / 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pools{
		rdb: rdb, keys: newKeys(cfg.Namespace), ttl: cfg.TTL, poll: cfg.Poll,
		now: cfg.Now, log: cfg.Logger,
		members: make(map[string][]string, len(members)),
		poolOf:  make(map[string]string),
	}
	for name, ms := range members {
		p.members[name] = append([]string(nil), ms...)
		p.names = append(p.names, name)
		for _, m := range ms {
			p.poolOf[m] = name
		}
	}
	sort.Strings(p.names)
	channels := make(map[string]string, len(p.names))
	for _, name := range p.names {
		channels[p.keys.wake(name)] = name
	}
	p.hub = newHub(rdb, channels)
	return p
}

// Validate checks the pools of a server config: every pool has a name and
// at least one member, and a member is named once, in one pool only.
func Validate(members map[string][]string) error {
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := make(map[string]string)
	for _, name := range names {
		if name == "" {
			return errors.New("a pool has an empty name")
		}
		if len(members[name]) == 0 {
			return fmt.Errorf("pool %q has no members", name)
		}
		for _, m := range members[name] {
			switch other, dup := seen[m]; {
			case m == "":
				return fmt.Errorf("pool %q has a member with an empty name", name)
			case dup && other == name:
				return fmt.Errorf("pool %q lists %q twice", name, m)
			case dup:
				return fmt.Errorf("%q is a member of both pool %q and pool %q", m, other, name)
			}
			seen[m] = name
		}
	}
	return nil
}

// Names returns the pools' names, sorted.
func (p *Pools) Names() []string { return append([]string(nil), p.names...) }

// PoolOf returns the pool that member belongs to.
func (p *Pools) PoolOf(member string) (string, bool) {
	name, ok := p.poolOf[member]
	return name, ok
}

func (p *Pools) known(name string) error {
	if _, ok := p.members[name]; ok {
		return nil
	}
	if len(p.names) == 0 {
		return fmt.Errorf("%w %q: no pools are configured", ErrUnknownPool, name)
	}
	return fmt.Errorf("%w %q (pools: %s)", ErrUnknownPool, name, strings.Join(p.names, ", "))
}

func checkHolder(holder string) error {
	if holder == "" {
		return errors.New("pool: empty holder name")
	}
	return nil
}

// call is one script run against one pool.
type call struct {
	script *redis.Script
	keys   []string
	args   []any
}

// on builds a script call on pool for subject (a holder or a member). The
// holder's record key is added when holder is set.
func (p *Pools) on(s *redis.Script, pool, subject, mode, holder string) call {
	ks := p.keys.pool(pool)
	if holder != "" {
		ks = append(ks, p.keys.holder(holder))
	}
	ms := p.members[pool]
	args := make([]any, 0, 7+len(ms))
	args = append(args, p.now().UnixMilli(), p.ttl.Milliseconds(), p.keys.wake(pool),
		pool, subject, mode, recordTTL.Milliseconds())
	for _, m := range ms {
		args = append(args, m)
	}
	return call{script: s, keys: ks, args: args}
}

func (c call) run(ctx context.Context, rdb redis.UniversalClient) *redis.Cmd {
	return c.script.Run(ctx, rdb, c.keys, c.args...)
}

// runAll runs the calls in one pipeline; a call whose script Redis does not
// have cached yet is run again on its own, which loads it.
func (p *Pools) runAll(ctx context.Context, calls []call) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmds[i] = c.run(ctx, p.rdb)
		}
		if err := cmds[i].Err(); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// msTime reads a reply field holding milliseconds since the epoch.
func msTime(v any) time.Time {
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

// replyError says a script answered in a shape this code does not expect.
func replyError(script string, v any) error {
	return fmt.Errorf("pool: unexpected reply from the %s script: %v", script, v)
}
