package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
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
	store   *rdb.PoolStore
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
func New(r *rdb.Client, members map[string][]string, cfg Config) *Pools {
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
		store: rdb.NewPoolStore(r, rdb.PoolStoreConfig{Namespace: cfg.Namespace, TTL: cfg.TTL, RecordTTL: recordTTL}),
		ttl:   cfg.TTL, poll: cfg.Poll,
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
	p.hub = newHub(p.store, p.names)
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

// pool is name with its members, as the Redis layer takes it.
func (p *Pools) pool(name string) rdb.Pool {
	return rdb.Pool{Name: name, Members: p.members[name]}
}

// pools is p.pool of each of names.
func (p *Pools) pools(names []string) []rdb.Pool {
	out := make([]rdb.Pool, len(names))
	for i, name := range names {
		out[i] = p.pool(name)
	}
	return out
}
